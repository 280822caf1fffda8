"""A durable outbox: a signed report waits here until the archive has acknowledged it.

DESIGN.md, "What must never happen": a radiologist's words are never lost. Signing writes the
SR into the local store first, then adds one outbox entry per destination archive, in
``outbox.sqlite`` beside the store's index (WAL, ``synchronous=FULL``: an entry that was added
is on disk before signing returns, so a killed program or a power cut keeps it).

:meth:`Outbox.process_once` sends what is due through a :class:`Sender` (STOW-RS, PS3.18 10.5,
or C-STORE, PS3.4 B.2). Sending is idempotent: the SOP Instance UID is the key everywhere
(PS3.4 B.4.1: a second C-STORE of the same instance is harmless), so an archive's "already
stored" answer (status 0x0111 Duplicate SOP Instance) counts as an acknowledgement. A network
or server failure schedules a retry after a growing delay (exponential, capped, with jitter so
that many workstations coming back after an outage do not hit the archive together). An
archive that refuses the instance itself (e.g. 0xA900 "does not match SOP class") marks the
entry ``failed`` with its reason for the UI; :meth:`Outbox.retry` puts it back in line. An
entry being sent is leased, so another process working on the same store does not send it at
the same time; a process killed while sending leaves a lease that expires and the entry is sent
again (harmless, see above).

:class:`OutboxWorker` drives it from a thread (no Qt) and calls ``on_acknowledged(study UID,
SOP Instance UID)`` when an archive acknowledged a report, so the reading work item can be
completed.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import enum
import json
import logging
import os
import random
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from pydicom.filereader import read_file_meta_info

from workstation.archive.audit import AuditEvent, record_event
from workstation.archive.remote import RemoteError, StoreResult
from workstation.core.durable_db import open_durable_db
from workstation.core.errors import StoreError, WorkstationError
from workstation.core.report import is_valid_uid

__all__ = [
    "OUTBOX_FILE_NAME",
    "CStoreSender",
    "Delivery",
    "FolderSender",
    "Outbox",
    "OutboxEntry",
    "OutboxState",
    "OutboxWorker",
    "RetryPolicy",
    "Sender",
    "SigningIntent",
    "StowRsSender",
    "classify_failure",
    "sender_for",
]

log = logging.getLogger(__name__)

OUTBOX_FILE_NAME = "outbox.sqlite"
SCHEMA_VERSION = 1
DEFAULT_BATCH = 50

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    sop_instance_uid TEXT NOT NULL,
    destination TEXT NOT NULL,
    study_instance_uid TEXT NOT NULL,
    path TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    sent_at REAL,
    leased_until REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (sop_instance_uid, destination)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at);
-- A report being signed, written before its file: a crash between the file and its entries
-- leaves this row, and reporting.signing.recover_signing queues the file at the next start.
CREATE TABLE IF NOT EXISTS signing (
    sop_instance_uid TEXT PRIMARY KEY,
    study_instance_uid TEXT NOT NULL,
    path TEXT NOT NULL,  -- where the file is to be, relative to the folder
    destinations TEXT NOT NULL,  -- JSON list of destination names
    created_at REAL NOT NULL
) WITHOUT ROWID;
"""
_COLUMNS = (
    "sop_instance_uid, destination, study_instance_uid, path, state, attempts, "
    "next_attempt_at, last_error, created_at, updated_at, sent_at"
)


class OutboxState(enum.StrEnum):
    """Where an entry is: waiting (first try or a retry), acknowledged, or refused."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One instance for one destination archive, as the outbox keeps it (times: Unix seconds)."""

    sop_instance_uid: str
    destination: str
    study_instance_uid: str
    path: str  # relative to the store folder when inside it, else absolute
    state: OutboxState
    attempts: int
    next_attempt_at: float
    last_error: str
    created_at: float
    updated_at: float
    sent_at: float | None

    def describe(self, now: float | None = None) -> str:
        """One line for the UI: the state and, when it is not sent, why and what happens next."""
        now = time.time() if now is None else now
        if self.state is OutboxState.SENT:
            when = _clock_text(self.sent_at or self.updated_at)
            tries = "" if self.attempts <= 1 else f" after {self.attempts} attempts"
            return f"acknowledged by {self.destination} at {when}{tries}"
        if self.state is OutboxState.FAILED:
            return (
                f"refused by {self.destination}: {self.last_error or 'no reason given'} "
                "(fix the cause, then retry)"
            )
        if self.attempts == 0:
            return f"waiting to be sent to {self.destination}"
        wait = self.next_attempt_at - now
        nxt = "now" if wait <= 0 else f"in {wait:.0f} s ({_clock_text(self.next_attempt_at)})"
        return (
            f"not yet acknowledged by {self.destination} after {self.attempts} attempt"
            f"{'s' if self.attempts != 1 else ''}: {self.last_error}; next attempt {nxt}"
        )


@dataclass(frozen=True, slots=True)
class SigningIntent:
    """A signed report on its way to the outbox: its UIDs, where its file is to be (relative
    to the store folder) and the destinations it is for."""

    sop_instance_uid: str
    study_instance_uid: str
    path: str
    destinations: tuple[str, ...]


def _clock_text(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts).strftime("%H:%M:%S")


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one :meth:`Outbox.process_once` did with one entry: its state after, and why."""

    entry: OutboxEntry
    outcome: OutboxState  # SENT, PENDING (retry scheduled) or FAILED
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Delays between attempts: ``base_s * factor**(n - 1)`` after the n-th failure, at most
    ``cap_s``, then shortened by up to ``jitter`` (a fraction) at random, so that clients that
    failed together do not retry together ("exponential backoff with jitter")."""

    base_s: float = 2.0
    factor: float = 2.0
    cap_s: float = 300.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not (0 < self.base_s <= self.cap_s) or self.factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError("RetryPolicy needs 0 < base_s <= cap_s, factor >= 1, 0 <= jitter < 1")

    def ceiling(self, attempts: int) -> float:
        """The delay after ``attempts`` failed attempts, before jitter."""
        if attempts < 1:
            return 0.0
        # Past the cap the power only grows: stop computing it (no float overflow after years).
        exponent = min(attempts - 1, 64)
        return min(self.cap_s, self.base_s * self.factor**exponent)

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """The delay after ``attempts`` failed attempts: in [ceiling * (1 - jitter), ceiling]."""
        top = self.ceiling(attempts)
        if self.jitter == 0 or top == 0:
            return top
        u = (rng or random).random()
        return top * (1.0 - self.jitter * u)


# -- senders ----------------------------------------------------------------------------------


@runtime_checkable
class Sender(Protocol):
    """Delivers Part 10 files to one destination; ``name`` is the destination's name in the
    outbox. Raises :class:`RemoteError` when the destination cannot be reached (retry later);
    returns which SOP Instance UIDs were stored and which were refused, with reasons."""

    name: str

    def send(self, paths: Sequence[Path]) -> StoreResult: ...


class StowRsSender:
    """STOW-RS through a :class:`~workstation.archive.dicomweb.DicomWebClient` (PS3.18 10.5)."""

    def __init__(self, client: Any, name: str | None = None) -> None:
        self.client = client
        self.name = name or client.config.name

    def send(self, paths: Sequence[Path]) -> StoreResult:
        result: StoreResult = self.client.store_instances(list(paths))
        return result

    def close(self) -> None:
        self.client.close()


class CStoreSender:
    """C-STORE through a :class:`~workstation.archive.dimse.DimseClient` (PS3.4 B.2)."""

    def __init__(self, client: Any, name: str | None = None) -> None:
        self.client = client
        self.name = name or client.config.name

    def send(self, paths: Sequence[Path]) -> StoreResult:
        result: StoreResult = self.client.store(list(paths))
        return result

    def close(self) -> None:
        pass


class FolderSender:
    """Copies files into a folder (a shared drop folder a site's EHR or PACS imports from),
    named ``<SOP Instance UID>.dcm``: written under a temporary name, flushed, then renamed,
    so the importer never sees half a file. A folder that does not exist (an unmounted share)
    is a :class:`RemoteError`: the entry waits. A file already there is acknowledged as is."""

    def __init__(self, folder: str | os.PathLike[str], name: str = "folder") -> None:
        self.folder = Path(folder)
        self.name = name

    def send(self, paths: Sequence[Path]) -> StoreResult:
        started = time.perf_counter()
        if not self.folder.is_dir():
            raise RemoteError(
                f"the destination folder {self.folder} is not there: is the share mounted?"
            )
        result = StoreResult()
        for p in paths:
            try:
                meta = read_file_meta_info(p)
                sop = str(meta.MediaStorageSOPInstanceUID)
            except Exception:  # pydicom raises several types for a non-DICOM file
                # 0xC000 "cannot understand" (PS3.18 Table 10.5.3-1): the file itself is bad.
                result.failed.append((Path(p).stem, "failure reason 0xc000: not a DICOM file"))
                continue
            if not is_valid_uid(sop):
                result.failed.append(
                    (Path(p).stem, "failure reason 0xc000: no valid SOP Instance UID")
                )
                continue
            dest = self.folder / f"{sop}.dcm"
            if dest.exists():
                result.stored.append(sop)
                continue
            tmp = self.folder / f".{sop}.part"
            try:
                with open(p, "rb") as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, dest)
            except OSError as exc:
                raise RemoteError(
                    f"cannot write into the destination folder {self.folder}: {exc.strerror}"
                ) from None
            result.stored.append(sop)
        result.seconds = time.perf_counter() - started
        return result

    def close(self) -> None:
        pass


def sender_for(config: Any, *, prefer: str = "dicomweb") -> StowRsSender | CStoreSender:
    """The sender for a configured archive (``core.settings.ArchiveConfig``): STOW-RS when it
    has a DICOMweb URL (unless ``prefer="dimse"``), else C-STORE."""
    if prefer not in ("dicomweb", "dimse"):
        raise ValueError("prefer must be 'dicomweb' or 'dimse'")
    use_dimse = config.dimse is not None and (prefer == "dimse" or not config.dicomweb_url)
    if use_dimse:
        from workstation.archive.dimse import DimseClient

        return CStoreSender(DimseClient(config))
    if config.dicomweb_url:
        from workstation.archive.credentials import resolve_credentials
        from workstation.archive.dicomweb import DicomWebClient

        return StowRsSender(DicomWebClient(resolve_credentials(config)))
    raise RemoteError(f"archive {config.name!r} has neither dicomweb_url nor [dimse]: cannot send")


# -- what an archive's answer means ------------------------------------------------------------

_STATUS_RE = re.compile(r"0x([0-9a-fA-F]{4})")
# PS3.4 Annex B.2.3 and PS3.7 C status codes, and PS3.18 Table 10.5.3-1 failure reasons.
_ALREADY_STORED = frozenset({0x0111})  # Duplicate SOP Instance: the archive has it
_TRANSIENT = frozenset({0x0110, 0x0124, 0x0212, 0x0213, 0xA700, 0xA701, 0xA702, 0xC001})


def classify_failure(reason: str) -> OutboxState:
    """What an archive's refusal of one instance means for the outbox: SENT when the archive
    already has it (0x0111), PENDING when it may pass later (0xA7xx out of resources, 0x0110
    processing failure, 0x0124 not authorised, or no code at all), FAILED when the instance
    itself is refused (0xA9xx/0xCxxx: does not match its SOP class, cannot be understood,
    SOP class not supported 0x0122)."""
    m = _STATUS_RE.search(reason or "")
    if m is None:
        return OutboxState.PENDING
    code = int(m.group(1), 16)
    if code in _ALREADY_STORED:
        return OutboxState.SENT
    if code in _TRANSIENT or (code & 0xFF00) == 0xA700:
        return OutboxState.PENDING
    return OutboxState.FAILED


# -- the outbox ---------------------------------------------------------------------------------


def _check_uid(name: str, value: str) -> str:
    if not isinstance(value, str) or not is_valid_uid(value):
        raise StoreError(f"an outbox entry needs a valid {name} (PS3.5 9.1), got {value!r}")
    return value


class Outbox:
    """The outbox of one local store folder, in ``<folder>/outbox.sqlite``.

    Safe to share between threads (one connection behind a lock) and between processes on the
    same folder (SQLite locking with a busy timeout; sends are leased). ``clock`` gives Unix
    time (kept in the database, so it must survive restarts); ``rng`` makes jitter repeatable.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        lease_s: float = 120.0,
        busy_timeout_s: float = 10.0,
    ) -> None:
        self.folder = Path(folder)
        self.path = self.folder / OUTBOX_FILE_NAME
        self.retry_policy = retry or RetryPolicy()
        self.clock = clock
        self.rng = rng or random.Random()
        self.lease_s = lease_s
        self._lock = threading.RLock()
        self._db = open_durable_db(
            self.path,
            _SCHEMA,
            SCHEMA_VERSION,
            what="outbox",
            busy_timeout_s=busy_timeout_s,
            damaged_advice="move it aside and re-sign the reports still waiting (they are in "
            "the local store)",
            newer_advice="; update the workstation",
        )

    # -- life cycle ---------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- adding and looking ---------------------------------------------------------------------

    def enqueue(
        self,
        sop_instance_uid: str,
        study_instance_uid: str,
        path: str | os.PathLike[str],
        destination: str,
    ) -> OutboxEntry:
        """Add an instance (a file in the store) for ``destination``; due at once. Enqueuing
        the same SOP Instance UID for the same destination again changes nothing (a sent entry
        stays sent). When this returns, the entry is on disk."""
        [entry] = self.enqueue_signed(sop_instance_uid, study_instance_uid, path, [destination])
        return entry

    # -- signing: the intent first, then the file, then its entries --------------------------

    def intend(
        self,
        sop_instance_uid: str,
        study_instance_uid: str,
        path: str,
        destinations: Sequence[str],
    ) -> None:
        """Record, before a signed report's file is written at ``path`` (relative to the
        folder), that it is to be queued for ``destinations``. :meth:`enqueue_signed` clears it;
        :meth:`signing_intents` lists what a crash left."""
        sop = _check_uid("SOP Instance UID", sop_instance_uid)
        study = _check_uid("Study Instance UID", study_instance_uid)
        self._execute(
            "INSERT OR REPLACE INTO signing (sop_instance_uid, study_instance_uid, path, "
            "destinations, created_at) VALUES (?, ?, ?, ?, ?)",
            (sop, study, path, json.dumps(list(destinations)), self.clock()),
        )

    def signing_intents(self) -> list[SigningIntent]:
        """Each report whose signing has not reached the outbox, oldest first."""
        rows = self._execute(
            "SELECT sop_instance_uid, study_instance_uid, path, destinations FROM signing "
            "ORDER BY created_at, sop_instance_uid",
            (),
        )
        return [
            SigningIntent(str(r[0]), str(r[1]), str(r[2]), tuple(json.loads(r[3]))) for r in rows
        ]

    def forget_intent(self, sop_instance_uid: str) -> None:
        """Drop an intent whose file was never written (the draft is still there)."""
        self._execute("DELETE FROM signing WHERE sop_instance_uid = ?", (sop_instance_uid,))

    def enqueue_signed(
        self,
        sop_instance_uid: str,
        study_instance_uid: str,
        path: str | os.PathLike[str],
        destinations: Sequence[str],
    ) -> list[OutboxEntry]:
        """:meth:`enqueue` for every destination and the removal of the instance's signing
        intent, if any, in one transaction: after a crash, either all of them are on disk or
        the intent is."""
        sop = _check_uid("SOP Instance UID", sop_instance_uid)
        study = _check_uid("Study Instance UID", study_instance_uid)
        if any(not isinstance(d, str) or not d.strip() for d in destinations):
            raise StoreError("an outbox entry needs a destination archive name")
        stored = self._stored_path(path)
        now = self.clock()
        with self._transaction() as db:
            db.executemany(
                f"INSERT INTO outbox ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, 'pending', 0, ?, '', ?, ?, NULL) "
                "ON CONFLICT (sop_instance_uid, destination) DO NOTHING",
                [(sop, d, study, stored, now, now, now) for d in destinations],
            )
            db.execute("DELETE FROM signing WHERE sop_instance_uid = ?", (sop,))
        for d in destinations:
            log.info("outbox: queued an instance for %s", d)
        return [e for d in destinations if (e := self.entry(sop, d)) is not None]

    def _stored_path(self, path: str | os.PathLike[str]) -> str:
        """The file as the outbox keeps it: relative to the folder when inside it."""
        file = Path(path)
        if not file.is_absolute():
            file = self.folder / file
        if not file.is_file():
            raise StoreError(f"cannot queue {file}: the file is not in the local store")
        try:
            return str(file.resolve().relative_to(self.folder.resolve()))
        except ValueError:
            return str(file.resolve())

    def entry(self, sop_instance_uid: str, destination: str) -> OutboxEntry | None:
        rows = self._execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE sop_instance_uid = ? AND destination = ?",
            (sop_instance_uid, destination),
        )
        return _entry(rows[0]) if rows else None

    def entries(
        self,
        state: OutboxState | None = None,
        *,
        study_instance_uid: str | None = None,
        sop_instance_uid: str | None = None,
    ) -> list[OutboxEntry]:
        """Entries (optionally of one state, study or instance), oldest first."""
        where: list[str] = []
        params: list[Any] = []
        if state is not None:
            where.append("state = ?")
            params.append(OutboxState(state).value)
        if study_instance_uid is not None:
            where.append("study_instance_uid = ?")
            params.append(study_instance_uid)
        if sop_instance_uid is not None:
            where.append("sop_instance_uid = ?")
            params.append(sop_instance_uid)
        sql = f"SELECT {_COLUMNS} FROM outbox"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._execute(sql + " ORDER BY created_at, sop_instance_uid, destination", params)
        return [_entry(r) for r in rows]

    def undelivered(self, study_instance_uid: str) -> int:
        """How many of the study's entries the archive has not acknowledged (pending or
        refused): their files are the only copies the archive does not have."""
        rows = self._execute(
            "SELECT COUNT(*) FROM outbox WHERE study_instance_uid = ? AND state != 'sent'",
            (study_instance_uid,),
        )
        return int(rows[0][0])

    def counts(self) -> dict[OutboxState, int]:
        """How many entries are in each state (every state is a key)."""
        rows = self._execute("SELECT state, COUNT(*) FROM outbox GROUP BY state", ())
        out = {s: 0 for s in OutboxState}
        for state, n in rows:
            out[OutboxState(state)] = int(n)
        return out

    def next_due_at(self, destinations: Iterable[str] | None = None) -> float | None:
        """When the next pending entry (of these destinations) is due; None when none waits."""
        sql = "SELECT MIN(MAX(next_attempt_at, leased_until)) FROM outbox WHERE state='pending'"
        params: list[Any] = []
        if destinations is not None:
            names = list(destinations)
            if not names:
                return None
            sql += f" AND destination IN ({', '.join('?' * len(names))})"
            params.extend(names)
        rows = self._execute(sql, params)
        value = rows[0][0] if rows else None
        return None if value is None else float(value)

    def retry(self, sop_instance_uid: str | None = None, destination: str | None = None) -> int:
        """Make failed (and waiting) entries due now, e.g. after the cause was fixed; all of
        them, or those of one instance and/or destination. Returns how many."""
        where = ["state IN ('pending', 'failed')"]
        params: list[Any] = [self.clock(), self.clock()]
        if sop_instance_uid is not None:
            where.append("sop_instance_uid = ?")
            params.append(sop_instance_uid)
        if destination is not None:
            where.append("destination = ?")
            params.append(destination)
        rows = self._execute(
            "UPDATE outbox SET state = 'pending', next_attempt_at = ?, updated_at = ? WHERE "
            + " AND ".join(where)
            + " RETURNING sop_instance_uid",
            params,
        )
        return len(rows)

    def resolve(self, entry: OutboxEntry) -> Path:
        """The file an entry sends."""
        p = Path(entry.path)
        return p if p.is_absolute() else self.folder / p

    # -- sending ----------------------------------------------------------------------------------

    def process_once(
        self,
        senders: Sender | Iterable[Sender] | Mapping[str, Sender],
        *,
        on_acknowledged: Callable[[str, str], None] | None = None,
        limit: int = DEFAULT_BATCH,
    ) -> list[Delivery]:
        """Send every due entry of the senders' destinations (oldest first, at most ``limit``),
        one batch per destination, and record each outcome. Returns what happened; an empty
        list when nothing was due. Never raises for a failed send: that is an outcome."""
        by_name = _senders_by_name(senders)
        claimed = self._claim(list(by_name), limit)
        deliveries: list[Delivery] = []
        for name, entries in _group(claimed).items():
            deliveries.extend(self._deliver(by_name[name], entries))
        if on_acknowledged is not None:
            for d in deliveries:
                if d.outcome is OutboxState.SENT:
                    try:
                        on_acknowledged(d.entry.study_instance_uid, d.entry.sop_instance_uid)
                    except Exception:  # the caller's problem; the entry is sent either way
                        log.exception("outbox: the on_acknowledged callback failed")
        return deliveries

    def _claim(self, destinations: list[str], limit: int) -> list[OutboxEntry]:
        """Lease the due entries, in one write transaction, so no other process sends them."""
        if not destinations:
            return []
        now = self.clock()
        marks = ", ".join("?" * len(destinations))
        with self._transaction() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE state = 'pending' "
                f"AND next_attempt_at <= ? AND leased_until <= ? "
                f"AND destination IN ({marks}) "
                "ORDER BY created_at, sop_instance_uid LIMIT ?",
                (now, now, *destinations, limit),
            ).fetchall()
            db.executemany(
                "UPDATE outbox SET leased_until = ? WHERE sop_instance_uid = ? AND destination = ?",
                [(now + self.lease_s, r[0], r[1]) for r in rows],
            )
        return [_entry(r) for r in rows]

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE), under the lock; rolled back on any error,
        whose SQLite kind becomes a :class:`StoreError`."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            except sqlite3.ProgrammingError as exc:
                raise StoreError(f"the outbox database {self.path} is closed ({exc})") from None
            except sqlite3.Error as exc:
                raise StoreError(f"the outbox database {self.path} cannot be used: {exc}") from None

    def _deliver(self, sender: Sender, entries: list[OutboxEntry]) -> list[Delivery]:
        outcomes: dict[str, tuple[OutboxState, str]] = {}
        to_send: dict[str, OutboxEntry] = {}
        for e in entries:
            if self.resolve(e).is_file():
                to_send[e.sop_instance_uid] = e
            else:
                outcomes[e.sop_instance_uid] = (
                    OutboxState.FAILED,
                    "the file is missing from the local store; sign the report again",
                )
        if to_send:
            paths = [self.resolve(e) for e in to_send.values()]
            try:
                result = sender.send(paths)
            except WorkstationError as exc:  # RemoteError and its kind: try again later
                for sop in to_send:
                    outcomes[sop] = (OutboxState.PENDING, str(exc))
            except OSError as exc:
                for sop in to_send:
                    outcomes[sop] = (OutboxState.PENDING, f"cannot send: {exc.strerror or exc}")
            else:
                stored = set(result.stored)
                refused = dict(result.failed)
                for sop in to_send:
                    if sop in stored:
                        outcomes[sop] = (OutboxState.SENT, "")
                    elif sop in refused:
                        reason = refused[sop] or "refused without a reason"
                        outcomes[sop] = (classify_failure(reason), f"archive answered {reason}")
                    else:
                        outcomes[sop] = (
                            OutboxState.PENDING,
                            "the archive did not acknowledge the instance",
                        )
        return [self._record(e, *outcomes[e.sop_instance_uid]) for e in entries]

    def _record(self, entry: OutboxEntry, outcome: OutboxState, detail: str) -> Delivery:
        now = self.clock()
        attempts = entry.attempts + 1
        if outcome is OutboxState.SENT:
            row = self._execute(
                f"UPDATE outbox SET state = 'sent', attempts = ?, last_error = '', "
                "updated_at = ?, sent_at = ?, leased_until = 0 "
                f"WHERE sop_instance_uid = ? AND destination = ? RETURNING {_COLUMNS}",
                (attempts, now, now, entry.sop_instance_uid, entry.destination),
            )
            log.info(
                "outbox: %s acknowledged an instance (attempt %d)", entry.destination, attempts
            )
            record_event(
                self.folder,
                AuditEvent.REPORT_SENT,
                study_instance_uid=entry.study_instance_uid,
                sop_instance_uid=entry.sop_instance_uid,
                detail=entry.destination,
            )
        elif outcome is OutboxState.PENDING:
            delay = self.retry_policy.delay(attempts, self.rng)
            row = self._execute(
                "UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ?, "
                "updated_at = ?, leased_until = 0 "
                f"WHERE sop_instance_uid = ? AND destination = ? RETURNING {_COLUMNS}",
                (attempts, detail, now + delay, now, entry.sop_instance_uid, entry.destination),
            )
            log.warning(
                "outbox: sending to %s failed (attempt %d), next in %.1f s: %s",
                entry.destination,
                attempts,
                delay,
                detail,
            )
        else:
            row = self._execute(
                "UPDATE outbox SET state = 'failed', attempts = ?, last_error = ?, "
                "updated_at = ?, leased_until = 0 "
                f"WHERE sop_instance_uid = ? AND destination = ? RETURNING {_COLUMNS}",
                (attempts, detail, now, entry.sop_instance_uid, entry.destination),
            )
            log.error("outbox: %s refused an instance: %s", entry.destination, detail)
        after = _entry(row[0]) if row else entry
        return Delivery(after, outcome, detail)

    # -- internals ---------------------------------------------------------------------------------

    def _execute(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, tuple(params)).fetchall()
            except sqlite3.ProgrammingError as exc:
                raise StoreError(f"the outbox database {self.path} is closed ({exc})") from None
            except sqlite3.Error as exc:
                raise StoreError(
                    f"the outbox database {self.path} cannot be written or read: {exc}"
                ) from None


def _entry(row: Sequence[Any]) -> OutboxEntry:
    return OutboxEntry(
        sop_instance_uid=str(row[0]),
        destination=str(row[1]),
        study_instance_uid=str(row[2]),
        path=str(row[3]),
        state=OutboxState(row[4]),
        attempts=int(row[5]),
        next_attempt_at=float(row[6]),
        last_error=str(row[7]),
        created_at=float(row[8]),
        updated_at=float(row[9]),
        sent_at=None if row[10] is None else float(row[10]),
    )


def _senders_by_name(
    senders: Sender | Iterable[Sender] | Mapping[str, Sender],
) -> dict[str, Sender]:
    if isinstance(senders, Mapping):
        return dict(senders)
    if isinstance(senders, Sender):
        return {senders.name: senders}
    out: dict[str, Sender] = {}
    for s in senders:
        if s.name in out:
            raise ValueError(f"two senders are named {s.name!r}")
        out[s.name] = s
    return out


def _group(entries: list[OutboxEntry]) -> dict[str, list[OutboxEntry]]:
    groups: dict[str, list[OutboxEntry]] = {}
    for e in entries:
        groups.setdefault(e.destination, []).append(e)
    return groups


class OutboxWorker:
    """Sends the outbox in a background thread: at once when :meth:`wake` is called (after
    signing), when a retry falls due, and every ``poll_s`` (entries another process added).

    ``on_acknowledged(study UID, SOP Instance UID)`` runs in the worker thread for each
    acknowledged instance; ``on_change(deliveries)`` after each round that did something (a
    Qt widget re-emits it as a signal to reach its own thread). The worker never dies of a
    failed send or a busy database: it logs and tries again.
    """

    def __init__(
        self,
        outbox: Outbox,
        senders: Sender | Iterable[Sender] | Mapping[str, Sender],
        *,
        on_acknowledged: Callable[[str, str], None] | None = None,
        on_change: Callable[[list[Delivery]], None] | None = None,
        poll_s: float = 5.0,
        min_wait_s: float = 0.05,
    ) -> None:
        if poll_s <= 0 or min_wait_s < 0:
            raise ValueError("poll_s must be positive and min_wait_s not negative")
        self.outbox = outbox
        self.senders = _senders_by_name(senders)
        self.on_acknowledged = on_acknowledged
        self.on_change = on_change
        self.poll_s = poll_s
        self.min_wait_s = min_wait_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0
        self.last_error: str = ""

    def start(self) -> OutboxWorker:
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="report-outbox", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Look at the outbox now (a report was just signed, or the user asked to retry)."""
        self._wake.set()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the current round (a send in progress finishes or times out)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("outbox worker did not stop within %.0f s", timeout_s)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> OutboxWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                deliveries = self.outbox.process_once(
                    self.senders, on_acknowledged=self.on_acknowledged
                )
                self.last_error = ""
            except Exception as exc:  # a locked or closed database: keep the thread alive
                self.last_error = str(exc)
                log.warning("outbox worker: %s", exc)
                deliveries = []
            self.rounds += 1
            if deliveries and self.on_change is not None:
                try:
                    self.on_change(deliveries)
                except Exception:
                    log.exception("outbox worker: the on_change callback failed")
            if deliveries:
                continue  # more may be due (a batch limit, or another destination)
            self._wake.wait(self._wait_s())

    def _wait_s(self) -> float:
        try:
            due = self.outbox.next_due_at(self.senders)
        except WorkstationError:
            return self.poll_s
        if due is None:
            return self.poll_s
        return max(self.min_wait_s, min(self.poll_s, due - self.outbox.clock()))
