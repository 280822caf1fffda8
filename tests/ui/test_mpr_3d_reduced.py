"""The 3D view beside MPR says when software OpenGL ray casts a reduced copy of the volume,
while the 2D planes keep reslicing the full, shared volume."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from workstation.core.volume_geometry import VolumeGeometry
from workstation.ui.mpr_view import MprView
from workstation.viewer import render3d
from workstation.viewer.render3d import is_software_renderer, opengl_renderer
from workstation.viewer.volume import Volume


def _volume() -> Volume:
    arr = np.full((24, 32, 32), -1000, np.int16)
    arr[10:14, 12:20, 12:20] = 1500
    arr.flags.writeable = False
    geo = VolumeGeometry.from_image_plane(
        (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0), (1.0, 1.0), 1.0, arr.shape
    )
    return Volume(arr, geo, (), ())


@contextlib.contextmanager
def _shown(qapp, monkeypatch, **kw) -> Iterator[MprView]:
    """An MprView with its 3D view shown and drawn, the volume 4× over the texture budget."""
    vol = _volume()
    monkeypatch.setattr(render3d, "SOFTWARE_GL_MAX_TEXTURE_BYTES", vol.array.nbytes // 4)
    view = MprView(vol, window=(40.0, 400.0), show_3d=True, **kw)
    try:
        view.resize(420, 360)
        view.show()
        qapp.processEvents()
        view.render_all()
        assert view.viewport_3d is not None
        yield view
    finally:
        view.close_views()
        view.close()


def test_reduced_3d_is_announced_and_2d_stays_full(qapp, monkeypatch):
    with _shown(qapp, monkeypatch) as view:
        vp3 = view.viewport_3d
        software = is_software_renderer(opengl_renderer(vp3.render_window))
        assert vp3.scene.reduction == (2 if software else 1)
        assert vp3.reduced_label.isVisibleTo(vp3) == software
        assert vp3.reduced_label.text() == "3D at reduced resolution: software rendering"
        # the 2D planes reslice the volume's own memory at full resolution
        assert view.image.shares_memory()
        grid = view.viewport("axial").scene.grid
        assert grid is not None and grid.spacing_mm <= 1.0 + 1e-9


def test_no_notice_when_the_reduction_is_off(qapp, monkeypatch):
    monkeypatch.setattr(render3d, "REDUCE_3D_ON_SOFTWARE_GL", False)
    with _shown(qapp, monkeypatch) as view:
        vp3 = view.viewport_3d
        assert vp3.scene.reduction == 1
        assert not vp3.reduced_label.isVisibleTo(vp3)


def test_the_site_setting_full_keeps_3d_at_full_resolution(qapp, monkeypatch):
    """``[ui] software_3d = "full"`` reaches the 3D view through MprView (the main window
    passes it): no reduction, no notice, whatever the renderer."""
    with _shown(qapp, monkeypatch, reduce_3d_on_software_gl=False) as view:
        vp3 = view.viewport_3d
        assert vp3.scene.reduction == 1
        assert vp3.scene.render_image is view.image
        assert not vp3.reduced_label.isVisibleTo(vp3)
