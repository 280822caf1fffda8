"""Memory of MPR + 3D: the 3D ray caster reads the shared volume on a hardware driver, and on
software OpenGL a block-averaged copy whose values and geometry are checked voxel by voxel.

Expected values are computed here independently (explicit loops over blocks, voxel centres
from :meth:`VolumeGeometry.index_to_lps` of the fine grid).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from vtkmodules.util import numpy_support

from workstation.core.errors import ConfigError
from workstation.core.volume_geometry import VolumeGeometry
from workstation.viewer import render3d
from workstation.viewer.render3d import (
    VolumeRenderView,
    is_software_renderer,
    opengl_renderer,
    software_reduction_factor,
)
from workstation.viewer.reslice import VolumeImage
from workstation.viewer.scene2d import offscreen_window
from workstation.viewer.volume import Volume, block_mean, reduced_volume

# A 15°-turned, non-axial volume: geometry errors cannot hide behind an identity matrix.
_C, _S = np.cos(np.radians(15.0)), np.sin(np.radians(15.0))
OBLIQUE = (_C, _S, 0.0, 0.0, 0.0, -1.0)  # rows along a turned L axis, columns feet-ward


def _volume(arr: np.ndarray, spacing=(0.7, 0.8, 1.5), orientation=OBLIQUE) -> Volume:
    geo = VolumeGeometry.from_image_plane(
        (-12.5, 30.25, 7.0), orientation, spacing[:2], spacing[2], arr.shape
    )
    arr.flags.writeable = False
    return Volume(arr, geo, (), ())


def _expected_block_mean_int(arr: np.ndarray, f: int) -> np.ndarray:
    """Round-half-up mean of the voxels each f³ block holds, edge planes repeated."""
    k, r, c = arr.shape
    out = np.empty((-(-k // f), -(-r // f), -(-c // f)), np.int64)
    for kk, rr, cc in itertools.product(*(range(n) for n in out.shape)):
        total = 0
        for i, j, m in itertools.product(range(f), repeat=3):
            total += int(
                arr[min(kk * f + i, k - 1), min(rr * f + j, r - 1), min(cc * f + m, c - 1)]
            )
        out[kk, rr, cc] = (total + f**3 // 2) // f**3
    return out


def test_block_mean_of_int16_is_the_rounded_mean_of_each_block_with_odd_edges():
    rng = np.random.default_rng(7)
    arr = rng.integers(-1024, 3071, size=(5, 7, 9), dtype=np.int16)
    got = block_mean(arr, 2)
    assert got.dtype == np.int16 and got.shape == (3, 4, 5)
    assert np.array_equal(got, _expected_block_mean_int(arr, 2))
    # factor 2: the partial block at the far corner is the mean of the one voxel it holds
    assert int(got[2, 3, 4]) == int(arr[4, 6, 8])
    # and a block partial in one axis is the mean of the four voxels it holds
    four = arr[0:2, 6, 0:2].astype(np.int64).sum()
    assert int(got[0, 3, 0]) == (four + 2) // 4
    got3 = block_mean(arr, 3)
    assert got3.shape == (2, 3, 3)
    assert np.array_equal(got3, _expected_block_mean_int(arr, 3))


def test_block_mean_extremes_do_not_overflow_and_floats_average_exactly():
    arr = np.full((2, 2, 2), 32767, np.int16)
    assert block_mean(arr, 2)[0, 0, 0] == 32767
    arr = np.full((2, 2, 2), -32768, np.int16)
    assert block_mean(arr, 2)[0, 0, 0] == -32768
    f = np.arange(64, dtype=np.float32).reshape(4, 4, 4) * np.float32(0.25)
    got = block_mean(f, 2)
    assert got.dtype == np.float32
    want = f.astype(np.float64).reshape(2, 2, 2, 2, 2, 2).mean(axis=(1, 3, 5))
    assert got == pytest.approx(want, abs=1e-6)


def test_block_mean_refuses_bad_factors():
    arr = np.zeros((2, 2, 2), np.int16)
    assert block_mean(arr, 1) is arr
    for bad in (0, -2, 1.5):
        with pytest.raises(ConfigError, match="reduction factor"):
            block_mean(arr, bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="slices, rows, columns"):
        block_mean(np.zeros((2, 2), np.int16), 2)


def test_reduced_volume_puts_each_coarse_centre_at_its_blocks_centroid():
    arr = np.arange(6 * 8 * 10, dtype=np.int16).reshape(6, 8, 10)
    vol = _volume(arr)
    red = reduced_volume(vol, 2)
    fine, coarse = vol.geometry, red.geometry
    assert coarse.shape == (3, 4, 5)
    assert coarse.spacing_mm == pytest.approx(tuple(2 * s for s in fine.spacing_mm), abs=1e-12)
    assert np.asarray(coarse.direction) == pytest.approx(np.asarray(fine.direction), abs=1e-12)
    assert not red.array.flags.writeable
    for kk, rr, cc in itertools.product(range(3), range(4), range(5)):
        block = [
            (2 * kk + i, 2 * rr + j, 2 * cc + m) for i, j, m in itertools.product((0, 1), repeat=3)
        ]
        centroid = np.mean([fine.index_to_lps(*b) for b in block], axis=0)
        assert coarse.index_to_lps(kk, rr, cc) == pytest.approx(centroid, abs=1e-9)
        want = (sum(int(arr[b]) for b in block) + 4) // 8
        assert int(red.array[kk, rr, cc]) == want
    # whole blocks: the box the voxels fill is the same box
    assert np.asarray(coarse.world_bounds(voxel_edges=True)) == pytest.approx(
        np.asarray(fine.world_bounds(voxel_edges=True)), abs=1e-9
    )


def test_reduction_factor_keeps_the_texture_in_budget():
    mib = 2**20
    assert software_reduction_factor(200 * mib, 32 * mib) == 2  # the 512×512×400 CT
    assert software_reduction_factor(200 * mib, 16 * mib) == 3
    assert software_reduction_factor(32 * mib, 32 * mib) == 1
    assert software_reduction_factor(33 * mib, 32 * mib) == 2
    with pytest.raises(ConfigError, match="budget"):
        software_reduction_factor(mib, 0)


def test_software_renderer_names():
    assert is_software_renderer("llvmpipe (LLVM 15.0.6, 256 bits)")
    assert is_software_renderer("softpipe")
    assert is_software_renderer("Mesa X11 (swrast)")
    assert not is_software_renderer("NVIDIA H100 80GB HBM3/PCIe/SSE2")
    assert not is_software_renderer("")


def test_volume_image_shares_the_volume_memory():
    vol = _volume(np.zeros((4, 6, 8), np.int16))
    img = VolumeImage(vol)
    assert img.shares_memory()
    scalars = numpy_support.vtk_to_numpy(img.image_data.GetPointData().GetScalars())
    assert scalars.ctypes.data == vol.array.ctypes.data


def _sphere_volume() -> tuple[Volume, np.ndarray]:
    """-1000 HU with a 2000 HU ball of radius 5 mm off centre (1 mm voxels, 40³)."""
    n = 40
    k, r, c = np.mgrid[0:n, 0:n, 0:n]
    arr = np.full((n, n, n), -1000, np.int16)
    centre = (20, 14, 28)  # (k, r, c)
    arr[(k - centre[0]) ** 2 + (r - centre[1]) ** 2 + (c - centre[2]) ** 2 <= 25] = 2000
    vol = _volume(arr, (1.0, 1.0, 1.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0))
    return vol, vol.geometry.index_to_lps(*centre).reshape(3)


def _mapper_scalars(view: VolumeRenderView) -> np.ndarray:
    return numpy_support.vtk_to_numpy(view.mapper.GetInput().GetPointData().GetScalars())


def test_3d_reads_the_shared_volume_or_on_software_gl_a_reduced_copy(monkeypatch):
    vol, ball = _sphere_volume()
    image = VolumeImage(vol)
    monkeypatch.setattr(render3d, "SOFTWARE_GL_MAX_TEXTURE_BYTES", vol.array.nbytes // 4)
    win = offscreen_window(96, 96)
    try:
        view = VolumeRenderView(win, image, "ct-bone")
        view.set_blend_mode("mip", (500.0, 3000.0))  # -1000 .. 2000 HU, grey
        rgb = view.capture()
        software = is_software_renderer(opengl_renderer(win))
        at_ball = view.world_to_display(ball)
        mirror = view.world_to_display(2 * np.asarray(view.bounds_lps()).mean(axis=0) - ball)
        assert view.mapper_kind == "gpu"
        if software:
            assert view.reduction == 2
            red = view.render_image.volume
            assert red.array.shape == (20, 20, 20)
            # the mapper reads the reduced copy itself, no further copy
            assert np.shares_memory(_mapper_scalars(view), red.array)
            assert view.sample_distance == pytest.approx(2.0, abs=1e-12)
        else:
            assert view.reduction == 1
            assert np.shares_memory(_mapper_scalars(view), vol.array)
        x, y = int(at_ball[0]), int(at_ball[1])
        assert rgb[y, x].max() > 200  # the ball, where it projects
        mx, my = int(mirror[0]), int(mirror[1])
        assert rgb[my, mx].max() < 5  # its mirror image: air
        # cropping: the planes are the fine voxels' edges, in the coarse image's frame
        geo = vol.geometry
        view.set_crop_box_lps(geo.index_to_lps(0, 0, 0), geo.index_to_lps(39, 39, 24))
        assert view.crop_extent == (0, 24, 0, 39, 0, 39)
        planes = view.mapper.GetCroppingRegionPlanes()
        shift = 0.5 if software else 0.0  # coarse voxel 0's centre is fine index 0.5
        assert planes[0] == pytest.approx(-0.5 - shift, abs=1e-9)
        assert planes[1] == pytest.approx(24.5 - shift, abs=1e-9)
        cropped = view.capture()
        assert cropped[y, x].max() < 5  # the ball (columns 23..33) is cut at column 24.5
    finally:
        win.Finalize()


def test_3d_reads_the_shared_volume_when_the_reduction_is_off(monkeypatch):
    vol, _ = _sphere_volume()
    monkeypatch.setattr(render3d, "SOFTWARE_GL_MAX_TEXTURE_BYTES", vol.array.nbytes // 4)
    monkeypatch.setattr(render3d, "REDUCE_3D_ON_SOFTWARE_GL", False)
    win = offscreen_window(48, 48)
    win2 = offscreen_window(48, 48)
    try:
        view = VolumeRenderView(win, VolumeImage(vol), "ct-bone")
        view.render()
        assert view.reduction == 1 and view.render_image is view.image
        assert np.shares_memory(_mapper_scalars(view), vol.array)
        # the CPU fallback drops a reduced copy and reads the shared volume again
        monkeypatch.setattr(render3d, "REDUCE_3D_ON_SOFTWARE_GL", True)
        view2 = VolumeRenderView(win2, VolumeImage(vol), "ct-bone")
        view2.render()
        view2._use_fallback("test")
        assert view2.reduction == 1 and view2.mapper_kind == "smart"
        assert view2.sample_distance == pytest.approx(1.0, abs=1e-12)
        assert np.shares_memory(_mapper_scalars(view2), vol.array)
    finally:
        win.Finalize()
        win2.Finalize()
