"""Two Orthanc processes on one PostgreSQL: one orthanc-postgresql index (``"Lock": false``), one
shared StorageDirectory, and the worklist plugin's workitems in the same database
(``"Worklist": {"PostgreSQL": true}``). A claim is atomic whichever process takes it; a study
stored through one process gets exactly one reading workitem, seen through the other.

Also the PostgreSQL store itself, run in Debian's Python (where the plugin runs and psycopg2
lives): the same contract as the SQLite store, and reconnection after the server was down.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pg import ORTHANC_PG_INDEX, SYSTEM_PYTHON, PgCluster, pg_cluster, require_postgres
from support import wait_for
from upsrs_helpers import (
    ORTHANC_USERS,
    PASSWORD,
    PLUGIN,
    REPO,
    SITE_CONFIG,
    UID_ROOT,
    UpsApi,
    new_txn,
    storescu,
    uid_from_location,
    workitem,
    write_ct_study,
)

from workstation.archive.orthanc import DICOMWEB_PLUGIN, PYTHON_PLUGIN, OrthancProcess, free_port
from workstation.core.ups import reading_workitem_uid

WORKER = Path(__file__).with_name("claim_worker.py")
ITEMS = 100
SLOT_MS = 10
HOSPITAL = "St Elsewhere General Hospital"


def pg_orthanc(
    folder: Path,
    storage: Path,
    site_file: Path,
    *,
    orthanc_pg: dict[str, Any] | None,
    worklist_pg: Any = True,
    index: bool = True,
) -> OrthancProcess:
    """An Orthanc with DICOMweb and the worklist plugin whose workitems live in PostgreSQL;
    ``index`` also puts Orthanc's own index there (orthanc-postgresql)."""
    plugins = [str(DICOMWEB_PLUGIN), str(PYTHON_PLUGIN)]
    extra: dict[str, Any] = {
        "AuthenticationEnabled": True,
        "RegisteredUsers": {name: PASSWORD for name in ORTHANC_USERS},
        "StorageDirectory": str(storage),
        "Worklist": {
            "ConfigFile": str(site_file),
            "WorkstationPath": str(REPO),
            "PostgreSQL": worklist_pg,
            "StopWhenProcessEnds": os.getpid(),
        },
    }
    if index:
        plugins.append(str(ORTHANC_PG_INDEX))
    if orthanc_pg is not None:
        extra["PostgreSQL"] = orthanc_pg
    extra["Plugins"] = plugins
    return OrthancProcess(folder, python_script=PLUGIN, stable_age_s=1, extra_config=extra)


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    require_postgres()
    c = PgCluster()
    try:
        c.start()
        yield c
    finally:
        c.remove()


@pytest.fixture(scope="module")
def site_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("site") / "worklist-site.json"
    path.write_text(json.dumps(SITE_CONFIG), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pair(
    cluster: PgCluster, site_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[OrthancProcess, OrthancProcess]]:
    """Orthanc A and B on one index, one storage folder and one worklist (A starts first: it
    creates orthanc-postgresql's tables)."""
    root = tmp_path_factory.mktemp("two-orthancs")
    storage = root / "shared-storage"
    made = [
        pg_orthanc(root / name, storage, site_file, orthanc_pg=cluster.orthanc_section())
        for name in ("a", "b")
    ]
    try:
        for proc in made:
            proc.start()
        yield made[0], made[1]
    finally:
        for proc in made:
            proc.stop(kill=True)  # storage and database are thrown away


def test_claim_race_across_two_orthancs(
    pair: tuple[OrthancProcess, OrthancProcess], cluster: PgCluster, tmp_path: Path
) -> None:
    a, b = pair
    patient_id = "PG-RACE-" + str(int(time.time() * 1000))
    lead_a = UpsApi(a.urls.dicomweb, "lead")
    uids = []
    for i in range(ITEMS):
        r = lead_a.create(
            workitem(patient_id, label="neuro", start=f"20240501{i // 60:02d}{i % 60:02d}00")
        )
        assert r.status_code == 201, r.text
        uids.append(uid_from_location(r))
    uids_file = tmp_path / "uids.json"
    uids_file.write_text(json.dumps(uids), encoding="utf-8")
    start_at = time.time() + 1.5
    readers = {"rad.neuro": (a, "RAD01"), "rad.neuro2": (b, "RAD02")}  # one through each
    procs = {
        user: subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                f"{proc.urls.dicomweb}/workitems",
                user,
                PASSWORD,
                str(start_at),
                str(SLOT_MS),
                str(uids_file),
                str(tmp_path / f"{user}.json"),
            ]
        )
        for user, (proc, _code) in readers.items()
    }
    for user, p in procs.items():
        assert p.wait(timeout=60) == 0, user
    race_s = time.time() - start_at
    results = {
        user: {r["uid"]: r for r in json.loads((tmp_path / f"{user}.json").read_text())}
        for user in readers
    }
    winners: dict[str, str] = {}
    for uid in uids:
        outcomes = {user: results[user][uid] for user in readers}
        won = [user for user, r in outcomes.items() if r["status"] == 200]
        assert len(won) == 1, (uid, outcomes)
        winners[uid] = won[0]
        [lost] = [r for user, r in outcomes.items() if user != won[0]]
        assert lost["status"] == 409, lost
        assert '"0xC302: The UPS is already IN PROGRESS"' in lost["warning"]

    # Both processes agree, and so does the database: one claim row per item, the winner's.
    claims = cluster.query(
        'SELECT a.uid, a."user" FROM worklist.audit a JOIN worklist.workitems w USING (uid) '
        f"WHERE a.action = 'claim' AND w.patient_id = '{patient_id}' ORDER BY a.id",
    )
    assert sorted(claims) == sorted([uid, winners[uid]] for uid in uids)
    held = dict(
        (row[0], row[1:])
        for row in cluster.query(
            "SELECT uid, state, holder, performer, version FROM worklist.workitems "
            f"WHERE patient_id = '{patient_id}'",
        )
    )
    for uid in uids:
        winner = winners[uid]
        assert held[uid] == ["IN PROGRESS", winner, readers[winner][1], "2"]
    clients = {user: UpsApi(proc.urls.dicomweb, user) for user, (proc, _c) in readers.items()}
    for uid in uids[:10]:
        # Retrieve through the other process than the one that took the claim.
        other = a if readers[winners[uid]][0] is b else b
        ds = UpsApi(other.urls.dicomweb, winners[uid]).retrieve(uid).json()[0]
        assert ds["00741000"]["Value"] == ["IN PROGRESS"]
        txn = results[winners[uid]][uid]["txn"]
        assert clients[winners[uid]].change_state(uid, "COMPLETED", txn).status_code == 200
    split = {user: sum(1 for w in winners.values() if w == user) for user in readers}
    gaps = [abs(results["rad.neuro"][u]["sent"] - results["rad.neuro2"][u]["sent"]) for u in uids]
    print(
        f"\ntwo-Orthanc race: {ITEMS} items in {race_s:.2f} s, wins {split}, "
        f"median gap {1000 * statistics.median(gaps):.1f} ms"
    )
    assert race_s < 30
    for proc in (a, b):  # the database password stays out of the logs
        log = proc.log_tail(chars=10**7)
        assert f"workitems in PostgreSQL at 127.0.0.1:{cluster.port}/orthanc" in log
        assert cluster.password not in log


def test_study_through_a_makes_one_workitem_seen_through_b(
    pair: tuple[OrthancProcess, OrthancProcess],
    cluster: PgCluster,
    site_file: Path,
    tmp_path: Path,
) -> None:
    a, b = pair
    stamp = int(time.time() * 1000)
    patient_id = f"PG-STUDY-{stamp}"
    lead_b = UpsApi(b.urls.dicomweb, "lead")

    def items(pid: str) -> list[dict[str, Any]]:
        r = lead_b.search(PatientID=pid, includefield="all")
        return [] if r.status_code == 204 else list(r.json())

    first_uid = f"{UID_ROOT}{stamp}.41"
    storescu(
        a,
        write_ct_study(
            tmp_path / "one",
            study_uid=first_uid,
            series=[("CT", "HEAD", 2)],
            patient_id=patient_id,
            accession="ACC-PG-1",
            institution=HOSPITAL,
            requested_priority="STAT",
        ),
    )
    # STABLE_STUDY fires on A only; the workitem it makes is in the shared tables.
    [ds] = wait_for(lambda: items(patient_id), what="the workitem seen through B")
    assert ds["00080018"]["Value"] == [reading_workitem_uid(first_uid)]
    assert ds["00741204"]["Value"] == ["neuro"]
    # B serves the images too (one index, one storage folder): the WADO-RS URL in the item works.
    url = ds["00404021"]["Value"][0]["0040E025"]["Value"][0]["00081190"]["Value"][0]
    url_b = url.replace(f":{a.http_port}/", f":{b.http_port}/")
    meta = requests.get(f"{url_b}/metadata", auth=("lead", PASSWORD), timeout=10)
    assert meta.status_code == 200 and len(meta.json()) == 2

    # A second study through A while a third process C starts: C's start-up sweep reads the
    # shared change log and may create the item before A's callback does. Still exactly one.
    second_uid = f"{UID_ROOT}{stamp}.42"
    pid2 = patient_id + "-2"
    storescu(
        a,
        write_ct_study(
            tmp_path / "two",
            study_uid=second_uid,
            series=[("CT", "CHEST", 3)],
            patient_id=pid2,
            accession="ACC-PG-2",
            institution=HOSPITAL,
            requested_priority="URGENT",
        ),
    )
    c = pg_orthanc(
        tmp_path / "c",
        a.folder.parent / "shared-storage",
        site_file,
        orthanc_pg=cluster.orthanc_section(),
    )
    try:
        c.start()
        wait_for(lambda: "start-up sweep examined" in c.log_tail(chars=20000), what="C's sweep")
        [ds2] = wait_for(lambda: items(pid2), what="the second workitem")
        time.sleep(1.5)  # past StableAge: A's STABLE_STUDY for the second study has run too
    finally:
        c.stop(kill=True)
    assert ds2["00080018"]["Value"] == [reading_workitem_uid(second_uid)]
    for study_uid, pid in ((first_uid, patient_id), (second_uid, pid2)):
        rows = cluster.query(
            f"SELECT uid, state FROM worklist.workitems WHERE reading_study_uid = '{study_uid}'",
        )
        assert rows == [[reading_workitem_uid(study_uid), "SCHEDULED"]]
        creates = cluster.query(
            "SELECT count(*) FROM worklist.audit "
            f"WHERE uid = '{reading_workitem_uid(study_uid)}' AND action = 'create'",
        )
        assert creates == [["1"]]
        assert len(items(pid)) == 1
    assert len(items(pid2)[0]["00404021"]["Value"][0]["00081199"]["Value"]) == 3


def test_claim_round_trip_via_postgresql(
    pair: tuple[OrthancProcess, OrthancProcess], artifact_dir: Path
) -> None:
    """Claims through B of items made through A; bounds catch gross slowness only."""
    a, b = pair
    patient_id = "PG-TIME-" + str(int(time.time() * 1000))
    lead = UpsApi(a.urls.dicomweb, "lead")
    uids = [uid_from_location(lead.create(workitem(patient_id))) for _ in range(30)]
    rad = UpsApi(b.urls.dicomweb, "rad.neuro")
    claim_ms, search_ms = [], []
    for uid in uids:
        t0 = time.perf_counter()
        r = rad.change_state(uid, "IN PROGRESS", new_txn())
        claim_ms.append(1000 * (time.perf_counter() - t0))
        assert r.status_code == 200
    for _ in range(10):
        t0 = time.perf_counter()
        r = rad.search(PatientID=patient_id)
        search_ms.append(1000 * (time.perf_counter() - t0))
        assert r.status_code == 200 and len(r.json()) == 30
    timings = {
        "claim_ms_median": round(statistics.median(claim_ms), 2),
        "claim_ms_max": round(max(claim_ms), 2),
        "search_patient_30_items_ms_median": round(statistics.median(search_ms), 2),
        "orthanc_startup_s_dicomweb_python_postgresql": [
            round(a.startup_s or 0, 3),
            round(b.startup_s or 0, 3),
        ],
    }
    (artifact_dir / "worklist_postgres_timings.json").write_text(json.dumps(timings, indent=2))
    print("\nPostgreSQL round trips:", json.dumps(timings))
    assert timings["claim_ms_median"] < 250
    assert max(a.startup_s or 99, b.startup_s or 99) < 10


# -- the PostgreSQL store alone, and its reconnection ----------------------------------------

_CONTRACT = r"""
import json, sys, threading
sys.path.insert(0, sys.argv[1])
import ups_store
store = ups_store.PgUpsStore(ups_store.PgSettings.from_config(json.loads(sys.argv[2])))
A = lambda uid, act="create": ups_store.AuditEntry(uid=uid, user="lead", action=act, role="lead")
def cols(state="SCHEDULED", **kw):
    base = {"state": state, "priority": "LOW", "pool": "neuro", "performer": None, "due_utc": 100.0}
    base.update(kw)
    return base
out = {}
out["insert"] = [
    store.insert("1.1", cols(), {"k": 1}, [A("1.1")], reading_study_uid="9.1"),
    store.insert("1.1", cols(), {"k": 2}, [A("1.1")]),
    store.insert("1.2", cols(), {"k": 3}, [A("1.2")], reading_study_uid="9.1"),
    store.insert("1.3", cols(), {"k": 4}, [A("1.3")]),
]
item = store.get("1.1")
out["item"] = [item.dataset, item.version, store.get_by_reading_study("9.1").uid]
def refuse(item):
    raise PermissionError("no")
try:
    store.mutate("1.1", refuse)
except PermissionError:
    out["refused"] = [store.get("1.1").version, len(store.audit_entries("1.1"))]
barrier = threading.Barrier(8)
outcomes = []
def claim(name):
    def rule(item):
        if item.state != "SCHEDULED":
            raise RuntimeError("already IN PROGRESS")
        return ups_store.Change(fields={"state": "IN PROGRESS", "holder": name,
                                        "dataset": {"holder": name}},
                                audit=[A("1.1", "claim")])
    barrier.wait()
    try:
        store.mutate("1.1", rule)
        outcomes.append("won")
    except RuntimeError:
        outcomes.append("lost")
threads = [threading.Thread(target=claim, args=(f"t{i}",)) for i in range(8)]
[t.start() for t in threads]
[t.join(30) for t in threads]
item = store.get("1.1")
out["race"] = [sorted(outcomes), item.state, item.version, item.dataset["holder"] == item.holder,
               [e.action for e in store.audit_entries("1.1")]]
rows = {
    "a": cols(priority="LOW", due_utc=10.0), "b": cols(priority="HIGH", due_utc=50.0),
    "c": cols(priority="HIGH", due_utc=20.0, performer="R2"),
    "d": cols(priority="MEDIUM", pool="chest", patient_id="P-D"),
    "e": cols(priority="MEDIUM", pool="chest", performer="R1"),
    "f": cols(state="COMPLETED", priority="HIGH", due_utc=1.0),
    "g.10": cols(priority="MEDIUM", pool="msk", due_utc=5.0),
    "g.9": cols(priority="MEDIUM", pool="msk", due_utc=5.0),
}
for uid, c in rows.items():
    store.insert(uid, c, {}, [])
uids = lambda items: [i.uid for i in items if i.uid in rows]
out["order"] = [
    uids(store.candidates()),
    uids(store.candidates(state="SCHEDULED", priority="HIGH")),
    uids(store.candidates(visible_to=("R1", ["neuro"]))),
    uids(store.candidates(visible_to=(None, ["chest"]))),
    uids(store.candidates(visible_to=("R2", []))),
    uids(store.candidates(visible_to=(None, []))),
    uids(store.candidates(patient_id="P-D")),
]
store.set_meta("seq", "5"); store.set_meta("seq", "7")
out["meta"] = [store.get_meta("seq"), store.get_meta("absent")]
print(json.dumps(out))
"""


def test_postgres_store_contract() -> None:
    """The SQLite store's contract holds on PostgreSQL (test_ups_store.py's cases), in the
    interpreter the plugin uses."""
    with pg_cluster() as c:
        section = {**c.orthanc_section(), "Schema": "contract"}
        result = subprocess.run(
            [SYSTEM_PYTHON, "-c", _CONTRACT, str(REPO / "server" / "orthanc"), json.dumps(section)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        tables = c.query(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'contract' ORDER BY table_name"
        )
    assert out["insert"] == [True, False, False, True]
    assert out["item"] == [{"k": 1}, 1, "1.1"]
    assert out["refused"] == [1, 1]
    assert out["race"] == [
        ["lost"] * 7 + ["won"],
        "IN PROGRESS",
        2,
        True,
        ["create", "claim"],
    ]
    assert out["order"] == [
        ["f", "c", "b", "g.10", "g.9", "d", "e", "a"],  # UIDs in byte order, as SQLite
        ["c", "b"],
        ["f", "b", "e", "a"],
        ["d"],
        ["c"],
        [],
        ["d"],
    ]
    assert out["meta"] == ["7", None]
    assert tables == [["audit"], ["meta"], ["workitems"]]


def test_worklist_waits_for_postgresql_and_reconnects(site_file: Path, tmp_path: Path) -> None:
    """Down at start: 503 naming the server; up: answers; restarted: reconnects (SQLite index,
    workitems in PostgreSQL, so Orthanc itself does not depend on the database)."""
    require_postgres(orthanc_plugin=False)
    cluster = PgCluster()
    cluster.port = free_port()  # nothing listens there until the cluster starts
    section = {**cluster.orthanc_section(), "Schema": "wl"}
    proc = pg_orthanc(
        tmp_path / "o",
        tmp_path / "storage",
        site_file,
        orthanc_pg=None,
        worklist_pg=section,
        index=False,
    )
    try:
        proc.start()
        lead = UpsApi(proc.urls.dicomweb, "lead")
        r = lead.search(PatientID="PG-RECONNECT")
        assert r.status_code == 503
        assert r.json()["reason"].startswith(
            f"worklist database unavailable: cannot connect to PostgreSQL at "
            f"127.0.0.1:{cluster.port}/orthanc as orthanc ("
        )
        assert "Connection refused" in r.json()["reason"]
        cluster.start()
        assert lead.search(PatientID="PG-RECONNECT").status_code == 204
        r = lead.create(workitem("PG-RECONNECT"))
        assert r.status_code == 201, r.text
        uid = uid_from_location(r)
        t0 = time.perf_counter()
        cluster.stop()
        cluster.start()
        restart_s = time.perf_counter() - t0
        # Every pooled connection is dead now: the first request replaces them and succeeds.
        r = lead.retrieve(uid)
        assert r.status_code == 200, r.text
        assert r.json()[0]["00080018"]["Value"] == [uid]
        assert cluster.query(f"SELECT state FROM wl.workitems WHERE uid = '{uid}'") == [
            ["SCHEDULED"]
        ]
        print(f"\nPostgreSQL restart {restart_s:.2f} s; the worklist reconnected")
    finally:
        proc.stop(kill=True)
        cluster.remove()


def test_postgresql_true_without_an_orthanc_section_disables_the_worklist(
    site_file: Path, tmp_path: Path
) -> None:
    proc = pg_orthanc(tmp_path / "o", tmp_path / "storage", site_file, orthanc_pg=None, index=False)
    try:
        proc.start()
        r = UpsApi(proc.urls.dicomweb, "lead").search()
        assert r.status_code == 503
        assert r.json()["reason"] == (
            "worklist disabled: Worklist.PostgreSQL is true but Orthanc has no PostgreSQL section"
        )
    finally:
        proc.stop(kill=True)
