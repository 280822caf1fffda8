"""The measurement list docked beside the viewer, on the demo head CT, offscreen.

The panel is added to the main window exactly as the integration lines do (a dock on the right
and a :class:`MainWindowBinding`). A length drawn across 40 image pixels of 0.45 mm must list as
18.0 mm on the haematoma's image; dragging its handle must change the listed value before the
release; a name typed into the list must be stored and drawn on the image; selecting the row
must bring its image back; Delete must remove it everywhere. MPR measurements are listed with
their plane and shown again in the MPR view.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from support import clear_reader_annotations

from workstation.archive.local import LocalArchive
from workstation.demo import CT_HEAD, MR_BRAIN
from workstation.demo.studies import HEAD_HAEMATOMA_CENTER_LPS
from workstation.ui.main_window import MainWindow
from workstation.ui.measurement_panel import NAME, MainWindowBinding, MeasurementPanel
from workstation.ui.theme import apply_dark_theme
from workstation.viewer.tools import Tool

SERIES = CT_HEAD.series[0]
PIXEL_MM = SERIES.pixel_spacing_mm[1]  # 0.45 mm


def haematoma_slice() -> int:
    """0-based index of the haematoma's slice in the series as the stack shows it (along +z)."""
    _, _, k = SERIES.lps_to_pixel(HEAD_HAEMATOMA_CENTER_LPS)
    z = np.array([p[2] for p in SERIES.image_position_patient])
    return int(np.argsort(np.argsort(z))[round(k)])


@pytest.fixture
def window(qtbot, demo_store: Path, qapp):
    apply_dark_theme(qapp)
    clear_reader_annotations(demo_store)
    archive = LocalArchive(demo_store)
    win = MainWindow(archive)
    qtbot.addWidget(win)
    # the window docks its own panel (MainWindow.__init__)
    assert isinstance(win.measurement_panel, MeasurementPanel)
    assert win.measurement_dock.widget() is win.measurement_panel
    assert isinstance(win.measurement_binding, MainWindowBinding)
    assert win.measurement_dock.isHidden()  # a 1400-pixel window keeps its width for images
    win.measurement_dock.show()  # View > Measurements
    win.resizeDocks([win.measurement_dock], [520], Qt.Orientation.Horizontal)
    win.resize(1600, 900)
    win.show()
    qtbot.waitExposed(win)
    win.open_study(CT_HEAD.study_instance_uid)
    win.viewport.model.go_to(haematoma_slice())
    yield win
    win.close()
    archive.close()


def draw_length(vp, p0, p1):
    m = vp.model
    m.set_tool(Tool.LENGTH)
    m.tool_press(p0, 1.0)
    m.tool_move(p1)
    return m.tool_release(p1)


def centre_pixel() -> tuple[float, float]:
    col, row, _ = SERIES.lps_to_pixel(HEAD_HAEMATOMA_CENTER_LPS)
    return (round(col), round(row))


def test_list_edit_live_rename_jump_and_delete(window, qtbot, artifact_dir):
    panel: MeasurementPanel = window.measurement_panel
    vp = window.viewport
    k = haematoma_slice()
    assert panel.study_instance_uid == CT_HEAD.study_instance_uid
    assert panel.rows == [] and panel.empty_label.isVisibleTo(panel)

    c, r = centre_pixel()
    made = draw_length(vp, (c - 20, r), (c + 20, r))
    assert made is not None
    (row,) = panel.rows
    where = f"Se {SERIES.series_number} {SERIES.series_description} · Im {k + 1}/150"
    assert (row.name, row.kind, row.value, row.where) == ("", "Length", "18.0 mm", where)
    assert [panel.table.item(0, col).text() for col in range(4)] == ["", "Length", "18.0 mm", where]
    assert panel.selected_id == made.measurement_id  # drawn, so selected on the image

    # Drag the right handle 20 pixels further: the list follows before the mouse is released.
    m = vp.model
    m.set_tool(Tool.WINDOW)
    m.tool_press((c + 20, r), 1.0, hit_tolerance_mm=2.0)
    m.tool_move((c + 40, r))
    assert panel.table.item(0, 2).text() == "27.0 mm"
    assert window.archive.measurements(CT_HEAD.study_instance_uid)[0].value == pytest.approx(18.0)
    m.tool_release((c + 40, r))
    (kept,) = window.archive.measurements(CT_HEAD.study_instance_uid)
    assert kept.value == pytest.approx(60 * PIXEL_MM, abs=1e-9)
    assert panel.rows[0].value == "27.0 mm"

    # Name it in the list: stored, and drawn beside the line.
    renamed: list[tuple[str, str]] = []
    panel.renamed.connect(lambda i, n: renamed.append((i, n)))
    panel.table.item(0, NAME).setText("  Haematoma  ")
    assert renamed == [(made.measurement_id, "Haematoma")]
    (kept,) = window.archive.measurements(CT_HEAD.study_instance_uid)
    assert kept.name == "Haematoma"
    assert [x.name for x in vp.model.measurements] == ["Haematoma"]
    assert panel.table.item(0, NAME).text() == "Haematoma"
    vp.scene.render()
    assert vp.scene.label_text == ["Haematoma: 27.0 mm"]
    # A name too long is refused and the old one stays.
    messages: list[str] = []
    panel.status_message.connect(messages.append)
    panel.table.item(0, NAME).setText("x" * 80)
    assert panel.table.item(0, NAME).text() == "Haematoma"
    assert "at most 64 characters" in messages[-1]

    shot = window.screenshot()
    assert shot.save(str(artifact_dir / "measurement_panel.png"))

    # Select the row elsewhere in the stack: the viewport goes back to its image.
    m.go_to(0)
    m.select(None)
    panel.select_measurement(None)
    activated: list = []
    panel.activated.connect(activated.append)
    panel.table.selectRow(0)
    assert [a.measurement_id for a in activated] == [made.measurement_id]
    assert m.index == k and m.selected_id == made.measurement_id

    # The active viewport shows another study: selecting the row opens the series again.
    window.open_series(MR_BRAIN.series[0].series_instance_uid)
    panel.select_measurement(None)
    panel.table.selectRow(0)
    shown = window.viewport.model
    assert shown.stack.series.series_instance_uid == SERIES.series_instance_uid
    assert shown.index == k and shown.selected_id == made.measurement_id

    # Delete in the list: gone from the store and from the image.
    deleted: list[str] = []
    panel.deleted.connect(deleted.append)
    panel.table.setFocus()
    qtbot.keyClick(panel.table, Qt.Key.Key_Delete)
    assert deleted == [made.measurement_id]
    assert window.archive.measurements(CT_HEAD.study_instance_uid) == []
    assert window.viewport.model.measurements == [] and panel.rows == []


def test_selecting_on_the_image_selects_the_row(window):
    panel = window.measurement_panel
    vp = window.viewport
    c, r = centre_pixel()
    first = draw_length(vp, (c - 10, r), (c + 10, r))
    second = draw_length(vp, (c, r - 10), (c, r + 12))
    # same image: the row order falls back to the points, leftmost first
    assert [x.value for x in panel.rows] == ["9.0 mm", "9.9 mm"]
    assert panel.selected_id == second.measurement_id
    vp.model.tool_press((c - 10, r), 1.0, hit_tolerance_mm=2.0)  # grab the first one's handle
    vp.model.tool_release((c - 10, r))
    assert panel.selected_id == first.measurement_id


def test_a_name_survives_a_handle_drag(window):
    panel = window.measurement_panel
    vp = window.viewport
    c, r = centre_pixel()
    made = draw_length(vp, (c - 20, r), (c + 20, r))
    assert panel.rename(made.measurement_id, "Haematoma")
    vp.model.set_tool(Tool.WINDOW)
    vp.model.tool_press((c + 20, r), 1.0, hit_tolerance_mm=2.0)
    vp.model.tool_release((c + 30, r))
    (kept,) = window.archive.measurements(CT_HEAD.study_instance_uid)
    assert (kept.name, round(kept.value, 1)) == ("Haematoma", 22.5)


def test_mpr_measurements_are_listed_shown_renamed_and_deleted(window, qtbot, artifact_dir):
    panel = window.measurement_panel
    assert window.open_mpr() is True
    mpr = window.mpr_view
    assert mpr.stores_measurements  # the binding gave the MPR view the store
    mpr.model.set_crosshair(HEAD_HAEMATOMA_CENTER_LPS)
    axial = mpr.viewport("axial")
    mpr.render_all()
    grid = axial.scene.grid
    pm = mpr.measure(axial, "length", (100.0, 120.0), (160.0, 200.0))
    assert pm is not None
    assert pm.measurement.value == pytest.approx(100.0 * grid.spacing_mm, abs=1e-9)
    (row,) = panel.rows
    z = HEAD_HAEMATOMA_CENTER_LPS[2]
    assert row.value == f"{100.0 * grid.spacing_mm:.1f} mm"
    assert row.where == (
        f"Se {SERIES.series_number} {SERIES.series_description} · MPR axial "
        f"{'S' if z >= 0 else 'I'} {abs(z):.1f} mm"
    )
    # Scroll away and back to the 2D viewer, then pick the row: the MPR shows its plane again.
    mpr.model.scroll("axial", 12.0)
    assert mpr.model.measurements_on(mpr.viewport("axial").current_grid()) == []
    window.tabs.setCurrentIndex(1)
    panel.table.selectRow(0)
    assert window.tabs.currentWidget() is mpr
    assert mpr.model.selected_id == pm.measurement_id
    assert mpr.model.measurements_on(mpr.viewport("axial").current_grid()) != []
    assert panel.rename(pm.measurement_id, "Bleed")
    assert mpr.model.measurements[0].measurement.name == "Bleed"
    mpr.render_all()
    assert "Bleed: " in axial.scene.corner_text["bottom_right"]
    assert panel.delete_measurement(pm.measurement_id)
    assert mpr.model.measurements == []
    assert window.archive.measurements(CT_HEAD.study_instance_uid) == []
