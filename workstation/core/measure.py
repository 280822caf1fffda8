"""Measurement maths of the 2D reading tools: calibration, lengths, angles, ROI statistics.

Image points are (column, row) floats with pixel centres on integers, so pixel (c, r) covers
[c - 0.5, c + 0.5) x [r - 0.5, r + 0.5) (PS3.3 C.7.6.2.1.1 places Image Position at the centre
of the first pixel). Distances are taken in millimetres through the row and column spacing
separately, so anisotropic pixels (PS3.3 10.7.1.3) measure right. Pure numpy: no Qt, no VTK.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from workstation.core.errors import WorkstationError
from workstation.core.geometry import pixel_to_patient
from workstation.core.model import Instance

Point = tuple[float, float]  # (column, row) in image pixels
Line = tuple[Point, Point]

# SOP Classes whose images are projections through the patient, so Pixel Spacing may mean a
# plane that is not the patient's (PS3.3 10.7.1.1): CR, DX, MG, IO, XA, RF families.
PROJECTION_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.1",  # CR Image
        "1.2.840.10008.5.1.4.1.1.1.1",  # DX for Presentation
        "1.2.840.10008.5.1.4.1.1.1.1.1",  # DX for Processing
        "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography for Presentation
        "1.2.840.10008.5.1.4.1.1.1.2.1",  # Digital Mammography for Processing
        "1.2.840.10008.5.1.4.1.1.1.3",  # Intra-oral for Presentation
        "1.2.840.10008.5.1.4.1.1.1.3.1",  # Intra-oral for Processing
        "1.2.840.10008.5.1.4.1.1.12.1",  # XA
        "1.2.840.10008.5.1.4.1.1.12.1.1",  # Enhanced XA
        "1.2.840.10008.5.1.4.1.1.12.2",  # XRF
        "1.2.840.10008.5.1.4.1.1.12.2.1",  # Enhanced XRF
    }
)
PROJECTION_MODALITIES = frozenset({"CR", "DX", "MG", "IO", "PX", "XA", "RF", "RG"})

# Spacings equal to this many decimal places are "the same values" (PS3.3 10.7.1.1); DS values
# are decimal text, so exact float equality would be too strict after a round trip.
_SAME_SPACING_TOLERANCE = 1e-6


class MeasurementError(WorkstationError):
    """A measurement cannot be made or read back (degenerate shape, bad stored record)."""


class SpacingSource(Enum):
    """Which spacing a calibration comes from, after PS3.3 10.7.1.1 and C.8.11.4."""

    PATIENT = "patient"  # Pixel Spacing of a cross-sectional image: in the patient
    CALIBRATED = "calibrated"  # projection: Pixel Spacing differs from Imager Pixel Spacing
    MAGNIFICATION_CORRECTED = "magnification_corrected"  # Imager Pixel Spacing / ERMF
    DETECTOR = "detector"  # projection: Imager Pixel Spacing, at the detector front plane
    UNKNOWN_PLANE = "unknown_plane"  # projection with Pixel Spacing only: meaning unknown
    UNCALIBRATED = "uncalibrated"  # no spacing at all: pixels
    USER = "user"  # the reader calibrated against an object of known size


_LABELS = {
    SpacingSource.PATIENT: "",
    SpacingSource.CALIBRATED: "calibrated",
    SpacingSource.MAGNIFICATION_CORRECTED: "corrected for magnification",
    SpacingSource.DETECTOR: "at detector",
    SpacingSource.UNKNOWN_PLANE: "plane unknown",
    SpacingSource.UNCALIBRATED: "pixels (uncalibrated)",
    SpacingSource.USER: "calibrated by user",
}


def _valid_spacing(value: Sequence[float] | None) -> tuple[float, float] | None:
    """A (row, column) spacing when both values are finite and positive (PS3.3 10.7.1.3)."""
    if value is None or len(value) < 2:
        return None
    row, col = float(value[0]), float(value[1])
    if not (math.isfinite(row) and math.isfinite(col)) or row <= 0 or col <= 0:
        return None
    return (row, col)


def _same(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return all(
        abs(x - y) <= _SAME_SPACING_TOLERANCE * max(1.0, abs(y)) for x, y in zip(a, b, strict=True)
    )


@dataclass(frozen=True, slots=True)
class PixelCalibration:
    """The spacing measurements use, where it comes from, and what the UI says about it.

    ``spacing`` is (row spacing, column spacing) in ``unit`` per pixel: millimetres, or 1 pixel
    when uncalibrated. ``label`` is "" for ordinary cross-sectional images and otherwise the
    qualifier the UI shows beside a value ("at detector", "corrected for magnification", ...).
    """

    spacing: tuple[float, float]
    source: SpacingSource
    magnification_factor: float | None = None
    calibration_id: str = ""  # the UserCalibration this one comes from (USER only)

    @classmethod
    def uncalibrated(cls) -> PixelCalibration:
        """Measurements in pixels, for images without any spacing."""
        return cls((1.0, 1.0), SpacingSource.UNCALIBRATED)

    @classmethod
    def from_instance(cls, instance: Instance, modality: str = "") -> PixelCalibration:
        """Choose the spacing of an image by the rules of PS3.3 10.7.1.1 and C.8.11.4.

        Projection radiographs (SOP Class or ``modality`` of the CR/DX/MG/XA/RF families, or any
        image with Imager Pixel Spacing): a Pixel Spacing that differs from Imager Pixel Spacing
        was calibrated or corrected and is used as is; otherwise Imager Pixel Spacing divided
        by Estimated Radiographic Magnification Factor (DX Positioning, PS3.3 C.8.11.5) when
        that is present, else Imager Pixel Spacing "at detector"; Pixel Spacing alone on a
        projection has a meaning that "cannot be determined" and is labelled so. Other images
        use Pixel Spacing (the Image Plane, C.7.6.2). No valid spacing: pixels.
        """
        pixel = _valid_spacing(instance.pixel_spacing)
        imager = _valid_spacing(instance.imager_pixel_spacing)
        projection = (
            instance.sop_class_uid in PROJECTION_SOP_CLASSES
            or modality.upper() in PROJECTION_MODALITIES
            or imager is not None
        )
        if not projection:
            if pixel is None:
                return cls.uncalibrated()
            return cls(pixel, SpacingSource.PATIENT)
        if imager is None:
            if pixel is None:
                return cls.uncalibrated()
            return cls(pixel, SpacingSource.UNKNOWN_PLANE)
        if pixel is not None and not _same(pixel, imager):
            return cls(pixel, SpacingSource.CALIBRATED)
        factor = instance.estimated_radiographic_magnification_factor
        if factor is not None and math.isfinite(factor) and factor > 0:
            corrected = (imager[0] / factor, imager[1] / factor)
            return cls(corrected, SpacingSource.MAGNIFICATION_CORRECTED, float(factor))
        return cls(imager, SpacingSource.DETECTOR)

    @property
    def is_calibrated(self) -> bool:
        """True when values are in millimetres, False when in pixels."""
        return self.source is not SpacingSource.UNCALIBRATED

    @property
    def unit(self) -> str:
        """Length unit of every value measured with this calibration: "mm" or "px"."""
        return "mm" if self.is_calibrated else "px"

    @property
    def area_unit(self) -> str:
        return "mm²" if self.is_calibrated else "px²"

    @property
    def label(self) -> str:
        """Qualifier shown beside a value; "" when nothing needs saying (cross-sectional)."""
        return _LABELS[self.source]

    @property
    def pixel_area(self) -> float:
        """Area of one pixel in ``area_unit``."""
        return self.spacing[0] * self.spacing[1]

    def to_physical(self, d_column: float, d_row: float) -> tuple[float, float]:
        """An image displacement (columns, rows) in ``unit``: (along rows, along columns)."""
        return (d_column * self.spacing[1], d_row * self.spacing[0])

    @property
    def ref(self) -> CalibrationRef:
        """What a measurement records of the calibration its value used."""
        return CalibrationRef(self.source, self.spacing, self.calibration_id)

    def same_as(self, ref: CalibrationRef | None) -> bool:
        """True when a measurement recorded with ``ref`` was valued with this calibration."""
        if ref is None:
            return False
        return (
            ref.source is self.source
            and ref.calibration_id == self.calibration_id
            and _same(ref.spacing_mm, self.spacing)
        )


@dataclass(frozen=True, slots=True)
class CalibrationRef:
    """The calibration a measurement's value was computed with, kept with the measurement so
    that values under different calibrations are never mixed silently (PS3.3 10.7.1.1)."""

    source: SpacingSource
    spacing_mm: tuple[float, float]
    calibration_id: str = ""

    @property
    def label(self) -> str:
        return _LABELS[self.source]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source.value, "spacing_mm": list(self.spacing_mm)}
        if self.calibration_id:
            out["id"] = self.calibration_id
        return out

    @classmethod
    def from_json(cls, data: Any) -> CalibrationRef:
        """Read the dict of ``to_json``; a bad record raises MeasurementError."""
        if not isinstance(data, Mapping):
            raise MeasurementError("a measurement's calibration must be a JSON object")
        try:
            sp = data["spacing_mm"]
            return cls(
                SpacingSource(data["source"]),
                (float(sp[0]), float(sp[1])),
                str(data.get("id") or ""),
            )
        except KeyError as exc:
            raise MeasurementError(
                f"a measurement's calibration lacks the key {exc.args[0]!r}"
            ) from None
        except (TypeError, ValueError, IndexError) as exc:
            raise MeasurementError(f"a measurement's calibration is malformed: {exc}") from None


_PIXELS = PixelCalibration.uncalibrated()


# ---------------------------------------------------------------------------------------------
# Calibration by the reader against an object of known size


class CalibrationError(MeasurementError):
    """A user calibration cannot be made or applied (cross-sectional image, bad length)."""


CROSS_SECTIONAL_REFUSAL = (
    "This image cannot be calibrated by the user: it is a cross-sectional image with a valid "
    "Pixel Spacing, which is the spacing in the patient and is authoritative (PS3.3 10.7.1.3)."
)
# A line this short (image pixels) gives a factor too uncertain to measure with.
MIN_CALIBRATION_LINE_PX = 10.0
MAX_KNOWN_LENGTH_MM = 10000.0


def user_calibration_base(instance: Instance, modality: str = "") -> PixelCalibration:
    """The file's calibration of an image the reader may calibrate by hand.

    Raises :class:`CalibrationError` with :data:`CROSS_SECTIONAL_REFUSAL` for an image whose
    Pixel Spacing lies in the patient (CT, MR, ...: PS3.3 10.7.1.3): there it is authoritative.
    Projection radiographs, secondary captures and scanned film without spacing may be
    calibrated (PS3.3 10.7.1.1 lets the spacing be "calibrated" by other means).
    """
    base = PixelCalibration.from_instance(instance, modality)
    if base.source is SpacingSource.PATIENT:
        raise CalibrationError(CROSS_SECTIONAL_REFUSAL)
    return base


@dataclass(frozen=True, slots=True)
class UserCalibration:
    """A spacing the reader set by drawing ``line`` over an object ``known_length_mm`` long.

    ``sop_instance_uid`` is "" when it applies to every image of the series (images of one
    geometry), else the one image it applies to. The aspect of the file's spacing
    (``base_spacing_mm``, (1, 1) without any) is kept: the calibration scales it by one factor,
    so anisotropic pixels stay anisotropic. ``user`` and ``created_at`` (UTC, ISO 8601) say
    who set it and when.
    """

    series_instance_uid: str
    sop_instance_uid: str
    spacing_mm: tuple[float, float]
    base_spacing_mm: tuple[float, float]
    base_source: SpacingSource
    known_length_mm: float
    line: Line
    drawn_on: str
    frame_number: int = 1
    user: str = ""
    created_at: str = ""
    calibration_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        sp = _valid_spacing(self.spacing_mm)
        base = _valid_spacing(self.base_spacing_mm)
        if sp is None or base is None:
            raise CalibrationError("a user calibration needs positive, finite spacings")
        object.__setattr__(self, "spacing_mm", sp)
        object.__setattr__(self, "base_spacing_mm", base)
        object.__setattr__(self, "base_source", SpacingSource(self.base_source))
        if self.base_source in (SpacingSource.USER, SpacingSource.PATIENT):
            raise CalibrationError(CROSS_SECTIONAL_REFUSAL)
        object.__setattr__(
            self, "line", (_point(self.line[0], "line start"), _point(self.line[1], "line end"))
        )

    @property
    def whole_series(self) -> bool:
        """True when the calibration holds for every image of the series."""
        return not self.sop_instance_uid

    @property
    def scope(self) -> str:
        """ "series" or "image": what the calibration applies to."""
        return "series" if self.whole_series else "image"

    @property
    def factor(self) -> float:
        """The user's spacing over the file's (1.0: the file was right)."""
        return self.spacing_mm[1] / self.base_spacing_mm[1]

    def pixel_calibration(self) -> PixelCalibration:
        """The calibration measurements on the images it covers use."""
        return PixelCalibration(self.spacing_mm, SpacingSource.USER, None, self.calibration_id)

    def applies_to(self, instance: Instance, base: PixelCalibration) -> bool:
        """True for an image of its series (or its image) with the spacing it scaled."""
        if instance.series_instance_uid != self.series_instance_uid:
            return False
        if self.sop_instance_uid and instance.sop_instance_uid != self.sop_instance_uid:
            return False
        return base.source is self.base_source and _same(base.spacing, self.base_spacing_mm)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.calibration_id,
            "series_instance_uid": self.series_instance_uid,
            "sop_instance_uid": self.sop_instance_uid,
            "spacing_mm": list(self.spacing_mm),
            "base_spacing_mm": list(self.base_spacing_mm),
            "base_source": self.base_source.value,
            "known_length_mm": self.known_length_mm,
            "line": [list(self.line[0]), list(self.line[1])],
            "drawn_on": self.drawn_on,
            "frame_number": self.frame_number,
            "user": self.user,
            "created_at": self.created_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> UserCalibration:
        """Read the dict of ``to_json``; a bad record raises :class:`CalibrationError`."""
        if not isinstance(data, Mapping):
            raise CalibrationError("a stored calibration must be a JSON object")
        try:
            sp, base, line = data["spacing_mm"], data["base_spacing_mm"], data["line"]
            return cls(
                series_instance_uid=str(data["series_instance_uid"]),
                sop_instance_uid=str(data.get("sop_instance_uid") or ""),
                spacing_mm=(float(sp[0]), float(sp[1])),
                base_spacing_mm=(float(base[0]), float(base[1])),
                base_source=SpacingSource(data["base_source"]),
                known_length_mm=float(data["known_length_mm"]),
                line=(_point(line[0], "line start"), _point(line[1], "line end")),
                drawn_on=str(data.get("drawn_on") or ""),
                frame_number=int(data.get("frame_number", 1)),
                user=str(data.get("user") or ""),
                created_at=str(data.get("created_at") or ""),
                calibration_id=str(data.get("id") or uuid.uuid4().hex),
            )
        except KeyError as exc:
            raise CalibrationError(f"a stored calibration lacks the key {exc.args[0]!r}") from None
        except (TypeError, ValueError, IndexError) as exc:
            raise CalibrationError(f"a stored calibration is malformed: {exc}") from None


def calibrate_from_line(
    p0: Sequence[float],
    p1: Sequence[float],
    known_length_mm: float,
    instance: Instance,
    modality: str = "",
    *,
    whole_series: bool = True,
    frame_number: int = 1,
    user: str = "",
    created_at: str = "",
) -> UserCalibration:
    """The calibration that makes the line p0-p1 on ``instance`` measure ``known_length_mm``.

    The file's spacing is scaled by one factor (its aspect kept; square pixels when it has
    none). Raises :class:`CalibrationError` for a cross-sectional image, a length that is
    not a positive number of mm, or a line shorter than :data:`MIN_CALIBRATION_LINE_PX`.
    """
    base = user_calibration_base(instance, modality)
    try:
        known = float(known_length_mm)
    except (TypeError, ValueError):
        raise CalibrationError("the known length must be a number of millimetres") from None
    if not (math.isfinite(known) and 0 < known <= MAX_KNOWN_LENGTH_MM):
        raise CalibrationError(
            f"the known length must be more than 0 and at most {MAX_KNOWN_LENGTH_MM:.0f} mm"
        )
    a, b = _point(p0, "calibration line start"), _point(p1, "calibration line end")
    if math.hypot(b[0] - a[0], b[1] - a[1]) < MIN_CALIBRATION_LINE_PX:
        raise CalibrationError(
            f"the calibration line is shorter than {MIN_CALIBRATION_LINE_PX:.0f} pixels: "
            "draw it across the whole object of known size"
        )
    drawn = length_mm(a, b, base)  # in the file's unit (mm, or px without spacing)
    k = known / drawn
    return UserCalibration(
        series_instance_uid=instance.series_instance_uid,
        sop_instance_uid="" if whole_series else instance.sop_instance_uid,
        spacing_mm=(base.spacing[0] * k, base.spacing[1] * k),
        base_spacing_mm=base.spacing,
        base_source=base.source,
        known_length_mm=known,
        line=(a, b),
        drawn_on=instance.sop_instance_uid,
        frame_number=frame_number,
        user=user,
        created_at=created_at,
    )


def shares_geometry(instances: Sequence[Instance]) -> bool:
    """True when the images of a series have one geometry (size, Pixel Spacing, Imager Pixel
    Spacing, magnification: PS3.3 10.7.1.1), so one user calibration holds for them all."""

    def key(i: Instance) -> tuple[Any, ...]:
        return (
            i.rows,
            i.columns,
            _valid_spacing(i.pixel_spacing),
            _valid_spacing(i.imager_pixel_spacing),
            i.estimated_radiographic_magnification_factor,
        )

    return len({key(i) for i in instances}) <= 1


def effective_calibration(
    instance: Instance,
    modality: str = "",
    user_calibrations: Sequence[UserCalibration] = (),
) -> PixelCalibration:
    """The calibration an image measures with: a user calibration of that image, else of its
    series, else the file's (:meth:`PixelCalibration.from_instance`). A cross-sectional
    image never takes a user calibration (PS3.3 10.7.1.3)."""
    base = PixelCalibration.from_instance(instance, modality)
    if base.source is SpacingSource.PATIENT:
        return base
    found = [c for c in user_calibrations if c.applies_to(instance, base)]
    found.sort(key=lambda c: c.whole_series)  # the image's own first
    return found[0].pixel_calibration() if found else base


def _point(p: Sequence[float], name: str) -> Point:
    try:
        c, r = float(p[0]), float(p[1])
    except (TypeError, ValueError, IndexError):
        raise MeasurementError(f"{name} must be a (column, row) pair of numbers") from None
    if not (math.isfinite(c) and math.isfinite(r)):
        raise MeasurementError(f"{name} must be finite")
    return (c, r)


def _vector(
    p0: Sequence[float], p1: Sequence[float], calibration: PixelCalibration, name: str
) -> tuple[float, float]:
    a, b = _point(p0, f"{name} start"), _point(p1, f"{name} end")
    return calibration.to_physical(b[0] - a[0], b[1] - a[1])


def length_mm(
    p0: Sequence[float], p1: Sequence[float], calibration: PixelCalibration = _PIXELS
) -> float:
    """Distance between two image points in ``calibration.unit`` (mm unless uncalibrated)."""
    dx, dy = _vector(p0, p1, calibration, "line")
    return math.hypot(dx, dy)


def _angle_between(u: tuple[float, float], v: tuple[float, float], name: str) -> float:
    nu, nv = math.hypot(*u), math.hypot(*v)
    if nu == 0 or nv == 0:
        raise MeasurementError(f"{name}: a line of zero length has no direction")
    # atan2 of cross and dot stays accurate near 0° and 180°, where acos loses digits.
    cross = u[0] * v[1] - u[1] * v[0]
    dot = u[0] * v[0] + u[1] * v[1]
    return math.degrees(math.atan2(abs(cross), dot))


def angle_deg(
    a: Sequence[float],
    vertex: Sequence[float],
    b: Sequence[float],
    calibration: PixelCalibration = _PIXELS,
) -> float:
    """The angle a-vertex-b in degrees, 0 to 180, measured in physical space.

    With anisotropic pixels the angle on the patient differs from the angle on the screen
    grid, so the rays are scaled by the calibration's row and column spacing first.
    """
    return _angle_between(
        _vector(vertex, a, calibration, "first ray"),
        _vector(vertex, b, calibration, "second ray"),
        "angle",
    )


def cobb_angle_deg(
    line1: Sequence[Sequence[float]],
    line2: Sequence[Sequence[float]],
    calibration: PixelCalibration = _PIXELS,
    spine_axis: Sequence[float] | None = (0.0, 1.0),
) -> float:
    """The Cobb angle between two endplate lines, in degrees.

    Convention: each endplate line is given the direction that points "across" the spine
    (positive along the perpendicular of ``spine_axis``, by default the image's vertical, as a
    spine radiograph is displayed upright), whichever end the user drew first; the Cobb angle
    is the angle between these directed lines, 0 to 180°. For curves under 90° it equals the
    acute angle between the lines; for severe curves (each endplate tilted towards the
    concavity, sum over 90°) it gives the obtuse value a radiologist reads, where the plain
    line-to-line angle would under-report (e.g. 70° for a 110° curve). With
    ``spine_axis=None`` the plain angle between undirected lines (0 to 90°) is returned.
    """
    if len(line1) != 2 or len(line2) != 2:
        raise MeasurementError("a Cobb angle needs two lines of two points each")
    u = _vector(line1[0], line1[1], calibration, "first line")
    v = _vector(line2[0], line2[1], calibration, "second line")
    if spine_axis is None:
        angle = _angle_between(u, v, "Cobb angle")
        return 180.0 - angle if angle > 90.0 else angle
    axis = calibration.to_physical(*_point(spine_axis, "spine axis"))
    across = (axis[1], -axis[0])  # perpendicular to the spine axis
    if math.hypot(*across) == 0:
        raise MeasurementError("spine axis must not be of zero length")

    def oriented(w: tuple[float, float]) -> tuple[float, float]:
        return w if w[0] * across[0] + w[1] * across[1] >= 0 else (-w[0], -w[1])

    return _angle_between(oriented(u), oriented(v), "Cobb angle")


# ---------------------------------------------------------------------------------------------
# Regions of interest


@dataclass(frozen=True, slots=True)
class RoiStats:
    """Statistics of the pixels whose centres lie inside (or on) a region's outline.

    ``sd`` is the sample standard deviation (ddof=1; NaN for a single pixel). ``area`` is the
    area of the drawn shape (π·a·b for an ellipse) and is what the UI shows; ``pixel_area`` is
    pixel count × pixel area, which differs from it by the outline's staircase. Both are in
    ``area_unit`` (mm², or px² when the image is uncalibrated).
    """

    mean: float
    sd: float
    minimum: float
    maximum: float
    pixel_count: int
    area: float
    pixel_area: float
    area_unit: str


def _values_2d(values: ArrayLike) -> NDArray[Any]:
    arr = np.asarray(values)
    if arr.ndim != 2:
        raise MeasurementError(
            f"ROI statistics need one greyscale frame (2 dimensions), not {arr.ndim}"
        )
    return arr


def _stats(
    selected: NDArray[Any], area: float, calibration: PixelCalibration, shape: str
) -> RoiStats:
    n = int(selected.size)
    if n == 0:
        raise MeasurementError(f"the {shape} contains no pixel centre inside the image")
    data = selected.astype(np.float64, copy=False)
    mean = float(data.mean())
    sd = float(data.std(ddof=1)) if n > 1 else math.nan
    return RoiStats(
        mean=mean,
        sd=sd,
        minimum=float(data.min()),
        maximum=float(data.max()),
        pixel_count=n,
        area=area,
        pixel_area=n * calibration.pixel_area,
        area_unit=calibration.area_unit,
    )


def _index_range(lo: float, hi: float, size: int) -> tuple[int, int]:
    """Integer pixel centres in [lo, hi], clipped to the image: a half-open range."""
    return max(math.ceil(lo), 0), min(math.floor(hi), size - 1) + 1


def ellipse_mask(
    shape: tuple[int, ...], center: Sequence[float], radii: Sequence[float]
) -> tuple[NDArray[np.bool_], slice, slice]:
    """Pixels of an image of ``shape`` (rows, columns) whose centres lie in an ellipse.

    ``radii`` are (along columns, along rows) in pixels, axes aligned with the image. Returns
    the mask of the bounding box and the (row, column) slices that place it in the image.
    """
    cc, cr = _point(center, "ellipse centre")
    a, b = _point(radii, "ellipse radii")
    if a <= 0 or b <= 0:
        raise MeasurementError("ellipse radii must be positive")
    c0, c1 = _index_range(cc - a, cc + a, shape[1])
    r0, r1 = _index_range(cr - b, cr + b, shape[0])
    cols = (np.arange(c0, max(c1, c0), dtype=np.float64) - cc) / a
    rows = (np.arange(r0, max(r1, r0), dtype=np.float64) - cr) / b
    mask = rows[:, np.newaxis] ** 2 + cols[np.newaxis, :] ** 2 <= 1.0
    return mask, slice(r0, max(r1, r0)), slice(c0, max(c1, c0))


def ellipse_roi_stats(
    values: ArrayLike,
    center: Sequence[float],
    radii: Sequence[float],
    calibration: PixelCalibration = _PIXELS,
) -> RoiStats:
    """Statistics of an axis-aligned ellipse ROI; ``radii`` (columns, rows) in pixels.

    A pixel belongs to the ROI when its centre lies inside the ellipse or on it.
    """
    arr = _values_2d(values)
    mask, rs, cs = ellipse_mask(arr.shape, center, radii)
    a, b = float(radii[0]), float(radii[1])
    area = math.pi * a * calibration.spacing[1] * b * calibration.spacing[0]
    return _stats(arr[rs, cs][mask], area, calibration, "ellipse")


def rectangle_roi_stats(
    values: ArrayLike,
    corner0: Sequence[float],
    corner1: Sequence[float],
    calibration: PixelCalibration = _PIXELS,
) -> RoiStats:
    """Statistics of an axis-aligned rectangle ROI between two opposite corners (any order).

    A pixel belongs to the ROI when its centre lies inside the rectangle or on its edge.
    """
    arr = _values_2d(values)
    p, q = _point(corner0, "first corner"), _point(corner1, "second corner")
    cmin, cmax = sorted((p[0], q[0]))
    rmin, rmax = sorted((p[1], q[1]))
    c0, c1 = _index_range(cmin, cmax, arr.shape[1])
    r0, r1 = _index_range(rmin, rmax, arr.shape[0])
    width, height = calibration.to_physical(cmax - cmin, rmax - rmin)
    selected = arr[r0:r1, c0:c1] if r1 > r0 and c1 > c0 else arr[0:0, 0:0]
    return _stats(selected.ravel(), width * height, calibration, "rectangle")


# ---------------------------------------------------------------------------------------------
# Probe


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The value under the pointer and where that pixel's centre is in the patient."""

    column: int
    row: int
    value: float
    patient_lps: tuple[float, float, float] | None  # None without Image Plane attributes


def probe(values: ArrayLike, col: float, row: float, instance: Instance) -> ProbeResult | None:
    """The pixel nearest to (col, row) and its centre in LPS mm (PS3.3 C.7.6.2.1.1).

    ``values`` is the frame after the Modality LUT. Returns None when the point is outside the
    image. The patient coordinate needs Image Position, Image Orientation and Pixel Spacing;
    a projection radiograph has no patient plane, so it gets None there.
    """
    arr = _values_2d(values)
    c, r = _point((col, row), "probe point")
    ci, ri = math.floor(c + 0.5), math.floor(r + 0.5)
    if not (0 <= ci < arr.shape[1] and 0 <= ri < arr.shape[0]):
        return None
    spacing = _valid_spacing(instance.pixel_spacing)
    lps = None
    if (
        spacing is not None
        and instance.image_position_patient is not None
        and instance.image_orientation_patient is not None
    ):
        lps = pixel_to_patient(
            instance.image_position_patient, instance.image_orientation_patient, spacing, ci, ri
        )
    return ProbeResult(ci, ri, float(arr[ri, ci]), lps)


# ---------------------------------------------------------------------------------------------
# Stored measurements


class MeasurementKind(StrEnum):
    LENGTH = "length"
    ANGLE = "angle"
    COBB = "cobb"
    ELLIPSE = "ellipse"
    RECTANGLE = "rectangle"
    PROBE = "probe"


_POINT_COUNT = {
    MeasurementKind.LENGTH: 2,
    MeasurementKind.ANGLE: 3,
    MeasurementKind.COBB: 4,
    MeasurementKind.ELLIPSE: 2,  # centre, then (column radius, row radius) as a point
    MeasurementKind.RECTANGLE: 2,
    MeasurementKind.PROBE: 1,
}

MEASUREMENT_SCHEMA_VERSION = 1
# A reader's name for a measurement ("aortic root"): one line of at most 64 characters, what a
# Long String (LO) holds (PS3.5 Table 6.2-1), so it can travel in a report unchanged.
MAX_NAME_LENGTH = 64


def clean_name(name: str) -> str:
    """A measurement name on one line, whitespace collapsed; too long raises MeasurementError."""
    if not isinstance(name, str):
        raise MeasurementError("a measurement name must be text")
    text = " ".join(name.split())
    if len(text) > MAX_NAME_LENGTH:
        raise MeasurementError(
            f"a measurement name holds at most {MAX_NAME_LENGTH} characters, not {len(text)}"
        )
    return text


def _vec3(v: Any, name: str) -> tuple[float, float, float]:
    try:
        x, y, z = (float(c) for c in v)
    except (TypeError, ValueError):
        raise MeasurementError(f"{name} must be three numbers (x, y, z in LPS)") from None
    if not all(math.isfinite(c) for c in (x, y, z)):
        raise MeasurementError(f"{name} must be finite")
    return (x, y, z)


@dataclass(frozen=True, slots=True)
class MeasurementPlane:
    """Where a measurement made on a reformatted (MPR) image lies in the patient.

    Like the Image Plane Module (PS3.3 C.7.6.2.1.1): ``origin_lps`` is the centre of image pixel
    (0, 0), ``row_direction`` the LPS unit vector along a row (growing column, screen right)
    and ``column_direction`` along a column (growing row, screen down); pixels are square,
    ``pixel_spacing_mm`` on each side, and the image is ``columns`` × ``rows``. A reformatted
    plane has no SOP Instance: ``series_instance_uid`` names the series it was resliced from,
    ``view`` the MPR viewport, and a slab its thickness and projection ("mip", "minip", "avg").
    """

    origin_lps: tuple[float, float, float]
    row_direction: tuple[float, float, float]
    column_direction: tuple[float, float, float]
    pixel_spacing_mm: float
    columns: int
    rows: int
    series_instance_uid: str = ""
    view: str = ""
    slab_thickness_mm: float | None = None
    slab_mode: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "origin_lps", _vec3(self.origin_lps, "plane origin"))
        for attr in ("row_direction", "column_direction"):
            v = _vec3(getattr(self, attr), f"plane {attr.replace('_', ' ')}")
            if abs(math.hypot(*v) - 1.0) > 1e-6:
                raise MeasurementError(f"plane {attr.replace('_', ' ')} must be a unit vector")
            object.__setattr__(self, attr, v)
        dot = sum(a * b for a, b in zip(self.row_direction, self.column_direction, strict=True))
        if abs(dot) > 1e-6:
            raise MeasurementError("a plane's row and column directions must be orthogonal")
        s = float(self.pixel_spacing_mm)
        if not (math.isfinite(s) and s > 0):
            raise MeasurementError("a plane's pixel spacing must be a positive number of mm")
        object.__setattr__(self, "pixel_spacing_mm", s)
        if int(self.columns) < 1 or int(self.rows) < 1:
            raise MeasurementError("a plane's image needs at least one row and one column")
        object.__setattr__(self, "columns", int(self.columns))
        object.__setattr__(self, "rows", int(self.rows))

    @property
    def normal(self) -> tuple[float, float, float]:
        """Row direction × column direction (towards the head for an axial plane)."""
        (a, b, c), (d, e, f) = self.row_direction, self.column_direction
        return (b * f - c * e, c * d - a * f, a * e - b * d)

    def pixel_to_lps(self, col: float, row: float) -> tuple[float, float, float]:
        """The LPS point of image point (col, row) on this plane."""
        s = self.pixel_spacing_mm
        o, x, y = self.origin_lps, self.row_direction, self.column_direction
        return (
            o[0] + s * (col * x[0] + row * y[0]),
            o[1] + s * (col * x[1] + row * y[1]),
            o[2] + s * (col * x[2] + row * y[2]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "position_lps": list(self.origin_lps),
            "row_direction": list(self.row_direction),
            "column_direction": list(self.column_direction),
            "normal": list(self.normal),
            "pixel_spacing_mm": self.pixel_spacing_mm,
            "size": [self.columns, self.rows],
            "series_instance_uid": self.series_instance_uid,
            "view": self.view,
            "slab": None
            if self.slab_thickness_mm is None
            else {"thickness_mm": self.slab_thickness_mm, "mode": self.slab_mode},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MeasurementPlane:
        """Read the dict of ``to_json``; a bad record raises MeasurementError."""
        if not isinstance(data, Mapping):
            raise MeasurementError("a measurement's plane must be a JSON object")
        try:
            size = data["size"]
            slab = data.get("slab")
            if slab is not None and not isinstance(slab, Mapping):
                raise MeasurementError("a measurement's slab must be a JSON object")
            return cls(
                origin_lps=data["position_lps"],
                row_direction=data["row_direction"],
                column_direction=data["column_direction"],
                pixel_spacing_mm=float(data["pixel_spacing_mm"]),
                columns=int(size[0]),
                rows=int(size[1]),
                series_instance_uid=str(data.get("series_instance_uid", "")),
                view=str(data.get("view", "")),
                slab_thickness_mm=None if slab is None else float(slab["thickness_mm"]),
                slab_mode="" if slab is None else str(slab.get("mode", "")),
            )
        except KeyError as exc:
            raise MeasurementError(f"a measurement's plane lacks the key {exc.args[0]!r}") from None
        except (TypeError, ValueError, IndexError) as exc:
            raise MeasurementError(f"a measurement's plane is malformed: {exc}") from None


@dataclass(frozen=True, slots=True)
class Measurement:
    """One measurement as a study keeps it: what was drawn, on which frame, what it measured.

    ``points`` are image (column, row) points in the order of the tool (for an ellipse: the
    centre, then the radii). ``frame_number`` is 1-based like Referenced Frame Number
    (0008,1160) of PS3.3 Table 10-3. ``details`` carries the extra numbers of an ROI (mean,
    SD, ...). ``measurement_id`` lets the UI edit or delete one measurement of a study.
    ``label`` is the calibration's qualifier ("at detector", PS3.3 10.7.1.1); ``name`` is what
    the reader called it ("aortic root"), shown beside the value. ``plane`` is set for a
    measurement made on a reformatted (MPR) image, whose points are pixels of that plane; its
    ``sop_instance_uid`` then holds the Series Instance UID, as no SOP Instance exists.
    ``calibration`` records which calibration the value was computed with (the file's spacing
    or a user calibration), so a value is never silently read under another one.
    """

    kind: MeasurementKind
    points: tuple[Point, ...]
    value: float
    unit: str
    label: str
    sop_instance_uid: str
    frame_number: int = 1
    details: tuple[tuple[str, float], ...] = ()
    measurement_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    name: str = ""
    plane: MeasurementPlane | None = None
    calibration: CalibrationRef | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", clean_name(self.name))
        expected = _POINT_COUNT[self.kind]
        if len(self.points) != expected:
            raise MeasurementError(
                f"a {self.kind.value} measurement has {expected} points, not {len(self.points)}"
            )
        if self.frame_number < 1:
            raise MeasurementError("frame_number is 1-based")

    def detail(self, name: str) -> float | None:
        return next((v for k, v in self.details if k == name), None)

    def with_name(self, name: str) -> Measurement:
        """The same measurement under another name (cleaned by :func:`clean_name`)."""
        return replace(self, name=name)

    @property
    def is_mpr(self) -> bool:
        """True for a measurement made on a reformatted plane (it has a ``plane``)."""
        return self.plane is not None

    @property
    def series_instance_uid(self) -> str | None:
        """The series of an MPR measurement; None for one on a stored image (ask the index)."""
        return self.plane.series_instance_uid if self.plane is not None else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; ``from_json`` reads it back.

        ``name``, ``plane`` and ``calibration`` are written only when set, so a record
        without them reads the same in versions that predate them.
        """
        out = self._base_json()
        if self.name:
            out["name"] = self.name
        if self.plane is not None:
            out["plane"] = self.plane.to_json()
        if self.calibration is not None:
            out["calibration"] = self.calibration.to_json()
        return out

    def _base_json(self) -> dict[str, Any]:
        return {
            "version": MEASUREMENT_SCHEMA_VERSION,
            "id": self.measurement_id,
            "kind": self.kind.value,
            "points": [[p[0], p[1]] for p in self.points],
            "value": _json_float(self.value),
            "unit": self.unit,
            "label": self.label,
            "sop_instance_uid": self.sop_instance_uid,
            "frame_number": self.frame_number,
            "details": {k: _json_float(v) for k, v in self.details},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Measurement:
        """Read a dict written by ``to_json``; a bad record raises MeasurementError."""
        if not isinstance(data, Mapping):
            raise MeasurementError("a stored measurement must be a JSON object")
        version = data.get("version", MEASUREMENT_SCHEMA_VERSION)
        if version != MEASUREMENT_SCHEMA_VERSION:
            raise MeasurementError(f"measurement 'version' {version!r} is not supported")
        try:
            kind = MeasurementKind(data["kind"])
            plane = data.get("plane")
            cal = data.get("calibration")
            points = tuple(_point(p, "points") for p in data["points"])
            value = _from_json_float(data["value"])
            details = tuple(
                (str(k), _from_json_float(v)) for k, v in dict(data.get("details", {})).items()
            )
            return cls(
                kind=kind,
                points=points,
                value=value,
                unit=str(data["unit"]),
                label=str(data.get("label", "")),
                sop_instance_uid=str(data["sop_instance_uid"]),
                frame_number=int(data.get("frame_number", 1)),
                details=details,
                measurement_id=str(data.get("id") or uuid.uuid4().hex),
                name=str(data.get("name") or ""),
                plane=None if plane is None else MeasurementPlane.from_json(plane),
                calibration=None if cal is None else CalibrationRef.from_json(cal),
            )
        except KeyError as exc:
            raise MeasurementError(f"stored measurement lacks the key {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise MeasurementError(f"stored measurement is malformed: {exc}") from None


def _json_float(v: float) -> float | None:
    """NaN (the SD of one pixel) is not JSON: stored as null."""
    return None if math.isnan(v) else float(v)


def _from_json_float(v: Any) -> float:
    return math.nan if v is None else float(v)


def measurements_to_json(measurements: Sequence[Measurement]) -> str:
    """Serialise a study's measurements as one JSON text (for the store)."""
    return json.dumps([m.to_json() for m in measurements], ensure_ascii=False, allow_nan=False)


def measurements_from_json(text: str) -> list[Measurement]:
    """Read back the text of ``measurements_to_json``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MeasurementError(f"stored measurements are not valid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise MeasurementError("stored measurements must be a JSON list")
    return [Measurement.from_json(item) for item in data]


# Factories: measure and record in one call, as a tool does when the user releases the mouse.


def length_measurement(
    p0: Sequence[float],
    p1: Sequence[float],
    calibration: PixelCalibration,
    sop_instance_uid: str,
    frame_number: int = 1,
) -> Measurement:
    return Measurement(
        MeasurementKind.LENGTH,
        (_point(p0, "start"), _point(p1, "end")),
        length_mm(p0, p1, calibration),
        calibration.unit,
        calibration.label,
        sop_instance_uid,
        frame_number,
        calibration=calibration.ref,
    )


def angle_measurement(
    a: Sequence[float],
    vertex: Sequence[float],
    b: Sequence[float],
    calibration: PixelCalibration,
    sop_instance_uid: str,
    frame_number: int = 1,
) -> Measurement:
    return Measurement(
        MeasurementKind.ANGLE,
        (_point(a, "a"), _point(vertex, "vertex"), _point(b, "b")),
        angle_deg(a, vertex, b, calibration),
        "deg",
        "",
        sop_instance_uid,
        frame_number,
        calibration=calibration.ref,
    )


def cobb_measurement(
    line1: Sequence[Sequence[float]],
    line2: Sequence[Sequence[float]],
    calibration: PixelCalibration,
    sop_instance_uid: str,
    frame_number: int = 1,
) -> Measurement:
    pts = tuple(_point(p, "Cobb line point") for p in (*line1, *line2))
    return Measurement(
        MeasurementKind.COBB,
        pts,
        cobb_angle_deg(line1, line2, calibration),
        "deg",
        "",
        sop_instance_uid,
        frame_number,
        calibration=calibration.ref,
    )


def _roi_details(stats: RoiStats) -> tuple[tuple[str, float], ...]:
    return (
        ("mean", stats.mean),
        ("sd", stats.sd),
        ("min", stats.minimum),
        ("max", stats.maximum),
        ("pixel_count", float(stats.pixel_count)),
        ("pixel_area", stats.pixel_area),
    )


def ellipse_measurement(
    values: ArrayLike,
    center: Sequence[float],
    radii: Sequence[float],
    calibration: PixelCalibration,
    sop_instance_uid: str,
    frame_number: int = 1,
) -> Measurement:
    """An ellipse ROI: value is the shape's area; details hold the pixel statistics."""
    stats = ellipse_roi_stats(values, center, radii, calibration)
    return Measurement(
        MeasurementKind.ELLIPSE,
        (_point(center, "centre"), _point(radii, "radii")),
        stats.area,
        stats.area_unit,
        calibration.label,
        sop_instance_uid,
        frame_number,
        _roi_details(stats),
        calibration=calibration.ref,
    )


def rectangle_measurement(
    values: ArrayLike,
    corner0: Sequence[float],
    corner1: Sequence[float],
    calibration: PixelCalibration,
    sop_instance_uid: str,
    frame_number: int = 1,
) -> Measurement:
    """A rectangle ROI: value is the shape's area; details hold the pixel statistics."""
    stats = rectangle_roi_stats(values, corner0, corner1, calibration)
    return Measurement(
        MeasurementKind.RECTANGLE,
        (_point(corner0, "first corner"), _point(corner1, "second corner")),
        stats.area,
        stats.area_unit,
        calibration.label,
        sop_instance_uid,
        frame_number,
        _roi_details(stats),
        calibration=calibration.ref,
    )


def probe_measurement(
    values: ArrayLike,
    col: float,
    row: float,
    instance: Instance,
    frame_number: int = 1,
) -> Measurement | None:
    """A probe kept as an annotation; the unit is Rescale Type (PS3.3 C.11.1.1.2) when given."""
    result = probe(values, col, row, instance)
    if result is None:
        return None
    return Measurement(
        MeasurementKind.PROBE,
        ((float(result.column), float(result.row)),),
        result.value,
        instance.rescale_type,
        "",
        instance.sop_instance_uid,
        frame_number,
    )


def recalibrate(m: Measurement, calibration: PixelCalibration) -> Measurement:
    """``m`` valued again with another calibration: the points, statistics, id and name stay;
    the value, unit, label and the calibration record change. Needs no pixel data: an ROI's
    area is its shape's and its pixel count does not depend on the spacing. A probe and a
    measurement on an MPR plane (whose spacing is the plane's) come back unchanged."""
    if m.kind is MeasurementKind.PROBE or m.plane is not None:
        return m
    p = m.points
    details = m.details
    label = calibration.label
    if m.kind is MeasurementKind.LENGTH:
        value, unit = length_mm(p[0], p[1], calibration), calibration.unit
    elif m.kind is MeasurementKind.ANGLE:
        value, unit, label = angle_deg(p[0], p[1], p[2], calibration), "deg", ""
    elif m.kind is MeasurementKind.COBB:
        value, unit, label = cobb_angle_deg(p[0:2], p[2:4], calibration), "deg", ""
    else:
        if m.kind is MeasurementKind.ELLIPSE:
            (a, b) = p[1]
            value = math.pi * abs(a) * calibration.spacing[1] * abs(b) * calibration.spacing[0]
        else:
            w, h = calibration.to_physical(abs(p[1][0] - p[0][0]), abs(p[1][1] - p[0][1]))
            value = w * h
        unit = calibration.area_unit
        count = m.detail("pixel_count")
        if count is not None:
            details = tuple(
                (k, count * calibration.pixel_area if k == "pixel_area" else v)
                for k, v in m.details
            )
    return replace(
        m, value=value, unit=unit, label=label, details=details, calibration=calibration.ref
    )


def needs_recalibration(m: Measurement, calibration: PixelCalibration) -> bool:
    """True when ``m``'s value was computed with another calibration than ``calibration``.

    A record without a calibration (made before calibrations were recorded) counts as made
    with the file's spacing when its label is that calibration's label and it is not a user
    calibration; a probe and an MPR measurement never need it.
    """
    if m.kind is MeasurementKind.PROBE or m.plane is not None:
        return False
    if m.calibration is None:
        return calibration.source is SpacingSource.USER or (
            m.kind in (MeasurementKind.LENGTH, MeasurementKind.ELLIPSE, MeasurementKind.RECTANGLE)
            and m.label != calibration.label
        )
    return not calibration.same_as(m.calibration)
