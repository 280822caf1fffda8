"""Storage of the reading worklist's UPS workitems and their audit trail (stdlib ``sqlite3``).

Loaded by the Orthanc worklist plugin on Debian's system Python, so standard library only.
Every change runs in one ``BEGIN IMMEDIATE`` transaction: the row is read, the caller's rule
decides, and the row is written by a conditional ``UPDATE ... WHERE uid=? AND state=? AND
version=?``; exactly one of two racing claims can succeed. Orthanc calls the plugin on many HTTP
threads at once, so each thread has its own connection.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS workitems (
    uid TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    priority TEXT NOT NULL,
    priority_rank INTEGER NOT NULL,
    pool TEXT,
    performer TEXT,
    start_utc REAL,
    due_utc REAL,
    transaction_uid TEXT,
    holder TEXT,
    claimed_utc REAL,
    patient_id TEXT,
    accession_number TEXT,
    institution TEXT,
    study_uid TEXT,
    reading_study_uid TEXT UNIQUE,
    dataset TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_utc REAL NOT NULL,
    updated_utc REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS workitems_queue ON workitems (state, priority_rank, due_utc);
CREATE INDEX IF NOT EXISTS workitems_pool ON workitems (pool, state);
CREATE INDEX IF NOT EXISTS workitems_performer ON workitems (performer, state);
CREATE INDEX IF NOT EXISTS workitems_study ON workitems (study_uid);
CREATE INDEX IF NOT EXISTS workitems_patient ON workitems (patient_id);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL,
    at_utc REAL NOT NULL,
    user TEXT NOT NULL,
    role TEXT,
    action TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT
);
CREATE INDEX IF NOT EXISTS audit_uid ON audit (uid, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_COLUMNS = (
    "uid, state, priority, priority_rank, pool, performer, start_utc, due_utc, transaction_uid,"
    " holder, claimed_utc, patient_id, accession_number, institution, study_uid,"
    " reading_study_uid, dataset, version, created_utc, updated_utc"
)
_PRIORITY_RANK = {"HIGH": 0, "MEDIUM": 1, "LOW": 2}


class StoreBusy(Exception):
    """The database stayed locked past the timeout (another writer held it too long)."""


@dataclass(slots=True)
class StoredItem:
    """One row of ``workitems``; ``dataset`` is the DICOM JSON without the Transaction UID."""

    uid: str
    state: str
    priority: str
    pool: str | None
    performer: str | None
    start_utc: float | None
    due_utc: float | None
    transaction_uid: str | None
    holder: str | None
    claimed_utc: float | None
    patient_id: str | None
    accession_number: str | None
    institution: str | None
    study_uid: str | None
    reading_study_uid: str | None
    dataset: dict[str, Any]
    version: int
    created_utc: float
    updated_utc: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> StoredItem:
        return cls(
            uid=row["uid"],
            state=row["state"],
            priority=row["priority"],
            pool=row["pool"],
            performer=row["performer"],
            start_utc=row["start_utc"],
            due_utc=row["due_utc"],
            transaction_uid=row["transaction_uid"],
            holder=row["holder"],
            claimed_utc=row["claimed_utc"],
            patient_id=row["patient_id"],
            accession_number=row["accession_number"],
            institution=row["institution"],
            study_uid=row["study_uid"],
            reading_study_uid=row["reading_study_uid"],
            dataset=json.loads(row["dataset"]),
            version=row["version"],
            created_utc=row["created_utc"],
            updated_utc=row["updated_utc"],
        )


@dataclass(slots=True)
class AuditEntry:
    """Who did what to a workitem, when, with the old and new value."""

    uid: str
    user: str
    action: str
    old_value: str | None = None
    new_value: str | None = None
    role: str | None = None
    at_utc: float = 0.0


@dataclass(slots=True)
class Change:
    """What a rule decided inside a transaction: the new row values and the audit entries.

    ``fields`` holds column values to set (``dataset`` as a dict); an empty ``fields`` writes
    only the audit entries (e.g. a warning-only request).
    """

    fields: dict[str, Any] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    result: Any = None


class UpsStore:
    """Workitems and audit in one SQLite file (WAL), safe for many threads and processes."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)

    # -- connections -----------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_s,
                isolation_level=None,  # explicit BEGIN/COMMIT only
                check_same_thread=True,
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreBusy(f"worklist database busy: {exc}") from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    # -- reads -----------------------------------------------------------------------------
    def get(self, uid: str) -> StoredItem | None:
        row = (
            self._conn()
            .execute(f"SELECT {_COLUMNS} FROM workitems WHERE uid = ?", (uid,))
            .fetchone()
        )
        return StoredItem.from_row(row) if row else None

    def get_by_reading_study(self, study_uid: str) -> StoredItem | None:
        row = (
            self._conn()
            .execute(f"SELECT {_COLUMNS} FROM workitems WHERE reading_study_uid = ?", (study_uid,))
            .fetchone()
        )
        return StoredItem.from_row(row) if row else None

    def candidates(
        self,
        *,
        state: str | None = None,
        priority: str | None = None,
        pool: str | None = None,
        patient_id: str | None = None,
        visible_to: tuple[str | None, Sequence[str]] | None = None,
    ) -> list[StoredItem]:
        """Workitems pre-filtered on indexed columns, in worklist order.

        Order: priority (HIGH first), due time, creation, UID. ``visible_to`` is (performer
        code, pools) of a radiologist: their items plus unassigned items of their pools.
        """
        where: list[str] = []
        args: list[Any] = []
        for column, value in (
            ("state", state),
            ("priority", priority),
            ("pool", pool),
            ("patient_id", patient_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if visible_to is not None:
            code, pools = visible_to
            pool_list = list(pools)
            marks = ",".join("?" * len(pool_list))
            clause = f"(performer IS NULL AND pool IN ({marks}))"
            if code:
                where.append(f"(performer = ? OR {clause})" if pool_list else "performer = ?")
                args.append(code)
            else:
                where.append(clause if pool_list else "0")
            args.extend(pool_list)
        sql = f"SELECT {_COLUMNS} FROM workitems"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY priority_rank, due_utc IS NULL, due_utc, created_utc, uid"
        return [StoredItem.from_row(r) for r in self._conn().execute(sql, args)]

    def audit_entries(self, uid: str | None = None) -> list[AuditEntry]:
        sql = "SELECT uid, at_utc, user, role, action, old_value, new_value FROM audit"
        args: tuple[Any, ...] = ()
        if uid is not None:
            sql += " WHERE uid = ?"
            args = (uid,)
        sql += " ORDER BY id"
        return [
            AuditEntry(
                uid=r["uid"],
                user=r["user"],
                action=r["action"],
                old_value=r["old_value"],
                new_value=r["new_value"],
                role=r["role"],
                at_utc=r["at_utc"],
            )
            for r in self._conn().execute(sql, args)
        ]

    def get_meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- writes ----------------------------------------------------------------------------
    def insert(
        self,
        uid: str,
        columns: dict[str, Any],
        dataset: dict[str, Any],
        audit: Sequence[AuditEntry],
        *,
        reading_study_uid: str | None = None,
    ) -> bool:
        """Insert a new workitem; False (nothing written) when the UID or study is taken."""
        now = time.time()
        row = dict(columns)
        row.update(
            uid=uid,
            priority_rank=_PRIORITY_RANK.get(row.get("priority", ""), 9),
            reading_study_uid=reading_study_uid,
            dataset=json.dumps(dataset, separators=(",", ":")),
            version=1,
            created_utc=now,
            updated_utc=now,
        )
        names = ", ".join(row)
        marks = ", ".join("?" * len(row))
        with self._write() as conn:
            exists = conn.execute(
                "SELECT 1 FROM workitems WHERE uid = ? OR (reading_study_uid IS NOT NULL "
                "AND reading_study_uid = ?)",
                (uid, reading_study_uid),
            ).fetchone()
            if exists:
                return False
            conn.execute(f"INSERT INTO workitems ({names}) VALUES ({marks})", list(row.values()))
            self._add_audit(conn, audit, now)
        return True

    def mutate(self, uid: str, rule: Callable[[StoredItem | None], Change]) -> Change:
        """Read ``uid``, let ``rule`` decide, write its change and audit: one transaction.

        ``rule`` gets None for a missing item and may raise to refuse (nothing is written).
        The UPDATE is conditional on the state and version read, so it cannot overwrite a
        concurrent change even on a database with weaker locking than SQLite's.
        """
        with self._write() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM workitems WHERE uid = ?", (uid,)).fetchone()
            item = StoredItem.from_row(row) if row else None
            change = rule(item)
            now = time.time()
            if change.fields and item is not None:
                values = dict(change.fields)
                if "dataset" in values:
                    values["dataset"] = json.dumps(values["dataset"], separators=(",", ":"))
                if "priority" in values:
                    values["priority_rank"] = _PRIORITY_RANK.get(values["priority"], 9)
                values["version"] = item.version + 1
                values["updated_utc"] = now
                assignments = ", ".join(f"{k} = ?" for k in values)
                cur = conn.execute(
                    f"UPDATE workitems SET {assignments} "
                    "WHERE uid = ? AND state = ? AND version = ?",
                    [*values.values(), uid, item.state, item.version],
                )
                if cur.rowcount != 1:
                    raise StoreBusy("the workitem changed during the transaction")
            self._add_audit(conn, change.audit, now)
        return change

    @staticmethod
    def _add_audit(conn: sqlite3.Connection, entries: Sequence[AuditEntry], now: float) -> None:
        conn.executemany(
            "INSERT INTO audit (uid, at_utc, user, role, action, old_value, new_value) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (e.uid, e.at_utc or now, e.user, e.role, e.action, e.old_value, e.new_value)
                for e in entries
            ],
        )
