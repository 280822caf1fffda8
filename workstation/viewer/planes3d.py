"""Geometry of the 3D view beside MPR: plane outlines, the crop box, crop extents. numpy only.

The 3D view draws where the three MPR planes cut the volume (a convex polygon per plane, of 3
to 6 corners) and crops the rendering to a box the user drags. Everything is in LPS millimetres
(PS3.3 C.7.6.2.1.1); the volume's own frame comes from its :class:`VolumeGeometry`, so an
oblique acquisition's outlines follow its tilted box, not the LPS axes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from workstation.core.errors import GeometryError
from workstation.core.volume_geometry import VolumeGeometry

Vec3 = tuple[float, float, float]
Box = tuple[Vec3, Vec3]
Extent = tuple[int, int, int, int, int, int]

# The 12 edges of a box as pairs of corner numbers; corner i has bit 0: x, bit 1: y, bit 2: z.
_EDGES = tuple((i, i | bit) for bit in (1, 2, 4) for i in range(8) if not i & bit)


def _vec3(v: ArrayLike, what: str) -> NDArray[np.float64]:
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    if a.shape != (3,) or not np.all(np.isfinite(a)):
        raise GeometryError(f"{what} must be three finite numbers")
    return a


def _box(lo: ArrayLike, hi: ArrayLike, what: str = "box") -> tuple[NDArray, NDArray]:
    a, b = _vec3(lo, f"{what} corner"), _vec3(hi, f"{what} corner")
    if np.any(b < a):
        raise GeometryError(f"a {what} needs lo <= hi on every axis")
    return a, b


def box_corners(lo: ArrayLike, hi: ArrayLike) -> NDArray[np.float64]:
    """The 8 corners (8×3) of the axis-aligned box lo..hi; corner i has bit 0 for x, 1 y, 2 z."""
    a, b = _box(lo, hi)
    return np.array([[(b if i & (1 << d) else a)[d] for d in range(3)] for i in range(8)])


def plane_box_polygon(
    point: ArrayLike, normal: ArrayLike, lo: ArrayLike, hi: ArrayLike, tol: float = 1e-9
) -> NDArray[np.float64]:
    """Where the plane through ``point`` with ``normal`` cuts the box lo..hi: the corners of
    the convex polygon (N×3, N = 3..6) in order around the normal; empty (0×3) when it misses.

    A plane that only touches an edge or a corner gives no polygon (nothing to draw).
    """
    p = _vec3(point, "plane point")
    n = _vec3(normal, "plane normal")
    norm = float(np.linalg.norm(n))
    if norm < 1e-12:
        raise GeometryError("the normal of a plane must not be zero")
    n = n / norm
    corners = box_corners(lo, hi)
    d = (corners - p) @ n
    scale = max(1.0, float(np.abs(corners).max()))
    eps = tol * scale
    pts: list[NDArray[np.float64]] = []
    for i, j in _EDGES:
        di, dj = d[i], d[j]
        if abs(di) <= eps:
            pts.append(corners[i])
        if abs(dj) <= eps:
            pts.append(corners[j])
        if (di < -eps and dj > eps) or (di > eps and dj < -eps):
            t = di / (di - dj)
            pts.append(corners[i] + t * (corners[j] - corners[i]))
    if not pts:
        return np.zeros((0, 3))
    # A corner on the plane is found from each of its three edges: keep one of each.
    unique: list[NDArray[np.float64]] = []
    for q in pts:
        if all(np.linalg.norm(q - u) > eps * 10 for u in unique):
            unique.append(q)
    if len(unique) < 3:
        return np.zeros((0, 3))
    poly = np.array(unique)
    centre = poly.mean(axis=0)
    u = poly[0] - centre
    u = u / np.linalg.norm(u)
    v = np.cross(n, u)
    angles = np.arctan2((poly - centre) @ v, (poly - centre) @ u)
    return poly[np.argsort(angles)]


def volume_box_to_lps(geometry: VolumeGeometry) -> NDArray[np.float64]:
    """4×4 taking the volume's own millimetres (column, row, slice from the first voxel's
    centre) to LPS: its box is the voxels' outer edges, −½ voxel .. (n − ½) voxels."""
    m = np.eye(4)
    m[:3, :3] = geometry.direction_matrix
    m[:3, 3] = geometry.origin_lps
    return m


def volume_local_box(geometry: VolumeGeometry) -> Box:
    """The voxels' outer edges in the volume's own millimetres (column, row, slice)."""
    k, r, c = geometry.shape
    sk, sr, sc = geometry.spacing_mm
    lo = (-0.5 * sc, -0.5 * sr, -0.5 * sk)
    hi = ((c - 0.5) * sc, (r - 0.5) * sr, (k - 0.5) * sk)
    return lo, hi


def plane_volume_outline(
    geometry: VolumeGeometry, point: ArrayLike, normal: ArrayLike
) -> NDArray[np.float64]:
    """Where a plane cuts the volume's box (the voxels' outer edges, in the volume's own
    orientation): polygon corners in LPS (N×3, in order), empty when the plane misses it."""
    m = volume_box_to_lps(geometry)
    rot, origin = m[:3, :3], m[:3, 3]
    # The volume's frame is a rotation and a shift of LPS: a plane keeps its shape in it.
    p_local = (_vec3(point, "plane point") - origin) @ rot
    n_local = _vec3(normal, "plane normal") @ rot
    lo, hi = volume_local_box(geometry)
    poly = plane_box_polygon(p_local, n_local, lo, hi)
    return poly @ rot.T + origin if len(poly) else poly


def clamp_box(lo: ArrayLike, hi: ArrayLike, bounds_lo: ArrayLike, bounds_hi: ArrayLike) -> Box:
    """The box lo..hi cut to the bounds; a box wholly outside them, or flat after cutting,
    becomes the bounds themselves (a crop that would leave nothing resets instead)."""
    a, b = _vec3(lo, "box corner"), _vec3(hi, "box corner")
    blo, bhi = _box(bounds_lo, bounds_hi, "bounding box")
    a, b = np.minimum(a, b), np.maximum(a, b)
    ca, cb = np.clip(a, blo, bhi), np.clip(b, blo, bhi)
    if np.any(cb - ca <= 1e-9):
        ca, cb = blo, bhi
    return (
        (float(ca[0]), float(ca[1]), float(ca[2])),
        (float(cb[0]), float(cb[1]), float(cb[2])),
    )


def crop_extent(geometry: VolumeGeometry, lo: ArrayLike, hi: ArrayLike) -> Extent:
    """The voxels a crop box keeps, as a VTK extent (column0, column1, row0, row1, slice0,
    slice1), inclusive: those whose centres lie in the box taken in the volume's own axes
    (the box around its corners there). Raises :class:`GeometryError` when it keeps none."""
    a, b = _box(lo, hi, "crop box")
    corners = box_corners(a, b)
    idx = geometry.lps_to_index(corners)  # (k, r, c) per corner
    mn, mx = idx.min(axis=0), idx.max(axis=0)
    k, r, c = geometry.shape
    top = np.array([k - 1, r - 1, c - 1], dtype=np.float64)
    first = np.clip(np.ceil(mn - 1e-6), 0, top).astype(int)
    last = np.clip(np.floor(mx + 1e-6), 0, top).astype(int)
    if np.any(np.ceil(mn - 1e-6) > top) or np.any(np.floor(mx + 1e-6) < 0) or np.any(last < first):
        raise GeometryError("the crop box keeps no voxel of the volume")
    return (int(first[2]), int(last[2]), int(first[1]), int(last[1]), int(first[0]), int(last[0]))


def extent_local_planes(geometry: VolumeGeometry, extent: Sequence[int]) -> tuple[float, ...]:
    """VTK cropping-region planes (xmin, xmax, ymin, ymax, zmin, zmax) in the image's own
    millimetres for a voxel extent: half a voxel beyond the first and last kept centres."""
    if len(extent) != 6:
        raise GeometryError("an extent has six numbers")
    sk, sr, sc = geometry.spacing_mm
    out: list[float] = []
    for (i0, i1), s in zip(
        ((extent[0], extent[1]), (extent[2], extent[3]), (extent[4], extent[5])),
        (sc, sr, sk),
        strict=True,
    ):
        out += [(i0 - 0.5) * s, (i1 + 0.5) * s]
    return tuple(out)


def polygon_contains(polygon: ArrayLike, point: ArrayLike, tol_mm: float = 0.5) -> bool:
    """True when ``point`` lies within ``tol_mm`` of a convex polygon's plane and inside it
    (or within ``tol_mm`` of its edges): the check that an outline passes through a point."""
    poly = np.asarray(polygon, dtype=np.float64)
    p = _vec3(point, "point")
    if poly.ndim != 2 or poly.shape[0] < 3 or poly.shape[1] != 3:
        raise GeometryError("a polygon needs at least three corners (N×3)")
    centre = poly.mean(axis=0)
    n = np.cross(poly[1] - poly[0], poly[2] - poly[0])
    if float(np.linalg.norm(n)) < 1e-12:
        raise GeometryError("a polygon's first three corners must not lie on a line")
    n = n / np.linalg.norm(n)
    if abs(float((p - centre) @ n)) > tol_mm:
        return False
    for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        inward = np.cross(n, b - a)
        inward = inward / np.linalg.norm(inward)
        if float((centre - a) @ inward) < 0:
            inward = -inward
        if float((p - a) @ inward) < -tol_mm:
            return False
    return True
