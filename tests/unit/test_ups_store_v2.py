"""The worklist plugin's store, schema versions 2 and 3: migration in place, JSON text kept per row,
filters and worklist order served by indexes (EXPLAIN QUERY PLAN), atomic linked inserts."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server" / "orthanc"))
import ups_store

# The version 1 schema, as the plugin wrote it before version 2 (the stores in the field).
V1_SCHEMA = """
CREATE TABLE workitems (
    uid TEXT PRIMARY KEY, state TEXT NOT NULL, priority TEXT NOT NULL,
    priority_rank INTEGER NOT NULL, pool TEXT, performer TEXT, start_utc REAL, due_utc REAL,
    transaction_uid TEXT, holder TEXT, claimed_utc REAL, patient_id TEXT,
    accession_number TEXT, institution TEXT, study_uid TEXT, reading_study_uid TEXT UNIQUE,
    dataset TEXT NOT NULL, version INTEGER NOT NULL DEFAULT 1, created_utc REAL NOT NULL,
    updated_utc REAL NOT NULL
);
CREATE INDEX workitems_queue ON workitems (state, priority_rank, due_utc);
CREATE INDEX workitems_pool ON workitems (pool, state);
CREATE INDEX workitems_performer ON workitems (performer, state);
CREATE INDEX workitems_study ON workitems (study_uid);
CREATE INDEX workitems_patient ON workitems (patient_id);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, uid TEXT NOT NULL, at_utc REAL NOT NULL,
    user TEXT NOT NULL, role TEXT, action TEXT NOT NULL, old_value TEXT, new_value TEXT
);
CREATE INDEX audit_uid ON audit (uid, id);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('orthanc_change_seq', '41');
"""
INPUTS = {"00404021": {"vr": "SQ", "Value": [{"0020000D": {"vr": "UI", "Value": ["1.2.3"]}}]}}


def v1_row(uid: str, rank: int, due: float | None, dataset: dict[str, Any]) -> tuple[Any, ...]:
    prio = ("HIGH", "MEDIUM", "LOW")[rank]
    return (uid, "SCHEDULED", prio, rank, "neuro", None, due, json.dumps(dataset), 1.0, 1.0)


def make_v1(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.executemany(
        "INSERT INTO workitems (uid, state, priority, priority_rank, pool, performer, due_utc,"
        " dataset, created_utc, updated_utc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            v1_row("1.1", 1, None, {"00080018": {"vr": "UI", "Value": ["1.1"]}}),
            v1_row("1.2", 1, 500.0, {"00080018": {"vr": "UI", "Value": ["1.2"]}, **INPUTS}),
            v1_row("1.3", 0, 900.0, {"00080018": {"vr": "UI", "Value": ["1.3"]}}),
        ],
    )
    conn.commit()
    conn.close()


def test_a_version_1_store_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "worklist.sqlite"
    make_v1(path)
    store = ups_store.UpsStore(path)
    assert store.get_meta("schema_version") == "3"
    assert store.get_meta("orthanc_change_seq") == "41"  # kept
    rows = {
        r[0]: r[1:]
        for r in store._conn().execute("SELECT uid, due_key, tags, summary FROM workitems")
    }
    assert rows == {
        "1.1": (ups_store.NO_DUE, "00080018", None),
        "1.2": (500.0, "00080018,00404021", '{"00080018":{"vr":"UI","Value":["1.2"]}}'),
        "1.3": (900.0, "00080018", None),
    }
    names = {r[0] for r in store._conn().execute("SELECT name FROM sqlite_master")}
    assert "workitems_queue" not in names
    assert {n for n, _cols in ups_store._INDEXES} <= names
    # worklist order: HIGH first, then due time, none last
    page, more = store.page_json(offset=0, limit=10)
    assert ([r.uid for r in page], more) == (["1.3", "1.2", "1.1"], 0)
    assert json.loads(page[1].dataset)["00404021"] == INPUTS["00404021"]
    store.close()
    # opening again changes nothing
    again = ups_store.UpsStore(path)
    assert again.get_meta("schema_version") == "3"
    assert [r.uid for r in again.page_json(offset=0, limit=10)[0]] == ["1.3", "1.2", "1.1"]
    again.close()


def _index_columns(store: ups_store.UpsStore, name: str) -> list[str]:
    return [r["name"] for r in store._conn().execute(f"PRAGMA index_info({name})")]


STATE_ORDER_V3 = ["state", "priority_rank", "due_key", "created_utc", "uid", "performer", "pool"]


def test_a_version_2_store_gets_the_visibility_columns_in_its_state_index(tmp_path: Path) -> None:
    path = tmp_path / "worklist.sqlite"
    made = ups_store.UpsStore(path)
    fill(made, 30)
    made.close()
    conn = sqlite3.connect(path)  # as version 2 left it
    conn.execute("DROP INDEX workitems_state_order")
    conn.execute(
        "CREATE INDEX workitems_state_order ON workitems "
        "(state, priority_rank, due_key, created_utc, uid)"
    )
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    store = ups_store.UpsStore(path)
    assert store.get_meta("schema_version") == "3"
    assert _index_columns(store, "workitems_state_order") == STATE_ORDER_V3
    visible = {"state": "SCHEDULED", "visible_to": ("R1", ["neuro"])}
    assert "INDEX workitems_state_order" in " | ".join(store.explain(**visible))
    page, _more = store.page(offset=0, limit=100, **visible)
    assert page and all(
        i.performer == "R1" or (i.performer is None and i.pool == "neuro") for i in page
    )
    store.close()


def test_a_new_store_has_the_version_3_state_index(tmp_path: Path) -> None:
    store = ups_store.UpsStore(tmp_path / "worklist.sqlite")
    assert _index_columns(store, "workitems_state_order") == STATE_ORDER_V3
    store.close()


def test_a_version_1_store_gets_an_epoch_and_generation_once(tmp_path: Path) -> None:
    path = tmp_path / "worklist.sqlite"
    make_v1(path)
    store = ups_store.UpsStore(path)
    first = store.generation()
    epoch, counter = first.rsplit(":", 1)
    assert (len(epoch), epoch.count("-"), counter) == (36, 4, "0")  # a UUID, nothing counted yet
    store.close()
    again = ups_store.UpsStore(path)
    assert again.generation() == first  # opening again keeps both
    again.mutate("1.1", lambda item: ups_store.Change(fields={"state": "IN PROGRESS"}))
    assert again.generation() == f"{epoch}:1"
    again.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "worklist.sqlite"
    ups_store.UpsStore(path).set_meta("schema_version", "4")
    with pytest.raises(ups_store.StoreConfigError, match="schema version 4"):
        ups_store.UpsStore(path)


def fill(store: ups_store.UpsStore, n: int = 240) -> None:
    for i in range(n):
        columns = {
            "state": ("SCHEDULED", "IN PROGRESS", "COMPLETED")[i % 3],
            "priority": ("HIGH", "MEDIUM", "LOW")[i % 3 - 1],
            "pool": ("neuro", "chest", "body")[i % 4 % 3],
            "performer": (None, "R1", "R2", None, None)[i % 5],
            "start_utc": 1000.0 + i,
            "due_utc": None if i % 7 == 0 else 2000.0 + (i * 37) % 500,
            "patient_id": f"P{i % 11}",
            "accession_number": f"A{i}",
            "institution": ("STA", "STB")[i % 2],
        }
        assert store.insert(f"2.25.{i}", columns, {"00080018": {"vr": "UI", "Value": [i]}}, [])


# filters -> the index that must serve them, and whether it also gives the order (no sort)
PLANS: list[tuple[dict[str, Any], str, bool]] = [
    ({}, "workitems_order", True),
    ({"state": "SCHEDULED"}, "workitems_state_order", True),
    ({"priority": "HIGH"}, "workitems_order", True),
    ({"state": "SCHEDULED", "pool": "neuro"}, "workitems_state_pool_order", True),
    (
        {"state": "SCHEDULED", "pool": "neuro", "visible_to": ("R1", ["neuro", "chest"])},
        "workitems_state_pool_order",
        True,
    ),
    ({"state": "SCHEDULED", "performer": "R1"}, "workitems_state_performer_order", True),
    ({"patient_id": "P3"}, "workitems_patient", False),
    ({"accession_number": "A7"}, "workitems_accession", False),
    ({"institution": "STB"}, "workitems_institution", False),
    ({"start_range": (1010.0, 1020.0)}, "workitems_start", False),
    ({"due_range": (2100.0, 2200.0)}, "workitems_due", False),
    # an open-ended range: walking the worklist order and stopping at the page's end wins
    ({"due_range": (None, 2100.0)}, "workitems_order", True),
    ({"performer": "R2"}, "workitems_performer", False),
]


@pytest.mark.parametrize(("filters", "index", "ordered"), PLANS)
def test_filters_use_indexes(
    tmp_path: Path, filters: dict[str, Any], index: str, ordered: bool
) -> None:
    store = ups_store.UpsStore(tmp_path / "worklist.sqlite")
    fill(store, 40)
    plan = " | ".join(store.explain(**filters))
    assert f"INDEX {index}" in plan, plan
    assert ("USE TEMP B-TREE FOR ORDER BY" not in plan) is ordered, plan
    assert "SCAN workitems" not in plan.replace(f"SCAN workitems USING INDEX {index}", ""), plan


def test_page_json_is_the_page_as_stored_text(tmp_path: Path) -> None:
    store = ups_store.UpsStore(tmp_path / "worklist.sqlite")
    fill(store)
    cases: list[dict[str, Any]] = [
        {},
        {"state": "SCHEDULED", "pool": "neuro"},
        {"performer": "R1", "state": "IN PROGRESS"},
        {"institution": "STA", "priority": "LOW"},
        {"accession_number": "A17"},
        {"start_range": (1100.0, 1150.5)},
        {"due_range": (None, None)},
        {"due_range": (2100.0, 2300.0), "visible_to": ("R2", ["body"])},
    ]
    for f in cases:
        everything = store.candidates(**f)
        assert everything, f
        for offset, limit in ((0, 7), (5, 100)):
            raw, more = store.page_json(offset=offset, limit=limit, **f)
            items, more2 = store.page(offset=offset, limit=limit, **f)
            assert [r.uid for r in raw] == [i.uid for i in items]
            assert [r.uid for r in raw] == [i.uid for i in everything[offset : offset + limit]]
            assert [json.loads(r.dataset) for r in raw] == [i.dataset for i in items]
            assert more == more2 == max(0, len(everything) - offset - limit)
    # the filters select what they say
    assert {i.uid for i in store.candidates(start_range=(1100.0, 1150.5))} == {
        f"2.25.{i}" for i in range(100, 151)
    }
    assert len(store.candidates(due_range=(None, None))) == 240 - len(range(0, 240, 7))
    assert [i.uid for i in store.candidates(accession_number="A17")] == ["2.25.17"]
    with pytest.raises(TypeError, match="unknown workitem filters"):
        store.candidates(colour="red")


def test_a_change_with_inserts_is_all_or_nothing(tmp_path: Path) -> None:
    store = ups_store.UpsStore(tmp_path / "worklist.sqlite")
    columns = {"state": "IN PROGRESS", "priority": "LOW", "pool": "neuro", "due_utc": 50.0}
    store.insert("2.25.1", columns, {"a": 1, **INPUTS}, [])
    store.insert("2.25.2", {**columns, "state": "SCHEDULED"}, {"b": 2}, [])

    def rule(inserted: str) -> Any:
        def decide(item: ups_store.StoredItem | None) -> ups_store.Change:
            assert item is not None
            return ups_store.Change(
                fields={"state": "CANCELED", "dataset": {"a": 2}},
                audit=[ups_store.AuditEntry("2.25.1", "rad", "hand-back")],
                inserts=[(inserted, {**columns, "state": "SCHEDULED", "due_utc": None}, {"c": 3})],
            )

        return decide

    with pytest.raises(ups_store.DuplicateItem):
        store.mutate("2.25.1", rule("2.25.2"))
    kept = store.get("2.25.1")
    assert kept is not None and (kept.state, kept.version, kept.dataset) == (
        "IN PROGRESS",
        1,
        {"a": 1, **INPUTS},
    )
    assert store.audit_entries("2.25.1") == []
    store.mutate("2.25.1", rule("2.25.3"))
    done, new = store.get("2.25.1"), store.get("2.25.3")
    assert done is not None and (done.state, done.version, done.dataset) == (
        "CANCELED",
        2,
        {"a": 2},
    )
    assert new is not None and (new.state, new.dataset) == ("SCHEDULED", {"c": 3})
    stored = {
        r[0]: (r[1], r[2])
        for r in store._conn().execute("SELECT uid, tags, due_key FROM workitems").fetchall()
    }
    assert stored == {"2.25.1": ("a", 50.0), "2.25.2": ("b", 50.0), "2.25.3": ("c", 1e300)}
    assert [e.action for e in store.audit_entries("2.25.1")] == ["hand-back"]
