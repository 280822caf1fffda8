"""Measurement maths: spacing rules, lengths, angles, Cobb angles, ROI rules, probe, JSON."""

from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pytest

from workstation.core.errors import WorkstationError
from workstation.core.measure import (
    Measurement,
    MeasurementError,
    MeasurementKind,
    PixelCalibration,
    SpacingSource,
    angle_deg,
    angle_measurement,
    cobb_angle_deg,
    cobb_measurement,
    ellipse_measurement,
    ellipse_roi_stats,
    length_measurement,
    length_mm,
    measurements_from_json,
    measurements_to_json,
    probe,
    probe_measurement,
    rectangle_measurement,
    rectangle_roi_stats,
)
from workstation.core.model import Instance

CT = "1.2.840.10008.5.1.4.1.1.2"
CR = "1.2.840.10008.5.1.4.1.1.1"
DX = "1.2.840.10008.5.1.4.1.1.1.1"
MG = "1.2.840.10008.5.1.4.1.1.1.2"
SC = "1.2.840.10008.5.1.4.1.1.7"


def instance(sop_class: str = CT, **kw: object) -> Instance:
    return Instance("1.2.3.4", "1.2.3", sop_class, "1.2.840.10008.1.2.1", "f", **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Calibration (PS3.3 10.7.1.1, C.8.11.4)


@pytest.mark.parametrize(
    ("inst", "modality", "spacing", "source", "label"),
    [
        (instance(CT, pixel_spacing=(0.5, 0.7)), "CT", (0.5, 0.7), SpacingSource.PATIENT, ""),
        (instance(CT), "CT", (1.0, 1.0), SpacingSource.UNCALIBRATED, "pixels (uncalibrated)"),
        (
            instance(DX, imager_pixel_spacing=(0.2, 0.2)),
            "DX",
            (0.2, 0.2),
            SpacingSource.DETECTOR,
            "at detector",
        ),
        (
            instance(
                DX,
                imager_pixel_spacing=(0.2, 0.25),
                estimated_radiographic_magnification_factor=1.25,
            ),
            "DX",
            (0.16, 0.2),
            SpacingSource.MAGNIFICATION_CORRECTED,
            "corrected for magnification",
        ),
        # Pixel Spacing equal to Imager Pixel Spacing: not calibrated, still at the detector
        (
            instance(DX, pixel_spacing=(0.2, 0.2), imager_pixel_spacing=(0.2, 0.2)),
            "DX",
            (0.2, 0.2),
            SpacingSource.DETECTOR,
            "at detector",
        ),
        (
            instance(
                MG,
                pixel_spacing=(0.1, 0.1),
                imager_pixel_spacing=(0.1, 0.1),
                estimated_radiographic_magnification_factor=1.08,
            ),
            "MG",
            (0.1 / 1.08, 0.1 / 1.08),
            SpacingSource.MAGNIFICATION_CORRECTED,
            "corrected for magnification",
        ),
        # Pixel Spacing different from Imager Pixel Spacing: calibrated, used as is, no ERMF
        (
            instance(
                DX,
                pixel_spacing=(0.18, 0.18),
                imager_pixel_spacing=(0.2, 0.2),
                estimated_radiographic_magnification_factor=1.25,
            ),
            "DX",
            (0.18, 0.18),
            SpacingSource.CALIBRATED,
            "calibrated",
        ),
        # A projection with Pixel Spacing only: its plane cannot be determined
        (
            instance(CR, pixel_spacing=(0.15, 0.15)),
            "CR",
            (0.15, 0.15),
            SpacingSource.UNKNOWN_PLANE,
            "plane unknown",
        ),
        (
            instance(SC, pixel_spacing=(0.15, 0.15)),
            "DX",
            (0.15, 0.15),
            SpacingSource.UNKNOWN_PLANE,
            "plane unknown",
        ),
        (instance(SC, pixel_spacing=(0.15, 0.15)), "OT", (0.15, 0.15), SpacingSource.PATIENT, ""),
        # Zero or negative spacing is invalid (PS3.3 10.7.1.3) and ignored
        (
            instance(DX, imager_pixel_spacing=(0.0, 0.2)),
            "DX",
            (1.0, 1.0),
            SpacingSource.UNCALIBRATED,
            "pixels (uncalibrated)",
        ),
        (
            instance(
                DX, imager_pixel_spacing=(0.2, 0.2), estimated_radiographic_magnification_factor=0.0
            ),
            "DX",
            (0.2, 0.2),
            SpacingSource.DETECTOR,
            "at detector",
        ),
    ],
)
def test_calibration_rules(
    inst: Instance,
    modality: str,
    spacing: tuple[float, float],
    source: SpacingSource,
    label: str,
) -> None:
    cal = PixelCalibration.from_instance(inst, modality)
    assert cal.spacing == pytest.approx(spacing, rel=1e-12)
    assert cal.source is source
    assert cal.label == label
    assert cal.unit == ("px" if source is SpacingSource.UNCALIBRATED else "mm")
    assert cal.area_unit == ("px²" if source is SpacingSource.UNCALIBRATED else "mm²")


# ---------------------------------------------------------------------------------------------
# Lengths and angles

ANISO = PixelCalibration((2.0, 0.5), SpacingSource.PATIENT)  # rows 2 mm apart, columns 0.5 mm


def test_length_uses_row_and_column_spacing() -> None:
    # 4 columns x 0.5 mm = 2 mm across, 3 rows x 2 mm = 6 mm down
    assert length_mm((1.0, 1.0), (5.0, 4.0), ANISO) == pytest.approx(math.sqrt(40.0), rel=1e-12)
    assert length_mm((1.0, 1.0), (5.0, 4.0)) == pytest.approx(5.0, rel=1e-12)  # pixels
    assert length_mm((2.25, 7.5), (2.25, 7.5), ANISO) == 0.0


def test_angle_in_physical_space() -> None:
    assert angle_deg((1, 0), (0, 0), (0, 1)) == pytest.approx(90.0, abs=1e-12)
    assert angle_deg((3, 3), (1, 1), (-1, 1)) == pytest.approx(135.0, abs=1e-12)
    assert angle_deg((2, 0), (0, 0), (-5, 0)) == pytest.approx(180.0, abs=1e-12)
    # 45° on the pixel grid is atan(2 / 0.5 · 1) = 75.96° on the patient with ANISO
    assert angle_deg((1, 1), (0, 0), (1, 0), ANISO) == pytest.approx(
        math.degrees(math.atan2(2.0, 0.5)), abs=1e-12
    )
    with pytest.raises(MeasurementError, match="zero length"):
        angle_deg((0, 0), (0, 0), (1, 0))


def endplate(center: tuple[float, float], tilt_deg: float, half_mm: float, cal: PixelCalibration):
    """A line through ``center`` (pixels) tilted by ``tilt_deg`` in physical space."""
    t = math.radians(tilt_deg)
    dc = half_mm * math.cos(t) / cal.spacing[1]
    dr = half_mm * math.sin(t) / cal.spacing[0]
    return ((center[0] - dc, center[1] - dr), (center[0] + dc, center[1] + dr))


@pytest.mark.parametrize(
    ("upper", "lower", "cobb", "acute"),
    [
        (15.0, -15.0, 30.0, 30.0),
        (10.0, 10.0, 0.0, 0.0),  # tilted spine, no curve
        (55.0, -55.0, 110.0, 70.0),  # severe curve: over 90°
        (80.0, -20.0, 100.0, 80.0),
        (-30.0, 12.0, 42.0, 42.0),
    ],
)
@pytest.mark.parametrize("cal", [PixelCalibration.uncalibrated(), ANISO], ids=["px", "aniso"])
def test_cobb_angle(
    upper: float, lower: float, cobb: float, acute: float, cal: PixelCalibration
) -> None:
    line1 = endplate((100.0, 40.0), upper, 20.0, cal)
    line2 = endplate((110.0, 200.0), lower, 20.0, cal)
    assert cobb_angle_deg(line1, line2, cal) == pytest.approx(cobb, abs=1e-9)
    # Whichever end the user starts each line from, the angle is the same.
    assert cobb_angle_deg(line1[::-1], line2, cal) == pytest.approx(cobb, abs=1e-9)
    assert cobb_angle_deg(line1, line2[::-1], cal) == pytest.approx(cobb, abs=1e-9)
    assert cobb_angle_deg(line1, line2, cal, spine_axis=None) == pytest.approx(acute, abs=1e-9)


def test_cobb_angle_follows_a_horizontal_spine_axis() -> None:
    """The same 110° curve on an image turned by 90°: the spine runs along the rows."""
    cal = PixelCalibration.uncalibrated()
    line1 = endplate((40.0, 100.0), 90.0 + 55.0, 20.0, cal)
    line2 = endplate((200.0, 100.0), 90.0 - 55.0, 20.0, cal)
    assert cobb_angle_deg(line1, line2, cal, spine_axis=(1.0, 0.0)) == pytest.approx(110, abs=1e-9)


# ---------------------------------------------------------------------------------------------
# ROIs: pixel centre inside the shape, boundary included

GRID = np.arange(100, dtype=np.int16).reshape(10, 10) * 3 - 50  # value = 30·row + 3·col - 50
CAL = PixelCalibration((0.5, 0.25), SpacingSource.PATIENT)


def grid_values(pixels: list[tuple[int, int]]) -> list[float]:
    return [float(GRID[r, c]) for c, r in pixels]


def test_rectangle_roi_counts_pixel_centres_inside_or_on_the_edge() -> None:
    # columns 2, 3, 4 (2 <= c <= 4.5) and rows 3, 4, 5 (3 <= r <= 5)
    expected = grid_values([(c, r) for r in (3, 4, 5) for c in (2, 3, 4)])
    for a, b in (((2.0, 3.0), (4.5, 5.0)), ((4.5, 5.0), (2.0, 3.0)), ((4.5, 3.0), (2.0, 5.0))):
        stats = rectangle_roi_stats(GRID, a, b, CAL)
        assert stats.pixel_count == 9
        assert stats.mean == pytest.approx(statistics.fmean(expected), rel=1e-12)
        assert stats.sd == pytest.approx(statistics.stdev(expected), rel=1e-12)  # ddof=1
        assert (stats.minimum, stats.maximum) == (min(expected), max(expected))
        assert stats.area == pytest.approx(2.5 * 0.25 * 2.0 * 0.5, rel=1e-12)
        assert stats.pixel_area == pytest.approx(9 * 0.125, rel=1e-12)
        assert stats.area_unit == "mm²"


def test_ellipse_roi_inclusion_rule() -> None:
    # ((c - 5)/2)² + (r - 5)² <= 1: row 5 holds columns 3..7, rows 4 and 6 only column 5
    pixels = [(c, 5) for c in range(3, 8)] + [(5, 4), (5, 6)]
    expected = grid_values(pixels)
    stats = ellipse_roi_stats(GRID, (5.0, 5.0), (2.0, 1.0), CAL)
    assert stats.pixel_count == 7
    assert stats.mean == pytest.approx(statistics.fmean(expected), rel=1e-12)
    assert stats.sd == pytest.approx(statistics.stdev(expected), rel=1e-12)
    assert stats.area == pytest.approx(math.pi * 2.0 * 0.25 * 1.0 * 0.5, rel=1e-12)
    assert stats.pixel_area == pytest.approx(7 * 0.125, rel=1e-12)


def test_roi_partly_outside_uses_the_pixels_inside_the_image() -> None:
    stats = ellipse_roi_stats(GRID, (0.0, 0.0), (1.5, 1.5))
    assert stats.pixel_count == 4  # (0,0) (1,0) (0,1) (1,1); 1² + 1² <= 2.25
    assert stats.area == pytest.approx(math.pi * 2.25, rel=1e-12)  # the drawn shape, in px²
    assert stats.area_unit == "px²"
    one = rectangle_roi_stats(GRID, (9.0, 9.0), (12.0, 12.0))
    assert (one.pixel_count, one.mean) == (1, float(GRID[9, 9]))
    assert math.isnan(one.sd)  # the sample SD of one value is undefined


def test_roi_errors() -> None:
    with pytest.raises(MeasurementError, match="no pixel centre"):
        ellipse_roi_stats(GRID, (20.0, 20.0), (3.0, 3.0))
    with pytest.raises(MeasurementError, match="no pixel centre"):
        rectangle_roi_stats(GRID, (2.2, 2.2), (2.8, 2.8))
    with pytest.raises(MeasurementError, match="positive"):
        ellipse_roi_stats(GRID, (5.0, 5.0), (0.0, 3.0))
    with pytest.raises(MeasurementError, match="2 dimensions"):
        ellipse_roi_stats(np.zeros((2, 10, 10)), (5.0, 5.0), (3.0, 3.0))
    with pytest.raises(MeasurementError, match="finite"):
        length_mm((math.nan, 0.0), (1.0, 1.0))
    assert issubclass(MeasurementError, WorkstationError)


# ---------------------------------------------------------------------------------------------
# Probe


def test_probe_nearest_pixel_and_patient_point() -> None:
    # Sagittal plane: rows run anterior-to-posterior (+y), columns to the feet (-z).
    inst = instance(
        CT,
        pixel_spacing=(2.0, 0.5),
        image_position_patient=(10.0, 20.0, 30.0),
        image_orientation_patient=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
    )
    result = probe(GRID, 3.49, 3.51, inst)
    assert result is not None
    assert (result.column, result.row, result.value) == (3, 4, float(GRID[4, 3]))
    assert result.patient_lps == pytest.approx((10.0, 21.5, 22.0), abs=1e-12)
    assert probe(GRID, 2.5, 4.0, inst).column == 3  # type: ignore[union-attr]  # halves go up
    assert probe(GRID, -0.4, 0.0, inst).column == 0  # type: ignore[union-attr]
    assert probe(GRID, -0.6, 0.0, inst) is None
    assert probe(GRID, 0.0, 9.6, inst) is None
    no_plane = probe(GRID, 1.0, 1.0, instance(DX, imager_pixel_spacing=(0.2, 0.2)))
    assert no_plane is not None and no_plane.patient_lps is None


# ---------------------------------------------------------------------------------------------
# Stored measurements


def test_measurements_round_trip_through_json() -> None:
    uid = "1.2.826.0.1.3680043.10.999.55"
    cal = PixelCalibration((0.2, 0.2), SpacingSource.DETECTOR)
    made = [
        length_measurement((1.0, 2.0), (4.0, 6.0), cal, uid),
        angle_measurement((1, 0), (0, 0), (0, 1), cal, uid, frame_number=3),
        cobb_measurement(((0, 0), (10, 0)), ((0, 20), (10, 25)), cal, uid),
        ellipse_measurement(GRID, (5.0, 5.0), (2.0, 1.0), cal, uid),
        rectangle_measurement(GRID, (9.0, 9.0), (9.0, 9.0), cal, uid),  # one pixel: SD NaN
        probe_measurement(GRID, 1.0, 2.0, instance(CT, rescale_type="HU"), 1),
    ]
    assert made[0].value == pytest.approx(1.0, rel=1e-12)  # 5 px × 0.2 mm
    assert (made[0].unit, made[0].label) == ("mm", "at detector")
    assert made[1].value == pytest.approx(90.0, abs=1e-12)
    assert made[2].value == pytest.approx(math.degrees(math.atan2(5, 10)), abs=1e-12)
    assert made[3].detail("pixel_count") == 7.0
    assert made[3].unit == "mm²"
    assert made[5] is not None and (made[5].value, made[5].unit) == (float(GRID[2, 1]), "HU")
    text = measurements_to_json([m for m in made if m is not None])
    json.loads(text)  # strict JSON: no NaN tokens
    back = measurements_from_json(text)
    assert [m.measurement_id for m in back] == [m.measurement_id for m in made if m]
    for a, b in zip(made, back, strict=True):
        assert a is not None
        assert (a.kind, a.points, a.unit, a.label, a.sop_instance_uid, a.frame_number) == (
            b.kind,
            b.points,
            b.unit,
            b.label,
            b.sop_instance_uid,
            b.frame_number,
        )
        assert b.value == a.value
        assert [k for k, _ in b.details] == [k for k, _ in a.details]
    assert math.isnan(back[4].detail("sd"))  # type: ignore[arg-type]
    assert back[4].detail("mean") == float(GRID[9, 9])
    assert back[1].frame_number == 3


def test_bad_stored_measurements_raise() -> None:
    good = length_measurement((0, 0), (1, 1), PixelCalibration.uncalibrated(), "1.2").to_json()
    with pytest.raises(MeasurementError, match="lacks the key 'unit'"):
        Measurement.from_json({k: v for k, v in good.items() if k != "unit"})
    with pytest.raises(MeasurementError, match="malformed"):
        Measurement.from_json({**good, "kind": "volume"})
    with pytest.raises(MeasurementError, match="has 2 points, not 1"):
        Measurement.from_json({**good, "points": [[0, 0]]})
    with pytest.raises(MeasurementError, match="'version' 9"):
        Measurement.from_json({**good, "version": 9})
    with pytest.raises(MeasurementError, match="not valid JSON"):
        measurements_from_json("[{")
    with pytest.raises(MeasurementError, match="1-based"):
        Measurement(MeasurementKind.PROBE, ((0.0, 0.0),), 1.0, "", "", "1.2", frame_number=0)
