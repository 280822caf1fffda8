"""Reading workitems made by the plugin when Orthanc reports a study stable (StableAge 1 s),
and by its start-up sweep when that event was missed. Studies are sent with dcmtk's storescu."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from support import wait_for
from upsrs_helpers import (
    PASSWORD,
    UID_ROOT,
    UpsApi,
    audit_rows,
    new_txn,
    start_worklist_orthanc,
    storescu,
    worklist_db,
    write_ct_study,
)

from workstation.archive.orthanc import OrthancProcess
from workstation.core.ups import reading_workitem_uid

HOSPITAL = "St Elsewhere General Hospital"


def items_of(lead: UpsApi, patient_id: str) -> list[dict[str, Any]]:
    r = lead.search(PatientID=patient_id, includefield="all")
    if r.status_code == 204:
        return []
    assert r.status_code == 200, r.text
    return list(r.json())


def study_is_stable(proc: OrthancProcess, study_uid: str) -> bool:
    auth = ("lead", PASSWORD)
    found = requests.post(f"{proc.urls.http}/tools/lookup", data=study_uid, auth=auth, timeout=10)
    ids = [r["ID"] for r in found.json() if r["Type"] == "Study"]
    if not ids:
        return False
    study = requests.get(f"{proc.urls.http}/studies/{ids[0]}", auth=auth, timeout=10).json()
    return bool(study["IsStable"])


def value(ds: dict[str, Any], *path: str) -> Any:
    """The first value at a path of tags, through the first item of each sequence."""
    node: Any = ds
    for tag in path[:-1]:
        node = node[tag]["Value"][0]
    return node[path[-1]]["Value"][0]


def dt(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H%M%S%z")


@pytest.fixture
def lead(worklist_orthanc: OrthancProcess) -> Any:
    client = UpsApi(worklist_orthanc.urls.dicomweb, "lead")
    yield client
    client.session.close()


@pytest.mark.slow  # four waits for StableAge (about 8 s)
def test_stored_study_makes_exactly_one_workitem(
    worklist_orthanc: OrthancProcess, lead: UpsApi, tmp_path: Path, patient_id: str
) -> None:
    study_uid = f"{UID_ROOT}{int(time.time() * 1000)}.1"
    files = write_ct_study(
        tmp_path / "a",
        study_uid=study_uid,
        series=[("CT", "HEAD", 3), ("CT", "HEAD", 2)],
        patient_id=patient_id,
        accession="ACC-STABLE",
        institution=HOSPITAL,
        requested_priority="STAT",
        description="CT HEAD WITHOUT CONTRAST",
    )
    storescu(worklist_orthanc, files)
    [ds] = wait_for(lambda: items_of(lead, patient_id), what="the reading workitem")

    uid = value(ds, "00080018")
    assert uid == reading_workitem_uid(study_uid)
    assert value(ds, "00741000") == "SCHEDULED"
    assert value(ds, "00741200") == "HIGH"  # STAT -> HIGH
    assert value(ds, "00741204") == "neuro"  # body part HEAD -> neuro
    start, due = dt(value(ds, "00404005")), dt(value(ds, "00404011"))
    assert due - start == timedelta(minutes=30)  # HIGH turnaround of the test site
    assert abs(datetime.now(start.tzinfo) - start) < timedelta(seconds=60)
    assert value(ds, "0040A370", "00080050") == "ACC-STABLE"
    assert value(ds, "0040A370", "00321060") == "CT HEAD WITHOUT CONTRAST"
    assert value(ds, "00404025", "00080100") == "STELSEWHERE"
    assert value(ds, "00404025", "00080104") == HOSPITAL
    assert value(ds, "0020000D") == study_uid
    assert value(ds, "00100020") == patient_id
    inputs = ds["00404021"]["Value"]
    assert [value(i, "0020000E") for i in inputs] == [f"{study_uid}.1", f"{study_uid}.2"]
    assert [[value(r, "00081155") for r in i["00081199"]["Value"]] for i in inputs] == [
        [f"{study_uid}.1.{n}" for n in (1, 2, 3)],
        [f"{study_uid}.2.{n}" for n in (1, 2)],
    ]
    assert {value(r, "00081150") for i in inputs for r in i["00081199"]["Value"]} == {
        "1.2.840.10008.5.1.4.1.1.2"
    }
    # The WADO-RS URL in the workitem really retrieves the series from this archive.
    url = value(inputs[0], "0040E025", "00081190")
    meta = requests.get(f"{url}/metadata", auth=("lead", PASSWORD), timeout=10)
    assert meta.status_code == 200
    assert len(meta.json()) == 3

    # A third series arrives later: still one workitem, its inputs refreshed while SCHEDULED.
    more = write_ct_study(
        tmp_path / "b",
        study_uid=study_uid,
        series=[("CT", "HEAD", 1)] * 3,
        patient_id=patient_id,
        accession="ACC-STABLE",
        institution=HOSPITAL,
        requested_priority="STAT",
    )[-1:]
    storescu(worklist_orthanc, [*files[:1], *more])
    [ds] = wait_for(
        lambda: [d for d in items_of(lead, patient_id) if len(d["00404021"]["Value"]) == 3],
        what="the refreshed inputs",
    )
    assert value(ds, "00080018") == uid
    actions = [(user, action) for user, action, _o, _n in audit_rows(worklist_orthanc, uid)]
    assert actions == [("system", "create"), ("system", "refresh-inputs")]

    # Read and completed; then more images arrive (e.g. a late series): no second workitem.
    rad = UpsApi(worklist_orthanc.urls.dicomweb, "rad.neuro")
    txn = new_txn()
    assert rad.change_state(uid, "IN PROGRESS", txn).status_code == 200
    assert rad.change_state(uid, "COMPLETED", txn).status_code == 200
    rad.session.close()
    late = write_ct_study(
        tmp_path / "c",
        study_uid=study_uid,
        series=[("CT", "HEAD", 1)] * 4,
        patient_id=patient_id,
        accession="ACC-STABLE",
        institution=HOSPITAL,
        requested_priority="STAT",
    )[-1:]
    storescu(worklist_orthanc, late)
    wait_for(lambda: study_is_stable(worklist_orthanc, study_uid), what="the study to settle")
    # A study stored after that one is handled after it (one worker, events in order).
    barrier_patient = patient_id + "-B"
    barrier = write_ct_study(
        tmp_path / "d",
        study_uid=study_uid + ".99",
        series=[("CT", "CHEST", 1)],
        patient_id=barrier_patient,
        accession="",
        institution=HOSPITAL,
        requested_priority=None,
    )
    storescu(worklist_orthanc, barrier)
    wait_for(lambda: items_of(lead, barrier_patient), what="the barrier study's workitem")
    [ds] = items_of(lead, patient_id)
    assert value(ds, "00741000") == "COMPLETED"
    assert len(ds["00404021"]["Value"]) == 3


def test_priority_and_pool_routing(
    worklist_orthanc: OrthancProcess, lead: UpsApi, tmp_path: Path, patient_id: str
) -> None:
    cases = {
        # name: (modality, body part, requested priority, description) -> (priority, pool, minutes)
        "routine-knee": (("MR", "KNEE", "ROUTINE", "MR KNEE"), ("LOW", "msk", 1440)),
        "urgent-chest": (("CT", "CHEST", "URGENT", "CT CHEST"), ("MEDIUM", "chest", 180)),
        "none-abdomen": (("CT", "ABDOMEN", None, "CT ABDOMEN"), ("LOW", "body", 1440)),
        "stat-pet": (("PT", "WHOLEBODY", "stat", "PET CT"), ("HIGH", "oncology", 30)),
    }
    base = f"{UID_ROOT}{int(time.time() * 1000)}.2"
    sr_only = write_ct_study(
        tmp_path / "sr",
        study_uid=f"{base}.0",
        series=[("SR", "", 1)],
        patient_id=f"{patient_id}-sr",
        accession="",
        institution=HOSPITAL,
        requested_priority="STAT",
    )
    storescu(worklist_orthanc, sr_only)
    wait_for(lambda: study_is_stable(worklist_orthanc, f"{base}.0"), what="the SR-only study")
    files = []
    for i, (name, ((modality, part, prio, desc), _expected)) in enumerate(cases.items(), 1):
        files += write_ct_study(
            tmp_path / name,
            study_uid=f"{base}.{i}",
            series=[(modality, part, 1)],
            patient_id=f"{patient_id}-{name}",
            accession="",
            institution="Unlisted Clinic",
            requested_priority=prio,
            description=desc,
        )
    storescu(worklist_orthanc, files)
    for name, (_facts, (priority, pool, minutes)) in cases.items():
        [ds] = wait_for(lambda n=name: items_of(lead, f"{patient_id}-{n}"), what=name)
        assert (value(ds, "00741200"), value(ds, "00741204")) == (priority, pool), name
        assert dt(value(ds, "00404011")) - dt(value(ds, "00404005")) == timedelta(minutes=minutes)
        assert value(ds, "00404025", "00080100") == "UNLISTED_CLINIC"
    assert items_of(lead, f"{patient_id}-sr") == []  # reports alone are not read


@pytest.mark.slow  # three Orthanc stops of about 3.5 s each (Orthanc's own shutdown)
def test_startup_sweep_catches_a_missed_stable_study(tmp_path: Path, patient_id: str) -> None:
    folder = tmp_path / "orthanc"
    study_uid = f"{UID_ROOT}{int(time.time() * 1000)}.3"
    files = write_ct_study(
        tmp_path / "dcm",
        study_uid=study_uid,
        series=[("CT", "CHEST", 2)],
        patient_id=patient_id,
        accession="ACC-SWEEP",
        institution=HOSPITAL,
        requested_priority="URGENT",
    )
    # StableAge 60 s: Orthanc stops long before the study is stable; the event never fires.
    proc = start_worklist_orthanc(folder, stable_age_s=60)
    try:
        storescu(proc, files)
        lead = UpsApi(proc.urls.dicomweb, "lead")
        assert items_of(lead, patient_id) == []
        lead.session.close()
    finally:
        proc.stop()
    for restart in range(2):
        proc = start_worklist_orthanc(folder, stable_age_s=60)
        try:
            lead = UpsApi(proc.urls.dicomweb, "lead")
            [ds] = wait_for(lambda c=lead: items_of(c, patient_id), what="the swept workitem")
            assert value(ds, "00741200") == "MEDIUM"
            assert value(ds, "00741204") == "chest"
            uid = value(ds, "00080018")
            assert audit_rows(proc, uid) == [("system", "create", None, "SCHEDULED MEDIUM chest")]
            lead.session.close()
        finally:
            proc.stop()
        with sqlite3.connect(worklist_db(proc)) as conn:
            [(checkpoint,)] = conn.execute(
                "SELECT value FROM meta WHERE key = 'orthanc_change_seq'"
            ).fetchall()
        assert int(checkpoint) > 0, restart
    # Nothing the plugin (or Orthanc at its default verbosity) logged names the patient.
    log = proc.log_path.read_text(encoding="utf-8", errors="replace")
    assert "worklist: reading workitem" in log
    for phi in (patient_id, "Test^Stable", "ACC-SWEEP"):
        assert phi not in log


@pytest.mark.slow  # waits for Orthanc's own shutdown (about 4 s)
@pytest.mark.parametrize("by_plugin", [True, False], ids=["plugin", "pdeathsig"])
def test_orthanc_stops_when_its_supervisor_is_killed(tmp_path: Path, by_plugin: bool) -> None:
    """A test run that crashes must not leave its Orthanc behind: either mechanism stops it
    cleanly (Worklist.StopWhenProcessEnds in the plugin, PR_SET_PDEATHSIG in OrthancProcess)."""
    script = (
        "import sys, time; sys.path.insert(0, sys.argv[1]); from pathlib import Path; "
        "from upsrs_helpers import start_worklist_orthanc; "
        "p = start_worklist_orthanc(Path(sys.argv[2]), supervised_by_plugin=sys.argv[3] == '1'); "
        "print(p.pid, flush=True); time.sleep(60)"
    )
    supervisor = subprocess.Popen(
        [
            sys.executable,
            "-c",
            script,
            str(Path(__file__).parent),
            str(tmp_path / "o"),
            "1" if by_plugin else "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert supervisor.stdout is not None
        orthanc_pid = int(supervisor.stdout.readline())
        assert pid_alive(orthanc_pid)
    finally:
        supervisor.kill()  # SIGKILL: no teardown, no atexit
        supervisor.wait(timeout=10)
    wait_for(lambda: not pid_alive(orthanc_pid), timeout_s=20, what="Orthanc to stop")
    log = (tmp_path / "o" / "orthanc.log").read_text(encoding="utf-8", errors="replace")
    plugin_line = f"supervising process {supervisor.pid} has ended: stopping Orthanc"
    assert (plugin_line in log) is by_plugin
    assert "Orthanc has stopped" in log  # a clean shutdown either way


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie of ours counts as gone: Orthanc is not our child)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")
