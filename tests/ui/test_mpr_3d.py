"""The 3D view beside MPR on the demo chest: plane outlines, crosshair, crop box, 3D tools.

Real VTK offscreen rendering (software OpenGL, seconds per frame): the view is kept small and
built once for the module. The chest's 2000 HU skin marker sits at a known LPS point
(workstation.demo.studies), so where it must appear, and vanish when cropped, is known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from vtkmodules.vtkCommonCore import vtkCommand

from workstation.archive.local import LocalArchive
from workstation.demo import CT_CHEST_ABDOMEN
from workstation.demo.studies import CHEST_LEFT_MARKER_CENTER_LPS
from workstation.ui.mpr_view import MprView
from workstation.viewer.mpr import VIEWS
from workstation.viewer.planes3d import polygon_contains
from workstation.viewer.render3d import VIEW_DIRECTIONS
from workstation.viewer.reslice import VIEW_COLORS, capture_window
from workstation.viewer.volume import assemble_series

CHEST = CT_CHEST_ABDOMEN.series[0]
MARKER = np.asarray(CHEST_LEFT_MARKER_CENTER_LPS)


@pytest.fixture(scope="module")
def mpr3d(qapp, demo_store: Path):
    archive = LocalArchive(demo_store)
    try:
        volume = assemble_series(archive, CHEST.series_instance_uid).volume
    finally:
        archive.close()
    view = MprView(volume, window=(40.0, 400.0), show_3d=True)
    view.resize(640, 500)
    view.show()
    qapp.processEvents()
    yield view
    view.close()
    view.deleteLater()
    qapp.processEvents()


@pytest.fixture
def mpr(mpr3d, qtbot):
    """The module's view, its model and 3D tools back at their defaults."""
    m = mpr3d.model
    m.reset()
    m.set_cropping(False)
    m.reset_crop()
    vp3 = mpr3d.viewport_3d
    vp3.set_planes_visible(True)
    mpr3d.set_3d_mip(False)
    vp3.scene.look_from("anterior")
    return mpr3d


def tile_3d(mpr) -> tuple[np.ndarray, object]:
    """The whole MPR screenshot, and the 3D view's pixels in it (bottom right of the 2×2)."""
    shot = mpr.capture()
    img = shot.convertToFormat(shot.Format.Format_RGB888)
    w, h = img.width(), img.height()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.bytesPerLine() * h)
    arr = buf.reshape(h, img.bytesPerLine())[:, : 3 * w].reshape(h, w, 3)
    th, tw = (h - 2) // 2, (w - 2) // 2
    rw, rh = mpr.viewport_3d.render_window.GetSize()
    return arr[th + 2 : th + 2 + rh, tw + 2 : tw + 2 + rw].copy(), shot


def colour_count(rgb: np.ndarray, color, tol: int = 4) -> int:
    target = np.round(np.asarray(color) * 255.0)
    return int((np.abs(rgb.astype(int) - target).max(axis=2) <= tol).sum())


def spot(rgb: np.ndarray, xy, half: int = 1) -> float:
    """The brightest channel at the pixel under ``xy``, highest within ``half`` pixels."""
    x, y = int(np.floor(xy[0])), int(np.floor(xy[1]))
    return float(rgb[y - half : y + half + 1, x - half : x + half + 1].max())


@pytest.mark.slow
def test_plane_outlines_follow_the_crosshair_and_the_oblique_turn(mpr, qtbot, artifact_dir):
    vp3 = mpr.viewport_3d
    m = mpr.model
    m.set_crosshair(MARKER)
    assert m.crosshair_lps == pytest.approx(tuple(MARKER), abs=1e-9)
    for view in VIEWS:
        pts = vp3.scene.outline_points(view)  # read back from the VTK polydata
        assert 4 <= len(pts) <= 6
        normal = np.asarray(m.plane(view).normal)
        assert np.abs((pts - MARKER) @ normal).max() < 0.5
        assert polygon_contains(pts, MARKER, 0.5)
    assert vp3.scene.marker_lps == pytest.approx(tuple(MARKER), abs=1e-9)
    # the axial outline at the marker's height: the volume's x-y box edges, at z = 0
    axial = vp3.scene.outline_points("axial")
    lo, hi = m.volume_box_lps
    assert {(round(x, 3), round(y, 3)) for x, y, _ in axial} == {
        (round(a, 3), round(b, 3)) for a in (lo[0], hi[0]) for b in (lo[1], hi[1])
    }
    assert axial[:, 2] == pytest.approx([MARKER[2]] * 4, abs=1e-9)

    m.rotate("axial", 25.0)  # coronal and sagittal turn oblique about the feet-head axis
    for view in VIEWS:
        pts = vp3.scene.outline_points(view)
        # one model: the 3D outline lies on the plane the 2D viewport reslices
        grid_plane = mpr.viewport(view).scene.grid.plane
        assert np.abs((pts - MARKER) @ np.asarray(grid_plane.normal)).max() < 0.5
        assert polygon_contains(pts, MARKER, 0.5)
    coronal = vp3.scene.outline_points("coronal")
    assert len(coronal) == 4 and np.ptp(coronal[:, 1]) > 50.0  # turned out of y = const
    assert vp3.settling  # one full frame is due once the changes pause

    rgb, shot = tile_3d(mpr)
    assert shot.save(str(artifact_dir / "ui_mpr_3d_planes.png"))
    assert rgb.std() > 15  # not a black view
    for view in VIEWS:
        assert colour_count(rgb, VIEW_COLORS[view]) > 40, view  # each outline is drawn
    x, y = vp3.scene.world_to_display(MARKER)
    # The 2000 HU marker, bone-coloured, where the crosshair projects (the 3D view may ray
    # cast a half-resolution copy on software OpenGL: about 150-220 in its brightest channel).
    assert spot(rgb, (x, y), 1) > 140

    vp3.planes_button.click()
    assert not vp3.scene.overlays_visible
    qtbot.waitUntil(lambda: not vp3.settling, timeout=20000)
    hidden = capture_window(vp3.render_window)  # the frame the toggle brought
    for view in VIEWS:
        assert colour_count(hidden, VIEW_COLORS[view]) == 0, view  # no outline left
    assert spot(hidden, (x, y), 1) > 140  # the volume is still drawn: the marker stays


@pytest.mark.slow
def test_crop_box_cuts_the_marker_away(mpr, artifact_dir):
    vp3 = mpr.viewport_3d
    m = mpr.model
    vp3.set_planes_visible(False)  # nothing drawn over the marker but the volume
    assert vp3.scene.preset.key == "ct-bone"
    # from the front, the marker in the middle, magnified (it is 4 mm across)
    vp3.scene.look_from("anterior", focal_lps=MARKER)
    vp3.scene.renderer.GetActiveCamera().Zoom(3.0)
    full = vp3.capture()
    xy = vp3.scene.world_to_display(MARKER)
    beside = vp3.scene.world_to_display(MARKER + np.array([0.0, 0.0, 25.0]))
    assert spot(full, xy) > 150  # the 2000 HU marker, bone-coloured
    assert spot(full, beside, 2) < 10  # 25 mm above it: skin and air, transparent

    vp3.crop_button.click()
    assert m.cropping and vp3.crop_widget.enabled
    lo, hi = m.volume_box_lps
    kept = m.set_crop_box(lo, (MARKER[0] - 10.0, hi[1], hi[2]))  # all left of x = 160 cut
    assert kept == ((lo[0], lo[1], lo[2]), (MARKER[0] - 10.0, hi[1], hi[2]))
    assert np.asarray(vp3.scene.crop_box_lps) == pytest.approx(np.asarray(kept), abs=1e-9)
    assert np.asarray(vp3.crop_widget.box()) == pytest.approx(np.asarray(kept), abs=1e-6)
    # the voxels kept: the columns whose centres lie right of x = 160
    last_col = int(np.floor(m.geometry.lps_to_index((MARKER[0] - 10.0, 0.0, 0.0))[2]))
    assert vp3.scene.crop_extent == (0, last_col, 0, 511, 0, 299)
    cropped = vp3.capture()
    assert spot(cropped, xy) < 10  # cut away: dark where it shone
    vp3.set_planes_visible(True)
    vp3.reset_view()
    rgb, shot = tile_3d(mpr)
    assert shot.save(str(artifact_dir / "ui_mpr_3d_crop.png"))
    assert rgb.std() > 15  # the spine, the outlines and the crop box: not a black view
    assert colour_count(rgb, VIEW_COLORS["sagittal"]) > 40

    vp3.reset_crop_button.click()
    assert m.crop_box_lps == m.volume_box_lps and m.cropping
    vp3.crop_button.click()
    assert not m.cropping and not vp3.crop_widget.enabled and vp3.scene.crop_box_lps is None


def test_dragging_the_crop_box_stays_inside_the_volume(mpr):
    vp3 = mpr.viewport_3d
    m = mpr.model
    m.set_cropping(True)
    lo, hi = m.volume_box_lps
    rep = vp3.crop_widget.representation
    # a handle dragged past the volume's right side and another one inward
    rep.PlaceWidget([lo[0] - 50.0, hi[0], lo[1], hi[1] - 40.0, lo[2], hi[2] + 30.0])
    vp3.crop_widget.widget.InvokeEvent(vtkCommand.InteractionEvent)
    assert np.asarray(m.crop_box_lps) == pytest.approx(
        np.array([lo, (hi[0], hi[1] - 40.0, hi[2])]), abs=1e-6
    )
    assert np.asarray(vp3.crop_widget.box()) == pytest.approx(np.asarray(m.crop_box_lps), abs=1e-6)
    # moved wholly outside: the whole volume again, never an empty crop
    rep.PlaceWidget([hi[0] + 10.0, hi[0] + 60.0, lo[1], hi[1], lo[2], hi[2]])
    vp3.crop_widget.widget.InvokeEvent(vtkCommand.InteractionEvent)
    assert np.asarray(m.crop_box_lps) == pytest.approx(np.asarray(m.volume_box_lps), abs=1e-6)


def test_standard_views_reset_view_and_the_mip_toggle(mpr):
    vp3 = mpr.viewport_3d
    cam = vp3.scene.renderer.GetActiveCamera()

    def looking_from() -> np.ndarray:
        d = np.asarray(cam.GetPosition()) - np.asarray(cam.GetFocalPoint())
        return d / np.linalg.norm(d)

    assert [vp3.view_box.itemData(i) for i in range(vp3.view_box.count())] == list(VIEW_DIRECTIONS)
    vp3.view_box.activated.emit(vp3.view_box.findData("left"))
    assert looking_from() == pytest.approx(VIEW_DIRECTIONS["left"][0], abs=1e-9)
    vp3.scene.rotate(30.0, 10.0)
    vp3.reset_view_button.click()
    assert looking_from() == pytest.approx(VIEW_DIRECTIONS["anterior"][0], abs=1e-9)
    assert vp3.view_box.currentData() == "anterior"

    vp3.mip_button.click()
    assert mpr.preset_box.currentData() == "mip" and vp3.scene.blend_mode == "mip"
    mpr.preset_box.setCurrentIndex(mpr.preset_box.findData("ct-soft-tissue"))
    assert not vp3.mip_button.isChecked() and vp3.scene.preset.key == "ct-soft-tissue"
    vp3.mip_button.click()
    vp3.mip_button.click()  # back to the preset chosen before the MIP
    assert vp3.scene.blend_mode == "composite" and vp3.scene.preset.key == "ct-soft-tissue"
    mpr.preset_box.setCurrentIndex(mpr.preset_box.findData("ct-bone"))


def test_planes_keep_their_places_in_a_mirrored_interface(mpr, qapp):
    """In an Arabic (right-to-left) interface the toolbar mirrors; the planes do not."""

    def lefts() -> dict[str, int]:
        return {v: mpr.viewports[v].mapTo(mpr, QPoint(0, 0)).x() for v in ("axial", "coronal")}

    before = lefts()
    mpr.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
    try:
        qapp.processEvents()
        assert lefts() == before
        assert before["axial"] < before["coronal"]
        assert mpr.viewport_3d is not None
        assert mpr.viewport_3d.mapTo(mpr, QPoint(0, 0)).x() > before["axial"]
    finally:
        mpr.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        qapp.processEvents()
