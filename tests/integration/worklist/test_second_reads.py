"""Second reads: a radiologist or lead asks another pool (e.g. oncology, for a tumour board) for a
second opinion on a read. ``POST /dicom-web/workitems/{uid}/secondread`` creates a linked UPS
(Scheduled Processing Parameters Sequence, PS3.3 C.30.1) visible to the target pool, audited on
both workitems."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from upsrs_helpers import (
    PASSWORD,
    PLUGIN,
    REPO,
    SITE_CONFIG,
    UpsApi,
    new_txn,
    uid_from_location,
    workitem,
)

from workstation.archive.orthanc import OrthancProcess

# The test site plus an oncology reader (the tumour-board pool).
SITE: dict[str, Any] = {
    **SITE_CONFIG,
    "Users": {
        **SITE_CONFIG["Users"],
        "rad.onco": {"Role": "radiologist", "PerformerCode": "RAD09", "Pools": ["oncology"]},
        "rad.onco2": {"Role": "radiologist", "PerformerCode": "RAD10", "Pools": ["oncology"]},
    },
}
USERS = [*SITE["Users"], "outsider"]
PARAMS, VALUE_TYPE, CONCEPT_NAME, CONCEPT_CODE, UID = (
    "00741210",
    "0040A040",
    "0040A043",
    "0040A168",
    "0040A124",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancProcess]:
    folder = tmp_path_factory.mktemp("second-reads")
    site_file = folder / "site.json"
    site_file.write_text(json.dumps(SITE), encoding="utf-8")
    proc = OrthancProcess(
        folder / "orthanc",
        python_script=PLUGIN,
        extra_config={
            "AuthenticationEnabled": True,
            "RegisteredUsers": {name: PASSWORD for name in USERS},
            "Worklist": {
                "ConfigFile": str(site_file),
                "WorkstationPath": str(REPO),
                "StopWhenProcessEnds": os.getpid(),
            },
        },
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill=True)


@pytest.fixture
def as_user(server: OrthancProcess) -> Iterator[Any]:
    made: list[UpsApi] = []

    def make(user: str) -> UpsApi:
        made.append(UpsApi(server.urls.dicomweb, user))
        return made[-1]

    yield make
    for client in made:
        client.session.close()


def ask(client: UpsApi, uid: str, body: dict[str, Any] | None) -> requests.Response:
    return client.session.post(
        f"{client.base}/{uid}/secondread",
        data=json.dumps(body or {}),
        headers={"Content-Type": "application/dicom+json"},
    )


def request_body(
    pool: str = "oncology",
    *,
    priority: str | None = None,
    comment: str | None = None,
    performer: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"00741204": {"vr": "LO", "Value": [pool]}}
    if priority:
        body["00741200"] = {"vr": "CS", "Value": [priority]}
    if comment:
        body["00400400"] = {"vr": "LT", "Value": [comment]}
    if performer:
        body["00404034"] = {
            "vr": "SQ",
            "Value": [
                {
                    "00404009": {
                        "vr": "SQ",
                        "Value": [
                            {
                                "00080100": {"vr": "SH", "Value": [performer]},
                                "00080102": {"vr": "SH", "Value": ["99TEST"]},
                                "00080104": {"vr": "LO", "Value": [performer]},
                            }
                        ],
                    }
                }
            ],
        }
    return body


def audit(server: OrthancProcess, uid: str) -> list[tuple[str, str, str | None, str | None]]:
    db = server.folder / "storage" / "worklist.sqlite"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute(
            "SELECT user, action, old_value, new_value FROM audit WHERE uid = ? ORDER BY id",
            (uid,),
        ).fetchall()
    return [tuple(r) for r in rows]


def read_first(as_user: Any, patient_id: str, *, complete: bool = True) -> str:
    """A neuro workitem made by the lead and read by rad.neuro (claimed, maybe completed)."""
    ds = workitem(patient_id, label="neuro", accession="ACC-2ND")
    study_uid = ds["0040A370"]["Value"][0]["0020000D"]["Value"][0]
    ds["0020000D"] = {"vr": "UI", "Value": [study_uid]}
    ds["00404018"] = {
        "vr": "SQ",
        "Value": [
            {
                "00080100": {"vr": "SH", "Value": ["110005"]},
                "00080102": {"vr": "SH", "Value": ["DCM"]},
                "00080104": {"vr": "LO", "Value": ["Interpretation"]},
            }
        ],
    }
    ds["00404021"] = {
        "vr": "SQ",
        "Value": [
            {
                "0040E020": {"vr": "CS", "Value": ["DICOM"]},
                "0020000D": {"vr": "UI", "Value": [study_uid]},
                "0020000E": {"vr": "UI", "Value": [f"{study_uid}.1"]},
                "00081199": {
                    "vr": "SQ",
                    "Value": [
                        {
                            "00081150": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]},
                            "00081155": {"vr": "UI", "Value": [f"{study_uid}.1.{n}"]},
                        }
                        for n in (1, 2)
                    ],
                },
            }
        ],
    }
    r = as_user("lead").create(ds)
    assert r.status_code == 201, r.text
    uid = uid_from_location(r)
    rad = as_user("rad.neuro")
    txn = new_txn()
    assert rad.change_state(uid, "IN PROGRESS", txn).status_code == 200
    if complete:
        assert rad.change_state(uid, "COMPLETED", txn).status_code == 200
    return uid


def dt(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H%M%S%z")


def test_radiologist_requests_a_tumour_board_second_read(
    server: OrthancProcess, as_user: Any, patient_id: str
) -> None:
    first_uid = read_first(as_user, patient_id)
    first = as_user("lead").retrieve(first_uid).json()[0]
    r = ask(
        as_user("rad.neuro"),
        first_uid,
        request_body(priority="HIGH", comment="Tumour board Thursday: RECIST please"),
    )
    assert r.status_code == 201, r.text
    second_uid = uid_from_location(r)
    assert second_uid != first_uid and second_uid.startswith("2.25.")

    # The oncology pool sees it in its worklist; another pool does not.
    onco = as_user("rad.onco")
    found = onco.search(ProcedureStepLabel="oncology", PatientID=patient_id, includefield="all")
    assert found.status_code == 200
    [ds] = found.json()
    assert ds["00080018"]["Value"] == [second_uid]
    assert as_user("rad.chest").retrieve(second_uid).status_code == 403
    assert as_user("rad.chest").search(PatientID=patient_id).status_code == 204

    # What the second read is: same request, study and images; a new step in the target pool.
    assert ds["00741000"]["Value"] == ["SCHEDULED"]
    assert ds["00741204"]["Value"] == ["oncology"]
    assert ds["00741200"]["Value"] == ["HIGH"]
    assert ds["00400400"]["Value"] == ["Tumour board Thursday: RECIST please"]
    assert dt(ds["00404011"]["Value"][0]) - dt(ds["00404005"]["Value"][0]) == timedelta(minutes=30)
    for tag in (
        "00100010",
        "00100020",
        "0020000D",
        "0040A370",
        "00404018",
        "00404021",
        "00741202",
        "00080016",
    ):
        assert ds[tag] == first[tag], tag
    assert len(ds["00404021"]["Value"][0]["00081199"]["Value"]) == 2
    assert ds["0040A370"]["Value"][0]["00080050"]["Value"] == ["ACC-2ND"]
    assert ds["00404034"] == {"vr": "SQ", "Value": []}  # for the pool, nobody assigned
    for absent in ("00081195", "00741216", "00741224", "00741002"):
        assert absent not in ds
    kind, link = ds[PARAMS]["Value"]
    assert kind[VALUE_TYPE]["Value"] == ["CODE"]
    assert kind[CONCEPT_NAME]["Value"][0]["00080100"]["Value"] == ["READ-TYPE"]
    assert kind[CONCEPT_CODE]["Value"][0]["00080100"]["Value"] == ["SECOND-OPINION"]
    assert link[VALUE_TYPE]["Value"] == ["UIDREF"]
    assert link[CONCEPT_NAME]["Value"][0]["00080100"]["Value"] == ["FIRST-READ-UPS"]
    assert link[UID]["Value"] == [first_uid]

    # Found by the link, as a client asks "which second reads has this read?".
    by_link = as_user("lead").search(**{f"{PARAMS}.{UID}": first_uid})
    assert by_link.status_code == 200
    assert [d["00080018"]["Value"][0] for d in by_link.json()] == [second_uid]

    # The oncologist reads it like any workitem.
    txn = new_txn()
    assert onco.change_state(second_uid, "IN PROGRESS", txn).status_code == 200
    assert onco.change_state(second_uid, "COMPLETED", txn).status_code == 200

    # Audited on both workitems, naming who asked.
    assert audit(server, first_uid)[-1] == (
        "rad.neuro",
        "second-read-requested",
        None,
        f"{second_uid} oncology",
    )
    assert [(u, a, n) for u, a, _o, n in audit(server, second_uid)] == [
        ("rad.neuro", "create", "SCHEDULED HIGH oncology"),
        ("rad.neuro", "second-read-of", first_uid),
        ("rad.onco", "assign", "RAD09"),
        ("rad.onco", "claim", "IN PROGRESS"),
        ("rad.onco", "complete", "COMPLETED"),
    ]
    # Nothing logged names the patient or quotes the clinical question.
    log = server.log_path.read_text(encoding="utf-8", errors="replace")
    assert f"second read {second_uid} of workitem {first_uid} requested in pool oncology" in log
    for phi in (patient_id, "Test^Patient", "Tumour board", "ACC-2ND"):
        assert phi not in log


def test_one_open_second_read_per_pool(
    server: OrthancProcess, as_user: Any, patient_id: str
) -> None:
    first_uid = read_first(as_user, patient_id, complete=False)  # still being read: allowed
    r = ask(as_user("rad.neuro"), first_uid, request_body())
    assert r.status_code == 201
    open_uid = uid_from_location(r)
    # The priority defaults to the first read's (MEDIUM in ``workitem``).
    ds = as_user("lead").retrieve(open_uid).json()[0]
    assert ds["00741200"]["Value"] == ["MEDIUM"]

    again = ask(as_user("lead"), first_uid, request_body())
    assert again.status_code == 409
    assert again.headers["Location"].endswith(f"/workitems/{open_uid}")
    assert "already open in pool oncology" in again.json()["reason"]
    chest = ask(as_user("lead"), first_uid, request_body("chest"))  # another pool: fine
    assert chest.status_code == 201

    # Once that second read is done, a new one can be asked for: a different workitem.
    onco = as_user("rad.onco")
    txn = new_txn()
    assert onco.change_state(open_uid, "IN PROGRESS", txn).status_code == 200
    assert onco.change_state(open_uid, "COMPLETED", txn).status_code == 200
    later = ask(as_user("rad.neuro"), first_uid, request_body())
    assert later.status_code == 201
    assert uid_from_location(later) not in (open_uid, uid_from_location(chest))
    requested = [row[3] for row in audit(server, first_uid) if row[1] == "second-read-requested"]
    assert [value.split(" ")[1] for value in requested] == ["oncology", "chest", "oncology"]


def test_racing_requests_make_one_second_read(
    server: OrthancProcess, as_user: Any, patient_id: str
) -> None:
    first_uid = read_first(as_user, patient_id)
    clients = [UpsApi(server.urls.dicomweb, "lead") for _ in range(4)]
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def go(client: UpsApi) -> None:
        barrier.wait()
        statuses.append(ask(client, first_uid, request_body()).status_code)

    threads = [threading.Thread(target=go, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(statuses) == [201, 409, 409, 409]
    found = as_user("lead").search(**{f"{PARAMS}.{UID}": first_uid})
    assert len(found.json()) == 1
    for client in clients:
        client.session.close()


def test_lead_names_the_second_reader(
    server: OrthancProcess, as_user: Any, patient_id: str
) -> None:
    first_uid = read_first(as_user, patient_id)
    r = ask(as_user("lead"), first_uid, request_body(performer="RAD10"))
    assert r.status_code == 201, r.text
    uid = uid_from_location(r)
    ds = as_user("rad.onco2").retrieve(uid).json()[0]
    code = ds["00404034"]["Value"][0]["00404009"]["Value"][0]["00080100"]["Value"]
    assert code == ["RAD10"]
    assert as_user("rad.onco").retrieve(uid).status_code == 403  # assigned to a colleague
    assert ("lead", "assign", None, "RAD10") in audit(server, uid)


@pytest.mark.parametrize(
    ("user", "body", "status", "reason"),
    [
        ("admin", request_body(), 403, "role admin may not claim workitems"),
        ("rad.chest", request_body(), 403, "is not in rad.chest's worklist"),
        ("rad.neuro", request_body(performer="RAD09"), 403, "may not name the second reader"),
        ("rad.neuro", request_body("cardiac"), 400, "'cardiac' is not a reading pool"),
        ("rad.neuro", {}, 400, "Procedure Step Label (0074,1204): the target pool"),
        (
            "rad.neuro",
            {"00741000": {"vr": "CS", "Value": ["COMPLETED"]}},
            400,
            "ProcedureStepState",
        ),
        ("lead", request_body(performer="NOBODY"), 400, "performer code 'NOBODY' is not a reader"),
    ],
)
def test_refusals(
    as_user: Any, patient_id: str, user: str, body: dict[str, Any], status: int, reason: str
) -> None:
    first_uid = read_first(as_user, patient_id)
    r = ask(as_user(user), first_uid, body)
    assert r.status_code == status, r.text
    assert reason in r.json()["reason"]
    assert as_user("lead").search(**{f"{PARAMS}.{UID}": first_uid}).status_code == 204


def test_unknown_and_canceled_workitems(as_user: Any, patient_id: str) -> None:
    missing = ask(as_user("lead"), "1.2.3.999999", request_body())
    assert missing.status_code == 404
    r = as_user("lead").create(workitem(patient_id, label="neuro"))
    uid = uid_from_location(r)
    assert as_user("lead").cancel(uid).status_code == 202
    canceled = ask(as_user("lead"), uid, request_body())
    assert canceled.status_code == 409
    assert canceled.json()["reason"] == (
        f"workitem {uid} is CANCELED: there is no read to give a second opinion on"
    )
