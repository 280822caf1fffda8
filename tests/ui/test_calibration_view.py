"""The Calibrate tool in a real viewport on the demo DX chest lateral, and its screenshot.

The reader presses U, draws a line across the 25 mm coin and answers the length question;
the corner then says "Cal: user 0.182 mm/px", a length over the coin reads 25.0 mm "calibrated
by user" on the image and in the measurement list, and removing the calibration brings back
"corrected for magnification". The screenshot goes to test-output/ for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent

from workstation.archive.local import LocalArchive
from workstation.demo import iter_series_datasets
from workstation.demo.studies import DX_CHEST, LATERAL_COIN_CENTER_LPS, LATERAL_COIN_RADIUS_MM
from workstation.ui.measurement_panel import VALUE, MeasurementPanel
from workstation.ui.viewport import ImageViewport
from workstation.viewer.stack import ImageStack
from workstation.viewer.tools import Tool

LATERAL = DX_CHEST.series[1]
COL, ROW, _ = LATERAL.lps_to_pixel(LATERAL_COIN_CENTER_LPS)
R_PX = LATERAL_COIN_RADIUS_MM / LATERAL.pixel_spacing_mm[1]
COIN_LINE = ((COL - R_PX, ROW), (COL + R_PX, ROW))


@pytest.fixture
def dx(qtbot, tmp_path: Path):
    archive = LocalArchive(tmp_path / "store")
    for ds in iter_series_datasets(LATERAL, DX_CHEST):
        archive.add_dataset(ds)
    archive.commit()
    vp = ImageViewport()
    qtbot.addWidget(vp)
    vp.resize(700, 800)
    vp.show()
    qtbot.waitExposed(vp)
    vp.attach_store(archive)
    vp.set_stack(ImageStack.open(archive, LATERAL.series_instance_uid))
    yield vp, archive
    vp.close()
    archive.close()


def press_key(vp: ImageViewport, key: Qt.Key) -> None:
    ev = QKeyEvent(QKeyEvent.Type.KeyPress, key, Qt.KeyboardModifier.NoModifier)
    assert vp.handle_key(ev)


def test_calibrate_tool_in_the_viewport(dx, qtbot, artifact_dir: Path):
    vp, archive = dx
    asked: list[tuple[float, str]] = []

    def answer(current: float, unit: str) -> float:
        asked.append((round(current, 3), unit))
        return 25.0

    vp.ask_known_length = answer  # the reader types 25 into the dialog
    messages: list[str] = []
    changes: list[object] = []
    vp.status_message.connect(messages.append)
    vp.calibration_changed.connect(changes.append)
    press_key(vp, Qt.Key.Key_U)
    assert vp.model.tool is Tool.CALIBRATE
    m = vp.model
    t = vp.transform()
    assert t is not None and t.spacing_mm == (0.2, 0.2)  # laid out at the detector
    end_before = t.image_to_display(*COIN_LINE[1])
    m.tool_press(COIN_LINE[0])
    assert m.tool_release(COIN_LINE[1]) is None
    assert asked == [(25.0, "mm")]
    assert messages[-1] == "Calibrated by user (every image of the series): 0.182 mm/px"
    assert len(changes) == 1 and changes[0] is not None
    assert vp.scene.corner_text["bottom_left"].splitlines()[-1] == "Cal: user 0.182 mm/px"
    # The scale bar now uses the user's spacing, and the image has not moved on screen.
    t = vp.transform()
    assert t is not None and t.spacing_mm == pytest.approx((25.0 / 137.5, 25.0 / 137.5))
    assert t.image_to_display(*COIN_LINE[1]) == pytest.approx(end_before, abs=1e-6)

    press_key(vp, Qt.Key.Key_L)
    m.tool_press(COIN_LINE[0])
    length = m.tool_release(COIN_LINE[1])
    assert length is not None
    assert length.value == pytest.approx(25.0, abs=0.01)
    assert vp.scene.label_text == ["25.0 mm (calibrated by user)"]
    archive.save_measurement(DX_CHEST.study_instance_uid, length)

    panel = MeasurementPanel(archive)
    qtbot.addWidget(panel)
    panel.set_study(DX_CHEST.study_instance_uid)
    item = panel.table.item(0, VALUE)
    assert item.text() == "25.0 mm (calibrated by user)"
    assert item.toolTip() == "25.0 mm (calibrated by user)\nCalibrated by user: 0.182 mm/px"

    m.zoom = 2.5
    m.pan_mm = (0.0, -40.0)  # the coin near the centre
    m.set_pan(m.pan_mm)
    rgb = vp.scene.capture()
    out = artifact_dir / "calibrated_dx_lateral.png"
    vp.capture().save(str(out))
    assert out.stat().st_size > 10_000
    t = vp.transform()
    assert t is not None
    # The coin attenuates, so it shows white on this MONOCHROME1 display; the measurement
    # line crosses it at its centre row and is drawn in the selection colour (green).
    x, y = t.image_to_display(COL, ROW - 20.0)
    assert rgb[round(y), round(x)].min() > 200  # inside the coin, off the line
    x, y = t.image_to_display(COL, ROW)
    line_px = rgb[round(y), round(x)].astype(int)
    assert line_px[1] > 200 and line_px[0] < 150 and line_px[2] < 150

    assert vp.remove_calibration() is True
    assert messages[-1] == "User calibration removed: the file's spacing applies."
    assert changes[-1] is None
    assert vp.scene.label_text == ["25.0 mm (corrected for magnification)"]
    assert "Cal:" not in vp.scene.corner_text["bottom_left"]
    assert vp.remove_calibration() is False
    assert messages[-1] == "This image has no user calibration."


def test_a_cancelled_dialog_sets_nothing(dx):
    vp, archive = dx
    vp.ask_known_length = lambda current, unit: None
    vp.model.set_tool(Tool.CALIBRATE)
    vp.model.tool_press(COIN_LINE[0])
    vp.model.tool_release(COIN_LINE[1])
    assert vp.model.pending_calibration_line is None
    assert archive.user_calibrations(DX_CHEST.study_instance_uid) == []
    assert "Cal:" not in vp.scene.corner_text["bottom_left"]
