"""The 2D view model: display transform arithmetic, view state, presets, tools, measurements."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from workstation.core.measure import MeasurementKind
from workstation.viewer.pixels import Window, auto_window
from workstation.viewer.stack import ImageStack
from workstation.viewer.stack_view import (
    DisplayTransform,
    StackViewModel,
    format_lps,
    view_matrix,
)
from workstation.viewer.tools import Tool

ALL_VIEWS = list(itertools.product((0, 90, 180, 270), (False, True), (False, True)))


def matmul(a, b):
    return tuple(
        tuple(sum(a[i][k] * b[k][j] for k in range(2)) for j in range(2)) for i in range(2)
    )


# ---------------------------------------------------------------------------------------------
# Display transform


def test_no_transform_is_pixel_for_pixel():
    t = DisplayTransform(rows=20, columns=30, spacing_mm=(0.5, 0.5), width=30, height=20)
    assert t.scale == pytest.approx(2.0)  # 2 display pixels per mm = 1 per image pixel
    # Pixel (c, r) covers display [c, c + 1) x [r, r + 1): its centre is at c + 0.5.
    assert t.image_to_display(0, 0) == pytest.approx((0.5, 0.5))
    assert t.image_to_display(29, 19) == pytest.approx((29.5, 19.5))
    assert t.display_to_image(10.5, 7.5) == pytest.approx((10.0, 7.0))


def test_rotation_moves_the_top_left_pixel_clockwise():
    base = {"rows": 20, "columns": 30, "spacing_mm": (1.0, 1.0), "width": 30, "height": 30}
    # Rotated 90° the 30 × 20 mm image is 20 wide and 30 high: fits 30 × 30 at 1 px/mm.
    t90 = DisplayTransform(**base, rotation=90)
    assert t90.scale == pytest.approx(1.0)
    assert t90.image_to_display(0, 0) == pytest.approx((24.5, 0.5))  # top-right corner
    assert t90.image_to_display(29, 0) == pytest.approx((24.5, 29.5))  # bottom-right
    t180 = DisplayTransform(**base, rotation=180)
    assert t180.image_to_display(0, 0) == pytest.approx((29.5, 24.5))
    flipped = DisplayTransform(**base, flip_h=True)
    assert flipped.image_to_display(0, 0) == pytest.approx((29.5, 5.5))
    flipped_v = DisplayTransform(**base, flip_v=True)
    assert flipped_v.image_to_display(0, 0) == pytest.approx((0.5, 24.5))


@pytest.mark.parametrize(("rotation", "flip_h", "flip_v"), ALL_VIEWS)
def test_display_to_image_inverts_image_to_display(rotation, flip_h, flip_v):
    t = DisplayTransform(
        rows=40,
        columns=64,
        spacing_mm=(0.8, 0.5),
        width=300,
        height=200,
        rotation=rotation,
        flip_h=flip_h,
        flip_v=flip_v,
        zoom=2.5,
        pan_mm=(3.0, -4.0),
    )
    for c, r in ((0, 0), (63, 39), (12.25, 30.5)):
        x, y = t.image_to_display(c, r)
        assert t.display_to_image(x, y) == pytest.approx((c, r), abs=1e-9)
    # A mm on the patient is the same number of display pixels in every direction.
    x0, y0 = t.image_to_display(10, 10)
    x1, y1 = t.image_to_display(12, 10)  # 1 mm along a row
    x2, y2 = t.image_to_display(10, 11.25)  # 1 mm along a column
    assert np.hypot(x1 - x0, y1 - y0) == pytest.approx(t.scale)
    assert np.hypot(x2 - x0, y2 - y0) == pytest.approx(t.scale)


def test_pan_follows_the_mouse_and_zoom_keeps_the_point_under_it():
    t = DisplayTransform(40, 64, (0.8, 0.5), 300, 200, rotation=90, flip_h=True, zoom=2.0)
    before = t.image_to_display(5, 7)
    moved = DisplayTransform(
        40, 64, (0.8, 0.5), 300, 200, rotation=90, flip_h=True, zoom=2.0,
        pan_mm=t.pan_after_drag(12.0, -7.0),
    )  # fmt: skip
    after = moved.image_to_display(5, 7)
    assert (after[0] - before[0], after[1] - before[1]) == pytest.approx((12.0, -7.0))
    under = t.display_to_image(50.0, 60.0)
    zoomed = DisplayTransform(
        40, 64, (0.8, 0.5), 300, 200, rotation=90, flip_h=True, zoom=5.0,
        pan_mm=t.pan_for_zoom_about(50.0, 60.0, 5.0),
    )  # fmt: skip
    assert zoomed.display_to_image(50.0, 60.0) == pytest.approx(under)


@pytest.mark.parametrize(("rotation", "flip_h", "flip_v"), ALL_VIEWS)
def test_rotating_a_flipped_view_turns_what_the_user_sees(rotation, flip_h, flip_v):
    m = StackViewModel()
    m.rotation, m.flip_h, m.flip_v = rotation, flip_h, flip_v
    before = view_matrix(m.rotation, m.flip_h, m.flip_v)
    m.rotate(90)
    # The new view is the old one turned 90° clockwise on the screen: R90 · M.
    assert view_matrix(m.rotation, m.flip_h, m.flip_v) == matmul(view_matrix(90), before)
    m.flip_horizontal()
    assert view_matrix(m.rotation, m.flip_h, m.flip_v) == matmul(
        ((-1, 0), (0, 1)), matmul(view_matrix(90), before)
    )


def test_format_lps_uses_patient_letters():
    assert format_lps((-36.0, -9.0, 20.0)) == "R 36.0 A 9.0 S 20.0 mm"
    assert format_lps((12.25, 4.0, -3.0)) == "L 12.2 P 4.0 I 3.0 mm"


# ---------------------------------------------------------------------------------------------
# The model on a real file


@pytest.fixture
def ct_stack(write_image) -> ImageStack:
    rows, cols = np.mgrid[0:40, 0:50]
    stored = (cols + 10 * rows + 1024).astype(np.int64)  # HU = column + 10 × row
    path = write_image(
        pixels=stored,
        study_uid="1.2.826.0.1.3680043.10.999.1",
        series_uid="1.2.826.0.1.3680043.10.999.1.1",
        sop_uid="1.2.826.0.1.3680043.10.999.1.1.1",
        instance_number=7,
        position=(-100.0, -50.0, 20.0),
        spacing=(0.5, 0.7),
        rescale_intercept=-1024,
        window=(40, 400),
    )
    return ImageStack.from_file(path)


def counting(model: StackViewModel) -> list[int]:
    calls: list[int] = []
    model.changed.connect(lambda: calls.append(1))
    return calls


def test_view_state_changes_emit_and_reset_restores(ct_stack):
    m = StackViewModel()
    m.set_stack(ct_stack)
    calls = counting(m)
    m.set_zoom(2.0)
    m.set_pan((1.0, 2.0))
    m.rotate(90)
    m.rotate(-180)
    m.flip_horizontal()
    m.flip_vertical()
    m.toggle_invert()
    m.set_window(Window(100, 50))
    m.set_tool(Tool.LENGTH)
    assert len(calls) == 9
    assert (m.zoom, m.pan_mm, m.rotation, m.flip_h, m.flip_v, m.invert) == (
        2.0, (1.0, 2.0), 270, True, True, True,
    )  # fmt: skip
    m.reset()
    assert len(calls) == 10
    assert (m.zoom, m.pan_mm, m.rotation, m.flip_h, m.flip_v, m.invert) == (
        1.0, (0.0, 0.0), 0, False, False, False,
    )  # fmt: skip
    assert m.window == Window(40, 400)
    with pytest.raises(ValueError):
        m.rotate(45)


def test_invert_is_the_complement_of_the_display(ct_stack):
    m = StackViewModel()
    m.set_stack(ct_stack)
    plain = m.display()
    m.toggle_invert()
    assert np.array_equal(m.display(), 255 - plain)
    assert "Inverted" in m.corner_texts()["bottom_right"].splitlines()


def test_presets_by_number_key(ct_stack):
    m = StackViewModel()
    m.set_stack(ct_stack)
    assert m.apply_preset(1)
    assert (m.window.center, m.window.width, m.window.explanation) == (40.0, 80.0, "Brain")
    assert m.apply_preset(5)
    assert (m.window.center, m.window.width) == (-600.0, 1500.0)
    assert m.corner_texts()["bottom_right"].splitlines()[0] == "W 1500 L -600 Lung"
    m.invert = True
    assert m.apply_preset(4) and not m.invert  # a preset sets the inversion it names


def test_auto_preset_takes_the_window_from_the_image(write_image):
    path = write_image(
        pixels=np.arange(32 * 32).reshape(32, 32) % 700,
        study_uid="1.2.826.0.1.3680043.10.999.2",
        series_uid="1.2.826.0.1.3680043.10.999.2.1",
        sop_uid="1.2.826.0.1.3680043.10.999.2.1.1",
        modality="MR",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.4",
    )
    stack = ImageStack.from_file(path)
    m = StackViewModel()
    m.set_stack(stack)
    assert m.apply_preset(1)
    expected = auto_window(stack.values(0), "MONOCHROME2")
    assert (m.window.center, m.window.width) == (expected.center, expected.width)
    assert not m.apply_preset(9)  # MR has no preset 9
    # No window stored in the file: W cycles the modality's presets instead.
    m.cycle_file_window()
    assert m.window.explanation == "Auto"


def test_length_by_drag_gives_the_exact_millimetres(ct_stack):
    m = StackViewModel()
    m.set_stack(ct_stack)
    got: list[list] = []
    m.measurements_changed.connect(got.append)
    m.set_tool(Tool.LENGTH)
    m.tool_press((10, 20))
    m.tool_move((12, 22))
    assert m.preview is not None and m.drawing
    made = m.tool_release((13, 24))
    assert made is not None and made.value == pytest.approx(2.9, abs=1e-12)
    assert made.sop_instance_uid == "1.2.826.0.1.3680043.10.999.1.1.1"
    assert m.measurements == [made] and got == [[made]]
    assert m.measurements_on_image() == [made]
    assert m.selected_id == made.measurement_id and not m.drawing


def test_escape_cancels_then_leaves_the_tool(ct_stack):
    m = StackViewModel()
    m.set_stack(ct_stack)
    m.set_tool(Tool.ANGLE)
    m.tool_press((0, 0))
    m.tool_release((5, 0))
    assert m.drawing
    assert m.cancel_tool() and not m.drawing and m.tool is Tool.ANGLE
    assert m.cancel_tool() and m.tool is Tool.WINDOW
    assert m.measurements == []


def test_grabbing_a_handle_edits_the_same_measurement(ct_stack):
    m = StackViewModel()
    m.set_stack(ct_stack)
    m.set_tool(Tool.LENGTH)
    m.tool_press((10, 10))
    first = m.tool_release((20, 10))
    assert first.value == pytest.approx(7.0)
    got: list[list] = []
    m.measurements_changed.connect(got.append)
    m.tool_press((20.3, 10.2), hit_tolerance_mm=0.5)  # on the end handle
    m.tool_move((20, 15))
    edited = m.tool_release((20, 20))
    assert edited.measurement_id == first.measurement_id
    assert edited.value == pytest.approx(np.hypot(7.0, 5.0))
    assert len(m.measurements) == 1 and len(got) == 1


def test_delete_selected_measurement(ct_stack):
    m = StackViewModel()
    m.set_stack(ct_stack)
    m.set_tool(Tool.RECTANGLE)
    m.tool_press((2, 2))
    rect = m.tool_release((8, 6))
    assert rect.kind is MeasurementKind.RECTANGLE
    assert rect.detail("mean") == pytest.approx(5.0 + 10 * 4.0)  # centre of cols 2..8, rows 2..6
    assert m.delete_selected()
    assert m.measurements == [] and m.selected_id is None
    assert not m.delete_selected()


def test_failed_measurement_says_why_and_keeps_nothing(ct_stack):
    m = StackViewModel()
    m.set_stack(ct_stack)
    m.set_tool(Tool.ELLIPSE)
    m.tool_press((5, 5))
    assert m.tool_release((5, 9)) is None  # zero width
    assert "radii" in m.status and m.measurements == []


def test_probe_in_the_corner(ct_stack):
    m = StackViewModel()
    m.set_stack(ct_stack)
    m.set_tool(Tool.PROBE)
    m.tool_move((3.4, 5.6))  # no button: the probe follows the pointer
    assert m.probe_text() == "(3, 6) 63 HU\nR 97.9 A 47.0 S 20.0 mm"
    assert m.corner_texts()["bottom_right"].startswith("(3, 6) 63 HU\n")
    m.tool_press((10, 1))
    probe = m.tool_release((10, 1))
    assert probe.kind is MeasurementKind.PROBE and probe.value == 20.0
    m.scroll(1)  # one image only: nothing changes
    assert m.probe_result is not None


def test_corner_texts_hold_what_radiologists_expect(ct_stack):
    m = StackViewModel()
    m.set_stack(ct_stack)
    m.set_zoom(1.5)
    t = m.corner_texts()
    assert t["top_left"].splitlines() == ["Test, Patient", "TEST-1"]
    assert t["top_right"].splitlines() == ["2024-01-01 12:00:00"]
    assert t["bottom_left"].splitlines() == ["Se 1", "Im 1/1  #7"]
    assert t["bottom_right"].splitlines() == ["W 400 L 40", "Zoom 150%"]


def test_measurements_belong_to_the_study(ct_stack, write_image):
    m = StackViewModel()
    m.set_stack(ct_stack)
    m.set_tool(Tool.LENGTH)
    m.tool_press((0, 0))
    m.tool_release((10, 0))
    m.set_stack(ct_stack)  # same study again: kept
    assert len(m.measurements) == 1
    got: list[list] = []
    m.measurements_changed.connect(got.append)
    other = ImageStack.from_file(
        write_image(
            pixels=np.zeros((8, 8)),
            study_uid="1.2.826.0.1.3680043.10.999.3",
            series_uid="1.2.826.0.1.3680043.10.999.3.1",
            sop_uid="1.2.826.0.1.3680043.10.999.3.1.1",
        )
    )
    m.set_stack(other)
    assert m.measurements == [] and got == [[]]


def test_display_transform_of_the_model(ct_stack):
    m = StackViewModel()
    assert m.display_transform(100, 100) is None
    m.set_stack(ct_stack)
    m.rotate(90)
    t = m.display_transform(400, 300)
    assert (t.rows, t.columns, t.spacing_mm, t.rotation) == (40, 50, (0.5, 0.7), 90)
    # Rotated: 20 mm of rows across, 35 mm of columns down; 300 px / 35 mm limits.
    assert t.fit_scale == pytest.approx(300 / 35.0)
