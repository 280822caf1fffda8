"""The embedded worklist (SQLite in the local store): UPS transitions with their PS3.4 status
codes, roles, assignment, claims that survive reopening, hand back, and the local store's
studies turned into reading workitems."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from workstation.archive.local import LocalArchive
from workstation.core import ups
from workstation.core.ups import ProcedureStepState as S
from workstation.core.ups import UpsPriority as P
from workstation.worklist.backend import ClaimConflict, NoClaim, derived_uid
from workstation.worklist.embedded import EmbeddedWorklist
from workstation.worklist.model import WorklistFilter, my_pools, my_work

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
TXN = "2.25.1234"
SITE = ups.load_worklist_config(
    {
        "Pools": ["neuro", "chest", "body"],
        "DefaultPool": "body",
        "Routing": [
            {"Pool": "neuro", "BodyParts": ["HEAD"]},
            {"Pool": "chest", "BodyParts": ["CHEST"]},
        ],
        "TurnaroundMinutes": {"HIGH": 60, "MEDIUM": 240, "LOW": 1440},
        "LeadCancelsInProgress": False,
        "Users": {
            "lead": {"Role": "lead", "PerformerCode": "LEAD01", "Name": "Lead^Lena"},
            "rad.neuro": {"Role": "radiologist", "PerformerCode": "RAD01", "Pools": ["neuro"]},
            "rad.neuro2": {"Role": "radiologist", "PerformerCode": "RAD02", "Pools": ["neuro"]},
            "rad.chest": {
                "Role": "radiologist",
                "PerformerCode": "RAD03",
                "Name": "Chest^Chris",
                "Pools": ["chest"],
            },
            "admin": {"Role": "admin"},
        },
    }
)


@pytest.fixture
def wl(tmp_path: Path) -> Iterator[Callable[[str], EmbeddedWorklist]]:
    """``wl("rad.neuro")``: the embedded worklist in tmp_path as that user, clock at NOW."""
    made: list[EmbeddedWorklist] = []

    def open_as(user: str) -> EmbeddedWorklist:
        w = EmbeddedWorklist(tmp_path / "store", user, SITE, now=lambda: NOW)
        made.append(w)
        return w

    yield open_as
    for w in made:
        w.close()


def new_item(
    w: EmbeddedWorklist, pool: str = "neuro", priority: str = "MEDIUM", **kw: object
) -> str:
    ds = ups.dataset_of(
        PatientName="Test^Patient",
        PatientID=str(kw.get("patient_id", "P-1")),
        ScheduledProcedureStepPriority=priority,
        ProcedureStepLabel=pool,
        StudyInstanceUID=str(kw.get("study", "1.2.3.4")),
        ScheduledProcedureStepStartDateTime=ups.format_dt(
            NOW + timedelta(minutes=float(kw.get("start_min", 0)))  # type: ignore[arg-type]
        ),
    )
    if "performer" in kw:
        ds.update(
            ups.dataset_of(
                ScheduledHumanPerformersSequence=[
                    ups.performer_item(SITE.users[str(kw["performer"])], "99TEST")
                ]
            )
        )
    return w.create(ds)


def status_of(exc: pytest.ExceptionInfo[ups.UpsError]) -> tuple[int | None, int]:
    return (exc.value.status.code if exc.value.status else None), exc.value.http_status


# -- the state machine -------------------------------------------------------------------------


def test_claim_then_complete(wl: Callable[[str], EmbeddedWorklist]) -> None:
    lead, rad = wl("lead"), wl("rad.neuro")
    uid = new_item(lead, priority="HIGH")
    created = rad.get(uid)
    assert (created.state, created.priority, created.pool) == (S.SCHEDULED, P.HIGH, "neuro")
    assert created.due == NOW + timedelta(minutes=60)  # start (now) + the HIGH turnaround
    claim = rad.claim(uid, study_uid="1.2.3.4")
    assert (claim.confirmed, claim.resumed, claim.user) == (True, False, "rad.neuro")
    held = rad.get(uid)
    assert (held.state, held.performer_code, held.assigned_to) == (
        S.IN_PROGRESS,
        "RAD01",
        "rad.neuro",
    )
    assert rad.claim_for_study("1.2.3.4") == rad.held_claim(uid)
    assert rad.complete_study("1.2.3.4") == uid
    done = rad.get_dataset(uid)
    assert ups.first(done, "ProcedureStepState") == "COMPLETED"
    performed = ups.items(done, "UnifiedProcedureStepPerformedProcedureSequence")[0]
    assert ups.first(performed, "PerformedProcedureStepEndDateTime") == "20260110120000+0000"
    assert rad.held_claim(uid) is None
    assert [a[1] for a in rad.audit_trail(uid)] == ["create", "assign", "claim", "complete"]


@pytest.mark.parametrize(
    ("setup", "requested", "txn", "code", "http"),
    [
        ("scheduled", S.COMPLETED, TXN, 0xC310, 409),  # not yet IN PROGRESS
        ("scheduled", S.CANCELED, TXN, 0xC310, 409),
        ("scheduled", S.SCHEDULED, TXN, 0xC303, 409),  # only N-CREATE makes SCHEDULED
        ("scheduled", S.IN_PROGRESS, None, 0x0121, 400),  # a claim needs a Transaction UID
        ("scheduled", S.IN_PROGRESS, "not-a-uid", 0x0106, 400),
        ("in progress", S.COMPLETED, "2.25.999", 0xC301, 409),  # wrong Transaction UID
        ("in progress", S.IN_PROGRESS, "2.25.999", 0xC302, 409),  # already IN PROGRESS
        ("completed", S.IN_PROGRESS, "2.25.999", 0xC300, 409),  # may no longer be updated
        ("completed", S.CANCELED, TXN, 0xC300, 409),
    ],
)
def test_illegal_transitions(
    wl: Callable[[str], EmbeddedWorklist],
    setup: str,
    requested: S,
    txn: str | None,
    code: int,
    http: int,
) -> None:
    lead = wl("lead")
    uid = new_item(lead)
    if setup != "scheduled":
        lead.change_state(uid, S.IN_PROGRESS, TXN)
    if setup == "completed":
        lead.change_state(uid, S.COMPLETED, TXN)
    before = lead.get_dataset(uid)
    with pytest.raises(ups.UpsError) as exc:
        lead.change_state(uid, requested, txn)  # type: ignore[arg-type]
    assert status_of(exc) == (code, http)
    assert lead.get_dataset(uid) == before  # a refusal changes nothing


def test_warnings_and_cancel_requests(wl: Callable[[str], EmbeddedWorklist]) -> None:
    lead = wl("lead")
    done = new_item(lead)
    lead.change_state(done, S.IN_PROGRESS, TXN)
    assert lead.change_state(done, S.COMPLETED, TXN) is None
    assert lead.change_state(done, S.COMPLETED, TXN) is ups.ALREADY_COMPLETED  # B306 warning
    with pytest.raises(ups.UpsError) as exc:
        lead.request_cancel(done)
    assert status_of(exc) == (0xC311, 409)  # already COMPLETED
    scheduled = new_item(lead)
    assert lead.request_cancel(scheduled, "duplicate order") is None
    item = lead.get_dataset(scheduled)
    assert ups.first(item, "ProcedureStepState") == "CANCELED"
    progress = ups.items(item, "ProcedureStepProgressInformationSequence")[0]
    assert ups.first(progress, "ReasonForCancellation") == "duplicate order"
    assert lead.request_cancel(scheduled) is ups.ALREADY_CANCELED  # B304 warning
    running = new_item(lead)
    lead.change_state(running, S.IN_PROGRESS, TXN)
    with pytest.raises(ups.UpsError) as exc:
        lead.request_cancel(running)  # this site does not let a lead reach the performer
    assert status_of(exc) == (0xC312, 409)


def test_create_and_update_refusals(wl: Callable[[str], EmbeddedWorklist]) -> None:
    lead = wl("lead")
    uid = new_item(lead)
    with pytest.raises(ups.UpsError) as exc:
        lead.create(ups.dataset_of(SOPInstanceUID=uid))
    assert status_of(exc) == (0x0111, 409)  # duplicate SOP instance
    with pytest.raises(ups.UpsError) as exc:
        lead.create(ups.dataset_of(ProcedureStepState="IN PROGRESS"))
    assert status_of(exc) == (0xC309, 400)
    with pytest.raises(ups.UpsError) as exc:
        lead.create(ups.dataset_of(ProcedureStepLabel="cardiac"))
    assert status_of(exc) == (0x0106, 400)  # not a reading pool
    with pytest.raises(ups.UpsError) as exc:
        lead.get("2.25.404")
    assert status_of(exc) == (0xC307, 404)
    with pytest.raises(ups.UpsError) as exc:
        lead.update(uid, ups.dataset_of(ProcedureStepState="COMPLETED"))
    assert status_of(exc) == (0x0106, 400)  # the state changes only through change_state
    lead.change_state(uid, S.IN_PROGRESS, TXN)
    with pytest.raises(ups.UpsError) as exc:
        lead.update(uid, ups.dataset_of(ProcedureStepLabel="chest"), "2.25.999")
    assert status_of(exc) == (0xC301, 409)
    lead.update(uid, ups.dataset_of(ProcedureStepLabel="chest"), TXN)  # the holder may
    assert lead.get(uid).pool == "chest"
    lead.change_state(uid, S.COMPLETED, TXN)
    with pytest.raises(ups.UpsError) as exc:
        lead.update(uid, ups.dataset_of(ProcedureStepLabel="body"), TXN)
    assert status_of(exc) == (0xC300, 409)


# -- roles and assignment ----------------------------------------------------------------------


def test_lead_assigns_and_radiologists_see_their_work(
    wl: Callable[[str], EmbeddedWorklist],
) -> None:
    lead, rad1, rad2, chest = wl("lead"), wl("rad.neuro"), wl("rad.neuro2"), wl("rad.chest")
    a = new_item(lead, priority="LOW")
    b = new_item(lead, priority="HIGH")
    c = new_item(lead, pool="chest")
    assert [i.uid for i in rad1.search_all()] == [b, a]  # unassigned items of the neuro pool
    lead.assign(a, reader="RAD02")
    assert lead.get(a).assigned_to == "rad.neuro2"
    assert [i.uid for i in rad2.search_all(my_work(rad2.user))] == [a]
    assert [i.uid for i in rad1.search_all()] == [b]  # rad1 no longer sees it
    with pytest.raises(ups.PermissionDenied, match="assigned to another reader"):
        rad1.claim(a)
    lead.assign(a, pool="chest")  # back to a pool: unassigned there
    moved = lead.get(a)
    assert (moved.pool, moved.performer_code) == ("chest", None)
    assert [i.uid for i in chest.search_all(my_pools(chest.user))] == [c, a]
    assert lead.assign_many([b, c], reader="RAD03") == {}
    assert lead.get(b).assigned_to == "Chest^Chris"
    assert [t[1:] for t in lead.audit_trail(a) if t[1] == "assign"] == [
        ("assign", None, "RAD02"),
        ("assign", "RAD02", None),
    ]
    d = new_item(lead)
    failures = rad1.assign_many([d], reader="RAD01")
    assert failures == {
        d: "role radiologist may not change a scheduled workitem",
    }
    with pytest.raises(ups.UpsError) as exc:
        lead.assign(c, reader="NOBODY")
    assert status_of(exc) == (0x0106, 400)
    with pytest.raises(ups.PermissionDenied):
        wl("admin").claim(c)


def test_second_claim_names_the_holder(wl: Callable[[str], EmbeddedWorklist]) -> None:
    lead, rad1, rad2 = wl("lead"), wl("rad.neuro"), wl("rad.neuro2")
    uid = new_item(lead)
    rad1.claim(uid)
    with pytest.raises(ClaimConflict) as by_lead:
        lead.claim(uid)
    assert (by_lead.value.holder, by_lead.value.http_status) == ("rad.neuro", 409)
    assert by_lead.value.status is ups.ALREADY_IN_PROGRESS
    with pytest.raises(ClaimConflict) as by_peer:
        rad2.claim(uid)  # may not see rad1's item: the holder stays unnamed
    assert by_peer.value.holder is None
    assert str(by_peer.value) == f"workitem {uid} is being read by another reader"
    assert lead.held_claim(uid) is None and rad2.held_claim(uid) is None


def test_racing_claims_one_winner(wl: Callable[[str], EmbeddedWorklist]) -> None:
    uid = new_item(wl("lead"))
    backends = [wl("rad.neuro"), wl("rad.neuro2")]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def go(w: EmbeddedWorklist) -> None:
        barrier.wait()
        try:
            w.claim(uid)
            outcomes.append("won")
        except ClaimConflict:
            outcomes.append("conflict")
        finally:
            w.close()

    threads = [threading.Thread(target=go, args=(w,)) for w in backends]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(outcomes) == ["conflict", "won"]


def test_claims_persist_across_reopening(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    lead = EmbeddedWorklist(folder, "lead", SITE, now=lambda: NOW)
    uid = new_item(lead)
    lead.close()
    first = EmbeddedWorklist(folder, "rad.neuro", SITE, now=lambda: NOW)
    claim = first.claim(uid, study_uid="1.2.3.4")
    first.close()
    # what is on disk: the Transaction UID, confirmed, under this user and study
    with sqlite3.connect(folder / "worklist.sqlite") as conn:
        rows = conn.execute(
            "SELECT uid, user, transaction_uid, study_uid, confirmed FROM worklist_claims"
        ).fetchall()
    assert rows == [(uid, "rad.neuro", claim.transaction_uid, "1.2.3.4", 1)]
    again = EmbeddedWorklist(folder, "rad.neuro", SITE, now=lambda: NOW)
    resumed = again.claim(uid)
    assert (resumed.transaction_uid, resumed.resumed) == (claim.transaction_uid, True)
    assert again.complete(uid) is None
    assert again.get(uid).state is S.COMPLETED
    with pytest.raises(NoClaim):
        again.complete(uid)
    again.close()


def test_stale_claim_is_dropped(wl: Callable[[str], EmbeddedWorklist]) -> None:
    lead, rad = wl("lead"), wl("rad.neuro")
    uid = new_item(lead)
    old = rad.claim(uid)
    rad.change_state(uid, S.CANCELED, old.transaction_uid)  # stopped behind the claim's back
    with pytest.raises(ups.UpsError) as exc:
        rad.claim(uid)  # the kept claim is stale: a fresh claim of a CANCELED item fails
    assert status_of(exc) == (0xC300, 409)
    assert rad.held_claim(uid) is None


def test_hand_back(wl: Callable[[str], EmbeddedWorklist]) -> None:
    lead, rad = wl("lead"), wl("rad.neuro")
    uid = new_item(lead, priority="HIGH", performer="rad.neuro")
    rad.claim(uid)
    with pytest.raises(ups.PermissionDenied, match="ask a lead"):
        rad.hand_back(uid)  # radiologists may not create the replacement here
    assert rad.get(uid).state is S.IN_PROGRESS and rad.held_claim(uid) is not None
    other = new_item(lead, priority="HIGH")
    lead.claim(other)
    new_uid = lead.hand_back(other, "needs a neuroradiologist")
    assert new_uid == derived_uid("replacement", other)
    original, replacement = lead.get_dataset(other), lead.get(new_uid)
    assert ups.first(original, "ProcedureStepState") == "CANCELED"
    progress = ups.items(original, "ProcedureStepProgressInformationSequence")[0]
    assert ups.first(progress, "ReasonForCancellation") == (
        "Handed back to the pool by the reader: needs a neuroradiologist"
    )
    assert (replacement.state, replacement.pool, replacement.performer_code) == (
        S.SCHEDULED,
        "neuro",
        None,
    )
    assert (replacement.replaces, replacement.priority) == (other, P.HIGH)
    assert replacement.due == lead.get(other).due
    assert lead.held_claim(other) is None
    assert new_uid in [i.uid for i in rad.search_all()]  # back in the neuro pool
    with pytest.raises(NoClaim):
        lead.hand_back(other)


def test_second_read(wl: Callable[[str], EmbeddedWorklist]) -> None:
    lead = wl("lead")
    first = new_item(lead)
    second = lead.request_second_read(first, pool="chest", reader="RAD03")
    item = wl("rad.chest").get(second)
    assert (item.second_read_of, item.pool, item.performer_code) == (first, "chest", "RAD03")
    assert item.due == NOW + timedelta(minutes=240)


def test_search_paging_and_filters(wl: Callable[[str], EmbeddedWorklist]) -> None:
    lead = wl("lead")
    uids = [
        new_item(lead, priority=p, patient_id=f"P{n}", start_min=n)
        for n, p in enumerate(["HIGH", "MEDIUM", "LOW"] * 3)
    ]
    order = [i.uid for i in lead.search_all()]
    assert order == [uids[n] for n in (0, 3, 6, 1, 4, 7, 2, 5, 8)]
    page = lead.search(offset=2, limit=3)
    assert ([i.uid for i in page.items], page.more) == (order[2:5], True)
    last = lead.search(offset=6, limit=3)
    assert ([i.uid for i in last.items], last.more) == (order[6:], False)
    assert [i.uid for i in lead.search_all(WorklistFilter(patient_id="P4"))] == [uids[4]]
    assert lead.search_all(WorklistFilter(overdue_only=True), now=NOW + timedelta(hours=2)) == [
        lead.get(uids[n]) for n in (0, 3, 6)
    ]


# -- the local store's studies -----------------------------------------------------------------


def test_populate_from_local_store(
    tmp_path: Path, archive: LocalArchive, image_dataset: Callable[..., object]
) -> None:
    pixels = np.zeros((4, 4), np.uint16)
    for study, part, prio, count in (
        ("1.2.9.1", "HEAD", "STAT", 3),
        ("1.2.9.2", "CHEST", "ROUTINE", 2),
    ):
        for n in range(count):
            ds = image_dataset(
                pixels=pixels,
                study_uid=study,
                series_uid=study + ".1",
                sop_uid=f"{study}.1.{n}",
                patient_id="PID-" + part,
                accession_number="ACC-" + part,
                study_date="20260109",
            )
            ds.BodyPartExamined = part  # type: ignore[attr-defined]
            ds.RequestedProcedurePriority = prio  # type: ignore[attr-defined]
            ds.InstitutionName = "St Elsewhere General Hospital"  # type: ignore[attr-defined]
            archive.add_dataset(ds)  # type: ignore[arg-type]
    archive.commit()
    w = EmbeddedWorklist(archive.root, "lead", SITE, now=lambda: NOW)
    assert w.populate_from_archive(archive) == 2
    assert w.populate_from_archive(archive) == 0  # one workitem per study
    items = w.search_all()
    assert [(i.study_instance_uid, i.priority, i.pool) for i in items] == [
        ("1.2.9.1", P.HIGH, "neuro"),
        ("1.2.9.2", P.LOW, "chest"),
    ]
    head = items[0]
    assert (head.modality, head.body_part, head.number_of_images) == ("CT", "HEAD", 3)
    assert (head.study_date, head.accession_number, head.patient_id) == (
        "20260109",
        "ACC-HEAD",
        "PID-HEAD",
    )
    assert head.hospital == "St Elsewhere General Hospital"
    assert head.due == NOW + timedelta(minutes=60)
    assert head.uid == ups.reading_workitem_uid("1.2.9.1")
    assert w.audit_trail(head.uid)[0][:2] == ("system", "create")
    w.close()
    # Its one reader reported the study opened from the study list (no claim): signing
    # completes the reading workitem all the same.
    reader = EmbeddedWorklist(archive.root, "rad.neuro", SITE, now=lambda: NOW)
    assert reader.claim_for_study("1.2.9.1") is None
    assert reader.complete_study("1.2.9.1") == head.uid
    assert reader.get(head.uid).state is S.COMPLETED
    assert reader.complete_study("1.2.9.2") is None  # the chest pool is not this reader's
    assert reader.complete_study("1.2.9.9") is None  # no workitem at all
    reader.close()
    lead = EmbeddedWorklist(archive.root, "lead", SITE, now=lambda: NOW)
    assert lead.get(items[1].uid).state is S.SCHEDULED
    lead.close()
