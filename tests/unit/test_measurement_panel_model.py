"""The measurement list without Qt: names, MPR planes in the store, row texts and their order.

Images are made in the test (a three-slice CT series stored in reverse instance order and a DX
image without any Image Plane attributes), so where each measurement lies is known exactly.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import UID_ROOT, build_image

from workstation.archive.local import LocalArchive
from workstation.core.measure import (
    MAX_NAME_LENGTH,
    Measurement,
    MeasurementError,
    MeasurementKind,
    MeasurementPlane,
    PixelCalibration,
    length_measurement,
)
from workstation.core.model import Instance
from workstation.core.volume_geometry import VolumeGeometry
from workstation.viewer.annotations import (
    describe_plane,
    format_value,
    frame_position,
    measurement_rows,
    stack_frames,
    study_locations,
)
from workstation.viewer.mpr import (
    MprModel,
    PlaneMeasurement,
    measure_ellipse,
    measure_length,
)
from workstation.viewer.tools import format_measurement

STUDY = UID_ROOT + "71"
CT_SERIES = UID_ROOT + "71.1"
DX_SERIES = UID_ROOT + "71.2"
DX_SOP = UID_ROOT + "71.2.1"
DX_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def ct_sop(z_index: int) -> str:
    return f"{CT_SERIES}.{z_index + 1}"


@pytest.fixture
def study(archive: LocalArchive) -> LocalArchive:
    """CT series 3 "Axial" (z = 0, 2, 4 mm; instance numbers 3, 2, 1) and DX series 1 "PA"."""
    for k in range(3):
        archive.add_dataset(
            build_image(
                pixels=np.full((16, 16), 1024 + 10 * k),
                study_uid=STUDY,
                series_uid=CT_SERIES,
                sop_uid=ct_sop(k),
                instance_number=3 - k,
                position=(0.0, 0.0, 2.0 * k),
                rescale_intercept=-1024.0,
                series_number=3,
                series_description="Axial",
            )
        )
    dx = build_image(
        pixels=np.full((20, 10), 500),
        study_uid=STUDY,
        series_uid=DX_SERIES,
        sop_uid=DX_SOP,
        position=None,
        orientation=None,
        sop_class_uid=DX_SOP_CLASS,
        modality="DX",
        series_number=1,
        series_description="PA",
    )
    del dx.PixelSpacing
    dx.ImagerPixelSpacing = [0.2, 0.2]
    archive.add_dataset(dx)
    return archive


# ---------------------------------------------------------------------------------------------
# Names


def test_a_name_is_one_clean_line_and_too_long_is_refused():
    m = length_measurement((0, 0), (3, 4), PixelCalibration.uncalibrated(), "1.2.3")
    named = m.with_name("  aortic\n root  ")
    assert named.name == "aortic root"
    assert named.measurement_id == m.measurement_id and named.value == 5.0
    assert named.with_name("x" * MAX_NAME_LENGTH).name == "x" * 64
    with pytest.raises(MeasurementError, match="at most 64 characters, not 65"):
        m.with_name("x" * 65)


def test_name_shows_on_the_image_label():
    m = Measurement(MeasurementKind.LENGTH, ((0, 0), (30, 40)), 25.0, "mm", "", "1.2")
    assert format_measurement(m.with_name("Aorta")) == "Aorta: 25.0 mm"
    roi = Measurement(
        MeasurementKind.ELLIPSE,
        ((5, 5), (2, 3)),
        18.8,
        "mm²",
        "",
        "1.2",
        details=(("mean", 70.0), ("sd", 1.25), ("min", 66.0), ("max", 74.0)),
        name="Bleed",
    )
    assert format_measurement(roi, "HU").splitlines() == [
        "Bleed",
        "Mean 70.0 SD 1.2 HU",
        "Min 66 Max 74",
        "Area 18.8 mm²",
    ]


def test_a_record_without_name_or_plane_still_reads():
    old = {
        "version": 1,
        "id": "abc",
        "kind": "length",
        "points": [[1, 2], [4, 6]],
        "value": 5.0,
        "unit": "mm",
        "label": "at detector",
        "sop_instance_uid": "1.2.3",
        "frame_number": 1,
        "details": {},
    }
    m = Measurement.from_json(old)
    assert (m.name, m.plane, m.label) == ("", None, "at detector")
    # and what is written without them is exactly the old record
    assert m.to_json() == old
    assert Measurement.from_json({**old, "name": "Rib"}).name == "Rib"
    with pytest.raises(MeasurementError, match="at most 64"):
        Measurement.from_json({**old, "name": "y" * 70})


def test_a_plane_must_be_orthonormal():
    good = dict(
        origin_lps=(0, 0, 0),
        row_direction=(1, 0, 0),
        column_direction=(0, 1, 0),
        pixel_spacing_mm=0.5,
        columns=10,
        rows=10,
    )
    assert MeasurementPlane(**good).normal == (0.0, 0.0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(MeasurementError, match="unit vector"):
        MeasurementPlane(**{**good, "row_direction": (2, 0, 0)})  # type: ignore[arg-type]
    with pytest.raises(MeasurementError, match="orthogonal"):
        MeasurementPlane(**{**good, "column_direction": (1, 0, 0)})  # type: ignore[arg-type]
    with pytest.raises(MeasurementError, match="pixel spacing"):
        MeasurementPlane(**{**good, "pixel_spacing_mm": 0})  # type: ignore[arg-type]
    with pytest.raises(MeasurementError, match="lacks the key 'size'"):
        MeasurementPlane.from_json({"position_lps": [0, 0, 0]})


# ---------------------------------------------------------------------------------------------
# MPR measurements through the store


def _model() -> MprModel:
    g = VolumeGeometry.from_image_plane((-100, -80, -50), AXIAL, (0.8, 0.8), 2.0, (51, 200, 250))
    return MprModel(g)


def test_an_oblique_mpr_length_round_trips_through_the_store(archive: LocalArchive):
    m = _model()
    m.rotate("axial", 30.0)  # coronal and sagittal become oblique
    m.rotate("coronal", -20.0)  # double oblique
    grid = m.grid("sagittal", 300, 200)
    pm = measure_length("sagittal", grid, (40.0, 50.0), (160.0, 120.5), None, "1.2.3.4")
    values = np.full((200, 300), 10.0)
    roi = measure_ellipse("sagittal", grid, values, (100.0, 80.0), (7.0, 4.0), None, "1.2.3.4")
    archive.save_measurement("9.9", pm.measurement.with_name("Vertebra"))
    archive.save_measurement("9.9", roi.measurement)
    back = [PlaneMeasurement.from_measurement(x) for x in archive.measurements("9.9")]
    assert [b.measurement_id for b in back] == [pm.measurement_id, roi.measurement_id]
    again = back[0]
    assert again.measurement.name == "Vertebra"
    assert again.view == "sagittal" and again.series_instance_uid == "1.2.3.4"
    assert again.measurement.value == pytest.approx(pm.measurement.value, abs=1e-6)
    assert again.measurement.value == pytest.approx(math.hypot(120.0, 70.5) * grid.spacing_mm)
    assert np.asarray(again.grid.origin_lps) == pytest.approx(np.asarray(grid.origin_lps), abs=1e-6)
    for a, b in ((again.plane.x_axis, grid.plane.x_axis), (again.plane.y_axis, grid.plane.y_axis)):
        assert np.asarray(a) == pytest.approx(np.asarray(b), abs=1e-9)
    assert again.grid.size == (300, 200) and again.grid.spacing_mm == grid.spacing_mm
    assert np.asarray(again.points_lps) == pytest.approx(np.asarray(pm.points_lps), abs=1e-6)
    assert back[1].measurement.detail("mean") == 10.0
    # the stored JSON names the plane the way the Image Plane Module does
    row = archive.index.connection().execute("SELECT json FROM measurements LIMIT 1").fetchone()
    plane = json.loads(row[0])["plane"]
    assert set(plane) >= {"position_lps", "row_direction", "column_direction", "pixel_spacing_mm"}
    assert plane["series_instance_uid"] == "1.2.3.4"


def test_showing_a_stored_measurement_turns_the_planes_back():
    m = _model()
    m.rotate("axial", 25.0)
    m.scroll("coronal", 7.5)
    grid = m.grid("coronal", 240, 180)
    pm = measure_length("coronal", grid, (30.0, 40.0), (200.0, 150.0))
    stored = PlaneMeasurement.from_measurement(pm.measurement)
    m.reset()  # orthogonal planes through the volume centre again
    m.set_measurements([stored])
    assert m.measurements_on(m.grid("coronal", 240, 180)) == []
    assert m.show_measurement(stored.measurement_id) == "coronal"
    shown = m.grid("coronal", 240, 180)
    assert m.measurements_on(shown) == [stored]
    assert abs(shown.plane.signed_distance(pm.plane.origin_lps)) < 1e-9
    assert np.asarray(shown.plane.normal) == pytest.approx(np.asarray(pm.plane.normal), abs=1e-12)
    # the other two planes turned with it and stay perpendicular
    n = [np.asarray(m.plane(v).normal) for v in ("axial", "coronal", "sagittal")]
    assert abs(n[0] @ n[1]) < 1e-12 and abs(n[0] @ n[2]) < 1e-12 and abs(n[1] @ n[2]) < 1e-12
    assert m.selected_id == stored.measurement_id
    assert m.remove_measurement(stored.measurement_id) and m.measurements == []
    assert m.selected_id is None


def test_stored_mpr_measurement_with_a_bad_plane_says_so():
    m = length_measurement((0, 0), (1, 1), PixelCalibration.uncalibrated(), "1.2")
    with pytest.raises(MeasurementError, match="not made on a reformatted plane"):
        PlaneMeasurement.from_measurement(m)


# ---------------------------------------------------------------------------------------------
# Rows


def test_values_carry_unit_and_calibration():
    dx = PixelCalibration.from_instance(
        Instance(DX_SOP, DX_SERIES, DX_SOP_CLASS, "", "x", imager_pixel_spacing=(0.2, 0.2))
    )
    m = length_measurement((0, 0), (0, 100), dx, DX_SOP)
    assert format_value(m) == "20.0 mm (at detector)"
    roi = Measurement(
        MeasurementKind.RECTANGLE,
        ((0, 0), (4, 4)),
        4.0,
        "mm²",
        "",
        "1",
        details=(("mean", 12.25), ("sd", math.nan)),
    )
    assert format_value(roi, "HU") == "4.0 mm² · mean 12.2 ± - HU"
    assert format_value(Measurement(MeasurementKind.PROBE, ((1, 1),), 40.4, "", "", "1"), "HU") == (
        "40 HU"
    )
    assert format_value(
        Measurement(MeasurementKind.COBB, ((0, 0),) * 4, 12.04, "deg", "", "1")
    ) == ("Cobb 12.0°")


def test_plane_descriptions():
    axial = MeasurementPlane((0, 0, -20.0), (1, 0, 0), (0, 1, 0), 0.5, 10, 10, "1.2", "axial")
    assert describe_plane(axial) == "MPR axial I 20.0 mm"
    coronal = MeasurementPlane((5, 12.25, 0), (1, 0, 0), (0, 0, -1), 0.5, 10, 10, "1.2", "coronal")
    assert describe_plane(coronal) == "MPR coronal P 12.2 mm"
    c, s = math.cos(0.3), math.sin(0.3)
    oblique = MeasurementPlane((0, 0, 0), (c, s, 0), (0, 0, -1), 0.5, 10, 10, "1.2", "coronal")
    assert describe_plane(oblique, (-36.0, -9.0, 20.0)) == (
        "MPR oblique (coronal) at R 36.0 A 9.0 S 20.0 mm"
    )


def test_rows_say_series_image_and_plane_in_reading_order(study: LocalArchive):
    ct_cal = PixelCalibration.from_instance(study.index.instance(ct_sop(0)))  # type: ignore[arg-type]
    on_top = length_measurement((0, 0), (0, 8), ct_cal, ct_sop(2)).with_name("Top")
    on_bottom = length_measurement((0, 0), (6, 8), ct_cal, ct_sop(0))
    dx_cal = PixelCalibration.from_instance(study.index.instance(DX_SOP), "DX")  # type: ignore[arg-type]
    on_dx = length_measurement((1, 1), (1, 11), dx_cal, DX_SOP)
    plane = MeasurementPlane((0, 0, 2.0), (1, 0, 0), (0, 1, 0), 0.25, 64, 64, CT_SERIES, "axial")
    mpr = Measurement(
        MeasurementKind.LENGTH, ((0, 0), (0, 40)), 10.0, "mm", "", CT_SERIES, plane=plane
    )
    gone = length_measurement((0, 0), (1, 0), ct_cal, UID_ROOT + "71.9.9")
    for m in (mpr, gone, on_top, on_dx, on_bottom):
        study.save_measurement(STUDY, m)
    rows = measurement_rows(study.measurements(STUDY), study_locations(study, STUDY))
    assert [(r.name, r.kind, r.value, r.where) for r in rows] == [
        ("", "Length", "2.0 mm (at detector)", "Se 1 PA · Im 1/1"),
        # stack order is along the slice normal (z up), so z = 0 mm is image 1 of 3
        ("", "Length", "5.0 mm", "Se 3 Axial · Im 1/3"),
        ("Top", "Length", "4.0 mm", "Se 3 Axial · Im 3/3"),
        ("", "Length", "10.0 mm", "Se 3 Axial · MPR axial S 2.0 mm"),
        ("", "Length", "0.5 mm", "image not in the store"),
    ]
    assert [r.measurement_id for r in rows][1:3] == [
        on_bottom.measurement_id,
        on_top.measurement_id,
    ]


def test_frame_positions_follow_the_stack(study: LocalArchive):
    frames = stack_frames(study.instances(CT_SERIES))
    assert [f.instance.sop_instance_uid for f in frames] == [ct_sop(0), ct_sop(1), ct_sop(2)]
    assert frame_position(frames, ct_sop(1), 1) == 1
    assert frame_position(frames, ct_sop(1), 2) is None  # single-frame: no frame 2
    assert frame_position(frames, "1.2.3", 1) is None
