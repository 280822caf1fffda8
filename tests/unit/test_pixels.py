"""workstation.viewer.pixels and the ImageStack/read_volume path from the store to values.

VOI LUT formulas: PS3.3 C.11.2.1.2.1 (LINEAR), C.11.2.1.3.1 (SIGMOID), C.11.2.1.3.2
(LINEAR_EXACT). Display values are rounded half to even (numpy.rint), so an exact 127.5
shows as 128.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRBigEndian

from workstation.archive.dicomio import parse_file
from workstation.archive.local import LocalArchive
from workstation.core.errors import DecodeError
from workstation.core.model import Instance
from workstation.viewer import pixels
from workstation.viewer.pixels import (
    Window,
    decode_frames,
    default_window,
    file_windows,
    modality_lut,
    read_native_frame,
    stored_range,
    to_display,
    voi_lut,
)
from workstation.viewer.stack import ImageStack, can_read_as_volume, read_volume


def linear_reference(x: np.ndarray, c: float, w: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 in float64, ymin 0, ymax 255."""
    x = np.asarray(x, dtype=np.float64)
    y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255.0
    y = np.where(x <= c - 0.5 - (w - 1) / 2, 0.0, y)
    return np.where(x > c - 0.5 + (w - 1) / 2, 255.0, y)


# -- VOI LUT -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("c", "w"), [(40.0, 400.0), (-600.0, 1500.0), (0.0, 100.0), (1000, 4096), (2047.5, 4096)]
)
def test_linear_window_edges_and_centre(c, w):
    lower = c - 0.5 - (w - 1) / 2
    upper = c - 0.5 + (w - 1) / 2
    win = Window(c, w)
    out = voi_lut(np.array([lower - 100, lower, upper, upper + 100]), win)
    assert out.tolist() == [0, 0, 255, 255]
    # c - 0.5 is the exact middle of the ramp: 127.5, shown as 128 (half to even)
    assert int(voi_lut(np.array([c - 0.5]), win)[0]) == 128
    centre = int(voi_lut(np.array([c]), win)[0])
    assert abs(centre - 128) <= 1


def test_narrow_linear_window_edges():
    # w = 2: the ramp is the single step from c - 1 (0) to c (255).
    assert voi_lut(np.array([-1.0, -0.5, 0.0]), Window(0, 2)).tolist() == [0, 128, 255]


def test_linear_window_known_values():
    # c=40, w=400: lower edge -160, upper edge 239.
    out = voi_lut(np.array([-160.0, -159.0, 39.5, 40.0, 139.75, 238.0, 239.0]), Window(40, 400))
    # ((x - 39.5) / 399 + 0.5) * 255: 0, 0.64, 127.5, 127.82, 191.57, 254.36, 255
    assert out.tolist() == [0, 1, 128, 128, 192, 254, 255]


@pytest.mark.parametrize(("c", "w"), [(40.0, 400.0), (-600.0, 1500.0), (3.0, 7.0)])
def test_linear_window_matches_the_standard_formula(c, w):
    x = np.arange(c - w, c + w, 0.25)
    got = voi_lut(x, Window(c, w)).astype(int)
    ref = linear_reference(x, c, w)
    # Rounded to the nearest grey level; float32 arithmetic may tip an exact .5 either way.
    assert np.max(np.abs(got - ref)) <= 0.5 + 1e-3


def test_width_one_is_a_threshold_at_centre_minus_half():
    out = voi_lut(np.array([8.0, 9.5, 9.51, 10.0, 11.0]), Window(10, 1))
    assert out.tolist() == [0, 0, 255, 255, 255]


def test_linear_exact():
    win = Window(100, 50, "LINEAR_EXACT")
    out = voi_lut(np.array([0.0, 75.0, 87.5, 100.0, 112.5, 125.0, 200.0]), win)
    # (x - c) / w + 0.5, times 255; at the centre 127.5 -> 128 (half to even)
    assert out.tolist() == [0, 0, 64, 128, 191, 255, 255]


def test_sigmoid():
    win = Window(100, 50, "SIGMOID")
    out = voi_lut(np.array([100.0, 150.0, 50.0, 350.0, -150.0]), win)
    # 255 / (1 + exp(-4 (x - c) / w)): 127.5 -> 128, 250.33 -> 250, 4.67 -> 5, 255, 0
    assert out.tolist() == [128, 250, 5, 255, 0]


def test_sigmoid_far_outside_the_window_is_quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = voi_lut(np.array([-1000.0, 3000.0]), Window(40, 10, "SIGMOID"))
    assert out.tolist() == [0, 255]


@pytest.mark.parametrize(
    ("c", "w", "function"),
    [
        (40, 0.5, "LINEAR"),
        (40, 0.5, "SIGMOID"),
        (float("nan"), 400, "LINEAR"),
        (40, float("inf"), "LINEAR"),
    ],
)
def test_window_rejects_invalid_values(c, w, function):
    with pytest.raises(ValueError):
        Window(c, w, function)


def test_linear_exact_width_zero_is_rejected():
    with pytest.raises(ValueError):
        Window(40, 0, "LINEAR_EXACT")


def test_window_label():
    assert Window(40, 400).label() == "W 400 L 40"
    assert Window(-600, 1500.5).label() == "W 1500.5 L -600"


# -- to_display ----------------------------------------------------------------------------
def test_monochrome1_is_inverted():
    values = np.array([[-200, 40, 300], [0, 100, 239]], dtype=np.int16)
    win = Window(40, 400)
    m2 = to_display(values, win, "MONOCHROME2")
    m1 = to_display(values, win, "MONOCHROME1")
    assert m2.tolist() == [[0, 128, 255], [102, 166, 255]]
    assert m1.tolist() == [[255, 127, 0], [153, 89, 0]]
    assert np.array_equal(m1, 255 - m2)


@pytest.mark.parametrize(
    ("lo", "hi", "dtype"),
    [
        (-1024, 3071, np.int16),
        (-32768, 32767, np.int16),
        (0, 4095, np.uint16),
        (0, 65535, np.uint16),
        (-3000, 3000, np.int32),
    ],
)
@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_table_fast_path_equals_direct_path(lo, hi, dtype, photometric):
    rng = np.random.default_rng(1234)
    values = rng.integers(lo, hi, size=(128, 128), endpoint=True).astype(dtype)
    assert values.size > 4096  # the table path
    for win in (Window(40, 400), Window(1000, 3000, "SIGMOID"), Window(0, 1)):
        fast = to_display(values, win, photometric)
        direct = voi_lut(values, win)
        if photometric == "MONOCHROME1":
            direct = 255 - direct
        assert fast.dtype == np.uint8
        assert np.array_equal(fast, direct)


def test_table_fast_path_with_padding_value_far_below():
    values = np.full((128, 128), 3000, dtype=np.int16)
    values[0, :] = -32768  # pixel padding
    out = to_display(values, Window(40, 400), "MONOCHROME2")
    assert out[0, 0] == 0
    assert out[64, 64] == 255


# -- modality LUT --------------------------------------------------------------------------
def _inst(**kw) -> Instance:
    base = {
        "sop_instance_uid": "1.2.3",
        "series_instance_uid": "1.2",
        "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
        "transfer_syntax_uid": "1.2.840.10008.1.2.1",
        "path": "x.dcm",
        "rows": 2,
        "columns": 2,
        "bits_allocated": 16,
        "bits_stored": 12,
        "pixel_representation": 0,
        "photometric_interpretation": "MONOCHROME2",
    }
    base.update(kw)
    return Instance(**base)


def test_modality_lut_integer_intercept_stays_integer():
    stored = np.array([[0, 1024], [2048, 4095]], dtype=np.uint16)
    out = modality_lut(stored, _inst(rescale_intercept=-1024.0))
    assert out.dtype == np.int16
    assert out.tolist() == [[-1024, 0], [1024, 3071]]


def test_modality_lut_signed_16_bit_widens_to_int32():
    stored = np.array([[-32768, 0], [100, 32767]], dtype=np.int16)
    out = modality_lut(
        stored, _inst(bits_stored=16, pixel_representation=1, rescale_intercept=-1024)
    )
    assert out.dtype == np.int32
    assert out.tolist() == [[-33792, -1024], [-924, 31743]]


def test_modality_lut_identity_returns_the_input():
    stored = np.array([[1, 2], [3, 4]], dtype=np.uint16)
    assert modality_lut(stored, _inst()) is stored


def test_modality_lut_integer_slope():
    stored = np.array([[0, 1], [10, 4095]], dtype=np.uint16)
    out = modality_lut(stored, _inst(rescale_slope=2.0, rescale_intercept=-1024.0))
    assert out.dtype == np.float32
    assert out.tolist() == [[-1024.0, -1022.0], [-1004.0, 7166.0]]


def test_modality_lut_fractional_slope_and_intercept():
    stored = np.array([[0, 1], [3, 1000]], dtype=np.uint16)
    out = modality_lut(stored, _inst(rescale_slope=0.25, rescale_intercept=-0.5))
    assert out.dtype == np.float32
    assert out.tolist() == [[-0.5, -0.25], [0.25, 249.5]]  # exact in binary floating point
    pet = modality_lut(stored, _inst(rescale_slope=0.1, rescale_intercept=0.0))
    np.testing.assert_allclose(pet, [[0.0, 0.1], [0.3, 100.0]], rtol=1e-6)


def test_stored_range():
    assert stored_range(_inst()) == (0, 4095)
    assert stored_range(_inst(bits_stored=16, pixel_representation=1)) == (-32768, 32767)
    assert stored_range(_inst(bits_stored=12, pixel_representation=1)) == (-2048, 2047)
    assert stored_range(_inst(bits_stored=0, bits_allocated=8)) == (0, 255)


# -- default and file windows ------------------------------------------------------------
def test_default_window_choices(sample):
    mr = parse_file(sample("MR_small.dcm")).instance
    assert default_window(mr, "MR") == Window(600.0, 1600.0)
    ct = parse_file(sample("CT_small.dcm")).instance  # stores no window
    assert default_window(ct, "CT") == Window(40.0, 400.0)
    values = np.array([[10, 20], [30, 109]])
    assert default_window(ct, "OT", values) == Window(60.0, 100.0)
    assert default_window(_inst(), "OT") == Window(2048.0, 4096.0)


def test_file_windows_in_order_with_explanations():
    inst = _inst(
        window_center=(40.0, -600.0, 10.0),
        window_width=(400.0, 1500.0, 0.0),
        window_explanation=("SOFT", "LUNG"),
        voi_lut_function="LINEAR",
    )
    assert file_windows(inst) == [
        Window(40.0, 400.0, "LINEAR", "SOFT"),
        Window(-600.0, 1500.0, "LINEAR", "LUNG"),
        Window(10.0, 1.0, "LINEAR", ""),  # a width below 1 is raised to 1
    ]


# -- reading pixels ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "offset"),
    [
        ("CT_small.dcm", 6300),
        ("MR_small.dcm", 1500),
        ("MR_small_implicit.dcm", 1510),
        ("MR_small_bigendian.dcm", 1516),
    ],
)
def test_read_native_frame_equals_pydicom(sample, name, offset):
    path = sample(name)
    inst = parse_file(path).instance
    assert inst.pixel_data_offset == offset
    got = read_native_frame(path, inst)
    expected = pydicom.dcmread(path).pixel_array
    assert got is not None
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_read_native_frame_big_endian_equals_little_endian(sample):
    be = sample("MR_small_bigendian.dcm")
    le = sample("MR_small.dcm")
    a = read_native_frame(be, parse_file(be).instance)
    b = read_native_frame(le, parse_file(le).instance)
    assert np.array_equal(a, b)
    assert int(a[0, 0]) == 905


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "SC_rgb_small_odd.dcm", "JPEG2000.dcm"])
def test_read_native_frame_declines_what_it_cannot_read(sample, name):
    path = sample(name)
    assert read_native_frame(path, parse_file(path).instance) is None


def test_read_native_frame_of_a_file_cut_after_indexing(sample, tmp_path):
    copy = tmp_path / "ct.dcm"
    shutil.copy(sample("CT_small.dcm"), copy)
    inst = parse_file(copy).instance
    copy.write_bytes(copy.read_bytes()[:10000])
    with pytest.raises(DecodeError, match="truncated"):
        read_native_frame(copy, inst)


@pytest.mark.parametrize(
    "name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"]
)
def test_lossless_compressed_mr_decodes_to_the_uncompressed_values(sample, name):
    path = sample(name)
    got = decode_frames(path, parse_file(path).instance)
    expected = pydicom.dcmread(sample("MR_small.dcm")).pixel_array
    assert got.shape == (1, 64, 64)
    assert np.array_equal(got[0], expected)


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("SC_rgb_small_odd.dcm", (1, 3, 3, 3)),
        ("SC_rgb_rle.dcm", (1, 100, 100, 3)),
        ("SC_rgb_rle_2frame.dcm", (2, 100, 100, 3)),
        ("examples_rgb_color.dcm", (1, 240, 320, 3)),
    ],
)
def test_rgb_stays_rgb(sample, name, shape):
    path = sample(name)
    inst = parse_file(path).instance
    assert pixels.is_color(inst)
    got = decode_frames(path, inst)
    assert got.shape == shape
    assert got.dtype == np.uint8
    assert np.array_equal(got.reshape(shape), pydicom.dcmread(path).pixel_array.reshape(shape))


def test_palette_colour_gives_rgb(sample):
    path = sample("examples_palette.dcm")
    inst = parse_file(path).instance
    assert inst.photometric_interpretation == "PALETTE COLOR"
    assert pixels.is_color(inst)
    got = decode_frames(path, inst)
    ds = pydicom.dcmread(path)
    expected = pydicom.pixels.apply_color_lut(ds.pixel_array, ds)  # 16-bit entries
    assert got.shape == (1, 350, 800, 3)
    assert got.dtype == np.uint8
    assert np.array_equal(got[0], (expected >> 8).astype(np.uint8))


def test_decode_frames_of_a_missing_file(sample, tmp_path):
    inst = parse_file(sample("MR_small_RLE.dcm")).instance
    with pytest.raises(DecodeError, match="missing"):
        decode_frames(tmp_path / "gone.dcm", inst)


# -- ImageStack and read_volume --------------------------------------------------------------
ROOT = "1.2.826.0.1.3680043.10.999.3."


def _series(
    archive: LocalArchive,
    write_image: Callable[..., Path],
    stored: list[np.ndarray],
    *,
    tag: str,
    **kw,
) -> str:
    """Write one slice per array, instance numbers 1..n at z = 10, 7.5, 5, ... (reversed)."""
    study, series = ROOT + tag, ROOT + tag + ".1"
    files = [
        write_image(
            pixels=arr,
            study_uid=study,
            series_uid=series,
            sop_uid=f"{series}.{n}",
            instance_number=n,
            position=(-4.0, -4.0, 10.0 - 2.5 * (n - 1)),
            **kw,
        )
        for n, arr in enumerate(stored, 1)
    ]
    report = archive.import_paths(files)
    assert report.imported == len(stored)
    return series


def _slices_12bit_with_garbage() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(7)
    stored, expected = [], []
    for k in range(5):
        vals = rng.integers(0, 4095, size=(16, 16), endpoint=True)
        vals[0, 0] = 0
        vals[0, 1] = 4095
        garbage = np.zeros_like(vals)
        if k % 2 == 0:
            garbage = rng.integers(0, 15, size=(16, 16), endpoint=True) << 12
            garbage[1, 0] = 0xF000
        stored.append(vals | garbage)
        expected.append(vals - 1024)
    return stored, expected


def test_volume_of_unsigned_12_bit_ct_masks_high_bits_and_adds_intercept(archive, write_image):
    stored, expected = _slices_12bit_with_garbage()
    uid = _series(
        archive,
        write_image,
        stored,
        tag="1",
        bits_stored=12,
        pixel_representation=0,
        rescale_intercept=-1024,
    )

    stack = ImageStack.open(archive, uid)
    assert [i.instance_number for i in stack.instances] == [5, 4, 3, 2, 1]
    z = [i.image_position_patient[2] for i in stack.instances]
    assert z == [0.0, 2.5, 5.0, 7.5, 10.0]  # ascending along the normal (0, 0, 1)
    assert can_read_as_volume(stack.instances)

    per_slice = ImageStack.open(archive, uid)
    direct = [per_slice.values(i).copy() for i in range(5)]

    vol = stack.load_volume()
    assert vol is not None
    assert vol.dtype == np.int16
    assert vol.shape == (5, 16, 16)
    for k in range(5):
        # slice k of the volume is instance 5 - k
        assert np.array_equal(vol[k], expected[4 - k])
        assert np.array_equal(stack.values(k), expected[4 - k])
        assert direct[k].dtype == np.int16
        assert np.array_equal(direct[k], vol[k])
    assert int(vol.min()) == -1024 and int(vol.max()) == 3071


def test_volume_of_signed_16_bit(archive, write_image):
    rng = np.random.default_rng(11)
    stored = [rng.integers(-3000, 3000, size=(16, 16), endpoint=True) for _ in range(4)]
    stored[0][0, 0] = -32768
    stored[0][0, 1] = 32767
    uid = _series(archive, write_image, stored, tag="2", bits_stored=16, pixel_representation=1)
    stack = ImageStack.open(archive, uid)
    vol = stack.load_volume()
    per_slice = ImageStack.open(archive, uid)
    assert vol.dtype == np.int16
    for k in range(4):
        assert np.array_equal(vol[k], stored[3 - k])
        assert np.array_equal(per_slice.values(k), stored[3 - k])
        assert per_slice.values(k).dtype == np.int16


def test_volume_of_signed_16_bit_with_intercept_widens_to_int32(archive, write_image):
    stored = [np.full((16, 16), v, dtype=np.int64) for v in (-32768, 0, 32767)]
    uid = _series(
        archive,
        write_image,
        stored,
        tag="3",
        bits_stored=16,
        pixel_representation=1,
        rescale_intercept=-1024,
    )
    vol = ImageStack.open(archive, uid).load_volume()
    per_slice = ImageStack.open(archive, uid)
    assert vol.dtype == np.int32
    assert vol[:, 0, 0].tolist() == [32767 - 1024, -1024, -32768 - 1024]
    for k in range(3):
        assert np.array_equal(per_slice.values(k), vol[k])


def test_volume_of_signed_12_bit_sign_extends_past_garbage(archive, write_image):
    rng = np.random.default_rng(3)
    values = [rng.integers(-2048, 2047, size=(16, 16), endpoint=True) for _ in range(3)]
    stored = [(v & 0x0FFF) | (0xA000 if k == 1 else 0) for k, v in enumerate(values)]
    uid = _series(archive, write_image, stored, tag="4", bits_stored=12, pixel_representation=1)
    vol = ImageStack.open(archive, uid).load_volume()
    per_slice = ImageStack.open(archive, uid)
    assert vol.dtype == np.int16
    for k in range(3):
        assert np.array_equal(vol[k], values[2 - k])
        assert np.array_equal(per_slice.values(k), values[2 - k])


def test_volume_of_big_endian_12_bit(archive, write_image):
    stored, expected = _slices_12bit_with_garbage()
    uid = _series(
        archive,
        write_image,
        stored,
        tag="5",
        bits_stored=12,
        pixel_representation=0,
        rescale_intercept=-1024,
        transfer_syntax=ExplicitVRBigEndian,
    )
    stack = ImageStack.open(archive, uid)
    vol = stack.load_volume()
    per_slice = ImageStack.open(archive, uid)
    assert vol.dtype == np.int16
    for k in range(5):
        assert np.array_equal(vol[k], expected[4 - k])
        assert np.array_equal(per_slice.values(k), expected[4 - k])


def test_read_volume_reports_a_truncated_slice(archive, write_image):
    stored, _ = _slices_12bit_with_garbage()
    uid = _series(archive, write_image, stored, tag="6", bits_stored=12, rescale_intercept=-1024)
    insts = ImageStack.open(archive, uid).instances
    victim = archive.path_of(insts[2])
    victim.chmod(0o600)
    victim.write_bytes(victim.read_bytes()[:-100])
    with pytest.raises(DecodeError, match="image 3 of the series is truncated"):
        read_volume(archive.root, insts)


def test_stack_display_of_ct(archive, write_image):
    stored, expected = _slices_12bit_with_garbage()
    uid = _series(archive, write_image, stored, tag="7", bits_stored=12, rescale_intercept=-1024)
    stack = ImageStack.open(archive, uid)
    assert len(stack) == 5
    assert stack.modality == "CT"
    assert stack.pixel_spacing(0) == (0.5, 0.5)
    win = stack.default_window(0)
    assert win == Window(40.0, 400.0)
    assert np.array_equal(stack.display(0, win), voi_lut(expected[4], win))


def test_stack_from_file_of_a_palette_image_is_colour(sample):
    stack = ImageStack.from_file(sample("examples_palette.dcm"))
    assert stack.is_color(0)


def test_stack_values_of_a_palette_image_are_rgb(sample):
    path = sample("examples_palette.dcm")
    stack = ImageStack.from_file(path)
    vals = stack.values(0)
    assert vals.shape == (350, 800, 3)
    assert np.array_equal(vals, decode_frames(path, parse_file(path).instance)[0])


def test_read_volume_unsigned_16_bit_with_large_negative_intercept(archive, write_image):
    """Stored values above 32767 with intercept -32768 fit int16 only after the rescale."""
    from workstation.viewer.stack import read_volume

    uid = "1.2.826.0.1.3680043.10.999.88"
    files = []
    for k in range(3):
        px = np.full((4, 4), 40000 + k, dtype=np.uint16)
        px[0, 0] = 0
        files.append(
            write_image(
                pixels=px,
                study_uid=uid,
                series_uid=uid + ".1",
                sop_uid=f"{uid}.1.{k}",
                instance_number=k + 1,
                position=(0.0, 0.0, float(k)),
                bits_stored=16,
                rescale_intercept=-32768,
            )
        )
    archive.import_paths(files)
    instances = archive.instances(uid + ".1")
    vol = read_volume(archive.root, instances)
    assert vol.dtype == np.int16
    assert [int(vol[k, 1, 1]) for k in range(3)] == [40000 - 32768 + k for k in range(3)]
    assert int(vol[0, 0, 0]) == -32768
