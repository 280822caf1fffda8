"""The 2D reading tools as plain state machines fed with image points; no Qt, no VTK.

A tool turns mouse presses, moves and releases (already mapped to image (column, row) points,
pixel centres on integers as in :mod:`workstation.core.measure`) into the points of a
measurement. Both ways radiologists draw work: drag (press at the first point, release at the
second) and click-click (press and release in place, then click the next point). The measuring
itself is done by :mod:`workstation.core.measure`; this module adds the interaction, the outlines
to draw, hit testing, handle editing and the label text.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike

from workstation.core.measure import (
    Measurement,
    MeasurementError,
    MeasurementKind,
    PixelCalibration,
    Point,
    angle_measurement,
    cobb_measurement,
    ellipse_measurement,
    length_measurement,
    probe_measurement,
    rectangle_measurement,
)
from workstation.core.model import Instance


class Tool(StrEnum):
    """What a left drag does in a 2D viewport."""

    WINDOW = "window"  # window/level, the default as in OHIF and Weasis
    PAN = "pan"
    ZOOM = "zoom"
    LENGTH = "length"
    ANGLE = "angle"
    COBB = "cobb"
    ELLIPSE = "ellipse"
    RECTANGLE = "rectangle"
    PROBE = "probe"
    # A line over an object of known size, whose true length the reader then types
    # (user calibration, PS3.3 10.7.1.1): drawn like a length, kept as no measurement.
    CALIBRATE = "calibrate"


MEASURE_TOOLS: dict[Tool, MeasurementKind] = {
    Tool.LENGTH: MeasurementKind.LENGTH,
    Tool.ANGLE: MeasurementKind.ANGLE,
    Tool.COBB: MeasurementKind.COBB,
    Tool.ELLIPSE: MeasurementKind.ELLIPSE,
    Tool.RECTANGLE: MeasurementKind.RECTANGLE,
    Tool.PROBE: MeasurementKind.PROBE,
}

# Points a tool collects, and the indices where a press starts a new segment (fixes the point
# at once) instead of placing the next point of the current one. An angle's second ray starts
# at the vertex, so only index 0 starts a segment; a Cobb angle has two separate lines.
_TOOL_POINTS: dict[MeasurementKind, tuple[int, frozenset[int]]] = {
    MeasurementKind.LENGTH: (2, frozenset({0})),
    MeasurementKind.ANGLE: (3, frozenset({0})),
    MeasurementKind.COBB: (4, frozenset({0, 2})),
    MeasurementKind.ELLIPSE: (2, frozenset({0})),  # opposite corners of the bounding box
    MeasurementKind.RECTANGLE: (2, frozenset({0})),
    MeasurementKind.PROBE: (1, frozenset()),  # follows the pointer, placed on release
}


def _dist(a: Point, b: Point) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


class PointCollector:
    """Collects the points of one measurement from press/move/release of image points.

    A press at a segment start fixes that point; releasing farther than ``click_tolerance``
    (image pixels) from it fixes the release point too (a drag), releasing closer leaves the
    tool waiting for a click on the next point. Any other press places a floating point that
    follows moves and is fixed on release. ``release`` returns the complete points once the
    tool has them all and starts over.
    """

    def __init__(self, kind: MeasurementKind, click_tolerance: float = 1.0) -> None:
        self.kind = kind
        self.n_points, self._starts = _TOOL_POINTS[kind]
        self.click_tolerance = click_tolerance
        self._fixed: list[Point] = []
        self._floating: Point | None = None
        self._pressed_at_start = False
        self._pressed = False

    @property
    def in_progress(self) -> bool:
        """True between the first press and the last point (Esc cancels)."""
        return bool(self._fixed) or self._pressed

    @property
    def points(self) -> tuple[Point, ...]:
        """The fixed points so far."""
        return tuple(self._fixed)

    def preview(self) -> tuple[Point, ...]:
        """The fixed points plus the floating one: what to draw while the user works."""
        if self._floating is None:
            return tuple(self._fixed)
        return (*self._fixed, self._floating)

    def cancel(self) -> None:
        self._fixed.clear()
        self._floating = None
        self._pressed = False
        self._pressed_at_start = False

    def press(self, p: Sequence[float]) -> None:
        pt = (float(p[0]), float(p[1]))
        self._pressed = True
        if len(self._fixed) in self._starts:
            self._fixed.append(pt)
            self._floating = pt
            self._pressed_at_start = True
        else:
            self._floating = pt
            self._pressed_at_start = False

    def move(self, p: Sequence[float]) -> None:
        if self._fixed or self._pressed:
            self._floating = (float(p[0]), float(p[1]))

    def release(self, p: Sequence[float]) -> tuple[Point, ...] | None:
        if not self._pressed:
            return None
        pt = (float(p[0]), float(p[1]))
        self._pressed = False
        self._floating = pt
        if self._pressed_at_start and _dist(pt, self._fixed[-1]) <= self.click_tolerance:
            return None  # a click on a first point: wait for the next click
        self._fixed.append(pt)
        if len(self._fixed) < self.n_points:
            return None
        done = tuple(self._fixed[: self.n_points])
        self.cancel()
        return done


@dataclass(frozen=True, slots=True)
class ImageContext:
    """What measuring on one displayed frame needs: its values, calibration and identity."""

    values: ArrayLike  # modality values of the frame (HU for CT)
    calibration: PixelCalibration
    instance: Instance
    frame_number: int = 1  # 1-based, as Referenced Frame Number (PS3.3 Table 10-3)


def corners_to_ellipse(p0: Sequence[float], p1: Sequence[float]) -> tuple[Point, Point]:
    """Centre and (column, row) radii of the ellipse inscribed in a corner-to-corner box."""
    c = ((p0[0] + p1[0]) / 2.0, (p0[1] + p1[1]) / 2.0)
    return c, (abs(p1[0] - p0[0]) / 2.0, abs(p1[1] - p0[1]) / 2.0)


def measure(
    kind: MeasurementKind,
    points: Sequence[Sequence[float]],
    image: ImageContext,
    measurement_id: str | None = None,
    name: str = "",
) -> Measurement:
    """A measurement of ``kind`` from its stored points (ellipse: centre, radii).

    ``measurement_id`` and ``name`` carry over from the measurement being edited.

    Raises :class:`MeasurementError` for a shape that measures nothing (zero-size ellipse,
    probe outside the image, ROI on a colour frame).
    """
    uid = image.instance.sop_instance_uid
    cal = image.calibration
    frame = image.frame_number
    pts = [(float(p[0]), float(p[1])) for p in points]
    m: Measurement | None
    if kind is MeasurementKind.LENGTH:
        m = length_measurement(pts[0], pts[1], cal, uid, frame)
    elif kind is MeasurementKind.ANGLE:
        m = angle_measurement(pts[0], pts[1], pts[2], cal, uid, frame)
    elif kind is MeasurementKind.COBB:
        m = cobb_measurement(pts[0:2], pts[2:4], cal, uid, frame)
    elif kind is MeasurementKind.ELLIPSE:
        m = ellipse_measurement(image.values, pts[0], pts[1], cal, uid, frame)
    elif kind is MeasurementKind.RECTANGLE:
        m = rectangle_measurement(image.values, pts[0], pts[1], cal, uid, frame)
    else:
        m = probe_measurement(image.values, pts[0][0], pts[0][1], image.instance, frame)
        if m is None:
            raise MeasurementError("the probe point lies outside the image")
    if measurement_id is not None or name:
        m = replace(
            m,
            measurement_id=measurement_id if measurement_id is not None else m.measurement_id,
            name=name,
        )
    return m


def edit_measurement(
    old: Measurement, handle: int, p: Sequence[float], image: ImageContext
) -> Measurement:
    """``old`` measured again after dragging its handle ``handle`` to ``p``; id and name stay."""
    return measure(old.kind, move_handle(old, handle, p), image, old.measurement_id, old.name)


def measure_tool_points(
    kind: MeasurementKind, points: Sequence[Sequence[float]], image: ImageContext
) -> Measurement:
    """A measurement from the points a :class:`PointCollector` gathered (ellipse: corners)."""
    if kind is MeasurementKind.ELLIPSE:
        return measure(kind, corners_to_ellipse(points[0], points[1]), image)
    return measure(kind, points, image)


# ---------------------------------------------------------------------------------------------
# Drawing, hit testing, editing


def ellipse_outline(center: Point, radii: Point, segments: int = 72) -> list[Point]:
    t = np.linspace(0.0, 2.0 * math.pi, segments + 1)
    return [(center[0] + radii[0] * math.cos(a), center[1] + radii[1] * math.sin(a)) for a in t]


def outline(m: Measurement) -> list[list[Point]]:
    """The polylines that draw a measurement, in image (column, row) coordinates."""
    p = list(m.points)
    if m.kind is MeasurementKind.LENGTH:
        return [p]
    if m.kind is MeasurementKind.ANGLE:
        return [p]
    if m.kind is MeasurementKind.COBB:
        return [p[0:2], p[2:4]]
    if m.kind is MeasurementKind.ELLIPSE:
        return [ellipse_outline(p[0], p[1])]
    if m.kind is MeasurementKind.RECTANGLE:
        (c0, r0), (c1, r1) = p
        return [[(c0, r0), (c1, r0), (c1, r1), (c0, r1), (c0, r0)]]
    return []  # a probe is drawn as a marker at its point


def partial_outline(kind: MeasurementKind, points: Sequence[Point]) -> list[list[Point]]:
    """Polylines of a measurement being drawn (fewer points than it needs)."""
    pts = list(points)
    if len(pts) < 2:
        return []
    if kind is MeasurementKind.COBB:
        return [pts[0:2], pts[2:4]] if len(pts) > 3 else [pts[0:2]]
    if kind is MeasurementKind.ELLIPSE:
        c, r = corners_to_ellipse(pts[0], pts[1])
        return [ellipse_outline(c, r)] if r[0] > 0 and r[1] > 0 else []
    if kind is MeasurementKind.RECTANGLE:
        (c0, r0), (c1, r1) = pts[0], pts[1]
        return [[(c0, r0), (c1, r0), (c1, r1), (c0, r1), (c0, r0)]]
    return [pts]


def handles(m: Measurement) -> list[Point]:
    """The points a user can grab to change a measurement (ellipse: its four axis ends)."""
    if m.kind is MeasurementKind.ELLIPSE:
        (cc, cr), (a, b) = m.points
        return [(cc - a, cr), (cc + a, cr), (cc, cr - b), (cc, cr + b)]
    return list(m.points)


def move_handle(m: Measurement, index: int, p: Sequence[float]) -> tuple[Point, ...]:
    """The stored points of ``m`` after dragging handle ``index`` to ``p``."""
    pt = (float(p[0]), float(p[1]))
    if m.kind is MeasurementKind.ELLIPSE:
        (cc, cr), (a, b) = m.points
        if index in (0, 1):
            a = abs(pt[0] - cc)
        else:
            b = abs(pt[1] - cr)
        return ((cc, cr), (a, b))
    pts = list(m.points)
    pts[index] = pt
    return tuple(pts)


@dataclass(frozen=True, slots=True)
class Hit:
    """A measurement under the pointer; ``handle`` is the grabbed handle's index or None."""

    measurement_id: str
    handle: int | None


def _segment_distance_mm(p: Point, a: Point, b: Point, spacing: tuple[float, float]) -> float:
    """Distance in mm from p to segment a-b, pixels scaled by (row, column) spacing."""
    px, py = p[0] * spacing[1], p[1] * spacing[0]
    ax, ay = a[0] * spacing[1], a[1] * spacing[0]
    bx, by = b[0] * spacing[1], b[1] * spacing[0]
    dx, dy = bx - ax, by - ay
    denom = dx * dx + dy * dy
    t = 0.0 if denom == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / denom))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def hit_test(
    measurements: Sequence[Measurement],
    p: Sequence[float],
    spacing: tuple[float, float],
    tolerance_mm: float,
) -> Hit | None:
    """The measurement whose handle, else outline, is nearest to ``p`` within the tolerance.

    ``spacing`` is the displayed (row, column) spacing, so the tolerance is the same on screen
    in every direction for anisotropic pixels.
    """
    pt = (float(p[0]), float(p[1]))
    best: tuple[float, Hit] | None = None
    for m in measurements:
        for i, h in enumerate(handles(m)):
            d = _segment_distance_mm(pt, h, h, spacing)
            if d <= tolerance_mm and (best is None or d < best[0]):
                best = (d, Hit(m.measurement_id, i))
    if best is not None:
        return best[1]
    for m in measurements:
        for line in outline(m):
            for a, b in itertools.pairwise(line):
                d = _segment_distance_mm(pt, a, b, spacing)
                if d <= tolerance_mm and (best is None or d < best[0]):
                    best = (d, Hit(m.measurement_id, None))
    return best[1] if best is not None else None


# ---------------------------------------------------------------------------------------------
# Text


def _number(v: float | None, digits: int = 1) -> str:
    return "-" if v is None or math.isnan(v) else f"{v:.{digits}f}"


def format_measurement(m: Measurement, value_unit: str = "") -> str:
    """The label drawn beside a measurement; ``value_unit`` names ROI and probe values (HU).

    The calibration's qualifier ("at detector", ...) follows a length or area so a reader
    never takes a detector-plane length for one in the patient (PS3.3 10.7.1.1). A name the
    reader gave leads: "Aorta: 32.1 mm" on one line, on a line of its own above an ROI's.
    """
    text = _format_value_lines(m, value_unit)
    if not m.name:
        return text
    if "\n" in text:
        return f"{m.name}\n{text}"
    return f"{m.name}: {text}"


def _format_value_lines(m: Measurement, value_unit: str) -> str:
    suffix = f" ({m.label})" if m.label else ""
    unit = value_unit or m.unit
    if m.kind is MeasurementKind.LENGTH:
        return f"{m.value:.1f} {m.unit}{suffix}"
    if m.kind is MeasurementKind.ANGLE:
        return f"{m.value:.1f}°"
    if m.kind is MeasurementKind.COBB:
        return f"Cobb {m.value:.1f}°"
    if m.kind is MeasurementKind.PROBE:
        return f"{m.value:.0f} {unit}".rstrip()
    mean, sd = m.detail("mean"), m.detail("sd")
    lo, hi = m.detail("min"), m.detail("max")
    lines = [
        f"Mean {_number(mean)} SD {_number(sd)} {value_unit}".rstrip(),
        f"Min {_number(lo, 0)} Max {_number(hi, 0)}",
        f"Area {m.value:.1f} {m.unit}{suffix}",
    ]
    return "\n".join(lines)
