"""The worklist plugin's storage layer on a real SQLite file: one-transaction changes, refusals
that leave nothing behind, racing threads, and the worklist order and visibility filter."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "server" / "orthanc"))
import ups_store


def columns(state: str = "SCHEDULED", **kw: Any) -> dict[str, Any]:
    base = {"state": state, "priority": "LOW", "pool": "neuro", "performer": None, "due_utc": 100.0}
    base.update(kw)
    return base


def audit(uid: str, action: str = "create") -> ups_store.AuditEntry:
    return ups_store.AuditEntry(uid=uid, user="lead", action=action, role="lead")


@pytest.fixture
def store(tmp_path: Path) -> ups_store.UpsStore:
    return ups_store.UpsStore(tmp_path / "worklist.sqlite")


def test_insert_is_unique_on_uid_and_reading_study(store: ups_store.UpsStore) -> None:
    assert store.insert("1.1", columns(), {"k": 1}, [audit("1.1")], reading_study_uid="9.1")
    assert not store.insert("1.1", columns(), {"k": 2}, [audit("1.1")])
    assert not store.insert("1.2", columns(), {"k": 3}, [audit("1.2")], reading_study_uid="9.1")
    assert store.insert("1.3", columns(), {"k": 4}, [audit("1.3")])  # NULL study: no constraint
    assert store.insert("1.4", columns(), {"k": 5}, [audit("1.4")])
    item = store.get("1.1")
    assert item is not None and item.dataset == {"k": 1} and item.version == 1
    assert store.get_by_reading_study("9.1") is not None
    assert [e.uid for e in store.audit_entries()] == ["1.1", "1.3", "1.4"]


def test_refused_change_writes_nothing(store: ups_store.UpsStore) -> None:
    store.insert("1.1", columns(), {"k": 1}, [audit("1.1")])

    def refuse(item: ups_store.StoredItem | None) -> ups_store.Change:
        raise PermissionError("no")

    with pytest.raises(PermissionError):
        store.mutate("1.1", refuse)
    item = store.get("1.1")
    assert item is not None and (item.version, item.state) == (1, "SCHEDULED")
    assert len(store.audit_entries("1.1")) == 1


def test_change_bumps_version_and_audits(store: ups_store.UpsStore) -> None:
    store.insert("1.1", columns(), {"k": 1}, [audit("1.1")])
    change = store.mutate(
        "1.1",
        lambda item: ups_store.Change(
            fields={"state": "IN PROGRESS", "priority": "HIGH", "dataset": {"k": 2}},
            audit=[audit("1.1", "claim")],
            result="ok",
        ),
    )
    assert change.result == "ok"
    item = store.get("1.1")
    assert item is not None
    assert (item.state, item.priority, item.dataset, item.version) == (
        "IN PROGRESS",
        "HIGH",
        {"k": 2},
        2,
    )
    assert [e.action for e in store.audit_entries("1.1")] == ["create", "claim"]
    assert store.mutate("9.9", lambda item: ups_store.Change(result=item)).result is None


def test_racing_threads_claim_once(store: ups_store.UpsStore) -> None:
    store.insert("1.1", columns(), {}, [audit("1.1")])
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def claim(name: str) -> None:
        def rule(item: ups_store.StoredItem | None) -> ups_store.Change:
            assert item is not None
            if item.state != "SCHEDULED":
                raise RuntimeError("already IN PROGRESS")
            return ups_store.Change(
                fields={"state": "IN PROGRESS", "holder": name}, audit=[audit("1.1", "claim")]
            )

        barrier.wait()
        try:
            store.mutate("1.1", rule)
            result = "won"
        except RuntimeError:
            result = "lost"
        finally:
            store.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=claim, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]
    assert [e.action for e in store.audit_entries("1.1")] == ["create", "claim"]


def test_candidates_order_and_visibility(store: ups_store.UpsStore) -> None:
    rows = {
        "a": columns(priority="LOW", due_utc=10.0),
        "b": columns(priority="HIGH", due_utc=50.0),
        "c": columns(priority="HIGH", due_utc=20.0, performer="R2"),
        "d": columns(priority="MEDIUM", pool="chest", patient_id="P-D"),
        "e": columns(priority="MEDIUM", pool="chest", performer="R1"),
        "f": columns(state="COMPLETED", priority="HIGH", due_utc=1.0),
    }
    for uid, cols in rows.items():
        store.insert(uid, cols, {}, [])
    assert [i.uid for i in store.candidates()] == ["f", "c", "b", "d", "e", "a"]
    assert [i.uid for i in store.candidates(state="SCHEDULED", priority="HIGH")] == ["c", "b"]
    assert [i.uid for i in store.candidates(visible_to=("R1", ["neuro"]))] == ["f", "b", "e", "a"]
    assert [i.uid for i in store.candidates(visible_to=(None, ["chest"]))] == ["d"]
    assert [i.uid for i in store.candidates(visible_to=("R2", []))] == ["c"]
    assert store.candidates(visible_to=(None, [])) == []
    assert [i.uid for i in store.candidates(patient_id="P-D")] == ["d"]


def test_meta(store: ups_store.UpsStore) -> None:
    assert store.get_meta("seq") is None
    store.set_meta("seq", "5")
    store.set_meta("seq", "7")
    assert store.get_meta("seq") == "7"
