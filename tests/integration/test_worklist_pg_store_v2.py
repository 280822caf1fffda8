"""The worklist store's schema (version 3) in PostgreSQL: a version 1 schema migrated in place,
pages as stored JSON text in worklist order, and a change with a linked insert (hand back) that
is written whole or not at all. Runs the store on Debian's Python with psycopg2, as the plugin
does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "worklist"))
from pg import SYSTEM_PYTHON, pg_cluster

SERVER = Path(__file__).resolve().parents[2] / "server" / "orthanc"

# The version 1 tables, as the plugin created them before version 2.
V1 = """
CREATE SCHEMA legacy;
CREATE TABLE legacy.workitems (
    uid TEXT PRIMARY KEY, state TEXT NOT NULL, priority TEXT NOT NULL,
    priority_rank INTEGER NOT NULL, pool TEXT, performer TEXT, start_utc DOUBLE PRECISION,
    due_utc DOUBLE PRECISION, transaction_uid TEXT, holder TEXT, claimed_utc DOUBLE PRECISION,
    patient_id TEXT, accession_number TEXT, institution TEXT, study_uid TEXT,
    reading_study_uid TEXT UNIQUE, dataset TEXT NOT NULL, version INTEGER NOT NULL DEFAULT 1,
    created_utc DOUBLE PRECISION NOT NULL, updated_utc DOUBLE PRECISION NOT NULL
);
CREATE INDEX workitems_queue ON legacy.workitems (state, priority_rank, due_utc);
CREATE TABLE legacy.audit (
    id BIGSERIAL PRIMARY KEY, uid TEXT NOT NULL, at_utc DOUBLE PRECISION NOT NULL,
    "user" TEXT NOT NULL, role TEXT, action TEXT NOT NULL, old_value TEXT, new_value TEXT
);
CREATE TABLE legacy.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO legacy.meta VALUES ('orthanc_change_seq', '7');
INSERT INTO legacy.workitems (uid, state, priority, priority_rank, pool, due_utc, dataset,
    created_utc, updated_utc) VALUES
    ('1.1', 'IN PROGRESS', 'LOW', 2, 'neuro', NULL, '{"x":1}', 1, 1),
    ('1.2', 'SCHEDULED', 'LOW', 2, 'neuro', 300, '{"x":2,"00404021":{"vr":"SQ"}}', 2, 2),
    ('1.3', 'SCHEDULED', 'HIGH', 0, 'chest', 900, '{"x":3}', 3, 3);
"""

_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import psycopg2, ups_store
section = json.loads(sys.argv[2])
conn = psycopg2.connect(host=section["Host"], port=section["Port"], dbname=section["Database"],
                        user=section["Username"], password=section["Password"])
with conn.cursor() as cur:
    cur.execute(sys.argv[3])
conn.commit()
store = ups_store.PgUpsStore(ups_store.PgSettings.from_config({**section, "Schema": "legacy"}))
out = {"version": store.get_meta("schema_version"), "seq": store.get_meta("orthanc_change_seq")}
page, more = store.page_json(offset=0, limit=10)
out["page"] = [[r.uid, r.tags, r.summary] for r in page]
out["neuro"] = [i.uid for i in store.page(offset=0, limit=10, pool="neuro")[0]]
with conn.cursor() as cur:
    cur.execute("SELECT uid, due_key FROM legacy.workitems ORDER BY uid")
    out["due_key"] = cur.fetchall()
    cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'legacy'")
    out["indexes"] = sorted(r[0] for r in cur.fetchall())
    cur.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'legacy' "
                "AND indexname = 'workitems_state_order'")
    out["state_order"] = cur.fetchone()[0]
conn.commit()

def rule(taken):
    def decide(item):
        return ups_store.Change(
            fields={"state": "CANCELED", "dataset": {"x": 9}},
            audit=[ups_store.AuditEntry("1.1", "rad", "hand-back")],
            inserts=[(taken, {"state": "SCHEDULED", "priority": "LOW", "pool": "neuro",
                              "due_utc": None}, {"y": 1})])
    return decide

try:
    store.mutate("1.1", rule("1.2"))
    out["duplicate"] = "written"
except ups_store.DuplicateItem:
    out["duplicate"] = "refused"
kept = store.get("1.1")
out["after_refusal"] = [kept.state, kept.version, len(store.audit_entries("1.1"))]
store.mutate("1.1", rule("1.4"))
done, new = store.get("1.1"), store.get("1.4")
out["after_hand_back"] = [done.state, done.version, new.state, new.dataset]
again = ups_store.PgUpsStore(ups_store.PgSettings.from_config({**section, "Schema": "legacy"}))
out["reopened"] = [again.get_meta("schema_version"),
                   [r.uid for r in again.page_json(offset=0, limit=10)[0]]]
print(json.dumps(out))
"""


def test_postgres_version_1_schema_is_migrated_and_hand_back_is_atomic() -> None:
    with pg_cluster() as c:
        result = subprocess.run(
            [SYSTEM_PYTHON, "-c", _SCRIPT, str(SERVER), json.dumps(c.orthanc_section()), V1],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["version"], out["seq"]) == ("3", "7")
    # worklist order: HIGH first; then due time with none last
    assert out["page"] == [
        ["1.3", "x", None],
        ["1.2", "x,00404021", '{"x":2}'],
        ["1.1", "x", None],
    ]
    assert out["neuro"] == ["1.2", "1.1"]
    assert out["due_key"] == [["1.1", 1e300], ["1.2", 300.0], ["1.3", 900.0]]
    assert "workitems_queue" not in out["indexes"]
    assert {"workitems_order", "workitems_state_pool_order", "workitems_due"} <= set(out["indexes"])
    assert out["state_order"].endswith('uid COLLATE "C", performer, pool)'), out["state_order"]
    assert out["duplicate"] == "refused"
    assert out["after_refusal"] == ["IN PROGRESS", 1, 0]
    assert out["after_hand_back"] == ["CANCELED", 2, "SCHEDULED", {"y": 1}]
    assert out["reopened"] == ["3", ["1.3", "1.2", "1.1", "1.4"]]  # no due: by creation
