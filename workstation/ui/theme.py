"""The dark reading-room theme: a Fusion palette plus the style sheet in resources/."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from workstation.core.paths import resource_path


def resources_dir() -> Path:
    """resources/ beside the package (source checkout) or inside it (installed bundle)."""
    return resource_path()


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    base = QColor("#1b1d21")
    pal.setColor(QPalette.ColorRole.Window, base)
    pal.setColor(QPalette.ColorRole.WindowText, QColor("#d6d6d6"))
    pal.setColor(QPalette.ColorRole.Base, QColor("#15171a"))
    pal.setColor(QPalette.ColorRole.AlternateBase, QColor("#1a1c20"))
    pal.setColor(QPalette.ColorRole.Text, QColor("#d6d6d6"))
    pal.setColor(QPalette.ColorRole.Button, QColor("#2a2d33"))
    pal.setColor(QPalette.ColorRole.ButtonText, QColor("#d6d6d6"))
    pal.setColor(QPalette.ColorRole.Highlight, QColor("#2d4a6b"))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    pal.setColor(QPalette.ColorRole.ToolTipBase, QColor("#23262b"))
    pal.setColor(QPalette.ColorRole.ToolTipText, QColor("#d6d6d6"))
    # Links (an SR's image references): Qt's default blue is unreadable on this background.
    pal.setColor(QPalette.ColorRole.Link, QColor("#8ab4f8"))
    pal.setColor(QPalette.ColorRole.LinkVisited, QColor("#c58af9"))
    # A disabled control must look disabled (Sign, Dictate, Delete without a selection).
    disabled = QPalette.ColorGroup.Disabled
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        pal.setColor(disabled, role, QColor("#6b6f76"))
    pal.setColor(disabled, QPalette.ColorRole.Button, QColor("#222429"))
    app.setPalette(pal)
    qss = resources_dir() / "styles" / "dark.qss"
    if qss.exists():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))
