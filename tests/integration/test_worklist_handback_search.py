"""The worklist plugin's hand back, its search answered from stored JSON and the study summary of
reading workitems, against a real Orthanc (PS3.18 §11, PS3.4 Annex CC).

* Hand back (``POST {uid}/handback``): a radiologist who holds a workitem gives it back; the
  replacement and the discontinuation are one transaction; refusals as Change State answers them.
* Search: every key the store keeps in a column (performer, station, accession, start and due
  ranges besides state, priority, pool, patient) gives the same pages as the Python matching
  path, and answers built from stored JSON text equal ``select_attributes`` of the workitem.
* A stable study's reading workitem carries modalities, body part, study date and time, image
  count, description and referring physician, and the client's WorkItem shows them.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pydicom
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "worklist"))
from upsrs_helpers import (
    SITE_CONFIG,
    UID_ROOT,
    UpsApi,
    audit_rows,
    new_txn,
    start_worklist_orthanc,
    storescu,
    uid_from_location,
    upsrs_client,
    write_ct_study,
)

from workstation.archive.orthanc import OrthancProcess
from workstation.core import ups
from workstation.worklist.model import WorkItem, WorklistFilter
from workstation.worklist.upsrs import UpsRsClient

SITE = ups.load_worklist_config(SITE_CONFIG)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancProcess]:
    proc = start_worklist_orthanc(tmp_path_factory.mktemp("wl-handback"))
    try:
        yield proc
    finally:
        proc.stop(kill=True)


@pytest.fixture
def client(server: OrthancProcess, tmp_path: Path) -> Iterator[Callable[[str], UpsRsClient]]:
    """``client("rad.neuro")``: a UpsRsClient of that user with a claim file of its own."""
    made: list[UpsRsClient] = []

    def make(user: str) -> UpsRsClient:
        c = upsrs_client(server.urls.dicomweb, user, tmp_path / f"{user}.sqlite")
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def api(server: OrthancProcess) -> Iterator[Callable[[str], UpsApi]]:
    made: list[UpsApi] = []

    def make(user: str) -> UpsApi:
        a = UpsApi(server.urls.dicomweb, user)
        made.append(a)
        return a

    yield make
    for a in made:
        a.session.close()


def pid() -> str:
    return "WLH" + uuid.uuid4().hex[:10].upper()


def item(
    patient_id: str,
    *,
    pool: str = "neuro",
    performer: str | None = None,
    station: str | None = None,
    accession: str = "",
    start: str = "20240501080000+0000",
    priority: str = "MEDIUM",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    study = f"{UID_ROOT}{uuid.uuid4().int % 10**12}"
    ds = ups.dataset_of(
        PatientName="Test^Worklist",
        PatientID=patient_id,
        StudyInstanceUID=study,
        ScheduledProcedureStepPriority=priority,
        ProcedureStepLabel=pool,
        ScheduledProcedureStepStartDateTime=start,
        ReferencedRequestSequence=[
            ups.dataset_of(AccessionNumber=accession or None, StudyInstanceUID=study)
        ],
        ScheduledStationNameCodeSequence=[ups.code_item(station, "99TELERAD", station)]
        if station
        else None,
        ScheduledHumanPerformersSequence=[ups.performer_item(SITE.users[performer], "99TEST")]
        if performer
        else None,
    )
    ds.update(extra or {})
    return ds


def post_hand_back(api: UpsApi, uid: str, txn: str | None, reason: str = "") -> Any:
    body = ups.dataset_of(TransactionUID=txn, ReasonForCancellation=reason or None)
    return api.session.post(
        f"{api.base}/{uid}/handback",
        json=body,
        headers={"Content-Type": "application/dicom+json"},
    )


def state_of(api: UpsApi, uid: str) -> str:
    r = api.retrieve(uid)
    assert r.status_code == 200, r.text
    return str(ups.first(r.json()[0], "ProcedureStepState"))


# -- hand back -------------------------------------------------------------------------------


def test_radiologist_hands_back_and_another_claims_it(
    client: Callable[[str], UpsRsClient], api: Callable[[str], UpsApi], server: OrthancProcess
) -> None:
    patient = pid()
    lead = client("lead")
    uid = lead.create(item(patient, priority="HIGH"))
    rad = client("rad.neuro")
    rad.claim(uid)
    new_uid = rad.hand_back(uid, "needs a neuroradiologist with spine experience")
    assert new_uid == ups.derived_uid("replacement", uid)
    assert rad.held_claim(uid) is None

    # the lead sees the replacement unassigned in the pool, the original CANCELED
    seen = lead.search_all(WorklistFilter(patient_id=patient, states=()))
    by_uid = {i.uid: i for i in seen}
    assert set(by_uid) == {uid, new_uid}
    assert (by_uid[uid].state, by_uid[new_uid].state) == (
        ups.ProcedureStepState.CANCELED,
        ups.ProcedureStepState.SCHEDULED,
    )
    replacement = by_uid[new_uid]
    assert (replacement.performer_code, replacement.pool, replacement.replaces) == (
        None,
        "neuro",
        uid,
    )
    assert replacement.priority is ups.UpsPriority.HIGH
    assert replacement.due == by_uid[uid].due
    assert [i.uid for i in lead.search_all(WorklistFilter(patient_id=patient))] == [new_uid]
    original = lead.get_dataset(uid)
    progress = ups.items(original, "ProcedureStepProgressInformationSequence")[0]
    assert ups.first(progress, "ReasonForCancellation") == (
        "Handed back to the pool by the reader: needs a neuroradiologist with spine experience"
    )
    # audited in the same transaction, under the radiologist's name
    assert [r for r in audit_rows(server, uid) if r[1] == "hand-back"] == [
        ("rad.neuro", "hand-back", "IN PROGRESS", f"CANCELED, replaced by {new_uid}")
    ]
    assert audit_rows(server, new_uid)[:2] == [
        ("rad.neuro", "create", None, "SCHEDULED HIGH neuro"),
        ("rad.neuro", "replaces", None, uid),
    ]
    # a second radiologist of the pool claims the replacement
    other = client("rad.neuro2")
    claim = other.claim(new_uid)
    assert claim.confirmed
    assert state_of(api("lead"), new_uid) == "IN PROGRESS"
    assert other.get(new_uid).performer_code == "RAD02"


def test_hand_back_refusals_and_retry(
    client: Callable[[str], UpsRsClient], api: Callable[[str], UpsApi], server: OrthancProcess
) -> None:
    patient = pid()
    lead_api = api("lead")
    uid = uid_from_location(lead_api.create(item(patient)))
    rad1, rad2 = api("rad.neuro"), api("rad.neuro2")
    # still SCHEDULED: 409 C310
    r = post_hand_back(rad1, uid, new_txn())
    assert r.status_code == 409 and "0xC310" in r.headers["Warning"]
    txn = new_txn()
    assert rad1.change_state(uid, "IN PROGRESS", txn).status_code == 200
    # no Transaction UID: 400; another radiologist: 403; the holder with a wrong one: 409 C301
    r = post_hand_back(rad1, uid, None)
    assert r.status_code == 400 and "0x0121" in r.headers["Warning"]
    r = post_hand_back(rad2, uid, txn)
    assert r.status_code == 403, r.text
    r = post_hand_back(rad1, uid, new_txn())
    assert r.status_code == 409 and "0xC301" in r.headers["Warning"]
    r = post_hand_back(api("admin"), uid, txn)
    assert r.status_code == 403
    assert state_of(lead_api, uid) == "IN PROGRESS"
    assert not [row for row in audit_rows(server, uid) if row[1] == "hand-back"]
    # the holder: 201 with the replacement's Location; a retry answers the same with B304
    r = post_hand_back(rad1, uid, txn)
    assert r.status_code == 201, r.text
    new_uid = uid_from_location(r)
    assert new_uid == ups.derived_uid("replacement", uid)
    again = post_hand_back(rad1, uid, txn)
    assert again.status_code == 201 and uid_from_location(again) == new_uid
    assert "0xB304" in again.headers["Warning"]
    assert [state_of(lead_api, u) for u in (uid, new_uid)] == ["CANCELED", "SCHEDULED"]
    progress = ups.items(
        lead_api.retrieve(uid).json()[0], "ProcedureStepProgressInformationSequence"
    )
    assert ups.first(progress[0], "ReasonForCancellation") == ups.HAND_BACK_REASON


def test_hand_back_is_all_or_nothing(api: Callable[[str], UpsApi], server: OrthancProcess) -> None:
    """When the replacement cannot be written (its UID is taken), the original stays IN PROGRESS
    with its holder: neither step happens without the other."""
    patient = pid()
    lead_api = api("lead")
    uid = uid_from_location(lead_api.create(item(patient)))
    blocker = item(
        patient, extra=ups.dataset_of(SOPInstanceUID=ups.derived_uid("replacement", uid))
    )
    assert lead_api.create(blocker).status_code == 201
    rad1 = api("rad.neuro")
    txn = new_txn()
    assert rad1.change_state(uid, "IN PROGRESS", txn).status_code == 200
    r = post_hand_back(rad1, uid, txn)
    assert r.status_code == 409 and "0x0111" in r.headers["Warning"]
    assert state_of(lead_api, uid) == "IN PROGRESS"
    assert [row[1] for row in audit_rows(server, uid)] == ["create", "assign", "claim"]
    # the holder can still complete it with the same Transaction UID
    assert rad1.change_state(uid, "COMPLETED", txn).status_code == 200


# -- search in SQL from stored JSON ----------------------------------------------------------


def uids_of(a: UpsApi, params: dict[str, str]) -> list[str]:
    r = a.search(**params, limit="1000")
    assert r.status_code in (200, 204), r.text
    return [d["00080018"]["Value"][0] for d in r.json()] if r.status_code == 200 else []


def test_column_keys_match_the_python_path(api: Callable[[str], UpsApi]) -> None:
    """Each key the plugin filters in SQL gives the UIDs, in order, of the Python matching path
    (forced by an extra PatientName key), for a lead and a radiologist's visibility."""
    patient = pid()
    lead = api("lead")
    turnaround = SITE_CONFIG["TurnaroundMinutes"]
    facts: dict[str, dict[str, Any]] = {}  # uid -> what the test wrote, to compute expectations
    for i in range(36):
        start = datetime(2024, 5, 1 + i % 4, 8 + i % 6, i, tzinfo=UTC)
        f = {
            "pool": ("neuro", "chest")[i % 2],
            "performer": (None, "rad.neuro", "rad.neuro2", None)[i % 4],
            "station": ("STA", "STB", None)[i % 3],
            "accession": f"ACC{i % 5}",
            "start": start,
            "priority": ("HIGH", "MEDIUM", "LOW")[i % 3],
        }
        r = lead.create(
            item(
                patient,
                pool=f["pool"],
                performer=f["performer"],
                station=f["station"],
                accession=f["accession"],
                start=ups.format_dt(start),
                priority=f["priority"],
            )
        )
        assert r.status_code == 201, r.text
        f["due"] = start + timedelta(minutes=turnaround[f["priority"]])
        facts[uid_from_location(r)] = f

    def day(d: int, h: int = 0) -> datetime:
        return datetime(2024, 5, d, h, tzinfo=UTC)

    keys: list[tuple[dict[str, str], Callable[[dict[str, Any]], bool]]] = [
        (
            {"ScheduledHumanPerformersSequence.HumanPerformerCodeSequence.CodeValue": "RAD01"},
            lambda f: f["performer"] == "rad.neuro",
        ),
        ({"ScheduledStationNameCodeSequence.CodeValue": "STB"}, lambda f: f["station"] == "STB"),
        ({"AccessionNumber": "ACC3"}, lambda f: f["accession"] == "ACC3"),
        (
            {"ReferencedRequestSequence.AccessionNumber": "ACC3", "ProcedureStepLabel": "chest"},
            lambda f: f["accession"] == "ACC3" and f["pool"] == "chest",
        ),
        (
            {"ScheduledProcedureStepStartDateTime": "20240502"},
            lambda f: day(2) <= f["start"] < day(3),
        ),
        (
            {"ScheduledProcedureStepStartDateTime": "20240501100000+0000-20240503090000+0000"},
            lambda f: day(1, 10) <= f["start"] < day(3, 9) + timedelta(seconds=1),
        ),
        ({"ScheduledProcedureStepStartDateTime": "-20240502"}, lambda f: f["start"] < day(3)),
        ({"ExpectedCompletionDateTime": "20240502-"}, lambda f: f["due"] >= day(2)),
        (
            {"ScheduledProcedureStepPriority": "HIGH", "ProcedureStepState": "SCHEDULED"},
            lambda f: f["priority"] == "HIGH",
        ),
    ]
    rad = api("rad.neuro")
    for params, wanted in keys:
        for who in (lead, rad):
            sql = uids_of(who, {"PatientID": patient, **params})
            python = uids_of(who, {"PatientID": patient, "PatientName": "Test^Worklist", **params})
            assert sql == python, (who.user, params)
        expected = {u for u, f in facts.items() if wanted(f)}
        assert 0 < len(expected) < len(facts), params  # each key really selects
        assert set(uids_of(lead, {"PatientID": patient, **params})) == expected, params


def test_answers_from_stored_json_equal_selected_attributes(api: Callable[[str], UpsApi]) -> None:
    """Default attributes, includefield of the inputs, all attributes, an attribute outside the
    defaults: each answer equals ``select_attributes`` of the retrieved workitem."""
    patient = pid()
    lead = api("lead")
    inputs = ups.dataset_of(
        InputInformationSequence=[
            ups.dataset_of(
                TypeOfInstances="DICOM",
                StudyInstanceUID="1.2.3",
                ReferencedSOPSequence=[
                    ups.dataset_of(ReferencedSOPClassUID="1.2.840.10008.5.1.4.1.1.2",
                                   ReferencedSOPInstanceUID=f"1.2.3.{k}")
                    for k in range(1, 4)
                ],
            )
        ],
        NumberOfStudyRelatedInstances=3,
    )  # fmt: skip
    plain = uid_from_location(lead.create(item(patient, extra=inputs)))
    comments = ups.dataset_of(CommentsOnTheScheduledProcedureStep="compare with prior")
    commented = uid_from_location(lead.create(item(patient, extra={**inputs, **comments})))
    stored = {u: lead.retrieve(u).json()[0] for u in (plain, commented)}
    cases = [
        {},
        {"includefield": "00201208"},
        {"includefield": "InputInformationSequence,00201208"},
        {"includefield": "all"},
        {"includefield": "CommentsOnTheScheduledProcedureStep"},
    ]
    for extra in cases:
        params = {"PatientID": patient, **extra}
        r = lead.search(**params)
        assert r.status_code == 200, r.text
        answer = {d["00080018"]["Value"][0]: d for d in r.json()}
        query = ups.parse_search_query(params)
        for uid in (plain, commented):
            assert answer[uid] == ups.select_attributes(stored[uid], query), (extra, uid)
            assert "00081195" not in answer[uid]
    # spot checks of what the cases mean
    default = {d["00080018"]["Value"][0]: d for d in lead.search(PatientID=patient).json()}
    assert "00404021" not in default[plain] and "00400400" not in default[commented]
    full = lead.search(PatientID=patient, includefield="all").json()
    assert all(len(ups.items(d, "InputInformationSequence")) == 1 for d in full)


# -- the study summary of a reading workitem ----------------------------------------------------


def test_stable_study_workitem_carries_the_study_summary(
    server: OrthancProcess, client: Callable[[str], UpsRsClient], tmp_path: Path
) -> None:
    patient = pid()
    study_uid = f"{UID_ROOT}{uuid.uuid4().int % 10**12}"
    paths = write_ct_study(
        tmp_path / "study",
        study_uid=study_uid,
        series=[("CT", "HEAD", 3), ("CT", "NECK", 2), ("SR", "", 1)],
        patient_id=patient,
        accession="ACC-SUM-1",
        institution="St Elsewhere General Hospital",
        requested_priority="STAT",
        description="CT HEAD AND NECK",
    )
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.ReferringPhysicianName = "Referrer^Rita"
        ds.RequestingPhysician = "Requester^Rob"
        ds.RequestedProcedureDescription = "CT head neck angiography"
        ds.StudyTime = "081530"
        ds.save_as(path, enforce_file_format=True)
    storescu(server, paths)
    lead = client("lead")
    deadline = time.monotonic() + 20
    found: list[WorkItem] = []
    while time.monotonic() < deadline and not found:
        found = lead.search_all(WorklistFilter(patient_id=patient))
        time.sleep(0.1)
    assert len(found) == 1, "no reading workitem within 20 s"
    wi = found[0]
    assert (wi.modality, wi.body_part, wi.number_of_images) == ("CT", "HEAD", 5)
    assert (wi.study_date, wi.study_time, wi.referring_physician) == (
        "20240501",
        "081530",
        "Referrer^Rita",
    )
    assert (wi.study_description, wi.accession_number) == ("CT head neck angiography", "ACC-SUM-1")
    ds = lead.get_dataset(wi.uid)
    assert ups.values(ds, "ModalitiesInStudy") == ["CT"]
    assert ups.first(ds, "StudyDescription") == "CT HEAD AND NECK"
    request = ups.items(ds, "ReferencedRequestSequence")[0]
    assert ups.values(request, "RequestingPhysician") == ["Requester^Rob"]
    assert ups.first(request, "RequestedProcedureDescription") == "CT head neck angiography"
    refs = [r for i in ups.items(ds, "InputInformationSequence")
            for r in ups.items(i, "ReferencedSOPSequence")]  # fmt: skip
    assert len(refs) == 6  # every instance, the SR too; the image count leaves the SR out
    assert wi.due is not None and wi.due > datetime.now(UTC)
