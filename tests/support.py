"""Helpers the test tiers share (importable as ``support``: tests/ is on sys.path)."""

from __future__ import annotations

from pathlib import Path


def clear_reader_annotations(store: Path) -> None:
    """Forget the measurements and key images earlier tests left in the shared demo store."""
    import sqlite3

    with sqlite3.connect(store / "index.sqlite") as conn:
        conn.execute("DELETE FROM measurements")
        conn.execute("DELETE FROM key_images")
