"""The Transaction UIDs of the workitems this workstation has claimed, kept in SQLite.

The Transaction UID is what lets the claimant complete or discontinue an IN PROGRESS workitem
(PS3.4 CC.1.1, CC.2.4); the server never sends it back (PS3.18 §11.6.3). So the client keeps
it on disk the moment it makes one, before the claim is sent: a restart, a crash or a lost
answer can still continue or complete the reading. The file is private to its owner (0600):
a Transaction UID is a capability.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from workstation.core.durable_db import make_private_db
from workstation.core.errors import StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS worklist_claims (
    server TEXT NOT NULL,
    uid TEXT NOT NULL,
    user TEXT NOT NULL,
    transaction_uid TEXT NOT NULL,
    study_uid TEXT NOT NULL DEFAULT '',
    claimed_utc REAL NOT NULL,
    confirmed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (server, uid)
);
CREATE INDEX IF NOT EXISTS worklist_claims_study ON worklist_claims (server, user, study_uid);
"""


@dataclass(frozen=True, slots=True)
class Claim:
    """A workitem this workstation holds: where, which, who, and its Transaction UID.

    ``confirmed`` is False between writing the claim and the server's answer; ``resumed``
    is True when a claim made earlier (before a restart) was picked up again.
    """

    server: str
    uid: str
    user: str
    transaction_uid: str
    study_uid: str = ""
    claimed_utc: float = 0.0
    confirmed: bool = False
    resumed: bool = False


class ClaimStore:
    """Claims in one SQLite file (WAL), one connection per thread."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            make_private_db(self.path)
            conn = self._conn()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot keep worklist claims in {self.path}: {exc}") from None

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            self._local.conn = None

    def _exec(self, sql: str, args: tuple[object, ...]) -> list[sqlite3.Row]:
        try:
            return list(self._conn().execute(sql, args))
        except sqlite3.Error as exc:
            raise StoreError(f"worklist claims file {self.path}: {exc}") from None

    def put(self, claim: Claim) -> Claim:
        """Write (or replace) a claim; durable when this returns (SQLite commit)."""
        self._exec(
            "INSERT OR REPLACE INTO worklist_claims (server, uid, user, transaction_uid, "
            "study_uid, claimed_utc, confirmed) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                claim.server,
                claim.uid,
                claim.user,
                claim.transaction_uid,
                claim.study_uid,
                claim.claimed_utc or time.time(),
                int(claim.confirmed),
            ),
        )
        return claim

    def confirm(self, server: str, uid: str) -> None:
        self._exec(
            "UPDATE worklist_claims SET confirmed = 1 WHERE server = ? AND uid = ?", (server, uid)
        )

    def get(self, server: str, uid: str) -> Claim | None:
        rows = self._exec(
            "SELECT * FROM worklist_claims WHERE server = ? AND uid = ?", (server, uid)
        )
        return _claim(rows[0]) if rows else None

    def for_study(self, server: str, user: str, study_uid: str) -> Claim | None:
        """The claim ``user`` holds on a workitem of ``study_uid`` (latest first)."""
        rows = self._exec(
            "SELECT * FROM worklist_claims WHERE server = ? AND user = ? AND study_uid = ? "
            "ORDER BY claimed_utc DESC LIMIT 1",
            (server, user, study_uid),
        )
        return _claim(rows[0]) if rows else None

    def all(self, server: str | None = None, user: str | None = None) -> list[Claim]:
        sql = "SELECT * FROM worklist_claims WHERE 1=1"
        args: list[object] = []
        if server is not None:
            sql += " AND server = ?"
            args.append(server)
        if user is not None:
            sql += " AND user = ?"
            args.append(user)
        return [_claim(r) for r in self._exec(sql + " ORDER BY claimed_utc", tuple(args))]

    def remove(self, server: str, uid: str) -> None:
        self._exec("DELETE FROM worklist_claims WHERE server = ? AND uid = ?", (server, uid))


def _claim(r: sqlite3.Row) -> Claim:
    return Claim(
        server=r["server"],
        uid=r["uid"],
        user=r["user"],
        transaction_uid=r["transaction_uid"],
        study_uid=r["study_uid"],
        claimed_utc=r["claimed_utc"],
        confirmed=bool(r["confirmed"]),
    )
