"""The demo generator: exact geometry, exact values, valid files, deterministic UIDs."""

from __future__ import annotations

import io
import math
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pydicom
import pytest
from pydicom import config
from pydicom.dataset import Dataset

from workstation.demo import (
    CT_CHEST_ABDOMEN,
    CT_HEAD,
    CT_HEAD_PRIOR,
    DEMO_STUDIES,
    DX_CHEST,
    MR_BRAIN,
    Box,
    Cylinder,
    DemoSeries,
    Ellipsoid,
    EllipticCylinder,
    Sphere,
    demo_instance_count,
    generate_slice,
    iter_demo_datasets,
    iter_sample_datasets,
    phantom_slice,
    phantom_value_at,
)
from workstation.demo.phantom import rasterize_plane
from workstation.demo.studies import (
    CHEST_AIR_POCKET_CENTER_LPS,
    CHEST_LEFT_MARKER_CENTER_LPS,
    CHEST_LIVER_LESION_CENTER_LPS,
    CHEST_LUNG_NODULE_CENTER_LPS,
    HEAD_HAEMATOMA_CENTER_LPS,
    HEAD_LEFT_MARKER_CENTER_LPS,
    LATERAL_COIN_CENTER_LPS,
    LATERAL_COIN_RADIUS_MM,
    PA_COIN_CENTER_LPS,
    PA_COIN_RADIUS_MM,
)

ALL_SERIES = [series for study in DEMO_STUDIES for series in study.series]


@pytest.fixture(autouse=True)
def strict_writing() -> Iterator[None]:
    """Invalid values (a DS over 16 characters, an LO over 64) raise instead of warning."""
    previous = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.RAISE
    yield
    config.settings.writing_validation_mode = previous


def round_trip(ds: Dataset) -> pydicom.FileDataset:
    """Write ``ds`` as a Part 10 file and read it back."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer)


def modality_values(ds: Dataset) -> np.ndarray:
    """Pixels after the Modality LUT (PS3.3 C.11.1): stored * slope + intercept."""
    slope = float(ds.get("RescaleSlope", 1.0))
    intercept = float(ds.get("RescaleIntercept", 0.0))
    return ds.pixel_array.astype(np.float64) * slope + intercept


def nearest_pixel(series: DemoSeries, point: tuple[float, float, float]) -> tuple[int, int, int]:
    col, row, k = series.lps_to_pixel(point)
    return round(col), round(row), round(k)


# ---------------------------------------------------------------------------------------------
# One pass over the whole demo, shared by the tests that need every instance.


@pytest.fixture(scope="module")
def demo_pass() -> dict[str, object]:
    calls: list[tuple[int, int]] = []
    sop_uids: list[str] = []
    series_of_instance: list[str] = []
    start = time.perf_counter()
    for ds in iter_demo_datasets(progress=lambda done, total: calls.append((done, total))):
        sop_uids.append(ds.SOPInstanceUID)
        series_of_instance.append(ds.SeriesInstanceUID)
    elapsed = time.perf_counter() - start
    print(f"\niter_demo_datasets: {len(sop_uids)} instances in {elapsed:.2f} s")
    return {
        "elapsed": elapsed,
        "calls": calls,
        "sop_uids": sop_uids,
        "series": series_of_instance,
    }


def test_whole_demo_is_generated_fast(demo_pass: dict[str, object]) -> None:
    assert len(demo_pass["sop_uids"]) == demo_instance_count() == 522
    assert demo_pass["elapsed"] < 30.0


def test_progress_counts_instances(demo_pass: dict[str, object]) -> None:
    calls = demo_pass["calls"]
    total = demo_instance_count()
    assert calls[0] == (0, total)
    assert calls[-1] == (total, total)
    assert [done for done, _ in calls] == list(range(total + 1))


def test_sop_instance_uids_are_unique_and_match_the_spec(demo_pass: dict[str, object]) -> None:
    uids = demo_pass["sop_uids"]
    assert len(set(uids)) == len(uids)
    expected = [s.sop_instance_uid(k) for s in ALL_SERIES for k in range(s.number_of_slices)]
    assert uids == expected
    study_uids = [study.study_instance_uid for study in DEMO_STUDIES]
    series_uids = [s.series_instance_uid for s in ALL_SERIES]
    assert len(set(study_uids)) == len(study_uids)
    assert len(set(series_uids)) == len(series_uids)
    assert not set(uids) & set(study_uids + series_uids)


def test_uids_are_the_same_in_another_process() -> None:
    code = (
        "from workstation.demo import CT_HEAD, DX_CHEST\n"
        "print(CT_HEAD.study_instance_uid, CT_HEAD.series[0].series_instance_uid,"
        " CT_HEAD.series[0].sop_instance_uid(7), DX_CHEST.series[1].sop_instance_uid(0))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    series = CT_HEAD.series[0]
    assert out == [
        CT_HEAD.study_instance_uid,
        series.series_instance_uid,
        series.sop_instance_uid(7),
        DX_CHEST.series[1].sop_instance_uid(0),
    ]


def test_generating_a_slice_twice_gives_identical_bytes() -> None:
    series = MR_BRAIN.series[0]
    a, b = generate_slice(series, 12), generate_slice(series, 12)
    assert a.PixelData == b.PixelData
    assert a.SOPInstanceUID == b.SOPInstanceUID


def test_demo_imports_no_gui_or_archive_code() -> None:
    code = (
        "import sys, workstation.demo\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'vtk', 'vtkmodules')"
        " or m.startswith(('workstation.archive', 'workstation.viewer', 'workstation.ui'))]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# Files


@pytest.mark.parametrize("series", ALL_SERIES, ids=lambda s: s.key)
def test_instance_is_a_valid_part10_file(series: DemoSeries) -> None:
    ds = round_trip(generate_slice(series, series.number_of_slices - 1))
    meta = ds.file_meta
    assert meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert meta.MediaStorageSOPClassUID == ds.SOPClassUID == series.sop_class_uid
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert meta.ImplementationClassUID
    assert ds.InstanceNumber == series.number_of_slices
    assert ds.Rows == series.rows and ds.Columns == series.columns
    assert ds.HighBit == ds.BitsStored - 1 == series.bits_stored - 1
    assert ds.PixelRepresentation == series.pixel_representation
    assert ds.Manufacturer == "Workstation Demo"
    assert ds.InstitutionName == "Demo General Hospital"
    assert ds.pixel_array.shape == (series.rows, series.columns)
    low, high = series.stored_value_range
    assert low <= int(ds.pixel_array.min()) and int(ds.pixel_array.max()) <= high
    if not series.is_projection:
        assert ds.FrameOfReferenceUID == series.frame_of_reference_uid
        assert ds.PositionReferenceIndicator == ""
        position = series.image_position_patient[-1]
        assert [float(v) for v in ds.ImagePositionPatient] == pytest.approx(position, abs=1e-6)
        assert float(ds.SliceLocation) == pytest.approx(position[2], abs=1e-6)
        assert [float(v) for v in ds.PixelSpacing] == list(series.pixel_spacing_mm)


def test_ct_head_encoding_and_windows() -> None:
    ds = round_trip(generate_slice(CT_HEAD.series[0], 0))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (16, 16, 15, 1)
    assert float(ds.RescaleIntercept) == -1024.0 and float(ds.RescaleSlope) == 1.0
    assert ds.RescaleType == "HU"
    assert [float(v) for v in ds.WindowCenter] == [40.0, 600.0]
    assert [float(v) for v in ds.WindowWidth] == [80.0, 2800.0]
    assert list(ds.WindowCenterWidthExplanation) == ["BRAIN", "BONE"]
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert ds.PatientID == "DEMO-0001" and ds.IssuerOfPatientID == "DEMO-HOSP"
    assert ds.AccessionNumber == "ACC-CTH-1" and ds.StudyDate == "20261120"
    assert ds.BodyPartExamined == "HEAD" and ds.KVP == 120


def test_haematoma_centre_reads_back_70_hu() -> None:
    series = CT_HEAD.series[0]
    col, row, k = nearest_pixel(series, HEAD_HAEMATOMA_CENTER_LPS)
    assert (col, row, k) == (176, 236, 95)  # pixel centres fall exactly on the shape centre
    hu = modality_values(round_trip(generate_slice(series, k)))
    assert hu[row, col] == pytest.approx(70.0, abs=4 * series.noise_sd)
    patch = hu[row - 5 : row + 6, col - 5 : col + 6]  # 2.25 mm radius, well inside 8 mm
    assert patch.mean() == pytest.approx(70.0, abs=1.0)
    assert phantom_value_at(series, HEAD_HAEMATOMA_CENTER_LPS) == 70.0
    assert HEAD_HAEMATOMA_CENTER_LPS[0] < 0  # patient's right


def test_prior_has_no_haematoma_and_offset_slices() -> None:
    current, prior = CT_HEAD.series[0], CT_HEAD_PRIOR.series[0]
    assert phantom_value_at(prior, HEAD_HAEMATOMA_CENTER_LPS) == 35.0  # plain brain
    assert CT_HEAD_PRIOR.patient == CT_HEAD.patient
    assert CT_HEAD_PRIOR.study_date < CT_HEAD.study_date
    current_z = np.array([p[2] for p in current.image_position_patient])
    prior_z = np.array([p[2] for p in prior.image_position_patient])
    assert len(prior_z) == 30 and np.allclose(np.diff(prior_z), 5.0)
    assert prior_z.min() >= current_z.min() and prior_z.max() <= current_z.max()
    gaps = np.abs(prior_z[:, np.newaxis] - current_z[np.newaxis, :]).min(axis=1)
    assert np.allclose(gaps, 0.5)  # never on a current slice position
    assert prior.frame_of_reference_uid != current.frame_of_reference_uid


@pytest.mark.parametrize(
    ("series", "marker"),
    [
        (CT_HEAD.series[0], HEAD_LEFT_MARKER_CENTER_LPS),
        (CT_CHEST_ABDOMEN.series[0], CHEST_LEFT_MARKER_CENTER_LPS),
    ],
    ids=["head", "chest"],
)
def test_left_marker_is_on_the_patients_left(series: DemoSeries, marker: tuple) -> None:
    assert marker[0] > 0  # LPS: +x is the patient's left
    col, row, k = nearest_pixel(series, marker)
    assert col > series.columns // 2
    hu = modality_values(round_trip(generate_slice(series, k)))
    assert hu[row, col] == pytest.approx(2000.0, abs=4 * series.noise_sd)
    # the brightest spot of the slice is on the right half of the image (the patient's left)
    bright_cols = np.nonzero(hu > 1500)[1]
    assert bright_cols.size > 0 and bright_cols.min() > series.columns // 2


def test_ct_chest_unsigned_12_bit_and_lesions() -> None:
    series = CT_CHEST_ABDOMEN.series[0]
    expected = {
        CHEST_LIVER_LESION_CENTER_LPS: 120.0,
        CHEST_LUNG_NODULE_CENTER_LPS: 30.0,
        CHEST_AIR_POCKET_CENTER_LPS: -1000.0,
    }
    for point, value in expected.items():
        assert phantom_value_at(series, point) == value
        col, row, k = nearest_pixel(series, point)
        ds = round_trip(generate_slice(series, k))
        assert (ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (12, 11, 0)
        assert float(ds.RescaleIntercept) == -1024.0
        assert float(ds.WindowCenter) == 40.0 and float(ds.WindowWidth) == 400.0
        assert ds.pixel_array.dtype == np.uint16
        hu = modality_values(ds)
        assert hu[row, col] == pytest.approx(value, abs=4 * series.noise_sd)
    assert phantom_value_at(series, (0.0, 80.0, 0.0)) == 700.0  # spine
    assert phantom_value_at(series, (15.0, 40.0, 0.0)) == 200.0  # aorta
    assert phantom_value_at(series, (-85.0, 10.0, 60.0)) == -850.0  # right lung
    assert phantom_value_at(series, (0.0, -100.0, -200.0)) == 40.0  # soft tissue
    assert phantom_value_at(series, (0.0, -150.0, 0.0)) == -1000.0  # air outside the body


def test_noise_has_the_stated_standard_deviation() -> None:
    series = CT_HEAD.series[0]
    k = 75
    ds = round_trip(generate_slice(series, k))
    residual = modality_values(ds) - phantom_slice(series, k)
    brain = phantom_slice(series, k) == 35.0
    assert residual[brain].mean() == pytest.approx(0.0, abs=0.1)
    assert residual[brain].std() == pytest.approx(series.noise_sd, rel=0.05)


def test_mr_brain_geometry_and_no_modality_lut() -> None:
    series = MR_BRAIN.series[0]
    ds = round_trip(generate_slice(series, 20))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4"
    assert "RescaleSlope" not in ds and "RescaleIntercept" not in ds
    assert float(ds.SliceThickness) == 3.0 and float(ds.SpacingBetweenSlices) == 3.3
    assert (ds.Rows, ds.Columns, ds.PixelRepresentation) == (256, 256, 0)
    z = np.array([p[2] for p in series.image_position_patient])
    assert len(z) == 40 and np.allclose(np.diff(z), 3.3)
    assert ds.WindowCenter == 500 and ds.WindowWidth == 1000


def test_iso_ir_127_name_round_trips() -> None:
    name = "حداد^ليلى"
    assert MR_BRAIN.patient.patient_name == name
    ds = round_trip(generate_slice(MR_BRAIN.series[0], 0))
    assert ds.SpecificCharacterSet == "ISO_IR 127"
    assert str(ds.PatientName) == name
    assert ds["PatientName"].value.original_string == name.encode("iso8859_6")


def test_utf8_name_round_trips() -> None:
    name = "Al-Rashid^Omar=الرشيد^عمر"
    ds = round_trip(generate_slice(DX_CHEST.series[0], 0))
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == name
    assert ds.PatientName.ideographic == "الرشيد^عمر"
    assert ds["PatientName"].value.original_string == name.encode("utf-8")


# ---------------------------------------------------------------------------------------------
# DX


def test_dx_views_photometric_and_presentation_lut() -> None:
    pa = round_trip(generate_slice(DX_CHEST.series[0], 0))
    lateral = round_trip(generate_slice(DX_CHEST.series[1], 0))
    for ds in (pa, lateral):
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1.1"
        assert ds.Modality == "DX" and ds.PresentationIntentType == "FOR PRESENTATION"
        assert [float(v) for v in ds.ImagerPixelSpacing] == [0.2, 0.2]
        assert "PixelSpacing" not in ds and "ImagePositionPatient" not in ds
        assert (ds.BitsStored, ds.PixelRepresentation) == (12, 0)
        assert ds.Rows * ds.Columns < 4_000_000
        assert ds.StudyInstanceUID == DX_CHEST.study_instance_uid
    assert pa.PhotometricInterpretation == "MONOCHROME2"
    assert pa.PresentationLUTShape == "IDENTITY"
    assert pa.ViewPosition == "PA" and list(pa.PatientOrientation) == ["L", "F"]
    assert "EstimatedRadiographicMagnificationFactor" not in pa
    assert lateral.PhotometricInterpretation == "MONOCHROME1"
    assert lateral.PresentationLUTShape == "INVERSE"
    assert lateral.ViewPosition == "LL" and list(lateral.PatientOrientation) == ["P", "F"]
    assert float(lateral.EstimatedRadiographicMagnificationFactor) == 1.1
    assert pa.ViewCodeSequence[0].CodeMeaning == "postero-anterior"
    assert lateral.ViewCodeSequence[0].CodeMeaning == "left lateral"
    assert pa.SeriesInstanceUID != lateral.SeriesInstanceUID


@pytest.mark.parametrize(
    ("index", "center", "radius_mm", "magnification"),
    [(0, PA_COIN_CENTER_LPS, PA_COIN_RADIUS_MM, 1.0), (1, LATERAL_COIN_CENTER_LPS, 13.75, 1.1)],
    ids=["PA", "lateral"],
)
def test_dx_coin_has_known_diameter(
    index: int, center: tuple, radius_mm: float, magnification: float
) -> None:
    series = DX_CHEST.series[index]
    values = phantom_slice(series, 0)
    coin_value = series.shapes[-1 if index == 1 else -2].value
    col, row, _ = nearest_pixel(series, center)
    assert values[row, col] == coin_value
    line = values[row, :] == coin_value
    width_mm = line.sum() * series.pixel_spacing_mm[1]
    assert width_mm == pytest.approx(2 * radius_mm, abs=series.pixel_spacing_mm[1])
    # corrected for magnification, both views show a 25 mm coin
    assert width_mm / magnification == pytest.approx(25.0, abs=0.25)
    assert math.isclose(LATERAL_COIN_RADIUS_MM / 1.1, PA_COIN_RADIUS_MM)


# ---------------------------------------------------------------------------------------------
# Geometry and rasterisation


@pytest.mark.parametrize("series", ALL_SERIES, ids=lambda s: s.key)
def test_pixel_to_lps_round_trips(series: DemoSeries) -> None:
    rng = np.random.default_rng(5)
    for _ in range(50):
        col = rng.uniform(-10, series.columns + 10)
        row = rng.uniform(-10, series.rows + 10)
        k = rng.uniform(0, series.number_of_slices - 1)
        back = series.lps_to_pixel(series.pixel_to_lps(col, row, k))
        assert back == pytest.approx((col, row, k), abs=1e-6)


def test_pixel_to_lps_follows_ps3_3_c7_6_2_1_1() -> None:
    series = CT_HEAD.series[0]
    assert series.pixel_to_lps(0, 0, 0) == (-115.2, -115.2, -75.0)
    x, y, z = series.pixel_to_lps(1, 0, 0)  # next column: along the row direction (+x)
    assert (x, y, z) == pytest.approx((-115.2 + 0.45, -115.2, -75.0))
    x, y, z = series.pixel_to_lps(0, 1, 1)  # next row: along the column direction (+y)
    assert (x, y, z) == pytest.approx((-115.2, -115.2 + 0.45, -74.0))
    assert series.pixel_to_lps(256, 256, 75) == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)
    pa = DX_CHEST.series[0]
    assert pa.pixel_to_lps(850, 1000, 0) == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)
    assert pa.pixel_to_lps(850, 1001, 0)[2] < 0  # rows run towards the feet


def test_anisotropic_pixel_spacing_order() -> None:
    """Pixel Spacing is (row spacing, column spacing): columns step by the second value."""
    series = _oblique_series(
        orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), pixel_spacing_mm=(2.0, 0.5), shapes=()
    )
    x0, y0, _ = series.pixel_to_lps(0, 0, 0)
    x1, _, _ = series.pixel_to_lps(1, 0, 0)
    _, y1, _ = series.pixel_to_lps(0, 1, 0)
    assert x1 - x0 == pytest.approx(0.5) and y1 - y0 == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("series", "slice_index"),
    [
        (CT_HEAD.series[0], 95),
        (CT_HEAD.series[0], 75),
        (CT_CHEST_ABDOMEN.series[0], 100),
        (CT_CHEST_ABDOMEN.series[0], 254),
        (MR_BRAIN.series[0], 24),
        (DX_CHEST.series[0], 0),
        (DX_CHEST.series[1], 0),
    ],
    ids=lambda v: getattr(v, "key", str(v)),
)
def test_rendered_pixels_equal_phantom_value_at(series: DemoSeries, slice_index: int) -> None:
    values = phantom_slice(series, slice_index)
    step = 13 if series.is_projection else 5
    for row in range(0, series.rows, step):
        for col in range(0, series.columns, step):
            point = series.pixel_to_lps(col, row, slice_index)
            assert values[row, col] == phantom_value_at(series, point), (col, row)


def _oblique_series(
    orientation: tuple[float, ...],
    pixel_spacing_mm: tuple[float, float] = (1.1, 0.9),
    shapes: tuple = (),
) -> DemoSeries:
    u = np.array(orientation[:3])
    v = np.array(orientation[3:])
    normal = np.cross(u, v)
    origin = -(64 * pixel_spacing_mm[1]) * u - (48 * pixel_spacing_mm[0]) * v
    positions = tuple(tuple(float(c) for c in origin + (k - 3) * 2.0 * normal) for k in range(7))
    return DemoSeries(
        key="TEST/oblique",
        series_instance_uid="1.2.3",
        modality="CT",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        series_description="oblique",
        series_number=1,
        body_part_examined="",
        rows=96,
        columns=128,
        pixel_spacing_mm=pixel_spacing_mm,
        image_orientation_patient=tuple(orientation),
        image_position_patient=positions,
        slice_thickness_mm=2.0,
        background_value=-1000.0,
        shapes=shapes,
        noise_sd=0.0,
        noise_seed=0,
        bits_stored=16,
        pixel_representation=1,
        window_center=(40.0,),
        window_width=(400.0,),
        rescale_slope=1.0,
        rescale_intercept=-1024.0,
    )


def test_any_orientation_matches_brute_force() -> None:
    a, b = math.radians(30), math.radians(20)
    u = (math.cos(a), math.sin(a) * math.cos(b), math.sin(a) * math.sin(b))
    v0 = np.cross(np.array([0.0, 0.0, 1.0]), np.array(u))
    v = tuple(float(c) for c in v0 / np.linalg.norm(v0))
    shapes = (
        Ellipsoid((0.0, 0.0, 0.0), (40.0, 30.0, 20.0), 40.0),
        Sphere((10.0, -5.0, 3.0), 8.0, 70.0),
        Cylinder((-20.0, 0.0, 0.0), 6.0, 15.0, "x", 300.0),
        EllipticCylinder((0.0, 15.0, 0.0), (10.0, 5.0), 30.0, "z", 500.0),
        Box((20.0, -20.0, -4.0), (35.0, -5.0, 4.0), 1000.0),
    )
    series = _oblique_series(orientation=(*u, *v), shapes=shapes)
    for k in range(series.number_of_slices):
        fast = phantom_slice(series, k)
        # brute force: every shape over the whole plane, no bounding boxes
        cols, rows = np.meshgrid(np.arange(series.columns), np.arange(series.rows))
        points = np.array(
            [series.pixel_to_lps(c, r, k) for c, r in zip(cols.ravel(), rows.ravel(), strict=True)]
        )
        brute = np.full(cols.size, series.background_value)
        for shape in shapes:
            brute[shape.contains(points[:, 0], points[:, 1], points[:, 2])] = shape.value
        np.testing.assert_array_equal(fast, brute.reshape(fast.shape).astype(np.float32))
        assert len(np.unique(fast)) > 1 or k in (0, series.number_of_slices - 1)
    back = series.lps_to_pixel(series.pixel_to_lps(17.25, 33.5, 2.75))
    assert back == pytest.approx((17.25, 33.5, 2.75), abs=1e-6)


def test_closed_boundary_and_paint_order() -> None:
    inner = Box((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0), 2.0)
    outer = Sphere((0.0, 0.0, 0.0), 1.0, 1.0)
    values = rasterize_plane(
        (inner, outer), 0.0, (-2.0, -2.0, 0.0), (1, 0, 0), (0, 1, 0), (1.0, 1.0), 5, 5
    )
    # sphere painted last: it wins where it covers, boundary points (distance 1) included
    assert values[2, 2] == 1.0 and values[2, 3] == 1.0 and values[1, 2] == 1.0
    assert values[1, 1] == 2.0  # box corner (-1, -1) is on the box's closed boundary
    assert values[0, 0] == 0.0


def test_uneven_slices_are_rejected() -> None:
    series = CT_HEAD.series[0]
    positions = list(series.image_position_patient[:3])
    positions[2] = (positions[2][0], positions[2][1], positions[2][2] + 0.5)
    with pytest.raises(ValueError, match="evenly spaced"):
        DemoSeries(**{**_fields(series), "image_position_patient": tuple(positions)})


def _fields(series: DemoSeries) -> dict[str, object]:
    return {name: getattr(series, name) for name in DemoSeries.__dataclass_fields__}


# ---------------------------------------------------------------------------------------------
# pydicom sample files


def test_sample_files_become_one_demo_study() -> None:
    from pydicom.data import get_testdata_file

    from workstation.demo.samples import SAMPLE_FILES

    samples = list(iter_sample_datasets())
    assert 1 <= len(samples) <= len(SAMPLE_FILES)
    assert [int(ds.SeriesNumber) for ds in samples] == list(range(1, len(samples) + 1))
    assert len({ds.StudyInstanceUID for ds in samples}) == 1
    assert len({ds.SeriesInstanceUID for ds in samples}) == len(samples)
    assert len({ds.SOPInstanceUID for ds in samples}) == len(samples)
    names = {name for name, _ in SAMPLE_FILES}
    photometric = set()
    syntaxes = set()
    for ds in samples:
        file_name = ds.SeriesDescription.split(" (")[0]
        assert file_name in names
        assert len(ds.SeriesDescription) <= 64
        original = pydicom.dcmread(get_testdata_file(file_name))
        back = round_trip(ds)
        assert str(back.PatientName) == "Samples^Pydicom" and back.PatientID == "DEMO-SAMPLES"
        assert back.StudyDescription == "pydicom sample files"
        assert back.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert back.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert back.PixelData == original.PixelData
        for keyword in ("Rows", "Columns", "PhotometricInterpretation", "BitsStored"):
            assert back.get(keyword) == original.get(keyword)
        assert back.SOPInstanceUID != original.SOPInstanceUID
        photometric.add(back.PhotometricInterpretation)
        syntaxes.add(back.file_meta.TransferSyntaxUID)
    if len(samples) == len(SAMPLE_FILES):
        assert {"MONOCHROME1", "PALETTE COLOR", "RGB", "YBR_FULL"} <= photometric
        assert pydicom.uid.ExplicitVRBigEndian in syntaxes
        assert pydicom.uid.DeflatedExplicitVRLittleEndian in syntaxes
        assert pydicom.uid.RLELossless in syntaxes
    again = [ds.SOPInstanceUID for ds in iter_sample_datasets()]
    assert again == [ds.SOPInstanceUID for ds in samples]
