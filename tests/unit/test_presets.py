"""Window presets as data (resources/presets/windows.toml), the loader's checks, auto window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

from workstation.core.errors import ConfigError
from workstation.viewer.pixels import FilePixels, Window, auto_window, to_display
from workstation.viewer.presets import (
    PresetBook,
    WindowPreset,
    builtin_presets_path,
    load_presets,
    read_preset_file,
)

UID_ROOT = "1.2.826.0.1.3680043.10.999.8."
RADIOGRAPHS = ["CR", "DX", "IO", "MG", "PX", "RF", "XA"]


# -- the built-in file ---------------------------------------------------------------------
def test_builtin_file_is_in_resources():
    path = builtin_presets_path()
    assert path.name == "windows.toml"
    assert path.parent.name == "presets"
    assert path.parent.parent.name == "resources"


def test_builtin_ct_presets():
    book = load_presets()
    got = [(p.key, p.name, p.center, p.width, p.function) for p in book.for_modality("CT")]
    assert got == [
        (1, "Brain", 40.0, 80.0, "LINEAR"),
        (2, "Subdural", 75.0, 215.0, "LINEAR"),
        (3, "Stroke", 40.0, 40.0, "LINEAR"),
        (4, "Bone", 400.0, 1800.0, "LINEAR"),
        (5, "Lung", -600.0, 1500.0, "LINEAR"),
        (6, "Mediastinum", 50.0, 350.0, "LINEAR"),
        (7, "Abdomen", 40.0, 400.0, "LINEAR"),
        (8, "Liver", 60.0, 160.0, "LINEAR"),
        (9, "Temporal bone", 600.0, 2800.0, "LINEAR"),
    ]
    assert all(p.source and not p.auto and not p.invert for p in book.for_modality("CT"))
    assert book.by_key("ct", 5).window() == Window(-600.0, 1500.0, "LINEAR", "Lung")
    assert book.by_key("CT", 5).label() == "5 Lung"


def test_builtin_mr_and_radiograph_presets_are_auto():
    book = load_presets()
    assert book.modalities() == sorted(["CT", "MR", *RADIOGRAPHS])
    assert len(book) == 9 + 1 + 2 * len(RADIOGRAPHS)
    mr = book.for_modality("MR")
    assert [(p.key, p.name, p.auto, p.invert) for p in mr] == [(1, "Auto", True, False)]
    for m in RADIOGRAPHS:
        got = [(p.key, p.name, p.auto, p.invert) for p in book.for_modality(m)]
        assert got == [(1, "Auto", True, False), (2, "Auto inverted", True, True)], m
    assert book.for_modality("US") == []
    assert book.by_key("CT", 0) is None


def test_an_auto_preset_needs_the_image():
    preset = load_presets().by_key("MR", 1)
    with pytest.raises(ValueError, match="takes its window from the image"):
        preset.window()


# -- site files ------------------------------------------------------------------------------
def write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_site_file_replaces_adds_and_removes(tmp_path):
    site = write(
        tmp_path,
        """
schema_version = 1

[[preset]]
modality = "CT"
key = 2
name = "Subdural (site)"
center = 70
width = 250

[[preset]]
modality = "CT"
key = 8
remove = true

[[preset]]
modality = "pt"
key = 1
name = "SUV 0-10"
center = 5
width = 10
function = "LINEAR_EXACT"
""",
    )
    book = load_presets([site])
    ct = {p.key: p for p in book.for_modality("CT")}
    assert sorted(ct) == [1, 2, 3, 4, 5, 6, 7, 9]
    assert (ct[2].name, ct[2].center, ct[2].width, ct[2].origin) == (
        "Subdural (site)",
        70.0,
        250.0,
        str(site),
    )
    assert ct[1].origin == str(builtin_presets_path())
    pt = book.by_key("PT", 1)
    assert pt.window() == Window(5.0, 10.0, "LINEAR_EXACT", "SUV 0-10")
    # a second site file wins over the first
    later = write(
        tmp_path,
        'schema_version = 1\n[[preset]]\nmodality = "CT"\nkey = 2\nname = "S2"\n'
        "center = 1\nwidth = 2\n",
        "later.toml",
    )
    assert load_presets([site, later]).by_key("CT", 2).name == "S2"
    assert load_presets([later, site]).by_key("CT", 2).name == "Subdural (site)"


def test_without_the_builtin_file(tmp_path):
    site = write(
        tmp_path,
        'schema_version = 1\n[[preset]]\nmodality = ["CR", "DX"]\nkey = 3\nname = "Wide"\n'
        "center = 2048\nwidth = 4096\ninvert = true\n",
    )
    book = load_presets([site], builtin=False)
    assert book.modalities() == ["CR", "DX"]
    assert book.by_key("DX", 3) == WindowPreset(
        "DX", 3, "Wide", 2048.0, 4096.0, invert=True, origin=str(site)
    )
    presets, removals = read_preset_file(site)
    assert [p.modality for p in presets] == ["CR", "DX"]
    assert removals == []


HEAD = "schema_version = 1\n[[preset]]\n"
GOOD = 'modality = "CT"\nkey = 1\nname = "Brain"\ncenter = 40\nwidth = 80\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema_version = 1\n[[preset]\n", "not valid TOML"),
        ("[[preset]]\n" + GOOD, "schema_version: expected 1, got None"),
        ("schema_version = 2\n", "schema_version: expected 1, got 2"),
        ("schema_version = true\n", "schema_version: expected 1, got True"),
        ("schema_version = 1\npresets = []\n", "unknown key 'presets'"),
        ("schema_version = 1\npreset = 3\n", "preset: expected [[preset]] tables"),
        (HEAD + GOOD.replace("width", "widht"), "preset 1: widht: unknown field"),
        (HEAD + GOOD.replace("width = 80\n", ""), "preset 1 (Brain): width: missing"),
        (HEAD + GOOD + "colour = 1\n", "preset 1: colour: unknown field"),
        (
            HEAD + GOOD.replace("key = 1", "key = 0"),
            "preset 1: key: expected a whole number 1..9, got 0",
        ),
        (HEAD + GOOD.replace("key = 1", "key = 10"), "key: expected a whole number 1..9, got 10"),
        (HEAD + GOOD.replace("key = 1", 'key = "1"'), "key: expected a whole number 1..9, got '1'"),
        (
            HEAD + GOOD.replace("key = 1", "key = true"),
            "key: expected a whole number 1..9, got True",
        ),
        (HEAD + GOOD.replace('modality = "CT"', 'modality = ""'), "preset 1: modality: expected"),
        (HEAD + GOOD.replace('modality = "CT"', "modality = []"), "preset 1: modality: expected"),
        (HEAD + GOOD.replace('modality = "CT"', 'modality = "C T"'), "modality: expected"),
        (
            HEAD + GOOD.replace('name = "Brain"', 'name = " "'),
            "preset 1: name: expected a non-empty",
        ),
        (
            HEAD + GOOD.replace("width = 80", "width = 0.5"),
            "preset 1 (Brain): width: window width 0.5",
        ),
        (
            HEAD + GOOD.replace("center = 40", 'center = "40"'),
            "(Brain): center: expected a finite number, got '40'",
        ),
        (
            HEAD + GOOD.replace("center = 40", "center = nan"),
            "(Brain): center: expected a finite number, got nan",
        ),
        (
            HEAD + GOOD + 'function = "CUBIC"\n',
            "(Brain): function: expected one of LINEAR, LINEAR_EXACT, SIGMOID",
        ),
        (HEAD + GOOD + "auto = 1\n", "(Brain): auto: expected true or false, got 1"),
        (HEAD + GOOD + "auto = true\n", "(Brain): center: not allowed with auto = true"),
        (HEAD + GOOD + "source = 3\n", "(Brain): source: expected text, got 3"),
        (
            HEAD + GOOD + "[[preset]]\n" + GOOD.replace("Brain", "Other"),
            "preset 2: key: 1 for CT is already used by preset 1",
        ),
        (
            HEAD + 'modality = "CT"\nkey = 1\nremove = false\n',
            "preset 1: remove: expected true, got False",
        ),
        (
            HEAD + 'modality = "CT"\nkey = 1\nremove = true\nname = "x"\n',
            "preset 1: name: not allowed with remove = true",
        ),
    ],
)
def test_a_bad_file_names_the_file_and_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_presets([path])
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_a_missing_site_file(tmp_path):
    with pytest.raises(ConfigError, match=r"gone\.toml: cannot read window presets"):
        load_presets([tmp_path / "gone.toml"])


def test_an_empty_book():
    book = PresetBook()
    assert len(book) == 0
    assert book.modalities() == []


# -- auto window -----------------------------------------------------------------------------
def mr_like(background: tuple[int, int] = (0, 20)) -> np.ndarray:
    """15000 background pixels and a body of values 200..1199, ten pixels each, shuffled.

    The body's 1st percentile (numpy's linear rule over 10000 sorted values, index 99.99) is
    209.99, its 99th (index 9899.01) 1189.01: the window spans 209.99..1189.01 inclusive,
    width 980.02 and centre (209.99 + 1189.01 + 1) / 2 = 700.
    """
    rng = np.random.default_rng(3)
    body = np.repeat(np.arange(200, 1200), 10)
    back = rng.integers(background[0], background[1], size=15000, endpoint=True)
    values = np.concatenate([body, back])
    rng.shuffle(values)
    return values.reshape(125, 200).astype(np.int16)


def test_auto_window_leaves_out_the_background():
    win = auto_window(mr_like())
    assert win.center == pytest.approx(700.0, abs=1e-9)
    assert win.width == pytest.approx(980.02, abs=1e-9)
    assert (win.function, win.explanation) == ("LINEAR", "AUTO")
    # taken over all pixels the 1st percentile falls in the background
    everything = np.percentile(mr_like(), [1, 99])
    assert everything[0] <= 20


def test_auto_window_leaves_out_pixel_padding():
    values = mr_like()
    padded = np.concatenate([values, np.full((40, 200), -2000, dtype=np.int16)])
    mask = padded == -2000
    win = auto_window(padded, exclude=mask)
    assert win.center == pytest.approx(700.0, abs=1e-9)
    assert win.width == pytest.approx(980.02, abs=1e-9)


def test_auto_window_monochrome1_background_is_bright_in_value():
    values = mr_like(background=(4000, 4020))  # direct exposure: high values in MONOCHROME1
    win = auto_window(values, "MONOCHROME1")
    assert win.center == pytest.approx(700.0, abs=1e-9)
    assert win.width == pytest.approx(980.02, abs=1e-9)
    # read as MONOCHROME2 the same pixels put the background inside the window
    assert auto_window(values, "MONOCHROME2").center > 2000


def test_auto_window_of_a_flat_image_shows_it_mid_grey():
    flat = np.full((8, 8), 7, dtype=np.int16)
    win = auto_window(flat)
    assert win == Window(7.5, 2.0, "LINEAR", "AUTO")
    assert to_display(flat, win).tolist() == np.full((8, 8), 128).tolist()
    assert auto_window(np.full((8, 8), np.nan)) == Window(0.5, 1.0)


@pytest.mark.parametrize("ones", [36233, 300])  # 14 % of the image (pydicom's liver SEG), 0.1 %
def test_auto_window_of_a_binary_mask_shows_its_ones_white(ones: int):
    """A 1-bit image (a mask, a bitmap): leaving out the zeros as background left one value,
    and a window of width 1 on it showed the whole image black."""
    mask = np.zeros(512 * 512, dtype=np.uint8)
    mask[:: (512 * 512) // ones][:ones] = 1
    mask = mask.reshape(512, 512)
    win = auto_window(mask)
    shown = to_display(mask, win)
    assert shown[mask == 1].min() == 255
    assert shown[mask == 0].max() == 0
    assert (win.center, win.width) == (1.0, 2.0)


def _mr_file(image_dataset, tmp_path: Path, modality: str = "MR") -> Path:
    stored = mr_like().astype(np.int64)
    stored = np.concatenate([stored, np.full((40, 200), 65535)])
    ds = image_dataset(
        pixels=stored,
        study_uid=UID_ROOT + "1",
        series_uid=UID_ROOT + "1.1",
        sop_uid=generate_uid(UID_ROOT),
        modality=modality,
        sop_class_uid="1.2.840.10008.5.1.4.1.1.4",
    )
    ds.PixelPaddingValue = 65535
    path = tmp_path / f"{modality}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_mr_without_a_window_gets_the_auto_window(image_dataset, tmp_path):
    fp = FilePixels(_mr_file(image_dataset, tmp_path))
    assert fp.header.pixel_padding == (65535, 65535)
    assert fp.voi_choices() == []
    win = fp.default_voi()
    assert win.center == pytest.approx(700.0, abs=1e-9)
    assert win.width == pytest.approx(980.02, abs=1e-9)
    preset = load_presets().by_key("MR", 1)
    values = fp.values(0)
    same = preset.window(values, exclude=values == 65535)
    assert (same.center, same.width, same.explanation) == (win.center, win.width, "Auto")


def test_the_inverted_preset_shows_the_image_inverted(image_dataset, tmp_path):
    fp = FilePixels(_mr_file(image_dataset, tmp_path, "DX"))
    book = load_presets()
    values = fp.values(0)
    mask = values == 65535
    plain, inverted = book.by_key("DX", 1), book.by_key("DX", 2)
    a = fp.display(0, plain.window(values, exclude=mask), invert=plain.invert)
    b = fp.display(0, inverted.window(values, exclude=mask), invert=inverted.invert)
    assert np.array_equal(b, 255 - a)
    # body value 700 sits at the window's centre: ((700 - 699.5) / 979.02 + 0.5) * 255 = 127.63
    k = np.argwhere(values == 700)[0]
    assert (a[tuple(k)], b[tuple(k)]) == (128, 127)
    window = plain.window(values, exclude=mask)
    assert np.array_equal(to_display(values, window, "MONOCHROME2", invert=True), 255 - a)
