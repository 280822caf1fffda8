"""workstation.core.volume_geometry: voxel ↔ LPS (PS3.3 C.7.6.2.1.1) and slice-stack analysis.

Known values are worked out by hand in the comments; LPS millimetres throughout.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from workstation.core.errors import GeometryError
from workstation.core.volume_geometry import (
    StackTolerance,
    VolumeGeometry,
    analyse_stack,
    orientations_match,
    orthonormal_axes,
    plane_name,
)

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
C30, S30 = math.cos(math.radians(30)), math.sin(math.radians(30))
OBLIQUE = (C30, S30, 0.0, -S30, C30, 0.0)  # axial rotated 30° about z
ABS = 1e-9


def test_axial_index_to_lps_known_value():
    # column 10 → +10 × 0.8 mm in x, row 4 → +4 × 0.5 mm in y, slice 3 → +3 × 2 mm in z
    g = VolumeGeometry.from_image_plane((-10.0, -20.0, 5.0), AXIAL, (0.5, 0.8), 2.0, (8, 6, 12))
    assert g.index_to_lps(3, 4, 10) == pytest.approx((-2.0, -18.0, 11.0), abs=ABS)
    assert g.lps_to_index((-2.0, -18.0, 11.0)) == pytest.approx((3.0, 4.0, 10.0), abs=ABS)
    assert g.spacing_mm == (2.0, 0.5, 0.8)
    assert g.origin_lps == (-10.0, -20.0, 5.0)


def test_coronal_axes_follow_row_column_and_normal():
    # normal = (1,0,0) × (0,0,-1) = (0,1,0): slices go posterior; rows go to the feet.
    g = VolumeGeometry.from_image_plane((0.0, 0.0, 0.0), CORONAL, (2.0, 0.5), 1.5, (4, 4, 8))
    assert g.column_direction == pytest.approx((1.0, 0.0, 0.0), abs=ABS)
    assert g.row_direction == pytest.approx((0.0, 0.0, -1.0), abs=ABS)
    assert g.slice_direction == pytest.approx((0.0, 1.0, 0.0), abs=ABS)
    assert g.index_to_lps(2, 3, 5) == pytest.approx((2.5, 3.0, -6.0), abs=ABS)
    assert np.linalg.det(g.direction_matrix) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("orientation", [AXIAL, CORONAL, SAGITTAL, OBLIQUE])
def test_round_trip_is_vectorised_and_exact(orientation):
    g = VolumeGeometry.from_image_plane(
        (12.5, -80.0, 33.0), orientation, (0.9, 0.7), 2.5, (20, 24, 32)
    )
    rng = np.random.default_rng(7)
    idx = rng.uniform(-5, 40, size=(50, 3))
    pts = g.index_to_lps(idx[:, 0], idx[:, 1], idx[:, 2])
    assert pts.shape == (50, 3)
    back = g.lps_to_index(pts)
    assert back.shape == (50, 3)
    assert np.abs(back - idx).max() < 1e-9
    # distances between points are preserved with the voxel spacing as the metric
    d_idx = (idx[1] - idx[0]) * np.array(g.spacing_mm)
    assert np.linalg.norm(pts[1] - pts[0]) == pytest.approx(np.linalg.norm(d_idx), abs=1e-9)


def test_affine_maps_array_index_order_to_lps():
    g = VolumeGeometry.from_image_plane((1.0, 2.0, 3.0), OBLIQUE, (0.9, 0.7), 2.5, (5, 6, 7))
    a = g.affine
    assert a.shape == (4, 4)
    assert a[3] == pytest.approx((0.0, 0.0, 0.0, 1.0))
    for k, r, c in [(0, 0, 0), (4, 5, 6), (1.5, 2.25, 3.75)]:
        assert (a @ (k, r, c, 1.0))[:3] == pytest.approx(g.index_to_lps(k, r, c), abs=1e-12)
    # column 1 of the affine is one row step: 0.9 mm along the column cosine
    assert np.linalg.norm(a[:3, 1]) == pytest.approx(0.9, abs=1e-12)


def test_world_bounds_of_centres_and_of_edges():
    g = VolumeGeometry.from_image_plane((0.0, 0.0, 0.0), AXIAL, (0.5, 0.8), 2.0, (4, 3, 2))
    lo, hi = g.world_bounds()
    assert lo == pytest.approx((0.0, 0.0, 0.0), abs=ABS)
    assert hi == pytest.approx((0.8, 1.0, 6.0), abs=ABS)
    lo, hi = g.world_bounds(voxel_edges=True)
    assert lo == pytest.approx((-0.4, -0.25, -1.0), abs=ABS)
    assert hi == pytest.approx((1.2, 1.25, 7.0), abs=ABS)


def test_world_bounds_of_a_coronal_volume():
    # rows run to -z: 3 rows of 2 mm from z = 10 reach z = 6
    g = VolumeGeometry.from_image_plane((0.0, 0.0, 10.0), CORONAL, (2.0, 0.5), 1.5, (4, 3, 5))
    lo, hi = g.world_bounds()
    assert lo == pytest.approx((0.0, 0.0, 6.0), abs=ABS)
    assert hi == pytest.approx((2.0, 4.5, 10.0), abs=ABS)


def test_nearest_voxel_inside_and_outside():
    g = VolumeGeometry.from_image_plane((0.0, 0.0, 0.0), AXIAL, (1.0, 1.0), 2.0, (3, 4, 5))
    assert g.nearest_voxel((3.4, 1.6, 3.1)) == (2, 2, 3)
    assert g.nearest_voxel((5.0, 0.0, 0.0)) is None  # column 5 of 0..4
    assert g.nearest_voxel((0.0, 0.0, -1.2)) is None  # slice -0.6 rounds to -1


def test_isclose_tells_a_shifted_geometry_apart():
    a = VolumeGeometry.from_image_plane((0.0, 0.0, 0.0), AXIAL, (1.0, 1.0), 2.0, (3, 4, 5))
    b = VolumeGeometry.from_image_plane((0.0, 0.0, 0.00001), AXIAL, (1.0, 1.0), 2.0, (3, 4, 5))
    c = VolumeGeometry.from_image_plane((0.0, 0.0, 0.01), AXIAL, (1.0, 1.0), 2.0, (3, 4, 5))
    assert a.isclose(b)
    assert not a.isclose(c)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shape": (0, 4, 4)}, "positive dimensions"),
        ({"spacing_mm": (1.0, 0.0, 1.0)}, "spacing"),
        ({"spacing_mm": (1.0, math.nan, 1.0)}, "spacing"),
        ({"direction": ((1.0, 0.0, 0.0), (0.5, 1.0, 0.0), (0.0, 0.0, 1.0))}, "orthonormal"),
        ({"direction": ((2.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))}, "orthonormal"),
    ],
)
def test_bad_geometry_is_refused(kwargs, match):
    args = {
        "shape": (2, 2, 2),
        "spacing_mm": (1.0, 1.0, 1.0),
        "origin_lps": (0.0, 0.0, 0.0),
        "direction": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    }
    args.update(kwargs)
    with pytest.raises(GeometryError, match=match):
        VolumeGeometry(**args)


def test_points_need_three_coordinates():
    g = VolumeGeometry.from_image_plane((0.0, 0.0, 0.0), AXIAL, (1.0, 1.0), 1.0, (2, 2, 2))
    with pytest.raises(GeometryError, match="three coordinates"):
        g.lps_to_index([(1.0, 2.0)])


def test_orthonormal_axes_cleans_rounding_and_refuses_nonsense():
    u, v, n = orthonormal_axes((0.866025, 0.5, 0.0, -0.5, 0.866025, 0.0))  # 6 decimals
    assert float(u @ v) == pytest.approx(0.0, abs=1e-15)
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-15)
    assert n == pytest.approx((0.0, 0.0, 1.0), abs=1e-12)
    with pytest.raises(GeometryError, match="perpendicular"):
        orthonormal_axes((1.0, 0.0, 0.0, 0.1, 1.0, 0.0))
    with pytest.raises(GeometryError, match="six"):
        orthonormal_axes((1.0, 0.0, 0.0, 0.0, 1.0))


def test_plane_names_and_orientation_match():
    assert [plane_name(o) for o in (AXIAL, CORONAL, SAGITTAL, OBLIQUE)] == [
        "axial",
        "coronal",
        "sagittal",
        "axial",  # rotated in-plane about z: still an axial slice
    ]
    tilted = (1.0, 0.0, 0.0, 0.0, C30, S30)  # normal tilted 30° from z
    assert plane_name(tilted) == "oblique"
    assert orientations_match(AXIAL, (1.0, 0.00009, 0.0, 0.0, 1.0, 0.0))
    assert not orientations_match(AXIAL, (1.0, 0.0002, 0.0, 0.0, 1.0, 0.0))


# ---------------------------------------------------------------------------------------------
# Stack analysis


def axial_positions(zs, xy=(-10.0, -20.0)):
    return [(xy[0], xy[1], float(z)) for z in zs]


def test_reversed_stack_is_sorted_along_the_normal():
    zs = [10.0 - 2.0 * k for k in range(6)]  # 10, 8, ..., 0
    layout = analyse_stack(axial_positions(zs), AXIAL, (0.5, 0.5))
    assert layout.order == (5, 4, 3, 2, 1, 0)
    assert layout.distances_mm == pytest.approx((0, 2, 4, 6, 8, 10), abs=ABS)
    assert layout.spacing_mm == pytest.approx(2.0, abs=ABS)
    assert layout.regular
    assert layout.grid_count == 6
    assert layout.problems == ()


def test_coronal_stack_sorts_along_plus_y():
    # CORONAL normal is +y: the slice at y = -4 comes first
    pos = [(0.0, y, 0.0) for y in (4.0, -4.0, 0.0)]
    layout = analyse_stack(pos, CORONAL, (1.0, 1.0))
    assert layout.order == (1, 2, 0)
    assert layout.spacing_mm == pytest.approx(4.0, abs=ABS)


def test_positions_rounded_to_hundredths_are_still_uniform():
    # 0.625 mm steps written with two decimals: steps of 0.62 and 0.63 mm
    zs = [round(0.625 * k, 2) for k in range(40)]
    layout = analyse_stack(axial_positions(zs), AXIAL, (0.5, 0.5))
    assert layout.regular
    assert layout.spacing_mm == pytest.approx(0.625, abs=1e-4)
    # least squares spreads the rounding: no slice is more than the rounding (0.005 mm) off
    assert layout.max_deviation_mm <= 0.0055
    assert abs(layout.grid_offset_mm) <= 0.005


def test_a_missing_slice_is_a_gap_of_two_steps():
    zs = [2.0 * k for k in range(20) if k != 10]
    layout = analyse_stack(axial_positions(zs), AXIAL, (0.5, 0.5))
    assert layout.missing == ((9, 1),)  # after the 10th slice, one missing
    assert layout.missing_count == 1
    assert layout.spacing_uniform
    assert not layout.regular
    assert layout.grid_count == 20
    assert layout.grid_steps[9:11] == (9, 11)
    (message,) = layout.problems
    assert "1 slice(s) missing" in message
    assert "4 mm after slice 10 of 19" in message


def test_an_odd_step_is_uneven_spacing():
    zs = [0, 2, 4, 6, 9, 11, 13]  # one step of 3 mm among 2 mm steps
    layout = analyse_stack(axial_positions(zs), AXIAL, (0.5, 0.5))
    assert layout.uneven_steps == (3,)
    assert layout.missing == ()
    assert not layout.spacing_uniform
    assert layout.spacing_mm == pytest.approx(2.0, abs=ABS)
    assert layout.grid_count == 7  # 0..12 mm in 2 mm steps: 13 mm is 0.5 step past 12
    (message,) = layout.problems
    assert "uneven slice spacing" in message
    assert "from 2 to 3 mm" in message


@pytest.mark.parametrize(("jitter", "uniform"), [(0.004, True), (0.03, False)])
def test_step_tolerance_is_one_percent(jitter, uniform):
    # steps alternate 2 ± jitter mm: 0.2 % passes, 1.5 % is past the 1 % tolerance
    zs = np.cumsum([0.0] + [2.0 + (jitter if k % 2 else -jitter) for k in range(10)])
    layout = analyse_stack(axial_positions(zs), AXIAL, (0.5, 0.5))
    assert layout.spacing_uniform is uniform
    assert layout.step_tolerance_mm == pytest.approx(0.02, abs=1e-8)


def test_slow_drift_is_uneven_even_when_each_step_passes():
    # 10 steps of 1.000 mm then 10 of 1.009 mm: each within 1 %, but the slices drift off
    # any uniform grid: the best (least-squares) grid still misses some slice by over 0.01 mm.
    zs = np.cumsum([0.0] + [1.0] * 10 + [1.009] * 10)
    layout = analyse_stack(axial_positions(zs), AXIAL, (0.5, 0.5))
    assert layout.uneven_steps == ()
    step, offset = np.polyfit(np.arange(21), zs, 1)  # the least-squares grid, independently
    assert layout.spacing_mm == pytest.approx(step, abs=1e-12)
    assert layout.grid_offset_mm == pytest.approx(offset, abs=1e-12)
    residual = np.abs(zs - offset - step * np.arange(21)).max()
    assert layout.max_deviation_mm == pytest.approx(residual, abs=1e-12)
    assert residual > 0.011  # past the 0.01 mm tolerance
    assert not layout.spacing_uniform
    assert "off a uniform" in layout.problems[0]


def test_gantry_tilt_is_found_with_its_angle():
    # Each 2 mm step along z also moves the slice tan(15°) × 2 mm along y.
    step = 2.0 * math.tan(math.radians(15))
    pos = [(-10.0, -20.0 + k * step, 2.0 * k) for k in range(20)]
    layout = analyse_stack(pos, AXIAL, (0.9, 0.7))
    assert layout.sheared
    assert layout.spacing_uniform
    assert layout.tilt_deg == pytest.approx(15.0, abs=1e-9)
    assert layout.max_in_plane_offset_mm == pytest.approx(19 * step, abs=1e-9)
    assert layout.in_plane_offsets_mm[5] == pytest.approx((0.0, 5 * step), abs=1e-9)
    assert "gantry tilt" in layout.problems[0]
    assert "15.0°" in layout.problems[0]


def test_a_shift_below_a_tenth_of_a_pixel_is_not_tilt():
    pos = [(0.05 * (k % 2), 0.0, 2.0 * k) for k in range(5)]  # 0.05 mm < 0.1 × 0.7 mm
    assert not analyse_stack(pos, AXIAL, (0.9, 0.7)).sheared
    pos = [(0.08 * (k % 2), 0.0, 2.0 * k) for k in range(5)]  # 0.08 mm > 0.07 mm
    assert analyse_stack(pos, AXIAL, (0.9, 0.7)).sheared


def test_custom_tolerance_accepts_more():
    zs = [0, 2, 4, 6.1, 8, 10]
    assert not analyse_stack(axial_positions(zs), AXIAL, (1, 1)).spacing_uniform
    loose = StackTolerance(spacing_mm=0.2)
    assert analyse_stack(axial_positions(zs), AXIAL, (1, 1), loose).spacing_uniform


def test_repeated_positions_and_single_slices_are_refused():
    with pytest.raises(GeometryError, match="share a slice position"):
        analyse_stack(axial_positions([0, 2, 2, 4]), AXIAL, (1.0, 1.0))
    with pytest.raises(GeometryError, match="at least two slices"):
        analyse_stack(axial_positions([0]), AXIAL, (1.0, 1.0))
    with pytest.raises(GeometryError, match="finite"):
        analyse_stack([(0, 0, 0), (0, 0, math.inf)], AXIAL, (1.0, 1.0))
