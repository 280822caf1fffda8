"""Opening a small SQLite database that must never lose a committed write (drafts, outbox),
and keeping every database of the store owner-only."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from workstation.core.errors import StoreError


def make_private_db(path: Path) -> None:
    """Create the SQLite database file ``path`` owner-only (0600) if it is not there, and set
    it and its ``-wal`` and ``-shm`` files to 0600 if they are (files an older version made).

    Call it before the first connection: SQLite gives the ``-wal`` and ``-shm`` files it
    creates the database file's mode, and they hold the same rows (patient names, report
    text). Raises OSError.
    """
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f, 0o600)


def open_durable_db(
    path: Path,
    schema: str,
    schema_version: int,
    *,
    what: str,
    busy_timeout_s: float,
    damaged_advice: str,
    newer_advice: str = "",
) -> sqlite3.Connection:
    """Connect in autocommit mode with WAL and ``synchronous=FULL``, create the schema and
    check its version (``PRAGMA user_version``); every failure is a :class:`StoreError` that
    names the file (``what``: "drafts", "outbox") and says what to do. The files are owner-only
    (:func:`make_private_db`).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        make_private_db(path)
        db = sqlite3.connect(
            path,
            timeout=busy_timeout_s,
            isolation_level=None,  # autocommit; callers BEGIN IMMEDIATE where it matters
            check_same_thread=False,
        )
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"the {what} database {path} cannot be opened: {exc}") from None
    try:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(
                f"the {what} database {path} cannot use write-ahead logging "
                f"(journal mode {mode!r}); put the store on a local disk"
            )
        db.execute("PRAGMA synchronous=FULL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > schema_version:
            raise StoreError(
                f"the {what} database {path} was written by a newer program "
                f"(schema {version}, this one reads {schema_version}){newer_advice}"
            )
        db.executescript(schema)
        if version < schema_version:
            db.execute(f"PRAGMA user_version={schema_version}")
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StoreError(
            f"the {what} database {path} is damaged or not a database ({exc}); {damaged_advice}"
        ) from None
    except StoreError:
        db.close()
        raise
    return db
