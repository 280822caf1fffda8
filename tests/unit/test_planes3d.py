"""3D-view geometry beside MPR: plane outlines in a box, crop-box clamping, crop extents.

Boxes and planes with answers known by hand: the axial plane through a cube's centre gives its
square cross-section, the plane x + y + z = 0 the regular hexagon through the edge midpoints.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from workstation.core.errors import GeometryError
from workstation.core.volume_geometry import VolumeGeometry
from workstation.viewer.mpr import MprModel, rotation_matrix
from workstation.viewer.planes3d import (
    clamp_box,
    crop_extent,
    extent_local_planes,
    plane_box_polygon,
    plane_volume_outline,
    polygon_contains,
)

LO, HI = (-10.0, -10.0, -10.0), (10.0, 10.0, 10.0)


def as_set(points) -> set[tuple[float, ...]]:
    return {tuple(round(float(v), 9) + 0.0 for v in p) for p in points}


def test_axial_plane_through_the_centre_gives_the_square():
    poly = plane_box_polygon((0, 0, 0), (0, 0, 1), LO, HI)
    assert poly.shape == (4, 3)
    assert as_set(poly) == {(10, 10, 0), (10, -10, 0), (-10, 10, 0), (-10, -10, 0)}
    # in order around the normal: each side is a cube edge, 20 mm long
    sides = np.linalg.norm(poly - np.roll(poly, -1, axis=0), axis=1)
    assert sides == pytest.approx([20.0] * 4, abs=1e-9)


def test_oblique_plane_gives_the_regular_hexagon():
    poly = plane_box_polygon((0, 0, 0), (1, 1, 1), LO, HI)
    expected = {
        (10, -10, 0), (10, 0, -10), (-10, 10, 0), (0, 10, -10), (-10, 0, 10), (0, -10, 10)
    }  # fmt: skip
    assert poly.shape == (6, 3) and as_set(poly) == expected
    sides = np.linalg.norm(poly - np.roll(poly, -1, axis=0), axis=1)
    assert sides == pytest.approx([10.0 * math.sqrt(2.0)] * 6, abs=1e-9)
    normal = np.cross(poly[1] - poly[0], poly[2] - poly[0])
    assert normal / np.linalg.norm(normal) == pytest.approx(np.ones(3) / math.sqrt(3), abs=1e-12)


def test_plane_near_a_corner_gives_a_triangle_and_a_missing_plane_nothing():
    tri = plane_box_polygon((5, 5, 5), (1, 1, 1), LO, HI)  # x + y + z = 15
    assert as_set(tri) == {(10, 10, -5), (10, -5, 10), (-5, 10, 10)}
    assert plane_box_polygon((0, 0, 11), (0, 0, 1), LO, HI).shape == (0, 3)
    assert plane_box_polygon((10, 10, 10), (1, 1, 1), LO, HI).shape == (0, 3)  # a corner only
    face = plane_box_polygon((0, 0, 10), (0, 0, 1), LO, HI)  # the top face itself
    assert as_set(face) == {(10, 10, 10), (10, -10, 10), (-10, 10, 10), (-10, -10, 10)}
    with pytest.raises(GeometryError, match="normal"):
        plane_box_polygon((0, 0, 0), (0, 0, 0), LO, HI)


def test_outline_follows_a_tilted_volume_box():
    # 20 columns × 10 rows × 5 slices of 1 × 1 × 2 mm, turned 30° about the feet-head axis
    turn = rotation_matrix((0, 0, 1), 30.0)
    u, v = turn @ (1, 0, 0), turn @ (0, 1, 0)
    geo = VolumeGeometry.from_image_plane((0, 0, 0), (*u, *v), (1.0, 1.0), 2.0, (5, 10, 20))
    z = 4.0  # through slice 2's centres
    poly = plane_volume_outline(geo, (0, 0, z), (0, 0, 1))
    k = z / 2.0
    corners = geo.index_to_lps([k] * 4, [-0.5, -0.5, 9.5, 9.5], [-0.5, 19.5, 19.5, -0.5])
    assert as_set(poly) == as_set(corners)
    assert polygon_contains(poly, geo.index_to_lps(k, 4.0, 7.0), 1e-9)
    assert not polygon_contains(poly, (-5.0, -5.0, z), 0.5)  # beside the turned box
    assert not polygon_contains(poly, geo.index_to_lps(k + 1, 4.0, 7.0), 0.5)  # 2 mm above


def test_clamp_box_keeps_what_lies_in_the_volume():
    assert clamp_box((-5, -20, 0), (30, 5, 8), LO, HI) == ((-5, -10, 0), (10, 5, 8))
    assert clamp_box((5, 5, 5), (-5, -5, -5), LO, HI) == ((-5, -5, -5), (5, 5, 5))
    assert clamp_box((20, 20, 20), (30, 30, 30), LO, HI) == (LO, HI)  # wholly outside
    assert clamp_box((10, -5, -5), (30, 5, 5), LO, HI) == (LO, HI)  # flat after the cut
    with pytest.raises(GeometryError, match="finite"):
        clamp_box((math.nan, 0, 0), (1, 1, 1), LO, HI)


def test_crop_box_maps_to_a_vtk_extent_of_whole_voxels():
    geo = VolumeGeometry.from_image_plane((0, 0, 0), (1, 0, 0, 0, 1, 0), (1, 1), 2.0, (12, 40, 50))
    extent = crop_extent(geo, (9.6, 4.2, 3.0), (20.4, 10.0, 9.0))
    assert extent == (10, 20, 5, 10, 2, 4)  # columns, rows, slices (centres inside)
    assert extent_local_planes(geo, extent) == pytest.approx((9.5, 20.5, 4.5, 10.5, 3.0, 9.0))
    assert crop_extent(geo, (-100, -100, -100), (100, 100, 100)) == (0, 49, 0, 39, 0, 11)
    with pytest.raises(GeometryError, match="no voxel"):
        crop_extent(geo, (60, 0, 0), (70, 10, 10))


def test_model_outlines_pass_through_the_crosshair_and_turn_with_it():
    geo = VolumeGeometry.from_image_plane(
        (-20, -20, 0), (1, 0, 0, 0, 1, 0), (1, 1), 2.0, (20, 41, 41)
    )
    model = MprModel(geo)
    p = (7.0, -3.0, 12.0)
    model.set_crosshair(p)
    assert as_set(model.plane_outline("axial")) == {
        (-20.5, -20.5, 12), (20.5, -20.5, 12), (20.5, 20.5, 12), (-20.5, 20.5, 12)
    }  # fmt: skip
    model.rotate("axial", 30.0)
    for view in ("axial", "coronal", "sagittal"):
        poly = model.plane_outline(view)
        assert polygon_contains(poly, p, 1e-9)
        d = (poly - np.asarray(p)) @ np.asarray(model.plane(view).normal)
        assert np.abs(d).max() < 1e-9  # every corner on the turned plane


def test_model_crop_box_is_clamped_and_announced():
    geo = VolumeGeometry.from_image_plane((0, 0, 0), (1, 0, 0, 0, 1, 0), (1, 1), 2.0, (10, 20, 30))
    model = MprModel(geo)
    assert model.volume_box_lps == ((-0.5, -0.5, -1.0), (29.5, 19.5, 19.0))
    seen = []
    model.changed.connect(seen.append)
    assert model.crop_box_lps == model.volume_box_lps and not model.cropping
    kept = model.set_crop_box((5, 5, 5), (100, 10, 10))
    assert kept == model.crop_box_lps == ((5, 5, 5), (29.5, 10, 10))
    model.set_cropping(True)
    assert [(c.kind, c.views) for c in seen] == [("crop", ()), ("crop", ())]
    model.set_crop_box((200, 200, 200), (300, 300, 300))  # outside: the whole volume
    assert model.crop_box_lps == model.volume_box_lps
    model.set_crop_box((1, 1, 1), (2, 2, 2))
    # thinner than a voxel, between two column centres: refused, the box stays
    assert model.set_crop_box((3.2, 0, 0), (3.8, 10, 10)) == ((1, 1, 1), (2, 2, 2))
    model.reset_crop()
    assert model.crop_box_lps == model.volume_box_lps and model.cropping
