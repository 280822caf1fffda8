"""Loading a set of data files (templates, hanging protocols) where later ids replace earlier."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol, TypeVar

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
