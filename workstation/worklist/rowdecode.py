"""A worklist row read straight from its JSON text into a WorkItem, through a typed schema.

``WorkItem.from_dicom_json`` reads a decoded DICOM JSON object (PS3.18 F.2). A search page's
rows have one common shape: text values as JSON strings, person names as objects of a PN
element, sequences of objects. msgspec decodes a row of that shape into the small structs
below, building only the attributes a WorkItem shows, and skipping the rest of the text without
making Python objects of it (a 100-row page: 0.5 ms instead of 0.9 for the decoding, and
fewer objects to free).

``decode_row`` answers None for any row it does not read exactly as ``from_dicom_json`` would:
a value of another JSON type, a name object in an element that is not PN, a sequence marked
PN, an unknown state or priority, the Input Information or Scheduled Processing Parameters
sequences (image counts and second-read links), anything UpsError would refuse. The caller then
decodes the row the general way, so the result is the same for every input
(tests/unit/test_worklist_rowdecode.py checks that on generated rows).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec
from msgspec import UNSET, Struct, UnsetType, field

from workstation.core import ups
from workstation.worklist import model
from workstation.worklist.model import WorkItem

T = TypeVar("T")


class _Element(Struct, Generic[T]):
    """A DICOM JSON element whose values are all of type T (PS3.18 F.2.2)."""

    vr: str = ""
    Value: list[T] | None = None


class _Name(Struct):
    """A person name value (PS3.18 F.2.2), read as "A=I=P" (``ups.pn_string``)."""

    Alphabetic: str = ""
    Ideographic: str = ""
    Phonetic: str = ""


_Text = _Element[str]  # any VR with string values
_NameElement = _Element[str | _Name]  # strings, or name objects (only under PN)
_Number = _Element[int | float | str]  # IS as a JSON number (F.2.3) or a string


def _tag(tag: str) -> Any:
    """A struct field read from the DICOM JSON key ``tag``, None when absent."""
    return field(name=tag, default=None)


class _Code(Struct):
    value: _Text | None = _tag(model._T_CODE_VALUE)
    long_value: _Text | None = _tag(model._T_LONG_CODE_VALUE)
    meaning: _Text | None = _tag(model._T_CODE_MEANING)


class _Performer(Struct):
    codes: _Element[_Code] | None = _tag(model._T_PERFORMER_CODE)
    name: _NameElement | None = _tag(model._T_PERFORMER_NAME)


class _Request(Struct):
    accession: _Text | None = _tag(model._T_ACCESSION)
    study_uid: _Text | None = _tag(model._T_STUDY_UID)
    description: _Text | None = _tag(model._T_REQUESTED_DESCRIPTION)


class _Replaced(Struct):
    uid: _Text | None = _tag(model._T_REFERENCED_SOP_UID)


class _Row(Struct):
    uid: _Text | None = _tag(model._T_SOP_UID)
    state: _Text | None = _tag(model._T_STATE)
    priority: _Text | None = _tag(model._T_PRIORITY)
    due: _Text | None = _tag(model._T_DUE)
    start: _Text | None = _tag(model._T_START)
    label: _Text | None = _tag(model._T_LABEL)
    worklist_label: _Text | None = _tag(model._T_WORKLIST_LABEL)
    performers: _Element[_Performer] | None = _tag(model._T_PERFORMERS)
    stations: _Element[_Code] | None = _tag(model._T_STATIONS)
    institution: _Text | None = _tag(model.TAG_INSTITUTION_NAME)
    modalities: _Text | None = _tag(model.TAG_MODALITIES_IN_STUDY)
    modality: _Text | None = _tag(model.TAG_MODALITY)
    body_part: _Text | None = _tag(model.TAG_BODY_PART)
    patient_name: _NameElement | None = _tag(model._T_PATIENT_NAME)
    patient_id: _Text | None = _tag(model._T_PATIENT_ID)
    study_uid: _Text | None = _tag(model._T_STUDY_UID)
    requests: _Element[_Request] | None = _tag(model._T_REQUESTS)
    study_date: _Text | None = _tag(model.TAG_STUDY_DATE)
    study_time: _Text | None = _tag(model.TAG_STUDY_TIME)
    study_description: _Text | None = _tag(model.TAG_STUDY_DESCRIPTION)
    referring: _NameElement | None = _tag(model.TAG_REFERRING_PHYSICIAN)
    images: _Number | None = _tag(model.TAG_NUMBER_OF_STUDY_INSTANCES)
    replaced: _Element[_Replaced] | None = _tag(model._T_REPLACED)
    # Present at all (even empty or null): the general reader decides (counts, links).
    inputs: Any | UnsetType = field(name=model._T_INPUTS, default=UNSET)
    processing: Any | UnsetType = field(name=model._T_PROCESSING, default=UNSET)


_DECODER = msgspec.json.Decoder(_Row)


class _Declined(Exception):
    """A row this reader leaves to ``WorkItem.from_dicom_json``."""


def _s(elem: _Text | _NameElement | None) -> str:
    """The first value as stripped text, "" when absent (``model._s``)."""
    if elem is None or not elem.Value:
        return ""
    v = elem.Value[0]
    if type(v) is str:
        return v.strip()
    if elem.vr != "PN":  # a name object outside PN: the general reader words it
        raise _Declined
    name: _Name = v  # type: ignore[assignment]
    if not name.Ideographic and not name.Phonetic:
        return name.Alphabetic.strip()
    return ups.pn_string(msgspec.structs.asdict(name)).strip()  # several writings: "A=I=P"


def _items(seq: Any) -> list[Any]:
    """The items of a sequence element (none when it is marked PN, as ``model._seq``)."""
    if seq is None or not seq.Value or seq.vr == "PN":
        return []
    return list(seq.Value)


def _first(elem: _Text | None) -> str | None:
    """The first value as sent (``model._f``), None when there is none."""
    if elem is None or not elem.Value:
        return None
    if elem.vr == "PN":
        raise _Declined
    return elem.Value[0]


def _code_parts(code: _Code) -> tuple[str, str]:
    value = _first(code.value) or _first(code.long_value)
    return (value.strip() if value else ""), _s(code.meaning)


def _dt(elem: _Text | None) -> Any:
    text = _first(elem)
    return model._cached_dt(text) if text else None


def _modality(row: _Row) -> str:
    """Modalities in Study, else Modality: upper case, "/"-joined, no repeats."""
    for elem in (row.modalities, row.modality):
        if elem is not None and elem.vr == "PN" and elem.Value:
            raise _Declined
    texts = [v.strip() for v in (row.modalities.Value or []) if v.strip()] if row.modalities else []
    if not texts and row.modality is not None:
        texts = [v.strip() for v in (row.modality.Value or []) if v.strip()]
    return "/".join(dict.fromkeys(m.upper() for m in texts))


def _images(elem: _Number | None) -> int | None:
    if elem is None or not elem.Value:
        return None
    if elem.vr == "PN":
        raise _Declined
    try:
        return int(elem.Value[0])
    except (TypeError, ValueError, OverflowError):
        return None


def decode_row(text: bytes) -> WorkItem | None:
    """The WorkItem of one row's DICOM JSON text; None when the row is not of the common shape
    (the caller reads it with ``WorkItem.from_dicom_json``, which also words any error)."""
    try:
        row = _DECODER.decode(text)
        return _work_item(row)
    except (msgspec.MsgspecError, _Declined, model.ups.UpsError):
        return None


def _work_item(row: _Row) -> WorkItem:
    if row.inputs is not UNSET or row.processing is not UNSET:
        raise _Declined
    uid = _s(row.uid)
    state = model._STATES.get(_s(row.state))
    priority = model._PRIORITIES.get(_s(row.priority))
    if not uid or state is None or priority is None:
        raise _Declined
    performer_code: str | None = None
    performer_name = ""
    for person in _items(row.performers):
        for code in _items(person.codes):
            value, meaning = _code_parts(code)
            if value:
                performer_code = value
                performer_name = meaning
                break
        performer_name = _s(person.name) or performer_name
        if performer_code:
            break
    hospital_code = hospital = ""
    for station in _items(row.stations):
        hospital_code, hospital = _code_parts(station)
        if hospital_code:
            break
    hospital = hospital or _s(row.institution) or hospital_code
    accession = description = ""
    study_uid = _s(row.study_uid)
    for request in _items(row.requests):
        accession = accession or _s(request.accession)
        description = description or _s(request.description)
        study_uid = study_uid or _s(request.study_uid)
    replaces = None
    for ref in _items(row.replaced):
        replaces = _s(ref.uid) or None
    return WorkItem(
        uid=uid,
        state=state,
        priority=priority,
        due=_dt(row.due),
        scheduled_start=_dt(row.start),
        pool=_s(row.label) or None,
        worklist_label=_s(row.worklist_label),
        performer_code=performer_code,
        performer_name=performer_name,
        hospital_code=hospital_code,
        hospital=hospital,
        modality=_modality(row),
        body_part=_s(row.body_part).upper(),
        patient_name=_s(row.patient_name),
        patient_id=_s(row.patient_id),
        accession_number=accession,
        study_instance_uid=study_uid,
        study_date=_s(row.study_date),
        study_description=description or _s(row.study_description),
        number_of_images=_images(row.images),
        second_read_of=None,
        replaces=replaces,
        study_time=_s(row.study_time),
        referring_physician=_s(row.referring),
    )
