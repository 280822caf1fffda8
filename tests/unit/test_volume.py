"""workstation.viewer.volume: series → checked volume, geometry verified voxel by voxel.

Every series is made here with pydicom and imported into a real local store. Each pixel holds
a known linear function of its own LPS position (PS3.3 C.7.6.2.1.1) plus a bright marker at
a known point, so after assembly the value of *every* voxel can be checked against the
function at the voxel's LPS centre: a flip, a swapped axis or a slice out of order would move
values by tens of HU.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, RLELossless

from workstation.archive.local import LocalArchive
from workstation.core.errors import ConfigError, GeometryError
from workstation.viewer.volume import (
    AssemblyPolicy,
    InstanceGroup,
    assemble_series,
    assemble_volume,
    build_volume,
    split_display_sets,
)

ROWS, COLS = 24, 32
PIXEL_SPACING = (0.9, 0.7)  # (row, column) mm: different, so a swap shows
SLICE_SPACING = 2.0
N_SLICES = 20
INTERCEPT = -1024
MARKER = 5000  # HU; the field below stays within ±2000 HU
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)


def rotation(axis: str, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return {
        "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]


def rotated(orientation: Sequence[float], matrix: np.ndarray) -> tuple[float, ...]:
    u = matrix @ np.asarray(orientation[:3])
    v = matrix @ np.asarray(orientation[3:])
    return tuple(round(float(x), 6) for x in (*u, *v))


OBLIQUE_Z30 = rotated(AXIAL, rotation("z", 30))
DOUBLE_OBLIQUE = rotated(AXIAL, rotation("z", 30) @ rotation("x", 20))


def field(points: np.ndarray) -> np.ndarray:
    """HU at LPS points: 20 HU/mm along x, 30 along y, 50 along z."""
    return 20.0 * points[..., 0] + 30.0 * points[..., 1] + 50.0 * points[..., 2]


def stack_positions(
    orientation: Sequence[float], n: int = N_SLICES, spacing: float = SLICE_SPACING
) -> list[tuple[float, float, float]]:
    """Positions of a regular stack along the normal, centred on the LPS origin."""
    u, v = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    normal = np.cross(u, v)
    corner = -(COLS - 1) / 2 * PIXEL_SPACING[1] * u - (ROWS - 1) / 2 * PIXEL_SPACING[0] * v
    start = corner - (n - 1) / 2 * spacing * normal
    return [tuple(round(float(x), 6) for x in start + k * spacing * normal) for k in range(n)]


def plane_points(position, orientation, rows=ROWS, cols=COLS, spacing=PIXEL_SPACING):
    """LPS centre of every pixel of a plane (PS3.3 C.7.6.2.1.1), shape (rows, cols, 3)."""
    u, v = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    r, c = np.mgrid[0:rows, 0:cols]
    return (
        np.asarray(position)
        + c[..., None] * spacing[1] * u[None, None, :]
        + r[..., None] * spacing[0] * v[None, None, :]
    )


def plane_hu(position, orientation, marker, radius, offset=0, **kw) -> np.ndarray:
    pts = plane_points(position, orientation, **kw)
    hu = np.rint(field(pts)) + offset
    if marker is not None:
        hu[np.linalg.norm(pts - np.asarray(marker), axis=-1) <= radius] = MARKER
    return hu.astype(np.int64)


def marker_at(positions, orientation, k=13, r=7, c=21) -> tuple[float, float, float]:
    """The LPS centre of pixel (r, c) of slice k: where the marker goes."""
    p = plane_points(positions[k], orientation)[r, c]
    return (float(p[0]), float(p[1]), float(p[2]))


@pytest.fixture
def make_series(
    tmp_path: Path, archive: LocalArchive, image_dataset: Callable[..., Dataset]
) -> Callable[..., list]:
    """Write a series as Part 10 files, import it, return its instances from the store."""
    counter = iter(range(1_000_000))

    def _make(
        positions: Sequence[Sequence[float]],
        orientations: Sequence[Sequence[float]] | Sequence[float] = AXIAL,
        *,
        marker: Sequence[float] | None = None,
        radius: float = 0.3,
        sizes: Sequence[tuple[int, int]] | None = None,
        acquisitions: Sequence[int | None] | None = None,
        offsets: Sequence[int] | None = None,
        instance_numbers: Sequence[int] | None = None,
        transfer_syntax: str = ExplicitVRLittleEndian,
        rescale_slope: float | None = None,
    ) -> list:
        n = len(positions)
        if isinstance(orientations[0], float):
            orientations = [orientations] * n  # type: ignore[list-item]
        series_uid = pydicom.uid.generate_uid()
        folder = tmp_path / f"series{next(counter)}"
        folder.mkdir()
        for k in range(n):
            rows, cols = sizes[k] if sizes else (ROWS, COLS)
            hu = plane_hu(
                positions[k],
                orientations[k],
                marker,
                radius,
                offsets[k] if offsets else 0,
                rows=rows,
                cols=cols,
            )
            slope = rescale_slope or 1.0
            stored = np.rint((hu - INTERCEPT) / slope)
            ds = image_dataset(
                pixels=stored,
                study_uid="1.2.826.0.1.3680043.10.999.7",
                series_uid=series_uid,
                sop_uid=pydicom.uid.generate_uid(),
                instance_number=instance_numbers[k] if instance_numbers else k + 1,
                position=positions[k],
                orientation=orientations[k],
                spacing=PIXEL_SPACING,
                pixel_representation=1,
                rescale_intercept=INTERCEPT,
                rescale_slope=rescale_slope,
            )
            if acquisitions and acquisitions[k] is not None:
                ds.AcquisitionNumber = acquisitions[k]
            if transfer_syntax != ExplicitVRLittleEndian:
                ds.compress(transfer_syntax)
            ds.save_as(folder / f"{k:03d}.dcm", enforce_file_format=True)
        report = archive.import_paths([folder])
        assert report.imported == n, report.rejected
        return archive.instances(series_uid)

    return _make


def check_against_field(volume, marker, radius, tol=1.0, mask=None, core=None) -> int:
    """Every voxel equals the field at its LPS centre (or MARKER inside the marker sphere).

    ``tol`` allows for a value that rounds the other way (x.5 HU) because orientation cosines
    are written with six decimals. A voxel step along any axis changes the field by at least
    10 HU (checked here), so a misplaced slice, row or column cannot pass. Returns how many
    voxels were compared. Voxels within ``core`` mm of the marker (default: its radius) must
    hold the marker value; interpolation may blend the rim.
    """
    g = volume.geometry
    for axis in range(3):
        step = g.index_to_lps(*np.eye(3)[axis]) - g.index_to_lps(0, 0, 0)
        assert abs(field(step) - field(np.zeros(3))) >= 10.0
    k, r, c = np.indices(volume.array.shape)
    pts = g.index_to_lps(k, r, c)
    expected = np.rint(field(pts))
    if marker is not None:
        dist = np.linalg.norm(pts - np.asarray(marker), axis=-1)
        inside = dist <= (radius if core is None else core)
        assert inside.any() and (volume.array[inside] == MARKER).all()
        keep = dist > radius + 1.5
    else:
        keep = np.ones(volume.array.shape, bool)
    if mask is not None:
        keep &= mask
    diff = np.abs(volume.array[keep].astype(np.float64) - expected[keep])
    assert diff.max() <= tol, f"max difference {diff.max()} HU"
    if not volume.resampled:
        assert (diff == 0).mean() >= 0.99  # stacked as stored: nearly all exact
    return int(keep.sum())


# ---------------------------------------------------------------------------------------------
# Regular stacks in any order and orientation


def test_slices_stored_in_reverse_order(make_series, archive):
    positions = stack_positions(AXIAL)
    marker = marker_at(positions, AXIAL)
    # files and Instance Numbers run from the top slice down: sorting by number would be wrong
    instances = make_series(positions[::-1], AXIAL, marker=marker)
    result = assemble_volume(instances, archive.root)
    vol = result.volume
    assert result.refused == ()
    assert vol.array.shape == (N_SLICES, ROWS, COLS)
    assert vol.array.dtype == np.int16
    assert vol.geometry.spacing_mm == pytest.approx((2.0, 0.9, 0.7), abs=1e-9)
    assert vol.geometry.origin_lps == pytest.approx(positions[0], abs=1e-9)
    assert vol.slices[0].instance.instance_number == N_SLICES
    assert [s.instance.instance_number for s in vol.slices] == list(range(N_SLICES, 0, -1))
    assert vol.warnings == () and not vol.resampled
    idx = np.rint(vol.geometry.lps_to_index(marker)).astype(int)
    assert tuple(idx) == (13, 7, 21)
    assert vol.array[tuple(idx)] == MARKER
    assert (vol.array == MARKER).sum() == 1
    assert vol.value_at(marker) == MARKER
    check_against_field(vol, marker, 0.3)


@pytest.mark.parametrize(
    ("orientation", "slice_direction"),
    [
        (CORONAL, (0.0, 1.0, 0.0)),  # (1,0,0) × (0,0,-1): slices go posterior
        (OBLIQUE_Z30, (0.0, 0.0, 1.0)),
        (DOUBLE_OBLIQUE, tuple(rotation("z", 30) @ rotation("x", 20) @ (0.0, 0.0, 1.0))),
    ],
    ids=["coronal", "oblique-z30", "double-oblique"],
)
def test_orientations_place_the_marker_on_its_voxel(
    make_series, archive, orientation, slice_direction
):
    positions = stack_positions(orientation)
    marker = marker_at(positions, orientation)
    shuffled = list(range(N_SLICES))
    random.Random(3).shuffle(shuffled)
    instances = make_series([positions[i] for i in shuffled], orientation, marker=marker)
    vol = assemble_volume(instances, archive.root).volume
    g = vol.geometry
    assert g.slice_direction == pytest.approx(slice_direction, abs=1e-5)
    assert g.column_direction == pytest.approx(orientation[:3], abs=1e-5)
    assert g.row_direction == pytest.approx(orientation[3:], abs=1e-5)
    assert g.spacing_mm == pytest.approx((2.0, 0.9, 0.7), abs=1e-5)
    idx = np.rint(g.lps_to_index(marker)).astype(int)
    assert tuple(idx) == (13, 7, 21)
    assert vol.array[tuple(idx)] == MARKER
    assert (vol.array == MARKER).sum() == 1
    check_against_field(vol, marker, 0.3)


# ---------------------------------------------------------------------------------------------
# Gantry tilt


def tilted_positions(degrees: float = 15.0) -> list[tuple[float, float, float]]:
    """Axial slices 2 mm apart in z, each shifted tan(tilt) × 2 mm in y (PS3.3 C.7.6.2.1.1)."""
    base = stack_positions(AXIAL)
    step = math.tan(math.radians(degrees)) * SLICE_SPACING
    return [(x, round(y + k * step, 6), z) for k, (x, y, z) in enumerate(base)]


def test_gantry_tilt_is_resampled_onto_an_orthogonal_grid(make_series, archive):
    positions = tilted_positions(15.0)
    marker = marker_at(positions, AXIAL)
    vol = assemble_volume(make_series(positions, AXIAL, marker=marker, radius=3.0), archive.root)
    vol = vol.volume
    assert vol.resampled
    assert any("gantry tilt" in w and "15.0°" in w for w in vol.warnings)
    g = vol.geometry
    assert g.direction_matrix == pytest.approx(np.eye(3), abs=1e-12)  # orthogonal, axial
    # 19 × tan 15° × 2 mm = 10.18 mm of shift = 11.3 rows of 0.9 mm: the grid grows 12 rows
    assert vol.array.shape == (N_SLICES, ROWS + 12, COLS)
    assert g.origin_lps == pytest.approx(positions[0], abs=1e-9)
    assert vol.value_at(marker) == MARKER
    hot = np.argwhere(vol.array == MARKER)
    centre = g.index_to_lps(*hot.mean(axis=0))
    voxel = np.asarray(g.spacing_mm)
    assert np.abs(g.lps_to_index(centre) - g.lps_to_index(marker)).max() <= 1.0
    assert np.linalg.norm(centre - marker) <= voxel.min()
    # Every voxel inside all shifted slices holds the field at its own LPS centre (±1 HU).
    k, r, c = np.indices(vol.array.shape)
    y = g.index_to_lps(k, r, c)[..., 1]
    y_low = positions[-1][1] + PIXEL_SPACING[0]  # the last slice starts highest
    y_high = positions[0][1] + (ROWS - 2) * PIXEL_SPACING[0]
    inner = (y >= y_low) & (y <= y_high)
    compared = check_against_field(vol, marker, 3.0, mask=inner, core=1.8)
    assert compared > 2000
    # Rows no slice reaches hold the data's minimum, not stretched image data.
    assert (vol.array[0, -12:, :] == vol.array.min()).all()


def test_gantry_tilt_is_refused_when_asked(make_series, archive):
    instances = make_series(tilted_positions(15.0), AXIAL)
    result = assemble_volume(instances, archive.root, AssemblyPolicy(tilt="refuse"))
    assert result.volumes == ()
    with pytest.raises(GeometryError, match=r"gantry tilt.*15\.0°"):
        _ = result.volume


# ---------------------------------------------------------------------------------------------
# Missing slices and uneven spacing


def test_a_missing_slice_is_refused_by_default(make_series, archive):
    positions = stack_positions(AXIAL)
    instances = make_series(positions[:10] + positions[11:], AXIAL)
    result = assemble_volume(instances, archive.root)
    assert result.volumes == ()
    (refused,) = result.refused
    assert "1 slice(s) missing" in refused.reason
    assert len(refused.group) == N_SLICES - 1
    with pytest.raises(GeometryError, match="missing"):
        _ = result.volume


def test_a_missing_slice_can_be_interpolated_with_a_warning(make_series, archive):
    positions = stack_positions(AXIAL)
    marker = marker_at(positions, AXIAL, k=4)
    instances = make_series(positions[:10] + positions[11:], AXIAL, marker=marker)
    policy = AssemblyPolicy(missing_slices="resample")
    vol = assemble_volume(instances, archive.root, policy).volume
    assert vol.resampled
    assert vol.array.shape == (N_SLICES, ROWS, COLS)
    assert len(vol.slices) == N_SLICES - 1
    assert vol.geometry.spacing_mm[0] == pytest.approx(2.0, abs=1e-9)
    assert any("missing" in w for w in vol.warnings)
    assert any("interpolation" in w for w in vol.warnings)
    # acquired slices are copied as they are; the gap is the mean of its neighbours (±0.5 HU)
    check_against_field(vol, marker, 0.3)
    idx = vol.geometry.nearest_voxel(marker)
    assert idx == (4, 7, 21) and vol.array[idx] == MARKER


def test_uneven_spacing_is_refused_or_resampled(make_series, archive):
    # 2 mm steps, but the upper half sits 1 mm higher (one 3 mm step)
    positions = stack_positions(AXIAL)
    positions = positions[:10] + [(x, y, z + 1.0) for x, y, z in positions[10:]]
    marker = marker_at(positions, AXIAL, k=3)
    instances = make_series(positions, AXIAL, marker=marker)
    refused = assemble_volume(instances, archive.root, AssemblyPolicy(uneven_spacing="refuse"))
    with pytest.raises(GeometryError, match="uneven slice spacing"):
        _ = refused.volume
    vol = assemble_volume(instances, archive.root).volume  # default: resample
    assert vol.resampled
    assert any("spacing" in w for w in vol.warnings)
    # 39 mm from first to last: 2 mm grid planes at 0..38 mm, never a stretched 39/19 mm step
    assert vol.geometry.spacing_mm[0] == pytest.approx(2.0, abs=1e-9)
    assert vol.array.shape == (20, ROWS, COLS)
    check_against_field(vol, marker, 0.3)


# ---------------------------------------------------------------------------------------------
# Display sets


def test_mixed_orientations_split_into_two_display_sets(make_series, archive):
    axial = stack_positions(AXIAL, n=10)
    coronal = stack_positions(CORONAL, n=8)
    instances = make_series(axial + coronal, [AXIAL] * 10 + [CORONAL] * 8)
    groups = split_display_sets(instances)
    assert [len(g) for g in groups] == [10, 8]
    assert all(isinstance(g, InstanceGroup) for g in groups)
    assert "orientation" in groups[0].reason and "axial" in groups[0].reason
    assert "coronal" in groups[1].reason
    assert {i.image_orientation_patient for i in groups[1]} == {CORONAL}
    result = assemble_volume(instances, archive.root)
    assert [v.array.shape for v in result.volumes] == [(10, ROWS, COLS), (8, ROWS, COLS)]
    assert result.volume.geometry.slice_direction == pytest.approx((0, 0, 1), abs=1e-12)
    check_against_field(result.volumes[1], None, 0)
    with pytest.raises(GeometryError, match="mixes image orientations"):
        build_volume(instances, archive.root)


def test_mixed_image_sizes_split(make_series, archive):
    positions = stack_positions(AXIAL, n=12)
    sizes = [(ROWS, COLS)] * 7 + [(16, 16)] * 5
    instances = make_series(positions, AXIAL, sizes=sizes)
    groups = split_display_sets(instances)
    assert [len(g) for g in groups] == [7, 5]
    assert groups[0].reason == f"split by image size: {ROWS}×{COLS} images"
    assert groups[1].reason == "split by image size: 16×16 images"


def test_repeated_positions_split_by_acquisition(make_series, archive):
    positions = stack_positions(AXIAL, n=10)
    instances = make_series(
        positions + positions,
        AXIAL,
        acquisitions=[1] * 10 + [2] * 10,
        offsets=[0] * 10 + [100] * 10,  # the second acquisition is 100 HU brighter
    )
    groups = split_display_sets(instances)
    assert [g.reason for g in groups] == [
        "images repeat the same positions: acquisition 1",
        "images repeat the same positions: acquisition 2",
    ]
    first, second = assemble_volume(instances, archive.root).volumes
    assert first.array.shape == second.array.shape == (10, ROWS, COLS)
    assert (second.array.astype(int) - first.array == 100).all()
    check_against_field(first, None, 0)


def test_repeated_positions_without_acquisition_split_by_repeat(make_series, archive):
    positions = stack_positions(AXIAL, n=6)
    instances = make_series(positions + positions, AXIAL)
    groups = split_display_sets(instances)
    assert [len(g) for g in groups] == [6, 6]
    assert groups[1].reason == "images repeat the same positions: repeat 2 of 2"
    assert sorted(i.instance_number for i in groups[0]) == [1, 2, 3, 4, 5, 6]


def test_one_plain_series_is_one_set_without_reason(make_series):
    instances = make_series(stack_positions(AXIAL, n=5), AXIAL)
    (group,) = split_display_sets(instances)
    assert group.reason == "" and len(group) == 5


# ---------------------------------------------------------------------------------------------
# Pixel paths


def test_rle_compressed_series_gives_the_same_volume(make_series, archive):
    positions = stack_positions(AXIAL, n=8)
    native = assemble_volume(make_series(positions, AXIAL), archive.root).volume
    rle = make_series(positions, AXIAL, transfer_syntax=RLELossless)
    assert rle[0].pixel_data_offset is None  # decoded by pydicom, not read at an offset
    vol = assemble_volume(rle, archive.root).volume
    assert vol.array.dtype == np.int16
    assert np.array_equal(vol.array, native.array)
    assert vol.geometry.isclose(native.geometry, 1e-9)


def test_fractional_rescale_gives_float32(make_series, archive):
    positions = stack_positions(AXIAL, n=4)
    vol = assemble_volume(make_series(positions, AXIAL, rescale_slope=0.5), archive.root).volume
    assert vol.array.dtype == np.float32
    # stored = rint((HU + 1024) / 0.5): HU comes back exactly (HU values are integers)
    check_against_field(vol, None, 0)


def test_volume_array_is_read_only(make_series, archive):
    vol = assemble_volume(make_series(stack_positions(AXIAL, n=3), AXIAL), archive.root).volume
    with pytest.raises(ValueError, match="read-only"):
        vol.array[0, 0, 0] = 1


def test_bad_policy_is_a_config_error():
    with pytest.raises(ConfigError, match="'tilt' must be 'resample' or 'refuse'"):
        AssemblyPolicy(tilt="stretch")  # type: ignore[arg-type]


def test_an_empty_series_has_no_volume(archive):
    with pytest.raises(GeometryError, match="no images"):
        _ = assemble_volume([], archive.root).volume


# ---------------------------------------------------------------------------------------------
# Enhanced multi-frame


def enhanced_ct(positions, orientation, marker, frame_order) -> Dataset:
    """An Enhanced CT Image (PS3.3 A.38) with Shared and Per-frame Functional Groups."""
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ENHANCED_CT
    meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.SOPClassUID = ENHANCED_CT
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.999.8"
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.10.999.8.1"
    ds.Modality = "CT"
    ds.PatientName = "Test^Enhanced"
    ds.PatientID = "TEST-E"
    ds.StudyDate = "20240101"
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = ROWS, COLS
    ds.NumberOfFrames = len(frame_order)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1

    measures = Dataset()
    measures.PixelSpacing = list(PIXEL_SPACING)
    measures.SliceThickness = SLICE_SPACING
    plane = Dataset()
    plane.ImageOrientationPatient = list(orientation)
    rescale = Dataset()
    rescale.RescaleIntercept = INTERCEPT
    rescale.RescaleSlope = 1
    rescale.RescaleType = "HU"
    shared = Dataset()
    shared.PixelMeasuresSequence = [measures]
    shared.PlaneOrientationSequence = [plane]
    shared.PixelValueTransformationSequence = [rescale]
    ds.SharedFunctionalGroupsSequence = [shared]

    frames, per_frame = [], []
    for k in frame_order:
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = list(positions[k])
        item.PlanePositionSequence = [pos]
        content = Dataset()
        content.InStackPositionNumber = k + 1
        item.FrameContentSequence = [content]
        per_frame.append(item)
        frames.append(plane_hu(positions[k], orientation, marker, 0.3) - INTERCEPT)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    words = (np.asarray(frames, dtype=np.int64) & 0xFFFF).astype("<u2")
    ds.PixelData = words.tobytes()
    return ds


@pytest.mark.parametrize("orientation", [AXIAL, DOUBLE_OBLIQUE], ids=["axial", "oblique"])
def test_enhanced_multiframe_matches_the_classic_series(make_series, archive, orientation):
    positions = stack_positions(orientation)
    marker = marker_at(positions, orientation)
    classic = assemble_volume(
        make_series(positions, orientation, marker=marker), archive.root
    ).volume
    order = list(range(N_SLICES))
    random.Random(11).shuffle(order)  # frames stored out of spatial order
    ds = enhanced_ct(positions, orientation, marker, order)
    assert archive.add_dataset(ds)
    archive.commit()
    result = assemble_series(archive, ds.SeriesInstanceUID)
    vol = result.volume
    assert len(vol.instances) == 1 and len(vol.slices) == N_SLICES
    assert [s.frame for s in vol.slices] == [order.index(k) for k in range(N_SLICES)]
    assert vol.array.dtype == np.int16
    assert np.array_equal(vol.array, classic.array)
    assert vol.geometry.isclose(classic.geometry, 1e-9)
    assert vol.array[vol.geometry.nearest_voxel(marker)] == MARKER


def test_enhanced_multiframe_without_positions_is_refused(archive):
    positions = stack_positions(AXIAL, n=4)
    ds = enhanced_ct(positions, AXIAL, None, [0, 1, 2, 3])
    del ds.PerFrameFunctionalGroupsSequence[2].PlanePositionSequence
    archive.add_dataset(ds)
    archive.commit()
    with pytest.raises(GeometryError, match=r"frame 3 .* lacks Plane Position"):
        _ = assemble_series(archive, ds.SeriesInstanceUID).volume


# ---------------------------------------------------------------------------------------------
# The demo CT head prior: 30 axial slices of 512², 5 mm apart


@pytest.fixture(scope="module")
def head_prior_store(tmp_path_factory: pytest.TempPathFactory):
    from workstation.demo import CT_HEAD_PRIOR, iter_series_datasets

    store = LocalArchive(tmp_path_factory.mktemp("head") / "store")
    series = CT_HEAD_PRIOR.series[0]
    for ds in iter_series_datasets(series):
        store.add_dataset(ds)
    store.commit()
    yield store, series
    store.close()


def test_demo_head_left_marker_lands_on_bright_voxels(head_prior_store):
    from workstation.demo.studies import HEAD_LEFT_MARKER_CENTER_LPS

    store, series = head_prior_store
    vol = assemble_series(store, series.series_instance_uid).volume
    g = vol.geometry
    assert vol.array.shape == (30, 512, 512)
    assert vol.warnings == ()
    assert g.spacing_mm == pytest.approx((5.0, 0.45, 0.45), abs=1e-9)
    assert g.origin_lps == pytest.approx(series.image_position_patient[0], abs=1e-9)
    k, r, c = g.lps_to_index(HEAD_LEFT_MARKER_CENTER_LPS)
    # x = 81 mm from x0 = -115.2 mm at 0.45 mm: column 436; z = 0 is halfway, slice 14.5
    assert (k, r, c) == pytest.approx((14.5, 256.0, 436.0), abs=1e-9)
    idx = g.nearest_voxel(HEAD_LEFT_MARKER_CENTER_LPS)
    assert vol.array[idx] >= 1000  # the 2000 HU marker
    # the patient's left (+x) is the way the column index grows
    assert g.column_direction == pytest.approx((1.0, 0.0, 0.0), abs=1e-12)
    right = g.nearest_voxel((-81.0, 0.0, 0.0))  # the mirror point, outside the head
    assert right is not None and right[2] < idx[2]
    assert vol.array[right] < -900  # air


# ---------------------------------------------------------------------------------------------
# Objects that are no volume: pydicom's sample files


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("SC_rgb_rle_2frame.dcm", "colour images"),
        ("examples_ybr_color.dcm", "colour images"),
        ("CT_small.dcm", "at least two slices; this set has 1"),
        ("rtdose.dcm", "without one Per-frame Functional Groups item per frame"),
    ],
)
def test_sample_files_that_are_no_volume_say_why(archive, sample, name, match):
    report = archive.import_paths([sample(name)])
    assert report.imported == 1
    (study,) = archive.studies()
    (series,) = archive.series(study.study_instance_uid)
    result = assemble_series(archive, series.series_instance_uid)
    assert result.volumes == ()
    with pytest.raises(GeometryError, match=match):
        _ = result.volume


# ---------------------------------------------------------------------------------------------
# The demo CT chest-abdomen: 300 slices of 512², 12-bit unsigned storage


@pytest.mark.slow
def test_demo_chest_volume_equals_the_raw_read_with_exact_geometry(tmp_path):
    from workstation.demo import CT_CHEST_ABDOMEN, iter_series_datasets
    from workstation.demo.studies import (
        CHEST_AIR_POCKET_CENTER_LPS,
        CHEST_LEFT_MARKER_CENTER_LPS,
        CHEST_LIVER_LESION_CENTER_LPS,
    )
    from workstation.viewer.stack import order_instances, read_volume

    series = CT_CHEST_ABDOMEN.series[0]
    store = LocalArchive(tmp_path / "store")
    try:
        for ds in iter_series_datasets(series):
            store.add_dataset(ds)
        store.commit()
        vol = assemble_series(store, series.series_instance_uid).volume
        raw = read_volume(store.root, order_instances(store.instances(series.series_instance_uid)))
    finally:
        store.close()
    assert np.array_equal(vol.array, raw)  # the checks add nothing to the values
    assert vol.array.dtype == np.int16 and vol.warnings == ()
    g = vol.geometry
    assert g.shape == (300, 512, 512)
    assert g.spacing_mm == pytest.approx((1.5, 0.7, 0.7), abs=1e-9)
    assert g.world_bounds()[0] == pytest.approx((-179.2, -179.2, -300.0), abs=1e-9)
    assert g.world_bounds()[1] == pytest.approx((178.5, 178.5, 148.5), abs=1e-9)
    assert g.lps_to_index(CHEST_LEFT_MARKER_CENTER_LPS)[0] == pytest.approx(200.0, abs=1e-9)
    assert vol.value_at(CHEST_LEFT_MARKER_CENTER_LPS) >= 1000  # 2000 HU skin marker
    assert vol.value_at(CHEST_AIR_POCKET_CENTER_LPS) < -900  # bowel gas
    assert 100 <= vol.value_at(CHEST_LIVER_LESION_CENTER_LPS) <= 140  # 120 HU, noise sd 5
