"""Atomic claims: two processes claim each of 100 workitems at the same moment and every item
has exactly one winner; plus claim and search round-trip times on loopback."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from upsrs_helpers import PASSWORD, audit_rows, new_txn, uid_from_location, workitem

from workstation.archive.orthanc import OrthancProcess

WORKER = Path(__file__).with_name("claim_worker.py")
ITEMS = 100
SLOT_MS = 10  # each claim has its own 10 ms slot, longer than a claim takes on loopback


def make_items(api: Any, patient_id: str, count: int) -> list[str]:
    lead = api("lead")
    uids = []
    for i in range(count):
        r = lead.create(
            workitem(patient_id, label="neuro", start=f"20240501{i // 60:02d}{i % 60:02d}00")
        )
        assert r.status_code == 201, r.text
        uids.append(uid_from_location(r))
    return uids


def test_two_processes_claim_each_item_once(
    api: Any, patient_id: str, worklist_orthanc: OrthancProcess, tmp_path: Path
) -> None:
    uids = make_items(api, patient_id, ITEMS)
    uids_file = tmp_path / "uids.json"
    uids_file.write_text(json.dumps(uids), encoding="utf-8")
    base = f"{worklist_orthanc.urls.dicomweb}/workitems"
    start_at = time.time() + 1.5  # both workers are ready and waiting by then
    readers = {"rad.neuro": "RAD01", "rad.neuro2": "RAD02"}
    procs = {
        user: subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                base,
                user,
                PASSWORD,
                str(start_at),
                str(SLOT_MS),
                str(uids_file),
                str(tmp_path / f"{user}.json"),
            ]
        )
        for user in readers
    }
    for user, proc in procs.items():
        assert proc.wait(timeout=60) == 0, user
    race_s = time.time() - start_at  # about ITEMS × SLOT_MS
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

    # The server agrees: each item is held by its winner, with the winner's Transaction UID.
    for uid in uids:
        winner = winners[uid]
        ds = api(winner).retrieve(uid).json()[0]
        assert ds["00741000"]["Value"] == ["IN PROGRESS"]
        code = ds["00404034"]["Value"][0]["00404009"]["Value"][0]["00080100"]["Value"][0]
        assert code == readers[winner]
        claims = [row for row in audit_rows(worklist_orthanc, uid) if row[1] == "claim"]
        assert claims == [(winner, "claim", "SCHEDULED", "IN PROGRESS")]
        txn = results[winner][uid]["txn"]
        assert api(winner).change_state(uid, "COMPLETED", txn).status_code == 200

    gaps = [abs(results["rad.neuro"][u]["sent"] - results["rad.neuro2"][u]["sent"]) for u in uids]
    split = {user: sum(1 for w in winners.values() if w == user) for user in readers}
    print(
        f"\nrace: {ITEMS} items in {race_s:.2f} s, wins {split}, "
        f"median gap between the two requests {1000 * statistics.median(gaps):.1f} ms"
    )
    assert race_s < 30


def test_claim_and_search_round_trips(
    api: Any, patient_id: str, artifact_dir: Path, worklist_orthanc: OrthancProcess
) -> None:
    """Loopback round trips with one keep-alive connection; bounds only catch gross slowness."""
    uids = make_items(api, patient_id, 40)
    rad = api("rad.neuro")
    search_ms = []
    for _ in range(20):
        t0 = time.perf_counter()
        r = rad.search(PatientID=patient_id, ProcedureStepState="SCHEDULED")
        search_ms.append(1000 * (time.perf_counter() - t0))
        assert r.status_code == 200 and len(r.json()) == 40
    pool_ms = []
    for _ in range(10):
        t0 = time.perf_counter()
        r = rad.search(ProcedureStepLabel="neuro", ProcedureStepState="SCHEDULED", limit=50)
        pool_ms.append(1000 * (time.perf_counter() - t0))
        assert r.status_code == 200
    claim_ms = []
    for uid in uids:
        t0 = time.perf_counter()
        r = rad.change_state(uid, "IN PROGRESS", new_txn())
        claim_ms.append(1000 * (time.perf_counter() - t0))
        assert r.status_code == 200
    timings = {
        "claim_ms_median": statistics.median(claim_ms),
        "claim_ms_max": max(claim_ms),
        "search_patient_40_items_ms_median": statistics.median(search_ms),
        "search_pool_limit_50_ms_median": statistics.median(pool_ms),
    }
    (artifact_dir / "worklist_timings.json").write_text(json.dumps(timings, indent=2))
    print("\nround trips:", json.dumps(timings))
    assert timings["claim_ms_median"] < 250
    assert timings["search_patient_40_items_ms_median"] < 500
