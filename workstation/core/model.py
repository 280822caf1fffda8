"""Patient, Study, Series and Instance as the store and the worklist see them.

Names follow the DICOM attributes they come from (PS3.3 C.7.1.1 Patient, C.7.2.1 General
Study, C.7.3.1 General Series, C.7.6.1 General Image, C.7.6.2 Image Plane). Values are
already decoded: person names are Python strings decoded through the Specific Character
Set (PS3.5 6.1), dates are ISO strings, so nothing above the archive needs pydicom.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Patient:
    """A patient as identified by an issuer (PS3.3 C.7.1.1: Patient ID is unique per issuer)."""

    patient_id: str
    issuer_of_patient_id: str = ""
    patient_name: str = ""
    birth_date: str = ""  # YYYYMMDD as stored, "" when absent
    sex: str = ""  # M, F, O or ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.patient_id, self.issuer_of_patient_id)


@dataclass(frozen=True, slots=True)
class Study:
    """A study with the attributes a reading worklist shows."""

    study_instance_uid: str
    patient: Patient
    accession_number: str = ""
    study_date: str = ""  # YYYYMMDD
    study_time: str = ""  # HHMMSS[.ffffff]
    study_description: str = ""
    modalities: tuple[str, ...] = ()
    body_part_examined: str = ""
    institution_name: str = ""
    referring_physician_name: str = ""
    requested_priority: str = ""  # STAT, HIGH, ROUTINE, MEDIUM, LOW (PS3.3 C.4.11)
    study_id: str = ""
    number_of_series: int = 0
    number_of_instances: int = 0


@dataclass(frozen=True, slots=True)
class Series:
    series_instance_uid: str
    study_instance_uid: str
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    body_part_examined: str = ""
    frame_of_reference_uid: str = ""
    number_of_instances: int = 0


@dataclass(frozen=True, slots=True)
class Instance:
    """One stored SOP instance with what the viewer needs to place and decode its pixels."""

    sop_instance_uid: str
    series_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    path: str  # relative to the store root
    instance_number: int | None = None
    rows: int = 0
    columns: int = 0
    number_of_frames: int = 1
    samples_per_pixel: int = 1
    photometric_interpretation: str = ""
    bits_allocated: int = 0
    bits_stored: int = 0
    pixel_representation: int = 0
    planar_configuration: int = 0
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    rescale_type: str = ""
    window_center: tuple[float, ...] = ()
    window_width: tuple[float, ...] = ()
    window_explanation: tuple[str, ...] = ()
    voi_lut_function: str = ""
    image_position_patient: tuple[float, float, float] | None = None
    image_orientation_patient: tuple[float, float, float, float, float, float] | None = None
    pixel_spacing: tuple[float, float] | None = None  # (row spacing, column spacing) mm
    imager_pixel_spacing: tuple[float, float] | None = None
    estimated_radiographic_magnification_factor: float | None = None
    slice_thickness: float | None = None
    slice_location: float | None = None
    acquisition_number: int | None = None
    image_type: tuple[str, ...] = ()
    has_modality_lut_sequence: bool = False  # (0028,3000): rescale is not linear
    has_voi_lut_sequence: bool = False  # (0028,3010)
    presentation_lut_shape: str = ""  # IDENTITY, INVERSE or "" (PS3.3 C.11.6)
    pixel_data_offset: int | None = None  # byte offset of native pixel data in the file
    pixel_data_length: int | None = None
    file_size: int = 0

    @property
    def has_pixels(self) -> bool:
        return self.rows > 0 and self.columns > 0


@dataclass(slots=True)
class ImportReport:
    """What an import did: counts, and each rejected path with its reason."""

    imported: int = 0
    duplicates: int = 0
    skipped: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    study_uids: set[str] = field(default_factory=set)

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)

    def summary(self) -> str:
        return (
            f"{self.imported} imported, {self.duplicates} duplicates, "
            f"{self.rejected_count} rejected"
            + (f", {self.skipped} skipped" if self.skipped else "")
        )


def format_person_name(value: str) -> str:
    """Render a PN value (PS3.5 6.2.1) as "Family, Given Middle", prefix and suffix kept.

    The first non-empty component group is used (alphabetic, then ideographic, then
    phonetic), so a name stored only in Arabic or ideographic characters still shows.
    """
    if not value:
        return ""
    groups = value.split("=")
    group = next((g for g in groups if g.strip("^ ")), "")
    parts = [p.strip() for p in group.split("^")] + [""] * 5
    family, given, middle, prefix, suffix = parts[:5]
    first = " ".join(p for p in (prefix, given, middle) if p)
    name = ", ".join(p for p in (family, first) if p)
    if suffix:
        name = f"{name}, {suffix}" if name else suffix
    return name


def format_da(value: str) -> str:
    """A DA value (YYYYMMDD) as ISO 8601 YYYY-MM-DD; unparseable values are returned as is."""
    v = (value or "").strip()
    if len(v) == 8 and v.isdigit():
        return f"{v[0:4]}-{v[4:6]}-{v[6:8]}"
    return v


def format_tm(value: str) -> str:
    """A TM value (HHMMSS.ffffff, parts optional) as HH:MM[:SS]."""
    v = (value or "").strip().split(".")[0]
    if len(v) >= 4 and v[:4].isdigit():
        out = f"{v[0:2]}:{v[2:4]}"
        if len(v) >= 6 and v[4:6].isdigit():
            out += f":{v[4:6]}"
        return out
    return v


def age_at(birth_date: str, on_date: str) -> str:
    """Age on a date as radiologists write it ("42Y", "7M", "12D"), "" when unknown."""
    try:
        born = _dt.date(int(birth_date[0:4]), int(birth_date[4:6]), int(birth_date[6:8]))
        day = _dt.date(int(on_date[0:4]), int(on_date[4:6]), int(on_date[6:8]))
    except (ValueError, IndexError):
        return ""
    if day < born:
        return ""
    years = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    if years >= 2:
        return f"{years}Y"
    months = (day.year - born.year) * 12 + day.month - born.month - (day.day < born.day)
    if months >= 1:
        return f"{months}M"
    return f"{(day - born).days}D"


@dataclass(frozen=True, slots=True)
class KeyImage:
    """An image a reader marked as key (for the report's image references, TID 2000)."""

    study_instance_uid: str
    sop_instance_uid: str
    frame_number: int = 1  # 1-based, as Referenced Frame Number (PS3.3 C.17.3.2.3)


@dataclass(frozen=True, slots=True)
class PriorStudy:
    """An earlier study of the same patient (same Patient ID and issuer).

    ``identity_conflicts`` lists what disagrees next to the equal ID (name, birth date, sex):
    such a prior is shown flagged, never hidden, so the reader decides.
    """

    study: Study
    identity_conflicts: tuple[str, ...] = ()


def _name_key(name: str) -> tuple[str, ...]:
    group = next((g for g in name.split("=") if g.strip("^ ")), "")
    parts = [p.strip().casefold() for p in group.split("^")]
    while parts and not parts[-1]:
        parts.pop()
    return tuple(parts)


def identity_conflicts(a: Patient, b: Patient) -> tuple[str, ...]:
    """What differs between two records that share a Patient ID and issuer."""
    out = []
    if a.patient_name and b.patient_name and _name_key(a.patient_name) != _name_key(b.patient_name):
        out.append("patient name differs")
    if a.birth_date and b.birth_date and a.birth_date != b.birth_date:
        out.append("birth date differs")
    if a.sex and b.sex and a.sex != b.sex:
        out.append("sex differs")
    return tuple(out)
