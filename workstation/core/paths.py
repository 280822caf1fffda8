"""Where the workstation keeps its data and logs (XDG base directories on Linux)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "workstation"


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var, "")
    return Path(value) if value and os.path.isabs(value) else Path.home() / default


def user_data_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / APP_NAME
    return _xdg("XDG_DATA_HOME", ".local/share") / APP_NAME


def user_log_dir() -> Path:
    if sys.platform == "win32":
        return user_data_dir() / "logs"
    return _xdg("XDG_STATE_HOME", ".local/state") / APP_NAME / "log"


def user_config_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / APP_NAME
    return _xdg("XDG_CONFIG_HOME", ".config") / APP_NAME


def default_store_dir() -> Path:
    """The embedded local archive used when no --data-dir is given."""
    return user_data_dir() / "store"


def demo_store_dir() -> Path:
    return user_data_dir() / "demo"


def resource_path(*parts: str) -> Path:
    """``resources/<parts>`` beside the package (a source checkout) or inside it (a bundle).

    The one place that knows where shipped data files live (templates, hanging protocols,
    presets, styles, the dictation model); the first candidate that exists wins.
    """
    package = Path(__file__).resolve().parents[1]  # .../workstation
    for root in (package.parent, package):
        candidate = root.joinpath("resources", *parts)
        if candidate.exists():
            return candidate
    return package.parent.joinpath("resources", *parts)
