"""The local audit trail: who opened, signed, sent, exported or removed what, and when.

DESIGN.md, "What must never happen": patient data must not go where it should not, and a site
needs to answer "who looked at this study" (HIPAA §164.312(b), GDPR art. 30; the DICOM
counterpart is the audit message of PS3.15 A.5). The trail is ``audit.sqlite`` beside the
store's index (owner-only, like the store), append-only: SQLite triggers refuse UPDATE and
DELETE, and every row carries a SHA-256 chained over the previous row's, so :meth:`verify`
finds a row changed or removed by anything that bypassed the triggers. Rows name studies and
reports by UID and the user by login; never a patient's name, ID or accession number.

Writes commit at once (WAL, ``synchronous=FULL``): an event that happened is on disk before
the action it records returns to the reader.
"""

from __future__ import annotations

import datetime as _dt
import enum
import getpass
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from workstation.core.durable_db import open_durable_db
from workstation.core.errors import StoreError

log = logging.getLogger(__name__)

AUDIT_FILE_NAME = "audit.sqlite"
SCHEMA_VERSION = 1
_GENESIS = "0" * 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,              -- UTC, ISO 8601 with milliseconds
    user TEXT NOT NULL,            -- the login of the reader (or the process's user)
    host TEXT NOT NULL,
    event TEXT NOT NULL,
    study_instance_uid TEXT NOT NULL DEFAULT '',
    sop_instance_uid TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    chain TEXT NOT NULL            -- sha256(previous chain | this row's fields)
);
CREATE INDEX IF NOT EXISTS audit_study ON audit (study_instance_uid, seq);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"""


class AuditEvent(enum.StrEnum):
    """What happened (after the event types of PS3.15 A.5.3)."""

    STUDY_OPENED = "study-opened"  # a study shown to a reader
    STUDY_IMPORTED = "study-imported"  # files taken into the store from media or folders
    STUDY_RETRIEVED = "study-retrieved"  # fetched from an archive
    STUDY_REMOVED = "study-removed"  # evicted or cleared from the cache
    REPORT_SIGNED = "report-signed"  # detail: preliminary | final | addendum
    REPORT_SENT = "report-sent"  # acknowledged by an archive; detail: the destination
    REPORT_EXPORTED = "report-exported"  # written to a file; detail: the format
    IMAGE_EXPORTED = "image-exported"  # a rendered image written to a file
    # A reader's calibration against an object of known size (PS3.3 10.7.1.1); detail: its
    # scope and spacing. Values measured on those images change with it.
    CALIBRATION_SET = "calibration-set"
    CALIBRATION_REMOVED = "calibration-removed"
    # A draft taken out of the drafts (kept in a file; detail: the file's name), so that
    # its study no longer stays in the cache for it.
    DRAFT_SET_ASIDE = "draft-set-aside"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: str
    user: str
    host: str
    event: AuditEvent
    study_instance_uid: str
    sop_instance_uid: str
    detail: str
    chain: str

    def line(self) -> str:
        """One tab-separated line for the command line and for IT's tools."""
        return "\t".join(
            (
                self.at,
                self.user,
                self.host,
                self.event.value,
                self.study_instance_uid or "-",
                self.sop_instance_uid or "-",
                self.detail or "-",
            )
        )


def _chain(previous: str, fields: Sequence[str]) -> str:
    h = hashlib.sha256(previous.encode("ascii"))
    for f in fields:
        h.update(b"\x1f" + f.encode("utf-8"))
    return h.hexdigest()


def current_user() -> str:
    """The login of the person at this workstation (never their full name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


class AuditTrail:
    """Append-only audit rows in ``root/audit.sqlite``; safe to share between threads."""

    def __init__(self, root: str | os.PathLike[str], *, user: str | None = None) -> None:
        self.path = Path(root) / AUDIT_FILE_NAME
        self.user = user or current_user()
        self.host = socket.gethostname()
        self._lock = threading.Lock()
        self._db = open_durable_db(
            self.path,
            _SCHEMA,
            SCHEMA_VERSION,
            what="audit",
            busy_timeout_s=10.0,
            damaged_advice="keep the file for inspection and move it aside to start a new trail",
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> AuditTrail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(
        self,
        event: AuditEvent,
        *,
        study_instance_uid: str = "",
        sop_instance_uid: str = "",
        detail: str = "",
        user: str | None = None,
        now: _dt.datetime | None = None,
    ) -> AuditEntry:
        """Append one event, committed before returning; raises :class:`StoreError`."""
        when = (now or _dt.datetime.now(_dt.UTC)).astimezone(_dt.UTC)
        at = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        who = user or self.user
        event = AuditEvent(event)
        fields = (at, who, self.host, event.value, study_instance_uid, sop_instance_uid, detail)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                row = self._db.execute(
                    "SELECT chain FROM audit ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                chain = _chain(row[0] if row else _GENESIS, fields)
                cur = self._db.execute(
                    "INSERT INTO audit (at, user, host, event, study_instance_uid, "
                    "sop_instance_uid, detail, chain) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (*fields, chain),
                )
                self._db.execute("COMMIT")
            except Exception as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StoreError(f"the audit trail {self.path} cannot be written: {exc}") from None
        seq = cur.lastrowid
        assert seq is not None
        return AuditEntry(seq, *fields[:3], event, *fields[4:], chain)  # type: ignore[arg-type]

    def entries(
        self, *, study_instance_uid: str | None = None, since: str | None = None
    ) -> list[AuditEntry]:
        """Rows in order; ``since`` is an ISO date or date-time (UTC) compared as text."""
        sql = "SELECT seq, at, user, host, event, study_instance_uid, sop_instance_uid, "
        sql += "detail, chain FROM audit WHERE 1=1"
        args: list[str] = []
        if study_instance_uid is not None:
            sql += " AND study_instance_uid = ?"
            args.append(study_instance_uid)
        if since:
            sql += " AND at >= ?"
            args.append(since)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", args).fetchall()
        return [AuditEntry(r[0], r[1], r[2], r[3], AuditEvent(r[4]), *r[5:]) for r in rows]

    def verify(self) -> list[str]:
        """Problems found in the chain (a row changed, removed or inserted); [] when intact."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, at, user, host, event, study_instance_uid, sop_instance_uid, "
                "detail, chain FROM audit ORDER BY seq"
            ).fetchall()
        problems: list[str] = []
        previous = _GENESIS
        last_seq = 0
        for seq, *fields, chain in rows:
            if seq == last_seq + 2:
                problems.append(f"row {last_seq + 1} is missing")
            elif seq != last_seq + 1:
                problems.append(f"rows {last_seq + 1} to {seq - 1} are missing")
            expected = _chain(previous, [str(f) for f in fields])
            if expected != chain:
                problems.append(f"row {seq} does not match its chain (changed or out of order)")
            previous, last_seq = chain, seq
        return problems


def record_event(root: str | os.PathLike[str], event: AuditEvent, **fields: str) -> bool:
    """Append one event to the trail of the store at ``root``; a trail that cannot be written
    is logged (the action it records has happened and stays done) and gives False."""
    try:
        with AuditTrail(root) as trail:
            trail.record(event, **fields)  # type: ignore[arg-type]
    except StoreError as exc:
        log.warning("audit: %s", exc)
        return False
    return True
