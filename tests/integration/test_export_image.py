"""export-image renders through the viewer's pipeline: grey levels and positions are exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from vtkmodules.util import numpy_support
from vtkmodules.vtkIOImage import vtkPNGReader

from workstation.demo import CT_HEAD, DX_CHEST
from workstation.demo.studies import HEAD_HAEMATOMA_CENTER_LPS, HEAD_LEFT_MARKER_CENTER_LPS
from workstation.viewer.pixels import Window, voi_lut


def read_png(path: Path) -> np.ndarray:
    """A PNG as (rows, columns, channels), row 0 at the top."""
    reader = vtkPNGReader()
    reader.SetFileName(str(path))
    reader.Update()
    img = reader.GetOutput()
    w, h, _ = img.GetDimensions()
    arr = numpy_support.vtk_to_numpy(img.GetPointData().GetScalars())
    return arr.reshape(h, w, -1)[::-1]


def grey_of(hu: float, window: Window) -> int:
    return int(voi_lut(np.array([hu], dtype=np.float32), window)[0])


def component_centroid(mask: np.ndarray, seed: tuple[int, int]) -> tuple[float, float]:
    """Centroid (row, col) of the 4-connected region of ``mask`` that contains ``seed``."""
    seen = np.zeros_like(mask, dtype=bool)
    stack = [seed]
    pts = []
    while stack:
        r, c = stack.pop()
        if not (0 <= r < mask.shape[0] and 0 <= c < mask.shape[1]) or seen[r, c] or not mask[r, c]:
            continue
        seen[r, c] = True
        pts.append((r, c))
        stack += [(r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)]
    a = np.array(pts, dtype=float)
    return float(a[:, 0].mean()), float(a[:, 1].mean())


def test_haematoma_grey_level_and_position(cli, demo_store, tmp_path, artifact_dir):
    series = CT_HEAD.series[0]
    col, row, k = series.lps_to_pixel(HEAD_HAEMATOMA_CENTER_LPS)
    assert k == pytest.approx(round(k))  # the centre lies on a slice
    instance_number = round(k) + 1  # the generator numbers instances from the lowest z
    window = Window(70, 400)  # wide enough that 3 HU of noise is < 2 grey levels
    out = tmp_path / "haematoma.png"
    r = cli(
        "export-image",
        "--data-dir",
        str(demo_store),
        "--study",
        CT_HEAD.study_instance_uid,
        "--instance",
        str(instance_number),
        "--window",
        "70/400",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    img = read_png(out)[..., 0].astype(float)
    assert img.shape == (series.rows, series.columns)
    (artifact_dir / "export_ct_head_haematoma.png").write_bytes(out.read_bytes())

    expected = grey_of(70.0, window)  # 128
    brain = grey_of(35.0, window)
    assert expected == 128 and brain == 105
    rr, cc = round(row), round(col)
    patch = img[rr - 2 : rr + 3, cc - 2 : cc + 3]
    # 25 pixels of 3 HU noise: the mean is within ±1 grey level (noise SD ≈ 0.4 grey).
    assert patch.mean() == pytest.approx(expected, abs=1.0)
    # The sphere's centroid in the picture is where the geometry says (within one pixel).
    mask = img > (expected + brain) / 2
    cr, ccol = component_centroid(mask, (rr, cc))
    assert abs(cr - row) <= 1.0 and abs(ccol - col) <= 1.0
    # Its area is that of an 8 mm radius disc at 0.45 mm pixels (within 3 %).
    area_px = np.pi * (8.0 / 0.45) ** 2
    seen = mask[rr - 25 : rr + 26, cc - 25 : cc + 26].sum()
    assert seen == pytest.approx(area_px, rel=0.03)


def test_left_marker_is_on_the_viewers_right(cli, demo_store, tmp_path):
    series = CT_HEAD.series[0]
    col, row, k = series.lps_to_pixel(HEAD_LEFT_MARKER_CENTER_LPS)
    out = tmp_path / "marker.png"
    r = cli(
        "export-image",
        "--data-dir",
        str(demo_store),
        "--study",
        CT_HEAD.study_instance_uid,
        "--instance",
        str(round(k) + 1),
        "--window",
        "40/400",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    img = read_png(out)[..., 0]
    # The 2000 HU marker (saturated at this window) is centred where the geometry says.
    cr, cc = component_centroid(img == 255, (round(row), round(col)))
    assert abs(cr - row) <= 1.0 and abs(cc - col) <= 1.0
    assert col > series.columns / 2 + 100  # patient left on the viewer's right


def test_monochrome1_radiograph_is_inverted(cli, demo_store, tmp_path):
    lateral = next(s for s in DX_CHEST.series if s.photometric_interpretation == "MONOCHROME1")
    out = tmp_path / "lat.png"
    r = cli(
        "export-image",
        "--data-dir",
        str(demo_store),
        "--study",
        DX_CHEST.study_instance_uid,
        "--series",
        str(lateral.series_number),
        "--out",
        str(out),
        "--size",
        "400x400",
    )
    assert r.returncode == 0, r.stderr
    img = read_png(out)[..., 0].astype(int)
    assert img.shape == (400, 400)
    # Background stored high (3900) in MONOCHROME1 means little attenuation: shown dark.
    corner = img[5:25, 5:25]
    assert corner.mean() < 40


def test_export_annotations_and_errors(cli, demo_store, tmp_path, artifact_dir):
    out = tmp_path / "annotated.png"
    r = cli(
        "export-image",
        "--data-dir",
        str(demo_store),
        "--study",
        CT_HEAD.study_instance_uid,
        "--annotations",
        "--size",
        "512x512",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    plain = tmp_path / "plain.png"
    cli(
        "export-image",
        "--data-dir",
        str(demo_store),
        "--study",
        CT_HEAD.study_instance_uid,
        "--size",
        "512x512",
        "--out",
        str(plain),
    )
    a, b = read_png(out), read_png(plain)
    # Text is drawn in the corners only; the image centre is unchanged.
    assert (a[:40, :150] != b[:40, :150]).any()
    assert np.array_equal(a[200:300, 200:300], b[200:300, 200:300])
    (artifact_dir / "export_ct_head_annotated.png").write_bytes(out.read_bytes())

    bad = cli("export-image", "--data-dir", str(demo_store), "--study", "1.2.3", "--out", "x.png")
    assert bad.returncode == 2
    assert "not in the local store" in bad.stderr
    bad = cli(
        "export-image",
        "--data-dir",
        str(demo_store),
        "--study",
        CT_HEAD.study_instance_uid,
        "--window",
        "40",
        "--out",
        str(tmp_path / "w.png"),
    )
    assert bad.returncode == 2
    assert "CENTER/WIDTH" in bad.stderr


def test_export_mpr_views_from_the_command_line(cli, demo_store, tmp_path, artifact_dir):
    """--view: the position lands on the image centre; patient left on the right; slabs."""
    from workstation.demo import CT_CHEST_ABDOMEN
    from workstation.demo.studies import CHEST_AIR_POCKET_CENTER_LPS, CHEST_LEFT_MARKER_CENTER_LPS

    def export(name, *extra):
        out = tmp_path / f"{name}.png"
        r = cli(
            "export-image",
            "--data-dir",
            str(demo_store),
            "--study",
            CT_CHEST_ABDOMEN.study_instance_uid,
            "--size",
            "256x256",
            "--out",
            str(out),
            *extra,
        )
        assert r.returncode == 0, r.stderr
        (artifact_dir / f"export_mpr_{name}.png").write_bytes(out.read_bytes())
        return read_png(out)[..., 0].astype(int)

    x, y, z = CHEST_LEFT_MARKER_CENTER_LPS
    for view in ("axial", "coronal"):
        img = export(view, "--view", view, "--position", f"{x},{y},{z}", "--window", "40/400")
        # The 2000 HU marker sits on the centre pixel (width // 2, height // 2).
        assert img[128, 128] == 255
        # Toward the patient's right (the viewer's left) of the marker: body, not marker.
        assert img[128, 60] < 255
    ax, ay, az = CHEST_AIR_POCKET_CENTER_LPS
    minip = export(
        "minip",
        "--view",
        "axial",
        "--position",
        f"{ax},{ay},{az}",
        "--slab",
        "20",
        "--mode",
        "minip",
        "--window",
        "40/400",
    )
    assert minip[128, 128] == 0  # air (-1000 HU) at the darkest end of the window
    bad = cli(
        "export-image",
        "--data-dir",
        str(demo_store),
        "--study",
        CT_CHEST_ABDOMEN.study_instance_uid,
        "--view",
        "axial",
        "--position",
        "1,2",
        "--out",
        str(tmp_path / "x.png"),
    )
    assert bad.returncode == 2 and "--position must be X,Y,Z" in bad.stderr
