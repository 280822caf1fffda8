"""Texts drawn over and beside the images: a 2D viewport's corners, the measurement list's rows.

Pure functions over the model (no Qt): the measurement list panel shows what
:func:`measurement_rows` returns, and the tests check those texts and their order directly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from workstation.archive.local import LocalArchive
from workstation.core.measure import Measurement, MeasurementKind, MeasurementPlane
from workstation.core.model import (
    Instance,
    Series,
    age_at,
    format_da,
    format_person_name,
    format_tm,
)
from workstation.viewer.pixels import LookupTable, Voi
from workstation.viewer.stack import Frame, ImageStack, order_instances


def corner_texts(
    stack: ImageStack,
    index: int,
    window: Voi | None,
    zoom: float = 1.0,
    *,
    invert: bool = False,
) -> dict[str, str]:
    """Patient top left, study top right, series and image bottom left, window bottom right.

    Top left: name, Patient ID, birth date, age at the study and sex (PS3.3 C.7.1.1). Top
    right: institution, study description, study date and time (C.7.2.1). Bottom left: series
    number and description, position in the stack and Instance Number (C.7.6.1), Slice
    Location and Slice Thickness (C.7.6.2). Bottom right: window (with its name) and zoom.
    """
    study = stack.study
    patient = study.patient
    frame = stack.frames[index]
    inst = frame.instance
    series = stack.series
    age = age_at(patient.birth_date, study.study_date)
    top_left = [
        format_person_name(patient.patient_name),
        patient.patient_id,
        " ".join(p for p in (format_da(patient.birth_date), age, patient.sex) if p),
    ]
    top_right = [
        study.institution_name,
        study.study_description,
        " ".join(p for p in (format_da(study.study_date), format_tm(study.study_time)) if p),
    ]
    bottom_left = [
        f"Se {series.series_number}" if series.series_number is not None else "",
        series.series_description,
        f"Im {index + 1}/{len(stack)}",
    ]
    if inst.instance_number is not None and inst.instance_number != index + 1:
        bottom_left[-1] += f"  #{inst.instance_number}"
    if inst.number_of_frames > 1:
        bottom_left[-1] += f"  (frame {frame.frame + 1}/{inst.number_of_frames})"
    if inst.slice_location is not None:
        bottom_left.append(f"Loc {inst.slice_location:.1f} mm")
    if inst.slice_thickness:
        bottom_left.append(f"Thk {inst.slice_thickness:g} mm")
    bottom_right = []
    if window is not None and not stack.is_color(index):
        if isinstance(window, LookupTable):
            bottom_right.append(window.label())  # a VOI LUT has no centre and width
        else:
            name = f" {window.explanation}" if window.explanation else ""
            bottom_right.append(f"W {window.width:.0f} L {window.center:.0f}{name}")
    if invert:
        bottom_right.append("Inverted")
    bottom_right.append(f"Zoom {zoom * 100:.0f}%")
    return {
        "top_left": "\n".join(t for t in top_left if t),
        "top_right": "\n".join(t for t in top_right if t),
        "bottom_left": "\n".join(t for t in bottom_left if t),
        "bottom_right": "\n".join(bottom_right),
    }


# ---------------------------------------------------------------------------------------------
# The measurement list

KIND_NAMES: dict[MeasurementKind, str] = {
    MeasurementKind.LENGTH: "Length",
    MeasurementKind.ANGLE: "Angle",
    MeasurementKind.COBB: "Cobb angle",
    MeasurementKind.ELLIPSE: "Ellipse ROI",
    MeasurementKind.RECTANGLE: "Rectangle ROI",
    MeasurementKind.PROBE: "Probe",
}
_KIND_ORDER = {k: i for i, k in enumerate(KIND_NAMES)}
_VIEW_ORDER = {"axial": 0, "coronal": 1, "sagittal": 2}


@dataclass(frozen=True, slots=True)
class SeriesLabel:
    """What the list says about a series: "Se 2 Chest", and the unit of its values."""

    series_instance_uid: str
    series_number: int | None
    series_description: str
    modality: str
    value_unit: str = ""  # of ROI and probe values, e.g. "HU"

    @property
    def text(self) -> str:
        number = f"Se {self.series_number}" if self.series_number is not None else "Se ?"
        return f"{number} {self.series_description}".strip()


@dataclass(frozen=True, slots=True)
class ImageLocation:
    """Where a measured frame is in its series as the viewer shows it (1-based position)."""

    series: SeriesLabel
    position: int  # the "Im n" of the viewport's corner text
    count: int
    value_unit: str = ""


def value_unit_of(instance: Instance, modality: str) -> str:
    """Unit of an image's values: Rescale Type (PS3.3 C.11.1.1.2), HU for CT without one."""
    if instance.rescale_type:
        return instance.rescale_type
    return "HU" if modality.upper() == "CT" else ""


def series_label(series: Series, instances: Sequence[Instance] = ()) -> SeriesLabel:
    unit = value_unit_of(instances[0], series.modality) if instances else ""
    if not unit and series.modality.upper() == "CT":
        unit = "HU"
    return SeriesLabel(
        series.series_instance_uid,
        series.series_number,
        series.series_description,
        series.modality,
        unit,
    )


def stack_frames(instances: Sequence[Instance]) -> list[Frame]:
    """The frames of a series in the order an :class:`ImageStack` shows them."""
    ordered = order_instances([i for i in instances if i.has_pixels])
    return [Frame(inst, f) for inst in ordered for f in range(inst.number_of_frames)]


def frame_position(frames: Sequence[Frame], sop_instance_uid: str, frame_number: int) -> int | None:
    """0-based index of the frame (``frame_number`` 1-based, PS3.3 Table 10-3), None if absent."""
    return next(
        (
            i
            for i, f in enumerate(frames)
            if f.instance.sop_instance_uid == sop_instance_uid and f.frame + 1 == frame_number
        ),
        None,
    )


@dataclass(frozen=True, slots=True)
class StudyLocations:
    """Series labels and frame positions of one study, looked up once for the whole list."""

    series: Mapping[str, SeriesLabel]
    images: Mapping[tuple[str, int], ImageLocation]  # (SOP Instance UID, frame number)

    @classmethod
    def empty(cls) -> StudyLocations:
        return cls({}, {})


def study_locations(archive: LocalArchive, study_instance_uid: str) -> StudyLocations:
    """Where every frame of a study sits in its series' stack, from the store's index."""
    series_map: dict[str, SeriesLabel] = {}
    images: dict[tuple[str, int], ImageLocation] = {}
    for s in archive.series(study_instance_uid):
        instances = archive.instances(s.series_instance_uid)
        label = series_label(s, instances)
        series_map[s.series_instance_uid] = label
        frames = stack_frames(instances)
        for i, f in enumerate(frames):
            unit = value_unit_of(f.instance, s.modality)
            images[(f.instance.sop_instance_uid, f.frame + 1)] = ImageLocation(
                label, i + 1, len(frames), unit
            )
    return StudyLocations(series_map, images)


def _num(v: float | None, digits: int = 1) -> str:
    return "-" if v is None or math.isnan(v) else f"{v:.{digits}f}"


def format_value(m: Measurement, value_unit: str = "") -> str:
    """A measurement's value on one line, with its unit and calibration qualifier.

    "16.0 mm", "27.5 mm (at detector)" (PS3.3 10.7.1.1), "45.0°", "Cobb 12.0°", "603 HU",
    "201.1 mm² · mean 70.0 ± 1.2 HU" for an ROI (area, then mean ± SD of its pixels).
    """
    suffix = f" ({m.label})" if m.label else ""
    if m.kind is MeasurementKind.LENGTH:
        return f"{m.value:.1f} {m.unit}{suffix}"
    if m.kind is MeasurementKind.ANGLE:
        return f"{m.value:.1f}°"
    if m.kind is MeasurementKind.COBB:
        return f"Cobb {m.value:.1f}°"
    if m.kind is MeasurementKind.PROBE:
        return f"{m.value:.0f} {value_unit or m.unit}".rstrip()
    stats = f"mean {_num(m.detail('mean'))} ± {_num(m.detail('sd'))} {value_unit}".rstrip()
    return f"{m.value:.1f} {m.unit}{suffix} · {stats}"


def _axis_position(plane: MeasurementPlane) -> str | None:
    """ "S 20.0 mm" for a plane across one patient axis, None for an oblique plane."""
    n = plane.normal
    axis = max(range(3), key=lambda i: abs(n[i]))
    if abs(abs(n[axis]) - 1.0) > 1e-6:
        return None
    v = plane.origin_lps[axis]
    letter = (("L", "R"), ("P", "A"), ("S", "I"))[axis][0 if v >= 0 else 1]
    return f"{letter} {abs(v):.1f} mm"


def describe_plane(plane: MeasurementPlane, centre_lps: Sequence[float] | None = None) -> str:
    """Where an MPR measurement was made: "MPR axial S 20.0 mm", or for an oblique plane
    "MPR oblique (coronal) at R 36.0 A 9.0 S 20.0 mm" through the measurement's centre."""
    view = plane.view or "plane"
    at = _axis_position(plane)
    if at is not None:
        return f"MPR {view} {at}"
    p = centre_lps if centre_lps is not None else plane.origin_lps
    x, y, z = (float(c) for c in p[:3])
    where = (
        f"{'L' if x >= 0 else 'R'} {abs(x):.1f} {'P' if y >= 0 else 'A'} {abs(y):.1f} "
        f"{'S' if z >= 0 else 'I'} {abs(z):.1f} mm"
    )
    return f"MPR oblique ({view}) at {where}"


def _centre_lps(m: Measurement) -> tuple[float, float, float] | None:
    if m.plane is None:
        return None
    if m.kind in (MeasurementKind.ELLIPSE, MeasurementKind.PROBE):
        return m.plane.pixel_to_lps(*m.points[0])
    pts = [m.plane.pixel_to_lps(c, r) for c, r in m.points]
    return (
        sum(p[0] for p in pts) / len(pts),
        sum(p[1] for p in pts) / len(pts),
        sum(p[2] for p in pts) / len(pts),
    )


@dataclass(frozen=True, slots=True)
class MeasurementRow:
    """One line of the measurement list: the texts of its columns and the measurement."""

    measurement: Measurement
    name: str
    kind: str
    value: str
    where: str
    sort_key: tuple[object, ...]

    @property
    def measurement_id(self) -> str:
        return self.measurement.measurement_id


def measurement_row(m: Measurement, locations: StudyLocations) -> MeasurementRow:
    """The row of one measurement: 2D ones say their series and image ("Se 1 Head · Im 75/150"),
    MPR ones their series and plane."""
    kind = KIND_NAMES[m.kind]
    tie = (_KIND_ORDER[m.kind], m.points)
    if m.plane is not None:
        series = locations.series.get(m.plane.series_instance_uid)
        unit = series.value_unit if series is not None else ""
        se = series.text if series is not None else "series not in the store"
        number = series.series_number if series is not None else None
        where = f"{se} · {describe_plane(m.plane, _centre_lps(m))}"
        key: tuple[object, ...] = (
            1,
            number is None,
            number or 0,
            _VIEW_ORDER.get(m.plane.view, 3),
            m.plane.origin_lps,
            *tie,
        )
        return MeasurementRow(m, m.name, kind, format_value(m, unit), where, key)
    loc = locations.images.get((m.sop_instance_uid, m.frame_number))
    if loc is None:
        return MeasurementRow(m, m.name, kind, format_value(m), "image not in the store", (2, *tie))
    s = loc.series
    where = f"{s.text} · Im {loc.position}/{loc.count}"
    key = (0, s.series_number is None, s.series_number or 0, loc.position, *tie)
    return MeasurementRow(m, m.name, kind, format_value(m, loc.value_unit), where, key)


def measurement_rows(
    measurements: Iterable[Measurement], locations: StudyLocations
) -> list[MeasurementRow]:
    """The measurement list of a study: 2D measurements by series number and image position,
    then MPR ones by series, view and plane, then any whose image left the store."""
    rows = [measurement_row(m, locations) for m in measurements]
    rows.sort(key=lambda r: r.sort_key)
    return rows
