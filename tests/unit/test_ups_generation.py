"""The SQLite worklist store's generation (``meta.epoch`` + ``meta.generation``): counted once per
committed change of workitems, never for a refused, audit-only or lost change; what the search
ETag of the plugin is built on (RFC 9110 §8.8.3)."""

from __future__ import annotations

import sqlite3
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server" / "orthanc"))
import ups_store

COLUMNS = {"state": "SCHEDULED", "priority": "LOW", "pool": "neuro", "due_utc": None}


def audit(uid: str, action: str = "create") -> ups_store.AuditEntry:
    return ups_store.AuditEntry(uid=uid, user="lead", action=action, role="lead")


def counter(store: ups_store.UpsStore) -> int:
    return int(store.generation().rsplit(":", 1)[1])


def epoch(store: ups_store.UpsStore) -> str:
    return store.generation().rsplit(":", 1)[0]


@pytest.fixture
def store(tmp_path: Path) -> ups_store.UpsStore:
    s = ups_store.UpsStore(tmp_path / "worklist.sqlite")
    assert s.insert("1.1", dict(COLUMNS), {"x": 1}, [audit("1.1")])
    return s


def test_new_store_has_a_random_epoch_and_generation_zero(tmp_path: Path) -> None:
    a = ups_store.UpsStore(tmp_path / "a.sqlite")
    b = ups_store.UpsStore(tmp_path / "b.sqlite")
    assert counter(a) == 0
    assert str(uuid.UUID(epoch(a))) == epoch(a)
    assert epoch(a) != epoch(b)  # a store made anew never repeats an old store's tags
    again = ups_store.UpsStore(tmp_path / "a.sqlite")
    assert again.generation() == a.generation() == f"{epoch(a)}:0"


def test_insert_counts_once_and_a_refused_insert_not_at_all(store: ups_store.UpsStore) -> None:
    assert counter(store) == 1
    assert store.insert("1.2", dict(COLUMNS), {"x": 2}, [audit("1.2")])
    assert counter(store) == 2
    assert not store.insert("1.2", dict(COLUMNS), {"x": 3}, [audit("1.2")])  # UID taken
    assert counter(store) == 2


def test_mutate_counts_only_written_rows(store: ups_store.UpsStore) -> None:
    before = counter(store)
    store.mutate(
        "1.1",
        lambda item: ups_store.Change(fields={"state": "IN PROGRESS"}, audit=[audit("1.1", "c")]),
    )
    assert counter(store) == before + 1
    # audit only (a warning-only request): the worklist did not change
    store.mutate("1.1", lambda item: ups_store.Change(audit=[audit("1.1", "warn")]))
    assert counter(store) == before + 1
    # a missing item: nothing to write
    store.mutate("9.9", lambda item: ups_store.Change(fields={"state": "CANCELED"}))
    assert counter(store) == before + 1
    assert len(store.audit_entries("1.1")) == 3


def test_refused_change_does_not_count(store: ups_store.UpsStore) -> None:
    def refuse(item: ups_store.StoredItem | None) -> ups_store.Change:
        raise ValueError("not allowed")

    before = store.generation()
    with pytest.raises(ValueError):
        store.mutate("1.1", refuse)
    assert store.generation() == before


def test_change_with_linked_insert_counts_once_or_not_at_all(store: ups_store.UpsStore) -> None:
    def hand_back(new_uid: str) -> Any:
        def rule(item: ups_store.StoredItem | None) -> ups_store.Change:
            return ups_store.Change(
                fields={"state": "CANCELED"},
                audit=[audit("1.1", "hand-back")],
                inserts=[(new_uid, dict(COLUMNS), {"y": 1})],
            )

        return rule

    assert store.insert("1.2", dict(COLUMNS), {"x": 2}, [])
    before = counter(store)
    with pytest.raises(ups_store.DuplicateItem):
        store.mutate("1.1", hand_back("1.2"))  # the replacement's UID is taken: all rolled back
    assert counter(store) == before
    store.mutate("1.1", hand_back("1.3"))  # an update and an insert: one change
    assert counter(store) == before + 1
    assert (store.get("1.1").state, store.get("1.3").state) == ("CANCELED", "SCHEDULED")


def test_racing_claims_count_only_the_winner(store: ups_store.UpsStore) -> None:
    before = counter(store)
    won: list[str] = []
    barrier = threading.Barrier(6)

    def claim(name: str) -> None:
        def rule(item: ups_store.StoredItem | None) -> ups_store.Change:
            assert item is not None
            if item.state != "SCHEDULED":
                raise ValueError("already claimed")
            return ups_store.Change(fields={"state": "IN PROGRESS", "holder": name})

        barrier.wait()
        try:
            store.mutate("1.1", rule)
            won.append(name)
        except ValueError:
            pass
        finally:
            store.close()

    threads = [threading.Thread(target=claim, args=(f"r{n}",)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(won) == 1
    assert counter(store) == before + 1


def test_meta_writes_do_not_count(store: ups_store.UpsStore) -> None:
    before = store.generation()
    store.set_meta("orthanc_change_seq", "12")  # the sweep's checkpoint: not a workitem change
    assert store.generation() == before


def test_store_made_before_generations_gets_them_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = ups_store.UpsStore(path)
    assert old.insert("1.1", dict(COLUMNS), {"x": 1}, [])
    old.close()
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM meta WHERE key IN ('epoch', 'generation')")
    conn.commit()
    conn.close()
    opened = ups_store.UpsStore(path)
    assert counter(opened) == 0
    assert str(uuid.UUID(epoch(opened))) == epoch(opened)
    assert opened.get_meta("schema_version") == "3"
    assert opened.insert("1.2", dict(COLUMNS), {"x": 2}, [])
    assert counter(opened) == 1


def test_generation_of_a_store_without_one_is_store_busy(tmp_path: Path) -> None:
    store = ups_store.UpsStore(tmp_path / "w.sqlite")
    conn = sqlite3.connect(tmp_path / "w.sqlite")
    conn.execute("DELETE FROM meta WHERE key = 'epoch'")
    conn.commit()
    conn.close()
    with pytest.raises(ups_store.StoreBusy, match="no generation"):
        store.generation()
