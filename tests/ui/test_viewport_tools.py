"""The 2D viewport's tools driven by mouse and keys on the demo head CT, offscreen.

The demo haematoma is a sphere of 8 mm radius and 70 HU at a known patient position, so a
length drawn across it must read 16 mm and an ellipse inside it must average 70 HU; the
orientation letters and the place the haematoma is drawn must agree after each rotation
and flip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication
from support import clear_reader_annotations

from workstation.archive.local import LocalArchive
from workstation.core.measure import MeasurementKind
from workstation.demo import CT_HEAD
from workstation.demo.studies import HEAD_HAEMATOMA_CENTER_LPS
from workstation.ui.main_window import MainWindow
from workstation.ui.theme import apply_dark_theme
from workstation.viewer.pixels import Window, voi_lut
from workstation.viewer.tools import Tool, format_measurement

SERIES = CT_HEAD.series[0]
PIXEL_MM = SERIES.pixel_spacing_mm[1]  # 0.45 mm
HX, HY, HZ = HEAD_HAEMATOMA_CENTER_LPS


@pytest.fixture
def window(qtbot, demo_store: Path, qapp):
    apply_dark_theme(qapp)
    clear_reader_annotations(demo_store)
    archive = LocalArchive(demo_store)
    win = MainWindow(archive)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    win.open_study(CT_HEAD.study_instance_uid)
    vp = win.viewport
    _, _, k = SERIES.lps_to_pixel(HEAD_HAEMATOMA_CENTER_LPS)
    vp.model.go_to(round(k))
    yield win
    win.close()
    archive.close()


def mouse(widget, kind: QEvent.Type, pos: QPoint, button, buttons) -> None:
    local = QPointF(pos)
    ev = QMouseEvent(
        kind, local, QPointF(widget.mapToGlobal(pos)), button, buttons, Qt.KeyboardModifier(0)
    )
    QApplication.sendEvent(widget, ev)


def drag(widget, start: QPoint, end: QPoint, button=Qt.MouseButton.LeftButton, steps=6) -> None:
    """Press at ``start``, move in steps with the button held, release at ``end``."""
    none = Qt.MouseButton.NoButton
    mouse(widget, QEvent.Type.MouseButtonPress, start, button, button)
    for i in range(1, steps + 1):
        p = start + (end - start) * (i / steps)
        mouse(widget, QEvent.Type.MouseMove, p, none, button)
    mouse(widget, QEvent.Type.MouseButtonRelease, end, button, none)


def wheel(widget, pos: QPoint, notches: int, ctrl: bool = False) -> None:
    ev = QWheelEvent(
        QPointF(pos),
        QPointF(widget.mapToGlobal(pos)),
        QPoint(0, 0),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.ControlModifier if ctrl else Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, ev)


def at_lps(vp, lps: tuple[float, float, float]) -> QPoint:
    """The widget pixel (as a mouse reports it) showing a patient point of the haematoma slice."""
    col, row, _ = SERIES.lps_to_pixel(lps)
    p = vp.image_to_widget(col, row)
    return QPoint(round(p.x()), round(p.y()))


def patch_mean(rgb: np.ndarray, vp, lps: tuple[float, float, float]) -> float:
    """Mean grey of the 5 × 5 screen pixels around a patient point (red channel)."""
    col, row, _ = SERIES.lps_to_pixel(lps)
    x, y = vp.transform().image_to_display(col, row)
    xi, yi = int(x), int(y)
    return float(rgb[yi - 2 : yi + 3, xi - 2 : xi + 3, 0].mean())


def grey(hu: float, window: Window) -> int:
    return int(voi_lut(np.array([hu]), window)[0])


def test_length_ellipse_and_probe_on_the_haematoma(window, qtbot, artifact_dir):
    vp = window.viewport
    m = vp.model
    assert m.stack.frames[m.index].instance.image_position_patient[2] == pytest.approx(HZ)
    changed: list[list] = []
    vp.measurements_changed.connect(changed.append)
    # Zoom in about the haematoma as a reader would before measuring it (1.1 per notch).
    wheel(vp.vtk_widget, at_lps(vp, HEAD_HAEMATOMA_CENTER_LPS), 12, ctrl=True)
    assert m.zoom == pytest.approx(1.1**12)

    qtbot.keyClick(vp.vtk_widget, Qt.Key.Key_L)
    assert m.tool is Tool.LENGTH
    drag(vp.vtk_widget, at_lps(vp, (HX - 8.0, HY, HZ)), at_lps(vp, (HX + 8.0, HY, HZ)))
    (length,) = m.measurements
    assert length.kind is MeasurementKind.LENGTH and length.unit == "mm"
    assert length.value == pytest.approx(16.0, abs=PIXEL_MM)  # the sphere's diameter

    qtbot.keyClick(vp.vtk_widget, Qt.Key.Key_E)
    drag(vp.vtk_widget, at_lps(vp, (HX - 5.0, HY - 5.0, HZ)), at_lps(vp, (HX + 5.0, HY + 5.0, HZ)))
    assert len(m.measurements) == 2
    ellipse = m.measurements[1]
    assert ellipse.kind is MeasurementKind.ELLIPSE
    assert ellipse.detail("mean") == pytest.approx(70.0, abs=1.0)
    # A 5 mm radius disc holds pi * (5 / 0.45)^2 = 388 pixels, give or take the clicks' rounding.
    assert ellipse.detail("pixel_count") == pytest.approx(np.pi * (5.0 / PIXEL_MM) ** 2, rel=0.1)
    assert [len(c) for c in changed] == [1, 2]
    assert changed[-1] == m.measurements

    # The labels drawn are the values measured, HU for the ROI.
    assert vp.scene.label_text == [
        format_measurement(length, "HU"),
        format_measurement(ellipse, "HU"),
    ]
    assert vp.scene.label_text[0] == f"{length.value:.1f} mm"
    assert vp.scene.label_text[1].startswith(f"Mean {ellipse.detail('mean'):.1f} SD ")

    # The line is drawn where it was placed: between the ellipse and the sphere's edge.
    rgb = vp.scene.capture()
    col, row, _ = SERIES.lps_to_pixel((HX - 6.5, HY, HZ))
    x, y = vp.transform().image_to_display(col, row)
    near = rgb[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3].astype(int)
    assert ((near[..., 0] - near[..., 2]) > 100).any()  # the yellow of a measurement line

    # The probe follows the pointer and names value and patient position.
    qtbot.keyClick(vp.vtk_widget, Qt.Key.Key_P)
    centre = at_lps(vp, HEAD_HAEMATOMA_CENTER_LPS)
    mouse(
        vp.vtk_widget,
        QEvent.Type.MouseMove,
        centre,
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
    )
    probe = m.probe_result
    assert probe is not None and probe.value == pytest.approx(70.0, abs=15.0)  # 5 SD of noise
    assert np.allclose(probe.patient_lps, HEAD_HAEMATOMA_CENTER_LPS, atol=PIXEL_MM)
    assert vp.scene.corner_text["bottom_right"].startswith(f"({probe.column}, {probe.row}) ")
    assert " HU\nR 3" in vp.scene.corner_text["bottom_right"]  # right hemisphere, x = -36

    # The viewport's own buffer: what the reader sees, whatever the window around it.
    shot = vp.capture()
    assert (shot.width(), shot.height()) == tuple(vp.render_window.GetSize())
    assert shot.save(str(artifact_dir / "ui_viewport_measurements.png"))

    # Esc leaves the probe; Delete removes the selected (last) measurement.
    qtbot.keyClick(vp.vtk_widget, Qt.Key.Key_Escape)
    assert m.tool is Tool.WINDOW
    qtbot.keyClick(vp.vtk_widget, Qt.Key.Key_Delete)
    assert m.measurements == [length] and changed[-1] == [length]


def test_click_click_angle_and_escape(window, qtbot):
    vp = window.viewport
    m = vp.model
    qtbot.keyClick(vp.vtk_widget, Qt.Key.Key_A)
    a = at_lps(vp, (HX - 10.0, HY, HZ))
    v = at_lps(vp, (HX, HY, HZ))
    b = at_lps(vp, (HX, HY - 10.0, HZ))
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    for p in (a, v):
        mouse(vp.vtk_widget, QEvent.Type.MouseButtonPress, p, left, left)
        mouse(vp.vtk_widget, QEvent.Type.MouseButtonRelease, p, left, none)
    # Two points fixed; the third follows the pointer, which is still on the vertex.
    assert m.drawing and len(m.preview_points()) == 3
    assert m.preview_points()[2] == m.preview_points()[1]
    qtbot.keyClick(vp.vtk_widget, Qt.Key.Key_Escape)  # cancels the half-drawn angle
    assert not m.drawing and m.measurements == [] and m.tool is Tool.ANGLE
    for p in (a, v, b):
        mouse(vp.vtk_widget, QEvent.Type.MouseButtonPress, p, left, left)
        mouse(vp.vtk_widget, QEvent.Type.MouseButtonRelease, p, left, none)
    (angle,) = m.measurements
    assert angle.value == pytest.approx(90.0, abs=3.0)  # a pixel off over 10 mm is 2.6°
    assert vp.scene.label_text == [f"{angle.value:.1f}°"]


# (left, right, top, bottom) letters of an axial image after each key, in order.
VIEW_STEPS = [
    (None, ("R", "L", "A", "P")),
    (Qt.Key.Key_H, ("L", "R", "A", "P")),
    (Qt.Key.Key_Period, ("P", "A", "L", "R")),
    (Qt.Key.Key_V, ("P", "A", "R", "L")),
    (Qt.Key.Key_R, ("R", "L", "A", "P")),
    (Qt.Key.Key_Comma, ("A", "P", "L", "R")),
    (Qt.Key.Key_Period, ("R", "L", "A", "P")),
    (Qt.Key.Key_V, ("R", "L", "P", "A")),
]


def test_rotate_and_flip_move_letters_and_image_together(window, qtbot, artifact_dir):
    vp = window.viewport
    m = vp.model
    win = m.window
    haematoma, brain = grey(70.0, win), grey(35.0, win)
    assert haematoma - brain > 100
    mirror = (-HX, HY, HZ)  # the same place in the left hemisphere: brain
    w, h = vp.render_window.GetSize()
    for key, (left, right, top, bottom) in VIEW_STEPS:
        if key is not None:
            qtbot.keyClick(vp.vtk_widget, key)
        letters = vp.scene.orientation_text
        assert (letters["left"], letters["right"], letters["top"], letters["bottom"]) == (
            left, right, top, bottom,
        ), key  # fmt: skip
        rgb = vp.scene.capture()
        # What the transform says is the haematoma is drawn as 70 HU; its mirror as brain.
        assert patch_mean(rgb, vp, HEAD_HAEMATOMA_CENTER_LPS) == pytest.approx(haematoma, abs=15)
        assert patch_mean(rgb, vp, mirror) == pytest.approx(brain, abs=15)
        # The haematoma (patient's right) is on the side the letter R names.
        col, row, _ = SERIES.lps_to_pixel(HEAD_HAEMATOMA_CENTER_LPS)
        x, y = vp.transform().image_to_display(col, row)
        side = {"left": x < w / 2, "right": x > w / 2, "top": y < h / 2, "bottom": y > h / 2}
        r_edge = next(e for e, t in letters.items() if t == "R")
        assert side[r_edge], (key, r_edge, x, y)
    assert vp.capture().save(str(artifact_dir / "ui_viewport_rotated_flipped.png"))


def test_keys_presets_invert_zoom_and_pan(window, qtbot):
    vp = window.viewport
    m = vp.model
    w = vp.vtk_widget
    qtbot.keyClick(w, Qt.Key.Key_4)
    assert (m.window.center, m.window.width, m.window.explanation) == (400.0, 1800.0, "Bone")
    assert vp.scene.corner_text["bottom_right"].startswith("W 1800 L 400 Bone")
    qtbot.keyClick(w, Qt.Key.Key_W)  # the file's next window: BONE 600/2800
    assert (m.window.center, m.window.width) == (600.0, 2800.0)
    qtbot.keyClick(w, Qt.Key.Key_I)
    assert m.invert and "Inverted" in vp.scene.corner_text["bottom_right"]

    # Ctrl+wheel zooms about the pointer: the image point under it stays there.
    pos = at_lps(vp, HEAD_HAEMATOMA_CENTER_LPS)
    before = vp.widget_to_image(QPointF(pos))
    wheel(w, pos, 2, ctrl=True)
    assert m.zoom == pytest.approx(1.21)
    assert vp.widget_to_image(QPointF(pos)) == pytest.approx(before, abs=1e-6)
    assert vp.scene.corner_text["bottom_right"].splitlines()[-1] == "Zoom 121%"

    # Middle drag pans: the image follows the mouse pixel for pixel.
    start, end = QPoint(400, 300), QPoint(460, 260)
    under = vp.widget_to_image(QPointF(start))
    drag(w, start, end, Qt.MouseButton.MiddleButton)
    assert vp.widget_to_image(QPointF(end)) == pytest.approx(under, abs=1e-6)

    # The wheel alone scrolls, towards the user forward, stopping at the end.
    index = m.index
    wheel(w, pos, -3)
    assert m.index == index + 3

    # Right drag still windows; R resets everything.
    c0, w0 = m.window.center, m.window.width
    drag(w, QPoint(300, 300), QPoint(310, 320), Qt.MouseButton.RightButton)
    assert (m.window.center, m.window.width) != (c0, w0)
    qtbot.keyClick(w, Qt.Key.Key_R)
    assert (m.zoom, m.pan_mm, m.invert, m.window.center, m.window.width) == (
        1.0, (0.0, 0.0), False, 40.0, 80.0,
    )  # fmt: skip
