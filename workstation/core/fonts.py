"""What a TrueType or OpenType font file can show: its table directory and its Unicode
character map (OpenType 'cmap', formats 4 and 12), read without a font library.

The PDF writer embeds fonts with them; the viewer picks the font its overlay text needs (VTK's
FreeType renderer draws one font file per text and drops the characters it has no glyph for).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Collection, Sequence
from pathlib import Path

# (platform, encoding, format) of the Unicode maps, the most complete first.
_UNICODE_MAPS = {(3, 10, 12): 0, (0, 4, 12): 1, (3, 1, 4): 2, (0, 3, 4): 3}


def table_directory(data: bytes) -> dict[str, tuple[int, int]]:
    """Each table's (offset, length) in a font file; of a collection (.ttc), its first font's."""
    start = 0
    if data[:4] == b"ttcf":
        (start,) = struct.unpack_from(">I", data, 12)
    (num_tables,) = struct.unpack_from(">H", data, start + 4)
    tables: dict[str, tuple[int, int]] = {}
    for i in range(num_tables):
        tag, _, offset, length = struct.unpack_from(">4sIII", data, start + 12 + 16 * i)
        tables[tag.decode("latin-1")] = (offset, length)
    return tables


def unicode_cmap(cmap: bytes, name: str) -> dict[int, int]:
    """Code point -> glyph id from a font's 'cmap' table bytes (raises ValueError without a
    Unicode map)."""
    (count,) = struct.unpack_from(">H", cmap, 2)
    best: tuple[int, int] | None = None  # (preference, offset)
    for i in range(count):
        platform, encoding, offset = struct.unpack_from(">HHI", cmap, 4 + 8 * i)
        fmt = struct.unpack_from(">H", cmap, offset)[0]
        pref = _UNICODE_MAPS.get((platform, encoding, fmt))
        if pref is not None and (best is None or pref < best[0]):
            best = (pref, offset)
    if best is None:
        raise ValueError(f"the font {name} has no Unicode character map")
    offset = best[1]
    fmt = struct.unpack_from(">H", cmap, offset)[0]
    out: dict[int, int] = {}
    if fmt == 12:
        (groups,) = struct.unpack_from(">I", cmap, offset + 12)
        for g in range(groups):
            start, end, gid = struct.unpack_from(">III", cmap, offset + 16 + 12 * g)
            for cp in range(start, end + 1):
                out[cp] = gid + cp - start
        return out
    seg2 = struct.unpack_from(">H", cmap, offset + 6)[0]
    segs = seg2 // 2
    ends = struct.unpack_from(f">{segs}H", cmap, offset + 14)
    starts = struct.unpack_from(f">{segs}H", cmap, offset + 16 + seg2)
    deltas = struct.unpack_from(f">{segs}h", cmap, offset + 16 + 2 * seg2)
    range_pos = offset + 16 + 3 * seg2
    ranges = struct.unpack_from(f">{segs}H", cmap, range_pos)
    for s in range(segs):
        start, end, delta, rng = starts[s], ends[s], deltas[s], ranges[s]
        if start == 0xFFFF:
            continue
        for cp in range(start, end + 1):
            if rng == 0:
                gid = (cp + delta) & 0xFFFF
            else:
                at = range_pos + 2 * s + rng + 2 * (cp - start)
                gid = struct.unpack_from(">H", cmap, at)[0]
                if gid:
                    gid = (gid + delta) & 0xFFFF
            if gid:
                out[cp] = gid
    return out


@functools.lru_cache(maxsize=8)
def font_characters(path: str) -> frozenset[int]:
    """The code points the font file at ``path`` has a glyph for; empty when it cannot be
    read as a font."""
    try:
        data = Path(path).read_bytes()
        offset, length = table_directory(data)["cmap"]
        return frozenset(unicode_cmap(data[offset : offset + length], Path(path).name))
    except (OSError, KeyError, ValueError, struct.error):
        return frozenset()


def best_cover(text: str, charsets: Sequence[Collection[int]]) -> tuple[int, frozenset[int]]:
    """Which of the fonts' ``charsets`` (code points with a glyph) to draw ``text`` in: the
    first with every character (spaces aside), or else the one that lacks fewest; returned
    with the characters it lacks. ``charsets`` must not be empty."""
    wanted = {ord(ch) for ch in text if not ch.isspace()}
    best: tuple[int, frozenset[int]] | None = None
    for index, have in enumerate(charsets):
        missing = frozenset(c for c in wanted if c not in have)
        if not missing:
            return index, missing
        if best is None or len(missing) < len(best[1]):
            best = (index, missing)
    if best is None:
        raise ValueError("no font to choose from")
    return best
