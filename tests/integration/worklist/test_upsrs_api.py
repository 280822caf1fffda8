"""UPS-RS against a real Orthanc with the worklist plugin: create, retrieve, search, update,
state changes and cancel requests, with the HTTP codes and Warning headers of PS3.18 §11."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from upsrs_helpers import (
    MAXIMUM_RESULTS,
    SITE_CONFIG,
    UpsApi,
    audit_rows,
    new_txn,
    start_worklist_orthanc,
    uid_from_location,
    workitem,
)

from workstation.archive.orthanc import OrthancProcess

TAG = re.compile(r"^[0-9A-F]{8}$")
WARNING = re.compile(r'^299 127\.0\.0\.1:\d+ "(0x[0-9A-F]{4}): [^"]+"$')


def warning_code(response: Any) -> str | None:
    """The UPS status code quoted in a ``Warning: 299 <host> "<code>: <text>"`` header."""
    header = response.headers.get("Warning")
    if header is None:
        return None
    m = WARNING.match(header)
    assert m, f"malformed Warning header: {header!r}"
    return m.group(1)


def create(api: Any, user: str = "lead", **kw: Any) -> str:
    r = api(user).create(workitem(**kw))
    assert r.status_code == 201, r.text
    return uid_from_location(r)


def assert_dicom_json(node: Any) -> None:
    """PS3.18 Annex F: objects keyed by 8 upper-case hex digits; each element has a vr and,
    when it has values, a Value list (sequences hold objects of the same shape)."""
    assert isinstance(node, dict)
    for tag, elem in node.items():
        assert TAG.match(tag), tag
        assert set(elem) <= {"vr", "Value"}, (tag, elem)
        assert re.match(r"^[A-Z]{2}$", elem["vr"])
        if "Value" in elem:
            assert isinstance(elem["Value"], list) and elem["Value"]
            if elem["vr"] == "SQ":
                for item in elem["Value"]:
                    assert_dicom_json(item)
            if elem["vr"] == "PN":
                assert all(
                    set(v) <= {"Alphabetic", "Ideographic", "Phonetic"} for v in elem["Value"]
                )


# -- create and retrieve ---------------------------------------------------------------------


def test_create_then_retrieve_returns_dicom_json(api: Any, patient_id: str) -> None:
    r = api("lead").create(workitem(patient_id, priority="HIGH", accession="A-1"))
    assert r.status_code == 201
    uid = uid_from_location(r)
    assert re.match(
        r"^http://127\.0\.0\.1:\d+/dicom-web/workitems/2\.25\.\d+$", r.headers["Location"]
    )
    got = api("lead").retrieve(uid)
    assert got.status_code == 200
    assert got.headers["Content-Type"] == "application/dicom+json"
    body = got.json()
    assert isinstance(body, list) and len(body) == 1
    ds = body[0]
    assert_dicom_json(ds)
    assert ds["00080018"] == {"vr": "UI", "Value": [uid]}
    assert ds["00080016"] == {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.34.6.1"]}
    assert ds["00741000"] == {"vr": "CS", "Value": ["SCHEDULED"]}
    assert ds["00741200"] == {"vr": "CS", "Value": ["HIGH"]}
    assert ds["00404041"] == {"vr": "CS", "Value": ["READY"]}
    # HIGH has a 30-minute turnaround in the test site: 08:00 + 30 min.
    assert ds["00404011"] == {"vr": "DT", "Value": ["20240501083000+0000"]}
    assert ds["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Test^Patient"}]}
    assert "00081195" not in ds


def test_create_with_own_uid_and_duplicate(api: Any, patient_id: str) -> None:
    uid = "1.2.826.0.1.3680043.10.999.7.55." + patient_id[3:].translate(
        str.maketrans("ABCDEF", "123456")
    ).lstrip("0")
    r = api("lead").create(workitem(patient_id, uid=uid))
    assert r.status_code == 201
    assert uid_from_location(r) == uid
    again = api("lead").create(workitem(patient_id, uid=uid))
    assert again.status_code == 409
    assert warning_code(again) == "0x0111"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"00741000": {"vr": "CS", "Value": ["IN PROGRESS"]}}, 400, "0xC309"),
        ({"00081195": {"vr": "UI", "Value": ["2.25.1"]}}, 400, "0x0106"),
        ({"00741204": {"vr": "LO", "Value": ["cardiac"]}}, 400, "0x0106"),
        ({"00741200": {"vr": "CS", "Value": ["STAT"]}}, 400, "0x0106"),
        ({"00080018": {"vr": "UI", "Value": ["1.2.03"]}}, 400, "0x0106"),
    ],
)
def test_create_refuses_bad_datasets(
    api: Any, patient_id: str, change: dict[str, Any], status: int, code: str
) -> None:
    ds = workitem(patient_id)
    ds.update(change)
    r = api("lead").create(ds)
    assert r.status_code == status
    assert warning_code(r) == code


def test_create_refuses_non_json(api: Any) -> None:
    r = api("lead").session.post(api("lead").base, data=b"not json")
    assert r.status_code == 400
    assert r.json()["reason"] == "the request body is not JSON"


def test_only_dicom_json_bodies(api: Any, patient_id: str) -> None:
    lead = api("lead")
    r = lead.session.post(
        lead.base, data=b"<NativeDicomModel/>", headers={"Content-Type": "application/dicom+xml"}
    )
    assert r.status_code == 415
    assert r.headers["Warning"].endswith("\"unsupported media type 'application/dicom+xml'\"")


@pytest.mark.slow  # its own Orthanc start and stop (about 4 s)
def test_broken_site_config_answers_503(tmp_path: Path) -> None:
    site = {**SITE_CONFIG, "DefaultPool": "cardiac"}
    proc = start_worklist_orthanc(tmp_path / "broken", site=site)
    try:
        client = UpsApi(proc.urls.dicomweb, "lead")
        r = client.search()
        client.session.close()
    finally:
        proc.stop()
    assert r.status_code == 503
    site_file = tmp_path / "broken" / "worklist-site.json"
    assert r.json()["reason"] == (
        f"worklist disabled: {site_file}: key 'DefaultPool': 'cardiac' is not one of Pools"
    )


def test_unknown_workitem_is_404_everywhere(api: Any) -> None:
    lead = api("lead")
    missing = "1.2.826.0.1.3680043.10.999.7.404"
    responses = [
        lead.retrieve(missing),
        lead.update(missing, {"00741200": {"vr": "CS", "Value": ["LOW"]}}),
        lead.change_state(missing, "IN PROGRESS", new_txn()),
        lead.cancel(missing),
    ]
    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    assert {warning_code(r) for r in responses} == {"0xC307"}


def test_wrong_method_is_405(api: Any) -> None:
    lead = api("lead")
    r = lead.session.delete(lead.base)
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET,POST"


# -- search ----------------------------------------------------------------------------------


@pytest.fixture
def search_set(api: Any, patient_id: str) -> dict[str, str]:
    """Five workitems of one patient with distinct priority, pool, performer, time, station."""
    lead = api("lead")
    made = {}
    specs = {
        "stat_neuro": {"priority": "HIGH", "label": "neuro", "start": "20240501090000+0000",
                       "accession": "ACC-1"},
        "routine_neuro": {"priority": "LOW", "label": "neuro", "start": "20240502090000+0000",
                          "performer": "RAD01"},
        "medium_chest": {"priority": "MEDIUM", "label": "chest", "start": "20240503090000+0000",
                         "accession": "ACC-3"},
        "high_chest": {"priority": "HIGH", "label": "chest", "start": "20240504090000+0000",
                       "performer": "RAD03"},
        "low_body": {"priority": "LOW", "label": "body", "start": "20240505090000+0000"},
    }  # fmt: skip
    for name, spec in specs.items():
        ds = workitem(patient_id, **spec)
        if name == "medium_chest":
            ds["00404025"] = {
                "vr": "SQ",
                "Value": [
                    {
                        "00080100": {"vr": "SH", "Value": ["STELSEWHERE"]},
                        "00080102": {"vr": "SH", "Value": ["99TELERAD"]},
                        "00080104": {"vr": "LO", "Value": ["St Elsewhere General Hospital"]},
                    }
                ],
            }
            ds["00400400"] = {"vr": "LT", "Value": ["compare with prior"]}
        r = lead.create(ds)
        assert r.status_code == 201
        made[name] = uid_from_location(r)
    return made


def found(response: Any) -> list[str]:
    if response.status_code == 204:
        return []
    assert response.status_code == 200, response.text
    return [ds["00080018"]["Value"][0] for ds in response.json()]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["stat_neuro", "high_chest", "medium_chest", "routine_neuro", "low_body"]),
        ({"ScheduledProcedureStepPriority": "HIGH"}, ["stat_neuro", "high_chest"]),
        ({"ProcedureStepLabel": "chest"}, ["high_chest", "medium_chest"]),
        ({"00741204": "n*"}, ["stat_neuro", "routine_neuro"]),
        ({"ScheduledHumanPerformersSequence.HumanPerformerCodeSequence.CodeValue": "RAD01"},
         ["routine_neuro"]),
        ({"00404034.00404009.00080100": "RAD03"}, ["high_chest"]),
        ({"AccessionNumber": "ACC-3"}, ["medium_chest"]),
        ({"ReferencedRequestSequence.AccessionNumber": "ACC-*"}, ["stat_neuro", "medium_chest"]),
        ({"ScheduledStationNameCodeSequence.CodeValue": "STELSEWHERE"}, ["medium_chest"]),
        ({"ScheduledProcedureStepStartDateTime": "20240502-20240503"},
         ["medium_chest", "routine_neuro"]),
        ({"ScheduledProcedureStepStartDateTime": "20240504-"}, ["high_chest", "low_body"]),
        ({"ScheduledProcedureStepStartDateTime": "20240502110000+0200-20240503110000+0200"},
         ["medium_chest", "routine_neuro"]),
        ({"ProcedureStepState": "IN PROGRESS"}, []),
    ],
)  # fmt: skip
def test_search_filters_in_worklist_order(
    api: Any,
    patient_id: str,
    search_set: dict[str, str],
    params: dict[str, str],
    expected: list[str],
) -> None:
    r = api("lead").search(PatientID=patient_id, **params)
    assert found(r) == [search_set[name] for name in expected]
    if not expected:
        assert r.status_code == 204 and r.content == b""


def test_search_paging_and_warning(api: Any, patient_id: str, search_set: dict[str, str]) -> None:
    lead = api("lead")
    order = ["stat_neuro", "high_chest", "medium_chest", "routine_neuro", "low_body"]
    page1 = lead.search(PatientID=patient_id, limit=2)
    assert found(page1) == [search_set[n] for n in order[:2]]
    assert page1.headers["Warning"].endswith('"There are 3 additional results to request"')
    page2 = lead.search(PatientID=patient_id, limit=2, offset=2)
    assert found(page2) == [search_set[n] for n in order[2:4]]
    page3 = lead.search(PatientID=patient_id, limit=2, offset=4)
    assert found(page3) == [search_set["low_body"]]
    assert "Warning" not in page3.headers
    assert lead.search(PatientID=patient_id, offset=5).status_code == 204
    assert lead.search(limit="-1").status_code == 400


def test_search_returns_dicom_json_and_includefield(
    api: Any, patient_id: str, search_set: dict[str, str]
) -> None:
    lead = api("lead")
    default = lead.search(PatientID=patient_id, AccessionNumber="ACC-3")
    assert default.headers["Content-Type"] == "application/dicom+json"
    [ds] = default.json()
    assert_dicom_json(ds)
    assert "00400400" not in ds  # not a default return attribute
    assert ds["00404025"]["Value"][0]["00080100"] == {"vr": "SH", "Value": ["STELSEWHERE"]}
    [more] = lead.search(
        PatientID=patient_id, AccessionNumber="ACC-3", includefield="00400400"
    ).json()
    assert more["00400400"] == {"vr": "LT", "Value": ["compare with prior"]}
    [everything] = lead.search(
        PatientID=patient_id, AccessionNumber="ACC-3", includefield="all"
    ).json()
    assert everything == lead.retrieve(search_set["medium_chest"]).json()[0]


def test_search_answers_at_most_maximum_results(api: Any, patient_id: str) -> None:
    lead = api("lead")
    for _ in range(MAXIMUM_RESULTS + 1):
        assert lead.create(workitem(patient_id)).status_code == 201
    for params in ({}, {"limit": MAXIMUM_RESULTS + 10}):
        r = lead.search(PatientID=patient_id, **params)
        assert len(r.json()) == MAXIMUM_RESULTS
        assert r.headers["Warning"].endswith('"There are 1 additional results to request"')
    assert len(lead.search(PatientID=patient_id, offset=MAXIMUM_RESULTS).json()) == 1


def test_search_refuses_unknown_keys(api: Any) -> None:
    r = api("lead").search(NoSuchAttribute="1")
    assert r.status_code == 400
    assert warning_code(r) == "0x0105"


def test_fuzzymatching_is_reported(api: Any, patient_id: str, search_set: dict[str, str]) -> None:
    r = api("lead").search(PatientID=patient_id, fuzzymatching="true", limit=1)
    warnings = r.headers["Warning"]
    assert "fuzzymatching is not supported" in warnings
    assert "There are 4 additional results" in warnings


# -- state machine over HTTP -----------------------------------------------------------------


def test_claim_complete_and_illegal_transitions(
    api: Any, patient_id: str, worklist_orthanc: OrthancProcess
) -> None:
    rad = api("rad.neuro")
    uid = create(api, patient_id=patient_id)

    r = rad.change_state(uid, "COMPLETED", new_txn())
    assert (r.status_code, warning_code(r)) == (409, "0xC310")
    r = rad.change_state(uid, "IN PROGRESS")  # no Transaction UID
    assert (r.status_code, warning_code(r)) == (400, "0x0121")
    r = rad.change_state(uid, "FINISHED", new_txn())
    assert (r.status_code, warning_code(r)) == (400, "0x0106")

    txn = new_txn()
    r = rad.change_state(uid, "IN PROGRESS", txn)
    assert r.status_code == 200 and "Warning" not in r.headers
    held = rad.retrieve(uid).json()[0]
    assert held["00741000"]["Value"] == ["IN PROGRESS"]
    assert "00081195" not in held  # the Transaction UID is never sent back
    code = held["00404034"]["Value"][0]["00404009"]["Value"][0]["00080100"]["Value"]
    assert code == ["RAD01"]  # the claim assigned the reader

    in_progress = rad.search(PatientID=patient_id, ProcedureStepState="IN PROGRESS")
    assert found(in_progress) == [uid]
    r = rad.change_state(uid, "IN PROGRESS", new_txn())
    assert (r.status_code, warning_code(r)) == (409, "0xC302")
    r = rad.change_state(uid, "SCHEDULED", txn)
    assert (r.status_code, warning_code(r)) == (409, "0xC303")
    r = rad.change_state(uid, "COMPLETED")  # no Transaction UID
    assert (r.status_code, warning_code(r)) == (409, "0xC301")
    r = rad.change_state(uid, "COMPLETED", new_txn())  # a wrong one
    assert (r.status_code, warning_code(r)) == (409, "0xC301")
    assert rad.retrieve(uid).json()[0]["00741000"]["Value"] == ["IN PROGRESS"]

    r = rad.change_state(uid, "COMPLETED", txn)
    assert r.status_code == 200 and "Warning" not in r.headers
    done = rad.retrieve(uid).json()[0]
    assert done["00741000"]["Value"] == ["COMPLETED"]
    performed = done["00741216"]["Value"][0]
    actual = performed["00404035"]["Value"][0]["00404009"]["Value"][0]["00080100"]["Value"]
    assert actual == ["RAD01"]
    assert performed["00404033"] == {"vr": "SQ"}
    start = performed["00404050"]["Value"][0]
    end = performed["00404051"]["Value"][0]
    assert re.match(r"^\d{14}\+0000$", start) and start <= end

    r = rad.change_state(uid, "COMPLETED", txn)
    assert (r.status_code, warning_code(r)) == (200, "0xB306")
    r = rad.change_state(uid, "CANCELED", txn)
    assert (r.status_code, warning_code(r)) == (409, "0xC300")
    r = rad.change_state(uid, "IN PROGRESS", new_txn())
    assert (r.status_code, warning_code(r)) == (409, "0xC300")

    assert [(user, action) for user, action, _o, _n in audit_rows(worklist_orthanc, uid)] == [
        ("lead", "create"),
        ("rad.neuro", "assign"),
        ("rad.neuro", "claim"),
        ("rad.neuro", "complete"),
    ]


def test_discontinue_by_holder(api: Any, patient_id: str) -> None:
    rad = api("rad.neuro")
    uid = create(api, patient_id=patient_id)
    txn = new_txn()
    assert rad.change_state(uid, "IN PROGRESS", txn).status_code == 200
    r = rad.change_state(uid, "CANCELED", txn)
    assert r.status_code == 200
    ds = rad.retrieve(uid).json()[0]
    assert ds["00741000"]["Value"] == ["CANCELED"]
    assert re.match(r"^\d{14}\+0000$", ds["00741002"]["Value"][0]["00404052"]["Value"][0])
    r = rad.change_state(uid, "CANCELED", txn)
    assert (r.status_code, warning_code(r)) == (200, "0xB304")
    r = rad.change_state(uid, "COMPLETED", txn)
    assert (r.status_code, warning_code(r)) == (409, "0xC300")


def test_update_rules(api: Any, patient_id: str) -> None:
    lead, rad = api("lead"), api("rad.neuro")
    uid = create(api, patient_id=patient_id)
    progress = {"00741002": {"vr": "SQ", "Value": [{"00741004": {"vr": "DS", "Value": [50]}}]}}

    r = lead.update(uid, {**progress, "00081195": {"vr": "UI", "Value": [new_txn()]}})
    assert (r.status_code, warning_code(r)) == (409, "0xC310")
    r = lead.update(uid, {"00741000": {"vr": "CS", "Value": ["COMPLETED"]}})
    assert (r.status_code, warning_code(r)) == (400, "0x0106")

    txn = new_txn()
    assert rad.change_state(uid, "IN PROGRESS", txn).status_code == 200
    r = rad.update(uid, progress)
    assert (r.status_code, warning_code(r)) == (409, "0xC301")
    r = rad.update(uid, {**progress, "00081195": {"vr": "UI", "Value": [new_txn()]}})
    assert (r.status_code, warning_code(r)) == (409, "0xC301")
    r = rad.update(uid, {**progress, "00081195": {"vr": "UI", "Value": [txn]}})
    assert r.status_code == 200
    assert rad.retrieve(uid).json()[0]["00741002"] == progress["00741002"]

    assert rad.change_state(uid, "COMPLETED", txn).status_code == 200
    r = rad.update(uid, {**progress, "00081195": {"vr": "UI", "Value": [txn]}})
    assert (r.status_code, warning_code(r)) == (409, "0xC300")


def test_cancel_request(api: Any, patient_id: str, worklist_orthanc: OrthancProcess) -> None:
    lead, rad = api("lead"), api("rad.neuro")
    scheduled = create(api, patient_id=patient_id)
    reason = {"00741238": {"vr": "LT", "Value": ["duplicate order"]}}
    r = lead.cancel(scheduled, reason)
    assert r.status_code == 202 and "Warning" not in r.headers
    ds = lead.retrieve(scheduled).json()[0]
    assert ds["00741000"]["Value"] == ["CANCELED"]
    assert ds["00741002"]["Value"][0]["00741238"] == reason["00741238"]
    r = lead.cancel(scheduled)
    assert (r.status_code, warning_code(r)) == (202, "0xB304")

    held = create(api, patient_id=patient_id)
    txn = new_txn()
    assert rad.change_state(held, "IN PROGRESS", txn).status_code == 200
    assert lead.cancel(held).status_code == 202  # site policy: a lead's request cancels
    r = rad.change_state(held, "COMPLETED", txn)
    assert (r.status_code, warning_code(r)) == (409, "0xC300")

    completed = create(api, patient_id=patient_id)
    txn = new_txn()
    assert rad.change_state(completed, "IN PROGRESS", txn).status_code == 200
    assert rad.change_state(completed, "COMPLETED", txn).status_code == 200
    r = lead.cancel(completed)
    assert (r.status_code, warning_code(r)) == (409, "0xC311")

    assert audit_rows(worklist_orthanc, held)[-1] == (
        "lead",
        "cancel",
        "IN PROGRESS",
        "CANCELED",
    )
