"""Window presets as data: per modality, on the number keys 1..9 of a 2D viewport.

The built-in presets are ``resources/presets/windows.toml``; a site adds or replaces presets
with files of the same form passed to :func:`load_presets`. Windows are VOI windows of PS3.3
C.11.2.1.2 (centre and width in modality units). An ``auto`` preset takes its window from the
image histogram (:func:`workstation.viewer.pixels.auto_window`), for MR and radiographs whose
values have no absolute scale.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.errors import ConfigError
from workstation.core.paths import resource_path
from workstation.viewer.pixels import Window, auto_window

SCHEMA_VERSION = 1
FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
_FIELDS = frozenset(
    {"modality", "key", "name", "center", "width", "function", "auto", "invert", "source"}
)
_REMOVE_FIELDS = frozenset({"modality", "key", "remove", "source"})
_MODALITY = re.compile(r"^[A-Z0-9_]{1,16}$")  # a CS value of (0008,0060) Modality


@dataclass(frozen=True, slots=True)
class WindowPreset:
    """One preset: a fixed window, or ``auto`` (from the image), optionally shown inverted."""

    modality: str
    key: int  # 1..9
    name: str
    center: float | None = None
    width: float | None = None
    function: str = "LINEAR"
    auto: bool = False
    invert: bool = False
    source: str = ""
    origin: str = ""  # the file that defined it

    def window(
        self,
        values: np.ndarray | None = None,
        photometric: str = "MONOCHROME2",
        exclude: np.ndarray | None = None,
    ) -> Window:
        """The VOI window of this preset; an auto preset needs the frame's modality values."""
        if self.auto:
            if values is None:
                raise ValueError(f"the preset {self.name!r} takes its window from the image")
            found = auto_window(values, photometric, exclude)
            return Window(found.center, found.width, found.function, self.name)
        assert self.center is not None and self.width is not None
        return Window(self.center, self.width, self.function, self.name)

    def label(self) -> str:
        return f"{self.key} {self.name}"


class PresetBook:
    """The presets in force, looked up by modality and number key."""

    def __init__(self, presets: Iterable[WindowPreset] = ()) -> None:
        self._by_key: dict[tuple[str, int], WindowPreset] = {}
        for p in presets:
            self._by_key[(p.modality, p.key)] = p

    def __len__(self) -> int:
        return len(self._by_key)

    def modalities(self) -> list[str]:
        return sorted({m for m, _ in self._by_key})

    def for_modality(self, modality: str) -> list[WindowPreset]:
        """The presets of a modality in key order (empty for a modality without presets)."""
        m = modality.strip().upper()
        return sorted((p for (pm, _), p in self._by_key.items() if pm == m), key=lambda p: p.key)

    def by_key(self, modality: str, key: int) -> WindowPreset | None:
        return self._by_key.get((modality.strip().upper(), key))


def builtin_presets_path() -> Path:
    """resources/presets/windows.toml (see :func:`core.paths.resource_path`)."""
    return resource_path("presets", "windows.toml")


def load_presets(extra_paths: Iterable[str | Path] = (), *, builtin: bool = True) -> PresetBook:
    """The built-in presets, then each site file in order (later files win per modality/key).

    Raises :class:`ConfigError` naming the file and the preset key that is wrong.
    """
    merged: dict[tuple[str, int], WindowPreset] = {}
    paths = [builtin_presets_path()] if builtin else []
    paths.extend(Path(p) for p in extra_paths)
    for path in paths:
        presets, removals = read_preset_file(path)
        for slot in removals:
            merged.pop(slot, None)
        for p in presets:
            merged[(p.modality, p.key)] = p
    return PresetBook(merged.values())


def read_preset_file(path: str | Path) -> tuple[list[WindowPreset], list[tuple[str, int]]]:
    """Parse and validate one presets file: its presets and the (modality, key) it removes."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read window presets ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: window presets must be UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    return parse_presets(data, str(p))


def parse_presets(
    data: Mapping[str, Any], origin: str
) -> tuple[list[WindowPreset], list[tuple[str, int]]]:
    """Validate the parsed TOML of a presets file; ``origin`` names it in error messages."""
    unknown = sorted(set(data) - {"schema_version", "preset"})
    if unknown:
        raise ConfigError(
            f"{origin}: unknown key {unknown[0]!r} (expected schema_version and [[preset]])"
        )
    version = data.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise ConfigError(f"{origin}: schema_version: expected {SCHEMA_VERSION}, got {version!r}")
    entries = data.get("preset", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{origin}: preset: expected [[preset]] tables")
    presets: list[WindowPreset] = []
    removals: list[tuple[str, int]] = []
    used: dict[tuple[str, int], int] = {}
    for i, entry in enumerate(entries, 1):
        where = f"{origin}: preset {i}"
        modalities = _modalities(entry, where)
        key = _key(entry, where)
        for m in modalities:
            if (m, key) in used:
                raise ConfigError(
                    f"{where}: key: {key} for {m} is already used by preset {used[(m, key)]}"
                )
            used[(m, key)] = i
        if entry.get("remove") is not None:
            if entry["remove"] is not True:
                raise ConfigError(f"{where}: remove: expected true, got {entry['remove']!r}")
            extra = sorted(set(entry) - _REMOVE_FIELDS)
            if extra:
                raise ConfigError(f"{where}: {extra[0]}: not allowed with remove = true")
            removals.extend((m, key) for m in modalities)
            continue
        presets.extend(_preset(entry, where, m, key, origin) for m in modalities)
    return presets, removals


def _modalities(entry: Mapping[str, Any], where: str) -> list[str]:
    value = entry.get("modality")
    values = value if isinstance(value, list) else [value]
    if not values or not all(
        isinstance(v, str) and _MODALITY.match(v.strip().upper()) for v in values
    ):
        raise ConfigError(
            f'{where}: modality: expected a modality code such as "CT" or a list of them, '
            f"got {value!r}"
        )
    return [v.strip().upper() for v in values]


def _key(entry: Mapping[str, Any], where: str) -> int:
    key = entry.get("key")
    if not isinstance(key, int) or isinstance(key, bool) or not 1 <= key <= 9:
        raise ConfigError(f"{where}: key: expected a whole number 1..9, got {key!r}")
    return key


def _preset(
    entry: Mapping[str, Any], where: str, modality: str, key: int, origin: str
) -> WindowPreset:
    extra = sorted(set(entry) - _FIELDS)
    if extra:
        raise ConfigError(f"{where}: {extra[0]}: unknown field")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: name: expected a non-empty text, got {name!r}")
    where = f"{where} ({name.strip()})"
    auto = _flag(entry, "auto", where)
    invert = _flag(entry, "invert", where)
    function = entry.get("function", "LINEAR")
    if function not in FUNCTIONS:
        raise ConfigError(
            f"{where}: function: expected one of {', '.join(FUNCTIONS)}, got {function!r}"
        )
    source = entry.get("source", "")
    if not isinstance(source, str):
        raise ConfigError(f"{where}: source: expected text, got {source!r}")
    center = width = None
    if auto:
        for k in ("center", "width"):
            if k in entry:
                raise ConfigError(f"{where}: {k}: not allowed with auto = true")
    else:
        center = _number(entry, "center", where)
        width = _number(entry, "width", where)
        try:
            Window(center, width, function)
        except ValueError as exc:
            raise ConfigError(f"{where}: width: {exc}") from None
    return WindowPreset(
        modality=modality,
        key=key,
        name=name.strip(),
        center=center,
        width=width,
        function=function,
        auto=auto,
        invert=invert,
        source=source,
        origin=origin,
    )


def _flag(entry: Mapping[str, Any], name: str, where: str) -> bool:
    value = entry.get(name, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {name}: expected true or false, got {value!r}")
    return value


def _number(entry: Mapping[str, Any], name: str, where: str) -> float:
    value = entry.get(name)
    if value is None:
        raise ConfigError(f"{where}: {name}: missing (or set auto = true)")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: {name}: expected a finite number, got {value!r}")
    return float(value)
