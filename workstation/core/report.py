"""The diagnostic imaging report as the radiologist writes it, before and after it becomes an SR.

The shape follows TID 2000 "Basic Diagnostic Imaging Report" (PS3.16): a report holds sections
under coded headings (CID 7001), each with narrative text and items: text or coded findings,
numeric measurements and image references (TID 2002 / TID 2001). Status, signature and
predecessor map to the SR Document General module (PS3.3 C.17.2). Pure data: no pydicom, so the
worklist, drafts and UI can hold reports without DICOM; ``workstation.reporting.sr`` writes and
reads the SR. Constructors reject bad input at once with a ``ValueError`` naming the field.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from workstation.core.model import Patient

_UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
# RFC 5646 language tag, the form CID 5000 uses (PS3.16): "en", "en-US", "ar-SA", "sr-Latn-RS".
_LANGUAGE_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")

COMPREHENSIVE_SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.33"


def is_valid_uid(value: str) -> bool:
    """True when ``value`` has the UID syntax of PS3.5 9.1: dotted numbers, at most 64 chars."""
    return isinstance(value, str) and len(value) <= 64 and bool(_UID_RE.match(value))


def _check_uid(owner: str, name: str, value: str) -> None:
    if not is_valid_uid(value):
        raise ValueError(
            f"{owner}.{name} must be a DICOM UID (digits and dots, at most 64 characters, "
            f"PS3.5 9.1), got {value!r}"
        )


def _check_text(owner: str, name: str, value: str, *, max_len: int | None = None) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{owner}.{name} must be a string, got {type(value).__name__}")
    if "\x00" in value:
        raise ValueError(f"{owner}.{name} must not contain NUL characters")
    if max_len is not None and len(value) > max_len:
        raise ValueError(f"{owner}.{name} is {len(value)} characters long; at most {max_len}")


def _check_single_line(owner: str, name: str, value: str, max_len: int) -> None:
    """Values stored as LO/SH/PN: no backslash (the value separator, PS3.5 6.2) or control chars."""
    _check_text(owner, name, value, max_len=max_len)
    if "\\" in value or any(ord(c) < 0x20 for c in value):
        raise ValueError(f"{owner}.{name} must be one line without backslashes, got {value!r}")


def _check_person_name(owner: str, name: str, value: str) -> None:
    """A PN value (PS3.5 6.2.1): at most 3 component groups of at most 64 characters each."""
    _check_single_line(owner, name, value, max_len=3 * 64 + 2)
    groups = value.split("=")
    if len(groups) > 3 or any(len(g) > 64 for g in groups):
        raise ValueError(
            f"{owner}.{name} must have at most 3 component groups of at most 64 characters "
            "(PS3.5 6.2.1)"
        )
    if any(len(g.split("^")) > 5 for g in groups):
        raise ValueError(f"{owner}.{name} has more than 5 components in a group (PS3.5 6.2.1)")


def _check_observer_name(owner: str, name: str, value: str) -> None:
    """An observer's PN: non-empty and with a caret, so family and given names cannot be mixed
    up (a family name alone is written "Family^"; highdicom enforces the same)."""
    _check_person_name(owner, name, value)
    if not value.strip("^= "):
        raise ValueError(f"{owner}.{name} must not be empty")
    if "^" not in value:
        raise ValueError(
            f"{owner}.{name} must be in DICOM PN form 'Family^Given' (a family name alone is "
            f"written 'Family^'), got {value!r}"
        )


def _as_fl(value: float) -> float:
    """The value a 32-bit float (VR FL) keeps, so coordinates round-trip through Graphic Data."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


class ReportStatus(enum.Enum):
    """Where a report is in its life: a draft is never sent; FINAL is signed (PS3.3 C.17.2.1)."""

    DRAFT = "DRAFT"
    PRELIMINARY = "PRELIMINARY"
    FINAL = "FINAL"


@dataclass(frozen=True, slots=True)
class Code:
    """A coded concept (PS3.3 8.8 Code Sequence Macro): value, scheme and meaning."""

    value: str
    scheme_designator: str
    meaning: str
    scheme_version: str = ""

    def __post_init__(self) -> None:
        owner = "Code"
        _check_single_line(owner, "value", self.value, max_len=16)
        _check_single_line(owner, "scheme_designator", self.scheme_designator, max_len=16)
        _check_single_line(owner, "meaning", self.meaning, max_len=64)
        _check_single_line(owner, "scheme_version", self.scheme_version, max_len=16)
        if not self.value.strip() or not self.scheme_designator.strip():
            raise ValueError("Code.value and Code.scheme_designator must not be empty")
        if not self.meaning.strip():
            raise ValueError(f"Code {self.value} ({self.scheme_designator}) needs a meaning")

    def same_concept(self, other: Code) -> bool:
        """Same code value and scheme: meanings may differ in wording (PS3.16 8.1)."""
        return (self.value, self.scheme_designator) == (other.value, other.scheme_designator)


@dataclass(frozen=True, slots=True)
class Author:
    """A person observer of the report (TID 1003: name, organisation, role in the organisation)."""

    person_name: str  # PN form, e.g. "Smith^Anna^^Dr"
    organisation: str = ""
    role: Code | None = None  # CID 7452 Organizational Roles, e.g. (309343006, SCT, "Physician")

    def __post_init__(self) -> None:
        _check_observer_name("Author", "person_name", self.person_name)
        _check_single_line("Author", "organisation", self.organisation, max_len=64)
        if self.role is not None and not isinstance(self.role, Code):
            raise ValueError("Author.role must be a Code or None")


@dataclass(frozen=True, slots=True)
class Signature:
    """Who verified the report, for which organisation, and when (PS3.3 C.17.2.1 Verifying
    Observer Sequence). The time carries a UTC offset so readers in other zones agree."""

    person_name: str
    organisation: str
    signed_at: _dt.datetime

    def __post_init__(self) -> None:
        _check_observer_name("Signature", "person_name", self.person_name)
        _check_single_line("Signature", "organisation", self.organisation, max_len=64)
        if not isinstance(self.signed_at, _dt.datetime):
            raise ValueError("Signature.signed_at must be a datetime")
        if self.signed_at.tzinfo is None or self.signed_at.utcoffset() is None:
            raise ValueError("Signature.signed_at must carry a time zone (e.g. datetime.UTC)")


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One image (or one frame of a multi-frame image) the report points at (PS3.3 C.18.3)."""

    sop_class_uid: str
    sop_instance_uid: str
    frame_number: int | None = None  # 1-based, only for multi-frame images

    def __post_init__(self) -> None:
        _check_uid("ImageRef", "sop_class_uid", self.sop_class_uid)
        _check_uid("ImageRef", "sop_instance_uid", self.sop_instance_uid)
        if self.frame_number is not None and (
            not isinstance(self.frame_number, int) or self.frame_number < 1
        ):
            raise ValueError(f"ImageRef.frame_number must be 1 or more, got {self.frame_number!r}")


class GraphicType(enum.Enum):
    """SCOORD graphic types (PS3.3 C.18.6.1.1)."""

    POINT = "POINT"
    MULTIPOINT = "MULTIPOINT"
    POLYLINE = "POLYLINE"
    CIRCLE = "CIRCLE"
    ELLIPSE = "ELLIPSE"


# How many (column, row) pairs each graphic type needs (PS3.3 C.18.6.1.1): exact, or a minimum.
_POINTS_EXACT = {GraphicType.POINT: 1, GraphicType.CIRCLE: 2, GraphicType.ELLIPSE: 4}
_POINTS_MIN = {GraphicType.MULTIPOINT: 2, GraphicType.POLYLINE: 2}


@dataclass(frozen=True, slots=True)
class ImageCoordinates:
    """Where on the image a measurement was made: (column, row) pairs in pixels, with 0.0, 0.0 the
    top left corner of the top left pixel (PS3.3 C.18.6.1.2). Values are kept at the 32-bit
    precision of Graphic Data (FL), so what is written is what is read back."""

    graphic_type: GraphicType
    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if not isinstance(self.graphic_type, GraphicType):
            raise ValueError("ImageCoordinates.graphic_type must be a GraphicType")
        pts = tuple(tuple(p) for p in self.points)
        if any(len(p) != 2 for p in pts):
            raise ValueError("ImageCoordinates.points must be (column, row) pairs")
        flat = [float(v) for p in pts for v in p]
        if any(not math.isfinite(v) for v in flat):
            raise ValueError("ImageCoordinates.points must be finite numbers")
        n = len(pts)
        exact = _POINTS_EXACT.get(self.graphic_type)
        if exact is not None and n != exact:
            raise ValueError(
                f"a {self.graphic_type.value} needs exactly {exact} point(s), got {n} "
                "(PS3.3 C.18.6.1.1)"
            )
        minimum = _POINTS_MIN.get(self.graphic_type, 1)
        if n < minimum:
            raise ValueError(
                f"a {self.graphic_type.value} needs at least {minimum} point(s), got {n} "
                "(PS3.3 C.18.6.1.1)"
            )
        object.__setattr__(self, "points", tuple((_as_fl(c), _as_fl(r)) for c, r in pts))


@dataclass(frozen=True, slots=True)
class TextFinding:
    """A narrative statement (TID 2002 TEXT, concept from CID 7002 e.g. "Finding"), optionally
    inferred from images that best illustrate it (CID 7003)."""

    concept: Code
    text: str
    images: tuple[ImageRef, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.concept, Code):
            raise ValueError("TextFinding.concept must be a Code")
        _check_text("TextFinding", "text", self.text)
        if not self.text.strip():
            raise ValueError("TextFinding.text must not be empty")
        object.__setattr__(self, "images", _image_tuple("TextFinding", self.images))


@dataclass(frozen=True, slots=True)
class CodedFinding:
    """A coded statement (TID 2002 CODE): concept from CID 7002, value any coded concept (e.g.
    (35566002, SCT, "Hematoma")), optionally inferred from images."""

    concept: Code
    value: Code
    images: tuple[ImageRef, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.concept, Code) or not isinstance(self.value, Code):
            raise ValueError("CodedFinding.concept and CodedFinding.value must be Codes")
        object.__setattr__(self, "images", _image_tuple("CodedFinding", self.images))


@dataclass(frozen=True, slots=True)
class Measurement:
    """A numeric measurement (TID 1400/1404 NUM via TID 2001): value with a UCUM unit, the
    concept measured (e.g. (410668003, SCT, "Length")), and where it was measured."""

    concept: Code
    value: float
    unit: Code  # scheme UCUM, e.g. Code("mm", "UCUM", "mm")
    image: ImageRef | None = None
    coordinates: ImageCoordinates | None = None
    # What the value must travel with, e.g. "calibrated by user, 0.182 mm/px" (a TEXT
    # "Comment" under the NUM in the SR); "" for a value that needs none.
    qualifier: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.concept, Code):
            raise ValueError("Measurement.concept must be a Code")
        if not isinstance(self.qualifier, str):
            raise ValueError("Measurement.qualifier must be text")
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise ValueError(f"Measurement.value must be a number, got {self.value!r}")
        if not math.isfinite(self.value):
            raise ValueError(f"Measurement.value must be finite, got {self.value!r}")
        object.__setattr__(self, "value", float(self.value))
        if not isinstance(self.unit, Code) or self.unit.scheme_designator != "UCUM":
            raise ValueError(
                "Measurement.unit must be a UCUM Code (PS3.16 CID 7181), e.g. "
                "Code('mm', 'UCUM', 'mm')"
            )
        if self.image is not None and not isinstance(self.image, ImageRef):
            raise ValueError("Measurement.image must be an ImageRef or None")
        if self.coordinates is not None:
            if not isinstance(self.coordinates, ImageCoordinates):
                raise ValueError("Measurement.coordinates must be ImageCoordinates or None")
            if self.image is None:
                raise ValueError(
                    "Measurement.coordinates need Measurement.image: image coordinates are "
                    "selected from one image (PS3.3 C.17.3.2.1 SELECTED FROM)"
                )


@dataclass(frozen=True, slots=True)
class KeyImageRef:
    """A key image shown with the report (TID 2001 IMAGE, purpose from CID 7003, e.g.
    (121080, DCM, "Best illustration of finding"))."""

    image: ImageRef
    purpose: Code

    def __post_init__(self) -> None:
        if not isinstance(self.image, ImageRef):
            raise ValueError("KeyImageRef.image must be an ImageRef")
        if not isinstance(self.purpose, Code):
            raise ValueError("KeyImageRef.purpose must be a Code")


ReportItem = TextFinding | CodedFinding | Measurement | KeyImageRef
_ITEM_TYPES = (TextFinding, CodedFinding, Measurement, KeyImageRef)


def _image_tuple(owner: str, images: Iterable[object]) -> tuple[ImageRef, ...]:
    out: list[ImageRef] = []
    for image in images:
        if not isinstance(image, ImageRef):
            raise ValueError(f"{owner}.images must hold ImageRef values")
        out.append(image)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ReportSection:
    """A section under a heading from CID 7001 (e.g. (59776-5, LN, "Findings")): its narrative
    text, then items, in the order the reader sees them (TID 2000 rows 8-10)."""

    heading: Code
    text: str = ""
    items: tuple[ReportItem, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.heading, Code):
            raise ValueError("ReportSection.heading must be a Code")
        _check_text("ReportSection", "text", self.text)
        items = tuple(self.items)
        for item in items:
            if not isinstance(item, _ITEM_TYPES):
                raise ValueError(
                    "ReportSection.items must hold TextFinding, CodedFinding, Measurement or "
                    f"KeyImageRef values, got {type(item).__name__}"
                )
        object.__setattr__(self, "items", items)

    @property
    def is_empty(self) -> bool:
        return not self.text.strip() and not self.items


@dataclass(frozen=True, slots=True)
class PredecessorRef:
    """The signed report an addendum or correction follows (PS3.3 C.17.2.3 Predecessor
    Documents Sequence)."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str = COMPREHENSIVE_SR_STORAGE

    def __post_init__(self) -> None:
        for name in ("study_instance_uid", "series_instance_uid", "sop_instance_uid"):
            _check_uid("PredecessorRef", name, getattr(self, name))
        _check_uid("PredecessorRef", "sop_class_uid", self.sop_class_uid)


@dataclass(frozen=True, slots=True)
class Report:
    """One diagnostic imaging report of one study (TID 2000), with its status and signature.

    Rules (PS3.3 C.17.2.1): a FINAL report is signed (Verifying Observer with name and
    organisation); a signature belongs only to a FINAL report; a PRELIMINARY or FINAL report says
    something (at least one non-empty section). ``content_datetime`` is when the content was
    written (Content Date/Time); it keeps a rebuilt SR byte-identical.
    """

    study_instance_uid: str
    patient: Patient
    author: Author
    sections: tuple[ReportSection, ...] = ()
    accession: str = ""
    status: ReportStatus = ReportStatus.DRAFT
    signature: Signature | None = None
    predecessor: PredecessorRef | None = None
    language: str = "en-US"
    content_datetime: _dt.datetime | None = field(default=None)

    def __post_init__(self) -> None:
        _check_uid("Report", "study_instance_uid", self.study_instance_uid)
        if not isinstance(self.patient, Patient):
            raise ValueError("Report.patient must be a workstation.core.model.Patient")
        _check_single_line("Report", "patient.patient_id", self.patient.patient_id, 64)
        _check_person_name("Report", "patient.patient_name", self.patient.patient_name)
        if not isinstance(self.author, Author):
            raise ValueError("Report.author must be an Author")
        _check_single_line("Report", "accession", self.accession, max_len=16)
        if not isinstance(self.status, ReportStatus):
            raise ValueError("Report.status must be a ReportStatus")
        sections = tuple(self.sections)
        if any(not isinstance(s, ReportSection) for s in sections):
            raise ValueError("Report.sections must hold ReportSection values")
        object.__setattr__(self, "sections", sections)
        if not isinstance(self.language, str) or not _LANGUAGE_RE.match(self.language):
            raise ValueError(
                f"Report.language must be an RFC 5646 tag such as 'en-US' (PS3.16 CID 5000), "
                f"got {self.language!r}"
            )
        if self.signature is not None and not isinstance(self.signature, Signature):
            raise ValueError("Report.signature must be a Signature or None")
        if self.predecessor is not None and not isinstance(self.predecessor, PredecessorRef):
            raise ValueError("Report.predecessor must be a PredecessorRef or None")
        if self.content_datetime is not None and not isinstance(
            self.content_datetime, _dt.datetime
        ):
            raise ValueError("Report.content_datetime must be a datetime or None")

        if self.status is ReportStatus.FINAL:
            if self.signature is None:
                raise ValueError("a FINAL report must be signed: set Report.signature")
            if not self.signature.organisation.strip():
                raise ValueError(
                    "a FINAL report needs the signer's organisation (Verifying Organization)"
                )
        elif self.signature is not None:
            raise ValueError(
                f"a {self.status.value} report cannot carry a signature: signing makes it FINAL"
            )
        if self.status is not ReportStatus.DRAFT and all(s.is_empty for s in sections):
            raise ValueError(f"a {self.status.value} report needs at least one non-empty section")

    def image_refs(self) -> tuple[ImageRef, ...]:
        """Every image the content refers to, in order of first mention, without repeats."""
        seen: dict[tuple[str, int | None], ImageRef] = {}
        for section in self.sections:
            for item in section.items:
                refs: tuple[ImageRef, ...]
                if isinstance(item, TextFinding | CodedFinding):
                    refs = item.images
                elif isinstance(item, Measurement):
                    refs = (item.image,) if item.image is not None else ()
                else:
                    refs = (item.image,)
                for ref in refs:
                    seen.setdefault((ref.sop_instance_uid, ref.frame_number), ref)
        return tuple(seen.values())
