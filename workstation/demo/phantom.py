"""Analytic phantoms: shapes in patient coordinates and their rasterisation onto image planes.

Coordinates are the DICOM patient coordinate system (PS3.3 C.7.6.2.1.1): x grows towards the
patient's Left, y towards Posterior, z towards the Head (LPS), in millimetres. Shapes are painted
in list order over a background value, later shapes overwriting earlier ones. A pixel takes a
shape's value when its centre lies inside the shape, boundary included; there is no partial
volume, so every noise-free pixel value is exactly one of the values listed in the phantom.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Vec3 = tuple[float, float, float]
Axis = Literal["x", "y", "z"]

_AXIS_INDEX: dict[str, int] = {"x": 0, "y": 1, "z": 2}


def _other_axes(axis: Axis) -> tuple[int, int]:
    """The two coordinate indices perpendicular to ``axis``, in x, y, z order."""
    i = _AXIS_INDEX[axis]
    a, b = (j for j in range(3) if j != i)
    return a, b


def _check_axis(axis: str) -> None:
    if axis not in _AXIS_INDEX:
        raise ValueError(f"axis must be 'x', 'y' or 'z', not {axis!r}")


@dataclass(frozen=True, slots=True)
class Sphere:
    """A ball of ``radius_mm`` around ``center_lps``."""

    center_lps: Vec3
    radius_mm: float
    value: float

    def __post_init__(self) -> None:
        if self.radius_mm <= 0:
            raise ValueError("Sphere radius_mm must be positive")

    def contains(self, x: ArrayLike, y: ArrayLike, z: ArrayLike) -> NDArray[np.bool_]:
        """Whether each point lies inside or on the sphere."""
        dx = np.subtract(x, self.center_lps[0])
        dy = np.subtract(y, self.center_lps[1])
        dz = np.subtract(z, self.center_lps[2])
        return dx * dx + dy * dy + dz * dz <= self.radius_mm * self.radius_mm

    def bounds_lps(self) -> tuple[Vec3, Vec3]:
        """Axis-aligned bounding box (min corner, max corner)."""
        r = self.radius_mm
        cx, cy, cz = self.center_lps
        return (cx - r, cy - r, cz - r), (cx + r, cy + r, cz + r)


@dataclass(frozen=True, slots=True)
class Ellipsoid:
    """An axis-aligned ellipsoid with semi-axes ``radii_mm`` = (x, y, z)."""

    center_lps: Vec3
    radii_mm: Vec3
    value: float

    def __post_init__(self) -> None:
        if min(self.radii_mm) <= 0:
            raise ValueError("Ellipsoid radii_mm must be positive")

    def contains(self, x: ArrayLike, y: ArrayLike, z: ArrayLike) -> NDArray[np.bool_]:
        """Whether each point lies inside or on the ellipsoid."""
        u = np.subtract(x, self.center_lps[0]) / self.radii_mm[0]
        v = np.subtract(y, self.center_lps[1]) / self.radii_mm[1]
        w = np.subtract(z, self.center_lps[2]) / self.radii_mm[2]
        return u * u + v * v + w * w <= 1.0

    def bounds_lps(self) -> tuple[Vec3, Vec3]:
        """Axis-aligned bounding box (min corner, max corner)."""
        c, r = self.center_lps, self.radii_mm
        return (c[0] - r[0], c[1] - r[1], c[2] - r[2]), (c[0] + r[0], c[1] + r[1], c[2] + r[2])


@dataclass(frozen=True, slots=True)
class Cylinder:
    """A circular cylinder along a patient axis, ``half_length_mm`` either side of its centre."""

    center_lps: Vec3
    radius_mm: float
    half_length_mm: float
    axis: Axis
    value: float

    def __post_init__(self) -> None:
        _check_axis(self.axis)
        if self.radius_mm <= 0 or self.half_length_mm <= 0:
            raise ValueError("Cylinder radius_mm and half_length_mm must be positive")

    def contains(self, x: ArrayLike, y: ArrayLike, z: ArrayLike) -> NDArray[np.bool_]:
        """Whether each point lies inside or on the cylinder."""
        d = [np.subtract(p, c) for p, c in zip((x, y, z), self.center_lps, strict=True)]
        a, b = _other_axes(self.axis)
        radial = d[a] * d[a] + d[b] * d[b] <= self.radius_mm * self.radius_mm
        return radial & (np.abs(d[_AXIS_INDEX[self.axis]]) <= self.half_length_mm)

    def bounds_lps(self) -> tuple[Vec3, Vec3]:
        """Axis-aligned bounding box (min corner, max corner)."""
        half = [self.radius_mm] * 3
        half[_AXIS_INDEX[self.axis]] = self.half_length_mm
        c = self.center_lps
        return (c[0] - half[0], c[1] - half[1], c[2] - half[2]), (
            c[0] + half[0],
            c[1] + half[1],
            c[2] + half[2],
        )


@dataclass(frozen=True, slots=True)
class EllipticCylinder:
    """A cylinder with an elliptical cross-section along a patient axis (e.g. a body outline).

    ``radii_mm`` are the semi-axes along the two other patient axes, in x, y, z order: for
    ``axis="z"`` they are (x, y); for ``"y"`` (x, z); for ``"x"`` (y, z).
    """

    center_lps: Vec3
    radii_mm: tuple[float, float]
    half_length_mm: float
    axis: Axis
    value: float

    def __post_init__(self) -> None:
        _check_axis(self.axis)
        if min(self.radii_mm) <= 0 or self.half_length_mm <= 0:
            raise ValueError("EllipticCylinder radii_mm and half_length_mm must be positive")

    def contains(self, x: ArrayLike, y: ArrayLike, z: ArrayLike) -> NDArray[np.bool_]:
        """Whether each point lies inside or on the cylinder."""
        d = [np.subtract(p, c) for p, c in zip((x, y, z), self.center_lps, strict=True)]
        a, b = _other_axes(self.axis)
        u = d[a] / self.radii_mm[0]
        v = d[b] / self.radii_mm[1]
        return (u * u + v * v <= 1.0) & (np.abs(d[_AXIS_INDEX[self.axis]]) <= self.half_length_mm)

    def bounds_lps(self) -> tuple[Vec3, Vec3]:
        """Axis-aligned bounding box (min corner, max corner)."""
        a, b = _other_axes(self.axis)
        half = [0.0, 0.0, 0.0]
        half[a], half[b] = self.radii_mm
        half[_AXIS_INDEX[self.axis]] = self.half_length_mm
        c = self.center_lps
        return (c[0] - half[0], c[1] - half[1], c[2] - half[2]), (
            c[0] + half[0],
            c[1] + half[1],
            c[2] + half[2],
        )


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box between two opposite corners."""

    min_lps: Vec3
    max_lps: Vec3
    value: float

    def __post_init__(self) -> None:
        if any(lo > hi for lo, hi in zip(self.min_lps, self.max_lps, strict=True)):
            raise ValueError("Box min_lps must not exceed max_lps on any axis")

    def contains(self, x: ArrayLike, y: ArrayLike, z: ArrayLike) -> NDArray[np.bool_]:
        """Whether each point lies inside or on the box."""
        lo, hi = self.min_lps, self.max_lps
        x, y, z = np.asarray(x), np.asarray(y), np.asarray(z)
        return (
            (x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1]) & (z >= lo[2]) & (z <= hi[2])
        )

    def bounds_lps(self) -> tuple[Vec3, Vec3]:
        """Axis-aligned bounding box (min corner, max corner)."""
        return self.min_lps, self.max_lps


Shape = Sphere | Ellipsoid | Cylinder | EllipticCylinder | Box


def value_at(shapes: Sequence[Shape], background: float, point_lps: Sequence[float]) -> float:
    """The noise-free phantom value at one patient point: the last shape containing it wins."""
    x, y, z = (float(c) for c in point_lps)
    value = float(background)
    for shape in shapes:
        if bool(shape.contains(x, y, z)):
            value = float(shape.value)
    return value


def rasterize_plane(
    shapes: Sequence[Shape],
    background: float,
    origin_lps: Sequence[float],
    row_direction: Sequence[float],
    column_direction: Sequence[float],
    pixel_spacing_mm: tuple[float, float],
    rows: int,
    columns: int,
) -> NDArray[np.float32]:
    """Paint the shapes onto one image plane and return a (rows, columns) float32 array.

    The plane follows PS3.3 C.7.6.2.1.1: ``origin_lps`` is the centre of the first transmitted
    pixel (Image Position), ``row_direction`` and ``column_direction`` are the two unit vectors
    of Image Orientation, ``pixel_spacing_mm`` is (row spacing, column spacing). Pixel (c, r)
    lies at ``origin + c * column_spacing * row_direction + r * row_spacing * column_direction``.
    Each shape is evaluated only inside the projection of its bounding box on the plane.
    """
    out = np.full((rows, columns), background, dtype=np.float32)
    origin = np.asarray(origin_lps, dtype=np.float64)
    u = np.asarray(row_direction, dtype=np.float64)
    v = np.asarray(column_direction, dtype=np.float64)
    row_spacing, column_spacing = (float(s) for s in pixel_spacing_mm)
    normal = np.cross(u, v)
    for shape in shapes:
        lo, hi = shape.bounds_lps()
        corners = np.array(
            [(x, y, z) for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
        )
        rel = corners - origin
        distance = rel @ normal
        tolerance = 1e-9 * (1.0 + float(np.abs(rel).max()))
        if distance.min() > tolerance or distance.max() < -tolerance:
            continue  # the plane misses the shape's bounding box
        cols = (rel @ u) / column_spacing
        rws = (rel @ v) / row_spacing
        c0 = max(int(np.floor(cols.min())) - 1, 0)
        c1 = min(int(np.ceil(cols.max())) + 2, columns)
        r0 = max(int(np.floor(rws.min())) - 1, 0)
        r1 = min(int(np.ceil(rws.max())) + 2, rows)
        if c0 >= c1 or r0 >= r1:
            continue
        c = np.arange(c0, c1, dtype=np.float64) * column_spacing
        r = np.arange(r0, r1, dtype=np.float64) * row_spacing
        # Same operation order as DemoSeries.pixel_to_lps, so a pixel centre computed here and
        # one computed there are the same float and boundary pixels agree with value_at().
        coords = []
        for i in range(3):
            along_row = origin[i] + c * u[i]
            if v[i] == 0.0:
                coords.append(along_row[np.newaxis, :])
            else:
                coords.append(along_row[np.newaxis, :] + (r * v[i])[:, np.newaxis])
        mask = shape.contains(*coords)
        mask = np.broadcast_to(mask, (r1 - r0, c1 - c0))
        out[r0:r1, c0:c1][mask] = shape.value
    return out
