"""Plain English wording for command-line output (the window translates through Qt)."""

from __future__ import annotations


def counted(n: int, one: str, many: str) -> str:
    """``n`` with its noun: ``counted(1, "study", "studies")`` is "1 study", 2 gives "2 studies"."""
    return f"{n} {one if n == 1 else many}"
