"""Every SQLite database the workstation keeps (store index, drafts, outbox, audit trail,
embedded worklist, worklist claims) is owner-only, with its -wal and -shm files, whatever the
umask; and one an older version left readable by others is made owner-only when opened."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from workstation.archive.audit import AuditTrail
from workstation.archive.local import LocalArchive
from workstation.reporting.drafts import DraftStore
from workstation.reporting.outbox import Outbox
from workstation.worklist.claims import ClaimStore
from workstation.worklist.embedded import EmbeddedWorklist

OPENERS: dict[str, tuple[str, Callable[[Path], Any]]] = {
    "index": ("index.sqlite", LocalArchive),
    "drafts": ("drafts.sqlite", DraftStore),
    "outbox": ("outbox.sqlite", Outbox),
    "audit": ("audit.sqlite", AuditTrail),
    "worklist": ("worklist.sqlite", EmbeddedWorklist),
    "claims": ("claims.sqlite", lambda folder: ClaimStore(folder / "claims.sqlite")),
}


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The common desktop umask: new files readable by everyone unless made otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _modes(folder: Path, name: str) -> dict[str, int]:
    return {
        p.name: stat.S_IMODE(p.stat().st_mode)
        for p in sorted(folder.iterdir())
        if p.name.startswith(name)
    }


@pytest.mark.parametrize("kind", sorted(OPENERS))
def test_a_new_database_and_its_wal_files_are_owner_only(tmp_path, permissive_umask, kind):
    name, opener = OPENERS[kind]
    store = opener(tmp_path)
    try:
        modes = _modes(tmp_path, name)
        # Open and written to (its schema): SQLite has made the write-ahead log and shared
        # memory files beside it.
        assert set(modes) == {name, f"{name}-wal", f"{name}-shm"}
        assert modes == dict.fromkeys(modes, 0o600)
    finally:
        store.close()


@pytest.mark.parametrize("kind", sorted(OPENERS))
def test_a_database_left_readable_is_made_owner_only(tmp_path, permissive_umask, kind):
    name, opener = OPENERS[kind]
    opener(tmp_path).close()
    (tmp_path / name).chmod(0o644)  # as versions before this one left it
    (tmp_path / f"{name}-wal").touch(0o644)  # and a log an unclean exit left (empty: valid)
    store = opener(tmp_path)
    try:
        modes = _modes(tmp_path, name)
        assert modes[name] == 0o600 and modes[f"{name}-wal"] == 0o600
        assert modes == dict.fromkeys(modes, 0o600)
    finally:
        store.close()
