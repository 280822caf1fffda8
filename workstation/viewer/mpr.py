"""Multi-planar reformatting: planes in LPS, the crosshair that links three of them, reslice maths.

Everything here is numpy: which LPS point each output pixel samples, where a patient point lands
in a reformatted image, which orientation letters an edge gets, how a slab is sampled. The VTK
pipeline (:mod:`workstation.viewer.reslice`) and the Qt widget only carry these numbers out, so
the tests check geometry here, to the voxel, without a screen.

Conventions (LPS millimetres, PS3.3 C.7.6.2.1.1): a :class:`Plane` has an in-plane ``x_axis``
(screen right, growing output column) and ``y_axis`` (screen down, growing output row); its
normal is x × y. The default views follow the radiological convention: axial seen from the feet
and coronal seen from the front, so the patient's left is on the viewer's right in both;
sagittal seen from the patient's left, anterior on the viewer's left (PS3.3 C.7.6.1.1.1 gives
the letters).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from workstation.core.errors import ConfigError, GeometryError
from workstation.core.events import Event
from workstation.core.geometry import orientation_label
from workstation.core.measure import (
    Measurement,
    MeasurementError,
    MeasurementKind,
    MeasurementPlane,
    PixelCalibration,
    SpacingSource,
    ellipse_measurement,
    length_measurement,
)
from workstation.core.volume_geometry import VolumeGeometry
from workstation.viewer.planes3d import Box, clamp_box, crop_extent, plane_volume_outline

Vec3 = tuple[float, float, float]
View = Literal["axial", "coronal", "sagittal"]
SlabMode = Literal["mip", "minip", "avg"]
Interpolation = Literal["nearest", "linear", "cubic"]

VIEWS: tuple[View, ...] = ("axial", "coronal", "sagittal")
SLAB_MODES: tuple[SlabMode, ...] = ("mip", "minip", "avg")
INTERPOLATIONS: tuple[Interpolation, ...] = ("nearest", "linear", "cubic")

# (screen right, screen down) of each default view, LPS. Radiological convention.
DEFAULT_AXES: dict[View, tuple[Vec3, Vec3]] = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),  # right: patient left; down: posterior
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),  # right: patient left; down: feet
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),  # right: posterior; down: feet
}

MAX_SLAB_MM = 500.0
# While the user drags, slab samples lie this many native steps apart (full sampling again
# when the mouse is released): a 20 mm MIP costs half as much per frame.
INTERACTIVE_SLAB_STEP_FACTOR = 2.0


def _vec(v: ArrayLike, name: str = "vector") -> NDArray[np.float64]:
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    if a.shape != (3,) or not np.all(np.isfinite(a)):
        raise GeometryError(f"{name} must be three finite numbers (x, y, z in LPS mm)")
    return a


def _tuple3(v: ArrayLike) -> Vec3:
    a = np.asarray(v, dtype=np.float64).reshape(3)
    return (float(a[0]), float(a[1]), float(a[2]))


def rotation_matrix(axis: ArrayLike, angle_deg: float) -> NDArray[np.float64]:
    """Right-handed rotation by ``angle_deg`` about the unit ``axis`` (Rodrigues' formula)."""
    k = _vec(axis, "rotation axis")
    norm = float(np.linalg.norm(k))
    if norm < 1e-12:
        raise GeometryError("a rotation needs a non-zero axis")
    k = k / norm
    a = math.radians(angle_deg)
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(a) * kx + (1.0 - math.cos(a)) * (kx @ kx)


# ---------------------------------------------------------------------------------------------
# Planes


@dataclass(frozen=True, slots=True)
class EdgeLabels:
    """Orientation letters at the middle of each image edge (PS3.3 C.7.6.1.1.1)."""

    left: str
    right: str
    top: str
    bottom: str


@dataclass(frozen=True, slots=True)
class Plane:
    """A plane in LPS: a point on it and its in-plane axes (screen right, screen down).

    The axes are made exactly orthonormal at construction (``y_axis`` is orthogonalised against
    ``x_axis``); parallel or zero axes raise :class:`GeometryError`.
    """

    origin_lps: Vec3
    x_axis: Vec3
    y_axis: Vec3

    def __post_init__(self) -> None:
        o = _vec(self.origin_lps, "plane origin")
        x = _vec(self.x_axis, "plane x axis")
        y = _vec(self.y_axis, "plane y axis")
        nx = float(np.linalg.norm(x))
        if nx < 1e-9:
            raise GeometryError("a plane's x axis must not be zero")
        x = x / nx
        y = y - float(y @ x) * x
        ny = float(np.linalg.norm(y))
        if ny < 1e-6:
            raise GeometryError("a plane's axes must not be parallel")
        y = y / ny
        object.__setattr__(self, "origin_lps", _tuple3(o))
        object.__setattr__(self, "x_axis", _tuple3(x))
        object.__setattr__(self, "y_axis", _tuple3(y))

    @property
    def normal(self) -> Vec3:
        """x × y: for the default axial plane, towards the head."""
        return _tuple3(np.cross(self.x_axis, self.y_axis))

    @property
    def axes_matrix(self) -> NDArray[np.float64]:
        """3×3 with columns x, y, normal (LPS)."""
        return np.stack(
            [np.asarray(self.x_axis), np.asarray(self.y_axis), np.asarray(self.normal)], axis=1
        )

    def through(self, point: ArrayLike) -> Plane:
        """The parallel plane through ``point`` (same axes)."""
        return replace(self, origin_lps=_tuple3(_vec(point, "point")))

    def signed_distance(self, point: ArrayLike) -> float:
        """Distance of ``point`` from the plane along the normal, in mm."""
        return float((_vec(point, "point") - np.asarray(self.origin_lps)) @ np.asarray(self.normal))

    def project(self, point: ArrayLike) -> Vec3:
        """The foot of the perpendicular from ``point`` onto the plane."""
        p = _vec(point, "point")
        return _tuple3(p - self.signed_distance(p) * np.asarray(self.normal))

    def rotated(self, matrix: ArrayLike) -> Plane:
        """The plane with its axes turned by a 3×3 rotation (the origin stays)."""
        m = np.asarray(matrix, dtype=np.float64)
        return replace(self, x_axis=_tuple3(m @ self.x_axis), y_axis=_tuple3(m @ self.y_axis))

    def edge_labels(self) -> EdgeLabels:
        """Letters of the directions each edge of the image points to (PS3.3 C.7.6.1.1.1)."""
        x, y = np.asarray(self.x_axis), np.asarray(self.y_axis)
        return EdgeLabels(
            left=orientation_label(tuple(-x)),
            right=orientation_label(tuple(x)),
            top=orientation_label(tuple(-y)),
            bottom=orientation_label(tuple(y)),
        )

    def is_parallel_to(self, other: Plane, tol: float = 1e-6) -> bool:
        return abs(abs(float(np.dot(self.normal, other.normal))) - 1.0) <= tol


def format_lps(point: ArrayLike) -> str:
    """A patient position as radiologists read it: "R 36.0  A 9.0  S 20.0 mm" (LPS signs)."""
    x, y, z = (float(v) for v in _vec(point, "point"))
    parts = (
        ("L" if x >= 0 else "R", abs(x)),
        ("P" if y >= 0 else "A", abs(y)),
        ("S" if z >= 0 else "I", abs(z)),
    )
    return "  ".join(f"{letter} {value:.1f}" for letter, value in parts) + " mm"


def orthogonal_plane(view: View, point: ArrayLike) -> Plane:
    """The default axial, coronal or sagittal plane through ``point``."""
    if view not in DEFAULT_AXES:
        raise ConfigError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
    x, y = DEFAULT_AXES[view]
    return Plane(_tuple3(_vec(point, "point")), x, y)


def nearest_view(normal: ArrayLike) -> View:
    """The orthogonal view whose normal is closest to ``normal`` (either sign)."""
    n = _vec(normal, "normal")
    scores = [abs(float(n @ np.asarray(orthogonal_plane(v, (0, 0, 0)).normal))) for v in VIEWS]
    return VIEWS[int(np.argmax(scores))]


def oblique_plane(point: ArrayLike, normal: ArrayLike) -> Plane:
    """A plane through ``point`` with ``normal``, oriented like its nearest orthogonal view.

    The nearest view's axes are turned by the smallest rotation that takes its normal onto
    ``normal`` (or onto −``normal``, whichever is closer, so the image is never mirrored): an
    oblique close to axial or coronal keeps the patient's left on the viewer's right.
    """
    n = _vec(normal, "normal")
    norm = float(np.linalg.norm(n))
    if norm < 1e-9:
        raise GeometryError("the normal of a plane must not be zero")
    n = n / norm
    base = orthogonal_plane(nearest_view(n), point)
    n0 = np.asarray(base.normal)
    if float(n0 @ n) < 0:
        n = -n
    axis = np.cross(n0, n)
    s = float(np.linalg.norm(axis))
    if s < 1e-12:
        return base
    angle = math.degrees(math.atan2(s, float(n0 @ n)))
    return base.rotated(rotation_matrix(axis / s, angle))


# ---------------------------------------------------------------------------------------------
# Reslice grids


@dataclass(frozen=True, slots=True)
class ResliceGrid:
    """The output image of a reslice: which LPS point each output pixel samples.

    Pixel (column c, row r) samples ``origin_lps + c·s·x + r·s·y`` with s = ``spacing_mm``
    (square pixels) and x, y the plane's axes; ``origin_lps`` is the centre of pixel (0, 0), on
    the plane. Row 0 is the top of the image.
    """

    plane: Plane
    origin_lps: Vec3
    width: int
    height: int
    spacing_mm: float

    def __post_init__(self) -> None:
        if int(self.width) < 1 or int(self.height) < 1:
            raise GeometryError(
                f"an output image needs a positive size, not {self.width}×{self.height}"
            )
        s = float(self.spacing_mm)
        if not (math.isfinite(s) and s > 0):
            raise GeometryError(f"output pixel spacing must be positive, not {self.spacing_mm}")
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "spacing_mm", s)
        origin = self.plane.project(self.origin_lps)
        object.__setattr__(self, "origin_lps", origin)
        # The plane is kept through pixel (0, 0), so two grids of one image compare equal.
        object.__setattr__(self, "plane", self.plane.through(origin))

    @classmethod
    def centred(
        cls, plane: Plane, point: ArrayLike, width: int, height: int, spacing_mm: float
    ) -> ResliceGrid:
        """A grid whose pixel (width // 2, height // 2) samples ``point`` projected on the plane."""
        c = np.asarray(plane.project(point))
        x, y = np.asarray(plane.x_axis), np.asarray(plane.y_axis)
        origin = c - (width // 2) * spacing_mm * x - (height // 2) * spacing_mm * y
        return cls(plane, _tuple3(origin), width, height, spacing_mm)

    def isclose(self, other: ResliceGrid | None, tol_mm: float = 1e-6) -> bool:
        """Same image: same size, and every corner pixel within ``tol_mm`` of the other's."""
        if other is None or self.size != other.size:
            return False
        corners = ([0, self.width - 1, 0, self.width - 1], [0, 0, self.height - 1, self.height - 1])
        a = self.pixel_to_lps(*corners)
        b = other.pixel_to_lps(*corners)
        return bool(np.abs(a - b).max() <= tol_mm)

    @property
    def center_pixel(self) -> tuple[int, int]:
        return (self.width // 2, self.height // 2)

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def pixel_to_lps(self, col: ArrayLike, row: ArrayLike) -> NDArray[np.float64]:
        """LPS of output pixel(s) (col, row); fractional and array input allowed (…, 3)."""
        c, r = np.broadcast_arrays(
            np.asarray(col, dtype=np.float64), np.asarray(row, dtype=np.float64)
        )
        s = self.spacing_mm
        return (
            np.asarray(self.origin_lps)
            + (c * s)[..., None] * np.asarray(self.plane.x_axis)
            + (r * s)[..., None] * np.asarray(self.plane.y_axis)
        )

    def lps_to_pixel(self, points: ArrayLike) -> NDArray[np.float64]:
        """(col, row, distance from the plane in mm) of LPS point(s), shape (…, 3)."""
        p = np.asarray(points, dtype=np.float64)
        if p.shape[-1:] != (3,):
            raise GeometryError("points must have three coordinates (x, y, z)")
        d = p - np.asarray(self.origin_lps)
        s = self.spacing_mm
        return np.stack(
            [
                d @ np.asarray(self.plane.x_axis) / s,
                d @ np.asarray(self.plane.y_axis) / s,
                d @ np.asarray(self.plane.normal),
            ],
            axis=-1,
        )

    def sample_points(self) -> NDArray[np.float64]:
        """LPS of every output pixel centre, shape (height, width, 3)."""
        r, c = np.mgrid[0 : self.height, 0 : self.width]
        return self.pixel_to_lps(c, r)

    def axes_matrix(self) -> NDArray[np.float64]:
        """4×4 taking output (column mm, row mm, normal mm, 1) to LPS: x, y, n, origin."""
        m = np.eye(4)
        m[:3, :3] = self.plane.axes_matrix
        m[:3, 3] = self.origin_lps
        return m

    def calibration(self) -> PixelCalibration:
        """Measurements on the reformatted image: its pixels are ``spacing_mm`` in the patient."""
        return PixelCalibration((self.spacing_mm, self.spacing_mm), SpacingSource.PATIENT)


def line_in_grid(
    grid: ResliceGrid, point: ArrayLike, direction: ArrayLike
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The segment of the line through LPS ``point`` along ``direction`` inside the image.

    Returns its two ends as (col, row) on the image's outer edge (pixel edges, ±0.5), or None
    when the line misses the image or lies across the plane.
    """
    d = _vec(direction, "direction")
    c0, r0, _ = grid.lps_to_pixel(_vec(point, "point"))
    dc = float(d @ np.asarray(grid.plane.x_axis))
    dr = float(d @ np.asarray(grid.plane.y_axis))
    if math.hypot(dc, dr) < 1e-9:
        return None
    lo, hi = -math.inf, math.inf
    for p0, dp, a, b in ((c0, dc, -0.5, grid.width - 0.5), (r0, dr, -0.5, grid.height - 0.5)):
        if abs(dp) < 1e-12:
            if not a <= p0 <= b:
                return None
            continue
        t1, t2 = (a - p0) / dp, (b - p0) / dp
        lo, hi = max(lo, min(t1, t2)), min(hi, max(t1, t2))
    if lo > hi:
        return None
    return ((c0 + lo * dc, r0 + lo * dr), (c0 + hi * dc, r0 + hi * dr))


# ---------------------------------------------------------------------------------------------
# Slabs


@dataclass(frozen=True, slots=True)
class Slab:
    """A thick slab: ``thickness_mm`` centred on the plane, projected by ``mode``.

    MIP keeps the brightest sample along the normal, MinIP the darkest, avg the mean (trapezoid
    rule over the thickness).
    """

    thickness_mm: float
    mode: SlabMode = "mip"

    def __post_init__(self) -> None:
        t = float(self.thickness_mm)
        if not (math.isfinite(t) and 0 < t <= MAX_SLAB_MM):
            raise ConfigError(f"slab thickness must be between 0 and {MAX_SLAB_MM:g} mm, not {t:g}")
        if self.mode not in SLAB_MODES:
            raise ConfigError(
                f"slab mode must be one of {', '.join(SLAB_MODES)}, not {self.mode!r}"
            )
        object.__setattr__(self, "thickness_mm", t)


def native_step_mm(geometry: VolumeGeometry, normal: ArrayLike) -> float:
    """The distance along ``normal`` over which some voxel index grows by one.

    Sampling a slab at this step visits every voxel layer the slab crosses without sampling
    any layer many times: 1.5 mm along the slices of a 1.5 mm axial stack, the pixel spacing
    across them.
    """
    n = _vec(normal, "normal")
    n = n / float(np.linalg.norm(n))
    d = geometry.direction_matrix
    sk, sr, sc = geometry.spacing_mm
    rates = np.abs(n @ d) / np.array([sc, sr, sk])
    return float(1.0 / rates.max())


def slab_sampling(
    slab: Slab, geometry: VolumeGeometry, normal: ArrayLike, step_factor: float = 1.0
) -> tuple[int, float]:
    """(sample count, step mm) of a slab: samples at the two faces and evenly between them,
    never further apart than :func:`native_step_mm` (times ``step_factor``, which a view
    raises while the user drags, for speed)."""
    step = native_step_mm(geometry, normal) * max(1.0, step_factor)
    count = max(2, math.ceil(slab.thickness_mm / step - 1e-9) + 1)
    return count, slab.thickness_mm / (count - 1)


def slab_offsets(slab: Slab, geometry: VolumeGeometry, normal: ArrayLike) -> NDArray[np.float64]:
    """Offsets along the normal (mm) of the slab's samples, centred on the plane."""
    count, step = slab_sampling(slab, geometry, normal)
    return (np.arange(count) - (count - 1) / 2.0) * step


# ---------------------------------------------------------------------------------------------
# Reference reslice (numpy): the oracle the VTK pipeline is tested against


def sample_volume(
    array: NDArray[Any],
    geometry: VolumeGeometry,
    points: ArrayLike,
    interpolation: Interpolation = "linear",
    background: float = 0.0,
) -> NDArray[np.float64]:
    """Values of a (slices, rows, columns) array at LPS points, nearest or trilinear.

    As in ``vtkImageReslice`` (its Border on), the volume reaches half a voxel beyond the
    outer voxel centres, where the outer voxels' values continue; points further out get
    ``background``. Slow but plain: the reference for the VTK reslice, and for small reads.
    """
    p = np.asarray(points, dtype=np.float64)
    idx = geometry.lps_to_index(p.reshape(-1, 3))
    shape = np.asarray(array.shape)
    eps = 1e-6
    inside = np.all((idx >= -0.5 - eps) & (idx <= shape - 0.5 + eps), axis=1)
    out = np.full(idx.shape[0], float(background))
    if interpolation == "nearest":
        # floor(x + 0.5): ties go up, as VTK's nearest-neighbour rounding does
        near = np.floor(idx[inside] + 0.5).astype(np.intp)
        near = np.clip(near, 0, shape - 1)
        out[inside] = array[near[:, 0], near[:, 1], near[:, 2]]
    elif interpolation == "linear":
        f = np.clip(idx[inside], 0, shape - 1)
        i0 = np.minimum(np.floor(f).astype(np.intp), np.maximum(shape - 2, 0))
        t = f - i0
        acc = np.zeros(len(f))
        for dk in (0, 1):
            for dr in (0, 1):
                for dc in (0, 1):
                    kk = np.minimum(i0[:, 0] + dk, shape[0] - 1)
                    rr = np.minimum(i0[:, 1] + dr, shape[1] - 1)
                    cc = np.minimum(i0[:, 2] + dc, shape[2] - 1)
                    w = (
                        (t[:, 0] if dk else 1 - t[:, 0])
                        * (t[:, 1] if dr else 1 - t[:, 1])
                        * (t[:, 2] if dc else 1 - t[:, 2])
                    )
                    acc += w * array[kk, rr, cc]
        out[inside] = acc
    else:
        raise ConfigError(f"the reference reslice knows nearest and linear, not {interpolation!r}")
    return out.reshape(p.shape[:-1])


def reslice_reference(
    array: NDArray[Any],
    geometry: VolumeGeometry,
    grid: ResliceGrid,
    *,
    interpolation: Interpolation = "linear",
    slab: Slab | None = None,
    background: float = 0.0,
) -> NDArray[np.float64]:
    """The reformatted image computed point by point in numpy, shape (height, width).

    A slab combines only its samples inside the volume (as ``vtkImageReslice`` does), so a
    slab that leaves the volume never takes the background into a MinIP or a mean; a pixel
    whose samples all lie outside gets ``background``.
    """
    pts = grid.sample_points()
    if slab is None:
        return sample_volume(array, geometry, pts, interpolation, background)
    n = np.asarray(grid.plane.normal)
    offsets = slab_offsets(slab, geometry, n)
    layers = np.stack(
        [sample_volume(array, geometry, pts + o * n, interpolation, np.nan) for o in offsets]
    )
    valid = ~np.isnan(layers)
    anyvalid = valid.any(axis=0)
    if slab.mode == "mip":
        out = np.where(valid, layers, -np.inf).max(axis=0)
    elif slab.mode == "minip":
        out = np.where(valid, layers, np.inf).min(axis=0)
    else:
        # Trapezoid rule over the samples inside: the first and last of them weigh half.
        idx = np.arange(len(offsets))[:, None, None]
        first = np.where(valid, idx, len(offsets)).min(axis=0)
        last = np.where(valid, idx, -1).max(axis=0)
        wv = valid * np.where((idx == first) | (idx == last), 0.5, 1.0)
        total = wv.sum(axis=0)
        out = (np.where(valid, layers, 0.0) * wv).sum(axis=0) / np.where(total > 0, total, 1)
    return np.where(anyvalid, out, background)


# ---------------------------------------------------------------------------------------------
# Measurements on reformatted planes


@dataclass(frozen=True, slots=True)
class PlaneMeasurement:
    """A measurement made on a reformatted image, kept with the plane it was made on.

    ``measurement`` holds the image points and value as :mod:`workstation.core.measure` computes
    them on the resliced values, and carries the plane as a
    :class:`~workstation.core.measure.MeasurementPlane` (set here when missing), so the local
    store keeps it like any other measurement; ``grid`` says where each of those pixels is in the
    patient, so the points can be drawn again on any later view of the same plane
    (``points_lps``).
    """

    view: str
    measurement: Measurement
    grid: ResliceGrid
    slab: Slab | None = None

    def __post_init__(self) -> None:
        if self.measurement.plane is None:
            g = self.grid
            plane = MeasurementPlane(
                origin_lps=g.origin_lps,
                row_direction=g.plane.x_axis,
                column_direction=g.plane.y_axis,
                pixel_spacing_mm=g.spacing_mm,
                columns=g.width,
                rows=g.height,
                series_instance_uid=self.measurement.sop_instance_uid,
                view=self.view,
                slab_thickness_mm=None if self.slab is None else self.slab.thickness_mm,
                slab_mode="" if self.slab is None else self.slab.mode,
            )
            object.__setattr__(self, "measurement", replace(self.measurement, plane=plane))

    @classmethod
    def from_measurement(cls, m: Measurement) -> PlaneMeasurement:
        """The MPR measurement a stored record describes; one without a plane raises."""
        p = m.plane
        if p is None:
            raise MeasurementError("the measurement was not made on a reformatted plane")
        try:
            plane = Plane(p.origin_lps, p.row_direction, p.column_direction)
            grid = ResliceGrid(plane, p.origin_lps, p.columns, p.rows, p.pixel_spacing_mm)
            slab = None
            if p.slab_thickness_mm is not None:
                slab = Slab(p.slab_thickness_mm, p.slab_mode)  # type: ignore[arg-type]
        except (GeometryError, ConfigError) as exc:
            raise MeasurementError(f"a stored MPR measurement has a bad plane: {exc}") from None
        return cls(p.view or nearest_view(plane.normal), m, grid, slab)

    @property
    def measurement_id(self) -> str:
        return self.measurement.measurement_id

    @property
    def series_instance_uid(self) -> str:
        plane = self.measurement.plane
        return plane.series_instance_uid if plane is not None else ""

    @property
    def plane(self) -> Plane:
        return self.grid.plane

    @property
    def points_lps(self) -> tuple[Vec3, ...]:
        """The measurement's points in LPS (an ellipse: its centre only, then its radii)."""
        if self.measurement.kind is MeasurementKind.ELLIPSE:
            (c, r), _ = self.measurement.points
            return (_tuple3(self.grid.pixel_to_lps(c, r)),)
        return tuple(_tuple3(self.grid.pixel_to_lps(c, r)) for c, r in self.measurement.points)

    @property
    def center_lps(self) -> Vec3:
        """A point of the measurement on its plane: the mean of its points (an ellipse: centre)."""
        return _tuple3(np.mean(np.asarray(self.points_lps), axis=0))

    def with_name(self, name: str) -> PlaneMeasurement:
        """The same measurement under another name."""
        return replace(self, measurement=self.measurement.with_name(name))

    def to_json(self) -> dict[str, Any]:
        """The measurement record with its plane geometry (what the store keeps), plus the
        view, the slab and the points in LPS for a reader of the JSON."""
        return {
            **self.measurement.to_json(),
            "view": self.view,
            "points_lps": [list(p) for p in self.points_lps],
            "slab": None
            if self.slab is None
            else {
                "thickness_mm": self.slab.thickness_mm,
                "mode": self.slab.mode,
            },
        }


def measure_length(
    view: str,
    grid: ResliceGrid,
    p0: Sequence[float],
    p1: Sequence[float],
    slab: Slab | None = None,
    series_instance_uid: str = "",
) -> PlaneMeasurement:
    """A length between two image points (col, row) of a reformatted image, in mm.

    A reformatted plane has no SOP Instance of its own: the record's UID field holds
    ``series_instance_uid``, and the plane geometry travels in :class:`PlaneMeasurement`.
    """
    m = length_measurement(p0, p1, grid.calibration(), series_instance_uid)
    return PlaneMeasurement(view, m, grid, slab)


def measure_ellipse(
    view: str,
    grid: ResliceGrid,
    values: ArrayLike,
    center: Sequence[float],
    radii: Sequence[float],
    slab: Slab | None = None,
    series_instance_uid: str = "",
) -> PlaneMeasurement:
    """An ellipse ROI on the reformatted values: area in mm², mean/SD/min/max in details."""
    m = ellipse_measurement(values, center, radii, grid.calibration(), series_instance_uid)
    return PlaneMeasurement(view, m, grid, slab)


# ---------------------------------------------------------------------------------------------
# The linked crosshair model


@dataclass(frozen=True, slots=True)
class DisplayState:
    """Window (centre, width in modality units) and zoom of one view."""

    center: float
    width: float
    zoom: float = 1.0


@dataclass(slots=True)
class _ViewState:
    x_axis: Vec3
    y_axis: Vec3
    focus: Vec3
    display: DisplayState
    fov: tuple[float, float]  # (width, height) mm that fits the volume at zoom 1


@dataclass(frozen=True, slots=True)
class MprChange:
    """What changed in an :class:`MprModel`: ``kind`` and the views whose image changes."""

    kind: Literal[
        "crosshair",
        "orientation",
        "slab",
        "interpolation",
        "display",
        "measurements",
        "reset",
        "crop",
    ]
    views: tuple[View, ...]
    source: View | None = None


class MprModel:
    """Three orthogonal views linked by a crosshair, with slab, window and zoom; no Qt, no VTK.

    Each view's plane passes through the crosshair. Moving the crosshair moves the other planes
    (a view's own plane only moves when the crosshair leaves it). Rotating the crosshair in a
    view turns the other two planes about that view's normal, which keeps the three planes
    perpendicular (oblique, then double oblique after a turn in a second view). ``changed``
    is emitted with an :class:`MprChange` after each change.
    """

    def __init__(
        self,
        geometry: VolumeGeometry,
        window: tuple[float, float] = (40.0, 400.0),
        *,
        linked_display: bool = True,
        interpolation: Interpolation = "linear",
    ) -> None:
        self.geometry = geometry
        self.changed = Event("changed")
        self.linked_display = linked_display
        self.interpolation: Interpolation = interpolation
        self.default_window = (float(window[0]), float(window[1]))
        self.slab: Slab | None = None
        self.interacting = False
        self.measurements: list[PlaneMeasurement] = []
        self.selected_id: str | None = None
        k, r, c = geometry.shape
        self.volume_center: Vec3 = _tuple3(
            geometry.index_to_lps((k - 1) / 2, (r - 1) / 2, (c - 1) / 2)
        )
        self._views: dict[View, _ViewState] = {}
        self.crosshair_lps: Vec3 = self.volume_center
        # The 3D view's crop box (LPS, within the voxels' outer edges) and whether it crops.
        self.volume_box_lps: Box = geometry.world_bounds(voxel_edges=True)
        self.crop_box_lps: Box = self.volume_box_lps
        self.cropping = False
        self._init_views()

    # -- state -------------------------------------------------------------------------------
    def _init_views(self) -> None:
        lo, hi = self.geometry.world_bounds(voxel_edges=True)
        corners = np.array(
            [[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])]
        )
        c, w = self.default_window
        for view in VIEWS:
            x, y = DEFAULT_AXES[view]
            ext_x = float(np.ptp(corners @ np.asarray(x)))
            ext_y = float(np.ptp(corners @ np.asarray(y)))
            self._views[view] = _ViewState(
                x, y, self.volume_center, DisplayState(c, w), (ext_x, ext_y)
            )

    def reset(self) -> None:
        """Crosshair to the volume centre, orthogonal planes, default window, zoom 1, no slab."""
        self.crosshair_lps = self.volume_center
        self.slab = None
        self._init_views()
        self.changed.emit(MprChange("reset", VIEWS))

    def plane(self, view: View) -> Plane:
        """The plane of ``view`` through the crosshair."""
        st = self._views[view]
        return Plane(self.crosshair_lps, st.x_axis, st.y_axis)

    def planes(self) -> dict[View, Plane]:
        return {v: self.plane(v) for v in VIEWS}

    def display(self, view: View) -> DisplayState:
        return self._views[view].display

    def grid(self, view: View, width: int, height: int) -> ResliceGrid:
        """The output grid of ``view`` for a viewport of width × height pixels.

        At zoom 1 the whole volume fits; the pixel spacing is the field of view over the
        viewport size, so reslicing costs what the screen shows and no more. The image centre
        is the view's focus (the volume centre unless panned) projected on the plane, so a
        plane moving along its normal does not shift its image sideways.
        """
        st = self._views[view]
        plane = self.plane(view)
        spacing = max(st.fov[0] / width, st.fov[1] / height) / st.display.zoom
        centre = np.asarray(plane.project(st.focus))
        x, y = np.asarray(plane.x_axis), np.asarray(plane.y_axis)
        origin = centre - (width - 1) / 2 * spacing * x - (height - 1) / 2 * spacing * y
        return ResliceGrid(plane, _tuple3(origin), width, height, spacing)

    def is_oblique(self, view: View) -> bool:
        """True when ``view``'s plane is no longer its orthogonal default."""
        st = self._views[view]
        x, y = DEFAULT_AXES[view]
        return not (np.allclose(st.x_axis, x, atol=1e-9) and np.allclose(st.y_axis, y, atol=1e-9))

    def intersection_direction(self, view: View, other: View) -> Vec3:
        """Direction (LPS) of the line where ``other``'s plane cuts ``view``'s plane."""
        d = np.cross(self.plane(view).normal, self.plane(other).normal)
        n = float(np.linalg.norm(d))
        if n < 1e-9:
            raise GeometryError(f"the {view} and {other} planes are parallel")
        return _tuple3(d / n)

    # -- changes -----------------------------------------------------------------------------
    def _clamped(self, point: ArrayLike) -> Vec3:
        """The point moved into the volume's voxel-centre box (in index space)."""
        idx = self.geometry.lps_to_index(_vec(point, "point"))
        top = np.asarray(self.geometry.shape, dtype=np.float64) - 1
        clipped = np.clip(idx, 0.0, top)
        if np.allclose(clipped, idx, atol=1e-9):
            return _tuple3(point)
        return _tuple3(self.geometry.index_to_lps(*clipped))

    def set_crosshair(self, point: ArrayLike, source: View | None = None) -> None:
        """Move the crosshair to an LPS point (kept inside the volume); other planes follow."""
        new = self._clamped(point)
        old = self.crosshair_lps
        if np.allclose(new, old, atol=1e-9):
            return
        self.crosshair_lps = new
        moved = tuple(v for v in VIEWS if abs(self.plane(v).signed_distance(old)) > 1e-9)
        self.changed.emit(MprChange("crosshair", moved, source))

    def click(self, view: View, grid: ResliceGrid, col: float, row: float) -> Vec3:
        """Move the crosshair to the point under image pixel (col, row) of ``view``."""
        point = grid.pixel_to_lps(col, row)
        self.set_crosshair(point, source=view)
        return self.crosshair_lps

    def scroll(self, view: View, mm: float) -> None:
        """Move ``view``'s plane along its normal by ``mm`` (the crosshair goes with it)."""
        n = np.asarray(self.plane(view).normal)
        self.set_crosshair(np.asarray(self.crosshair_lps) + mm * n, source=view)

    def rotate(self, view: View, angle_deg: float) -> None:
        """Turn the other two planes by ``angle_deg`` about ``view``'s normal.

        Positive angles turn clockwise on ``view``'s screen (its x axis towards its y axis,
        which points down). ``view``'s own image does not turn.
        """
        if angle_deg == 0:
            return
        m = rotation_matrix(self.plane(view).normal, angle_deg)
        others = tuple(v for v in VIEWS if v != view)
        for v in others:
            st = self._views[v]
            st.x_axis = _tuple3(m @ np.asarray(st.x_axis))
            st.y_axis = _tuple3(m @ np.asarray(st.y_axis))
        self.changed.emit(MprChange("orientation", others, view))

    def set_orientation(self, view: View, x_axis: ArrayLike, y_axis: ArrayLike) -> None:
        """Set one view's axes directly (e.g. from a stored measurement's plane)."""
        p = Plane(self.crosshair_lps, _tuple3(_vec(x_axis)), _tuple3(_vec(y_axis)))
        st = self._views[view]
        st.x_axis, st.y_axis = p.x_axis, p.y_axis
        self.changed.emit(MprChange("orientation", (view,), view))

    def reset_orientation(self) -> None:
        """Orthogonal planes again; the crosshair stays where it is."""
        for view in VIEWS:
            st = self._views[view]
            st.x_axis, st.y_axis = DEFAULT_AXES[view]
        self.changed.emit(MprChange("orientation", VIEWS))

    # -- 3D: plane outlines and the crop box -------------------------------------------------
    def plane_outline(self, view: View) -> NDArray[np.float64]:
        """Where ``view``'s plane cuts the volume's box: polygon corners in LPS (N×3)."""
        return plane_volume_outline(self.geometry, self.crosshair_lps, self.plane(view).normal)

    def set_crop_box(self, lo: ArrayLike, hi: ArrayLike) -> Box:
        """Set the 3D crop box (LPS), cut to the volume's box; one wholly outside the volume
        gives the whole volume, one too thin to hold a voxel centre is refused (the box stays).
        Returns the box kept."""
        box = clamp_box(lo, hi, *self.volume_box_lps)
        try:
            crop_extent(self.geometry, *box)
        except GeometryError:
            return self.crop_box_lps
        if np.allclose(box, self.crop_box_lps, atol=1e-9):
            return box
        self.crop_box_lps = box
        self.changed.emit(MprChange("crop", ()))
        return box

    def set_cropping(self, on: bool) -> None:
        """Crop the 3D rendering to the crop box, or show the whole volume again."""
        if bool(on) == self.cropping:
            return
        self.cropping = bool(on)
        self.changed.emit(MprChange("crop", ()))

    def reset_crop(self) -> None:
        """The crop box back to the whole volume (cropping stays on or off)."""
        self.set_crop_box(*self.volume_box_lps)

    def set_slab(self, thickness_mm: float, mode: SlabMode = "mip") -> None:
        """A thick slab on every view (thickness 0: a thin plane)."""
        self.slab = None if thickness_mm <= 0 else Slab(thickness_mm, mode)
        self.changed.emit(MprChange("slab", VIEWS))

    @property
    def slab_step_factor(self) -> float:
        """How much coarser slabs are sampled now: 2 while the user drags, else 1."""
        return INTERACTIVE_SLAB_STEP_FACTOR if self.interacting else 1.0

    def begin_interaction(self) -> None:
        """The user starts dragging: slabs may be sampled coarser until the drag ends."""
        self.interacting = True

    def end_interaction(self) -> None:
        """The drag ended: redraw slabs at full sampling."""
        if not self.interacting:
            return
        self.interacting = False
        if self.slab is not None:
            self.changed.emit(MprChange("slab", VIEWS))

    def set_interpolation(self, interpolation: Interpolation) -> None:
        """Nearest, linear or cubic sampling of every view."""
        if interpolation not in INTERPOLATIONS:
            raise ConfigError(
                f"interpolation must be one of {', '.join(INTERPOLATIONS)}, not {interpolation!r}"
            )
        self.interpolation = interpolation
        self.changed.emit(MprChange("interpolation", VIEWS))

    def _display_targets(self, view: View) -> tuple[View, ...]:
        return VIEWS if self.linked_display else (view,)

    def set_window(self, view: View, center: float, width: float) -> None:
        """Window of ``view`` (and of all views while display is linked)."""
        if not (math.isfinite(center) and math.isfinite(width)) or width < 1:
            raise ConfigError("a window needs a finite centre and a width of at least 1")
        targets = self._display_targets(view)
        for v in targets:
            st = self._views[v]
            st.display = replace(st.display, center=float(center), width=float(width))
        self.changed.emit(MprChange("display", targets, view))

    def set_zoom(self, view: View, zoom: float) -> None:
        """Zoom of ``view`` (and of all views while display is linked), 0.1 to 40."""
        z = min(max(float(zoom), 0.1), 40.0)
        targets = self._display_targets(view)
        for v in targets:
            st = self._views[v]
            st.display = replace(st.display, zoom=z)
        self.changed.emit(MprChange("display", targets, view))

    def pan(self, view: View, d_col_mm: float, d_row_mm: float) -> None:
        """Shift what ``view`` centres on by (right, down) millimetres in its plane."""
        st = self._views[view]
        f = (
            np.asarray(st.focus)
            + d_col_mm * np.asarray(st.x_axis)
            + d_row_mm * np.asarray(st.y_axis)
        )
        st.focus = _tuple3(f)
        self.changed.emit(MprChange("display", (view,), view))

    def set_linked_display(self, linked: bool) -> None:
        self.linked_display = bool(linked)

    def add_measurement(self, m: PlaneMeasurement) -> None:
        self.measurements.append(m)
        self.changed.emit(MprChange("measurements", VIEWS))

    def clear_measurements(self) -> None:
        self.measurements.clear()
        self.selected_id = None
        self.changed.emit(MprChange("measurements", VIEWS))

    def set_measurements(self, measurements: Sequence[PlaneMeasurement]) -> None:
        """Replace the measurements (e.g. with those the store kept for the series)."""
        self.measurements = list(measurements)
        if self.selected_id not in {m.measurement_id for m in self.measurements}:
            self.selected_id = None
        self.changed.emit(MprChange("measurements", VIEWS))

    def measurement(self, measurement_id: str) -> PlaneMeasurement | None:
        return next((m for m in self.measurements if m.measurement_id == measurement_id), None)

    def replace_measurement(self, m: PlaneMeasurement) -> bool:
        """Put ``m`` in place of the measurement with its id (a rename); False if none."""
        for i, old in enumerate(self.measurements):
            if old.measurement_id == m.measurement_id:
                self.measurements[i] = m
                self.changed.emit(MprChange("measurements", VIEWS))
                return True
        return False

    def remove_measurement(self, measurement_id: str) -> bool:
        """Forget one measurement; False when there is none with that id."""
        kept = [m for m in self.measurements if m.measurement_id != measurement_id]
        if len(kept) == len(self.measurements):
            return False
        self.measurements = kept
        if self.selected_id == measurement_id:
            self.selected_id = None
        self.changed.emit(MprChange("measurements", VIEWS))
        return True

    def select(self, measurement_id: str | None) -> None:
        """Highlight one measurement (None: none)."""
        self.selected_id = measurement_id
        self.changed.emit(MprChange("measurements", VIEWS))

    def show_measurement(self, measurement_id: str) -> View | None:
        """Turn and move the planes so the measurement's plane is shown, and highlight it.

        The three planes turn together by the rotation that takes the default axes of the
        measurement's view onto its plane's axes (so they stay perpendicular), the crosshair
        goes to the measurement and the view centres on it. Returns the view, or None when
        no measurement has that id.
        """
        pm = self.measurement(measurement_id)
        if pm is None:
            return None
        view: View = pm.view if pm.view in VIEWS else nearest_view(pm.plane.normal)  # type: ignore[assignment]
        x0, y0 = DEFAULT_AXES[view]
        old = np.stack([np.asarray(x0), np.asarray(y0), np.cross(x0, y0)], axis=1)
        rot = pm.plane.axes_matrix @ old.T
        for v in VIEWS:
            st = self._views[v]
            x, y = DEFAULT_AXES[v]
            st.x_axis, st.y_axis = _tuple3(rot @ np.asarray(x)), _tuple3(rot @ np.asarray(y))
        centre = pm.center_lps
        self._views[view].focus = centre
        self.selected_id = measurement_id
        self.crosshair_lps = self._clamped(centre)
        self.changed.emit(MprChange("orientation", VIEWS, view))
        return view

    def measurements_on(self, grid: ResliceGrid, tol_mm: float = 0.5) -> list[PlaneMeasurement]:
        """Measurements whose plane is ``grid``'s plane (parallel, within ``tol_mm``)."""
        out = []
        for m in self.measurements:
            if (
                m.plane.is_parallel_to(grid.plane)
                and abs(grid.plane.signed_distance(m.plane.origin_lps)) <= tol_mm
            ):
                out.append(m)
        return out
