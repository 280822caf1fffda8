"""The dark theme's text is readable: each text colour against its background meets WCAG 2.x
contrast AA (4.5:1), links included (Qt's default blue on this background: about 2.3:1)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette

from workstation.ui.theme import apply_dark_theme

R = QPalette.ColorRole


def _luminance(c: QColor) -> float:
    def channel(v: float) -> float:
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())


def contrast(a: QColor, b: QColor) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize(
    ("text", "background"),
    [
        (R.Text, R.Base),
        (R.WindowText, R.Window),
        (R.ButtonText, R.Button),
        (R.Link, R.Base),
        (R.LinkVisited, R.Base),
        (R.HighlightedText, R.Highlight),
        (R.ToolTipText, R.ToolTipBase),
    ],
)
def test_text_colours_are_readable(qapp, text: QPalette.ColorRole, background) -> None:
    apply_dark_theme(qapp)
    pal = qapp.palette()
    assert contrast(pal.color(text), pal.color(background)) >= 4.5
