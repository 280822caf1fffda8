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

Schema version 3 (kept in ``meta.schema_version``; a version 1 or 2 store is migrated in place
when opened, in one transaction): each row also keeps ``tags`` (its top-level attribute tags),
``summary`` (its DICOM JSON without the Input Information Sequence, or NULL when it has none)
and ``due_key`` (the due time, or a far future for none), all written in the transaction of
every change (version 2). A search page is then joined from stored JSON text (``page_json``) in
index order (``priority_rank, due_key, created_utc, uid``) instead of decoding and re-encoding
each workitem, and every search key the plugin maps to a column is filtered in SQL. Version 3
adds performer and pool to the state index, so a radiologist's view is filtered on it.

Store generation (``generation()``): ``meta.generation`` is a counter incremented in the
transaction of every committed change of workitems (an insert, a ``mutate`` that updates or
inserts a row; never a refused change or an audit-only one), and ``meta.epoch`` a random UUID
set once when the store is created (added to older stores when opened). Epoch and counter
together name the worklist's state: the plugin's search ETag (RFC 9110 §8.8.3) is built on it,
and Orthancs sharing one PostgreSQL read the same counter, so their ETags agree.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
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

SCHEMA_VERSION = 3
_VERSION_KEY = "schema_version"
GENERATION_KEY = "generation"  # meta: committed changes of workitems, counted
EPOCH_KEY = "epoch"  # meta: a random UUID of this store, set once at its creation
NO_DUE = 1e300  # due_key of a workitem without a due time: after every real one
# Input Information Sequence: the reference to every image, most of a reading workitem's bytes.
SUMMARY_OMITS = frozenset({"00404021"})
# Columns added by version 2 (name, SQLite type, PostgreSQL type).
_V2_COLUMNS = (
    ("due_key", f"REAL NOT NULL DEFAULT {NO_DUE}", f"DOUBLE PRECISION NOT NULL DEFAULT {NO_DUE}"),
    ("tags", "TEXT", "TEXT"),
    ("summary", "TEXT", "TEXT"),
)
# Indexes (version 3): every ordered one ends in the worklist order, so a filtered page is read
# in index order and LIMIT stops early (no sort of every match); {uid} is the UID's collation.
# workitems_state_order carries performer and pool (version 3) so that a radiologist's view
# (their items and their pools' unassigned ones) is decided on the index: the rows an OFFSET
# skips are never read (a 1,000-row page at offset 4,000: 13.5 -> 5.3 ms).
_INDEXES = (
    ("workitems_order", "priority_rank, due_key, created_utc, {uid}"),
    ("workitems_state_order", "state, priority_rank, due_key, created_utc, {uid}, performer, pool"),
    (
        "workitems_state_pool_order",
        "state, pool, priority_rank, due_key, created_utc, {uid}, performer",
    ),
    (
        "workitems_state_performer_order",
        "state, performer, priority_rank, due_key, created_utc, {uid}",
    ),
    ("workitems_institution", "institution"),
    ("workitems_accession", "accession_number"),
    ("workitems_start", "start_utc"),
    ("workitems_due", "due_utc"),
)
_V1_DROPPED_INDEXES = ("workitems_queue",)  # (state, priority_rank, due_utc): superseded
_V3_REDEFINED_INDEXES = ("workitems_state_order",)  # version 2's lacked performer and pool
# Keyword arguments of candidates/page/page_json: column filters and ranges.
FILTER_KEYS = frozenset(
    {
        "state",
        "priority",
        "pool",
        "patient_id",
        "performer",
        "institution",
        "accession_number",
        "start_range",
        "due_range",
        "visible_to",
    }
)


def encode_dataset(dataset: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """(DICOM JSON text, comma-joined top-level tags, summary text or None) of a dataset.

    The summary leaves out ``SUMMARY_OMITS``; None when the dataset has none of them.
    """
    text = json.dumps(dataset, separators=(",", ":"))
    tags = ",".join(dataset)
    summary = None
    if SUMMARY_OMITS.intersection(dataset):
        lean = {t: v for t, v in dataset.items() if t not in SUMMARY_OMITS}
        summary = json.dumps(lean, separators=(",", ":"))
    return text, tags, summary


def _derived_fields(values: dict[str, Any]) -> None:
    """Fill the version 2 columns that follow from ``values`` (dataset as a dict, due_utc)."""
    if isinstance(values.get("dataset"), Mapping):
        values["dataset"], values["tags"], values["summary"] = encode_dataset(values["dataset"])
    if "due_utc" in values:
        due = values["due_utc"]
        values["due_key"] = NO_DUE if due is None else float(due)
    if "priority" in values:
        values["priority_rank"] = _PRIORITY_RANK.get(values["priority"], 9)


class DuplicateItem(Exception):
    """A workitem to insert inside a change exists already (its UID or its study is taken)."""


@dataclass(slots=True)
class RawRow:
    """One row of a search page as stored text: nothing decoded (see ``page_json``)."""

    uid: str
    dataset: str
    summary: str | None
    tags: str


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
    # New workitems written in the same transaction: (uid, columns, dataset); a taken UID
    # raises DuplicateItem and nothing of the change is written (e.g. a hand back).
    inserts: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)


def _new_row(
    uid: str,
    columns: Mapping[str, Any],
    dataset: Mapping[str, Any],
    reading_study_uid: str | None,
    now: float,
) -> dict[str, Any]:
    """Every column of a new workitem row."""
    row = dict(columns)
    row.update(
        uid=uid,
        reading_study_uid=reading_study_uid,
        dataset=dict(dataset),
        version=1,
        created_utc=now,
        updated_utc=now,
    )
    row.setdefault("due_utc", None)
    row.setdefault("priority", "")
    _derived_fields(row)
    return row


# -- what both stores share; the SQL dialect comes in as the table name and the placeholder -----
_JSON_SELECT = "SELECT uid, dataset, summary, tags FROM {table}"  # what page_json reads
# page_json(lean=True): the summary only (the dataset itself where it has nothing to omit). A
# reading workitem's dataset is ~8 kB against a ~2 kB summary: not reading it, nor making a
# Python string of it, halves the store's share of a page (measured 0.78 -> 0.4 ms in Orthanc).
_LEAN_SELECT = "SELECT uid, '' AS dataset, COALESCE(summary, dataset) AS summary, tags FROM {table}"


def _json_select(table: str, lean: bool) -> str:
    return (_LEAN_SELECT if lean else _JSON_SELECT).format(table=table)


def _raw_row(r: Mapping[str, Any]) -> RawRow:
    """A page_json row (sqlite3.Row or a psycopg2 dict row) as RawRow."""
    return RawRow(r["uid"], r["dataset"], r["summary"], r["tags"] or "")


def _audit_insert_sql(table: str, mark: str) -> str:
    marks = ", ".join([mark] * 7)
    return (
        f'INSERT INTO {table} (uid, at_utc, "user", role, action, old_value, new_value) '
        f"VALUES ({marks})"
    )


def _audit_params(entries: Sequence[AuditEntry], now: float) -> list[tuple[Any, ...]]:
    return [
        (e.uid, e.at_utc or now, e.user, e.role, e.action, e.old_value, e.new_value)
        for e in entries
    ]


def _audit_select(table: str, mark: str, uid: str | None) -> tuple[str, tuple[Any, ...]]:
    """The audit trail query: every entry, or one workitem's, in the order written."""
    sql = f'SELECT uid, at_utc, "user", role, action, old_value, new_value FROM {table}'
    args: tuple[Any, ...] = ()
    if uid is not None:
        sql += f" WHERE uid = {mark}"
        args = (uid,)
    return sql + " ORDER BY id", args


def _audit_entry(r: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(
        uid=r["uid"],
        user=r["user"],
        action=r["action"],
        old_value=r["old_value"],
        new_value=r["new_value"],
        role=r["role"],
        at_utc=r["at_utc"],
    )


def _bump_sql(table: str, mark: str, integer: str) -> str:
    """The UPDATE that counts one committed change in ``meta.generation``."""
    return (
        f"UPDATE {table} SET value = CAST(CAST(value AS {integer}) + 1 AS TEXT) WHERE key = {mark}"
    )


def _identity_rows() -> list[tuple[str, str]]:
    """The meta rows a store gets once (kept when present): a fresh epoch, generation 0."""
    return [(EPOCH_KEY, str(uuid.uuid4())), (GENERATION_KEY, "0")]


def _generation_text(values: Mapping[str, str]) -> str:
    """``epoch:counter`` from the two meta values; StoreBusy when a store lacks them."""
    epoch, counter = values.get(EPOCH_KEY), values.get(GENERATION_KEY)
    if epoch is None or counter is None:
        raise StoreBusy("the worklist store has no generation yet (it is being created)")
    return f"{epoch}:{int(counter)}"


def _apply_change(
    uid: str,
    item: StoredItem | None,
    rule: Callable[[StoredItem | None], Change],
    *,
    table: str,
    mark: str,
    execute: Callable[[str, Sequence[Any]], int],
    insert_row: Callable[[Mapping[str, Any]], bool],
    add_audit: Callable[[Sequence[AuditEntry], float], None],
    bump: Callable[[], None],
) -> Change:
    """The body of both stores' ``mutate``, inside their transaction: let ``rule`` decide on
    ``item`` (None: missing), write its fields with an UPDATE conditional on the state and
    version read, its inserts and its audit. ``execute`` runs SQL and returns the row count;
    ``bump`` counts the change in the store generation, once, when a row was written (last, so
    that PostgreSQL holds the generation row's lock only until the commit that follows).
    """
    change = rule(item)
    now = time.time()
    changed = False
    if change.fields and item is not None:
        values = dict(change.fields)
        _derived_fields(values)
        values["version"] = item.version + 1
        values["updated_utc"] = now
        assignments = ", ".join(f"{k} = {mark}" for k in values)
        count = execute(
            f"UPDATE {table} SET {assignments} "
            f"WHERE uid = {mark} AND state = {mark} AND version = {mark}",
            [*values.values(), uid, item.state, item.version],
        )
        if count != 1:
            raise StoreBusy("the workitem changed during the transaction")
        changed = True
    for new_uid, columns, dataset in change.inserts:
        if not insert_row(_new_row(new_uid, columns, dataset, None, now)):
            raise DuplicateItem(f"workitem {new_uid} exists")
        changed = True
    add_audit(change.audit, now)
    if changed:
        bump()
    return change


class UpsStore:
    """Workitems and audit in one SQLite file (WAL), safe for many threads and processes."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        # One connection per thread, kept here and not in a threading.local: Orthanc calls the
        # plugin from its own threads, and CPython gives such a thread a new thread state on
        # each call, which empties a threading.local; every request then opened a connection
        # and read with a cold page cache (in Orthanc: 0.2 ms to open, a page 0.7 ms instead
        # of 0.3). ident -> (connection, its Thread): a later thread given the same OS ident
        # is another Thread object and opens its own.
        self._conns: dict[int, tuple[sqlite3.Connection, threading.Thread]] = {}
        self._conns_lock = threading.Lock()
        self.connections_opened = 0  # over the store's life (logged with each search)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        self._migrate(conn)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring the store to SCHEMA_VERSION in one transaction (versions 1 and 2 in place)."""
        with self._write() as c:
            row = c.execute("SELECT value FROM meta WHERE key = ?", (_VERSION_KEY,)).fetchone()
            version = int(row["value"]) if row else 1
            if version > SCHEMA_VERSION:
                raise StoreConfigError(
                    f"worklist database {self.path} has schema version {version}: this plugin "
                    f"knows up to {SCHEMA_VERSION} (update the plugin)"
                )
            # Every store gets its epoch and generation once (stores made before them too).
            c.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                _identity_rows(),
            )
            if version == SCHEMA_VERSION:
                return
            if version < 2:
                have = {r["name"] for r in c.execute("PRAGMA table_info(workitems)")}
                for name, sqlite_type, _pg_type in _V2_COLUMNS:
                    if name not in have:
                        c.execute(f"ALTER TABLE workitems ADD COLUMN {name} {sqlite_type}")
                rows = c.execute("SELECT uid, dataset, due_utc FROM workitems").fetchall()
                c.executemany(
                    "UPDATE workitems SET due_key = ?, tags = ?, summary = ? WHERE uid = ?",
                    [_backfill(r["uid"], r["dataset"], r["due_utc"]) for r in rows],
                )
            for name in _V1_DROPPED_INDEXES + _V3_REDEFINED_INDEXES:
                c.execute(f"DROP INDEX IF EXISTS {name}")
            for name, cols in _INDEXES:
                c.execute(
                    f"CREATE INDEX IF NOT EXISTS {name} ON workitems ({cols.format(uid='uid')})"
                )
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_VERSION_KEY, str(SCHEMA_VERSION)),
            )

    # -- connections -----------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use and kept while the thread lives."""
        # A foreign (Orthanc) thread becomes a lasting _DummyThread here: the same object on
        # every call, alive for good.
        me = threading.current_thread()
        held = self._conns.get(threading.get_ident())
        if held is not None and held[1] is me:
            return held[0]
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_s,
            isolation_level=None,  # explicit BEGIN/COMMIT only
            # Used by its own thread only; closed by another one only once that thread has
            # ended (_close_ended).
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        with self._conns_lock:
            self._close_ended()
            self._conns[threading.get_ident()] = (conn, me)
            self.connections_opened += 1
        return conn

    def _close_ended(self) -> None:
        """Close the connections of threads that have ended (the lock is held)."""
        for ident, (conn, thread) in list(self._conns.items()):
            if not thread.is_alive():
                del self._conns[ident]
                conn.close()

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        with self._conns_lock:
            held = self._conns.pop(threading.get_ident(), None)
        if held is not None:
            held[0].close()

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

    def candidates(self, **filters: Any) -> list[StoredItem]:
        """Workitems pre-filtered on indexed columns, in worklist order.

        Order: priority (HIGH first), due time (none last), creation, UID. Filters (all
        optional, see ``FILTER_KEYS``): exact ``state``, ``priority``, ``pool``, ``patient_id``,
        ``performer``, ``institution``, ``accession_number``; ``start_range`` and
        ``due_range`` as (low, high) epoch seconds, inclusive, either None; ``visible_to`` is
        (performer code, pools) of a radiologist: their items plus unassigned items of their
        pools.
        """
        sql, args = _candidates_sql(f"SELECT {_COLUMNS} FROM workitems", "?", "0", "uid", filters)
        return [StoredItem.from_row(r) for r in self._conn().execute(sql, args)]

    def page(self, *, offset: int, limit: int, **filters: Any) -> tuple[list[StoredItem], int]:
        """One page of ``candidates(...)`` filtered, ordered and paged in SQL, and how many
        matching items follow it; only the page's rows are decoded."""
        rows, more = self._page(f"SELECT {_COLUMNS} FROM workitems", offset, limit, filters)
        return [StoredItem.from_row(r) for r in rows], more

    def page_json(
        self, *, offset: int, limit: int, lean: bool = False, **filters: Any
    ) -> tuple[list[RawRow], int]:
        """One page as stored text (DICOM JSON, summary, tags), nothing decoded, and how many
        matching items follow it: what the search answer is joined from.

        ``lean``: for an answer without ``SUMMARY_OMITS``, each row's ``dataset`` is left empty
        (not read) and its ``summary`` is always set (the dataset where it omits nothing).
        """
        rows, more = self._page(_json_select("workitems", lean), offset, limit, filters)
        return [_raw_row(r) for r in rows], more

    def _page(
        self, select: str, offset: int, limit: int, filters: Mapping[str, Any]
    ) -> tuple[list[Any], int]:
        """The remainder is counted (``COUNT(*)``) only when the page is full: a short page is
        the end of the list."""
        offset, limit = _check_paging(offset, limit)
        conn = self._conn()
        sql, args = _candidates_sql(select, "?", "0", "uid", filters)
        rows = conn.execute(sql + " LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
        if len(rows) < limit:
            return rows, 0
        sql, args = _candidates_sql(
            "SELECT COUNT(*) FROM workitems", "?", "0", "uid", filters, order=False
        )
        total = conn.execute(sql, args).fetchone()[0]
        return rows, max(0, total - offset - limit)

    def explain(self, **filters: Any) -> list[str]:
        """SQLite's query plan of a filtered page (EXPLAIN QUERY PLAN), one line per step."""
        sql, args = _candidates_sql(f"SELECT {_COLUMNS} FROM workitems", "?", "0", "uid", filters)
        plan = self._conn().execute("EXPLAIN QUERY PLAN " + sql + " LIMIT 100", args)
        return [str(r["detail"]) for r in plan]

    def audit_entries(self, uid: str | None = None) -> list[AuditEntry]:
        sql, args = _audit_select("audit", "?", uid)
        return [_audit_entry(r) for r in self._conn().execute(sql, args)]

    def get_meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None

    def generation(self) -> str:
        """``epoch:counter``: changes exactly when a change of workitems commits (one read)."""
        rows = self._conn().execute(
            "SELECT key, value FROM meta WHERE key IN (?, ?)", (EPOCH_KEY, GENERATION_KEY)
        )
        return _generation_text({r["key"]: r["value"] for r in rows})

    @staticmethod
    def _bump(conn: sqlite3.Connection) -> None:
        if conn.execute(_bump_sql("meta", "?", "INTEGER"), (GENERATION_KEY,)).rowcount != 1:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, '1')", (GENERATION_KEY,))

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
        row = _new_row(uid, columns, dataset, reading_study_uid, now)
        with self._write() as conn:
            if not self._insert_row(conn, row):
                return False
            self._add_audit(conn, audit, now)
            self._bump(conn)
        return True

    @staticmethod
    def _insert_row(conn: sqlite3.Connection, row: Mapping[str, Any]) -> bool:
        exists = conn.execute(
            "SELECT 1 FROM workitems WHERE uid = ? OR (reading_study_uid IS NOT NULL "
            "AND reading_study_uid = ?)",
            (row["uid"], row["reading_study_uid"]),
        ).fetchone()
        if exists:
            return False
        names = ", ".join(row)
        marks = ", ".join("?" * len(row))
        conn.execute(f"INSERT INTO workitems ({names}) VALUES ({marks})", list(row.values()))
        return True

    def mutate(self, uid: str, rule: Callable[[StoredItem | None], Change]) -> Change:
        """Read ``uid``, let ``rule`` decide, write its change and audit: one transaction.

        ``rule`` gets None for a missing item and may raise to refuse (nothing is written).
        The UPDATE is conditional on the state and version read, so it cannot overwrite a
        concurrent change even on a database with weaker locking than SQLite's.
        """
        with self._write() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM workitems WHERE uid = ?", (uid,)).fetchone()
            return _apply_change(
                uid,
                StoredItem.from_row(row) if row else None,
                rule,
                table="workitems",
                mark="?",
                execute=lambda sql, args: conn.execute(sql, args).rowcount,
                insert_row=lambda new: self._insert_row(conn, new),
                add_audit=lambda entries, now: self._add_audit(conn, entries, now),
                bump=lambda: self._bump(conn),
            )

    @staticmethod
    def _add_audit(conn: sqlite3.Connection, entries: Sequence[AuditEntry], now: float) -> None:
        conn.executemany(_audit_insert_sql("audit", "?"), _audit_params(entries, now))


def _candidates_sql(
    select: str,
    mark: str,
    false: str,
    uid_order: str,
    filters: Mapping[str, Any],
    *,
    order: bool = True,
) -> tuple[str, list[Any]]:
    """The worklist query shared by both stores; ``mark`` is the driver's placeholder.

    ``order`` False leaves out the ORDER BY (for a ``COUNT(*)``, which PostgreSQL refuses to
    order by a non-aggregated column). A priority filters on ``priority_rank`` so that the
    ordered indexes serve it.
    """
    unknown = set(filters) - FILTER_KEYS
    if unknown:
        raise TypeError(f"unknown workitem filters {sorted(unknown)}")
    where: list[str] = []
    args: list[Any] = []
    priority = filters.get("priority")
    if priority is not None:
        where.append(f"priority_rank = {mark}")
        args.append(_PRIORITY_RANK.get(priority, 9))
    for column in (
        "state",
        "pool",
        "patient_id",
        "performer",
        "institution",
        "accession_number",
    ):
        value = filters.get(column)
        if value is not None:
            where.append(f"{column} = {mark}")
            args.append(value)
    for key, column in (("start_range", "start_utc"), ("due_range", "due_utc")):
        bounds = filters.get(key)
        if bounds is None:
            continue
        low, high = bounds
        if low is None and high is None:
            where.append(f"{column} IS NOT NULL")
        if low is not None:
            where.append(f"{column} >= {mark}")
            args.append(float(low))
        if high is not None:
            where.append(f"{column} <= {mark}")
            args.append(float(high))
    visible_to = filters.get("visible_to")
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
        sql += f" ORDER BY priority_rank, due_key, created_utc, {uid_order}"
    return sql, args


def _backfill(uid: str, dataset_text: str, due_utc: float | None) -> tuple[Any, ...]:
    """(due_key, tags, summary, uid) of a version 1 row, for the migration to version 2."""
    _text, tags, summary = encode_dataset(json.loads(dataset_text))
    return (NO_DUE if due_utc is None else float(due_utc), tags, summary, uid)


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
_PG_UID = 'uid COLLATE "C"'  # byte order, as SQLite sorts


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
        self.connections_opened = 0  # over the store's life (logged with each search)

    # -- connections -----------------------------------------------------------------------
    def _connect(self) -> Any:
        st = self.settings
        self.connections_opened += 1  # attempts (a count for the log, not exact under races)
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
                self._migrate(cur)
            conn.commit()
        except StoreConfigError:
            conn.rollback()
            conn.close()
            raise
        except self._pg.Error as exc:
            conn.close()
            raise StoreUnavailable(
                f"worklist database at {self.settings.where}: cannot create schema "
                f"{self.settings.schema!r} ({exc.pgcode or type(exc).__name__})"
            ) from None

    def _migrate(self, cur: Any) -> None:
        """Bring the schema to SCHEMA_VERSION inside the schema-creating transaction."""
        t = self._t["workitems"]
        cur.execute(f"SELECT value FROM {self._t['meta']} WHERE key = %s", (_VERSION_KEY,))
        row = cur.fetchone()
        version = int(row[0]) if row else 1
        if version > SCHEMA_VERSION:
            raise StoreConfigError(
                f"worklist schema {self.settings.schema!r} at {self.settings.where} has version "
                f"{version}: this plugin knows up to {SCHEMA_VERSION} (update the plugin)"
            )
        # Every store gets its epoch and generation once (schemas made before them too); the
        # advisory lock of _create_schema keeps two Orthancs from racing here.
        cur.executemany(
            f"INSERT INTO {self._t['meta']} (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO NOTHING",
            _identity_rows(),
        )
        if version == SCHEMA_VERSION:
            return
        if version < 2:
            for name, _sqlite_type, pg_type in _V2_COLUMNS:
                cur.execute(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {name} {pg_type}")
            cur.execute(f"SELECT uid, dataset, due_utc FROM {t}")
            rows = cur.fetchall()
            if rows:
                cur.executemany(
                    f"UPDATE {t} SET due_key = %s, tags = %s, summary = %s WHERE uid = %s",
                    [_backfill(r[0], r[1], r[2]) for r in rows],
                )
        for name in _V1_DROPPED_INDEXES + _V3_REDEFINED_INDEXES:
            cur.execute(f"DROP INDEX IF EXISTS {self.settings.schema}.{name}")
        for name, cols in _INDEXES:
            cur.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {t} ({cols.format(uid=_PG_UID)})")
        cur.execute(
            f"INSERT INTO {self._t['meta']} (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (_VERSION_KEY, str(SCHEMA_VERSION)),
        )

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

    def candidates(self, **filters: Any) -> list[StoredItem]:
        """Workitems pre-filtered on indexed columns, in worklist order (as ``UpsStore``)."""
        sql, args = _candidates_sql(
            f"SELECT {_COLUMNS} FROM {self._t['workitems']}", "%s", "FALSE", _PG_UID, filters
        )

        def work(cur: Any) -> list[StoredItem]:
            cur.execute(sql, args)
            return [StoredItem.from_row(r) for r in cur.fetchall()]

        return self._run(work)

    def page(self, *, offset: int, limit: int, **filters: Any) -> tuple[list[StoredItem], int]:
        """One page of ``candidates(...)`` paged in SQL and the count after it (as ``UpsStore``)."""
        rows, more = self._page(
            f"SELECT {_COLUMNS} FROM {self._t['workitems']}", offset, limit, filters
        )
        return [StoredItem.from_row(r) for r in rows], more

    def page_json(
        self, *, offset: int, limit: int, lean: bool = False, **filters: Any
    ) -> tuple[list[RawRow], int]:
        """One page as stored text and the count after it (as ``UpsStore.page_json``)."""
        rows, more = self._page(_json_select(self._t["workitems"], lean), offset, limit, filters)
        return [_raw_row(r) for r in rows], more

    def _page(
        self, select: str, offset: int, limit: int, filters: Mapping[str, Any]
    ) -> tuple[list[Any], int]:
        offset, limit = _check_paging(offset, limit)
        table = self._t["workitems"]
        sql, args = _candidates_sql(select, "%s", "FALSE", _PG_UID, filters)
        count_sql, count_args = _candidates_sql(
            f"SELECT COUNT(*) AS n FROM {table}", "%s", "FALSE", _PG_UID, filters, order=False
        )

        def work(cur: Any) -> tuple[list[Any], int]:
            cur.execute(sql + " LIMIT %s OFFSET %s", [*args, limit, offset])
            rows = cur.fetchall()
            if len(rows) < limit:
                return rows, 0
            cur.execute(count_sql, count_args)
            return rows, max(0, int(cur.fetchone()["n"]) - offset - limit)

        return self._run(work)

    def audit_entries(self, uid: str | None = None) -> list[AuditEntry]:
        sql, args = _audit_select(self._t["audit"], "%s", uid)

        def work(cur: Any) -> list[AuditEntry]:
            cur.execute(sql, args)
            return [_audit_entry(r) for r in cur.fetchall()]

        return self._run(work)

    def get_meta(self, key: str) -> str | None:
        def work(cur: Any) -> str | None:
            cur.execute(f"SELECT value FROM {self._t['meta']} WHERE key = %s", (key,))
            row = cur.fetchone()
            return row["value"] if row else None

        return self._run(work)

    def generation(self) -> str:
        """``epoch:counter`` (as ``UpsStore.generation``): every Orthanc of the site reads the
        same row, so their search ETags agree."""

        def work(cur: Any) -> str:
            cur.execute(
                f"SELECT key, value FROM {self._t['meta']} WHERE key IN (%s, %s)",
                (EPOCH_KEY, GENERATION_KEY),
            )
            return _generation_text({r["key"]: r["value"] for r in cur.fetchall()})

        return self._run(work)

    def _bump(self, cur: Any) -> None:
        cur.execute(_bump_sql(self._t["meta"], "%s", "BIGINT"), (GENERATION_KEY,))
        if cur.rowcount != 1:
            cur.execute(
                f"INSERT INTO {self._t['meta']} (key, value) VALUES (%s, '1')", (GENERATION_KEY,)
            )

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
        row = _new_row(uid, columns, dataset, reading_study_uid, now)

        def work(cur: Any) -> bool:
            if not self._insert_row(cur, row):
                return False
            self._add_audit(cur, audit, now)
            self._bump(cur)
            return True

        return self._run(work)

    def _insert_row(self, cur: Any, row: Mapping[str, Any]) -> bool:
        names = ", ".join(row)
        marks = ", ".join(["%s"] * len(row))
        cur.execute(
            f"INSERT INTO {self._t['workitems']} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING",
            list(row.values()),
        )
        return bool(cur.rowcount == 1)

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

            def execute(sql: str, args: Sequence[Any]) -> int:
                cur.execute(sql, args)
                return int(cur.rowcount)

            return _apply_change(
                uid,
                StoredItem.from_row(row) if row else None,
                rule,
                table=self._t["workitems"],
                mark="%s",
                execute=execute,
                insert_row=lambda new: self._insert_row(cur, new),
                add_audit=lambda entries, now: self._add_audit(cur, entries, now),
                bump=lambda: self._bump(cur),
            )

        return self._run(work)

    def _add_audit(self, cur: Any, entries: Sequence[AuditEntry], now: float) -> None:
        if not entries:
            return
        cur.executemany(_audit_insert_sql(self._t["audit"], "%s"), _audit_params(entries, now))


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
