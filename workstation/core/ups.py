"""Unified Procedure Step (UPS) rules of the reading worklist, as pure standard-library Python.

The Orthanc worklist plugin (``server/orthanc/worklist_plugin.py``) imports this module on
Debian's system Python, so nothing here may import a third-party package. It holds:

* the UPS states, the state machine and its status codes (PS3.4 Annex CC, Table CC.1.1-2 and
  the status tables of CC.2) with the HTTP status UPS-RS answers for each (PS3.18 §11);
* priorities (site map from Requested Procedure Priority to Scheduled Procedure Step Priority)
  and expected completion times from turnaround targets;
* the reading network's configuration (roles, pools, routing rules), validated at load;
* a small DICOM JSON toolkit (PS3.18 Annex F) and the search matching of PS3.4 C.2.2.2;
* the reading work item built for a study (PS3.4 Table CC.2.5-3 attributes).
"""

from __future__ import annotations

import enum
import json
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from workstation.core.errors import ConfigError, WorkstationError

UPS_PUSH_SOP_CLASS_UID = "1.2.840.10008.5.1.4.34.6.1"  # PS3.4 CC.3.1, Table CC.3.1-1
# "Interpretation" from CID 9231 (General Purpose Workitem Definition), DCM code 110005.
READING_WORKITEM_CODE = ("110005", "DCM", "Interpretation")
_UID_NAMESPACE = uuid.UUID("5b0e4a52-6f3c-4a3e-9a57-2a3f2f6f7d11")  # reading items of a study
_UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


# -- states and priorities ------------------------------------------------------------------


class ProcedureStepState(enum.StrEnum):
    """Procedure Step State (0074,1000) of a UPS (PS3.4 CC.1.1)."""

    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN PROGRESS"
    CANCELED = "CANCELED"
    COMPLETED = "COMPLETED"

    @property
    def is_final(self) -> bool:
        return self in (ProcedureStepState.CANCELED, ProcedureStepState.COMPLETED)


class UpsPriority(enum.StrEnum):
    """Scheduled Procedure Step Priority (0074,1200): enumerated HIGH, MEDIUM, LOW (PS3.3)."""

    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


PRIORITY_RANK = {UpsPriority.HIGH: 0, UpsPriority.MEDIUM: 1, UpsPriority.LOW: 2}

# Requested Procedure Priority (0040,1003) defined terms are STAT, HIGH, ROUTINE, MEDIUM, LOW
# (PS3.3 C.4.11); URGENT and ASAP are common local variants. Sites override this table.
DEFAULT_PRIORITY_MAP: dict[str, UpsPriority] = {
    "STAT": UpsPriority.HIGH,
    "HIGH": UpsPriority.HIGH,
    "URGENT": UpsPriority.MEDIUM,
    "ASAP": UpsPriority.MEDIUM,
    "MEDIUM": UpsPriority.MEDIUM,
    "ROUTINE": UpsPriority.LOW,
    "LOW": UpsPriority.LOW,
}
DEFAULT_TURNAROUND_MINUTES: dict[UpsPriority, float] = {
    UpsPriority.HIGH: 60.0,
    UpsPriority.MEDIUM: 240.0,
    UpsPriority.LOW: 1440.0,
}


def map_priority(
    requested: str | None,
    table: Mapping[str, UpsPriority] | None = None,
    default: UpsPriority = UpsPriority.LOW,
) -> UpsPriority:
    """The UPS priority for a study's Requested Procedure Priority through the site's table.

    Matching ignores case and padding; an empty or unknown value gives ``default``.
    """
    key = (requested or "").strip().upper()
    mapping = DEFAULT_PRIORITY_MAP if table is None else table
    return mapping.get(key, default)


def expected_completion(
    start: datetime,
    priority: UpsPriority | str,
    targets_minutes: Mapping[UpsPriority, float] | None = None,
) -> datetime:
    """Expected Completion DateTime (0040,4011): ``start`` plus the priority's turnaround target."""
    if start.tzinfo is None:
        raise ValueError("expected_completion needs a timezone-aware start time")
    targets = DEFAULT_TURNAROUND_MINUTES if targets_minutes is None else targets_minutes
    try:
        minutes = targets[UpsPriority(priority)]
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"no turnaround target for priority {priority!r}") from exc
    return start + timedelta(minutes=float(minutes))


# -- status codes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpsStatus:
    """A DIMSE status of the UPS service and the HTTP status UPS-RS answers for it.

    ``http_status`` is None for warnings: the request then succeeds with its operation's own
    success code (200 for a state change, 202 for a cancel request) plus a Warning header.
    """

    code: int
    meaning: str
    http_status: int | None

    @property
    def is_warning(self) -> bool:
        return self.http_status is None

    @property
    def hex(self) -> str:
        return f"0x{self.code:04X}"

    def __str__(self) -> str:
        return f"{self.hex}: {self.meaning}"


# PS3.4 Table CC.2.1-2 (N-SET), CC.2.2-2 (N-GET), CC.2.4-2 (N-ACTION Change State),
# CC.2.4-3 (Request Cancel) and CC.2.6-2 (N-CREATE); HTTP mapping per PS3.18 §11.
SUCCESS = UpsStatus(0x0000, "Success", 200)
NO_SUCH_ATTRIBUTE = UpsStatus(0x0105, "No such attribute", 400)
INVALID_ATTRIBUTE_VALUE = UpsStatus(0x0106, "Invalid attribute value", 400)
DUPLICATE_SOP_INSTANCE = UpsStatus(0x0111, "Duplicate SOP Instance", 409)
MISSING_ATTRIBUTE = UpsStatus(0x0120, "Missing attribute", 400)
MISSING_ATTRIBUTE_VALUE = UpsStatus(0x0121, "Missing attribute value", 400)
ALREADY_CANCELED = UpsStatus(0xB304, "The UPS is already in the requested state of CANCELED", None)
ALREADY_COMPLETED = UpsStatus(
    0xB306, "The UPS is already in the requested state of COMPLETED", None
)
MAY_NO_LONGER_BE_UPDATED = UpsStatus(0xC300, "The UPS may no longer be updated", 409)
WRONG_TRANSACTION_UID = UpsStatus(0xC301, "The correct Transaction UID was not provided", 409)
ALREADY_IN_PROGRESS = UpsStatus(0xC302, "The UPS is already IN PROGRESS", 409)
MAY_NOT_BECOME_SCHEDULED = UpsStatus(
    0xC303, "The UPS may only become SCHEDULED via N-CREATE, not N-SET or N-ACTION", 409
)
FINAL_STATE_NOT_MET = UpsStatus(
    0xC304, "The UPS has not met final state requirements for the requested state change", 409
)
NO_SUCH_UPS = UpsStatus(
    0xC307,
    "Specified SOP Instance UID does not exist or is not a UPS Instance managed by this SCP",
    404,
)
NOT_SCHEDULED_AT_CREATE = UpsStatus(
    0xC309, "The provided value of UPS State was not SCHEDULED", 400
)
NOT_YET_IN_PROGRESS = UpsStatus(0xC310, "The UPS is not yet in the IN PROGRESS state", 409)
ALREADY_COMPLETED_CANCEL = UpsStatus(0xC311, "The UPS is already COMPLETED", 409)
PERFORMER_UNREACHABLE = UpsStatus(0xC312, "The performer cannot be contacted", 409)
PERFORMER_REFUSES_CANCEL = UpsStatus(0xC313, "Performer chooses not to cancel", 409)

STATUS_BY_CODE: dict[int, UpsStatus] = {
    s.code: s
    for s in (
        SUCCESS,
        NO_SUCH_ATTRIBUTE,
        INVALID_ATTRIBUTE_VALUE,
        DUPLICATE_SOP_INSTANCE,
        MISSING_ATTRIBUTE,
        MISSING_ATTRIBUTE_VALUE,
        ALREADY_CANCELED,
        ALREADY_COMPLETED,
        MAY_NO_LONGER_BE_UPDATED,
        WRONG_TRANSACTION_UID,
        ALREADY_IN_PROGRESS,
        MAY_NOT_BECOME_SCHEDULED,
        FINAL_STATE_NOT_MET,
        NO_SUCH_UPS,
        NOT_SCHEDULED_AT_CREATE,
        NOT_YET_IN_PROGRESS,
        ALREADY_COMPLETED_CANCEL,
        PERFORMER_UNREACHABLE,
        PERFORMER_REFUSES_CANCEL,
    )
}


class UpsError(WorkstationError):
    """A UPS request that must be refused; ``http_status`` is what UPS-RS answers.

    ``status`` is the PS3.4 status behind it (None for refusals outside the UPS service, such
    as a role that may not act). The message never contains patient data.
    """

    def __init__(self, message: str, *, http_status: int, status: UpsStatus | None = None):
        super().__init__(message)
        self.http_status = http_status
        self.status = status

    @classmethod
    def from_status(cls, status: UpsStatus, detail: str = "") -> UpsError:
        if status.http_status is None:
            raise ValueError(f"{status} is a warning, not a refusal")
        text = str(status) + (f" ({detail})" if detail else "")
        return cls(text, http_status=status.http_status, status=status)


class PermissionDenied(UpsError):
    """The caller's role or assignment does not allow the request (HTTP 403)."""

    def __init__(self, message: str):
        super().__init__(message, http_status=403)


# -- the state machine (PS3.4 Table CC.1.1-2) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transition:
    """The outcome of a permitted request: the state after it and an optional warning."""

    new_state: ProcedureStepState
    changed: bool
    warning: UpsStatus | None = None


def parse_state(value: str | None) -> ProcedureStepState:
    """A Procedure Step State value, or UpsError 400 for anything else."""
    try:
        return ProcedureStepState((value or "").strip())
    except ValueError:
        raise UpsError.from_status(
            INVALID_ATTRIBUTE_VALUE, f"Procedure Step State {value!r} is not a UPS state"
        ) from None


def parse_priority(value: str | None) -> UpsPriority:
    """A Scheduled Procedure Step Priority value, or UpsError 400 (PS3.4 Table CC.2.5-3)."""
    try:
        return UpsPriority((value or "").strip())
    except ValueError:
        raise UpsError.from_status(
            INVALID_ATTRIBUTE_VALUE,
            f"Scheduled Procedure Step Priority {value!r} is not HIGH, MEDIUM or LOW",
        ) from None


def is_valid_uid(value: str | None) -> bool:
    """True for a valid UID: digits and dots, no leading zeros, ≤ 64 characters (PS3.5 9.1)."""
    return bool(value) and len(value or "") <= 64 and bool(_UID_RE.match(value or ""))


def change_state(
    current: ProcedureStepState,
    requested: ProcedureStepState,
    transaction_uid: str | None,
    held_transaction_uid: str | None,
) -> Transition:
    """Apply N-ACTION "Change UPS State" to ``current`` (PS3.4 Table CC.1.1-2, CC.2.4).

    SCHEDULED -> IN PROGRESS records the caller's new Transaction UID (the claim);
    IN PROGRESS -> COMPLETED/CANCELED needs the held Transaction UID. Raises UpsError.
    """
    if requested is ProcedureStepState.SCHEDULED:
        raise UpsError.from_status(MAY_NOT_BECOME_SCHEDULED)
    if requested is ProcedureStepState.IN_PROGRESS:
        if not transaction_uid:
            raise UpsError.from_status(
                MISSING_ATTRIBUTE_VALUE, "a claim needs a new Transaction UID (0008,1195)"
            )
        if not is_valid_uid(transaction_uid):
            raise UpsError.from_status(INVALID_ATTRIBUTE_VALUE, "Transaction UID is not a UID")
        if current is ProcedureStepState.SCHEDULED:
            return Transition(ProcedureStepState.IN_PROGRESS, True)
        if current is ProcedureStepState.IN_PROGRESS:
            raise UpsError.from_status(ALREADY_IN_PROGRESS)
        raise UpsError.from_status(MAY_NO_LONGER_BE_UPDATED, f"it is {current.value}")
    # requested is COMPLETED or CANCELED
    if current is ProcedureStepState.SCHEDULED:
        raise UpsError.from_status(NOT_YET_IN_PROGRESS)
    if current is ProcedureStepState.IN_PROGRESS:
        if not transaction_uid or transaction_uid != held_transaction_uid:
            raise UpsError.from_status(WRONG_TRANSACTION_UID)
        return Transition(requested, True)
    if current is requested:
        warning = (
            ALREADY_CANCELED if requested is ProcedureStepState.CANCELED else ALREADY_COMPLETED
        )
        return Transition(current, False, warning)
    raise UpsError.from_status(MAY_NO_LONGER_BE_UPDATED, f"it is {current.value}")


def check_update(
    current: ProcedureStepState, transaction_uid: str | None, held_transaction_uid: str | None
) -> None:
    """Whether N-SET / Update Workitem may change the UPS now (PS3.4 CC.2.1.3); raises UpsError.

    A SCHEDULED item is updated without a Transaction UID; an IN PROGRESS item only with the
    held one; a final item never.
    """
    if current is ProcedureStepState.SCHEDULED:
        if transaction_uid:
            raise UpsError.from_status(
                NOT_YET_IN_PROGRESS, "a SCHEDULED workitem is updated without a Transaction UID"
            )
        return
    if current is ProcedureStepState.IN_PROGRESS:
        if not transaction_uid or transaction_uid != held_transaction_uid:
            raise UpsError.from_status(WRONG_TRANSACTION_UID)
        return
    raise UpsError.from_status(MAY_NO_LONGER_BE_UPDATED, f"it is {current.value}")


def request_cancel(current: ProcedureStepState, *, performer_reachable: bool) -> Transition:
    """N-ACTION "Request UPS Cancel" (PS3.4 CC.2.4.3): SCHEDULED is canceled at once.

    An IN PROGRESS item is canceled only where the site lets the request reach its performer
    (``performer_reachable``), otherwise C312; CANCELED warns B304; COMPLETED refuses C311.
    """
    if current is ProcedureStepState.SCHEDULED:
        return Transition(ProcedureStepState.CANCELED, True)
    if current is ProcedureStepState.IN_PROGRESS:
        if not performer_reachable:
            raise UpsError.from_status(PERFORMER_UNREACHABLE)
        return Transition(ProcedureStepState.CANCELED, True)
    if current is ProcedureStepState.CANCELED:
        return Transition(current, False, ALREADY_CANCELED)
    raise UpsError.from_status(ALREADY_COMPLETED_CANCEL)


# -- date and time (PS3.5 6.2, DT) --------------------------------------------------------------

_DT_RE = re.compile(
    r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?$"
)
_DT_TEXT = r"\d{4,14}(?:\.\d{1,6})?(?:[+-]\d{4})?"
_DT_RANGE_RE = re.compile(rf"^({_DT_TEXT})?-({_DT_TEXT})?$")


def format_dt(moment: datetime) -> str:
    """A DT value in UTC with an explicit offset, e.g. ``20240501143000+0000`` (PS3.5 6.2)."""
    if moment.tzinfo is None:
        raise ValueError("format_dt needs a timezone-aware datetime")
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S") + "+0000"


def parse_dt(text: str, *, upper: bool = False) -> datetime:
    """Parse a (possibly partial) DT; ``upper`` gives the last instant the partial value covers.

    A value without an offset is taken as UTC (the server's convention, documented in the
    plugin). Raises UpsError 400 for text that is not a DT.
    """
    m = _DT_RE.match(text.strip())
    if not m:
        raise UpsError.from_status(INVALID_ATTRIBUTE_VALUE, f"{text!r} is not a DICOM DT")
    year, month, day, hour, minute, second, frac, offset = m.groups()
    tz = UTC
    if offset:
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
    try:
        start = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((frac or "0").ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:
        raise UpsError.from_status(INVALID_ATTRIBUTE_VALUE, f"{text!r} is not a date") from None
    if not upper:
        return start
    if frac:
        end = start + timedelta(microseconds=10 ** (6 - len(frac)))
    elif second:
        end = start + timedelta(seconds=1)
    elif minute:
        end = start + timedelta(minutes=1)
    elif hour:
        end = start + timedelta(hours=1)
    elif day:
        end = start + timedelta(days=1)
    elif month:
        end = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    else:
        end = start.replace(year=start.year + 1)
    return end - timedelta(microseconds=1)


# -- DICOM JSON (PS3.18 Annex F) ----------------------------------------------------------------

# keyword -> (tag, VR) of every attribute the worklist reads, writes or lets clients search.
ATTRIBUTES: dict[str, tuple[str, str]] = {
    "SpecificCharacterSet": ("00080005", "CS"),
    "SOPClassUID": ("00080016", "UI"),
    "SOPInstanceUID": ("00080018", "UI"),
    "AccessionNumber": ("00080050", "SH"),
    "IssuerOfAccessionNumberSequence": ("00080051", "SQ"),
    "RetrieveAETitle": ("00080054", "AE"),
    "Modality": ("00080060", "CS"),
    "InstitutionName": ("00080080", "LO"),
    "ReferringPhysicianName": ("00080090", "PN"),
    "StudyDate": ("00080020", "DA"),
    "StudyTime": ("00080030", "TM"),
    "ModalitiesInStudy": ("00080061", "CS"),
    "CodeValue": ("00080100", "SH"),
    "CodingSchemeDesignator": ("00080102", "SH"),
    "CodeMeaning": ("00080104", "LO"),
    "LongCodeValue": ("00080119", "UC"),
    "StudyDescription": ("00081030", "LO"),
    "AdmittingDiagnosesDescription": ("00081080", "LO"),
    "ReferencedSeriesSequence": ("00081115", "SQ"),
    "ReferencedSOPClassUID": ("00081150", "UI"),
    "ReferencedSOPInstanceUID": ("00081155", "UI"),
    "RetrieveURL": ("00081190", "UR"),
    "TransactionUID": ("00081195", "UI"),
    "ReferencedSOPSequence": ("00081199", "SQ"),
    "PatientName": ("00100010", "PN"),
    "PatientID": ("00100020", "LO"),
    "IssuerOfPatientID": ("00100021", "LO"),
    "PatientBirthDate": ("00100030", "DA"),
    "PatientSex": ("00100040", "CS"),
    "BodyPartExamined": ("00180015", "CS"),
    "StudyInstanceUID": ("0020000D", "UI"),
    "SeriesInstanceUID": ("0020000E", "UI"),
    "NumberOfStudyRelatedInstances": ("00201208", "IS"),
    "RequestedProcedureDescription": ("00321060", "LO"),
    "RequestingPhysician": ("00321032", "PN"),
    "RequestingService": ("00321033", "LO"),
    "RequestedProcedureCodeSequence": ("00321064", "SQ"),
    "CommentsOnTheScheduledProcedureStep": ("00400400", "LT"),
    "RequestedProcedureID": ("00401001", "SH"),
    "RequestedProcedurePriority": ("00401003", "SH"),
    "ScheduledProcedureStepStartDateTime": ("00404005", "DT"),
    "ScheduledProcedureStepExpirationDateTime": ("00404008", "DT"),
    "HumanPerformerCodeSequence": ("00404009", "SQ"),
    "ScheduledProcedureStepModificationDateTime": ("00404010", "DT"),
    "ExpectedCompletionDateTime": ("00404011", "DT"),
    "ScheduledWorkitemCodeSequence": ("00404018", "SQ"),
    "PerformedWorkitemCodeSequence": ("00404019", "SQ"),
    "InputInformationSequence": ("00404021", "SQ"),
    "ScheduledStationNameCodeSequence": ("00404025", "SQ"),
    "ScheduledStationClassCodeSequence": ("00404026", "SQ"),
    "ScheduledStationGeographicLocationCodeSequence": ("00404027", "SQ"),
    "PerformedStationNameCodeSequence": ("00404028", "SQ"),
    "OutputInformationSequence": ("00404033", "SQ"),
    "ScheduledHumanPerformersSequence": ("00404034", "SQ"),
    "ActualHumanPerformersSequence": ("00404035", "SQ"),
    "HumanPerformerOrganization": ("00404036", "LO"),
    "HumanPerformerName": ("00404037", "PN"),
    "InputReadinessState": ("00404041", "CS"),
    "PerformedProcedureStepStartDateTime": ("00404050", "DT"),
    "PerformedProcedureStepEndDateTime": ("00404051", "DT"),
    "ProcedureStepCancellationDateTime": ("00404052", "DT"),
    "ReferencedRequestSequence": ("0040A370", "SQ"),
    "TypeOfInstances": ("0040E020", "CS"),
    "DICOMRetrievalSequence": ("0040E021", "SQ"),
    "WADORSRetrievalSequence": ("0040E025", "SQ"),
    "ProcedureStepState": ("00741000", "CS"),
    "ProcedureStepProgressInformationSequence": ("00741002", "SQ"),
    "ProcedureStepProgress": ("00741004", "DS"),
    "ProcedureStepProgressDescription": ("00741006", "ST"),
    "ProcedureStepCommunicationsURISequence": ("00741008", "SQ"),
    "ContactURI": ("0074100A", "UR"),
    "ContactDisplayName": ("0074100C", "LO"),
    "ProcedureStepDiscontinuationReasonCodeSequence": ("0074100E", "SQ"),
    "ScheduledProcedureStepPriority": ("00741200", "CS"),
    "WorklistLabel": ("00741202", "LO"),
    "ProcedureStepLabel": ("00741204", "LO"),
    "ScheduledProcessingParametersSequence": ("00741210", "SQ"),
    "PerformedProcessingParametersSequence": ("00741212", "SQ"),
    "UnifiedProcedureStepPerformedProcedureSequence": ("00741216", "SQ"),
    "ReplacedProcedureStepSequence": ("00741224", "SQ"),
    "ReasonForCancellation": ("00741238", "LT"),
}
KEYWORD_BY_TAG: dict[str, str] = {tag: kw for kw, (tag, _vr) in ATTRIBUTES.items()}
_TAG_RE = re.compile(r"^[0-9A-Fa-f]{8}$")

# Search keys accepted as shorthands (documented in the plugin): the UPS IOD keeps the
# accession number inside the Referenced Request Sequence (PS3.4 Table CC.2.5-3).
SEARCH_ALIASES: dict[str, str] = {
    "AccessionNumber": "ReferencedRequestSequence.AccessionNumber",
    "00080050": "ReferencedRequestSequence.AccessionNumber",
}

Dataset = dict[str, Any]


def tag_of(name: str) -> str:
    """The 8-hex-digit tag for a keyword or a tag; UpsError 400 for an unknown name."""
    if _TAG_RE.match(name):
        return name.upper()
    try:
        return ATTRIBUTES[name][0]
    except KeyError:
        raise UpsError.from_status(NO_SUCH_ATTRIBUTE, f"unknown attribute {name!r}") from None


def vr_of(tag: str, dataset: Mapping[str, Any] | None = None) -> str:
    """The VR of ``tag``: from the element when present, else from the dictionary, else UN."""
    if dataset is not None and isinstance(dataset.get(tag), Mapping):
        vr = dataset[tag].get("vr")
        if isinstance(vr, str):
            return vr
    keyword = KEYWORD_BY_TAG.get(tag)
    return ATTRIBUTES[keyword][1] if keyword else "UN"


PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")  # PS3.5 6.2.1, PS3.18 F.2.2


def pn_object(text: str) -> dict[str, str]:
    """A person name string ``"A=I=P"`` (PS3.5 6.2.1: up to three component groups, e.g. a
    Latin and an Arabic writing) as its DICOM JSON object (PS3.18 F.2.2), one key per group
    that is not empty."""
    groups = text.split("=")[:3]
    return {key: group for key, group in zip(PN_GROUPS, groups, strict=False) if group}


def pn_string(value: Any) -> str:
    """A person name value, JSON object or string, as the ``"A=I=P"`` string (trailing empty
    groups dropped). An object an older plugin wrote, ``{"Alphabetic": "A=I"}``, reads the
    same as ``{"Alphabetic": "A", "Ideographic": "I"}``."""
    if not isinstance(value, Mapping):
        return "" if value is None else str(value)
    groups = [str(value.get(key, "") or "") for key in PN_GROUPS]
    while groups and not groups[-1]:
        groups.pop()
    return "=".join(groups)


def element(keyword: str, *values: Any) -> dict[str, Any]:
    """A DICOM JSON element; PN strings become their object (:func:`pn_object`); no values,
    no Value."""
    _tag, vr = ATTRIBUTES[keyword]
    kept = [v for v in values if v is not None and v != ""]
    if not kept:
        return {"vr": vr}
    if vr == "PN":
        kept = [v if isinstance(v, Mapping) else pn_object(str(v)) for v in kept]
    return {"vr": vr, "Value": list(kept)}


def dataset_of(**elements: Any) -> Dataset:
    """A DICOM JSON dataset from keyword=value(s); a list value is a multi-valued element.

    Sequences take a list of datasets; None leaves the attribute out; "" makes it empty.
    """
    out: Dataset = {}
    for keyword, value in elements.items():
        if value is None:
            continue
        tag = ATTRIBUTES[keyword][0]
        if isinstance(value, list | tuple):
            out[tag] = element(keyword, *value)
        else:
            out[tag] = element(keyword, value)
    return dict(sorted(out.items()))


def values(dataset: Mapping[str, Any], name: str) -> list[Any]:
    """The values of a top-level attribute (keyword or tag); PN values as "A=I=P" strings."""
    elem = dataset.get(tag_of(name))
    if not isinstance(elem, Mapping):
        return []
    vals = elem.get("Value") or []
    if elem.get("vr") == "PN":
        return [pn_string(v) for v in vals]
    return list(vals)


def first(dataset: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """The first value of a top-level attribute, or ``default``."""
    vals = values(dataset, name)
    return vals[0] if vals else default


def items(dataset: Mapping[str, Any], name: str) -> list[Dataset]:
    """The items of a sequence attribute (empty when absent or empty)."""
    return [dict(v) for v in values(dataset, name) if isinstance(v, Mapping)]


def code_item(code_value: str, scheme: str, meaning: str) -> Dataset:
    """A Code Sequence item (PS3.3 Table 8.8-1); values over 16 characters use Long Code Value."""
    if len(code_value) > 16:
        return dataset_of(
            LongCodeValue=code_value, CodingSchemeDesignator=scheme, CodeMeaning=meaning
        )
    return dataset_of(CodeValue=code_value, CodingSchemeDesignator=scheme, CodeMeaning=meaning)


def code_value(item: Mapping[str, Any]) -> str | None:
    """Code Value or Long Code Value of a code item."""
    return first(item, "CodeValue") or first(item, "LongCodeValue")


def parse_dataset_body(body: bytes) -> Dataset:
    """A request body in DICOM JSON: one dataset, or an array holding exactly one (UpsError 400)."""
    try:
        data = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UpsError("the request body is not JSON", http_status=400) from None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        raise UpsError("the request body must be one DICOM JSON dataset", http_status=400)
    out: Dataset = {}
    for tag, elem in data.items():
        if not _TAG_RE.match(tag) or not isinstance(elem, Mapping) or "vr" not in elem:
            raise UpsError(
                f"DICOM JSON element {tag!r} needs an 8-hex-digit tag and a vr (PS3.18 F.2)",
                http_status=400,
            )
        if "Value" in elem and not isinstance(elem["Value"], list):
            raise UpsError(
                f"DICOM JSON element {tag} has a Value that is not a list", http_status=400
            )
        out[tag.upper()] = dict(elem)
    return out


# -- search (PS3.18 §11.9, matching per PS3.4 C.2.2.2) ------------------------------------------

DEFAULT_SEARCH_ATTRIBUTES: tuple[str, ...] = (
    "SpecificCharacterSet",
    "SOPClassUID",
    "SOPInstanceUID",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "ReferencedRequestSequence",
    "ProcedureStepState",
    "ScheduledProcedureStepPriority",
    "WorklistLabel",
    "ProcedureStepLabel",
    "ScheduledProcedureStepStartDateTime",
    "ScheduledProcedureStepModificationDateTime",
    "ExpectedCompletionDateTime",
    "ScheduledWorkitemCodeSequence",
    "ScheduledStationNameCodeSequence",
    "ScheduledHumanPerformersSequence",
    "InputReadinessState",
)
_RESERVED_PARAMS = {"limit", "offset", "includefield", "fuzzymatching"}


@dataclass(frozen=True, slots=True)
class Criterion:
    """One matching key: a path of tags (sequences first) and the query value."""

    path: tuple[str, ...]
    value: str


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A parsed Search Workitems request; ``include`` None means every attribute."""

    criteria: tuple[Criterion, ...] = ()
    include: frozenset[str] | None = frozenset()
    limit: int | None = None
    offset: int = 0
    fuzzy_requested: bool = False

    def exact(self, keyword: str) -> str | None:
        """The value of a top-level single-value criterion (for pre-filtering in SQL)."""
        tag = ATTRIBUTES[keyword][0]
        for c in self.criteria:
            if c.path == (tag,) and c.value and not set(c.value) & set("*?\\,-"):
                return c.value
        return None


def parse_path(key: str) -> tuple[str, ...]:
    """``A.B.C`` of keywords or tags to a tuple of tags (PS3.18 8.3.4.1 attribute paths)."""
    key = SEARCH_ALIASES.get(key, key)
    return tuple(tag_of(part) for part in key.split(".") if part)


def _nonneg_int(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise UpsError(f"{name} must be a non-negative integer, not {text!r}", http_status=400)
    return value


def parse_search_query(params: Mapping[str, str]) -> SearchQuery:
    """Parse query parameters; ``includefield`` takes a comma-separated list or ``all``."""
    criteria: list[Criterion] = []
    include: set[str] | None = set()
    limit: int | None = None
    offset = 0
    fuzzy = False
    for key, raw in params.items():
        value = raw if isinstance(raw, str) else str(raw)
        if key == "limit":
            limit = _nonneg_int("limit", value)
        elif key == "offset":
            offset = _nonneg_int("offset", value)
        elif key == "fuzzymatching":
            fuzzy = value.strip().lower() == "true"
        elif key == "includefield":
            for part in value.split(","):
                part = part.strip()
                if not part:
                    continue
                if part == "all":
                    include = None
                elif include is not None:
                    include.add(parse_path(part)[0])
        else:
            path = parse_path(key)
            if not path:
                raise UpsError(f"empty search key {key!r}", http_status=400)
            if vr_of(path[-1]) == "DT":
                value = value.replace(" ", "+")  # a form-decoded "+0100" offset; DT has no spaces
            criteria.append(Criterion(path, value))
    return SearchQuery(
        criteria=tuple(criteria),
        include=None if include is None else frozenset(include),
        limit=limit,
        offset=offset,
        fuzzy_requested=fuzzy,
    )


def dt_bounds(query: str) -> tuple[datetime | None, datetime | None]:
    """The first and last instant a DT matching key covers: ``A-B``, ``A-``, ``-B`` or a
    single (possibly partial) value (PS3.4 C.2.2.2.5); None for an open end. UpsError 400 for
    text that is not a DT."""
    rng = _DT_RANGE_RE.match(query)
    if rng:
        low, high = rng.group(1), rng.group(2)
        return (parse_dt(low) if low else None, parse_dt(high, upper=True) if high else None)
    return parse_dt(query), parse_dt(query, upper=True)


def _wildcard(pattern: str, text: str, *, ignore_case: bool) -> bool:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch(regex, text, flags) is not None


def _match_scalar(vr: str, query: str, value: Any) -> bool:
    if vr == "PN":
        # A name is found by any of its writings (component groups) as well as whole:
        # "الرشيد*" finds "Al-Rashid^Omar=الرشيد^عمر"; a query with "=" matches it whole.
        whole = pn_string(value)
        texts = [whole] if "=" in query or "=" not in whole else [whole, *whole.split("=")]
        return any(_match_text(vr, query, text.rstrip(" ")) for text in texts)
    text = pn_string(value) if isinstance(value, Mapping) else "" if value is None else str(value)
    return _match_text(vr, query, text.rstrip(" "))


def _match_text(vr: str, query: str, text: str) -> bool:
    if vr == "UI":
        return text in {u.strip() for u in re.split(r"[,\\]", query) if u.strip()}
    if vr == "DT":
        low, high = dt_bounds(query)
        moment = parse_dt(text)
        return (low is None or low <= moment) and (high is None or moment <= high)
    if vr in ("DA", "TM"):
        rng = re.match(r"^([\d.]*)-([\d.]*)$", query)
        if rng:
            low_text, high_text = rng.group(1), rng.group(2)
            return (not low_text or low_text <= text) and (
                not high_text or text <= high_text + "\uffff"
            )
        return text.startswith(query)
    if "*" in query or "?" in query:
        return _wildcard(query, text, ignore_case=vr == "PN")
    if vr == "PN":
        return text.casefold() == query.casefold()
    return text == query


def _match_path(dataset: Mapping[str, Any], path: Sequence[str], query: str) -> bool:
    tag = path[0]
    elem = dataset.get(tag)
    if len(path) > 1:
        if not isinstance(elem, Mapping):
            return False
        return any(
            isinstance(item, Mapping) and _match_path(item, path[1:], query)
            for item in elem.get("Value") or []
        )
    if query == "":
        return True  # universal matching
    if not isinstance(elem, Mapping):
        return False
    vr = vr_of(tag, dataset)
    return any(_match_scalar(vr, query, v) for v in elem.get("Value") or [])


def matches(dataset: Mapping[str, Any], criteria: Iterable[Criterion]) -> bool:
    """Whether a workitem matches every criterion (PS3.4 C.2.2.2).

    Single value (exact; PN ignores case), wildcard ``*``/``?``, UID list (comma or
    backslash), DA/DT/TM range ``A-B``, universal (empty), sequence matching (any item). Each
    key inside one sequence is matched on its own, not necessarily in the same item.
    """
    return all(_match_path(dataset, c.path, c.value) for c in criteria)


def select_attributes(dataset: Mapping[str, Any], query: SearchQuery) -> Dataset:
    """The attributes a search returns: defaults, ``includefield`` and the matching keys.

    The Transaction UID (0008,1195) is never returned (PS3.4 CC.2.5.1.2).
    """
    tx = ATTRIBUTES["TransactionUID"][0]
    if query.include is None:
        keep = set(dataset)
    else:
        keep = {ATTRIBUTES[k][0] for k in DEFAULT_SEARCH_ATTRIBUTES} | set(query.include)
        keep |= {c.path[0] for c in query.criteria}
    return {t: dataset[t] for t in sorted(keep) if t in dataset and t != tx}


def without_transaction_uid(dataset: Mapping[str, Any]) -> Dataset:
    """A copy of ``dataset`` lacking the Transaction UID (never sent back, PS3.18 §11.6.3)."""
    tx = ATTRIBUTES["TransactionUID"][0]
    return {t: v for t, v in dataset.items() if t != tx}


# -- configuration of the reading network ------------------------------------------------------


class Role(enum.StrEnum):
    """What a worklist user may do; Orthanc's HTTP users map to one of these."""

    RADIOLOGIST = "radiologist"
    LEAD = "lead"
    ADMIN = "admin"


class Permission(enum.Enum):
    VIEW_ALL = "see every workitem"
    VIEW_OWN = "see own and unassigned pool workitems"
    CREATE = "create workitems"
    ASSIGN = "assign, reassign and reprioritise scheduled workitems"
    CLAIM = "claim workitems"
    PERFORM = "update and complete held workitems"
    CANCEL = "cancel workitems"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.RADIOLOGIST: frozenset({Permission.VIEW_OWN, Permission.CLAIM, Permission.PERFORM}),
    Role.LEAD: frozenset(
        {
            Permission.VIEW_ALL,
            Permission.CREATE,
            Permission.ASSIGN,
            Permission.CLAIM,
            Permission.PERFORM,
            Permission.CANCEL,
        }
    ),
    # Administrators manage the queue but do not read: no claim, no completion.
    Role.ADMIN: frozenset(
        {Permission.VIEW_ALL, Permission.CREATE, Permission.ASSIGN, Permission.CANCEL}
    ),
}


@dataclass(frozen=True, slots=True)
class WorklistUser:
    """A worklist user: the Orthanc HTTP user name, role, pools and performer code."""

    name: str
    role: Role
    pools: frozenset[str] = frozenset()
    performer_code: str | None = None
    display_name: str = ""
    organization: str = ""

    def may(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def may_claim_in(self, pool: str | None) -> bool:
        """Whether the user claims from ``pool`` at all (leads from every pool)."""
        if not self.may(Permission.CLAIM):
            return False
        return self.may(Permission.VIEW_ALL) or (pool is not None and pool in self.pools)

    def can_see(self, performer_code: str | None, pool: str | None) -> bool:
        """Radiologists see their own items and unassigned items of their pools; others all."""
        if self.may(Permission.VIEW_ALL):
            return True
        if performer_code:
            return performer_code == self.performer_code
        return pool is not None and pool in self.pools


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """Pool routing: the first rule whose every given criterion matches picks the pool.

    Criteria are any-of lists: modalities, body parts (compared in upper case) and words of
    the study description (case-insensitive substring).
    """

    pool: str
    modalities: frozenset[str] = frozenset()
    body_parts: frozenset[str] = frozenset()
    description_words: tuple[str, ...] = ()

    def matches(
        self, modalities: Iterable[str], body_parts: Iterable[str], description: str
    ) -> bool:
        mods = {m.upper() for m in modalities}
        parts = {b.upper() for b in body_parts}
        if self.modalities and not self.modalities & mods:
            return False
        if self.body_parts and not self.body_parts & parts:
            return False
        text = description.casefold()
        return not self.description_words or any(w in text for w in self.description_words)


def route_pool(
    modalities: Iterable[str],
    body_parts: Iterable[str],
    description: str,
    rules: Sequence[RoutingRule],
    default_pool: str,
) -> str:
    """The reading pool (Procedure Step Label) for a study: first matching rule, else default."""
    mods, parts = list(modalities), list(body_parts)
    for rule in rules:
        if rule.matches(mods, parts, description):
            return rule.pool
    return default_pool


@dataclass(frozen=True, slots=True)
class WorklistConfig:
    """The reading network's worklist settings (``server/orthanc/worklist.json``)."""

    pools: tuple[str, ...]
    default_pool: str
    routing: tuple[RoutingRule, ...] = ()
    priority_map: Mapping[str, UpsPriority] = field(default_factory=lambda: DEFAULT_PRIORITY_MAP)
    default_priority: UpsPriority = UpsPriority.LOW
    turnaround_minutes: Mapping[UpsPriority, float] = field(
        default_factory=lambda: DEFAULT_TURNAROUND_MINUTES
    )
    users: Mapping[str, WorklistUser] = field(default_factory=dict)
    performer_scheme: str = "99TELERAD"
    worklist_label: str = "Reading"
    ignore_modalities: frozenset[str] = frozenset({"SR", "KO", "PR"})
    institutions: Mapping[str, str] = field(default_factory=dict)
    lead_cancels_in_progress: bool = True

    def user(self, name: str | None) -> WorklistUser | None:
        return self.users.get(name) if name else None

    def user_by_code(self, performer_code: str) -> WorklistUser | None:
        for u in self.users.values():
            if u.performer_code == performer_code:
                return u
        return None

    def institution_code(self, institution_name: str) -> str:
        """Site code of a sending hospital: the configured one, else derived from its name."""
        name = institution_name.strip()
        if name in self.institutions:
            return self.institutions[name]
        derived = re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")
        return derived[:16] or "UNKNOWN"


SCHEMA_VERSION = 1


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: must be a list of non-empty strings")
    return list(value)


def load_worklist_config(
    data: Mapping[str, Any], source: str = "worklist config"
) -> WorklistConfig:
    """Validate a worklist.json mapping into a WorklistConfig; ConfigError names file and key."""

    def where(key: str) -> str:
        return f"{source}: key '{key}'"

    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: must be a JSON object")
    version = data.get("SchemaVersion", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ConfigError(f"{where('SchemaVersion')}: {version!r} is not supported (use 1)")
    pools = _strings(data.get("Pools", []), where("Pools"))
    if not pools:
        raise ConfigError(f"{where('Pools')}: at least one pool is needed")
    default_pool = data.get("DefaultPool", pools[0])
    if default_pool not in pools:
        raise ConfigError(f"{where('DefaultPool')}: {default_pool!r} is not one of Pools")

    routing: list[RoutingRule] = []
    raw_rules = data.get("Routing", [])
    if not isinstance(raw_rules, list):
        raise ConfigError(f"{where('Routing')}: must be a list of rules")
    for i, rule in enumerate(raw_rules):
        key = f"Routing[{i}]"
        if not isinstance(rule, Mapping) or rule.get("Pool") not in pools:
            raise ConfigError(f"{where(key + '.Pool')}: must name one of Pools")
        unknown = set(rule) - {"Pool", "Modalities", "BodyParts", "DescriptionWords"}
        if unknown:
            raise ConfigError(f"{where(key)}: unknown keys {sorted(unknown)}")
        routing.append(
            RoutingRule(
                pool=rule["Pool"],
                modalities=frozenset(
                    m.upper() for m in _strings(rule.get("Modalities", []), where(key))
                ),
                body_parts=frozenset(
                    b.upper() for b in _strings(rule.get("BodyParts", []), where(key))
                ),
                description_words=tuple(
                    w.casefold() for w in _strings(rule.get("DescriptionWords", []), where(key))
                ),
            )
        )

    priority_map = dict(DEFAULT_PRIORITY_MAP)
    raw_map = data.get("PriorityMap", {})
    if not isinstance(raw_map, Mapping):
        raise ConfigError(
            f"{where('PriorityMap')}: must map requested priorities to HIGH/MEDIUM/LOW"
        )
    for requested, ups_priority in raw_map.items():
        try:
            priority_map[str(requested).strip().upper()] = UpsPriority(ups_priority)
        except ValueError:
            raise ConfigError(
                f"{where('PriorityMap.' + str(requested))}: {ups_priority!r} is not "
                "HIGH, MEDIUM or LOW"
            ) from None
    try:
        default_priority = UpsPriority(data.get("DefaultPriority", "LOW"))
    except ValueError:
        raise ConfigError(f"{where('DefaultPriority')}: must be HIGH, MEDIUM or LOW") from None

    turnaround = dict(DEFAULT_TURNAROUND_MINUTES)
    raw_tat = data.get("TurnaroundMinutes", {})
    if not isinstance(raw_tat, Mapping):
        raise ConfigError(f"{where('TurnaroundMinutes')}: must map HIGH/MEDIUM/LOW to minutes")
    for prio, minutes in raw_tat.items():
        try:
            p = UpsPriority(prio)
        except ValueError:
            raise ConfigError(
                f"{where('TurnaroundMinutes.' + str(prio))}: not HIGH, MEDIUM or LOW"
            ) from None
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes <= 0:
            raise ConfigError(f"{where('TurnaroundMinutes.' + p.value)}: must be a positive number")
        turnaround[p] = float(minutes)

    users: dict[str, WorklistUser] = {}
    raw_users = data.get("Users", {})
    if not isinstance(raw_users, Mapping):
        raise ConfigError(f"{where('Users')}: must map Orthanc user names to roles")
    codes: set[str] = set()
    for name, entry in raw_users.items():
        key = f"Users.{name}"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where(key)}: must be an object with a Role")
        try:
            role = Role(str(entry.get("Role")))
        except ValueError:
            raise ConfigError(
                f"{where(key + '.Role')}: must be one of {', '.join(r.value for r in Role)}"
            ) from None
        user_pools = _strings(entry.get("Pools", []), where(key + ".Pools"))
        bad = [p for p in user_pools if p not in pools]
        if bad:
            raise ConfigError(f"{where(key + '.Pools')}: {bad} are not in Pools")
        code = entry.get("PerformerCode")
        if role is not Role.ADMIN and not (isinstance(code, str) and code):
            raise ConfigError(f"{where(key + '.PerformerCode')}: readers need a performer code")
        if code is not None:
            if not isinstance(code, str) or len(code) > 16:
                raise ConfigError(f"{where(key + '.PerformerCode')}: at most 16 characters")
            if code in codes:
                raise ConfigError(f"{where(key + '.PerformerCode')}: {code!r} is used twice")
            codes.add(code)
        users[name] = WorklistUser(
            name=name,
            role=role,
            pools=frozenset(user_pools),
            performer_code=code,
            display_name=str(entry.get("Name", "")),
            organization=str(entry.get("Organization", "")),
        )

    institutions = data.get("Institutions", {})
    if not isinstance(institutions, Mapping) or not all(
        isinstance(v, str) and 0 < len(v) <= 16 for v in institutions.values()
    ):
        raise ConfigError(f"{where('Institutions')}: must map names to codes of 1-16 characters")
    lead_cancels = data.get("LeadCancelsInProgress", True)
    if not isinstance(lead_cancels, bool):
        raise ConfigError(f"{where('LeadCancelsInProgress')}: must be true or false")
    return WorklistConfig(
        pools=tuple(pools),
        default_pool=default_pool,
        routing=tuple(routing),
        priority_map=priority_map,
        default_priority=default_priority,
        turnaround_minutes=turnaround,
        users=users,
        performer_scheme=str(data.get("PerformerCodingScheme", "99TELERAD")),
        worklist_label=str(data.get("WorklistLabel", "Reading")),
        ignore_modalities=frozenset(
            m.upper()
            for m in _strings(
                data.get("IgnoreModalities", ["SR", "KO", "PR"]), where("IgnoreModalities")
            )
        ),
        institutions=dict(institutions),
        lead_cancels_in_progress=lead_cancels,
    )


# -- the reading workitem of a study ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeriesFacts:
    """What the worklist needs of one series: UID, modality, body part, (SOP class, SOP UID)s."""

    series_instance_uid: str
    modality: str = ""
    body_part_examined: str = ""
    instances: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class StudyFacts:
    """What the worklist needs of a stable study to create its reading workitem."""

    study_instance_uid: str
    accession_number: str = ""
    patient_name: str = ""
    patient_id: str = ""
    issuer_of_patient_id: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    institution_name: str = ""
    study_description: str = ""
    requested_procedure_priority: str = ""
    series: tuple[SeriesFacts, ...] = ()
    study_date: str = ""  # YYYYMMDD
    study_time: str = ""  # HHMMSS[.ffffff]
    referring_physician_name: str = ""
    requesting_physician: str = ""
    requesting_service: str = ""
    requested_procedure_description: str = ""  # of the order; the study's description if empty

    @property
    def modalities(self) -> list[str]:
        return sorted({s.modality.upper() for s in self.series if s.modality})

    @property
    def body_parts(self) -> list[str]:
        return sorted({s.body_part_examined.upper() for s in self.series if s.body_part_examined})


def reading_workitem_uid(study_instance_uid: str) -> str:
    """The SOP Instance UID of a study's reading workitem: the same on every server (2.25 form)."""
    return "2.25." + str(uuid.uuid5(_UID_NAMESPACE, "reading:" + study_instance_uid).int)


def performer_item(user: WorklistUser, scheme: str) -> Dataset:
    """A Scheduled/Actual Human Performers Sequence item for ``user`` (PS3.4 Table CC.2.5-3)."""
    return dataset_of(
        HumanPerformerCodeSequence=[
            code_item(user.performer_code or user.name, scheme, user.display_name or user.name)
        ],
        HumanPerformerName=user.display_name or None,
        HumanPerformerOrganization=user.organization or None,
    )


def performer_code(dataset: Mapping[str, Any]) -> str | None:
    """Code of the (first) scheduled human performer: the assigned reader, or None."""
    for item in items(dataset, "ScheduledHumanPerformersSequence"):
        for code in items(item, "HumanPerformerCodeSequence"):
            value = code_value(code)
            if value:
                return str(value)
    return None


def build_reading_workitem(
    facts: StudyFacts,
    config: WorklistConfig,
    *,
    now: datetime,
    sop_instance_uid: str | None = None,
    retrieve_aet: str = "",
    retrieve_base_url: str = "",
) -> Dataset | None:
    """The SCHEDULED reading workitem of a stable study, or None when only ignored modalities.

    Priority comes from the study's Requested Procedure Priority through the site map, the
    pool from the routing rules, the due time from the turnaround targets. Where the UPS IOD
    has a place (PS3.4 Table CC.2.5-3), facts go there: the sending hospital as a site code in
    Scheduled Station Name Code Sequence, the order (accession, requested procedure
    description, requesting physician and service) in Referenced Request Sequence, the images
    in Input Information Sequence. What the IOD has no place for is added by
    :func:`study_summary_attributes` as top-level General Study attributes (a Standard
    Extended SOP Class, PS3.4 B.1.3 / PS3.2 A.1.1.3): modalities, body part, study date and
    time, image count, study description, referring physician.
    """
    kept = [s for s in facts.series if s.modality.upper() not in config.ignore_modalities]
    if not kept:
        return None
    modalities = sorted({s.modality.upper() for s in kept if s.modality})
    body_parts = sorted({s.body_part_examined.upper() for s in kept if s.body_part_examined})
    priority = map_priority(
        facts.requested_procedure_priority, config.priority_map, config.default_priority
    )
    pool = route_pool(
        modalities, body_parts, facts.study_description, config.routing, config.default_pool
    )
    due = expected_completion(now, priority, config.turnaround_minutes)
    base = retrieve_base_url.rstrip("/")
    inputs = []
    for s in facts.series:
        inputs.append(
            dataset_of(
                TypeOfInstances="DICOM",
                StudyInstanceUID=facts.study_instance_uid,
                SeriesInstanceUID=s.series_instance_uid,
                ReferencedSOPSequence=[
                    dataset_of(ReferencedSOPClassUID=cls, ReferencedSOPInstanceUID=sop)
                    for cls, sop in s.instances
                ],
                DICOMRetrievalSequence=[dataset_of(RetrieveAETitle=retrieve_aet)]
                if retrieve_aet
                else None,
                WADORSRetrievalSequence=[
                    dataset_of(
                        RetrieveURL=f"{base}/studies/{facts.study_instance_uid}"
                        f"/series/{s.series_instance_uid}"
                    )
                ]
                if base
                else None,
            )
        )
    institution = facts.institution_name.strip()
    out = dataset_of(
        SpecificCharacterSet="ISO_IR 192",
        SOPClassUID=UPS_PUSH_SOP_CLASS_UID,
        SOPInstanceUID=sop_instance_uid or reading_workitem_uid(facts.study_instance_uid),
        PatientName=facts.patient_name,
        PatientID=facts.patient_id,
        IssuerOfPatientID=facts.issuer_of_patient_id or None,
        PatientBirthDate=facts.patient_birth_date,
        PatientSex=facts.patient_sex,
        StudyInstanceUID=facts.study_instance_uid,
        ReferencedRequestSequence=[
            dataset_of(
                StudyInstanceUID=facts.study_instance_uid,
                AccessionNumber=facts.accession_number,
                IssuerOfAccessionNumberSequence=[],
                RequestedProcedureID="",
                RequestedProcedureDescription=facts.requested_procedure_description.strip()
                or facts.study_description,
                RequestedProcedureCodeSequence=[],
                RequestingPhysician=facts.requesting_physician.strip() or None,
                RequestingService=facts.requesting_service.strip() or None,
            )
        ],
        ProcedureStepState=ProcedureStepState.SCHEDULED.value,
        ScheduledProcedureStepPriority=priority.value,
        WorklistLabel=config.worklist_label,
        ProcedureStepLabel=pool,
        ScheduledProcedureStepStartDateTime=format_dt(now),
        ScheduledProcedureStepModificationDateTime=format_dt(now),
        ExpectedCompletionDateTime=format_dt(due),
        ScheduledWorkitemCodeSequence=[code_item(*READING_WORKITEM_CODE)],
        ScheduledStationNameCodeSequence=[
            code_item(config.institution_code(institution), "99TELERAD", institution)
        ]
        if institution
        else [],
        ScheduledHumanPerformersSequence=[],
        InputReadinessState="READY",
        InputInformationSequence=inputs,
    )
    out.update(study_summary_attributes(facts, kept))
    return dict(sorted(out.items()))


# Study facts a reading workitem carries as top-level attributes: the UPS IOD has no place for
# them, the worklist shows them (PS3.3 C.7.2.1 General Study, C.7.2.2 Patient Study).
STUDY_SUMMARY_KEYWORDS: tuple[str, ...] = (
    "ModalitiesInStudy",
    "BodyPartExamined",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "ReferringPhysicianName",
    "NumberOfStudyRelatedInstances",
)


def study_summary_attributes(
    facts: StudyFacts, series: Sequence[SeriesFacts] | None = None
) -> Dataset:
    """Modalities in Study, Body Part Examined, Study Date/Time, Number of Study Related
    Instances, Study Description and Referring Physician's Name of a study, as DICOM JSON.

    ``series`` are the series that are read (default: all); the image count is the number of
    their instances. Body Part Examined holds the first of the series' body parts in
    alphabetical order (it has one value, VM 1). Empty facts are left out.
    """
    chosen = list(facts.series if series is None else series)
    modalities = sorted({s.modality.upper() for s in chosen if s.modality})
    parts = sorted({s.body_part_examined.upper() for s in chosen if s.body_part_examined})
    return dataset_of(
        ModalitiesInStudy=modalities or None,
        BodyPartExamined=parts[0] if parts else None,
        StudyDate=facts.study_date.strip() or None,
        StudyTime=facts.study_time.strip() or None,
        StudyDescription=facts.study_description.strip() or None,
        ReferringPhysicianName=facts.referring_physician_name.strip() or None,
        NumberOfStudyRelatedInstances=sum(len(s.instances) for s in chosen),
    )


@dataclass(frozen=True, slots=True)
class WorkitemIndex:
    """The searchable columns of a stored workitem, read from its dataset."""

    state: ProcedureStepState
    priority: UpsPriority
    pool: str | None
    performer: str | None
    start_utc: float | None
    due_utc: float | None
    patient_id: str | None
    accession_number: str | None
    institution: str | None
    study_instance_uid: str | None

    def columns(self) -> dict[str, Any]:
        """The worklist store's columns of these fields (``server/orthanc/ups_store.py``)."""
        return {
            "state": self.state.value,
            "priority": self.priority.value,
            "pool": self.pool,
            "performer": self.performer,
            "start_utc": self.start_utc,
            "due_utc": self.due_utc,
            "patient_id": self.patient_id,
            "accession_number": self.accession_number,
            "institution": self.institution,
            "study_uid": self.study_instance_uid,
        }


def _epoch(dataset: Mapping[str, Any], keyword: str) -> float | None:
    text = first(dataset, keyword)
    return parse_dt(str(text)).timestamp() if text else None


def index_workitem(dataset: Mapping[str, Any]) -> WorkitemIndex:
    """Read state, priority, pool, performer, times and identifiers of a workitem (UpsError 400)."""
    priority = parse_priority(first(dataset, "ScheduledProcedureStepPriority"))
    accession = None
    for req in items(dataset, "ReferencedRequestSequence"):
        accession = first(req, "AccessionNumber") or accession
    station = None
    for code in items(dataset, "ScheduledStationNameCodeSequence"):
        station = code_value(code) or station
    return WorkitemIndex(
        state=parse_state(first(dataset, "ProcedureStepState")),
        priority=priority,
        pool=first(dataset, "ProcedureStepLabel"),
        performer=performer_code(dataset),
        start_utc=_epoch(dataset, "ScheduledProcedureStepStartDateTime"),
        due_utc=_epoch(dataset, "ExpectedCompletionDateTime"),
        patient_id=first(dataset, "PatientID"),
        accession_number=accession,
        institution=station,
        study_instance_uid=first(dataset, "StudyInstanceUID"),
    )


# -- linked workitems: second reads and hand back replacements ---------------------------------

# A second read is a new UPS of its own, linked to the first one. The link is not the Replaced
# Procedure Step Sequence (0074,1224), which says the new step replaces a discontinued one
# (PS3.3 C.30.2), nor the retired Related Procedure Step Sequence (0074,1220): it is a
# Scheduled Processing Parameters Sequence (0074,1210) of the UPS Scheduled Procedure
# Information Module (PS3.3 C.30.1), whose items are content items (PS3.3 Table 10-2): a CODE
# saying "second opinion" and a UIDREF holding the first workitem's SOP Instance UID.
SECOND_READ_SCHEME = "99TELERAD"
READING_TYPE = ("READ-TYPE", SECOND_READ_SCHEME, "Reading type")
SECOND_OPINION = ("SECOND-OPINION", SECOND_READ_SCHEME, "Second opinion read")
FIRST_READ = ("FIRST-READ-UPS", SECOND_READ_SCHEME, "Workitem under second opinion")
_VALUE_TYPE, _CONCEPT_NAME, _CONCEPT_CODE, _UIDREF = "0040A040", "0040A043", "0040A168", "0040A124"
_DERIVED_NAMESPACE = uuid.UUID("9d1f5c8e-3b7a-4f0e-8c55-7a3c2e1b9f40")
HAND_BACK_REASON = "Handed back to the pool by the reader"

# Attributes that belong to one performance of a workitem, not to what is to be done.
PERFORMANCE_KEYWORDS: tuple[str, ...] = (
    "TransactionUID",
    "ActualHumanPerformersSequence",
    "ProcedureStepProgressInformationSequence",
    "UnifiedProcedureStepPerformedProcedureSequence",
    "ScheduledProcedureStepModificationDateTime",
    "ReplacedProcedureStepSequence",
)


def derived_uid(kind: str, uid: str) -> str:
    """A UID derived from another (hand back, second read): the same on every retry and server."""
    return "2.25." + str(uuid.uuid5(_DERIVED_NAMESPACE, f"{kind}:{uid}").int)


def without(dataset: Mapping[str, Any], keywords: Iterable[str]) -> Dataset:
    """A copy of ``dataset`` without the named top-level attributes."""
    drop = {ATTRIBUTES[k][0] for k in keywords}
    return {t: v for t, v in dataset.items() if t not in drop}


def replacement_dataset(dataset: Mapping[str, Any], new_uid: str) -> Dataset:
    """The SCHEDULED, unassigned workitem replacing a discontinued one (hand back).

    Same patient, request, inputs, pool, priority, start and due time; performance
    attributes are dropped and Replaced Procedure Step Sequence (0074,1224) names the
    original (PS3.4 Table CC.2.5-3, PS3.3 C.30.2).
    """
    out = without(dataset, PERFORMANCE_KEYWORDS)
    old_uid = first(dataset, "SOPInstanceUID")
    out.update(
        dataset_of(
            SOPInstanceUID=new_uid,
            ProcedureStepState=ProcedureStepState.SCHEDULED.value,
            ScheduledHumanPerformersSequence=[],
            ReplacedProcedureStepSequence=[
                dataset_of(
                    ReferencedSOPClassUID=UPS_PUSH_SOP_CLASS_UID,
                    ReferencedSOPInstanceUID=old_uid,
                )
            ],
        )
    )
    return dict(sorted(out.items()))


def second_read_parameters(first_uid: str) -> dict[str, Any]:
    """Scheduled Processing Parameters Sequence linking a second read to ``first_uid``."""
    return {
        "vr": "SQ",
        "Value": [
            {
                _VALUE_TYPE: {"vr": "CS", "Value": ["CODE"]},
                _CONCEPT_NAME: {"vr": "SQ", "Value": [code_item(*READING_TYPE)]},
                _CONCEPT_CODE: {"vr": "SQ", "Value": [code_item(*SECOND_OPINION)]},
            },
            {
                _VALUE_TYPE: {"vr": "CS", "Value": ["UIDREF"]},
                _CONCEPT_NAME: {"vr": "SQ", "Value": [code_item(*FIRST_READ)]},
                _UIDREF: {"vr": "UI", "Value": [first_uid]},
            },
        ],
    }


def second_read_of(dataset: Mapping[str, Any]) -> str | None:
    """The first workitem's UID when ``dataset`` is a second read (by its parameters), else None."""
    for item in items(dataset, "ScheduledProcessingParametersSequence"):
        name = item.get(_CONCEPT_NAME)
        names = name.get("Value") if isinstance(name, Mapping) else None
        if (
            isinstance(names, list)
            and names
            and isinstance(names[0], Mapping)
            and code_value(names[0]) == FIRST_READ[0]
        ):
            ref = item.get(_UIDREF)
            uids = ref.get("Value") if isinstance(ref, Mapping) else None
            return str(uids[0]) if isinstance(uids, list) and uids else None
    return None


def read_worklist_config(path: str | os.PathLike[str]) -> WorklistConfig:
    """The reading network's worklist.json (pools, routing, users), validated; ConfigError names
    the file. Read the same way by the archive (``workstation archive serve``) and by the
    workstation (the UPS-RS worklist, ``workstation check``)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the worklist config {p}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    config = load_worklist_config(data, str(p))
    if not config.users:
        raise ConfigError(f"{p}: key 'Users': at least one user is needed to log in")
    return config


def archive_user(
    site: WorklistConfig, user_name: str, *, site_file: str, archive: str
) -> WorklistUser:
    """The worklist user an archive's credentials log in as; ConfigError naming the file, the
    archive and the users the site knows when the site does not list it."""
    user = site.user(user_name)
    if user is None:
        known = ", ".join(sorted(site.users)) or "none"
        raise ConfigError(
            f"{site_file}: the archive user {user_name!r} of archive {archive!r} is not among "
            f"the worklist's Users ({known})"
        )
    return user
