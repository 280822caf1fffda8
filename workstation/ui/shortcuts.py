"""Keyboard shortcuts: one table of defaults, user overrides from a TOML file, a help sheet.

Overrides live in ``~/.config/workstation/shortcuts.toml`` as ``action = "Ctrl+K"`` lines;
an unknown action or an unparseable key is reported with the file and key, and the default
stays.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout

from workstation.core.errors import ConfigError
from workstation.core.paths import user_config_dir
from workstation.ui.viewport import KEY_HELP as VIEWPORT_KEYS

log = logging.getLogger(__name__)


def _tr(text: str) -> str:
    return QCoreApplication.translate("Shortcuts", text)


@dataclass(frozen=True, slots=True)
class Shortcut:
    action: str
    keys: str
    description: str
    category: str
    configurable: bool = True


# Main-window actions (configurable) and the viewport's fixed keys (listed in the sheet).
DEFAULTS: tuple[Shortcut, ...] = (
    Shortcut("show_studies", "F2", "Show the study list", "Navigation"),
    Shortcut("show_viewer", "F3", "Show the viewer", "Navigation"),
    Shortcut("import_files", "Ctrl+O", "Import files", "Navigation"),
    Shortcut("read_next", "Ctrl+N", "Claim and open the next study of the worklist", "Navigation"),
    Shortcut("layout_1x1", "Ctrl+1", "Layout 1×1", "Layout"),
    Shortcut("layout_1x2", "Ctrl+2", "Layout 1×2", "Layout"),
    Shortcut("layout_2x2", "Ctrl+4", "Layout 2×2", "Layout"),
    Shortcut("layout_3x3", "Ctrl+9", "Layout 3×3", "Layout"),
    Shortcut("next_stage", "Ctrl+Right", "Next hanging-protocol stage", "Layout"),
    Shortcut("previous_stage", "Ctrl+Left", "Previous hanging-protocol stage", "Layout"),
    Shortcut("link_series", "Ctrl+L", "Link scrolling of the visible series", "Images"),
    Shortcut("key_image", "K", "Mark or unmark the image as key image", "Images"),
    Shortcut("cine", "Space", "Start or stop cine", "Images"),
    Shortcut("mpr", "Ctrl+M", "MPR and 3D of the active series", "Images"),
    Shortcut("dictate", "F4", "Hold to dictate into the focused report field", "Report"),
    Shortcut("shortcut_sheet", "?", "Show this sheet", "Help"),
    # The viewport's own keys (fixed), from the viewport's help table.
    *(
        Shortcut(f"viewport:{keys}", keys, description, "Viewport", False)
        for keys, description in VIEWPORT_KEYS
    ),
)


def shortcut_file() -> Path:
    return user_config_dir() / "shortcuts.toml"


def load_shortcuts(path: Path | None = None) -> tuple[dict[str, str], list[ConfigError]]:
    """The key of every configurable action, with the user's overrides applied."""
    keys = {s.action: s.keys for s in DEFAULTS if s.configurable}
    errors: list[ConfigError] = []
    p = path or shortcut_file()
    if not p.exists():
        return keys, errors
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        errors.append(ConfigError(f"{p}: {exc}"))
        return keys, errors
    for action, value in data.items():
        if action not in keys:
            errors.append(ConfigError(f"{p}: {action}: no such action"))
        elif not isinstance(value, str) or QKeySequence(value).isEmpty():
            errors.append(ConfigError(f"{p}: {action}: not a key sequence: {value!r}"))
        else:
            keys[action] = value
    for e in errors:
        log.warning("shortcut file: %s", e)
    return keys, errors


class ShortcutSheet(QDialog):
    """Every shortcut, grouped, as a table (opened with ``?``)."""

    def __init__(self, keys: dict[str, str], parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.setWindowTitle(_tr("Keyboard shortcuts"))
        table = QTableWidget(len(DEFAULTS), 3, self)
        table.setHorizontalHeaderLabels([_tr("Keys"), _tr("Action"), _tr("Group")])
        for row, s in enumerate(DEFAULTS):
            table.setItem(row, 0, QTableWidgetItem(keys.get(s.action, s.keys)))
            table.setItem(row, 1, QTableWidgetItem(_tr(s.description)))
            table.setItem(row, 2, QTableWidgetItem(_tr(s.category)))
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table = table
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        self.resize(560, 620)
