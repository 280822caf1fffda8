"""Roles of the reading worklist over real HTTP: what radiologists, leads and administrators
may see and do, each refusal a 403, and the audit of every assignment and state change."""

from __future__ import annotations

from typing import Any

import requests
from upsrs_helpers import PASSWORD, audit_rows, new_txn, uid_from_location, workitem

from workstation.archive.orthanc import OrthancProcess


def create(api: Any, patient_id: str, **kw: Any) -> str:
    r = api("lead").create(workitem(patient_id, **kw))
    assert r.status_code == 201, r.text
    return uid_from_location(r)


def uids(response: requests.Response) -> set[str]:
    if response.status_code == 204:
        return set()
    assert response.status_code == 200, response.text
    return {ds["00080018"]["Value"][0] for ds in response.json()}


def performer(api: Any, uid: str) -> list[str]:
    ds = api("lead").retrieve(uid).json()[0]
    return [
        code["00080100"]["Value"][0]
        for item in ds.get("00404034", {}).get("Value", [])
        for code in item["00404009"]["Value"]
    ]


def assign(code: str | None) -> dict[str, Any]:
    if code is None:
        return {"00404034": {"vr": "SQ"}}
    item = {
        "00404009": {
            "vr": "SQ",
            "Value": [
                {
                    "00080100": {"vr": "SH", "Value": [code]},
                    "00080102": {"vr": "SH", "Value": ["99TEST"]},
                    "00080104": {"vr": "LO", "Value": [code]},
                }
            ],
        }
    }
    return {"00404034": {"vr": "SQ", "Value": [item]}}


def test_radiologist_sees_own_and_unassigned_pool_items(api: Any, patient_id: str) -> None:
    open_neuro = create(api, patient_id, label="neuro")
    mine_in_chest = create(api, patient_id, label="chest", performer="RAD01")
    other_reader = create(api, patient_id, label="neuro", performer="RAD02")
    open_chest = create(api, patient_id, label="chest")

    assert uids(api("rad.neuro").search(PatientID=patient_id)) == {open_neuro, mine_in_chest}
    assert uids(api("rad.neuro2").search(PatientID=patient_id)) == {open_neuro, other_reader}
    assert uids(api("rad.chest").search(PatientID=patient_id)) == {open_chest}
    everything = {open_neuro, mine_in_chest, other_reader, open_chest}
    assert uids(api("lead").search(PatientID=patient_id)) == everything
    assert uids(api("admin").search(PatientID=patient_id)) == everything

    assert api("rad.neuro").retrieve(mine_in_chest).status_code == 200
    assert api("rad.neuro").retrieve(open_chest).status_code == 403
    assert api("rad.neuro").retrieve(other_reader).status_code == 403


def test_radiologist_refusals(api: Any, patient_id: str) -> None:
    rad = api("rad.neuro")
    r = rad.create(workitem(patient_id))
    assert r.status_code == 403
    assert r.headers["Warning"].endswith('"role radiologist may not create workitems"')

    open_neuro = create(api, patient_id, label="neuro")
    assert rad.update(open_neuro, assign("RAD01")).status_code == 403  # no self-assignment
    assert rad.cancel(open_neuro).status_code == 403
    open_chest = create(api, patient_id, label="chest")
    assert rad.change_state(open_chest, "IN PROGRESS", new_txn()).status_code == 403
    other_reader = create(api, patient_id, label="neuro", performer="RAD02")
    r = rad.change_state(other_reader, "IN PROGRESS", new_txn())
    assert r.status_code == 403
    assert api("rad.neuro2").change_state(other_reader, "IN PROGRESS", new_txn()).status_code == 200

    txn = new_txn()
    assert rad.change_state(open_neuro, "IN PROGRESS", txn).status_code == 200
    tx = {"00081195": {"vr": "UI", "Value": [txn]}}
    r = rad.update(open_neuro, {**tx, "00741200": {"vr": "CS", "Value": ["HIGH"]}})
    assert r.status_code == 403  # priority belongs to the lead, even on a held item
    r = rad.update(open_neuro, {**tx, **assign("RAD02")})
    assert r.status_code == 403
    # Someone else who knows the Transaction UID still may not complete it.
    assert api("rad.neuro2").change_state(open_neuro, "COMPLETED", txn).status_code == 403
    assert api("lead").change_state(open_neuro, "COMPLETED", txn).status_code == 403
    assert rad.change_state(open_neuro, "COMPLETED", txn).status_code == 200


def test_admin_manages_but_does_not_read(api: Any, patient_id: str) -> None:
    admin = api("admin")
    r = admin.create(workitem(patient_id, label="chest"))
    assert r.status_code == 201
    uid = uid_from_location(r)
    assert admin.update(uid, assign("RAD03")).status_code == 200
    assert admin.change_state(uid, "IN PROGRESS", new_txn()).status_code == 403
    txn = new_txn()
    assert api("rad.chest").change_state(uid, "IN PROGRESS", txn).status_code == 200
    assert admin.change_state(uid, "COMPLETED", txn).status_code == 403
    assert admin.cancel(uid).status_code == 202


def test_unknown_users_are_refused(api: Any, worklist_orthanc: OrthancProcess) -> None:
    r = api("outsider").search()
    assert r.status_code == 403
    assert r.headers["Warning"].endswith("\"user 'outsider' has no role in the reading worklist\"")
    wrong = requests.get(
        f"{worklist_orthanc.urls.dicomweb}/workitems", auth=("lead", PASSWORD + "x"), timeout=10
    )
    assert wrong.status_code == 401  # Orthanc checks the password before the plugin runs
    anonymous = requests.get(f"{worklist_orthanc.urls.dicomweb}/workitems", timeout=10)
    assert anonymous.status_code == 401


def test_lead_assigns_and_reassigns_with_audit(
    api: Any, patient_id: str, worklist_orthanc: OrthancProcess
) -> None:
    lead = api("lead")
    uid = create(api, patient_id, label="neuro", priority="LOW")
    assert lead.update(uid, assign("RAD01")).status_code == 200
    assert performer(api, uid) == ["RAD01"]
    assert uid in uids(api("rad.neuro").search(PatientID=patient_id))
    assert uid not in uids(api("rad.neuro2").search(PatientID=patient_id))

    assert lead.update(uid, assign("RAD02")).status_code == 200
    assert uid not in uids(api("rad.neuro").search(PatientID=patient_id))
    assert uid in uids(api("rad.neuro2").search(PatientID=patient_id))

    r = lead.update(uid, assign("NOBODY"))
    assert r.status_code == 400
    assert performer(api, uid) == ["RAD02"]

    # Reprioritising recomputes the due time from the start: 08:00 + 30 min for HIGH.
    assert lead.update(uid, {"00741200": {"vr": "CS", "Value": ["HIGH"]}}).status_code == 200
    ds = lead.retrieve(uid).json()[0]
    assert ds["00404011"]["Value"] == ["20240501083000+0000"]
    assert lead.update(uid, assign(None)).status_code == 200
    assert performer(api, uid) == []

    rows = audit_rows(worklist_orthanc, uid)
    assert [r for r in rows if r[1] != "update"] == [
        ("lead", "create", None, "SCHEDULED LOW neuro"),
        ("lead", "assign", None, "RAD01"),
        ("lead", "reassign", "RAD01", "RAD02"),
        ("lead", "priority", "LOW", "HIGH"),
        # LOW: 08:00 + 1440 min; HIGH: 08:00 + 30 min
        ("lead", "due", "20240502080000+0000", "20240501083000+0000"),
        ("lead", "unassign", "RAD02", None),
    ]
    assert [r for r in rows if r[1] == "update"] == [
        ("lead", "update", None, "ScheduledHumanPerformersSequence"),
        ("lead", "update", None, "ScheduledHumanPerformersSequence"),
        ("lead", "update", None, "ScheduledProcedureStepPriority"),
        ("lead", "update", None, "ScheduledHumanPerformersSequence"),
    ]
