"""MPR slabs, rendered MPR views, 3D volume rendering and MPR export on the demo CT phantoms.

The demo phantoms' shapes are known to the millimetre and the HU (workstation.demo.studies), with
Gaussian noise of known SD, so each projection has a value it must give: the 2000 HU skin marker
under a MIP, the −1000 HU air pocket under a MinIP, the 60 HU liver under an average. Screenshots
go to test-output/ for a person to look at.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from vtkmodules.util import numpy_support
from vtkmodules.vtkIOImage import vtkPNGReader

from workstation.archive.local import LocalArchive
from workstation.core.errors import ConfigError, NotFoundError
from workstation.demo import CT_CHEST_ABDOMEN, CT_HEAD
from workstation.demo.studies import (
    CHEST_AIR_POCKET_CENTER_LPS,
    CHEST_LEFT_MARKER_CENTER_LPS,
    CHEST_LIVER_LESION_CENTER_LPS,
    HEAD_LEFT_MARKER_CENTER_LPS,
)
from workstation.viewer.export import write_png
from workstation.viewer.mpr import (
    EdgeLabels,
    MprModel,
    ResliceGrid,
    Slab,
    line_in_grid,
    orthogonal_plane,
)
from workstation.viewer.mpr_export import export_view
from workstation.viewer.render3d import (
    VolumeRenderView,
    builtin_volume_presets_path,
    load_volume_presets,
)
from workstation.viewer.reslice import VIEW_COLORS, ResliceView, VolumeImage, reslice
from workstation.viewer.scene2d import offscreen_window
from workstation.viewer.volume import assemble_series

CHEST = CT_CHEST_ABDOMEN.series[0]
HEAD = CT_HEAD.series[0]
CHEST_NOISE = CHEST.noise_sd  # 5 HU
BODY_HU, LIVER_HU, LESION_HU, MARKER_HU, AIR_HU = 40.0, 60.0, 120.0, 2000.0, -1000.0


@pytest.fixture(scope="module")
def store(demo_store: Path):
    archive = LocalArchive(demo_store)
    yield archive
    archive.close()


@pytest.fixture(scope="module")
def chest(store):
    return VolumeImage(assemble_series(store, CHEST.series_instance_uid).volume)


@pytest.fixture(scope="module")
def head(store):
    return VolumeImage(assemble_series(store, HEAD.series_instance_uid).volume)


def axial_at(point, size: int = 65, spacing: float = 0.7) -> ResliceGrid:
    return ResliceGrid.centred(orthogonal_plane("axial", point), point, size, size, spacing)


def value_at(values: np.ndarray, grid: ResliceGrid, point) -> float:
    c, r, _ = grid.lps_to_pixel(point)
    return float(values[round(r), round(c)])


def read_png(path: Path) -> np.ndarray:
    reader = vtkPNGReader()
    reader.SetFileName(str(path))
    reader.Update()
    img = reader.GetOutput()
    w, h, _ = img.GetDimensions()
    comps = img.GetPointData().GetScalars().GetNumberOfComponents()
    arr = numpy_support.vtk_to_numpy(img.GetPointData().GetScalars()).reshape(h, w, comps)
    return np.flipud(arr)


# ---------------------------------------------------------------------------------------------
# Thick slabs


def test_mip_slab_shows_the_marker_hu_at_its_projected_centre(chest):
    marker = np.asarray(CHEST_LEFT_MARKER_CENTER_LPS)
    # 7 mm above the 4 mm marker: a thin plane misses it, a 20 mm slab (±10 mm) holds it
    point = marker + np.array([0.0, 0.0, 7.0])
    grid = axial_at(point)
    thin = reslice(chest, grid, "linear")
    mip = reslice(chest, grid, "linear", Slab(20.0, "mip"))
    # the marker sits on the skin: a thin plane there shows body blended with outside air
    assert value_at(thin, grid, point) <= BODY_HU + 4 * CHEST_NOISE
    assert MARKER_HU - CHEST_NOISE <= value_at(mip, grid, point) <= MARKER_HU + 4 * CHEST_NOISE
    # 15 mm medial, only body along the slab: the brightest of ~15 noisy samples of 40 HU
    inside = point - (15.0, 0.0, 0.0)
    assert BODY_HU - CHEST_NOISE <= value_at(mip, grid, inside) <= BODY_HU + 4 * CHEST_NOISE


def test_mip_slab_brings_the_liver_lesion_into_a_plane_beside_it(chest):
    lesion = np.asarray(CHEST_LIVER_LESION_CENTER_LPS)
    point = lesion + np.array([0.0, 0.0, 13.0])  # 3 mm past the 10 mm lesion
    grid = axial_at(point)
    thin = reslice(chest, grid, "linear")
    mip = reslice(chest, grid, "linear", Slab(20.0, "mip"))
    assert abs(value_at(thin, grid, point) - LIVER_HU) <= 4 * CHEST_NOISE
    assert LESION_HU - CHEST_NOISE <= value_at(mip, grid, point) <= LESION_HU + 4 * CHEST_NOISE
    liver = point - (20.0, 0.0, 0.0)
    assert LIVER_HU - CHEST_NOISE <= value_at(mip, grid, liver) <= LIVER_HU + 4 * CHEST_NOISE


def test_minip_slab_shows_the_air_pocket(chest):
    pocket = np.asarray(CHEST_AIR_POCKET_CENTER_LPS)
    point = pocket + np.array([0.0, 0.0, 18.0])  # 3 mm past the 15 mm pocket
    grid = axial_at(point)
    thin = reslice(chest, grid, "linear")
    minip = reslice(chest, grid, "linear", Slab(20.0, "minip"))
    assert abs(value_at(thin, grid, point) - BODY_HU) <= 4 * CHEST_NOISE
    assert AIR_HU - 4 * CHEST_NOISE <= value_at(minip, grid, point) <= AIR_HU + CHEST_NOISE
    beside = point + np.array([0.0, 20.0, 0.0])  # 20 mm from the pocket's axis: body
    assert BODY_HU - 4 * CHEST_NOISE <= value_at(minip, grid, beside) <= BODY_HU + CHEST_NOISE


def test_average_slab_over_the_liver_gives_its_hu(chest):
    point = (-70.0, 0.0, -100.0)  # liver all along z -110..-90, lesion far above
    grid = axial_at(point, size=33)
    avg = reslice(chest, grid, "linear", Slab(20.0, "avg"))
    assert avg.dtype == np.float32
    c, r = grid.center_pixel
    roi = avg[r - 5 : r + 6, c - 5 : c + 6]  # 7 × 7 mm
    assert abs(float(roi.mean()) - LIVER_HU) <= 1.0
    # the mean of ~15 samples is far quieter than one voxel (SD 5 HU)
    assert float(roi.std()) < CHEST_NOISE / 2


# ---------------------------------------------------------------------------------------------
# A rendered MPR view: letters, marker side, crosshair lines


def test_axial_view_draws_the_left_marker_right_with_letters(chest, artifact_dir):
    model = MprModel(chest.geometry, (40.0, 400.0))
    model.set_crosshair((100.0, -20.0, 0.0))  # the lines then pass beside the marker
    model.pan("axial", 100.0, 0.0)  # centre the view on x = 100 mm, away from the letters
    win = offscreen_window(401, 301)  # odd sizes on purpose
    try:
        view = ResliceView(win, chest, "axial")
        grid = model.grid("axial", 401, 301)
        view.set_grid(grid)
        view.set_window(40.0, 400.0)
        view.set_edge_labels(grid.plane.edge_labels())
        cross = model.crosshair_lps
        lines = []
        for other in ("coronal", "sagittal"):
            seg = line_in_grid(grid, cross, model.intersection_direction("axial", other))
            lines.append((list(seg), VIEW_COLORS[other]))
        view.set_crosshair_lines(lines)
        rgb = view.capture()
    finally:
        win.Finalize()
    write_png(artifact_dir / "mpr_axial_chest_letters.png", rgb)
    assert rgb.shape == (301, 401, 3)
    assert {e: view.labels[e].GetInput() for e in ("left", "right", "top", "bottom")} == {
        "left": "R",
        "right": "L",
        "top": "A",
        "bottom": "P",
    }
    mc, mr, _ = grid.lps_to_pixel(CHEST_LEFT_MARKER_CENTER_LPS)
    cc, cr, _ = grid.lps_to_pixel(cross)
    assert mc > cc + 60 / grid.spacing_mm - 1  # the marker is 70 mm to the patient's left
    assert tuple(rgb[round(mr), round(mc)]) == (255, 255, 255)  # 2000 HU, window 40/400
    # the coronal plane's line (green) runs across the crosshair row
    g = rgb[round(cr), round(cc) - 40]
    assert g[1] > 150 and g[0] < 120 and g[2] < 140

    def has_letter(rows: slice, cols: slice) -> bool:
        patch = rgb[rows, cols].astype(int)
        return bool(((patch[..., 0] > 180) & (patch[..., 1] > 150) & (patch[..., 2] < 120)).any())

    mid = slice(140, 162)
    assert has_letter(mid, slice(385, 401))  # "L" at the right edge
    assert has_letter(mid, slice(0, 16))  # "R" at the left edge
    assert not has_letter(mid, slice(100, 140))  # body and lung: grey, no letter


# ---------------------------------------------------------------------------------------------
# 3D


def test_volume_rendering_presets_are_data():
    presets = load_volume_presets()
    assert list(presets) == ["ct-bone", "ct-soft-tissue", "ct-angio", "ct-lung", "mr-default"]
    bone = presets["ct-bone"]
    assert bone.modalities == ("CT",) and bone.shade
    assert bone.opacity[1] == (150.0, 0.0)  # soft tissue transparent
    raw = tomllib.loads(builtin_volume_presets_path().read_text(encoding="utf-8"))
    assert raw["schema_version"] == 1


def test_bad_presets_name_the_file_and_key(tmp_path):
    bad = tmp_path / "vr.toml"
    bad.write_text(
        'schema_version = 1\n[[preset]]\nkey = "x"\nname = "X"\nmodality = ["CT"]\n'
        "color = [[0, 0, 0, 0], [100, 1, 1, 1]]\nopacity = [[100, 0], [0, 1]]\n"
    )
    with pytest.raises(ConfigError, match=r"vr\.toml: preset 'x': 'opacity' values must be"):
        load_volume_presets(bad)
    bad.write_text('schema_version = 2\n[[preset]]\nkey = "x"\n')
    with pytest.raises(ConfigError, match="schema_version"):
        load_volume_presets(bad)


def _bright(rgb: np.ndarray, xy: tuple[float, float], half: int = 2) -> float:
    x, y = math.floor(xy[0]), math.floor(xy[1])
    return float(rgb[y - half : y + half + 1, x - half : x + half + 1].astype(float).mean())


def test_3d_bone_rendering_shows_the_marker_where_it_projects(head, artifact_dir):
    win = offscreen_window(320, 320)
    try:
        view = VolumeRenderView(win, head, "ct-bone")
        rgb = view.capture()
        marker = view.world_to_display(HEAD_LEFT_MARKER_CENTER_LPS)
        mirror = view.world_to_display((-HEAD_LEFT_MARKER_CENTER_LPS[0], 0.0, 0.0))
        centre = view.world_to_display((0.0, -60.0, 0.0))  # skull, seen from the front
        kind, notice = view.mapper_kind, view.notice
    finally:
        win.Finalize()
    write_png(artifact_dir / "mpr_3d_head_bone.png", rgb)
    assert kind == "gpu" and notice == ""
    lit = (rgb.max(axis=2) > 30).mean()
    assert 0.1 < lit < 0.6  # the skull, not blank, not everything
    # seen from the front, the patient's left is on the right
    assert marker[0] > 160 + 40 and mirror[0] < 160 - 40
    assert _bright(rgb, marker) > 120
    assert _bright(rgb, mirror) < 5  # beside the head: nothing there
    assert _bright(rgb, centre) > 60


def test_3d_mip_crop_and_cpu_fallback(head, artifact_dir):
    win = offscreen_window(280, 280)
    try:
        view = VolumeRenderView(win, head, "ct-bone", use_gpu=False)
        assert view.mapper_kind == "smart" and "CPU" in view.notice
        view.set_blend_mode("mip", (600.0, 2800.0))  # -800 .. 2000 HU, grey
        rgb = view.capture()
        marker = view.world_to_display(HEAD_LEFT_MARKER_CENTER_LPS)
        brain = view.world_to_display((0.0, 0.0, 0.0))
        write_png(artifact_dir / "mpr_3d_head_mip_cpu.png", rgb)
        assert _bright(rgb, marker, 0) > 250  # 2000 HU: white
        # every ray through the head crosses the 1000 HU skull: (1000 + 800) / 2800 of white
        assert _bright(rgb, brain) == pytest.approx(255 * 1800 / 2800, abs=12)
        view.set_crop_box_lps((-200.0, -200.0, -200.0), (60.0, 200.0, 200.0))
        cropped = view.capture()
        assert _bright(cropped, marker, 0) < 5  # cut away with everything left of x = 60
        assert _bright(cropped, brain) == pytest.approx(255 * 1800 / 2800, abs=12)
    finally:
        win.Finalize()


def test_3d_plane_outlines_and_crop_extent_in_the_scene(head):
    """The scene keeps what it is given in LPS (read back from VTK), crops whole voxels."""
    from workstation.core.errors import GeometryError
    from workstation.viewer.planes3d import polygon_contains

    win = offscreen_window(64, 64)
    try:
        view = VolumeRenderView(win, head, "ct-bone", use_gpu=False)
        model = MprModel(head.geometry)
        model.set_crosshair(HEAD_LEFT_MARKER_CENTER_LPS)
        model.rotate("coronal", 15.0)
        view.set_plane_outlines(
            {v: (model.plane_outline(v), VIEW_COLORS[v]) for v in ("axial", "sagittal")}
        )
        for v in ("axial", "sagittal"):
            pts = view.outline_points(v)
            assert pts == pytest.approx(model.plane_outline(v), abs=1e-9)
            assert polygon_contains(pts, model.crosshair_lps, 0.5)
        view.set_plane_outlines({"axial": (model.plane_outline("axial"), VIEW_COLORS["axial"])})
        assert view.outline_points("sagittal").shape == (0, 3)
        geo = head.geometry
        lo, hi = geo.world_bounds(voxel_edges=True)
        view.set_crop_box_lps(lo, (60.0, hi[1], hi[2]))
        last = int(np.floor(geo.lps_to_index((60.0, 0.0, 0.0))[2]))
        k, r, _ = geo.shape
        assert view.crop_extent == (0, last, 0, r - 1, 0, k - 1)
        planes = view.mapper.GetCroppingRegionPlanes()
        assert planes[1] == pytest.approx((last + 0.5) * geo.spacing_mm[2], abs=1e-9)
        with pytest.raises(GeometryError, match="no voxel"):
            view.set_crop_box_lps((hi[0] + 1.0, lo[1], lo[2]), (hi[0] + 9.0, hi[1], hi[2]))
        assert view.crop_extent == (0, last, 0, r - 1, 0, k - 1)  # unchanged by the refusal
    finally:
        win.Finalize()


# ---------------------------------------------------------------------------------------------
# Export


def test_export_axial_and_coronal_put_the_patient_left_on_the_right(store, tmp_path):
    marker = CHEST_LEFT_MARKER_CENTER_LPS
    for view, labels in (
        ("axial", EdgeLabels("R", "L", "A", "P")),
        ("coronal", EdgeLabels("R", "L", "H", "F")),
    ):
        out = tmp_path / f"{view}.png"
        res = export_view(
            store,
            CT_CHEST_ABDOMEN.study_instance_uid,
            1,
            view,
            out,
            position=marker,
            window=(40.0, 400.0),
        )
        img = read_png(out)
        assert img.shape[:2] == (res.height, res.width)
        assert res.edge_labels == labels
        c, r = res.grid.center_pixel
        assert res.position_pixel == pytest.approx((c, r), abs=1e-9)
        assert res.grid.pixel_to_lps(c, r) == pytest.approx(marker, abs=1e-9)
        step = round(15.0 / res.grid.spacing_mm)
        assert img[r, c, 0] == 255  # the 2000 HU marker
        assert 110 <= img[r, c - step, 0] <= 150  # 15 mm towards the patient's right: body
        assert img[r, c + step, 0] == 0  # 15 mm further left: air outside the body


def test_export_slab_oblique_and_3d(store, tmp_path):
    study = CT_CHEST_ABDOMEN.study_instance_uid
    above = np.asarray(CHEST_LEFT_MARKER_CENTER_LPS) + np.array([0.0, 0.0, 7.0])
    thin = export_view(store, study, None, "axial", tmp_path / "thin.png", position=above)
    slab = export_view(
        store,
        study,
        None,
        "axial",
        tmp_path / "mip.png",
        position=above,
        slab_mm=20.0,
        mode="mip",
    )
    c, r = slab.grid.center_pixel
    assert read_png(tmp_path / "mip.png")[r, c, 0] == 255
    assert read_png(tmp_path / "thin.png")[r, c, 0] < 160
    assert slab.slab == Slab(20.0, "mip") and thin.slab is None

    tilt = (0.0, math.sin(math.radians(20)), math.cos(math.radians(20)))
    obl = export_view(
        store,
        study,
        1,
        "oblique",
        tmp_path / "obl.png",
        position=CHEST_LEFT_MARKER_CENTER_LPS,
        normal=tilt,
    )
    assert obl.grid.plane.normal == pytest.approx(tilt, abs=1e-12)
    assert obl.edge_labels.right == "L" and obl.edge_labels.left == "R"
    oc, orow = obl.grid.center_pixel
    assert read_png(tmp_path / "obl.png")[orow, oc, 0] == 255

    # 3D, the camera on the marker: the bone preset shows the 2000 HU marker in the middle
    three = export_view(
        store,
        study,
        1,
        "3d",
        tmp_path / "3d.png",
        position=CHEST_LEFT_MARKER_CENTER_LPS,
        size=(161, 161),
    )
    img = read_png(tmp_path / "3d.png")
    assert img.shape == (161, 161, 3)
    assert three.position_pixel == pytest.approx((80.5, 80.5), abs=1e-6)
    assert img[80, 80].max() > 150
    assert (img.max(axis=2) > 30).mean() > 0.01  # the spine and the aorta too, not blank


def test_export_refuses_bad_requests(store, tmp_path):
    study = CT_CHEST_ABDOMEN.study_instance_uid
    out = tmp_path / "x.png"
    with pytest.raises(ConfigError, match="needs --normal"):
        export_view(store, study, 1, "oblique", out)
    with pytest.raises(ConfigError, match="--normal is for"):
        export_view(store, study, 1, "axial", out, normal=(0, 0, 1))
    with pytest.raises(ConfigError, match="--mode needs --slab"):
        export_view(store, study, 1, "axial", out, mode="mip")
    with pytest.raises(ConfigError, match="--view must be"):
        export_view(store, study, 1, "transverse", out)
    with pytest.raises(NotFoundError, match="series number 9"):
        export_view(store, study, 9, "axial", out)
    with pytest.raises(NotFoundError):
        export_view(store, "1.2.3.4", 1, "axial", out)
    assert not out.exists()
