"""Corner text and edge letters of a 2D viewport keep apart in narrow viewports (issue #3),
rendered for real by VTK offscreen; large viewports look exactly as vtkCornerAnnotation drew."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from vtkmodules.vtkRenderingAnnotation import vtkCornerAnnotation
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkWindowToImageFilter

from workstation.core.fonts import best_cover, font_characters
from workstation.viewer.scene2d import (
    CORNERS,
    ELLIPSIS,
    MISSING_GLYPH,
    SliceScene,
    boxes_overlap,
    offscreen_window,
    overlay_font,
    shape_for_display,
    shorten_line,
    unicode_font,
)

CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)  # letters R, L, H (top), F (bottom)
TEXTS = {
    "top_left": "Doe, Jane\nDEMO-0001\n1970-01-01 F\nCT HEAD WITHOUT CONTRAST",
    "top_right": "Demo General Hospital\n2024-03-05 10:21\nSe 2: Axial 5 mm brain\nIm 12/30",
    "bottom_left": "W 80 L 40\nZoom 0.68 linear",
    "bottom_right": "Thickness 5.0 mm\nLoc -12.5 mm",
}
LONG = {
    **TEXTS,
    "top_left": "Doe-Featherstonehaugh, Jane Alexandra\nDEMO-0001",
    "bottom_left": "W 80 L 40\nZoom 0.68 linear, window preset brain",
}


def _scene(w: int, h: int, texts=TEXTS, image: bool = True) -> SliceScene:
    scene = SliceScene(offscreen_window(w, h))
    if image:
        yy, xx = np.mgrid[0:512, 0:512]
        disc = ((xx - 256) ** 2 + (yy - 256) ** 2) < 200**2
        scene.set_image(disc.astype(np.uint8) * 90, (0.5, 0.5))
    scene.set_orientation(CORONAL)
    scene.set_corner_text(texts)
    scene.show_orientation = scene.show_scale_bar = True
    return scene


def _lit(rgb: np.ndarray) -> np.ndarray:
    """Pixels drawn brighter than the disc (grey 90): text and its shadow's halo excluded."""
    return rgb.max(axis=2) > 120


def _only(scene: SliceScene, corners=(), letters=()) -> np.ndarray:
    """The text pixels of some corner blocks and letters alone (image and others hidden)."""
    scene.render()  # lay out everything first, then hide what is not asked for
    scene.actor.VisibilityOff()
    for c, actor in scene._corner_actors.items():
        actor.SetVisibility(1 if c in corners and scene.corner_shown[c] else 0)
    for e, actor in scene._letters.items():
        actor.SetVisibility(1 if e in letters and scene.orientation_text[e] else 0)
    scene._scale_text.VisibilityOff()
    scene._scale_lines.actor.VisibilityOff()
    scene.render_window.Render()
    grab = vtkWindowToImageFilter()
    grab.SetInput(scene.render_window)
    grab.SetInputBufferTypeToRGB()
    grab.ReadFrontBufferOff()
    grab.Update()
    img = grab.GetOutput()
    w, h, _ = img.GetDimensions()
    from vtkmodules.util import numpy_support

    arr = numpy_support.vtk_to_numpy(img.GetPointData().GetScalars()).reshape(h, w, 3)
    scene.actor.VisibilityOn()
    return _lit(np.flipud(arr))


def _save(scene: SliceScene, path: Path) -> None:
    Image.fromarray(scene.capture()).save(path)


def test_narrow_viewport_letters_clear_the_corner_blocks(artifact_dir: Path):
    scene = _scene(350, 800)
    _save(scene, artifact_dir / "scene2d_narrow_350x800.png")
    assert scene.orientation_text == {"left": "R", "right": "L", "top": "H", "bottom": "F"}
    letters, corners = scene.letter_boxes(), scene.corner_boxes
    assert set(letters) == {"left", "right", "top", "bottom"}
    assert set(corners) == set(CORNERS)
    for edge, lbox in letters.items():
        for corner, cbox in corners.items():
            assert not boxes_overlap(lbox, cbox), (edge, corner, lbox, cbox)
    # "H" sits 4 px below the lower of the two top blocks, still centred.
    top = letters["top"]
    lowest = min(corners["top_left"][1], corners["top_right"][1])
    assert top[3] == pytest.approx(lowest - 4, abs=1.0)
    assert (top[0] + top[2]) / 2 == pytest.approx(175, abs=2.0)
    # The pixels say the same: no letter pixel within 1 px of a corner text pixel.
    text = _only(scene, corners=CORNERS)
    marks = _only(scene, letters=("left", "right", "top", "bottom"))
    assert text.sum() > 1000 and marks.sum() > 50
    grown = marks.copy()
    grown[1:] |= marks[:-1]
    grown[:-1] |= marks[1:]
    grown[:, 1:] |= marks[:, :-1]
    grown[:, :-1] |= marks[:, 1:]
    assert int((grown & text).sum()) == 0


def test_long_lines_are_elided_so_left_and_right_blocks_never_meet(artifact_dir: Path):
    scene = _scene(350, 800, LONG)
    _save(scene, artifact_dir / "scene2d_narrow_long_lines_350x800.png")
    shown = scene.corner_shown
    top_left = shown["top_left"].split("\n")
    assert top_left[0].endswith(ELLIPSIS) and top_left[0].startswith("Doe-Feather")
    assert top_left[1] == "DEMO-0001"  # short lines stay whole
    # The longer line is cut first; once both are as long, both lose a character in turn.
    top_right = shown["top_right"].split("\n")
    assert top_right[0].startswith("Demo General") and top_right[0].endswith(ELLIPSIS)
    assert top_right[1:] == TEXTS["top_right"].split("\n")[1:]
    bottom_left = shown["bottom_left"].split("\n")
    assert bottom_left[0] == "W 80 L 40" and bottom_left[1].endswith(ELLIPSIS)
    assert shown["bottom_right"] == TEXTS["bottom_right"]
    for left, right in (("top_left", "top_right"), ("bottom_left", "bottom_right")):
        a = _only(scene, corners=(left,))
        b = _only(scene, corners=(right,))
        cols_a = np.flatnonzero(a.any(axis=0))
        for row in np.flatnonzero(a.any(axis=1) & b.any(axis=1)):
            # on every pixel row the two share, the left text ends well before the right
            assert np.flatnonzero(a[row]).max() + 4 < np.flatnonzero(b[row]).min(), (left, row)
        assert cols_a.size > 0
    letters, corners = scene.letter_boxes(), scene.corner_boxes
    assert not any(boxes_overlap(lb, cb) for lb in letters.values() for cb in corners.values())


def _reference_corners(w: int, h: int, texts) -> np.ndarray:
    """What the previous code drew: vtkCornerAnnotation with the same settings."""
    win = offscreen_window(w, h)
    ren = vtkRenderer()
    ren.SetBackground(0.0, 0.0, 0.0)
    win.AddRenderer(ren)
    ca = vtkCornerAnnotation()
    ca.SetMaximumFontSize(16)
    ca.SetMinimumFontSize(9)
    ca.SetLinearFontScaleFactor(2)
    ca.SetNonlinearFontScaleFactor(1)
    prop = ca.GetTextProperty()
    prop.SetColor(0.92, 0.92, 0.75)
    prop.SetShadow(1)
    if unicode_font():
        prop.SetFontFamily(4)
        prop.SetFontFile(unicode_font())
    for i, corner in enumerate(("bottom_left", "bottom_right", "top_left", "top_right")):
        ca.SetText(i, texts[corner])
    ren.AddViewProp(ca)
    win.Render()
    grab = vtkWindowToImageFilter()
    grab.SetInput(win)
    grab.SetInputBufferTypeToRGB()
    grab.ReadFrontBufferOff()
    grab.Update()
    from vtkmodules.util import numpy_support

    arr = numpy_support.vtk_to_numpy(grab.GetOutput().GetPointData().GetScalars())
    return np.flipud(arr.reshape(h, w, 3))


@pytest.mark.parametrize("texts", [TEXTS, LONG], ids=["demo", "long-lines"])
def test_large_viewport_unchanged(texts, artifact_dir: Path):
    """1024 x 1024: corner text pixel for pixel as vtkCornerAnnotation drew it, letters and
    scale bar at their old places (letters 8 px from the edge centres, bar 34 px up)."""
    bare = _scene(1024, 1024, texts, image=False)
    assert np.array_equal(bare.capture(), _reference_corners(1024, 1024, texts))
    assert bare.corner_shown == texts and bare.corner_font_size == 16
    scene = _scene(1024, 1024, texts)
    _save(scene, artifact_dir / f"scene2d_large_1024_{len(texts['top_left'])}.png")
    positions = {e: tuple(a.GetPosition()) for e, a in scene._letters.items()}
    assert positions == {
        "left": (8.0, 512.0),
        "right": (1016.0, 512.0),
        "top": (512.0, 1016.0),
        "bottom": (512.0, 8.0),
    }
    bar_y = {round(y) for line in scene._scale_lines.lines for _, y in line}
    assert max(bar_y) == 1024 - 34


def test_shorten_line_cuts_at_the_logical_end():
    assert shorten_line("Demo General") == "Demo Genera" + ELLIPSIS
    assert shorten_line("Demo Genera" + ELLIPSIS) == "Demo Gener" + ELLIPSIS
    assert shorten_line("Demo " + ELLIPSIS) == "Demo" + ELLIPSIS  # no blank before the mark
    assert shorten_line("a" + ELLIPSIS) == ""
    # Arabic arrives in display order (reversed): its logical end is on the left.
    assert shorten_line("ىفشتسم") == ELLIPSIS + "فشتسم"


# -- names in other scripts ------------------------------------------------------------------
CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"  # packaging: fonts-wqy-microhei


def test_font_characters_read_from_a_font_and_a_collection(tmp_path: Path):
    dejavu, cjk = font_characters(str(unicode_font())), font_characters(CJK_FONT)
    assert {ord("A"), ord("ق"), ord("é")} <= dejavu and ord("홍") not in dejavu
    assert {ord("A"), ord(","), ord("홍"), ord("山"), ord("ﾔ")} <= cjk  # a .ttc, first font
    assert ord("ق") not in cjk
    not_a_font = tmp_path / "x.ttf"
    not_a_font.write_text("not a font")
    assert font_characters(str(not_a_font)) == frozenset()
    assert font_characters(str(tmp_path / "absent.ttf")) == frozenset()
    # The first font with every character; else the one that lacks fewest, and what it lacks.
    latin, hangul = {ord(c) for c in "Doe,Jan"}, {ord(c) for c in "홍길동,Doe"}
    assert best_cover("Doe, Jan", [latin, hangul]) == (0, frozenset())
    assert best_cover("홍, Doe", [latin, hangul]) == (1, frozenset())
    assert best_cover("홍길동 X", [latin, hangul]) == (1, frozenset({ord("X")}))


@pytest.mark.parametrize(
    ("text", "font", "shown"),
    [
        ("Doe, Jane\nDEMO-0001", "dejavu", "Doe, Jane\nDEMO-0001"),
        (shape_for_display("قباني, لنزار"), "dejavu", shape_for_display("قباني, لنزار")),
        ("홍, 길동\nKOREA-1", "cjk", "홍, 길동\nKOREA-1"),
        ("ﾔﾏﾀﾞ, ﾀﾛｳ\nH32EXAMPLE", "cjk", "ﾔﾏﾀﾞ, ﾀﾛｳ\nH32EXAMPLE"),
        ("Ab \U0010fffd cd", "dejavu", f"Ab {MISSING_GLYPH} cd"),  # no font has it
    ],
    ids=["latin", "arabic", "korean", "japanese-half-width", "no-glyph"],
)
def test_overlay_text_takes_a_font_with_its_glyphs(text: str, font: str, shown: str):
    path = {"dejavu": unicode_font(), "cjk": CJK_FONT}[font]
    assert overlay_font(text) == (path, shown)


@pytest.mark.parametrize("name", ["홍길동", "ﾔﾏﾀﾞ^ﾀﾛｳ"])
def test_a_korean_or_japanese_name_is_drawn(name: str, artifact_dir: Path):
    """VTK drew a font without these glyphs: the name was blank (a lone comma)."""
    scene = _scene(500, 300, {**TEXTS, "top_left": name}, image=False)
    _save(scene, artifact_dir / f"scene2d_name_{name.encode().hex()[:12]}.png")
    ink = _only(scene, corners=("top_left",))
    assert int(ink.sum()) > 120  # three or more full-width glyphs at 14-16 px
    assert scene.corner_shown["top_left"] == name


def test_one_long_line_elides_instead_of_hiding_every_corner(artifact_dir: Path):
    """A decoder's error message (one line of ~250 characters) made the fitted font too small
    and hid all four blocks, the patient's name among them: the viewport was plain black."""
    message = (
        "cannot decode pixel data (JPEG Extended (Process 2 and 4)): Unable to decode as "
        "exceptions were raised by all available plugins: pylibjpeg: libjpeg error code "
        "'-1038' returned from Decode(): A misplaced marker segment was found - scan start"
    )
    texts = {**TEXTS, "bottom_right": "Cannot display this image:\n" + message}
    scene = _scene(700, 700, texts)
    _save(scene, artifact_dir / "scene2d_long_error_line.png")
    assert scene.corner_font_size == 9
    assert scene.corner_shown["top_left"] == TEXTS["top_left"]
    shown = scene.corner_shown["bottom_right"].split("\n")
    assert shown[0] == "Cannot display this image:"
    assert shown[1].startswith("cannot decode") and shown[1].endswith(ELLIPSIS)
    box = scene.corner_boxes["bottom_right"]
    assert box[0] >= 0 and box[2] <= 700
    assert int(_only(scene, corners=("top_left",)).sum()) > 200
    # Where the height does not allow the smallest size, the text still goes.
    tiny = _scene(700, 40, texts)
    assert tiny.corner_font_size == 0
