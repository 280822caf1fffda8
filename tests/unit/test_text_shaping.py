"""Arabic text in the VTK corner annotation: joined letters, right-to-left order."""

from __future__ import annotations

from workstation.viewer.scene2d import shape_for_display, unicode_font


def test_arabic_is_shaped_and_reordered_latin_untouched():
    name = "حداد, ليلى"
    shaped = shape_for_display(name)
    # Presentation forms (U+FE70..U+FEFF) mean the letters were joined for display.
    assert all(0xFE70 <= ord(c) <= 0xFEFF for c in shaped if c not in ", ")
    # Right-to-left: the family name (first in logical order) ends up on the right, its
    # first letter in initial form (U+FEA3 HAH INITIAL) at the far right.
    assert shaped == "\ufef0\ufee0\ufef4\ufedf ,\ufea9\ufe8d\ufeaa\ufea3"
    assert shape_for_display("Doe, Jane\nDEMO-0001") == "Doe, Jane\nDEMO-0001"
    # Line by line: a Latin line next to an Arabic one keeps its order.
    mixed = shape_for_display("DEMO-0003\n" + name)
    assert mixed.split("\n")[0] == "DEMO-0003"


def test_a_font_with_arabic_glyphs_is_found():
    font = unicode_font()
    assert font is not None and font.endswith(".ttf")
