"""Sizes as people write them in settings and read them in messages ("200G", "1.5 GB")."""

from __future__ import annotations

import re

from workstation.core.errors import ConfigError

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*$", re.IGNORECASE)
_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text: str | int) -> int:
    """Bytes from "500M", "20G", "1.5TB" (powers of 1000) or "20GiB" (powers of 1024)."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ConfigError(f"a cache size cannot be negative (got {text})")
        return text
    m = _SIZE_RE.match(str(text))
    if not m or (m.group(3) and not m.group(2)):
        raise ConfigError(
            f"cannot read {text!r} as a size: give bytes or a number with K, M, G or T "
            "(powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g. 200G"
        )
    base = 1024 if m.group(3) else 1000
    return int(float(m.group(1)) * base ** _UNITS[m.group(2).lower()])


def format_size(n: int) -> str:
    """Bytes as a short decimal text ("1.5 GB"); exact bytes below 1 kB."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 1000:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} TB"
