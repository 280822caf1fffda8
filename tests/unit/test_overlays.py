"""Orientation letters, scale bar and overlay planes: exact letters, lengths and pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels.utils import pack_bits

from workstation.core.errors import DecodeError
from workstation.viewer.overlays import (
    burn_in,
    edge_labels,
    format_length,
    overlay_planes,
    read_overlay_planes,
    scale_bar_length,
)

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def letters(orientation, rotation=0, flip_h=False, flip_v=False) -> tuple[str, str, str, str]:
    e = edge_labels(orientation, rotation, flip_h, flip_v)
    return (e["left"], e["right"], e["top"], e["bottom"])


# (left, right, top, bottom) for each view; a radiologist reads these off the film.
@pytest.mark.parametrize(
    ("orientation", "rotation", "flip_h", "flip_v", "expected"),
    [
        # Axial, viewed from the feet: patient's right on the viewer's left, anterior up.
        (AXIAL, 0, False, False, ("R", "L", "A", "P")),
        (AXIAL, 90, False, False, ("P", "A", "R", "L")),
        (AXIAL, 180, False, False, ("L", "R", "P", "A")),
        (AXIAL, 270, False, False, ("A", "P", "L", "R")),
        (AXIAL, 0, True, False, ("L", "R", "A", "P")),
        (AXIAL, 0, False, True, ("R", "L", "P", "A")),
        (AXIAL, 0, True, True, ("L", "R", "P", "A")),
        (AXIAL, 90, True, False, ("A", "P", "R", "L")),
        (AXIAL, 90, False, True, ("P", "A", "L", "R")),
        # Coronal, viewed from the front: head up.
        (CORONAL, 0, False, False, ("R", "L", "H", "F")),
        (CORONAL, 90, False, False, ("F", "H", "R", "L")),
        (CORONAL, 180, False, False, ("L", "R", "F", "H")),
        (CORONAL, 270, False, False, ("H", "F", "L", "R")),
        (CORONAL, 0, True, False, ("L", "R", "H", "F")),
        (CORONAL, 0, False, True, ("R", "L", "F", "H")),
        # Sagittal, viewed from the patient's left: anterior on the left, head up.
        (SAGITTAL, 0, False, False, ("A", "P", "H", "F")),
        (SAGITTAL, 90, False, False, ("F", "H", "A", "P")),
        (SAGITTAL, 180, False, False, ("P", "A", "F", "H")),
        (SAGITTAL, 270, False, False, ("H", "F", "P", "A")),
        (SAGITTAL, 0, True, False, ("P", "A", "H", "F")),
        (SAGITTAL, 0, False, True, ("A", "P", "F", "H")),
    ],
)
def test_orientation_letters(orientation, rotation, flip_h, flip_v, expected):
    assert letters(orientation, rotation, flip_h, flip_v) == expected


def test_oblique_letters_name_the_main_axis_first():
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    oblique = (c, s, 0.0, -s, c, 0.0)  # axial turned 30° about the feet-head axis
    assert letters(oblique) == ("RA", "LP", "AL", "PR")
    assert letters(None) == ("", "", "", "")


@pytest.mark.parametrize(
    ("px_per_mm", "max_px", "expected"),
    [
        (2.0, 100.0, 50.0),  # 50 mm is exactly 100 px: fits
        (2.0, 99.9, 20.0),
        (3.6, 300.0, 50.0),  # limit 83.3 mm
        (0.1, 250.0, 2000.0),
        (100.0, 30.0, 0.2),  # limit 0.3 mm
        (1.0, 10.0, 10.0),
        (1.0, 0.05, None),  # not even 0.1 mm
        (0.0, 100.0, None),
    ],
)
def test_scale_bar_is_the_longest_round_length_that_fits(px_per_mm, max_px, expected):
    assert scale_bar_length(px_per_mm, max_px) == expected


def test_scale_bar_label():
    assert format_length(50.0) == "50 mm"
    assert format_length(0.5) == "0.5 mm"


# ---------------------------------------------------------------------------------------------
# Overlay planes


def overlay_dataset(bits: np.ndarray, origin=(1, 1), frame_origin=None, group=0x6000) -> Dataset:
    """A dataset with one Overlay Plane (PS3.3 C.9.2) holding ``bits`` (frames, rows, cols)."""
    ds = Dataset()
    frames, rows, cols = bits.shape
    ds.add_new((group, 0x0010), "US", rows)
    ds.add_new((group, 0x0011), "US", cols)
    ds.add_new((group, 0x0040), "CS", "G")
    ds.add_new((group, 0x0050), "SS", list(origin))
    ds.add_new((group, 0x0100), "US", 1)
    ds.add_new((group, 0x0102), "US", 0)
    if frames > 1:
        ds.add_new((group, 0x0015), "IS", frames)
    if frame_origin is not None:
        ds.add_new((group, 0x0051), "US", frame_origin)
    packed = pack_bits(bits.astype(np.uint8).ravel())
    ds.add_new((group, 0x3000), "OW", packed + (b"\0" if len(packed) % 2 else b""))
    return ds


def test_overlay_is_placed_at_its_origin():
    bits = np.zeros((1, 3, 4), dtype=bool)
    bits[0, 0, 0] = bits[0, 2, 3] = bits[0, 1, 2] = True
    planes = overlay_planes(overlay_dataset(bits, origin=(3, 5)))
    assert len(planes) == 1
    p = planes[0]
    assert (p.group, p.rows, p.columns, p.origin, p.overlay_type) == (0x6000, 3, 4, (3, 5), "G")
    image = np.full((8, 10), 40, dtype=np.uint8)
    out = burn_in(image, planes)
    # Overlay point (1, 1) lies on image row 3, column 5 (1-based): index (2, 4).
    assert sorted(map(tuple, np.argwhere(out == 255))) == [(2, 4), (3, 6), (4, 7)]
    assert (out != 255).sum() == 77 and image.max() == 40  # the input is not touched


def test_overlay_is_clipped_to_the_image_and_colour_makes_rgb():
    bits = np.ones((1, 4, 4), dtype=bool)
    planes = overlay_planes(overlay_dataset(bits, origin=(-1, 8)))
    out = burn_in(np.zeros((5, 10), dtype=np.uint8), planes, color=(255, 128, 0))
    assert out.shape == (5, 10, 3)
    # Rows -2..1 and columns 7..10 (0-based) of the overlay: only rows 0..1, columns 7..9 land.
    hit = np.argwhere((out == (255, 128, 0)).all(axis=2))
    assert sorted(map(tuple, hit)) == [(r, c) for r in (0, 1) for c in (7, 8, 9)]


def test_multiframe_overlay_follows_image_frame_origin():
    bits = np.zeros((2, 2, 2), dtype=bool)
    bits[0, 0, 0] = True
    bits[1, 1, 1] = True
    (plane,) = overlay_planes(overlay_dataset(bits, frame_origin=2))
    assert plane.number_of_frames == 2
    assert plane.frame_bitmap(0) is None
    assert plane.frame_bitmap(1)[0, 0] and not plane.frame_bitmap(1)[1, 1]
    assert plane.frame_bitmap(2)[1, 1]
    assert plane.frame_bitmap(3) is None
    image = np.zeros((2, 2), dtype=np.uint8)
    assert burn_in(image, [plane], image_frame=0) is image  # nothing to draw: no copy


def test_single_frame_overlay_applies_to_every_frame():
    bits = np.ones((1, 2, 2), dtype=bool)
    (plane,) = overlay_planes(overlay_dataset(bits))
    assert plane.frame_bitmap(0).all() and plane.frame_bitmap(7).all()


def test_pydicom_sample_overlay_bits_land_where_the_file_says(sample):
    path = sample("examples_overlay.dcm")
    planes = read_overlay_planes(path)
    assert [p.group for p in planes] == [0x6000]
    ds = pydicom.dcmread(path)
    # Unpack Overlay Data independently: bits little-endian within each byte (PS3.5 8.1.1).
    raw = np.frombuffer(ds[0x6000, 0x3000].value, dtype=np.uint8)
    expected = np.unpackbits(raw, bitorder="little")[: ds.Rows * ds.Columns]
    expected = expected.reshape(ds.Rows, ds.Columns).astype(bool)
    assert expected.sum() > 100
    out = burn_in(np.zeros((ds.Rows, ds.Columns), dtype=np.uint8), planes)
    assert np.array_equal(out == 255, expected)


def test_unreadable_file_raises_decode_error(tmp_path: Path):
    bad = tmp_path / "x.dcm"
    bad.write_bytes(b"not dicom at all")
    with pytest.raises(DecodeError):
        read_overlay_planes(bad)


def test_scene_draws_overlay_pixels_exactly():
    from workstation.viewer.scene2d import SliceScene, offscreen_window

    bits = np.zeros((1, 6, 6), dtype=bool)
    bits[0, 1:5, 2] = True
    planes = overlay_planes(overlay_dataset(bits, origin=(3, 4)))
    image = np.full((20, 30), 60, dtype=np.uint8)
    win = offscreen_window(30, 20)
    scene = SliceScene(win)
    scene.set_image(image, (1.0, 1.0), planes)
    grey = scene.capture()[..., 0]
    win.Finalize()
    # Overlay column 3 rows 2..5 (1-based) -> image column 3 + 4 - 1 = 6, rows 4..7 (1-based).
    assert sorted(map(tuple, np.argwhere(grey == 255))) == [(r, 5) for r in range(3, 7)]
    assert (grey == 60).sum() == 30 * 20 - 4
