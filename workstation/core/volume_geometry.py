"""Geometry of a voxel volume in patient coordinates (LPS millimetres), and of a slice stack.

A volume is indexed ``array[k, r, c]`` (slice, row, column). Voxel centres follow the Image
Plane module (PS3.3 C.7.6.2.1.1): the centre of voxel (k, r, c) is

    origin + c · Δc · û + r · Δr · v̂ + k · Δk · n̂

with û the row direction cosine (Image Orientation (Patient) values 1-3, the way the column
index grows), v̂ the column direction cosine (values 4-6, the way the row index grows), n̂ the
direction of growing slice index, Δr/Δc the Pixel Spacing (row spacing first, PS3.3 10.7.1.3)
and Δk the distance between slice planes. Pure numpy: no pydicom, no VTK.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from workstation.core.errors import GeometryError

Vec3 = tuple[float, float, float]
Matrix3 = tuple[Vec3, Vec3, Vec3]

# Direction cosines must be unit and orthogonal to this precision; files write them with
# six or so decimals, so 1e-3 accepts real data and rejects a wrong tag.
_ORTHONORMAL_TOLERANCE = 1e-3


@dataclass(frozen=True, slots=True)
class VolumeGeometry:
    """Where every voxel of a (slices, rows, columns) array lies in LPS (PS3.3 C.7.6.2.1.1).

    ``direction`` is a 3×3 matrix given row by row; its columns are the unit vectors (LPS) of
    growing column index, row index and slice index. ``origin_lps`` is the centre of voxel
    [0, 0, 0]; ``spacing_mm`` is (slice, row, column) centre-to-centre distance.
    """

    shape: tuple[int, int, int]
    spacing_mm: Vec3
    origin_lps: Vec3
    direction: Matrix3

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.shape)
        if len(shape) != 3 or min(shape) < 1:
            raise GeometryError(f"a volume needs three positive dimensions, not {self.shape}")
        spacing = tuple(float(s) for s in self.spacing_mm)
        if len(spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing):
            raise GeometryError(f"voxel spacing must be three positive numbers, not {spacing}")
        origin = tuple(float(v) for v in self.origin_lps)
        if len(origin) != 3 or not all(math.isfinite(v) for v in origin):
            raise GeometryError("the volume origin must be three finite numbers")
        d = np.asarray(self.direction, dtype=np.float64)
        if d.shape != (3, 3) or not np.all(np.isfinite(d)):
            raise GeometryError("the direction matrix must be 3×3 finite numbers")
        if np.abs(d.T @ d - np.eye(3)).max() > _ORTHONORMAL_TOLERANCE:
            raise GeometryError("the direction matrix is not orthonormal (sheared or scaled axes)")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "spacing_mm", spacing)
        object.__setattr__(self, "origin_lps", origin)
        object.__setattr__(self, "direction", tuple(tuple(float(x) for x in row) for row in d))

    @classmethod
    def from_image_plane(
        cls,
        first_position: Sequence[float],
        orientation: Sequence[float],
        pixel_spacing: Sequence[float],
        slice_spacing_mm: float,
        shape: tuple[int, int, int],
    ) -> VolumeGeometry:
        """A stack of planes starting at Image Position (Patient) ``first_position``, going
        along row × column (PS3.3 C.7.6.2.1.1); ``pixel_spacing`` is (row, column) spacing."""
        u, v, n = orthonormal_axes(orientation)
        return cls(
            shape=shape,
            spacing_mm=(float(slice_spacing_mm), float(pixel_spacing[0]), float(pixel_spacing[1])),
            origin_lps=_vec3(first_position),
            direction=_columns_to_matrix(u, v, n),
        )

    # -- derived quantities ------------------------------------------------------------------
    @property
    def direction_matrix(self) -> NDArray[np.float64]:
        """The direction as a 3×3 array (columns: column, row, slice index unit vectors)."""
        return np.asarray(self.direction, dtype=np.float64)

    @property
    def column_direction(self) -> NDArray[np.float64]:
        """Unit vector (LPS) along which the column index grows (IOP values 1-3)."""
        return self.direction_matrix[:, 0]

    @property
    def row_direction(self) -> NDArray[np.float64]:
        """Unit vector (LPS) along which the row index grows (IOP values 4-6)."""
        return self.direction_matrix[:, 1]

    @property
    def slice_direction(self) -> NDArray[np.float64]:
        """Unit vector (LPS) along which the slice index grows."""
        return self.direction_matrix[:, 2]

    @property
    def affine(self) -> NDArray[np.float64]:
        """4×4 matrix taking (k, r, c, 1), the array's index order, to (x, y, z, 1) in LPS mm."""
        d = self.direction_matrix
        sk, sr, sc = self.spacing_mm
        a = np.eye(4)
        a[:3, 0] = d[:, 2] * sk
        a[:3, 1] = d[:, 1] * sr
        a[:3, 2] = d[:, 0] * sc
        a[:3, 3] = self.origin_lps
        return a

    def index_to_lps(self, k: ArrayLike, r: ArrayLike, c: ArrayLike) -> NDArray[np.float64]:
        """LPS centre of voxel (k, r, c); indices may be fractional arrays (result (..., 3))."""
        kk, rr, cc = np.broadcast_arrays(
            np.asarray(k, dtype=np.float64),
            np.asarray(r, dtype=np.float64),
            np.asarray(c, dtype=np.float64),
        )
        sk, sr, sc = self.spacing_mm
        local = np.stack([cc * sc, rr * sr, kk * sk], axis=-1)
        return local @ self.direction_matrix.T + np.asarray(self.origin_lps)

    def lps_to_index(self, points: ArrayLike) -> NDArray[np.float64]:
        """Fractional (k, r, c) of LPS point(s): shape (3,) for one point, (N, 3) for N."""
        p = np.asarray(points, dtype=np.float64)
        if p.shape[-1:] != (3,):
            raise GeometryError(f"points must have three coordinates (x, y, z), not {p.shape}")
        local = (p - np.asarray(self.origin_lps)) @ self.direction_matrix  # (c mm, r mm, k mm)
        sk, sr, sc = self.spacing_mm
        return np.stack([local[..., 2] / sk, local[..., 1] / sr, local[..., 0] / sc], axis=-1)

    def nearest_voxel(self, point: Sequence[float]) -> tuple[int, int, int] | None:
        """The voxel whose centre is nearest ``point``, or None when it lies outside the array."""
        idx = np.rint(self.lps_to_index(point)).astype(int)
        if all(0 <= i < n for i, n in zip(idx, self.shape, strict=True)):
            return (int(idx[0]), int(idx[1]), int(idx[2]))
        return None

    def world_bounds(self, *, voxel_edges: bool = False) -> tuple[Vec3, Vec3]:
        """Axis-aligned LPS box (min, max) of the voxel centres, or of the voxels' outer edges."""
        half = 0.5 if voxel_edges else 0.0
        corners = [
            (k, r, c)
            for k in (-half, self.shape[0] - 1 + half)
            for r in (-half, self.shape[1] - 1 + half)
            for c in (-half, self.shape[2] - 1 + half)
        ]
        ks, rs, cs = zip(*corners, strict=True)
        pts = self.index_to_lps(ks, rs, cs)
        return _vec3(pts.min(axis=0)), _vec3(pts.max(axis=0))

    def isclose(self, other: VolumeGeometry, tol_mm: float = 1e-4) -> bool:
        """Same shape, and every corner voxel within ``tol_mm`` of the other's."""
        if self.shape != other.shape:
            return False
        ks, rs, cs = np.meshgrid(
            [0, self.shape[0] - 1], [0, self.shape[1] - 1], [0, self.shape[2] - 1], indexing="ij"
        )
        a = self.index_to_lps(ks, rs, cs)
        b = other.index_to_lps(ks, rs, cs)
        return bool(np.abs(a - b).max() <= tol_mm)


# ---------------------------------------------------------------------------------------------
# Image orientation


def orthonormal_axes(
    orientation: Sequence[float],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(û, v̂, n̂) of an Image Orientation (Patient): row and column cosines made exactly
    orthonormal, and their cross product, the slice normal (PS3.3 C.7.6.2.1.1)."""
    o = np.asarray(orientation, dtype=np.float64).reshape(-1)
    if o.shape != (6,) or not np.all(np.isfinite(o)):
        raise GeometryError("Image Orientation (Patient) must be six finite numbers")
    u, v = o[:3], o[3:]
    if (
        abs(np.linalg.norm(u) - 1) > _ORTHONORMAL_TOLERANCE
        or abs(np.linalg.norm(v) - 1) > _ORTHONORMAL_TOLERANCE
        or abs(float(u @ v)) > _ORTHONORMAL_TOLERANCE
    ):
        raise GeometryError(
            "Image Orientation (Patient) does not hold two perpendicular unit vectors"
        )
    u = u / np.linalg.norm(u)
    v = v - (v @ u) * u
    v = v / np.linalg.norm(v)
    return u, v, np.cross(u, v)


def orientations_match(a: Sequence[float], b: Sequence[float], tol: float = 1e-4) -> bool:
    """True when two Image Orientation (Patient) values agree to ``tol`` in every component."""
    return bool(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).max() <= tol)


def plane_name(orientation: Sequence[float]) -> str:
    """ "axial", "coronal", "sagittal" or "oblique" from the slice normal's main axis."""
    _, _, n = orthonormal_axes(orientation)
    axis = int(np.argmax(np.abs(n)))
    if abs(n[axis]) < math.cos(math.radians(1.0)):
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


# ---------------------------------------------------------------------------------------------
# Slice stacks


@dataclass(frozen=True, slots=True)
class StackTolerance:
    """How far a stack may stray from a regular grid and still be stacked as it is.

    A step between neighbouring slices is regular when it is within ``max(spacing_mm,
    spacing_relative × typical step)`` of the typical step (0.01 mm or 1 %: positions are written
    with a few decimals, so rounding alone moves them by up to 0.005 mm), and every slice then
    lies that close to the uniform grid. A slice off the line through the first slice's position
    along the normal by more than ``in_plane_pixels`` of the smaller pixel spacing is sheared
    (gantry tilt); a tenth of a pixel cannot be seen in any view.
    """

    spacing_mm: float = 0.01
    spacing_relative: float = 0.01
    in_plane_pixels: float = 0.1

    def step_tolerance(self, typical_step_mm: float) -> float:
        return max(self.spacing_mm, self.spacing_relative * typical_step_mm) + 1e-9


DEFAULT_TOLERANCE = StackTolerance()


@dataclass(frozen=True, slots=True)
class StackLayout:
    """What the positions of a set of parallel slices say about stacking them (no pixels).

    ``order`` sorts the input along the normal n̂ = row × column, so the slice index grows with
    n̂. Distances and in-plane offsets are relative to the first slice in that order; offsets
    are (along û, along v̂), i.e. along growing column and row index.
    """

    order: tuple[int, ...]
    distances_mm: tuple[float, ...]
    in_plane_offsets_mm: tuple[tuple[float, float], ...]
    spacing_mm: float  # the uniform grid's slice spacing
    grid_offset_mm: float  # the grid's first plane, along the normal from the first slice
    grid_steps: tuple[int, ...]  # grid index of each sorted slice (0 first)
    missing: tuple[tuple[int, int], ...]  # (after sorted slice i, how many are missing)
    uneven_steps: tuple[int, ...]  # steps (after sorted slice i) that fit no multiple
    max_deviation_mm: float  # largest distance of a slice from its uniform grid plane
    step_tolerance_mm: float
    sheared: bool
    tilt_deg: float
    max_in_plane_offset_mm: float

    @property
    def count(self) -> int:
        return len(self.order)

    @property
    def spacing_uniform(self) -> bool:
        """True when no step is irregular and every slice lies on the uniform grid."""
        return not self.uneven_steps and self.max_deviation_mm <= self.step_tolerance_mm

    @property
    def regular(self) -> bool:
        """True when the slices can be stacked as they are, with no gap, drift or shear."""
        return self.spacing_uniform and not self.missing and not self.sheared

    @property
    def grid_count(self) -> int:
        """Slices of the uniform grid from the first to the last position."""
        if self.spacing_uniform:
            return self.grid_steps[-1] + 1
        return (
            math.floor((self.distances_mm[-1] - self.grid_offset_mm) / self.spacing_mm + 0.01) + 1
        )

    @property
    def problems(self) -> tuple[str, ...]:
        """One message per irregularity (missing slices, uneven spacing, tilt), in that order."""
        out = []
        if self.missing:
            out.append(self.missing_message())
        if not self.spacing_uniform:
            out.append(self.spacing_message())
        if self.sheared:
            out.append(self.tilt_message())
        return tuple(out)

    @property
    def missing_count(self) -> int:
        return sum(m for _, m in self.missing)

    def missing_message(self) -> str:
        gaps = ", ".join(
            f"{self.distances_mm[i + 1] - self.distances_mm[i]:.4g} mm after slice {i + 1}"
            for i, _ in self.missing
        )
        return (
            f"{self.missing_count} slice(s) missing: gap of {gaps} of {self.count} where the "
            f"slice spacing is {self.spacing_mm:.4g} mm; the series may be only partly retrieved"
        )

    def spacing_message(self) -> str:
        steps = np.diff(self.distances_mm)
        if self.uneven_steps:
            return (
                f"uneven slice spacing: steps from {steps.min():.4g} to {steps.max():.4g} mm "
                f"where {self.spacing_mm:.4g} mm is typical"
            )
        return (
            f"uneven slice spacing: slices lie up to {self.max_deviation_mm:.3g} mm off a "
            f"uniform {self.spacing_mm:.4g} mm grid"
        )

    def tilt_message(self) -> str:
        return (
            f"gantry tilt (sheared stack): slices shift in-plane by up to "
            f"{self.max_in_plane_offset_mm:.3g} mm, a tilt of {self.tilt_deg:.1f}°"
        )


def analyse_stack(
    positions: ArrayLike,
    orientation: Sequence[float],
    pixel_spacing: Sequence[float],
    tolerance: StackTolerance = DEFAULT_TOLERANCE,
) -> StackLayout:
    """Sort parallel slices along their normal and find gaps, uneven steps and shear.

    ``positions`` are the Image Position (Patient) of each slice (PS3.3 C.7.6.2.1.1), all with
    the one ``orientation``; ``pixel_spacing`` is (row, column) spacing. A step close to a whole
    multiple (≥ 2) of the typical step is a gap of missing slices; any other irregular step is
    uneven spacing. Two slices at one position raise :class:`GeometryError`.
    """
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    if len(pos) < 2:
        raise GeometryError(f"a volume needs at least two slices; this set has {len(pos)}")
    if not np.all(np.isfinite(pos)):
        raise GeometryError("an Image Position (Patient) is not a finite number")
    u, v, n = orthonormal_axes(orientation)
    along = pos @ n
    order = np.argsort(along, kind="stable")
    p = pos[order]
    t = along[order] - along[order[0]]
    steps = np.diff(t)
    same = np.nonzero(steps <= tolerance.spacing_mm)[0]
    if same.size:
        raise GeometryError(
            f"{same.size + 1} images share a slice position (several acquisitions or time "
            "points in one set); split the set before stacking it"
        )
    typical = float(np.median(steps))
    tol = tolerance.step_tolerance(typical)
    multiples = np.rint(steps / typical)
    uneven = (multiples < 1) | (np.abs(steps - multiples * typical) > tol)
    uneven_steps = tuple(int(i) for i in np.nonzero(uneven)[0])
    if uneven_steps:
        spacing = typical
        offset = 0.0
        grid_steps = np.rint(t / spacing).astype(int)
        missing: tuple[tuple[int, int], ...] = ()
        deviation = float(np.abs(t - grid_steps * spacing).max())
    else:
        grid_steps = np.concatenate([[0], np.cumsum(multiples.astype(int))])
        # Least squares t ≈ offset + step × grid index: rounding of the written positions
        # spreads over the stack instead of landing on the last slice.
        gc = grid_steps - grid_steps.mean()
        spacing = float(gc @ (t - t.mean()) / (gc @ gc))
        offset = float(t.mean() - spacing * grid_steps.mean())
        missing = tuple((int(i), int(m) - 1) for i, m in enumerate(multiples) if m >= 2)
        deviation = float(np.abs(t - offset - grid_steps * spacing).max())

    q = p - p[0] - t[:, np.newaxis] * n
    offsets = np.stack([q @ u, q @ v], axis=-1)
    max_offset = float(np.hypot(offsets[:, 0], offsets[:, 1]).max())
    in_plane_tol = max(tolerance.spacing_mm, tolerance.in_plane_pixels * min(pixel_spacing))
    sheared = max_offset > in_plane_tol
    tc = t - t.mean()
    slope = (tc @ (offsets - offsets.mean(axis=0))) / float(tc @ tc)
    tilt = math.degrees(math.atan(float(np.hypot(slope[0], slope[1]))))

    return StackLayout(
        order=tuple(int(i) for i in order),
        distances_mm=tuple(float(x) for x in t),
        in_plane_offsets_mm=tuple((float(a), float(b)) for a, b in offsets),
        spacing_mm=spacing,
        grid_offset_mm=offset,
        grid_steps=tuple(int(g) for g in grid_steps),
        missing=missing,
        uneven_steps=uneven_steps,
        max_deviation_mm=deviation,
        step_tolerance_mm=tol,
        sheared=sheared,
        tilt_deg=tilt,
        max_in_plane_offset_mm=max_offset,
    )


def _vec3(values: ArrayLike) -> Vec3:
    a = np.asarray(values, dtype=np.float64).reshape(3)
    return (float(a[0]), float(a[1]), float(a[2]))


def _columns_to_matrix(*columns: NDArray[np.float64]) -> Matrix3:
    m = np.stack(columns, axis=1)
    return (_vec3(m[0]), _vec3(m[1]), _vec3(m[2]))
