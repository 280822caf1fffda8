"""What every worklist backend offers (the remote UPS-RS client and the embedded SQLite one),
and the reading flow built on it: claim, continue after a restart, complete, hand back.

Backends implement the UPS operations of PS3.4 Annex CC (search, retrieve, create, update,
change state, request cancel); this module adds what the workstation does with them. A claim
makes a fresh Transaction UID, writes it to the local :class:`ClaimStore` *before* asking the
server, and uses it to complete or discontinue later (PS3.4 CC.1.1).

Hand back. A UPS never returns from IN PROGRESS to SCHEDULED (PS3.4 Table CC.1.1-2: 0xC303),
so a reader who gives a study back does what the standard allows: a replacement workitem is
created SCHEDULED, unassigned, in the same pool, with the same priority, due time and inputs
and a Replaced Procedure Step Sequence (0074,1224) naming the original; then the original is
discontinued (IN PROGRESS -> CANCELED with the reader's Transaction UID and a Reason For
Cancellation). The replacement comes first so that a failure never leaves the study without
an open workitem; its UID is derived from the original's, so a retried hand back does not
create a second one. This generic two-step needs the right to create workitems: on a server
that keeps that right for leads, a radiologist's hand back is refused before anything changes,
with a message saying to ask a lead. Backends that can do both steps in one transaction
override :meth:`WorklistBackend.hand_back` (the UPS-RS client uses the reference archive's
``/handback`` resource, where the holder's Transaction UID is the permission).
"""

from __future__ import annotations

import contextlib
import enum
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from workstation.core import ups
from workstation.core.errors import WorkstationError
from workstation.core.ups import Dataset, ProcedureStepState, UpsError, UpsStatus, WorklistUser
from workstation.worklist.claims import Claim, ClaimStore
from workstation.worklist.model import (
    WorkItem,
    WorklistFilter,
    may_read,
    utc_now,
    worklist_order,
)

HAND_BACK_REASON = ups.HAND_BACK_REASON
derived_uid = ups.derived_uid  # the same UIDs on the server (plugin) and here
replacement_dataset = ups.replacement_dataset
_STUDY_SEARCH_LIMIT = 100  # open workitems of one patient looked through for a study's


def new_transaction_uid() -> str:
    """A fresh Transaction UID in the 2.25 form (PS3.5 B.2), made by the claiming client."""
    return f"2.25.{uuid.uuid4().int}"


class ReadingAccess(enum.Enum):
    """What a user may do with a study's reading (:meth:`WorklistBackend.study_reading`)."""

    FREE = "free"  # no reading workitem: whoever opens it may report it
    MINE = "mine"  # this workstation holds the claim
    CLAIMABLE = "claimable"  # open, and this user may claim it (not yet claimed)
    TAKEN = "taken"  # another reader holds it, or it is assigned to another
    DONE = "done"  # completed or canceled on the worklist


@dataclass(frozen=True, slots=True)
class StudyReading:
    """A study's reading for one user: ``item_uid`` its workitem, ``holder`` who has it
    (when the server lets this user see)."""

    access: ReadingAccess
    item_uid: str = ""
    holder: str = ""


class ClaimConflict(UpsError):
    """Someone else holds (or is assigned) the workitem; ``holder`` names them when known.

    The server answers a second claim with 0xC302 "already IN PROGRESS" (PS3.4 CC.2.4.2) and
    does not say who; the client then retrieves the workitem and reads its scheduled human
    performer, which a radiologist may not be allowed to see (``holder`` is then None).
    """

    def __init__(
        self,
        uid: str,
        holder: str | None,
        *,
        assigned: bool = False,
        http_status: int = 409,
        status: UpsStatus | None = ups.ALREADY_IN_PROGRESS,
    ) -> None:
        who = holder or "another reader"
        verb = "is assigned to" if assigned else "is being read by"
        super().__init__(f"workitem {uid} {verb} {who}", http_status=http_status, status=status)
        self.uid = uid
        self.holder = holder
        self.assigned = assigned


class NoClaim(UpsError):
    """This workstation keeps no Transaction UID for the workitem: it cannot complete it."""

    def __init__(self, uid: str) -> None:
        super().__init__(
            f"workitem {uid} was not claimed on this workstation (no Transaction UID is kept "
            "for it); claim it first",
            http_status=409,
            status=ups.WRONG_TRANSACTION_UID,
        )
        self.uid = uid


@dataclass(frozen=True, slots=True)
class Reader:
    """A reader work can be assigned to: performer code, display name, coding scheme, pools."""

    performer_code: str
    name: str = ""
    scheme: str = "99TELERAD"
    pools: frozenset[str] = frozenset()
    organization: str = ""

    @property
    def label(self) -> str:
        return self.name or self.performer_code

    def performer_item(self) -> Dataset:
        """A Scheduled Human Performers Sequence item (PS3.4 Table CC.2.5-3)."""
        return ups.dataset_of(
            HumanPerformerCodeSequence=[
                ups.code_item(self.performer_code, self.scheme, self.name or self.performer_code)
            ],
            HumanPerformerName=self.name or None,
            HumanPerformerOrganization=self.organization or None,
        )

    @classmethod
    def of_user(cls, user: WorklistUser, scheme: str = "99TELERAD") -> Reader:
        return cls(
            performer_code=user.performer_code or user.name,
            name=user.display_name or user.name,
            scheme=scheme,
            pools=user.pools,
            organization=user.organization,
        )


def readers_of(config: ups.WorklistConfig) -> list[Reader]:
    """Everyone in a site config who may claim (and so be assigned) reading work."""
    out = [
        Reader.of_user(u, config.performer_scheme)
        for u in config.users.values()
        if u.may(ups.Permission.CLAIM) and u.performer_code
    ]
    return sorted(out, key=lambda r: r.label.casefold())


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of a worklist search in worklist order; ``more`` when the server has more."""

    items: tuple[WorkItem, ...]
    offset: int = 0
    more: bool = False
    warnings: tuple[str, ...] = field(default=())


def second_read_dataset(
    dataset: Mapping[str, Any], new_uid: str, pool: str, reader: Reader | None
) -> Dataset:
    """A second-opinion workitem for the same study: the first reading is one of its inputs.

    The first workitem is referenced in Input Information Sequence as a UPS Push instance and
    in Scheduled Processing Parameters Sequence (as the archive's own second reads are), which
    is how :class:`WorkItem` finds ``second_read_of``; start and due times are left to the
    server (now plus the priority's turnaround).
    """
    out = ups.without(
        dataset,
        (
            *ups.PERFORMANCE_KEYWORDS,
            "ScheduledProcedureStepStartDateTime",
            "ExpectedCompletionDateTime",
        ),
    )
    first_uid = ups.first(dataset, "SOPInstanceUID")
    inputs = ups.items(dataset, "InputInformationSequence")
    inputs.append(
        ups.dataset_of(
            TypeOfInstances="DICOM",
            StudyInstanceUID=ups.first(dataset, "StudyInstanceUID"),
            ReferencedSOPSequence=[
                ups.dataset_of(
                    ReferencedSOPClassUID=ups.UPS_PUSH_SOP_CLASS_UID,
                    ReferencedSOPInstanceUID=first_uid,
                )
            ],
        )
    )
    out.update(
        ups.dataset_of(
            SOPInstanceUID=new_uid,
            ProcedureStepState=ProcedureStepState.SCHEDULED.value,
            ProcedureStepLabel=pool,
            ScheduledHumanPerformersSequence=[reader.performer_item()] if reader else [],
            InputInformationSequence=inputs,
        )
    )
    # The link the archive's own second reads carry, readable without the inputs.
    out[ups.ATTRIBUTES["ScheduledProcessingParametersSequence"][0]] = ups.second_read_parameters(
        first_uid
    )
    return dict(sorted(out.items()))


class WorklistBackend(ABC):
    """The reading worklist of one user on one server (remote UPS-RS, or embedded SQLite).

    Subclasses provide the UPS operations; this class adds claims kept on disk, assignment,
    hand back and second reads. Errors are UpsError (a refusal with its PS3.4 status),
    ClaimConflict, PermissionDenied, or, for a remote server, RemoteError.
    """

    user: WorklistUser
    claims: ClaimStore
    server_key: str  # what claims are filed under: one server (URL) or one embedded file
    # Readers on other workstations share it: a study opened outside the worklist is checked
    # (study_reading) before it is reported. The embedded worklist has one local reader.
    shared: bool = True

    # -- the UPS operations ----------------------------------------------------------------
    @abstractmethod
    def _search(
        self, flt: WorklistFilter, offset: int, limit: int | None, now: datetime
    ) -> SearchPage:
        """Search in worklist order; ``limit`` None fetches every match."""

    @abstractmethod
    def get_dataset(self, uid: str) -> Dataset:
        """Retrieve a workitem's DICOM JSON (never with its Transaction UID)."""

    @abstractmethod
    def create(self, dataset: Mapping[str, Any]) -> str:
        """Create a SCHEDULED workitem (its SOP Instance UID may be given); returns the UID."""

    @abstractmethod
    def update(
        self, uid: str, changes: Mapping[str, Any], transaction_uid: str | None = None
    ) -> None:
        """Update Workitem (N-SET); the held Transaction UID is needed once IN PROGRESS."""

    @abstractmethod
    def change_state(
        self,
        uid: str,
        state: ProcedureStepState,
        transaction_uid: str,
        extra: Mapping[str, Any] | None = None,
    ) -> UpsStatus | None:
        """Change Workitem State (N-ACTION); returns the warning status, if any."""

    @abstractmethod
    def request_cancel(self, uid: str, reason: str = "") -> UpsStatus | None:
        """Request Cancellation (N-ACTION Request Cancel); returns the warning, if any."""

    @abstractmethod
    def readers(self) -> list[Reader]:
        """The readers work can be assigned to, as far as this backend knows them."""

    @abstractmethod
    def pools(self) -> list[str]:
        """The reading pools (Procedure Step Labels) known to this backend."""

    def close(self) -> None:
        self.claims.close()

    def __enter__(self) -> WorklistBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------
    def search(
        self,
        flt: WorklistFilter | None = None,
        *,
        offset: int = 0,
        limit: int | None = 100,
        now: datetime | None = None,
    ) -> SearchPage:
        """A page of the workitems matching ``flt`` (default: all open), in worklist order."""
        if offset < 0 or (limit is not None and limit < 0):
            raise ValueError("offset and limit must not be negative")
        f = flt or WorklistFilter()
        if f.matches_nothing or limit == 0:
            return SearchPage((), offset)
        return self._search(f, offset, limit, now or utc_now())

    def search_all(
        self, flt: WorklistFilter | None = None, *, now: datetime | None = None
    ) -> list[WorkItem]:
        """Every workitem matching ``flt``, in worklist order."""
        return list(self.search(flt, limit=None, now=now).items)

    def get(self, uid: str) -> WorkItem:
        return WorkItem.from_dicom_json(self.get_dataset(uid))

    def reader(self, performer_code: str) -> Reader:
        """The known reader with this code, or a bare Reader of the code alone."""
        for r in self.readers():
            if r.performer_code == performer_code:
                return r
        return Reader(performer_code)

    # -- assignment (leads) ----------------------------------------------------------------
    def assign(
        self, uid: str, *, reader: Reader | str | None = None, pool: str | None = None
    ) -> None:
        """Assign a workitem to a reader, or (pool only) back to a pool with no reader.

        Sets Scheduled Human Performers Sequence and Procedure Step Label (PS3.4 CC.2.1).
        """
        if reader is None and pool is None:
            raise ValueError("assign needs a reader, a pool, or both")
        if isinstance(reader, str):
            reader = self.reader(reader)
        changes: Dataset = {}
        if pool is not None:
            changes.update(ups.dataset_of(ProcedureStepLabel=pool))
        changes.update(
            ups.dataset_of(
                ScheduledHumanPerformersSequence=[reader.performer_item()] if reader else []
            )
        )
        self.update(uid, changes)

    def unassign(self, uid: str) -> None:
        """Take the reader off a scheduled workitem: it is back in its pool for anyone."""
        self.update(uid, ups.dataset_of(ScheduledHumanPerformersSequence=[]))

    def assign_many(
        self, uids: Sequence[str], *, reader: Reader | str | None = None, pool: str | None = None
    ) -> dict[str, str]:
        """Assign several workitems; returns the refusals as {uid: message}."""
        failed: dict[str, str] = {}
        for uid in uids:
            try:
                self.assign(uid, reader=reader, pool=pool)
            except WorkstationError as exc:
                failed[uid] = str(exc)
        return failed

    # -- the reading flow ------------------------------------------------------------------
    def held_claim(self, uid: str) -> Claim | None:
        """This workstation's claim on ``uid`` for this user, if one is kept."""
        claim = self.claims.get(self.server_key, uid)
        return claim if claim is not None and claim.user == self.user.name else None

    def claim_for_study(self, study_uid: str) -> Claim | None:
        """The claim this user holds on a workitem of a study (to complete it after signing)."""
        return self.claims.for_study(self.server_key, self.user.name, study_uid)

    def claim(self, uid: str, *, study_uid: str = "") -> Claim:
        """Take a workitem: SCHEDULED -> IN PROGRESS with a new Transaction UID (PS3.4 CC.2.4).

        A claim this workstation already holds (kept from before a restart) is resumed when
        the server still shows the item IN PROGRESS for this reader. Someone else's claim
        raises ClaimConflict naming them when the server lets us see who.
        """
        held = self.held_claim(uid)
        if held is not None:
            item = self._get_or_none(uid)
            if (
                item is not None
                and item.state is ProcedureStepState.IN_PROGRESS
                and item.performer_code == self.user.performer_code
            ):
                self.claims.confirm(self.server_key, uid)
                return replace(held, confirmed=True, resumed=True)
            self.claims.remove(self.server_key, uid)  # completed or canceled elsewhere
        claim = self.claims.put(
            Claim(
                server=self.server_key,
                uid=uid,
                user=self.user.name,
                transaction_uid=new_transaction_uid(),
                study_uid=study_uid,
                claimed_utc=time.time(),
            )
        )
        try:
            self.change_state(uid, ProcedureStepState.IN_PROGRESS, claim.transaction_uid)
        except UpsError as exc:
            self.claims.remove(self.server_key, uid)
            raise self._claim_refusal(uid, exc) from None
        # A transport error leaves the claim unconfirmed on disk: if the server did take it,
        # the next claim() resumes it (the server shows it IN PROGRESS for this reader).
        self.claims.confirm(self.server_key, uid)
        return replace(claim, confirmed=True)

    def complete(self, uid: str) -> UpsStatus | None:
        """IN PROGRESS -> COMPLETED with the kept Transaction UID; the claim is then dropped."""
        held = self.held_claim(uid)
        if held is None:
            raise NoClaim(uid)
        return self._finish(held, ProcedureStepState.COMPLETED, None)

    def study_reading(
        self,
        study_uid: str,
        visible: Iterable[WorkItem] = (),
        *,
        patient_id: str = "",
        accession_number: str = "",
    ) -> StudyReading:
        """Whether this user may report ``study_uid`` now, for a study opened outside the
        worklist (the study list, a command line): two readers must never read one study
        unknowingly (DESIGN.md).

        The study's workitems are those ``visible`` (what the worklist last showed this
        user) names for it; the open ones the server finds by the study's ``patient_id`` (or
        ``accession_number``), as a RIS makes workitems with UIDs of its own and a filtered
        list ("My work") shows none of another reader's; and its reading workitem (the same
        UID on every server, :func:`ups.reading_workitem_uid`). Each is asked for as the
        server has it now. One this user may claim makes it CLAIMABLE; else one held by or
        given to another reader (or hidden from this user: 403) TAKEN; else a closed one
        DONE; none at all FREE.
        """
        if self.claim_for_study(study_uid) is not None:
            return StudyReading(ReadingAccess.MINE)
        uids = [i.uid for i in visible if i.study_instance_uid == study_uid]
        if patient_id or accession_number:
            flt = (
                WorklistFilter(patient_id=patient_id)
                if patient_id
                else WorklistFilter(accession_number=accession_number)
            )
            found = self.search(flt, limit=_STUDY_SEARCH_LIMIT).items
            uids.extend(i.uid for i in found if i.study_instance_uid == study_uid)
        uids.append(ups.reading_workitem_uid(study_uid))
        taken: StudyReading | None = None
        done: StudyReading | None = None
        for uid in dict.fromkeys(uids):
            try:
                item = self.get(uid)
            except UpsError as exc:
                if exc.http_status == 404:
                    continue
                if exc.http_status == 403:  # not this user's to see: another reader's
                    taken = taken or StudyReading(ReadingAccess.TAKEN, uid)
                    continue
                raise
            if item.state.is_final:
                done = done or StudyReading(ReadingAccess.DONE, uid, item.assigned_to)
            elif may_read(item, self.user):
                return StudyReading(ReadingAccess.CLAIMABLE, uid)
            elif taken is None or not taken.holder:
                taken = StudyReading(ReadingAccess.TAKEN, uid, item.assigned_to)
        return taken or done or StudyReading(ReadingAccess.FREE)

    def complete_study(self, study_uid: str) -> str | None:
        """Complete the workitem this user holds for a study; returns its UID (None if none).

        On a worklist no one else reads (``shared`` False: the embedded one), a study reported
        without a claim (opened from the study list) has its open reading workitem claimed
        and completed: that one reader's report is its reading.
        """
        held = self.claim_for_study(study_uid)
        if held is None and not self.shared:
            uid = ups.reading_workitem_uid(study_uid)
            try:
                if may_read(self.get(uid), self.user):
                    held = self.claim(uid, study_uid=study_uid)
            except UpsError:  # no such workitem, or not this user's to take
                return None
        if held is None:
            return None
        self._finish(held, ProcedureStepState.COMPLETED, None)
        return held.uid

    def discontinue(self, uid: str, reason: str = "") -> UpsStatus | None:
        """The holder stops: IN PROGRESS -> CANCELED with a Reason For Cancellation."""
        held = self.held_claim(uid)
        if held is None:
            raise NoClaim(uid)
        extra = ups.dataset_of(ReasonForCancellation=reason or None)
        return self._finish(held, ProcedureStepState.CANCELED, extra)

    def hand_back(self, uid: str, reason: str = "") -> str:
        """Give a claimed workitem back to its pool; returns the replacement's UID.

        Create the replacement (SCHEDULED, unassigned), then discontinue the original with
        the kept Transaction UID (see the module docstring for why this pattern).
        """
        held = self.held_claim(uid)
        if held is None:
            raise NoClaim(uid)
        new_uid = derived_uid("replacement", uid)
        try:
            self.create(replacement_dataset(self.get_dataset(uid), new_uid))
        except ups.PermissionDenied as exc:
            raise ups.PermissionDenied(
                f"this worklist does not let role {self.user.role.value} put a workitem back in "
                f"its pool (a hand back creates a replacement workitem): ask a lead to reassign "
                f"it ({exc})"
            ) from None
        except UpsError as exc:
            if exc.status is not ups.DUPLICATE_SOP_INSTANCE:
                raise  # a duplicate is our own replacement from an earlier try
        text = HAND_BACK_REASON + (f": {reason}" if reason else "")
        try:
            self._finish(
                held, ProcedureStepState.CANCELED, ups.dataset_of(ReasonForCancellation=text)
            )
        except WorkstationError:
            with contextlib.suppress(WorkstationError):
                self.request_cancel(new_uid, "hand back of the original failed")
            raise
        return new_uid

    def request_second_read(
        self, uid: str, *, pool: str, reader: Reader | str | None = None
    ) -> str:
        """Route a second opinion: a new workitem for the same study in ``pool``; returns it."""
        if isinstance(reader, str):
            reader = self.reader(reader)
        new_uid = derived_uid("second-read", uid)
        self.create(second_read_dataset(self.get_dataset(uid), new_uid, pool, reader))
        return new_uid

    # -- helpers ---------------------------------------------------------------------------
    def _finish(
        self, held: Claim, state: ProcedureStepState, extra: Mapping[str, Any] | None
    ) -> UpsStatus | None:
        try:
            warning = self.change_state(held.uid, state, held.transaction_uid, extra)
        except UpsError as exc:
            if exc.status in (ups.WRONG_TRANSACTION_UID, ups.MAY_NO_LONGER_BE_UPDATED):
                self.claims.remove(self.server_key, held.uid)  # the claim is worth nothing now
            raise
        self.claims.remove(self.server_key, held.uid)
        return warning

    def _get_or_none(self, uid: str) -> WorkItem | None:
        try:
            return self.get(uid)
        except WorkstationError:
            return None

    def _claim_refusal(self, uid: str, exc: UpsError) -> UpsError:
        if exc.status is ups.ALREADY_IN_PROGRESS:
            item = self._get_or_none(uid)
            if item is not None and item.performer_code == self.user.performer_code:
                # held under this user's name without a Transaction UID here
                return ClaimConflict(uid, "you, on another workstation")
            return ClaimConflict(uid, (item.assigned_to or None) if item else None)
        if isinstance(exc, ups.PermissionDenied) and self.user.may(ups.Permission.CLAIM):
            item = self._get_or_none(uid)
            if item is not None and item.performer_code not in (None, self.user.performer_code):
                return ClaimConflict(
                    uid, item.assigned_to, assigned=True, http_status=403, status=None
                )
        return exc


def merge_pages(pages: Sequence[Sequence[WorkItem]]) -> list[WorkItem]:
    """Merge results of several searches into one worklist-ordered list without duplicates."""
    seen: dict[str, WorkItem] = {}
    for page in pages:
        for item in page:
            seen.setdefault(item.uid, item)
    return worklist_order(seen.values())
