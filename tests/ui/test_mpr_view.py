"""The MPR widget offscreen: clicking in one view moves the other planes, rotating, measuring.

Mouse positions become reformatted pixels exactly (one screen pixel is one output pixel), so a
click at a pixel must put the crosshair on that pixel's LPS point, and the coronal and sagittal
planes must pass through it. Screenshots go to test-output/.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from workstation.archive.local import LocalArchive
from workstation.core.measure import MeasurementKind
from workstation.demo import CT_CHEST_ABDOMEN
from workstation.demo.studies import CHEST_LEFT_MARKER_CENTER_LPS, CHEST_LIVER_LESION_CENTER_LPS
from workstation.ui.mpr_view import MprView
from workstation.viewer.mpr import VIEWS, Slab, format_lps
from workstation.viewer.volume import assemble_series

CHEST = CT_CHEST_ABDOMEN.series[0]


@pytest.fixture(scope="module")
def chest_volume(demo_store: Path):
    archive = LocalArchive(demo_store)
    try:
        return assemble_series(archive, CHEST.series_instance_uid).volume
    finally:
        archive.close()


@pytest.fixture
def mpr(qtbot, chest_volume):
    view = MprView(
        chest_volume, window=(40.0, 400.0), series_instance_uid=CHEST.series_instance_uid
    )
    qtbot.addWidget(view)
    view.resize(1000, 820)
    view.show()
    qtbot.waitExposed(view)
    view.render_all()
    yield view
    view.close()


def qimage_to_array(img) -> np.ndarray:
    img = img.convertToFormat(img.Format.Format_RGB888)
    w, h = img.width(), img.height()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.bytesPerLine() * h)
    return buf.reshape(h, img.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


def pixel_of(viewport, point) -> QPoint:
    c, r, _ = viewport.scene.grid.lps_to_pixel(point)
    return QPoint(round(c), round(r))


def test_click_in_axial_moves_coronal_and_sagittal_to_the_point(mpr, qtbot, artifact_dir):
    lesion = np.asarray(CHEST_LIVER_LESION_CENTER_LPS)
    mpr.model.set_crosshair((0.0, 0.0, lesion[2]))  # the axial plane through the lesion
    axial, coronal, sagittal = (mpr.viewport(v) for v in VIEWS)
    axial_grid = axial.scene.grid
    assert axial_grid.size == axial.render_window.GetSize()
    pos = pixel_of(axial, lesion)
    with qtbot.waitSignal(mpr.crosshair_moved, timeout=2000) as moved:
        qtbot.mouseClick(axial.vtk_widget, Qt.MouseButton.LeftButton, pos=pos)
    expected = axial_grid.pixel_to_lps(pos.x(), pos.y())
    cross = np.asarray(mpr.model.crosshair_lps)
    assert cross == pytest.approx(expected, abs=1e-9)
    assert moved.args == pytest.approx(list(expected), abs=1e-9)
    assert cross[2] == pytest.approx(lesion[2], abs=1e-9)  # the click stays in the axial plane
    assert np.linalg.norm(cross[:2] - lesion[:2]) <= axial_grid.spacing_mm
    assert axial.scene.grid.isclose(axial_grid)  # the axial image did not move
    # the other two planes now pass through the clicked point
    assert coronal.scene.grid.plane.normal == pytest.approx((0, 1, 0))
    assert coronal.scene.grid.plane.signed_distance(cross) == pytest.approx(0.0, abs=1e-9)
    assert sagittal.scene.grid.plane.normal == pytest.approx((-1, 0, 0))
    assert sagittal.scene.grid.plane.signed_distance(cross) == pytest.approx(0.0, abs=1e-9)
    assert mpr.position_label.text() == format_lps(cross)
    # ... and show the lesion (120 HU in a 60 HU liver) under their crosshair
    for vp in (coronal, sagittal):
        c, r, _ = vp.scene.grid.lps_to_pixel(cross)
        assert 100.0 <= float(vp.scene.values()[round(r), round(c)]) <= 140.0
    assert mpr.viewport("axial").scene.labels["right"].GetInput() == "L"
    assert coronal.scene.labels["top"].GetInput() == "H"
    assert sagittal.scene.labels["left"].GetInput() == "A"
    shot = mpr.capture()
    assert shot.save(str(artifact_dir / "ui_mpr_chest_click.png"))
    arr = qimage_to_array(shot)
    assert arr.std() > 30


def test_ctrl_drag_turns_the_other_planes_oblique(mpr, qtbot):
    axial = mpr.viewport("axial")
    cross = pixel_of(axial, mpr.model.crosshair_lps)
    start, end = cross + QPoint(60, 0), cross + QPoint(60, 35)  # 30° clockwise on screen
    ctrl = Qt.KeyboardModifier.ControlModifier
    qtbot.mousePress(axial.vtk_widget, Qt.MouseButton.LeftButton, ctrl, start)
    qtbot.mouseMove(axial.vtk_widget, end)
    qtbot.mouseRelease(axial.vtk_widget, Qt.MouseButton.LeftButton, ctrl, end)
    m = mpr.model
    assert not m.is_oblique("axial") and m.is_oblique("coronal") and m.is_oblique("sagittal")
    # the turn is the angle the mouse swept around the crosshair's (fractional) pixel
    cc, cr, _ = axial.scene.grid.lps_to_pixel(m.crosshair_lps)
    turn = math.atan2(end.y() - cr, end.x() - cc) - math.atan2(start.y() - cr, start.x() - cc)
    assert math.degrees(turn) == pytest.approx(30.0, abs=1.0)
    assert m.plane("coronal").x_axis == pytest.approx(
        (math.cos(turn), math.sin(turn), 0.0), abs=1e-9
    )
    normals = np.array([m.plane(v).normal for v in VIEWS])
    assert normals @ normals.T == pytest.approx(np.eye(3), abs=1e-9)
    coronal = mpr.viewport("coronal")
    assert coronal.scene.labels["right"].GetInput() == "LP"
    assert "Oblique" in coronal.scene.corner_text["top_left"]
    qtbot.mouseClick(mpr.reset_button, Qt.MouseButton.LeftButton)
    assert not any(m.is_oblique(v) for v in VIEWS)
    assert coronal.scene.labels["right"].GetInput() == "L"


def test_length_and_roi_are_measured_in_mm_on_the_plane(mpr, qtbot):
    lesion = np.asarray(CHEST_LIVER_LESION_CENTER_LPS)
    mpr.model.set_crosshair(lesion)
    axial = mpr.viewport("axial")
    s = axial.scene.grid.spacing_mm
    mpr.set_tool("length")
    p0 = QPoint(100, 100)
    p1 = p0 + QPoint(60, 80)
    with qtbot.waitSignal(mpr.measurement_added, timeout=2000) as added:
        qtbot.mousePress(axial.vtk_widget, Qt.MouseButton.LeftButton, pos=p0)
        qtbot.mouseMove(axial.vtk_widget, p1)
        qtbot.mouseRelease(axial.vtk_widget, Qt.MouseButton.LeftButton, pos=p1)
    length = added.args[0]
    assert length.measurement.kind is MeasurementKind.LENGTH
    assert length.measurement.value == pytest.approx(100.0 * s, rel=1e-9)  # a 60-80-100 triangle
    a, b = np.asarray(length.points_lps)
    assert np.linalg.norm(b - a) == pytest.approx(length.measurement.value, rel=1e-9)
    assert length.to_json()["plane"]["normal"] == pytest.approx([0.0, 0.0, 1.0])
    # an ellipse of 5 mm radius inside the 10 mm lesion: its mean is the lesion's 120 HU
    mpr.set_tool("ellipse")
    centre = pixel_of(axial, lesion)
    edge = centre + QPoint(round(5.0 / s), round(5.0 / s))
    qtbot.mousePress(axial.vtk_widget, Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseMove(axial.vtk_widget, edge)
    qtbot.mouseRelease(axial.vtk_widget, Qt.MouseButton.LeftButton, pos=edge)
    roi = mpr.model.measurements[-1]
    assert roi.measurement.kind is MeasurementKind.ELLIPSE
    assert roi.measurement.unit == "mm²"
    assert roi.measurement.detail("mean") == pytest.approx(120.0, abs=2.0)
    assert len(mpr.model.measurements_on(axial.scene.grid)) == 2
    assert "mm²" in axial.scene.corner_text["bottom_right"]


def test_window_link_toggle_and_slab_controls(mpr, qtbot, artifact_dir):
    m = mpr.model
    mpr.link_box.setChecked(False)
    m.set_window("axial", -600.0, 1500.0)
    assert mpr.viewport("axial").scene.window == (-600.0, 1500.0)
    assert mpr.viewport("coronal").scene.window == (40.0, 400.0)
    mpr.link_box.setChecked(True)
    m.set_window("coronal", 50.0, 350.0)
    assert {mpr.viewport(v).scene.window for v in VIEWS} == {(50.0, 350.0)}
    # a 20 mm MIP slab on the marker's plane shifted 7 mm: the slab still shows 2000 HU
    marker = np.asarray(CHEST_LEFT_MARKER_CENTER_LPS)
    m.set_crosshair(marker + np.array([0.0, 0.0, 7.0]))
    mpr.mode_box.setCurrentIndex(mpr.mode_box.findData("mip"))
    mpr.slab_box.setValue(20.0)
    assert m.slab == Slab(20.0, "mip")
    axial = mpr.viewport("axial")
    assert axial.scene.reslicer.slab == Slab(20.0, "mip")
    c, r, _ = axial.scene.grid.lps_to_pixel(marker)
    assert float(axial.scene.values()[round(r), round(c)]) >= 1900.0
    assert "Slab 20 mm MIP" in axial.scene.corner_text["top_left"]
    # while the crosshair is dragged the slab is sampled every second step, then fully again
    coronal = mpr.viewport("coronal")
    start = QPoint(200, 150)
    qtbot.mousePress(axial.vtk_widget, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(axial.vtk_widget, start + QPoint(5, 5))
    assert coronal.scene.reslicer.slab_step_factor == 2.0
    qtbot.mouseRelease(axial.vtk_widget, Qt.MouseButton.LeftButton, pos=start + QPoint(5, 5))
    assert coronal.scene.reslicer.slab_step_factor == 1.0
    assert not m.interacting
    mpr.capture().save(str(artifact_dir / "ui_mpr_chest_mip.png"))


@pytest.mark.slow
def test_3d_viewport_beside_the_planes(mpr, artifact_dir):
    """The 3D view (GPU ray casting on software OpenGL: seconds per frame here)."""
    mpr.set_3d_visible(True)
    vp3 = mpr.viewport_3d
    assert vp3 is not None and mpr.three_d_box.isChecked()
    assert vp3.scene.preset.key == "ct-bone"
    shot = mpr.capture()
    shot.save(str(artifact_dir / "ui_mpr_chest_3d.png"))
    arr = qimage_to_array(shot)
    h, w = arr.shape[0] // 2, arr.shape[1] // 2
    tile = arr[h + 2 :, w + 2 :]  # the 3D viewport's quarter
    x, y = vp3.scene.world_to_display(CHEST_LEFT_MARKER_CENTER_LPS)
    assert x > tile.shape[1] / 2  # seen from the front: the patient's left on the right
    assert tile[round(y), round(x)].max() > 100  # the 2000 HU marker, bone-coloured
    assert tile[round(y), round(tile.shape[1] - x)].max() < 10  # its mirror place: empty
    assert mpr.preset_box.isEnabled()
    mpr.preset_box.setCurrentIndex(mpr.preset_box.findData("mip"))
    assert vp3.scene.blend_mode == "mip"
    mpr.set_3d_visible(False)
    assert not vp3.isVisible() and not mpr.preset_box.isEnabled()


def test_interpolation_control_and_resampling_warning(qtbot):
    from workstation.core.volume_geometry import VolumeGeometry
    from workstation.viewer.volume import Volume

    arr = np.zeros((12, 40, 50), np.int16)
    arr[6, 20, 25] = 1000
    arr.flags.writeable = False
    geo = VolumeGeometry.from_image_plane((0, 0, 0), (1, 0, 0, 0, 1, 0), (1, 1), 2.0, arr.shape)
    note = "gantry tilt (sheared stack): slices shift in-plane by up to 3 mm, a tilt of 15.0°"
    vol = Volume(arr, geo, (), (), warnings=(note,), resampled=True)
    view = MprView(vol, modality="CT")
    qtbot.addWidget(view)
    view.resize(600, 500)
    view.show()
    qtbot.waitExposed(view)
    assert view.warning_label.isVisible() and view.warning_label.text() == note
    view.interp_box.setCurrentIndex(view.interp_box.findData("nearest"))
    assert view.model.interpolation == "nearest"
    assert {view.viewport(v).scene.reslicer.interpolation for v in VIEWS} == {"nearest"}
    # nearest neighbour: the single bright voxel shows as whole 1000 HU pixels, nothing between
    view.model.set_crosshair(geo.index_to_lps(6, 20, 25))
    values = view.viewport("axial").scene.values()
    assert set(np.unique(values)) == {0, 1000}
    view.close()


def test_sized_vtk_widget_draws_the_whole_widget(qtbot):
    """Two VTK widgets larger than VTK's default 300×300 render and read back whole.

    With the stock QVTKRenderWindowInteractor the OSMesa buffer stays 300×300 while VTK draws
    and reads 401×301: this very sequence aborted the process on the second read (heap
    overrun), or later in Finalize.
    """
    from PySide6.QtWidgets import QHBoxLayout, QWidget
    from vtkmodules.vtkRenderingCore import vtkRenderer

    from workstation.ui.mpr_view import SizedVtkWidget
    from workstation.viewer.reslice import capture_window

    top = QWidget()
    qtbot.addWidget(top)
    layout = QHBoxLayout(top)
    widgets = []
    for colour in ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)):
        w = SizedVtkWidget(top)
        w.setFixedSize(401, 301)
        w.GetRenderWindow().SetMultiSamples(0)
        ren = vtkRenderer()
        ren.SetBackground(*colour)
        w.GetRenderWindow().AddRenderer(ren)
        layout.addWidget(w)
        w.Initialize()
        widgets.append(w)
    top.show()
    qtbot.waitExposed(top)
    for w in widgets:
        w.GetRenderWindow().Render()
    red, blue = (capture_window(w.GetRenderWindow()) for w in widgets)
    assert red.shape == blue.shape == (301, 401, 3)
    assert tuple(red[300, 400]) == (255, 0, 0) and tuple(red[0, 0]) == (255, 0, 0)
    assert tuple(blue[300, 400]) == (0, 0, 255)
    for w in widgets:
        w.Finalize()
