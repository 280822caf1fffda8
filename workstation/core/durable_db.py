"""Opening a small SQLite database that must never lose a committed write (drafts, outbox)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from workstation.core.errors import StoreError


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
    names the file (``what``: "drafts", "outbox") and says what to do.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
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
