"""The reading tools as state machines: clicks and drags in, exact measurements out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workstation.core.geometry import pixel_to_patient
from workstation.core.measure import (
    MeasurementError,
    MeasurementKind,
    PixelCalibration,
    SpacingSource,
)
from workstation.core.model import Instance
from workstation.viewer.tools import (
    Hit,
    ImageContext,
    PointCollector,
    corners_to_ellipse,
    format_measurement,
    handles,
    hit_test,
    measure,
    measure_tool_points,
    move_handle,
    outline,
    partial_outline,
)

CT = "1.2.840.10008.5.1.4.1.1.2"
DX = "1.2.840.10008.5.1.4.1.1.1.1"
IPP = (-100.0, -50.0, 20.0)
IOP = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def ct_instance(spacing: tuple[float, float] = (0.5, 0.7)) -> Instance:
    return Instance(
        "1.2.3.4",
        "1.2.3",
        CT,
        "1.2.840.10008.1.2.1",
        "f",
        rows=12,
        columns=10,
        pixel_spacing=spacing,
        image_position_patient=IPP,
        image_orientation_patient=IOP,
        rescale_type="HU",
    )


def context(spacing: tuple[float, float] = (0.5, 0.7)) -> ImageContext:
    inst = ct_instance(spacing)
    rows, cols = np.mgrid[0:12, 0:10]
    values = (cols + 100 * rows).astype(np.int16)  # every pixel's value says where it is
    return ImageContext(values, PixelCalibration.from_instance(inst, "CT"), inst, 1)


def run(collector: PointCollector, events: list[tuple[str, tuple[float, float]]]):
    """Feed (event, point) pairs; return what the last release returned."""
    out = None
    for kind, p in events:
        if kind == "press":
            collector.press(p)
        elif kind == "move":
            collector.move(p)
        else:
            out = collector.release(p)
    return out


# ---------------------------------------------------------------------------------------------
# State machines


def test_length_by_drag_and_by_two_clicks():
    c = PointCollector(MeasurementKind.LENGTH, click_tolerance=1.0)
    drag = [("press", (10, 20)), ("move", (11, 22)), ("release", (13, 24))]
    assert run(c, drag) == ((10.0, 20.0), (13.0, 24.0))
    assert not c.in_progress  # starts over after a measurement
    clicks = [("press", (10, 20)), ("release", (10.4, 20.3))]
    assert run(c, clicks) is None  # a click within tolerance fixes the first point only
    assert c.in_progress and c.points == ((10.0, 20.0),)
    c.move((12, 23))
    assert c.preview() == ((10.0, 20.0), (12.0, 23.0))  # rubber band follows the pointer
    assert run(c, [("press", (13, 24)), ("release", (13, 24))]) == ((10.0, 20.0), (13.0, 24.0))


def test_angle_by_drag_then_click_and_by_three_clicks():
    c = PointCollector(MeasurementKind.ANGLE)
    events = [("press", (0, 0)), ("release", (5, 0)), ("press", (5, 5)), ("release", (5, 6))]
    assert run(c, events) == ((0.0, 0.0), (5.0, 0.0), (5.0, 6.0))
    clicks = [(k, p) for p in ((1, 1), (4, 1), (4, 4)) for k in ("press", "release")]
    assert run(c, clicks) == ((1.0, 1.0), (4.0, 1.0), (4.0, 4.0))


def test_cobb_needs_two_separate_lines():
    c = PointCollector(MeasurementKind.COBB)
    first = [("press", (0, 0)), ("release", (10, 0))]
    assert run(c, first) is None
    # The third point starts the second line where it is pressed, not where it is released.
    second = [("press", (0, 10)), ("move", (5, 15)), ("release", (10, 20))]
    assert run(c, second) == ((0.0, 0.0), (10.0, 0.0), (0.0, 10.0), (10.0, 20.0))
    assert partial_outline(MeasurementKind.COBB, ((0, 0), (10, 0), (0, 10))) == [[(0, 0), (10, 0)]]


def test_probe_follows_the_pointer_and_lands_on_release():
    c = PointCollector(MeasurementKind.PROBE)
    c.press((2, 2))
    c.move((3, 3))
    assert c.preview() == ((3.0, 3.0),)
    assert c.release((4, 5)) == ((4.0, 5.0),)


def test_cancel_drops_the_half_drawn_measurement():
    c = PointCollector(MeasurementKind.ANGLE)
    run(c, [("press", (0, 0)), ("release", (5, 0))])
    assert c.in_progress
    c.cancel()
    assert not c.in_progress and c.preview() == ()
    assert c.release((1, 1)) is None  # a release without press does nothing


# ---------------------------------------------------------------------------------------------
# Values


def test_length_uses_row_and_column_spacing():
    m = measure_tool_points(MeasurementKind.LENGTH, ((10, 20), (13, 24)), context())
    # 3 columns × 0.7 mm and 4 rows × 0.5 mm: sqrt(2.1² + 2.0²) = 2.9 mm.
    assert m.value == pytest.approx(2.9, abs=1e-12)
    assert m.unit == "mm" and m.label == ""
    assert m.sop_instance_uid == "1.2.3.4" and m.frame_number == 1
    assert format_measurement(m) == "2.9 mm"


def test_angle_and_cobb_in_physical_space():
    ctx = context(spacing=(0.5, 1.0))
    # (10, 20) is 10 mm right and 10 mm down of the vertex on the patient: 45°.
    a = measure_tool_points(MeasurementKind.ANGLE, ((10, 0), (0, 0), (10, 20)), ctx)
    assert a.value == pytest.approx(45.0, abs=1e-9)
    assert format_measurement(a) == "45.0°"
    cobb = measure_tool_points(MeasurementKind.COBB, ((0, 0), (10, 0), (0, 10), (10, 30)), ctx)
    assert cobb.value == pytest.approx(math.degrees(math.atan2(10.0, 10.0)), abs=1e-9)
    assert format_measurement(cobb) == "Cobb 45.0°"


def test_ellipse_from_box_corners_and_its_statistics():
    ctx = context()
    m = measure_tool_points(MeasurementKind.ELLIPSE, ((8, 6), (2, 2)), ctx)
    assert m.points == ((5.0, 4.0), (3.0, 2.0))
    inside = [
        c + 100 * r
        for r in range(12)
        for c in range(10)
        if ((c - 5) / 3) ** 2 + ((r - 4) / 2) ** 2 <= 1.0
    ]
    assert m.detail("mean") == pytest.approx(sum(inside) / len(inside), abs=1e-9)
    assert m.detail("pixel_count") == len(inside)
    assert m.value == pytest.approx(math.pi * 3 * 0.7 * 2 * 0.5, abs=1e-12)
    assert m.unit == "mm²"
    text = format_measurement(m, "HU").splitlines()
    assert text[0] == f"Mean {sum(inside) / len(inside):.1f} SD {m.detail('sd'):.1f} HU"
    assert text[2] == f"Area {m.value:.1f} mm²"


def test_rectangle_any_corner_order():
    ctx = context()
    m = measure_tool_points(MeasurementKind.RECTANGLE, ((8, 6), (2, 2)), ctx)
    values = np.asarray(ctx.values)[2:7, 2:9]
    assert m.detail("mean") == pytest.approx(float(values.mean()), abs=1e-9)
    assert m.detail("min") == 202 and m.detail("max") == 608
    assert m.value == pytest.approx(6 * 0.7 * 4 * 0.5, abs=1e-12)


def test_probe_value_and_patient_position():
    ctx = context()
    m = measure_tool_points(MeasurementKind.PROBE, ((3.4, 5.6),), ctx)
    assert m.points == ((3.0, 6.0),)  # nearest pixel centre
    assert m.value == 603 and m.unit == "HU"
    assert format_measurement(m, "HU") == "603 HU"
    assert pixel_to_patient(IPP, IOP, (0.5, 0.7), 3, 6) == pytest.approx((-97.9, -47.0, 20.0))
    with pytest.raises(MeasurementError, match="outside the image"):
        measure_tool_points(MeasurementKind.PROBE, ((30.0, 5.0),), ctx)


def test_degenerate_shapes_raise_measurement_errors():
    with pytest.raises(MeasurementError):
        measure_tool_points(MeasurementKind.ELLIPSE, ((4, 4), (4, 8)), context())
    with pytest.raises(MeasurementError):
        measure_tool_points(MeasurementKind.ANGLE, ((1, 1), (1, 1), (3, 3)), context())


def test_detector_plane_label_follows_the_value():
    inst = Instance(
        "1.2.3.5", "1.2.3", DX, "1.2.840.10008.1.2.1", "f", imager_pixel_spacing=(0.2, 0.2)
    )
    cal = PixelCalibration.from_instance(inst, "DX")
    assert cal.source is SpacingSource.DETECTOR
    ctx = ImageContext(np.zeros((50, 50), np.uint16), cal, inst)
    m = measure_tool_points(MeasurementKind.LENGTH, ((0, 0), (30, 40)), ctx)
    assert m.value == pytest.approx(10.0, abs=1e-12)
    assert format_measurement(m) == "10.0 mm (at detector)"


# ---------------------------------------------------------------------------------------------
# Drawing, hits and editing


def test_outlines_handles_and_hits():
    ctx = context(spacing=(1.0, 1.0))
    line = measure(MeasurementKind.LENGTH, ((0, 0), (10, 0)), ctx)
    ell = measure(MeasurementKind.ELLIPSE, ((5, 8), (3, 2)), ctx)
    assert outline(line) == [[(0.0, 0.0), (10.0, 0.0)]]
    ring = outline(ell)[0]
    assert all(((c - 5) / 3) ** 2 + ((r - 8) / 2) ** 2 == pytest.approx(1.0) for c, r in ring)
    assert handles(ell) == [(2.0, 8.0), (8.0, 8.0), (5.0, 6.0), (5.0, 10.0)]
    ms = [line, ell]
    assert hit_test(ms, (10.4, 0.3), (1.0, 1.0), 1.0) == Hit(line.measurement_id, 1)
    assert hit_test(ms, (5.0, 0.8), (1.0, 1.0), 1.0) == Hit(line.measurement_id, None)
    assert hit_test(ms, (5.0, 1.5), (1.0, 1.0), 1.0) is None
    # Tolerance is in mm: with 0.25 mm rows, 3 rows off is 0.75 mm, inside 1 mm.
    assert hit_test(ms, (1.0, 3.0), (0.25, 1.0), 1.0) == Hit(line.measurement_id, None)
    assert hit_test(ms, (1.0, 3.0), (1.0, 1.0), 1.0) is None
    assert hit_test(ms, (8.2, 8.0), (1.0, 1.0), 0.5) == Hit(ell.measurement_id, 1)


def test_moving_a_handle_keeps_the_identity_and_remeasures():
    ctx = context(spacing=(1.0, 1.0))
    line = measure(MeasurementKind.LENGTH, ((0, 0), (3, 0)), ctx)
    moved = measure(line.kind, move_handle(line, 1, (3, 4)), ctx, line.measurement_id)
    assert moved.measurement_id == line.measurement_id
    assert moved.value == pytest.approx(5.0, abs=1e-12)
    ell = measure(MeasurementKind.ELLIPSE, ((5, 5), (2, 2)), ctx)
    assert move_handle(ell, 3, (9, 8)) == ((5.0, 5.0), (2.0, 3.0))
    assert move_handle(ell, 0, (1, 0)) == ((5.0, 5.0), (4.0, 2.0))


def test_corners_to_ellipse():
    assert corners_to_ellipse((8, 2), (2, 6)) == ((5.0, 4.0), (3.0, 2.0))
