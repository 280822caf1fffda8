"""Data files (templates, hanging protocols): later ids replace earlier; tables read with
errors that name the file and the key."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from workstation.core.errors import ConfigError

log = logging.getLogger(__name__)


class _HasIdAndSource(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def source(self) -> str: ...


T = TypeVar("T", bound=_HasIdAndSource)


def load_by_id(
    paths: Iterable[str | Path],
    load_file: Callable[[Path], T],
    *,
    what: str,
    missing: Callable[[Path], ConfigError],
    errors: list[ConfigError] | None = None,
) -> list[T]:
    """Load files and folders of ``*.toml`` in order; an item with an earlier item's id
    replaces it (a site folder given after the built-in one overrides). A bad file is logged
    and appended to ``errors`` (when given); the others still load.
    """
    found: dict[str, T] = {}
    for entry in paths:
        p = Path(entry)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix == ".toml" and f.is_file())
        elif p.exists():
            files = [p]
        else:
            _report(missing(p), what, errors)
            continue
        for f in files:
            try:
                item = load_file(f)
            except ConfigError as exc:
                _report(exc, what, errors)
                continue
            if item.id in found:
                log.info(
                    "%s %r from %s replaces the one from %s",
                    what,
                    item.id,
                    f,
                    found[item.id].source,
                )
            found[item.id] = item
    return list(found.values())


def _report(exc: ConfigError, what: str, errors: list[ConfigError] | None) -> None:
    log.warning("%s skipped: %s", what, exc)
    if errors is not None:
        errors.append(exc)


class TableReader:
    """Reads one table of a TOML data file, naming the file and the key path in every error.

    ``make_error(source, where, problem)`` builds the error (``where`` is the dotted key path,
    "" for the file's top level), so each kind of file keeps its own error class. Tables
    below are read with the same factory.
    """

    def __init__(
        self,
        source: str,
        path: str,
        table: object,
        make_error: Callable[[str, str, str], ConfigError] | None = None,
    ) -> None:
        self.source = source
        self.path = path
        self.make_error = make_error or _plain_error
        if not isinstance(table, dict):
            raise self.error("", "expected a table")
        self.table: dict[str, Any] = table

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, problem: str) -> ConfigError:
        return self.make_error(self.source, self.key(name) if name else self.path, problem)

    def only(self, allowed: Iterable[str]) -> None:
        unknown = sorted(set(self.table) - set(allowed))
        if unknown:
            raise self.error(unknown[0], "unknown key (misspelt?)")

    def text(self, name: str, default: str | None = None) -> str:
        if name not in self.table:
            if default is None:
                raise self.error(name, "missing")
            return default
        v = self.table[name]
        if not isinstance(v, str):
            raise self.error(name, f"expected text, got {v!r}")
        return v

    def texts(self, name: str) -> tuple[str, ...]:
        v = self.table.get(name, [])
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
            raise self.error(name, "expected a list of non-empty texts")
        return tuple(v)

    def boolean(self, name: str, default: bool = False) -> bool:
        v = self.table.get(name, default)
        if not isinstance(v, bool):
            raise self.error(name, f"expected true or false, got {v!r}")
        return v

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        v = self.table.get(name, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(name, f"expected a whole number, got {v!r}")
        if not lo <= v <= hi:
            raise self.error(name, f"must be between {lo} and {hi}, got {v}")
        return v

    def number(self, name: str, default: float | None = None) -> float | None:
        v = self.table.get(name, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise self.error(name, f"expected a number, got {v!r}")
        return float(v)

    def tables(self, name: str, required: bool = False) -> list[TableReader]:
        if name not in self.table:
            if required:
                raise self.error(name, "missing")
            return []
        v = self.table[name]
        if not isinstance(v, list) or not all(isinstance(t, dict) for t in v):
            raise self.error(name, "expected a list of tables")
        if required and not v:
            raise self.error(name, "must not be empty")
        return [
            TableReader(self.source, f"{self.key(name)}[{i}]", t, self.make_error)
            for i, t in enumerate(v)
        ]


def _plain_error(source: str, where: str, problem: str) -> ConfigError:
    return ConfigError(f"{source}: {where or '(top level)'}: {problem}")
