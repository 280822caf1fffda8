"""User calibration against an object of known size (issue #3), on the demo DX chest lateral.

The lateral's coin is 25 mm across and sits 1.1 times magnified on the detector: 27.5 mm at
0.2 mm Imager Pixel Spacing, so 137.5 pixels from edge to edge around pixel (750, 600). The
file's calibration (Imager Pixel Spacing / Estimated Radiographic Magnification Factor,
PS3.3 C.8.11.5) already reads 25.0 mm there; calibrating the same line to another length must
change every value on the image by exactly that ratio, and removing it must bring the file's
value and label back.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from workstation.archive.audit import AuditEvent, AuditTrail
from workstation.archive.index import SCHEMA_VERSION
from workstation.archive.local import LocalArchive
from workstation.core.measure import (
    CROSS_SECTIONAL_REFUSAL,
    CalibrationError,
    CalibrationRef,
    Measurement,
    MeasurementKind,
    PixelCalibration,
    SpacingSource,
    UserCalibration,
    calibrate_from_line,
    ellipse_measurement,
    needs_recalibration,
    recalibrate,
    shares_geometry,
)
from workstation.core.model import KeyImage
from workstation.demo import CT_HEAD, generate_slice, iter_series_datasets
from workstation.demo.studies import (
    DX_CHEST,
    LATERAL_COIN_CENTER_LPS,
    LATERAL_COIN_RADIUS_MM,
    LATERAL_MAGNIFICATION,
)
from workstation.reporting.signing import (
    MeasurementConversionError,
    QualifiedMeasurement,
    measurement_items,
)
from workstation.viewer.overlays import calibration_text
from workstation.viewer.stack import ImageStack
from workstation.viewer.stack_view import StackViewModel
from workstation.viewer.tools import Tool

LATERAL = DX_CHEST.series[1]
STUDY = DX_CHEST.study_instance_uid
COIN_COL, COIN_ROW, _ = LATERAL.lps_to_pixel(LATERAL_COIN_CENTER_LPS)  # (750, 600)
DETECTOR_MM = LATERAL.pixel_spacing_mm[1]  # 0.2 mm Imager Pixel Spacing
COIN_RADIUS_PX = LATERAL_COIN_RADIUS_MM / DETECTOR_MM  # 68.75 px
COIN_LINE = ((COIN_COL - COIN_RADIUS_PX, COIN_ROW), (COIN_COL + COIN_RADIUS_PX, COIN_ROW))
DOUBLE_LINE = ((COIN_COL - COIN_RADIUS_PX, 900.0), (COIN_COL + 3 * COIN_RADIUS_PX, 900.0))
FILE_MM_PER_PX = DETECTOR_MM / LATERAL_MAGNIFICATION  # 0.1818...

CT_REFUSAL = (
    "This image cannot be calibrated by the user: it is a cross-sectional image with a valid "
    "Pixel Spacing, which is the spacing in the patient and is authoritative (PS3.3 10.7.1.3)."
)


@pytest.fixture(scope="module")
def template_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo DX chest (PA and lateral) and one head CT slice, generated once."""
    root = tmp_path_factory.mktemp("calibration") / "store"
    archive = LocalArchive(root)
    for series in DX_CHEST.series:
        for ds in iter_series_datasets(series, DX_CHEST):
            archive.add_dataset(ds)
    archive.add_dataset(generate_slice(CT_HEAD.series[0], 40, CT_HEAD))
    archive.commit()
    archive.close()
    return root


@pytest.fixture
def store(template_store: Path, tmp_path: Path) -> Path:
    """A store of the test's own (calibrations and measurements change it)."""
    root = tmp_path / "store"
    shutil.copytree(template_store, root)
    return root


@pytest.fixture
def archive(store: Path):
    a = LocalArchive(store)
    yield a
    a.close()


def lateral_model(archive: LocalArchive) -> StackViewModel:
    model = StackViewModel()
    model.attach_store(archive)
    model.set_stack(ImageStack.open(archive, LATERAL.series_instance_uid))
    return model


def draw(model: StackViewModel, tool: Tool, line) -> Measurement | None:
    model.set_tool(tool)
    model.tool_press(line[0])
    return model.tool_release(line[1])


def test_the_coin_is_where_the_line_is_drawn(archive):
    model = lateral_model(archive)
    row = np.asarray(model.image_context().values)[int(COIN_ROW)]
    dark = row < 1000  # the coin attenuates: low stored values on this MONOCHROME1 image
    start = int(COIN_COL)
    while dark[start - 1]:
        start -= 1
    end = int(COIN_COL)
    while dark[end + 1]:
        end += 1
    # Pixel centres inside the circle of 68.75 px radius about column 750.
    assert (start, end) == (682, 818)


def test_calibrating_the_coin_to_25_mm_measures_25_and_50(archive):
    model = lateral_model(archive)
    before = draw(model, Tool.LENGTH, COIN_LINE)
    assert before is not None
    assert before.value == pytest.approx(25.0, abs=1e-9)
    assert before.label == "corrected for magnification"
    assert before.calibration == CalibrationRef(
        SpacingSource.MAGNIFICATION_CORRECTED, (FILE_MM_PER_PX, FILE_MM_PER_PX)
    )

    requested = []
    model.calibration_requested.connect(requested.append)
    assert draw(model, Tool.CALIBRATE, COIN_LINE) is None  # a calibration line is no measurement
    assert requested == [COIN_LINE]
    assert model.calibration_line_length() == (pytest.approx(25.0, abs=1e-9), "mm")
    cal = model.calibrate_pending(25.0)
    assert cal.scope == "series"  # one image: its series shares one geometry
    assert cal.spacing_mm[1] == pytest.approx(25.0 / 137.5, rel=1e-12)

    again = draw(model, Tool.LENGTH, COIN_LINE)
    assert again is not None
    assert again.value == pytest.approx(25.0, abs=0.01)
    assert again.label == "calibrated by user"
    assert again.calibration is not None and again.calibration.source is SpacingSource.USER
    assert again.calibration.calibration_id == cal.calibration_id
    double = draw(model, Tool.LENGTH, DOUBLE_LINE)
    assert double is not None
    assert double.value == pytest.approx(50.0, abs=0.02)
    assert double.label == "calibrated by user"
    # The measurement made before keeps its points and is valued with the user's calibration.
    old = next(m for m in model.measurements if m.measurement_id == before.measurement_id)
    assert old.points == before.points and old.label == "calibrated by user"


def test_a_wrong_known_length_scales_every_value_and_removal_restores_them(archive):
    model = lateral_model(archive)
    before = draw(model, Tool.LENGTH, DOUBLE_LINE)
    assert before is not None and before.value == pytest.approx(50.0, abs=1e-9)
    archive.save_measurement(STUDY, before)
    changed = []
    model.measurements_changed.connect(changed.append)

    cal = model.calibrate(*COIN_LINE, 20.0, user="dr.reader")  # the reader claims 20 mm
    assert cal.factor == pytest.approx(0.8, rel=1e-12)
    (m,) = model.measurements
    assert m.value == pytest.approx(40.0, abs=1e-9)
    assert (m.label, m.points) == ("calibrated by user", before.points)
    assert len(changed) == 1  # the window stores what changed
    (stored,) = archive.measurements(STUDY)
    assert stored.value == pytest.approx(40.0, abs=1e-9)
    assert stored.calibration is not None and stored.calibration.source is SpacingSource.USER
    assert model.corner_texts()["bottom_left"].endswith("Cal: user 0.145 mm/px")

    removed = model.remove_calibration()
    assert removed is not None and removed.calibration_id == cal.calibration_id
    (m,) = model.measurements
    assert m.value == pytest.approx(50.0, abs=1e-9)
    assert m.label == "corrected for magnification"
    (stored,) = archive.measurements(STUDY)
    assert (stored.value, stored.label) == (pytest.approx(50.0, abs=1e-9), m.label)
    assert "Cal:" not in model.corner_texts()["bottom_left"]
    assert model.remove_calibration() is None


def test_reopening_the_study_keeps_the_calibration(store):
    first = LocalArchive(store)
    model = lateral_model(first)
    m = draw(model, Tool.LENGTH, DOUBLE_LINE)
    assert m is not None
    first.save_measurement(STUDY, m)
    cal = model.calibrate(*COIN_LINE, 20.0, user="dr.reader")
    first.close()

    second = LocalArchive(store)
    try:
        (kept,) = second.user_calibrations(STUDY)
        assert kept == dataclasses.replace(cal, created_at=kept.created_at)
        assert kept.user == "dr.reader" and kept.created_at.endswith("Z")
        reopened = lateral_model(second)
        assert reopened.calibration() == cal.pixel_calibration()
        assert reopened.corner_texts()["bottom_left"].splitlines()[-1] == "Cal: user 0.145 mm/px"
        again = draw(reopened, Tool.LENGTH, DOUBLE_LINE)
        assert again is not None
        assert (round(again.value, 6), again.label) == (40.0, "calibrated by user")
        (stored,) = second.measurements(STUDY)
        assert stored.value == pytest.approx(40.0, abs=1e-9)
        # The PA view of the same study has its own geometry and keeps the file's calibration.
        pa = StackViewModel()
        pa.attach_store(second)
        pa.set_stack(ImageStack.open(second, DX_CHEST.series[0].series_instance_uid))
        assert pa.calibration().source is SpacingSource.DETECTOR

        second.remove_user_calibration(LATERAL.series_instance_uid)
        back = lateral_model(second)
        assert back.calibration().source is SpacingSource.MAGNIFICATION_CORRECTED
        (stored,) = second.measurements(STUDY)
        assert (stored.value, stored.label) == (
            pytest.approx(50.0, abs=1e-9),
            "corrected for magnification",
        )
    finally:
        second.close()


def test_setting_and_removing_are_audited(store, archive):
    model = lateral_model(archive)
    cal = model.calibrate(*COIN_LINE, 25.0, user="dr.reader")
    model.remove_calibration()
    with AuditTrail(store) as trail:
        entries = trail.entries(study_instance_uid=STUDY)
        assert trail.verify() == []
    assert [e.event for e in entries] == [
        AuditEvent.CALIBRATION_SET,
        AuditEvent.CALIBRATION_REMOVED,
    ]
    assert [e.sop_instance_uid for e in entries] == [cal.drawn_on, cal.drawn_on]
    assert entries[0].detail == (
        f"series calibration, series {LATERAL.series_instance_uid}: 0.1818 x 0.1818 mm/px "
        "(known length 25 mm, factor 1.0000)"
    )
    assert AuditEvent("calibration-set") is AuditEvent.CALIBRATION_SET
    assert AuditEvent("calibration-removed") is AuditEvent.CALIBRATION_REMOVED


def test_ct_refuses_user_calibration_with_the_exact_message(archive):
    (ct_series,) = archive.series(CT_HEAD.study_instance_uid)
    (ct,) = archive.instances(ct_series.series_instance_uid)
    assert CROSS_SECTIONAL_REFUSAL == CT_REFUSAL
    with pytest.raises(CalibrationError) as exc:
        calibrate_from_line((10.0, 10.0), (110.0, 10.0), 50.0, ct, "CT")
    assert str(exc.value) == CT_REFUSAL

    model = StackViewModel()
    model.attach_store(archive)
    model.set_stack(ImageStack.open(archive, ct_series.series_instance_uid))
    assert model.can_calibrate() == CT_REFUSAL
    requested = []
    model.calibration_requested.connect(requested.append)
    assert draw(model, Tool.CALIBRATE, ((10.0, 10.0), (110.0, 10.0))) is None
    assert requested == [] and model.status == CT_REFUSAL
    with pytest.raises(CalibrationError) as exc:
        model.calibrate((10.0, 10.0), (110.0, 10.0), 50.0)
    assert str(exc.value) == CT_REFUSAL
    assert archive.user_calibrations(CT_HEAD.study_instance_uid) == []
    assert model.calibration().source is SpacingSource.PATIENT


def test_bad_lengths_and_lines_are_refused(archive):
    model = lateral_model(archive)
    with pytest.raises(CalibrationError, match="more than 0 and at most 10000 mm"):
        model.calibrate(*COIN_LINE, 0.0)
    with pytest.raises(CalibrationError, match="more than 0 and at most 10000 mm"):
        model.calibrate(*COIN_LINE, float("nan"))
    with pytest.raises(CalibrationError, match="shorter than 10 pixels"):
        model.calibrate((100.0, 100.0), (105.0, 100.0), 5.0)
    assert archive.user_calibrations(STUDY) == []


def test_image_without_spacing_is_calibrated_from_pixels(archive):
    (inst,) = archive.instances(LATERAL.series_instance_uid)
    scanned = dataclasses.replace(
        inst,
        sop_class_uid="1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture: a scanned film
        pixel_spacing=None,
        imager_pixel_spacing=None,
        estimated_radiographic_magnification_factor=None,
    )
    assert PixelCalibration.from_instance(scanned, "OT").source is SpacingSource.UNCALIBRATED
    cal = calibrate_from_line((0.0, 0.0), (60.0, 80.0), 50.0, scanned, "OT")
    assert cal.spacing_mm == (0.5, 0.5)  # 100 px are 50 mm
    assert cal.base_source is SpacingSource.UNCALIBRATED
    assert calibration_text(cal.pixel_calibration()) == "Cal: user 0.500 mm/px"
    # Anisotropic pixels keep their aspect: one factor scales both spacings.
    aniso = dataclasses.replace(scanned, pixel_spacing=(0.2, 0.1), sop_class_uid=inst.sop_class_uid)
    cal = calibrate_from_line((0.0, 0.0), (100.0, 0.0), 20.0, aniso, "DX")
    assert cal.base_source is SpacingSource.UNKNOWN_PLANE
    assert cal.spacing_mm == (pytest.approx(0.4, rel=1e-12), pytest.approx(0.2, rel=1e-12))
    assert calibration_text(cal.pixel_calibration()) == "Cal: user 0.400 × 0.200 mm/px"


def test_series_scope_needs_one_geometry(archive):
    (inst,) = archive.instances(LATERAL.series_instance_uid)
    other = dataclasses.replace(inst, sop_instance_uid=inst.sop_instance_uid + ".2", rows=1000)
    assert shares_geometry([inst, inst]) is True
    assert shares_geometry([inst, other]) is False
    cal = calibrate_from_line(*COIN_LINE, 25.0, inst, "DX", whole_series=False)
    assert (cal.scope, cal.sop_instance_uid) == ("image", inst.sop_instance_uid)
    base = PixelCalibration.from_instance(inst, "DX")
    assert cal.applies_to(inst, base) is True
    assert cal.applies_to(other, base) is False  # another image of the series


def test_roi_area_is_revalued_without_pixels(archive):
    model = lateral_model(archive)
    ctx = model.image_context()
    m = ellipse_measurement(
        ctx.values,
        (COIN_COL, COIN_ROW),
        (40.0, 30.0),
        ctx.calibration,
        ctx.instance.sop_instance_uid,
    )
    cal = calibrate_from_line(*COIN_LINE, 20.0, ctx.instance, "DX").pixel_calibration()
    assert needs_recalibration(m, cal) is True
    new = recalibrate(m, cal)
    s = 20.0 / 137.5
    assert new.value == pytest.approx(math.pi * 40.0 * 30.0 * s * s, rel=1e-12)
    assert new.detail("pixel_area") == pytest.approx(new.detail("pixel_count") * s * s, rel=1e-12)
    assert new.detail("mean") == m.detail("mean") and new.points == m.points
    assert (new.unit, new.label) == ("mm²", "calibrated by user")
    assert needs_recalibration(new, cal) is False


def test_measurement_json_keeps_its_calibration_record(archive):
    model = lateral_model(archive)
    model.calibrate(*COIN_LINE, 20.0)
    m = draw(model, Tool.LENGTH, DOUBLE_LINE)
    assert m is not None
    data = json.loads(json.dumps(m.to_json()))
    assert data["calibration"]["source"] == "user"
    assert data["calibration"]["spacing_mm"] == [pytest.approx(20.0 / 137.5, rel=1e-12)] * 2
    assert Measurement.from_json(data) == m
    del data["calibration"]  # a record of an older version
    assert Measurement.from_json(data).calibration is None


def test_report_items_carry_the_user_calibrated_value_and_qualifier(archive):
    model = lateral_model(archive)
    file_cal = model.calibration()
    model.calibrate(*COIN_LINE, 25.0)
    m = draw(model, Tool.LENGTH, COIN_LINE)
    assert m is not None and m.kind is MeasurementKind.LENGTH
    (inst,) = archive.instances(LATERAL.series_instance_uid)
    (item,) = measurement_items(m, inst, "DX", archive.calibration_of(inst))
    assert isinstance(item, QualifiedMeasurement)
    assert item.value == 25.0  # rounded to what the reader sees
    assert item.qualifier == "calibrated by user, 0.182 mm/px"
    # Never under a calibration it was not valued with.
    with pytest.raises(MeasurementConversionError, match="another calibration"):
        measurement_items(m, inst, "DX", file_cal)


def test_an_older_index_gains_the_calibration_table_without_touching_rows(store):
    a = LocalArchive(store)
    model = lateral_model(a)
    m = draw(model, Tool.LENGTH, COIN_LINE)
    assert m is not None
    a.save_measurement(STUDY, m)
    (inst,) = a.instances(LATERAL.series_instance_uid)
    a.set_key_image(KeyImage(STUDY, inst.sop_instance_uid, 1))
    a.close()
    db = store / "index.sqlite"
    tables = ("studies", "series", "instances", "measurements", "key_images")
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE calibrations")
        conn.execute("UPDATE meta SET value='3' WHERE key='schema_version'")
        before = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    conn.close()

    b = LocalArchive(store)
    b.close()
    with sqlite3.connect(db) as conn:
        after = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
        version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
        cols = [r[1] for r in conn.execute("PRAGMA table_info(calibrations)")]
        count = conn.execute("SELECT COUNT(*) FROM calibrations").fetchone()[0]
    conn.close()
    assert SCHEMA_VERSION == 4 and int(version) == 4
    assert after == before
    assert [len(before[t]) for t in tables] == [2, 3, 3, 1, 1]
    assert cols == [
        "series_instance_uid",
        "sop_instance_uid",
        "study_instance_uid",
        "calibration_id",
        "json",
        "user",
        "created_at",
    ]
    assert count == 0


def test_stored_calibration_round_trips(archive):
    (inst,) = archive.instances(LATERAL.series_instance_uid)
    cal = calibrate_from_line(*COIN_LINE, 25.0, inst, "DX", user="u", created_at="2026-01-01Z")
    assert UserCalibration.from_json(json.loads(json.dumps(cal.to_json()))) == cal
    with pytest.raises(CalibrationError, match="lacks the key 'spacing_mm'"):
        UserCalibration.from_json({k: v for k, v in cal.to_json().items() if k != "spacing_mm"})


def test_another_viewport_on_the_series_follows_when_measurements_are_synced(archive):
    first, second = lateral_model(archive), lateral_model(archive)
    m = draw(first, Tool.LENGTH, DOUBLE_LINE)
    assert m is not None
    archive.save_measurement(STUDY, m)
    first.calibrate(*COIN_LINE, 20.0)
    assert second.calibration().source is SpacingSource.MAGNIFICATION_CORRECTED
    second.set_measurements(archive.measurements(STUDY))  # what the window does on a change
    assert second.calibration().source is SpacingSource.USER
    (shown,) = second.measurements
    assert (round(shown.value, 6), shown.label) == (40.0, "calibrated by user")
