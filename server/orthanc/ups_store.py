"""Storage of the reading worklist's UPS workitems and their audit trail: SQLite or PostgreSQL.

Loaded by the Orthanc worklist plugin on Debian's system Python, so standard library only;
``psycopg2`` (Debian ``python3-psycopg2``) is imported only when a PostgreSQL store is opened.

``UpsStore`` (the default) keeps one SQLite file. Every change runs in one ``BEGIN IMMEDIATE``
transaction: the row is read, the caller's rule decides, and the row is written by a conditional
``UPDATE ... WHERE uid=? AND state=? AND version=?``; exactly one of two racing claims can
succeed. Orthanc calls the plugin on many HTTP threads at once, so each thread has its own
connection.

``PgUpsStore`` keeps the same tables in a schema of a PostgreSQL database, so that several
Orthanc processes sharing one orthanc-postgresql index also share one worklist. A change is one
transaction that locks the row (``SELECT ... FOR UPDATE``), lets the rule decide on what it
read, and writes with the same conditional UPDATE: a concurrent claim from another process
waits for the lock, then reads IN PROGRESS and is refused. Connections come from a small pool;
a connection lost to a server restart is replaced and the transaction retried once (it had been
rolled back by the server), an unreachable server gives ``StoreUnavailable``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

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


class StoreUnavailable(StoreBusy):
    """The worklist database cannot be reached (server down, wrong address or credentials)."""


class StoreConfigError(ValueError):
    """The worklist store is configured wrongly or its driver is not installed."""


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
    def from_row(cls, row: Mapping[str, Any]) -> StoredItem:
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
        sql, args = _candidates_sql(
            f"SELECT {_COLUMNS} FROM workitems",
            "?",
            "0",
            "uid",
            state=state,
            priority=priority,
            pool=pool,
            patient_id=patient_id,
            visible_to=visible_to,
        )
        return [StoredItem.from_row(r) for r in self._conn().execute(sql, args)]

    def page(
        self,
        *,
        offset: int,
        limit: int,
        state: str | None = None,
        priority: str | None = None,
        pool: str | None = None,
        patient_id: str | None = None,
        visible_to: tuple[str | None, Sequence[str]] | None = None,
    ) -> tuple[list[StoredItem], int]:
        """One page of ``candidates(...)`` filtered, ordered and paged in SQL, and how many
        matching items follow it; only the page's rows are decoded.

        The remainder is counted (``COUNT(*)``) only when the page is full: a short page is the
        end of the list.
        """
        filters: dict[str, Any] = dict(
            state=state,
            priority=priority,
            pool=pool,
            patient_id=patient_id,
            visible_to=visible_to,
        )
        offset, limit = _check_paging(offset, limit)
        conn = self._conn()
        sql, args = _candidates_sql(f"SELECT {_COLUMNS} FROM workitems", "?", "0", "uid", **filters)
        rows = conn.execute(sql + " LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
        items = [StoredItem.from_row(r) for r in rows]
        if len(items) < limit:
            return items, 0
        sql, args = _candidates_sql(
            "SELECT COUNT(*) FROM workitems", "?", "0", "uid", order=False, **filters
        )
        total = conn.execute(sql, args).fetchone()[0]
        return items, max(0, total - offset - limit)

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


def _candidates_sql(
    select: str,
    mark: str,
    false: str,
    uid_order: str,
    *,
    state: str | None,
    priority: str | None,
    pool: str | None,
    patient_id: str | None,
    visible_to: tuple[str | None, Sequence[str]] | None,
    order: bool = True,
) -> tuple[str, list[Any]]:
    """The worklist query shared by both stores; ``mark`` is the driver's placeholder.

    ``order`` False leaves out the ORDER BY (for a ``COUNT(*)``, which PostgreSQL refuses to
    order by a non-aggregated column).
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
            where.append(f"{column} = {mark}")
            args.append(value)
    if visible_to is not None:
        code, pools = visible_to
        pool_list = list(pools)
        marks = ",".join([mark] * len(pool_list))
        clause = f"(performer IS NULL AND pool IN ({marks}))"
        if code:
            where.append(
                f"(performer = {mark} OR {clause})" if pool_list else f"performer = {mark}"
            )
            args.append(code)
        else:
            where.append(clause if pool_list else false)
        args.extend(pool_list)
    sql = select
    if where:
        sql += " WHERE " + " AND ".join(where)
    if order:
        sql += f" ORDER BY priority_rank, due_utc IS NULL, due_utc, created_utc, {uid_order}"
    return sql, args


def _check_paging(offset: int, limit: int) -> tuple[int, int]:
    """Offset and limit of a page as non-negative ints (ValueError otherwise)."""
    if offset < 0 or limit < 0:
        raise ValueError(f"offset {offset} and limit {limit} must not be negative")
    return int(offset), int(limit)


# -- PostgreSQL ---------------------------------------------------------------------------------

_PG_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.workitems (
    uid TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    priority TEXT NOT NULL,
    priority_rank INTEGER NOT NULL,
    pool TEXT,
    performer TEXT,
    start_utc DOUBLE PRECISION,
    due_utc DOUBLE PRECISION,
    transaction_uid TEXT,
    holder TEXT,
    claimed_utc DOUBLE PRECISION,
    patient_id TEXT,
    accession_number TEXT,
    institution TEXT,
    study_uid TEXT,
    reading_study_uid TEXT UNIQUE,
    dataset TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_utc DOUBLE PRECISION NOT NULL,
    updated_utc DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS workitems_queue ON {s}.workitems (state, priority_rank, due_utc);
CREATE INDEX IF NOT EXISTS workitems_pool ON {s}.workitems (pool, state);
CREATE INDEX IF NOT EXISTS workitems_performer ON {s}.workitems (performer, state);
CREATE INDEX IF NOT EXISTS workitems_study ON {s}.workitems (study_uid);
CREATE INDEX IF NOT EXISTS workitems_patient ON {s}.workitems (patient_id);
CREATE TABLE IF NOT EXISTS {s}.audit (
    id BIGSERIAL PRIMARY KEY,
    uid TEXT NOT NULL,
    at_utc DOUBLE PRECISION NOT NULL,
    "user" TEXT NOT NULL,
    role TEXT,
    action TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT
);
CREATE INDEX IF NOT EXISTS audit_uid ON {s}.audit (uid, id);
CREATE TABLE IF NOT EXISTS {s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_IDENTIFIER = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True, slots=True)
class PgSettings:
    """Where the PostgreSQL worklist lives; ``schema`` keeps its tables apart from Orthanc's."""

    host: str = "127.0.0.1"
    port: int = 5432
    database: str = "orthanc"
    user: str = "orthanc"
    password: str = ""
    schema: str = "worklist"
    pool_size: int = 8
    connect_timeout_s: int = 5
    lock_timeout_s: float = 30.0

    @classmethod
    def from_config(
        cls, value: Any, orthanc_postgresql: Mapping[str, Any] | None = None
    ) -> PgSettings:
        """From the plugin's ``"PostgreSQL"`` key: ``true`` shares orthanc-postgresql's database
        (Orthanc's top-level ``PostgreSQL`` section), an object gives it explicitly (the same
        keys: Host, Port, Database, Username, Password) plus Schema and PoolSize."""
        base: dict[str, Any] = dict(orthanc_postgresql or {}) if value is True else {}
        if isinstance(value, Mapping):
            base.update(value)
        elif value is not True:
            raise StoreConfigError("Worklist.PostgreSQL must be true or an object")
        if value is True and not orthanc_postgresql:
            raise StoreConfigError(
                "Worklist.PostgreSQL is true but Orthanc has no PostgreSQL section"
            )
        try:
            d = cls()
            settings = cls(
                host=str(base.get("Host", d.host)),
                port=int(base.get("Port", d.port)),
                database=str(base.get("Database", d.database)),
                user=str(base.get("Username", d.user)),
                password=str(base.get("Password", "")),
                schema=str(base.get("Schema", d.schema)),
                pool_size=int(base.get("PoolSize", d.pool_size)),
                connect_timeout_s=int(base.get("ConnectTimeout", d.connect_timeout_s)),
                lock_timeout_s=float(base.get("LockTimeout", d.lock_timeout_s)),
            )
        except (TypeError, ValueError) as exc:
            raise StoreConfigError(f"Worklist.PostgreSQL: {exc}") from None
        if (
            not settings.schema
            or settings.schema[0].isdigit()
            or set(settings.schema) - _IDENTIFIER
        ):
            raise StoreConfigError(
                f"Worklist.PostgreSQL.Schema {settings.schema!r}: use lower-case letters, digits, _"
            )
        if settings.pool_size < 1:
            raise StoreConfigError("Worklist.PostgreSQL.PoolSize must be at least 1")
        return settings

    @property
    def where(self) -> str:
        """host:port/database, for messages (never the password)."""
        return f"{self.host}:{self.port}/{self.database}"


class PgUpsStore:
    """Workitems and audit in PostgreSQL, shared by every Orthanc of a site (same interface)."""

    def __init__(self, settings: PgSettings, *, busy_timeout_s: float = 30.0) -> None:
        try:
            import psycopg2
            import psycopg2.errors
            import psycopg2.extras
        except ImportError:
            raise StoreConfigError(
                "the PostgreSQL worklist store needs psycopg2 in Debian's Python "
                "(apt-get install python3-psycopg2)"
            ) from None
        self._pg = psycopg2
        self._dict_cursor = psycopg2.extras.RealDictCursor
        self._busy_errors: tuple[type[BaseException], ...] = (
            psycopg2.errors.LockNotAvailable,
            psycopg2.errors.QueryCanceled,
            psycopg2.errors.SerializationFailure,
            psycopg2.errors.DeadlockDetected,
        )
        self.settings = settings
        self.busy_timeout_s = busy_timeout_s
        s = settings.schema
        self._t = {name: f"{s}.{name}" for name in ("workitems", "audit", "meta")}
        self._slots = threading.BoundedSemaphore(settings.pool_size)
        self._idle: list[Any] = []
        self._idle_lock = threading.Lock()
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    # -- connections -----------------------------------------------------------------------
    def _connect(self) -> Any:
        st = self.settings
        try:
            conn = self._pg.connect(
                host=st.host,
                port=st.port,
                dbname=st.database,
                user=st.user,
                password=st.password,
                connect_timeout=st.connect_timeout_s,
                application_name="orthanc-worklist",
                # A claim waiting on another's row lock gives up (503) rather than hang a thread.
                options=f"-c lock_timeout={int(st.lock_timeout_s * 1000)}",
            )
        except self._pg.Error as exc:
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise StoreUnavailable(
                f"worklist database unavailable: cannot connect to PostgreSQL at {st.where} "
                f"as {st.user} ({first_line})"
            ) from None
        if not self._schema_ready:
            with self._schema_lock:
                if not self._schema_ready:
                    self._create_schema(conn)
                    self._schema_ready = True
        return conn

    def _create_schema(self, conn: Any) -> None:
        """Create the tables once; an advisory lock serialises Orthancs starting together."""
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("worklist-schema",))
                cur.execute(_PG_SCHEMA.format(s=self.settings.schema))
            conn.commit()
        except self._pg.Error as exc:
            conn.close()
            raise StoreUnavailable(
                f"worklist database at {self.settings.where}: cannot create schema "
                f"{self.settings.schema!r} ({exc.pgcode or type(exc).__name__})"
            ) from None

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """A pooled connection for one transaction; at most ``pool_size`` at a time."""
        if not self._slots.acquire(timeout=self.busy_timeout_s):
            raise StoreBusy(
                f"all {self.settings.pool_size} worklist database connections stayed busy"
            )
        conn = None
        try:
            with self._idle_lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None or conn.closed:
                conn = self._connect()
            yield conn
        finally:
            if conn is not None and not conn.closed:
                with self._idle_lock:
                    self._idle.append(conn)
            self._slots.release()

    def _drop_idle(self) -> None:
        """Close the idle connections: after one broke, the others are of the same server."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            with suppress(self._pg.Error):
                conn.close()

    def close(self) -> None:
        """Nothing to do per thread: connections are pooled (see ``dispose``)."""

    def dispose(self) -> None:
        """Close every idle pooled connection (at shutdown)."""
        self._drop_idle()

    def check(self) -> None:
        """Connect and create the schema now; StoreUnavailable says why it cannot."""
        self._run(lambda cur: cur.execute("SELECT 1"))

    def _run(self, work: Callable[[Any], T]) -> T:
        """Run ``work(cursor)`` in one transaction and commit it.

        A connection found broken before COMMIT was sent (the server restarted, the pooled
        socket is dead) is replaced and ``work`` run again: the server rolled the first attempt
        back. A failure during COMMIT is not retried (its outcome is unknown).
        """
        for attempt in (1, 2):
            with self._connection() as conn:
                committing = False
                try:
                    with conn.cursor(cursor_factory=self._dict_cursor) as cur:
                        result = work(cur)
                    committing = True
                    conn.commit()
                    return result
                except self._pg.Error as exc:
                    broken = bool(conn.closed)
                    if not broken:
                        conn.rollback()
                        if isinstance(exc, self._busy_errors):
                            raise StoreBusy(
                                f"worklist database busy ({type(exc).__name__})"
                            ) from None
                        raise StoreBusy(
                            f"worklist database error {exc.pgcode or type(exc).__name__}"
                        ) from None
                    self._drop_idle()
                    if committing or attempt == 2:
                        raise StoreUnavailable(
                            f"worklist database unavailable: lost the connection to PostgreSQL "
                            f"at {self.settings.where}"
                            + (
                                " while committing (the change may not be saved)"
                                if committing
                                else ""
                            )
                        ) from None
                except BaseException:
                    if not conn.closed:
                        conn.rollback()
                    raise
        raise AssertionError("unreachable")

    # -- reads -----------------------------------------------------------------------------
    def _one(self, sql: str, args: Sequence[Any]) -> StoredItem | None:
        def work(cur: Any) -> StoredItem | None:
            cur.execute(sql, args)
            row = cur.fetchone()
            return StoredItem.from_row(row) if row else None

        return self._run(work)

    def get(self, uid: str) -> StoredItem | None:
        return self._one(f"SELECT {_COLUMNS} FROM {self._t['workitems']} WHERE uid = %s", (uid,))

    def get_by_reading_study(self, study_uid: str) -> StoredItem | None:
        return self._one(
            f"SELECT {_COLUMNS} FROM {self._t['workitems']} WHERE reading_study_uid = %s",
            (study_uid,),
        )

    def candidates(
        self,
        *,
        state: str | None = None,
        priority: str | None = None,
        pool: str | None = None,
        patient_id: str | None = None,
        visible_to: tuple[str | None, Sequence[str]] | None = None,
    ) -> list[StoredItem]:
        """Workitems pre-filtered on indexed columns, in worklist order (as ``UpsStore``)."""
        sql, args = _candidates_sql(
            f"SELECT {_COLUMNS} FROM {self._t['workitems']}",
            "%s",
            "FALSE",
            'uid COLLATE "C"',  # byte order, as SQLite sorts
            state=state,
            priority=priority,
            pool=pool,
            patient_id=patient_id,
            visible_to=visible_to,
        )

        def work(cur: Any) -> list[StoredItem]:
            cur.execute(sql, args)
            return [StoredItem.from_row(r) for r in cur.fetchall()]

        return self._run(work)

    def page(
        self,
        *,
        offset: int,
        limit: int,
        state: str | None = None,
        priority: str | None = None,
        pool: str | None = None,
        patient_id: str | None = None,
        visible_to: tuple[str | None, Sequence[str]] | None = None,
    ) -> tuple[list[StoredItem], int]:
        """One page of ``candidates(...)`` paged in SQL and the count after it (as ``UpsStore``)."""
        filters: dict[str, Any] = dict(
            state=state,
            priority=priority,
            pool=pool,
            patient_id=patient_id,
            visible_to=visible_to,
        )
        offset, limit = _check_paging(offset, limit)
        table = self._t["workitems"]
        uid_order = 'uid COLLATE "C"'  # byte order, as SQLite sorts
        sql, args = _candidates_sql(
            f"SELECT {_COLUMNS} FROM {table}", "%s", "FALSE", uid_order, **filters
        )
        count_sql, count_args = _candidates_sql(
            f"SELECT COUNT(*) AS n FROM {table}", "%s", "FALSE", uid_order, order=False, **filters
        )

        def work(cur: Any) -> tuple[list[StoredItem], int]:
            cur.execute(sql + " LIMIT %s OFFSET %s", [*args, limit, offset])
            items = [StoredItem.from_row(r) for r in cur.fetchall()]
            if len(items) < limit:
                return items, 0
            cur.execute(count_sql, count_args)
            return items, max(0, int(cur.fetchone()["n"]) - offset - limit)

        return self._run(work)

    def audit_entries(self, uid: str | None = None) -> list[AuditEntry]:
        table = self._t["audit"]
        sql = f'SELECT uid, at_utc, "user", role, action, old_value, new_value FROM {table}'
        args: tuple[Any, ...] = ()
        if uid is not None:
            sql += " WHERE uid = %s"
            args = (uid,)
        sql += " ORDER BY id"

        def work(cur: Any) -> list[AuditEntry]:
            cur.execute(sql, args)
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
                for r in cur.fetchall()
            ]

        return self._run(work)

    def get_meta(self, key: str) -> str | None:
        def work(cur: Any) -> str | None:
            cur.execute(f"SELECT value FROM {self._t['meta']} WHERE key = %s", (key,))
            row = cur.fetchone()
            return row["value"] if row else None

        return self._run(work)

    def set_meta(self, key: str, value: str) -> None:
        self._run(
            lambda cur: cur.execute(
                f"INSERT INTO {self._t['meta']} (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
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
        """Insert a new workitem; False (nothing written) when the UID or study is taken.

        ``ON CONFLICT DO NOTHING`` covers both unique keys, also against an insert of the same
        study racing in from another Orthanc (its STABLE_STUDY callback or start-up sweep).
        """
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
        marks = ", ".join(["%s"] * len(row))

        def work(cur: Any) -> bool:
            cur.execute(
                f"INSERT INTO {self._t['workitems']} ({names}) VALUES ({marks}) "
                "ON CONFLICT DO NOTHING",
                list(row.values()),
            )
            if cur.rowcount != 1:
                return False
            self._add_audit(cur, audit, now)
            return True

        return self._run(work)

    def mutate(self, uid: str, rule: Callable[[StoredItem | None], Change]) -> Change:
        """Lock ``uid``'s row, let ``rule`` decide, write its change and audit: one transaction.

        ``SELECT ... FOR UPDATE`` makes a concurrent change (from any Orthanc process) wait for
        this transaction and then read its result; the UPDATE stays conditional on the state
        and version read, as in ``UpsStore.mutate``.
        """

        def work(cur: Any) -> Change:
            cur.execute(
                f"SELECT {_COLUMNS} FROM {self._t['workitems']} WHERE uid = %s FOR UPDATE",
                (uid,),
            )
            row = cur.fetchone()
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
                assignments = ", ".join(f"{k} = %s" for k in values)
                cur.execute(
                    f"UPDATE {self._t['workitems']} SET {assignments} "
                    "WHERE uid = %s AND state = %s AND version = %s",
                    [*values.values(), uid, item.state, item.version],
                )
                if cur.rowcount != 1:
                    raise StoreBusy("the workitem changed during the transaction")
            self._add_audit(cur, change.audit, now)
            return change

        return self._run(work)

    def _add_audit(self, cur: Any, entries: Sequence[AuditEntry], now: float) -> None:
        if not entries:
            return
        cur.executemany(
            f'INSERT INTO {self._t["audit"]} (uid, at_utc, "user", role, action, old_value, '
            "new_value) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (e.uid, e.at_utc or now, e.user, e.role, e.action, e.old_value, e.new_value)
                for e in entries
            ],
        )


def open_store(
    section: Mapping[str, Any],
    orthanc_config: Mapping[str, Any],
    default_sqlite: str | Path,
) -> UpsStore | PgUpsStore:
    """The store the plugin's ``Worklist`` section asks for: PostgreSQL when it has a
    ``PostgreSQL`` key (true or an object), else SQLite at ``Database`` or ``default_sqlite``."""
    pg = section.get("PostgreSQL")
    if pg is not None and pg is not False:
        orthanc_pg = orthanc_config.get("PostgreSQL")
        return PgUpsStore(
            PgSettings.from_config(pg, orthanc_pg if isinstance(orthanc_pg, Mapping) else None)
        )
    return UpsStore(section.get("Database") or default_sqlite)
