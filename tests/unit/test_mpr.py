"""MPR geometry to the voxel: plane maths, the linked crosshair, and vtkImageReslice against numpy.

The series are made here with pydicom and imported into a real local store, then assembled by
``assemble_series``. Every pixel holds 20·x + 30·y + 50·z HU of its own LPS centre (PS3.3
C.7.6.2.1.1) plus a 5000 HU marker ball at a known point. A field that is linear in LPS is
reproduced exactly by linear interpolation, so every pixel of every reformatted plane must equal
the field at the LPS point the plane maths says it samples: a flip, a swapped axis, a half-pixel
shift or a wrong slice order would move values by tens of HU.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from workstation.archive.local import LocalArchive
from workstation.core.errors import ConfigError, GeometryError
from workstation.core.measure import MeasurementKind
from workstation.core.volume_geometry import VolumeGeometry
from workstation.viewer.mpr import (
    VIEWS,
    EdgeLabels,
    MprModel,
    Plane,
    ResliceGrid,
    Slab,
    format_lps,
    line_in_grid,
    measure_ellipse,
    measure_length,
    native_step_mm,
    oblique_plane,
    orthogonal_plane,
    reslice_reference,
    rotation_matrix,
    slab_offsets,
    slab_sampling,
)
from workstation.viewer.reslice import Reslicer, VolumeImage, reslice, vtk_window_level
from workstation.viewer.volume import Volume, assemble_series

ROWS, COLS = 24, 32
PIXEL_SPACING = (0.9, 0.7)  # (row, column) mm
SLICE_SPACING = 2.0
N_SLICES = 20
INTERCEPT = -1024
MARKER = 5000  # HU, far above the field (|field| < 2000 HU here)
MARKER_RADIUS = 2.5  # mm: a few voxels in every direction, so every plane through it sees it

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)


def _rot(axis: str, degrees: float) -> np.ndarray:
    return rotation_matrix({"x": (1, 0, 0), "y": (0, 1, 0), "z": (0, 0, 1)}[axis], degrees)


def _rotated(orientation: Sequence[float], m: np.ndarray) -> tuple[float, ...]:
    u = m @ np.asarray(orientation[:3])
    v = m @ np.asarray(orientation[3:])
    return tuple(round(float(x), 6) for x in (*u, *v))


DOUBLE_OBLIQUE = _rotated(AXIAL, _rot("z", 30) @ _rot("x", 20))


def field(points: np.ndarray) -> np.ndarray:
    return 20.0 * points[..., 0] + 30.0 * points[..., 1] + 50.0 * points[..., 2]


def stack_positions(orientation: Sequence[float], tilt_deg: float = 0.0) -> list[tuple]:
    """A regular stack centred on the LPS origin; a tilt shifts slice k by k·tan(tilt)·Δz in y."""
    u, v = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    n = np.cross(u, v)
    corner = -(COLS - 1) / 2 * PIXEL_SPACING[1] * u - (ROWS - 1) / 2 * PIXEL_SPACING[0] * v
    start = corner - (N_SLICES - 1) / 2 * SLICE_SPACING * n
    shift = math.tan(math.radians(tilt_deg)) * SLICE_SPACING
    return [
        tuple(
            round(float(x), 6)
            for x in start + k * SLICE_SPACING * n + np.array([0.0, k * shift, 0.0])
        )
        for k in range(N_SLICES)
    ]


def pixel_lps(position, orientation) -> np.ndarray:
    u, v = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    r, c = np.mgrid[0:ROWS, 0:COLS]
    return (
        np.asarray(position)
        + c[..., None] * PIXEL_SPACING[1] * u
        + r[..., None] * PIXEL_SPACING[0] * v
    )


@pytest.fixture
def make_series(
    tmp_path: Path, archive: LocalArchive, image_dataset: Callable[..., Dataset]
) -> Callable[..., str]:
    """Write a series (positions in the order given) with the field and a marker; import it."""
    counter = iter(range(1000))

    def _make(positions, orientation, marker) -> str:
        series_uid = pydicom.uid.generate_uid()
        folder = tmp_path / f"series{next(counter)}"
        folder.mkdir()
        for k, pos in enumerate(positions):
            pts = pixel_lps(pos, orientation)
            hu = np.rint(field(pts))
            hu[np.linalg.norm(pts - np.asarray(marker), axis=-1) <= MARKER_RADIUS] = MARKER
            ds = image_dataset(
                pixels=(hu - INTERCEPT).astype(np.int64),
                study_uid="1.2.826.0.1.3680043.10.999.8",
                series_uid=series_uid,
                sop_uid=pydicom.uid.generate_uid(),
                instance_number=k + 1,
                position=pos,
                orientation=orientation,
                spacing=PIXEL_SPACING,
                pixel_representation=1,
                rescale_intercept=INTERCEPT,
            )
            ds.save_as(folder / f"{k:03d}.dcm", enforce_file_format=True)
        report = archive.import_paths([folder])
        assert report.imported == len(positions), report.rejected
        return series_uid

    return _make


# ---------------------------------------------------------------------------------------------
# Plane maths


def test_default_views_follow_the_radiological_convention():
    o = (0.0, 0.0, 0.0)
    assert orthogonal_plane("axial", o).edge_labels() == EdgeLabels("R", "L", "A", "P")
    assert orthogonal_plane("coronal", o).edge_labels() == EdgeLabels("R", "L", "H", "F")
    assert orthogonal_plane("sagittal", o).edge_labels() == EdgeLabels("A", "P", "H", "F")
    assert orthogonal_plane("axial", o).normal == pytest.approx((0, 0, 1))
    assert orthogonal_plane("coronal", o).normal == pytest.approx((0, 1, 0))
    assert orthogonal_plane("sagittal", o).normal == pytest.approx((-1, 0, 0))


def test_grid_maps_pixels_to_lps_and_back():
    plane = oblique_plane((10.0, -20.0, 30.0), (0.3, -0.2, 0.93))
    grid = ResliceGrid.centred(plane, (10.0, -20.0, 30.0), 41, 30, 0.6)
    assert grid.center_pixel == (20, 15)
    assert grid.pixel_to_lps(20, 15) == pytest.approx((10.0, -20.0, 30.0), abs=1e-12)
    # one column = 0.6 mm along x, one row = 0.6 mm along y
    step_c = grid.pixel_to_lps(21, 15) - grid.pixel_to_lps(20, 15)
    step_r = grid.pixel_to_lps(20, 16) - grid.pixel_to_lps(20, 15)
    assert step_c == pytest.approx(0.6 * np.asarray(plane.x_axis), abs=1e-12)
    assert step_r == pytest.approx(0.6 * np.asarray(plane.y_axis), abs=1e-12)
    rng = np.random.default_rng(5)
    cr = rng.uniform(-5, 45, size=(50, 2))
    back = grid.lps_to_pixel(grid.pixel_to_lps(cr[:, 0], cr[:, 1]))
    assert back[:, :2] == pytest.approx(cr, abs=1e-9)
    assert back[:, 2] == pytest.approx(0.0, abs=1e-9)
    off = grid.lps_to_pixel(np.asarray((10.0, -20.0, 30.0)) + 4.0 * np.asarray(plane.normal))
    assert off == pytest.approx((20, 15, 4.0), abs=1e-9)


def test_oblique_plane_keeps_the_patient_left_on_the_right():
    tilted = rotation_matrix((1, 0, 0), 30) @ np.array([0.0, 0.0, 1.0])  # axial, tilted 30°
    plane = oblique_plane((0, 0, 0), tilted)
    assert plane.normal == pytest.approx(tilted, abs=1e-12)
    assert plane.x_axis == pytest.approx((1, 0, 0), abs=1e-12)  # the tilt axis stays
    # screen down turns from posterior towards the head: (0, cos 30°, sin 30°)
    assert plane.y_axis == pytest.approx((0, math.cos(math.pi / 6), 0.5), abs=1e-12)
    assert plane.edge_labels() == EdgeLabels("R", "L", "AF", "PH")
    flipped = oblique_plane((0, 0, 0), -tilted)  # the same plane: never mirrored
    assert flipped.x_axis == pytest.approx(plane.x_axis, abs=1e-12)
    assert flipped.y_axis == pytest.approx(plane.y_axis, abs=1e-12)
    near_coronal = oblique_plane((0, 0, 0), rotation_matrix((0, 0, 1), 30) @ np.array([0, 1, 0]))
    assert near_coronal.edge_labels().right == "LP"
    assert near_coronal.edge_labels().top == "H"


def test_bad_planes_and_slabs_are_refused():
    with pytest.raises(GeometryError, match="parallel"):
        Plane((0, 0, 0), (1, 0, 0), (2, 0, 0))
    with pytest.raises(GeometryError, match="three finite"):
        Plane((0, 0, math.nan), (1, 0, 0), (0, 1, 0))
    with pytest.raises(GeometryError, match="positive size"):
        ResliceGrid(orthogonal_plane("axial", (0, 0, 0)), (0, 0, 0), 0, 10, 1.0)
    with pytest.raises(ConfigError, match="slab thickness"):
        Slab(0.0)
    with pytest.raises(ConfigError, match="slab mode"):
        Slab(10.0, "sum")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="view must be"):
        orthogonal_plane("transverse", (0, 0, 0))  # type: ignore[arg-type]


def test_line_in_grid_clips_to_the_image_edges():
    grid = ResliceGrid.centred(orthogonal_plane("axial", (0, 0, 0)), (0, 0, 0), 11, 21, 1.0)
    seg = line_in_grid(grid, (0, 0, 0), (1, 0, 0))
    assert seg == (
        (pytest.approx(-0.5), pytest.approx(10)),
        (pytest.approx(10.5), pytest.approx(10)),
    )
    diagonal = line_in_grid(grid, (0, 0, 0), (1, 1, 0))
    assert diagonal[0] == pytest.approx((-0.5, 4.5)) and diagonal[1] == pytest.approx((10.5, 15.5))
    assert line_in_grid(grid, (0, 0, 0), (0, 0, 1)) is None  # across the plane
    assert line_in_grid(grid, (100, 0, 0), (0, 1, 0)) is None  # beside the image


def test_slab_sampling_follows_the_voxel_layers():
    g = VolumeGeometry.from_image_plane((0, 0, 0), AXIAL, (0.7, 0.7), 1.5, (300, 512, 512))
    assert native_step_mm(g, (0, 0, 1)) == pytest.approx(1.5)
    assert native_step_mm(g, (0, 1, 0)) == pytest.approx(0.7)
    # 45° between z and y: a voxel row is crossed every 0.7·√2 mm, faster than a slice
    assert native_step_mm(g, (0, 1, 1)) == pytest.approx(0.7 * math.sqrt(2))
    assert slab_sampling(Slab(20.0), g, (0, 0, 1)) == (15, pytest.approx(20 / 14))
    assert slab_sampling(Slab(20.0), g, (0, 1, 0)) == (30, pytest.approx(20 / 29))
    # while dragging: every second native step, 3 mm
    assert slab_sampling(Slab(20.0), g, (0, 0, 1), 2.0) == (8, pytest.approx(20 / 7))
    offsets = slab_offsets(Slab(20.0), g, (0, 0, 1))
    assert offsets[0] == pytest.approx(-10.0) and offsets[-1] == pytest.approx(10.0)
    assert np.diff(offsets) == pytest.approx(np.full(14, 20 / 14))


def test_format_lps_reads_like_a_radiologist():
    assert format_lps((-36.0, -9.0, 20.0)) == "R 36.0  A 9.0  S 20.0 mm"
    assert format_lps((81.0, 4.25, -1.0)) == "L 81.0  P 4.2  I 1.0 mm"


def test_dicom_window_matches_vtk_window_level():
    # DICOM linear window c=40 w=400 reaches black at 40-0.5-199.5 = -160 and white at 239
    w, level = vtk_window_level(40.0, 400.0)
    assert (level - w / 2, level + w / 2) == (-160.0, 239.0)


# ---------------------------------------------------------------------------------------------
# The crosshair model


def _model() -> MprModel:
    g = VolumeGeometry.from_image_plane((-100, -80, -50), AXIAL, (0.8, 0.8), 2.0, (51, 200, 250))
    return MprModel(g)


def test_crosshair_click_moves_the_other_planes_only():
    m = _model()
    events = []
    m.changed.connect(events.append)
    axial = m.grid("axial", 200, 160)
    m.click("axial", axial, 30, 40)
    p = axial.pixel_to_lps(30, 40)
    assert m.crosshair_lps == pytest.approx(tuple(p), abs=1e-9)
    assert events[-1].kind == "crosshair"
    assert set(events[-1].views) == {"coronal", "sagittal"}  # the axial plane did not move
    assert m.plane("coronal").origin_lps[1] == pytest.approx(p[1])
    assert m.plane("sagittal").origin_lps[0] == pytest.approx(p[0])
    assert m.grid("axial", 200, 160).isclose(axial)  # same image: no reslice needed
    assert not m.grid("coronal", 200, 160).isclose(axial)
    m.scroll("axial", 4.0)
    assert m.crosshair_lps[2] == pytest.approx(p[2] + 4.0)
    m.set_crosshair((1e4, 0, 0))  # outside: kept at the volume's edge voxel
    assert m.crosshair_lps[0] == pytest.approx(-100 + 249 * 0.8)


def test_rotation_makes_oblique_and_double_oblique_planes_that_stay_perpendicular():
    m = _model()
    m.rotate("axial", 30.0)
    assert not m.is_oblique("axial") and m.is_oblique("coronal") and m.is_oblique("sagittal")
    c30, s30 = math.cos(math.radians(30)), math.sin(math.radians(30))
    assert m.plane("coronal").x_axis == pytest.approx((c30, s30, 0), abs=1e-12)
    assert m.plane("coronal").edge_labels().right == "LP"
    m.rotate("coronal", 20.0)  # the axial plane tilts too now: double oblique
    assert m.is_oblique("axial")
    normals = np.array([m.plane(v).normal for v in VIEWS])
    assert normals @ normals.T == pytest.approx(np.eye(3), abs=1e-12)
    # the crosshair lies on every plane
    for v in VIEWS:
        assert m.plane(v).signed_distance(m.crosshair_lps) == pytest.approx(0.0, abs=1e-9)
    m.reset_orientation()
    assert not any(m.is_oblique(v) for v in VIEWS)


def test_window_and_zoom_are_linked_or_independent():
    m = _model()
    m.set_window("axial", 50.0, 350.0)
    assert {m.display(v).width for v in VIEWS} == {350.0}
    m.set_linked_display(False)
    m.set_window("coronal", -600.0, 1500.0)
    m.set_zoom("coronal", 2.0)
    assert (m.display("coronal").center, m.display("coronal").zoom) == (-600.0, 2.0)
    assert (m.display("axial").center, m.display("axial").zoom) == (50.0, 1.0)
    # zoom 2 halves the pixel spacing of the same viewport
    assert m.grid("coronal", 100, 100).spacing_mm == pytest.approx(
        m.grid("axial", 100, 100).spacing_mm / 2
    )
    with pytest.raises(ConfigError, match="window"):
        m.set_window("axial", 40.0, 0.5)
    with pytest.raises(ConfigError, match="interpolation"):
        m.set_interpolation("lanczos")  # type: ignore[arg-type]
    m.set_slab(10.0, "minip")
    events = []
    m.changed.connect(events.append)
    m.begin_interaction()
    assert m.slab_step_factor == 2.0
    m.end_interaction()
    assert m.slab_step_factor == 1.0 and events[-1].kind == "slab"  # redrawn at full sampling
    m.reset()
    assert m.slab is None and m.display("coronal").zoom == 1.0
    assert m.crosshair_lps == pytest.approx(m.volume_center)


def test_measurements_keep_their_plane_in_mm():
    m = _model()
    grid = m.grid("coronal", 120, 90)
    pm = measure_length("coronal", grid, (10.0, 20.0), (40.0, 60.0))
    assert pm.measurement.kind is MeasurementKind.LENGTH and pm.measurement.unit == "mm"
    assert pm.measurement.value == pytest.approx(50.0 * grid.spacing_mm)
    a, b = np.asarray(pm.points_lps)
    assert np.linalg.norm(b - a) == pytest.approx(pm.measurement.value)
    stored = pm.to_json()
    assert stored["plane"]["normal"] == pytest.approx(list(grid.plane.normal))
    assert stored["plane"]["pixel_spacing_mm"] == grid.spacing_mm
    values = np.full((90, 120), 7.0)
    values[40:50, 50:70] = 107.0
    roi = measure_ellipse("coronal", grid, values, (60.0, 45.0), (4.0, 3.0))
    assert roi.measurement.detail("mean") == 107.0
    assert roi.measurement.value == pytest.approx(math.pi * 4 * 3 * grid.spacing_mm**2)
    m.add_measurement(pm)
    assert m.measurements_on(grid) == [pm]
    m.scroll("coronal", 3.0)
    assert m.measurements_on(m.grid("coronal", 120, 90)) == []  # another plane now


# ---------------------------------------------------------------------------------------------
# vtkImageReslice against the numpy reference


def _oblique_volume() -> Volume:
    iop = DOUBLE_OBLIQUE
    geo = VolumeGeometry.from_image_plane((-10, -12, -8), iop, (0.9, 0.7), 2.0, (20, 24, 32))
    k, r, c = np.indices(geo.shape)
    rng = np.random.default_rng(2)
    arr = (np.rint(field(geo.index_to_lps(k, r, c))) + rng.integers(-40, 40, geo.shape)).astype(
        np.int16
    )
    arr.flags.writeable = False
    return Volume(arr, geo, (), ())


def test_the_volume_is_wrapped_without_a_copy():
    vol = _oblique_volume()
    image = VolumeImage(vol)
    assert image.shares_memory()
    assert image.image_data.GetDimensions() == (32, 24, 20)
    assert image.background == float(vol.array.min())


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize(
    "slab", [None, Slab(6.0, "mip"), Slab(6.0, "minip"), Slab(6.0, "avg")], ids=str
)
def test_vtk_reslice_equals_the_numpy_reference(view, slab):
    vol = _oblique_volume()
    image = VolumeImage(vol)
    centre = vol.geometry.index_to_lps(9.3, 11.6, 15.2)
    grid = ResliceGrid.centred(orthogonal_plane(view, centre), centre, 40, 36, 0.6)
    got = reslice(image, grid, "linear", slab).astype(np.float64)
    ref = reslice_reference(
        vol.array,
        vol.geometry,
        grid,
        interpolation="linear",
        slab=slab,
        background=image.background,
    )
    inside = ref != image.background
    assert inside.sum() > 400
    # int16 output rounds the interpolated value: half a unit apart, plus VTK's float32 weights
    tol = 0.01 if slab is not None and slab.mode == "avg" else 0.51
    assert np.abs(got - ref).max() <= tol


def test_nearest_neighbour_reslice_takes_whole_voxels():
    vol = _oblique_volume()
    image = VolumeImage(vol)
    centre = vol.geometry.index_to_lps(9.3, 11.6, 15.2)
    grid = ResliceGrid.centred(oblique_plane(centre, (0.2, 0.4, 0.9)), centre, 37, 33, 0.55)
    got = reslice(image, grid, "nearest")
    ref = reslice_reference(
        vol.array, vol.geometry, grid, interpolation="nearest", background=image.background
    )
    # a sample exactly halfway between two voxel centres may round either way (none here)
    assert np.array_equal(got, ref.astype(np.int16))
    assert set(np.unique(got)) <= set(np.unique(vol.array)) | {image.background}


def test_reslicer_reslices_only_when_the_plane_changes():
    vol = _oblique_volume()
    r = Reslicer(VolumeImage(vol))
    grid = ResliceGrid.centred(orthogonal_plane("axial", (0, 0, 0)), (0, 0, 0), 20, 20, 1.0)
    assert r.configure(grid) is True
    assert r.configure(grid) is False
    assert r.configure(grid, "cubic") is True
    with pytest.raises(ConfigError, match="interpolation"):
        r.configure(grid, "sinc")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Series from files: the marker where the crosshair is, in all three planes


CASES = {
    "reverse-order-axial": (AXIAL, 0.0, True),
    "coronal-acquisition": (CORONAL, 0.0, False),
    "double-oblique-acquisition": (DOUBLE_OBLIQUE, 0.0, False),
    "gantry-tilt-15deg": (AXIAL, 15.0, False),
}


def _marker_point(positions, orientation) -> np.ndarray:
    """The LPS centre of pixel (row 8, column 24) of slice 11: inside, right of centre."""
    return pixel_lps(positions[11], orientation)[8, 24]


def _centroid(image: np.ndarray, threshold: float) -> np.ndarray:
    rc = np.argwhere(image >= threshold)
    assert len(rc) > 0, "the marker is not in the image"
    return rc.mean(axis=0)[::-1]  # (col, row)


@pytest.mark.parametrize("case", list(CASES))
def test_marker_at_the_crosshair_in_all_three_planes(case, make_series, archive):
    orientation, tilt, reverse = CASES[case]
    positions = stack_positions(orientation, tilt)
    marker = _marker_point(positions, orientation)
    files = positions[::-1] if reverse else positions
    vol = assemble_series(archive, make_series(files, orientation, marker)).volume
    assert vol.resampled == (tilt != 0.0)
    image = VolumeImage(vol)
    model = MprModel(vol.geometry)
    model.set_crosshair(marker)
    assert model.crosshair_lps == pytest.approx(tuple(marker), abs=1e-9)
    voxel = max(vol.geometry.spacing_mm)
    g = vol.geometry
    for view in VIEWS:
        grid = model.grid(view, 96, 96)
        values = reslice(image, grid, "linear").astype(np.float64)
        expected = grid.lps_to_pixel(marker)[:2]
        found = _centroid(values, 4000.0)
        assert np.linalg.norm(found - expected) * grid.spacing_mm <= voxel, view
        # every pixel inside the volume, away from the marker, is the field at its LPS point
        pts = grid.sample_points()
        idx = g.lps_to_index(pts.reshape(-1, 3)).reshape(*pts.shape)
        inside = np.all((idx >= 0) & (idx <= np.asarray(g.shape) - 1), axis=-1)
        far = np.linalg.norm(pts - marker, axis=-1) > MARKER_RADIUS + 2 * voxel
        if tilt:
            # rows no tilted slice covers hold the data's minimum: compare where all slices reach
            y = pts[..., 1]
            inside &= (y >= positions[-1][1] + PIXEL_SPACING[0]) & (
                y <= positions[0][1] + (ROWS - 2) * PIXEL_SPACING[0]
            )
        keep = inside & far
        assert keep.sum() > 500, view
        err = np.abs(values[keep] - field(pts[keep]))
        # stored HU are rounded (±0.5), the reslice output is rounded (±0.5); resampling the
        # tilted stack rounds once more (±0.5)
        assert err.max() <= (1.5 if tilt else 1.0) + 1e-6, (view, err.max())


@pytest.mark.parametrize("case", list(CASES))
def test_patient_left_is_on_the_viewer_right(case, make_series, archive):
    orientation, tilt, reverse = CASES[case]
    positions = stack_positions(orientation, tilt)
    marker = _marker_point(positions, orientation)
    files = positions[::-1] if reverse else positions
    vol = assemble_series(archive, make_series(files, orientation, marker)).volume
    image = VolumeImage(vol)
    model = MprModel(vol.geometry)
    model.set_crosshair(marker - np.array([5.0, 0.0, 0.0]))  # 5 mm to the patient's right
    for view, labels in (
        ("axial", EdgeLabels("R", "L", "A", "P")),
        ("coronal", EdgeLabels("R", "L", "H", "F")),
    ):
        grid = model.grid(view, 96, 96)
        assert grid.plane.edge_labels() == labels
        values = reslice(image, grid, "linear")
        cross = grid.lps_to_pixel(model.crosshair_lps)
        found = _centroid(values, 4000.0)
        # the marker, on the patient's left of the crosshair, is drawn right of it: +5 mm
        assert (found[0] - cross[0]) * grid.spacing_mm == pytest.approx(
            5.0, abs=max(vol.geometry.spacing_mm)
        )
        assert found[1] == pytest.approx(
            cross[1], abs=max(vol.geometry.spacing_mm) / grid.spacing_mm
        )
