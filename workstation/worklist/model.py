"""The reading worklist as the workstation shows it: work items read from UPS DICOM JSON, their
order, and the filters a reader or a lead applies (PS3.4 Annex CC, PS3.18 Annex F).

A :class:`WorkItem` is built once from a Unified Procedure Step dataset (a search answer, a
retrieve, or the embedded store) and is frozen, so a refresh can compare old and new rows with
``==``. Worklist order is priority (HIGH first), then due time (Expected Completion DateTime,
PS3.4 Table CC.2.5-3): inside a priority the overdue items come first because they are the
earliest due. It is the order the UPS-RS server answers in, so server paging stays exact.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from pathlib import Path
from typing import Any

from workstation.core import ups
from workstation.core.errors import ConfigError
from workstation.core.ups import ProcedureStepState, UpsPriority, WorklistUser

OPEN_STATES: tuple[ProcedureStepState, ...] = (
    ProcedureStepState.SCHEDULED,
    ProcedureStepState.IN_PROGRESS,
)

# Attributes outside the UPS IOD that a workitem may carry as additional attributes of a
# Standard Extended SOP Class (the embedded backend writes them; a server may add them), read
# by tag because core.ups does not name them.
TAG_MODALITIES_IN_STUDY = "00080061"
TAG_MODALITY = "00080060"
TAG_BODY_PART = "00180015"
TAG_STUDY_DATE = "00080020"
TAG_STUDY_DESCRIPTION = "00081030"
TAG_INSTITUTION_NAME = "00080080"
TAG_NUMBER_OF_STUDY_INSTANCES = "00201208"
TAG_STUDY_TIME = "00080030"
TAG_REFERRING_PHYSICIAN = "00080090"
# Fields a worklist search asks for beyond the UPS-RS defaults (PS3.18 §11.9 includefield): the
# study summary the archive's reading workitems carry (core.ups.STUDY_SUMMARY_KEYWORDS), the
# hand back and second-read links. Not the Input Information Sequence: the image count comes
# from Number of Study Related Instances, so a page stays small.
EXTRA_SEARCH_FIELDS: tuple[str, ...] = (
    TAG_MODALITIES_IN_STUDY,
    TAG_MODALITY,
    TAG_BODY_PART,
    TAG_STUDY_DATE,
    TAG_STUDY_TIME,
    TAG_STUDY_DESCRIPTION,
    TAG_REFERRING_PHYSICIAN,
    TAG_NUMBER_OF_STUDY_INSTANCES,
    "ReplacedProcedureStepSequence",
    "ScheduledProcessingParametersSequence",
)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


# Reading a page of workitems is on the path of every worklist refresh: these read DICOM JSON
# as ups.values/first/items do, by keyword or tag, without copying items (~3x faster).
_TAGS: dict[str, str] = {keyword: tag for keyword, (tag, _vr) in ups.ATTRIBUTES.items()}


def _values(dataset: Mapping[str, Any], name: str) -> list[Any]:
    elem = dataset.get(_TAGS.get(name, name))
    if not isinstance(elem, Mapping):
        return []
    vals = elem.get("Value") or []
    if elem.get("vr") == "PN":
        return [ups.pn_string(v) for v in vals]
    return vals if isinstance(vals, list) else list(vals)


def _first(dataset: Mapping[str, Any], name: str) -> Any:
    vals = _values(dataset, name)
    return vals[0] if vals else None


def _items(dataset: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    return [v for v in _values(dataset, name) if isinstance(v, Mapping)]


def _dt(dataset: Mapping[str, Any], keyword: str) -> datetime | None:
    text = _first(dataset, keyword)
    return ups.parse_dt(str(text)) if text else None


# -- the fast path of from_dicom_json ------------------------------------------------------------
# A page of 100 workitems is decoded on every refresh. These read the shapes a DICOM JSON
# answer has (PS3.18 F.2: objects, lists, strings) by tag with direct dict access and hand
# anything else to the generic helpers above, so the result is the same for every input.
_T = _TAGS.__getitem__
_T_SOP_UID = _T("SOPInstanceUID")
_T_STATE = _T("ProcedureStepState")
_T_PRIORITY = _T("ScheduledProcedureStepPriority")
_T_PERFORMERS = _T("ScheduledHumanPerformersSequence")
_T_PERFORMER_CODE = _T("HumanPerformerCodeSequence")
_T_PERFORMER_NAME = _T("HumanPerformerName")
_T_CODE_VALUE = _T("CodeValue")
_T_LONG_CODE_VALUE = _T("LongCodeValue")
_T_CODE_MEANING = _T("CodeMeaning")
_T_STATIONS = _T("ScheduledStationNameCodeSequence")
_T_STUDY_UID = _T("StudyInstanceUID")
_T_REQUESTS = _T("ReferencedRequestSequence")
_T_ACCESSION = _T("AccessionNumber")
_T_REQUESTED_DESCRIPTION = _T("RequestedProcedureDescription")
_T_INPUTS = _T("InputInformationSequence")
_T_PROCESSING = _T("ScheduledProcessingParametersSequence")
_T_REPLACED = _T("ReplacedProcedureStepSequence")
_T_REFERENCED_SOP_UID = _T("ReferencedSOPInstanceUID")
_T_DUE = _T("ExpectedCompletionDateTime")
_T_START = _T("ScheduledProcedureStepStartDateTime")
_T_LABEL = _T("ProcedureStepLabel")
_T_WORKLIST_LABEL = _T("WorklistLabel")
_T_PATIENT_NAME = _T("PatientName")
_T_PATIENT_ID = _T("PatientID")
_STATES: dict[Any, ProcedureStepState] = {s.value: s for s in ProcedureStepState}
_PRIORITIES: dict[Any, UpsPriority] = {p.value: p for p in UpsPriority}
_DT_CACHE: dict[str, datetime] = {}  # DT text -> parsed; a refresh sees the same values again
_DT_CACHE_MAX = 50_000


def _s(dataset: Mapping[str, Any], tag: str) -> str:
    """``_text(_first(dataset, tag))``: the first value as stripped text, "" when absent."""
    elem = dataset.get(tag)
    if elem is None:
        return ""
    if type(elem) is dict:
        vals = elem.get("Value")
        if vals is None or vals == []:
            return ""
        if type(vals) is list:
            v = vals[0]
            if type(v) is str:  # a PN given as a plain string reads the same (str(v))
                return v.strip()
            if type(v) is dict and elem.get("vr") == "PN":
                if len(v) == 1:  # the common case: one writing, Alphabetic
                    name = v.get("Alphabetic")
                    if type(name) is str:
                        return name.strip()
                return _text(ups.pn_string(v))  # several writings: "A=I=P"
    return _text(_first(dataset, tag))


def _seq(dataset: Mapping[str, Any], tag: str) -> list[Mapping[str, Any]]:
    """``_items(dataset, tag)``: the items of a sequence."""
    elem = dataset.get(tag)
    if elem is None:
        return []
    if type(elem) is dict and elem.get("vr") != "PN":
        vals = elem.get("Value")
        if vals is None:
            return []
        if type(vals) is list:
            return [v for v in vals if type(v) is dict or isinstance(v, Mapping)]
    return _items(dataset, tag)


def _fast_dt(dataset: Mapping[str, Any], tag: str) -> datetime | None:
    """``_dt(dataset, tag)``, with the parsed values cached by their text."""
    elem = dataset.get(tag)
    if elem is None:
        return None
    if type(elem) is dict and elem.get("vr") != "PN":
        vals = elem.get("Value")
        if not vals:
            return None
        if type(vals) is list and type(vals[0]) is str:
            text = vals[0]
            return _cached_dt(text) if text else None
    return _dt(dataset, tag)


def _cached_dt(text: str) -> datetime:
    """``ups.parse_dt(text)`` (UpsError 400 for a broken value), cached by the text."""
    moment = _DT_CACHE.get(text)
    if moment is None:
        moment = ups.parse_dt(text)
        if len(_DT_CACHE) >= _DT_CACHE_MAX:
            _DT_CACHE.clear()
        _DT_CACHE[text] = moment
    return moment


def _plain(value: Any) -> str | None:
    """A value as text for ups.parse_*: a number or list sent for a code string becomes its text
    (refused with UpsError 400 there, not an AttributeError)."""
    return value if value is None or isinstance(value, str) else str(value)


def _f(dataset: Mapping[str, Any], tag: str) -> Any:
    """``_first(dataset, tag)``: the first value as sent (None when absent)."""
    elem = dataset.get(tag)
    if type(elem) is dict and elem.get("vr") != "PN":
        vals = elem.get("Value")
        if type(vals) is list:
            return vals[0] if vals else None
    return _first(dataset, tag)


def _fast_code_parts(item: Mapping[str, Any]) -> tuple[str, str]:
    """``_code_parts(item)``: Long Code Value only when Code Value is absent or empty as sent."""
    value = _f(item, _T_CODE_VALUE) or _f(item, _T_LONG_CODE_VALUE)
    return (value.strip() if type(value) is str else _text(value)), _s(item, _T_CODE_MEANING)


def _code_parts(item: Mapping[str, Any]) -> tuple[str, str]:
    """(code value, code meaning) of a code sequence item."""
    return _text(_first(item, "CodeValue") or _first(item, "LongCodeValue")), _text(
        _first(item, "CodeMeaning")
    )


def _sop_refs(dataset: Mapping[str, Any]) -> tuple[int, str | None, str]:
    """From Input Information Sequence: image count, an input workitem's UID, the study UID.

    A UPS reference among the inputs (class UPS Push) links a second read to its first read;
    it is not an image.
    """
    count = 0
    seen_any = False
    linked: str | None = None
    study = ""
    for item in _items(dataset, "InputInformationSequence"):
        study = study or _text(_first(item, "StudyInstanceUID"))
        for ref in _items(item, "ReferencedSOPSequence"):
            seen_any = True
            if _first(ref, "ReferencedSOPClassUID") == ups.UPS_PUSH_SOP_CLASS_UID:
                linked = linked or _text(_first(ref, "ReferencedSOPInstanceUID")) or None
            else:
                count += 1
    return (count if seen_any else -1), linked, study


def _modality(dataset: Mapping[str, Any]) -> str:
    """Modalities in Study (else Modality), upper case, "/"-joined without repeats."""
    elem = dataset.get(TAG_MODALITIES_IN_STUDY)
    if type(elem) is dict and elem.get("vr") != "PN":
        vals = elem.get("Value")
        if type(vals) is list and len(vals) == 1 and type(vals[0]) is str and vals[0].strip():
            return vals[0].strip().upper()  # the common case: one modality
    modalities = [_text(m) for m in _values(dataset, TAG_MODALITIES_IN_STUDY) if _text(m)] or [
        _text(m) for m in _values(dataset, TAG_MODALITY) if _text(m)
    ]
    return "/".join(dict.fromkeys(m.upper() for m in modalities))


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One reading workitem (a UPS, PS3.4 CC.1) with what the worklist shows of it.

    ``pool`` is the Procedure Step Label, ``hospital_code`` the Scheduled Station Name code of
    the sending hospital, ``performer_code`` the scheduled human performer (the assigned
    reader), ``second_read_of`` the UID of the reading this one gives a second opinion on,
    ``replaces`` the UID of a discontinued workitem this one replaces (hand back).
    """

    uid: str
    state: ProcedureStepState
    priority: UpsPriority
    due: datetime | None = None
    scheduled_start: datetime | None = None
    pool: str | None = None
    worklist_label: str = ""
    performer_code: str | None = None
    performer_name: str = ""
    hospital_code: str = ""
    hospital: str = ""
    modality: str = ""
    body_part: str = ""
    patient_name: str = ""
    patient_id: str = ""
    accession_number: str = ""
    study_instance_uid: str = ""
    study_date: str = ""
    study_description: str = ""
    number_of_images: int | None = None
    second_read_of: str | None = None
    replaces: str | None = None
    study_time: str = ""
    referring_physician: str = ""
    # Derived once, so a refresh of 10,000 rows sorts and compares them cheaply (UI thread).
    order_key: tuple[int, bool, float, str] = field(init=False, repr=False, compare=False)
    fingerprint: tuple[Any, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        due = self.due.timestamp() if self.due is not None else 0.0
        key = (ups.PRIORITY_RANK[self.priority], self.due is None, due, self.uid)
        object.__setattr__(self, "order_key", key)
        object.__setattr__(self, "fingerprint", _FINGERPRINT(self))

    @classmethod
    def from_dicom_json(cls, dataset: Mapping[str, Any]) -> WorkItem:
        """Read a UPS dataset in DICOM JSON (PS3.18 F.2); UpsError 400 for a broken one.

        Needs SOP Instance UID, Procedure Step State and Scheduled Procedure Step Priority
        (Type 1 in PS3.4 Table CC.2.5-3); everything else may be absent.
        """
        if not isinstance(dataset, Mapping):
            raise ups.UpsError("a workitem must be a DICOM JSON object", http_status=400)
        uid = _s(dataset, _T_SOP_UID)
        if not uid:
            raise ups.UpsError.from_status(
                ups.MISSING_ATTRIBUTE, "a workitem without SOP Instance UID (0008,0018)"
            )
        state = _STATES.get(_s(dataset, _T_STATE))
        if state is None:  # the generic path words the error (a non-text value as text)
            state = ups.parse_state(_plain(_first(dataset, "ProcedureStepState")))
        priority = _PRIORITIES.get(_s(dataset, _T_PRIORITY))
        if priority is None:
            priority = ups.parse_priority(_plain(_first(dataset, "ScheduledProcedureStepPriority")))
        performer_code: str | None = None
        performer_name = ""
        for person in _seq(dataset, _T_PERFORMERS):
            for code in _seq(person, _T_PERFORMER_CODE):
                value, meaning = _fast_code_parts(code)
                if value:
                    performer_code = value
                    performer_name = meaning
                    break
            name = _s(person, _T_PERFORMER_NAME)
            performer_name = name or performer_name
            if performer_code:
                break
        hospital_code = hospital = ""
        for station in _seq(dataset, _T_STATIONS):
            hospital_code, hospital = _fast_code_parts(station)
            if hospital_code:
                break
        hospital = hospital or _s(dataset, TAG_INSTITUTION_NAME) or hospital_code
        accession = description = ""
        study_uid = _s(dataset, _T_STUDY_UID)
        for request in _seq(dataset, _T_REQUESTS):
            accession = accession or _s(request, _T_ACCESSION)
            description = description or _s(request, _T_REQUESTED_DESCRIPTION)
            study_uid = study_uid or _s(request, _T_STUDY_UID)
        if _T_INPUTS in dataset:
            refs, second_read_of, input_study = _sop_refs(dataset)
        else:
            refs, second_read_of, input_study = -1, None, ""
        if _T_PROCESSING in dataset:
            second_read_of = ups.second_read_of(dataset) or second_read_of
        study_uid = study_uid or input_study
        count_value = _first(dataset, TAG_NUMBER_OF_STUDY_INSTANCES)
        try:
            images: int | None = int(count_value) if count_value is not None else None
        except (TypeError, ValueError, OverflowError):  # (OverflowError: 1e400 is infinite)
            images = None
        if images is None and refs >= 0:
            images = refs
        modality = _modality(dataset)
        replaces = None
        for ref in _seq(dataset, _T_REPLACED):
            replaces = _s(ref, _T_REFERENCED_SOP_UID) or None
        return cls(
            uid=uid,
            state=state,
            priority=priority,
            due=_fast_dt(dataset, _T_DUE),
            scheduled_start=_fast_dt(dataset, _T_START),
            pool=_s(dataset, _T_LABEL) or None,
            worklist_label=_s(dataset, _T_WORKLIST_LABEL),
            performer_code=performer_code,
            performer_name=performer_name,
            hospital_code=hospital_code,
            hospital=hospital,
            modality=modality,
            body_part=_s(dataset, TAG_BODY_PART).upper(),
            patient_name=_s(dataset, _T_PATIENT_NAME),
            patient_id=_s(dataset, _T_PATIENT_ID),
            accession_number=accession,
            study_instance_uid=study_uid,
            study_date=_s(dataset, TAG_STUDY_DATE),
            study_description=description or _s(dataset, TAG_STUDY_DESCRIPTION),
            number_of_images=images,
            second_read_of=second_read_of,
            replaces=replaces,
            study_time=_s(dataset, TAG_STUDY_TIME),
            referring_physician=_s(dataset, TAG_REFERRING_PHYSICIAN),
        )

    # -- time ------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """SCHEDULED or IN PROGRESS: still to be read."""
        return not self.state.is_final

    def time_left(self, now: datetime) -> timedelta | None:
        """Time until the due time (negative when overdue); None without a due time."""
        return None if self.due is None else self.due - now

    def is_overdue(self, now: datetime) -> bool:
        """An open item past its Expected Completion DateTime."""
        return self.is_open and self.due is not None and self.due <= now

    def sort_key(self) -> tuple[int, bool, float, str]:
        """Worklist order: priority (HIGH first), then due time; no due time last."""
        return self.order_key

    @property
    def assigned_to(self) -> str:
        """Who the item is assigned to, as the worklist shows it ("" when unassigned)."""
        return self.performer_name or self.performer_code or ""


_COMPARED_FIELDS = tuple(name for name, f in WorkItem.__dataclass_fields__.items() if f.compare)
_FINGERPRINT = attrgetter(*_COMPARED_FIELDS)  # a tuple of the compared fields, in order


def worklist_order(items: Iterable[WorkItem]) -> list[WorkItem]:
    """Items sorted in worklist order (:meth:`WorkItem.sort_key`)."""
    return sorted(items, key=attrgetter("order_key"))


def may_read(item: WorkItem, user: WorklistUser) -> bool:
    """Whether ``user`` may read ``item``: it is open, and assigned to them or unassigned in a
    pool they claim from. (An item assigned to another reader is read on another machine; a
    user who does not read, an administrator, reads nothing.)"""
    if not item.is_open or not item.study_instance_uid or not user.may(ups.Permission.CLAIM):
        return False
    if item.performer_code:
        return item.performer_code == user.performer_code
    return user.may_claim_in(item.pool)


def prefetch_order(
    items: Iterable[WorkItem], user: WorklistUser, skip: Callable[[str], bool], wanted: int
) -> list[str]:
    """The studies to fetch ahead for ``user``: of ``items`` in worklist order, those the
    user :func:`may_read`, each once, without those ``skip`` says are here already or asked
    for; at most ``wanted``. Prefetch spends the line on this reader's next studies only."""
    chosen = next_to_read(items, user, skip, wanted, one_per_study=True)
    return [item.study_instance_uid for item in chosen]


def next_to_read(
    items: Iterable[WorkItem],
    user: WorklistUser,
    skip: Callable[[str], bool],
    wanted: int,
    *,
    one_per_study: bool = False,
) -> list[WorkItem]:
    """The first ``wanted`` of ``items`` (in worklist order: the most urgent first) that the
    user :func:`may_read`, without the studies ``skip`` names (the one on screen, one whose
    final report is signed and on its way)."""
    out: list[WorkItem] = []
    studies: set[str] = set()
    if wanted <= 0:
        return out
    for item in items:
        uid = item.study_instance_uid
        if (one_per_study and uid in studies) or not may_read(item, user) or skip(uid):
            continue
        studies.add(uid)
        out.append(item)
        if len(out) == wanted:
            break
    return out


def format_time_left(left: timedelta | None) -> str:
    """``2h 05m``, ``3d 4h``, ``overdue 12m``; "" without a due time."""
    if left is None:
        return ""
    seconds = int(left.total_seconds())
    overdue = seconds <= 0
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days}d {hours}h"
    elif hours:
        text = f"{hours}h {minutes:02d}m"
    else:
        text = f"{minutes}m"
    return f"overdue {text}" if overdue else text


# -- filters ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorklistFilter:
    """What to show: states, assignment, pools, hospital, priority, overdue, identifiers, text.

    None and empty fields do not filter, except ``pools`` (None: any pool; an empty tuple: no
    pool, so nothing matches) and ``performer`` ("" matches nothing: a user without a
    performer code has no work of their own). ``performer`` is a performer code;
    ``unassigned`` keeps items without a reader; ``text`` matches patient name, patient ID and
    accession number (any case) and is applied on the workstation only.
    """

    name: str = ""
    states: tuple[ProcedureStepState, ...] = OPEN_STATES
    performer: str | None = None
    unassigned: bool = False
    pools: tuple[str, ...] | None = None
    hospital: str | None = None
    priority: UpsPriority | None = None
    overdue_only: bool = False
    patient_id: str | None = None
    accession_number: str | None = None
    text: str = ""

    def matches(self, item: WorkItem, now: datetime) -> bool:
        """Whether ``item`` passes every criterion of the filter."""
        if self.states and item.state not in self.states:
            return False
        if self.performer is not None and item.performer_code != self.performer:
            return False
        if self.unassigned and item.performer_code:
            return False
        if self.pools is not None and item.pool not in self.pools:
            return False
        if self.hospital is not None and item.hospital_code != self.hospital:
            return False
        if self.priority is not None and item.priority is not self.priority:
            return False
        if self.overdue_only and not item.is_overdue(now):
            return False
        if self.patient_id is not None and item.patient_id != self.patient_id:
            return False
        if self.accession_number is not None and item.accession_number != self.accession_number:
            return False
        if self.text:
            hay = f"{item.patient_name} {item.patient_id} {item.accession_number}".casefold()
            hay = hay.replace("^", " ")
            if not all(word in hay for word in self.text.casefold().split()):
                return False
        return True

    @property
    def matches_nothing(self) -> bool:
        """True when no item can match (no pools, or "my work" of a user without a code)."""
        return self.performer == "" or self.pools == ()

    def with_text(self, text: str) -> WorklistFilter:
        return replace(self, text=text.strip())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["states"] = [s.value for s in self.states]
        data["pools"] = None if self.pools is None else list(self.pools)
        data["priority"] = self.priority.value if self.priority else None
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "saved filter") -> WorklistFilter:
        """A filter from its JSON form; ConfigError naming ``where`` and the key when wrong."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: must be a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        try:
            states = tuple(ProcedureStepState(s) for s in data.get("states", []))
        except ValueError:
            raise ConfigError(f"{where}: key 'states': not UPS states") from None
        try:
            priority = UpsPriority(data["priority"]) if data.get("priority") else None
        except ValueError:
            raise ConfigError(f"{where}: key 'priority': not HIGH, MEDIUM or LOW") from None
        pools = data.get("pools")
        if pools is not None and (
            not isinstance(pools, list) or not all(isinstance(p, str) for p in pools)
        ):
            raise ConfigError(f"{where}: key 'pools': must be a list of strings or null")
        return cls(
            name=str(data.get("name", "")),
            states=states,
            performer=data.get("performer"),
            unassigned=bool(data.get("unassigned", False)),
            pools=None if pools is None else tuple(pools),
            hospital=data.get("hospital"),
            priority=priority,
            overdue_only=bool(data.get("overdue_only", False)),
            patient_id=data.get("patient_id"),
            accession_number=data.get("accession_number"),
            text=str(data.get("text", "")),
        )


def all_open() -> WorklistFilter:
    return WorklistFilter(name="All open")


def my_work(user: WorklistUser) -> WorklistFilter:
    """Open items assigned to (or claimed by) the user."""
    return WorklistFilter(name="My work", performer=user.performer_code or "")


def my_pools(user: WorklistUser) -> WorklistFilter:
    """Open items of the user's reading pools, assigned or not."""
    return WorklistFilter(name="My pools", pools=tuple(sorted(user.pools)))


def overdue() -> WorklistFilter:
    return WorklistFilter(name="Overdue", overdue_only=True)


def hospital(code: str, label: str = "") -> WorklistFilter:
    return WorklistFilter(name=f"Hospital: {label or code}", hospital=code)


def builtin_filters(user: WorklistUser) -> list[WorklistFilter]:
    """The saved filters every user has: all open, my work, my pools, overdue."""
    return [all_open(), my_work(user), my_pools(user), overdue()]


def hospital_filters(items: Iterable[WorkItem]) -> list[WorklistFilter]:
    """One filter per sending hospital seen among ``items``, by name."""
    seen: dict[str, str] = {}
    for item in items:
        if item.hospital_code and item.hospital_code not in seen:
            seen[item.hospital_code] = item.hospital
    ordered = sorted(seen.items(), key=lambda kv: (kv[1] or kv[0]).casefold())
    return [hospital(code, label) for code, label in ordered]


@dataclass(slots=True)
class SavedFilters:
    """A user's own named filters, kept as JSON in a file of their own."""

    path: Path
    filters: dict[str, WorklistFilter] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> SavedFilters:
        """Read the file; a missing file is no filters, a broken one a ConfigError."""
        p = Path(path)
        if not p.exists():
            return cls(p)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{p}: cannot read saved worklist filters: {exc}") from None
        if not isinstance(data, list):
            raise ConfigError(f"{p}: must be a JSON list of filters")
        out = cls(p)
        for n, entry in enumerate(data):
            f = WorklistFilter.from_json(entry, f"{p}: [{n}]")
            out.filters[f.name] = f
        return out

    def save(self, f: WorklistFilter) -> None:
        if not f.name.strip():
            raise ConfigError("a saved filter needs a name")
        self.filters[f.name] = f
        self._write()

    def remove(self, name: str) -> None:
        self.filters.pop(name, None)
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps([f.to_json() for f in self.filters.values()], indent=1), encoding="utf-8"
        )
        tmp.replace(self.path)


# -- counts for the lead view -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """Open items per reader and per pool, with how many of them are overdue."""

    per_reader: dict[str, tuple[int, int]]  # reader label -> (open, overdue); "" = unassigned
    per_pool: dict[str, tuple[int, int]]
    overdue: tuple[WorkItem, ...]


def queue_counts(items: Sequence[WorkItem], now: datetime) -> QueueCounts:
    """Counts of the open items per assigned reader and per pool, and the overdue items."""
    readers: dict[str, list[int]] = {}
    pools: dict[str, list[int]] = {}
    late: list[WorkItem] = []
    for item in items:
        if not item.is_open:
            continue
        is_late = item.is_overdue(now)
        for table, key in ((readers, item.assigned_to), (pools, item.pool or "")):
            entry = table.setdefault(key, [0, 0])
            entry[0] += 1
            entry[1] += int(is_late)
        if is_late:
            late.append(item)
    return QueueCounts(
        per_reader={k: (v[0], v[1]) for k, v in sorted(readers.items())},
        per_pool={k: (v[0], v[1]) for k, v in sorted(pools.items())},
        overdue=tuple(worklist_order(late)),
    )


def utc_now() -> datetime:
    return datetime.now(UTC)
