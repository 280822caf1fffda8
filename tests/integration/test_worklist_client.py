"""The UPS-RS client against a real Orthanc with the worklist plugin (PS3.18 §11).

Search with filters and paging (the server answers at most 50 per request here), claims whose
Transaction UID survives a client restart, a second client's claim, a lead's assignment seen in
a radiologist's "my work", hand back, and the errors a user gets.
"""

from __future__ import annotations

import sqlite3
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "worklist"))
from upsrs_helpers import (
    MAXIMUM_RESULTS,
    PASSWORD,
    SITE_CONFIG,
    UID_ROOT,
    UpsApi,
    audit_rows,
    start_worklist_orthanc,
    upsrs_client,
)

from workstation.archive.orthanc import OrthancProcess
from workstation.archive.remote import RemoteError
from workstation.core import ups
from workstation.core.settings import ArchiveConfig
from workstation.core.ups import ProcedureStepState as S
from workstation.core.ups import UpsPriority as P
from workstation.worklist.backend import ClaimConflict, NoClaim, derived_uid
from workstation.worklist.model import WorklistFilter, my_pools, my_work
from workstation.worklist.upsrs import UpsRsClient

SITE = ups.load_worklist_config(SITE_CONFIG)
TURNAROUND = {"HIGH": 30, "MEDIUM": 180, "LOW": 1440}  # minutes, as in SITE_CONFIG


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancProcess]:
    proc = start_worklist_orthanc(tmp_path_factory.mktemp("wl-client"))
    try:
        yield proc
    finally:
        proc.stop(kill=True)


@pytest.fixture
def client(server: OrthancProcess, tmp_path: Path) -> Iterator[Callable[..., UpsRsClient]]:
    """``client("rad.neuro")``: a UpsRsClient as that user; claims in tmp_path by default."""
    made: list[UpsRsClient] = []

    def make(user: str, claims: Path | None = None, password: str = PASSWORD) -> UpsRsClient:
        c = upsrs_client(
            server.urls.dicomweb, user, claims or tmp_path / "claims.sqlite", password=password
        )
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def pid() -> str:
    return "WLC-" + uuid.uuid4().hex[:10].upper()


def reading_item(
    pid: str,
    *,
    pool: str = "neuro",
    priority: str = "MEDIUM",
    start: datetime,
    performer: str | None = None,
    accession: str = "",
    station: str | None = None,
) -> dict[str, Any]:
    study = f"{UID_ROOT}{uuid.uuid4().int % 10**12}"
    return ups.dataset_of(
        PatientName="Test^Worklist",
        PatientID=pid,
        StudyInstanceUID=study,
        ScheduledProcedureStepPriority=priority,
        ProcedureStepLabel=pool,
        ScheduledProcedureStepStartDateTime=ups.format_dt(start),
        ReferencedRequestSequence=[
            ups.dataset_of(AccessionNumber=accession, StudyInstanceUID=study)
        ],
        ScheduledStationNameCodeSequence=[ups.code_item(station, "99TELERAD", station.title())]
        if station
        else None,
        ScheduledHumanPerformersSequence=[ups.performer_item(SITE.users[performer], "99TEST")]
        if performer
        else None,
    )


def server_state(server: OrthancProcess, uid: str) -> dict[str, Any]:
    """The workitem as the server holds it (read by a lead with plain requests)."""
    r = UpsApi(server.urls.dicomweb, "lead").retrieve(uid)
    assert r.status_code == 200, r.text
    return r.json()[0]


# -- search ------------------------------------------------------------------------------------


def test_search_filters_and_paging(client: Callable[..., UpsRsClient], pid: str) -> None:
    lead = client("lead")
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    made: list[tuple[int, int, str]] = []  # (priority rank, start minute, uid)
    for n in range(60):
        priority = ("HIGH", "MEDIUM", "LOW")[n % 3]
        uid = lead.create(
            reading_item(
                pid,
                pool="chest" if n % 4 == 0 else "neuro",
                priority=priority,
                start=base + timedelta(minutes=n),
                performer="rad.neuro" if n % 5 == 0 and n % 4 else None,
                accession=f"ACC-{n}",
                station="STELSEWHERE" if n % 6 == 0 else None,
            )
        )
        made.append((ups.PRIORITY_RANK[P(priority)], n, uid))
    expected = [uid for _rank, _n, uid in sorted(made)]
    mine = WorklistFilter(patient_id=pid)

    full = lead.search_all(mine)  # two states, each in pages of 50 from the server
    assert len(expected) > MAXIMUM_RESULTS
    assert [i.uid for i in full] == expected
    page = lead.search(mine, offset=45, limit=10)
    assert ([i.uid for i in page.items], page.more) == (expected[45:55], True)
    one_state = WorklistFilter(states=(S.SCHEDULED,), patient_id=pid)  # server-side paging
    page = lead.search(one_state, offset=45, limit=10)
    assert ([i.uid for i in page.items], page.more) == (expected[45:55], True)
    tail = lead.search(one_state, offset=55, limit=10)
    assert ([i.uid for i in tail.items], tail.more) == (expected[55:], False)

    def uids(flt: WorklistFilter) -> list[str]:
        return [i.uid for i in lead.search_all(flt)]

    def where(pred: Callable[[int], bool]) -> list[str]:
        return [uid for _r, n, uid in sorted(made) if pred(n)]

    assert uids(WorklistFilter(patient_id=pid, pools=("chest",))) == where(lambda n: n % 4 == 0)
    assert uids(WorklistFilter(patient_id=pid, priority=P.HIGH)) == where(lambda n: n % 3 == 0)
    assert uids(WorklistFilter(patient_id=pid, performer="RAD01")) == where(
        lambda n: n % 5 == 0 and n % 4 != 0
    )
    assert uids(WorklistFilter(patient_id=pid, hospital="STELSEWHERE")) == where(
        lambda n: n % 6 == 0
    )
    assert uids(WorklistFilter(patient_id=pid, accession_number="ACC-7")) == where(lambda n: n == 7)
    # overdue: HIGH (30 min) and MEDIUM (180 min) items started 2 h ago minus n minutes
    overdue = uids(WorklistFilter(patient_id=pid, overdue_only=True))
    assert overdue == where(lambda n: n % 3 == 0)
    assert uids(WorklistFilter(patient_id=pid, pools=("chest", "neuro"), unassigned=True)) == where(
        lambda n: not (n % 5 == 0 and n % 4)
    )
    item = lead.get(where(lambda n: n == 6)[0])
    assert (item.hospital_code, item.hospital, item.accession_number) == (
        "STELSEWHERE",
        "Stelsewhere",
        "ACC-6",
    )
    assert item.due == base + timedelta(minutes=6 + TURNAROUND["HIGH"])

    # a radiologist sees their own items and the unassigned items of their pools
    rad = client("rad.neuro")
    assert [i.uid for i in rad.search_all(mine)] == where(lambda n: n % 4 != 0)
    assert [i.uid for i in rad.search_all(WorklistFilter(patient_id=pid, performer="RAD01"))] == (
        where(lambda n: n % 5 == 0 and n % 4 != 0)
    )


def test_a_patient_is_found_by_the_arabic_writing_of_the_name(
    server: OrthancProcess, client: Callable[..., UpsRsClient], pid: str
) -> None:
    """A name in two writings, Latin and Arabic (PS3.5 6.2.1), is stored as two component
    groups (PS3.18 F.2.2) and found by either: by the plugin (PatientName, as any UPS-RS
    client asks) and by the worklist's text box on the workstation."""
    lead = client("lead")
    start = datetime.now(UTC).replace(microsecond=0)
    item = reading_item(pid, start=start)
    item.update(ups.dataset_of(PatientName="Al-Rashid^Omar=الرشيد^عمر"))
    uid = lead.create(item)
    lead.create(reading_item(pid, start=start))  # Test^Worklist
    assert server_state(server, uid)["00100010"]["Value"] == [
        {"Alphabetic": "Al-Rashid^Omar", "Ideographic": "الرشيد^عمر"}
    ]
    api = UpsApi(server.urls.dicomweb, "lead")
    for name in ("الرشيد*", "al-rashid*", "Al-Rashid^Omar=الرشيد^عمر"):
        r = api.search(PatientID=pid, PatientName=name)
        assert r.status_code == 200, (name, r.status_code, r.text)
        assert [x["00080018"]["Value"][0] for x in r.json()] == [uid], name
    found = lead.search_all(WorklistFilter(patient_id=pid, text="الرشيد"))
    assert [(i.uid, i.patient_name) for i in found] == [(uid, "Al-Rashid^Omar=الرشيد^عمر")]


# -- claims ------------------------------------------------------------------------------------


def test_claim_survives_a_restart_and_completes(
    client: Callable[..., UpsRsClient], server: OrthancProcess, pid: str, tmp_path: Path
) -> None:
    lead = client("lead")
    uid = lead.create(reading_item(pid, start=datetime.now(UTC)))
    claims = tmp_path / "reader-claims.sqlite"
    first = client("rad.neuro", claims=claims)
    claim = first.claim(uid, study_uid="1.2.3")
    assert ups.first(server_state(server, uid), "ProcedureStepState") == "IN PROGRESS"
    first.close()
    with sqlite3.connect(claims) as conn:
        kept = conn.execute(
            "SELECT uid, user, transaction_uid, confirmed FROM worklist_claims"
        ).fetchall()
    assert kept == [(uid, "rad.neuro", claim.transaction_uid, 1)]

    second = client("rad.neuro", claims=claims)  # the workstation restarted
    resumed = second.claim(uid)
    assert (resumed.resumed, resumed.transaction_uid) == (True, claim.transaction_uid)
    assert second.complete_study("1.2.3") == uid
    done = server_state(server, uid)
    assert ups.first(done, "ProcedureStepState") == "COMPLETED"
    assert second.held_claim(uid) is None
    with pytest.raises(NoClaim):
        second.complete(uid)


def test_second_client_claim_conflicts(
    client: Callable[..., UpsRsClient], server: OrthancProcess, pid: str, tmp_path: Path
) -> None:
    uid = client("lead").create(reading_item(pid, start=datetime.now(UTC)))
    holder = client("rad.neuro", claims=tmp_path / "a.sqlite")
    holder.claim(uid)
    peer = client("rad.neuro2", claims=tmp_path / "b.sqlite")
    with pytest.raises(ClaimConflict) as by_peer:
        peer.claim(uid)
    assert by_peer.value.status is ups.ALREADY_IN_PROGRESS
    assert (by_peer.value.http_status, by_peer.value.holder) == (409, None)  # may not see who
    with pytest.raises(ClaimConflict) as by_lead:
        client("lead", claims=tmp_path / "c.sqlite").claim(uid)
    assert by_lead.value.holder == "rad.neuro"  # a lead may see the performer
    assert str(by_lead.value) == f"workitem {uid} is being read by rad.neuro"
    assert peer.held_claim(uid) is None
    with pytest.raises(ClaimConflict) as by_self:  # same reader, other workstation's claims
        client("rad.neuro", claims=tmp_path / "d.sqlite").claim(uid)
    assert by_self.value.holder == "you, on another workstation"
    assert holder.complete(uid) is None  # the first claim is untouched
    assert ups.first(server_state(server, uid), "ProcedureStepState") == "COMPLETED"


def test_lead_assigns_and_my_work_shows_it(
    client: Callable[..., UpsRsClient], server: OrthancProcess, pid: str
) -> None:
    lead = client("lead")
    uid = lead.create(reading_item(pid, start=datetime.now(UTC)))
    rad, rad2, chest = client("rad.neuro"), client("rad.neuro2"), client("rad.chest")
    in_my_work = WorklistFilter(name="mine", performer="RAD01", patient_id=pid)
    assert rad.search_all(in_my_work) == []
    assert [r.performer_code for r in lead.readers()] == [
        "LEAD01",
        "RAD03",
        "RAD01",
        "RAD02",
    ]  # by name
    lead.assign(uid, reader="RAD01")
    item = rad.search_all(my_work(rad.user))
    assert uid in [i.uid for i in item]
    assert [i.uid for i in rad.search_all(in_my_work)] == [uid]
    assert rad2.search_all(WorklistFilter(patient_id=pid)) == []  # assigned away from the pool
    lead.assign(uid, pool="chest")
    assert [i.uid for i in chest.search_all(WorklistFilter(patient_id=pid))] == [uid]
    assert uid in [i.uid for i in chest.search_all(my_pools(chest.user))]
    assert rad.search_all(WorklistFilter(patient_id=pid)) == []
    assert [row for row in audit_rows(server, uid) if row[1] in ("assign", "unassign", "pool")] == [
        ("lead", "assign", None, "RAD01"),
        ("lead", "unassign", "RAD01", None),
        ("lead", "pool", "neuro", "chest"),
    ]
    with pytest.raises(ups.PermissionDenied, match="may not change a scheduled workitem"):
        chest.assign(uid, reader="RAD03")


def test_hand_back_returns_it_to_the_pool(
    client: Callable[..., UpsRsClient], server: OrthancProcess, pid: str
) -> None:
    lead = client("lead")
    uid = lead.create(reading_item(pid, priority="HIGH", start=datetime.now(UTC)))
    lead.claim(uid)
    new_uid = lead.hand_back(uid, "wrong subspecialty")
    assert new_uid == derived_uid("replacement", uid)
    original, replacement = server_state(server, uid), server_state(server, new_uid)
    assert ups.first(original, "ProcedureStepState") == "CANCELED"
    progress = ups.items(original, "ProcedureStepProgressInformationSequence")[0]
    assert ups.first(progress, "ReasonForCancellation") == (
        "Handed back to the pool by the reader: wrong subspecialty"
    )
    assert ups.first(replacement, "ProcedureStepState") == "SCHEDULED"
    assert ups.performer_code(replacement) is None
    assert ups.first(replacement, "ProcedureStepLabel") == "neuro"
    replaced = ups.items(replacement, "ReplacedProcedureStepSequence")[0]
    assert ups.first(replaced, "ReferencedSOPInstanceUID") == uid
    assert ups.first(replacement, "ExpectedCompletionDateTime") == ups.first(
        original, "ExpectedCompletionDateTime"
    )
    rad = client("rad.neuro")
    assert [i.uid for i in rad.search_all(WorklistFilter(patient_id=pid))] == [new_uid]
    # a radiologist may not create workitems, yet hands back through the plugin's /handback
    rad.claim(new_uid)
    third = rad.hand_back(new_uid)
    assert third == derived_uid("replacement", new_uid)
    assert ups.first(server_state(server, new_uid), "ProcedureStepState") == "CANCELED"
    assert ups.first(server_state(server, third), "ProcedureStepState") == "SCHEDULED"
    assert rad.held_claim(new_uid) is None


# -- errors ------------------------------------------------------------------------------------


def test_errors_carry_the_servers_warning(
    client: Callable[..., UpsRsClient], server: OrthancProcess, pid: str
) -> None:
    lead = client("lead")
    with pytest.raises(ups.UpsError) as missing:
        lead.get("2.25.1")
    assert (missing.value.status, missing.value.http_status) == (ups.NO_SUCH_UPS, 404)
    uid = lead.create(reading_item(pid, start=datetime.now(UTC)))
    with pytest.raises(ups.UpsError) as early:
        lead.change_state(uid, S.COMPLETED, "2.25.42")
    assert early.value.status is ups.NOT_YET_IN_PROGRESS
    assert str(early.value) == (
        f"changing workitem {uid} to COMPLETED refused: "
        "0xC310: The UPS is not yet in the IN PROGRESS state"
    )
    with pytest.raises(ups.UpsError) as dup:
        lead.create(ups.dataset_of(SOPInstanceUID=uid))
    assert (dup.value.status, dup.value.http_status) == (ups.DUPLICATE_SOP_INSTANCE, 409)
    with pytest.raises(ups.PermissionDenied, match="'outsider' has no role"):
        client("outsider").search_all()
    with pytest.raises(RemoteError, match=r"401 .*wrong user or password"):
        client("lead", password="wrong").search_all()
    lost = UpsRsClient(
        ArchiveConfig(name="x", dicomweb_url=server.urls.http + "/nowhere", auth="basic",
                      user="lead", password=PASSWORD),
        SITE.users["lead"],
        claims=Path(server.folder) / "unused-claims.sqlite",
    )  # fmt: skip
    with pytest.raises(RemoteError, match="offers no UPS-RS worklist"):
        lost.search_all()
    lost.close()
