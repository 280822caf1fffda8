"""Report drafts that survive a crash: saved as they are typed or dictated.

A draft is what a reader has written so far for one study: the template it uses, its field
values and its section texts. Drafts live in ``drafts.sqlite`` inside the local store folder,
one row per (Study Instance UID, reader), with the time it was saved and a revision number that
grows by one with each save. The database runs in WAL mode with ``synchronous=FULL``: a save
that has returned is on disk, so a killed program or a power cut loses nothing that was saved
(SQLite "Write-Ahead Logging" and "PRAGMA synchronous"). One save is one small transaction,
cheap enough for every keystroke; :class:`DraftAutosaver` coalesces keystrokes anyway.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from workstation.core.durable_db import open_durable_db
from workstation.core.errors import StoreError, WorkstationError
from workstation.core.model import Study
from workstation.core.report import is_valid_uid

__all__ = [
    "DRAFTS_FILE_NAME",
    "Draft",
    "DraftAutosaver",
    "DraftContent",
    "DraftStore",
    "InvalidDraftError",
]

log = logging.getLogger(__name__)

DRAFTS_FILE_NAME = "drafts.sqlite"
SCHEMA_VERSION = 1
MAX_CONTENT_BYTES = 4 * 1024 * 1024  # a report is a few kB; this stops a runaway caller

_SCHEMA = """
CREATE TABLE IF NOT EXISTS drafts (
    study_instance_uid TEXT NOT NULL,
    reader TEXT NOT NULL,
    content TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    revision INTEGER NOT NULL,
    PRIMARY KEY (study_instance_uid, reader)
) WITHOUT ROWID
"""

FieldValue = str | int | float


class InvalidDraftError(WorkstationError, ValueError):
    """A draft's key or content cannot be stored (not a UID, no reader, not JSON values)."""


@dataclass(frozen=True, slots=True)
class DraftContent:
    """What a draft holds: the template id, field values by field key and free texts by
    section key (the keys of ``workstation.reporting.templates``)."""

    template_id: str
    section_texts: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, FieldValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.template_id, str) or not self.template_id.strip():
            raise InvalidDraftError("DraftContent.template_id must be a non-empty text")
        texts = dict(self.section_texts)
        for k, v in texts.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise InvalidDraftError("DraftContent.section_texts must map text to text")
        values = dict(self.values)
        for name, value in values.items():
            ok = isinstance(value, str) or (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
            )
            if not isinstance(name, str) or not ok:
                raise InvalidDraftError(
                    f"DraftContent.values[{name!r}] must be text or a finite number, got {value!r}"
                )
        object.__setattr__(self, "section_texts", texts)
        object.__setattr__(self, "values", values)

    def to_json(self) -> str:
        return json.dumps(
            {
                "template_id": self.template_id,
                "section_texts": self.section_texts,
                "values": self.values,
            },
            ensure_ascii=False,
            sort_keys=True,
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str) -> DraftContent:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise InvalidDraftError("a draft's content must be a JSON object")
        return cls(
            template_id=data.get("template_id", ""),
            section_texts=data.get("section_texts", {}),
            values=data.get("values", {}),
        )


@dataclass(frozen=True, slots=True)
class Draft:
    """A saved draft: its key, content, when it was saved (UTC) and its revision (1, 2, ...)."""

    study_instance_uid: str
    reader: str
    content: DraftContent
    saved_at: _dt.datetime
    revision: int


def _study_uid(study: str | Study) -> str:
    uid = study.study_instance_uid if isinstance(study, Study) else study
    if not isinstance(uid, str) or not is_valid_uid(uid):
        raise InvalidDraftError(
            f"a draft is keyed by a Study Instance UID (PS3.5 9.1), got {uid!r}"
        )
    return uid


def _reader(reader: str) -> str:
    if not isinstance(reader, str) or not reader.strip() or any(ord(c) < 0x20 for c in reader):
        raise InvalidDraftError("a draft's reader must be a non-empty single-line text")
    return reader


class DraftStore:
    """The drafts of one local store folder, in ``<folder>/drafts.sqlite``.

    Safe to share between threads (one connection behind a lock); several processes may open
    the same folder (SQLite's locking, with a busy timeout).
    """

    def __init__(self, folder: str | Path, *, busy_timeout_s: float = 5.0) -> None:
        self.folder = Path(folder)
        self.path = self.folder / DRAFTS_FILE_NAME
        self._lock = threading.Lock()
        self._db = open_durable_db(
            self.path,
            _SCHEMA,
            SCHEMA_VERSION,
            what="drafts",
            busy_timeout_s=busy_timeout_s,
            damaged_advice="move it aside to start with no drafts",
        )

    # -- life cycle ----------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> DraftStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- operations ----------------------------------------------------------------------------

    def save(self, study: str | Study, reader: str, content: DraftContent) -> Draft:
        """Store ``content`` as the draft of (study, reader); returns it with its new revision.
        When this returns, the draft is on disk."""
        uid, who = _study_uid(study), _reader(reader)
        if not isinstance(content, DraftContent):
            raise InvalidDraftError("DraftStore.save takes a DraftContent")
        payload = content.to_json()
        if len(payload.encode("utf-8")) > MAX_CONTENT_BYTES:
            raise InvalidDraftError(
                f"a draft may hold at most {MAX_CONTENT_BYTES // (1024 * 1024)} MiB of text"
            )
        now = _dt.datetime.now(_dt.UTC)
        (row,) = self._execute(
            "INSERT INTO drafts (study_instance_uid, reader, content, saved_at, revision) "
            "VALUES (?, ?, ?, ?, 1) "
            "ON CONFLICT (study_instance_uid, reader) DO UPDATE SET "
            "content = excluded.content, saved_at = excluded.saved_at, "
            "revision = drafts.revision + 1 "
            "RETURNING revision",
            (uid, who, payload, now.isoformat()),
        )
        return Draft(uid, who, content, now, int(row[0]))

    def load(self, study: str | Study, reader: str) -> Draft | None:
        """The draft of (study, reader), or None when there is none."""
        uid, who = _study_uid(study), _reader(reader)
        rows = self._execute(
            "SELECT study_instance_uid, reader, content, saved_at, revision FROM drafts "
            "WHERE study_instance_uid = ? AND reader = ?",
            (uid, who),
        )
        return self._draft(rows[0]) if rows else None

    def list_drafts(self, reader: str | None = None) -> list[Draft]:
        """Every draft (of one reader, when given), most recently saved first."""
        sql = "SELECT study_instance_uid, reader, content, saved_at, revision FROM drafts"
        params: tuple[Any, ...] = ()
        if reader is not None:
            sql += " WHERE reader = ?"
            params = (_reader(reader),)
        rows = self._execute(sql + " ORDER BY saved_at DESC, study_instance_uid", params)
        return [self._draft(r) for r in rows]

    def has_draft(self, study: str | Study) -> bool:
        """True when some reader has a draft of the study (the cache keeps its images)."""
        rows = self._execute(
            "SELECT 1 FROM drafts WHERE study_instance_uid = ? LIMIT 1", (_study_uid(study),)
        )
        return bool(rows)

    def delete(self, study: str | Study, reader: str) -> bool:
        """Remove the draft of (study, reader), after its report is signed; True if one was."""
        uid, who = _study_uid(study), _reader(reader)
        rows = self._execute(
            "DELETE FROM drafts WHERE study_instance_uid = ? AND reader = ? RETURNING reader",
            (uid, who),
        )
        return bool(rows)

    # -- internals -----------------------------------------------------------------------------

    def _execute(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run one statement to its end (in autocommit mode, that commits it) and return its
        rows, all under the lock, so threads never interleave on the connection."""
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.ProgrammingError as exc:
                raise StoreError(f"the drafts database {self.path} is closed ({exc})") from None
            except sqlite3.Error as exc:
                raise StoreError(
                    f"the drafts database {self.path} cannot be written or read: {exc}"
                ) from None

    def _draft(self, row: tuple[Any, ...]) -> Draft:
        uid, who, payload, saved_at, revision = row
        try:
            content = DraftContent.from_json(payload)
            when = _dt.datetime.fromisoformat(saved_at)
        except (ValueError, TypeError) as exc:
            raise StoreError(
                f"a draft in {self.path} is damaged ({type(exc).__name__}); it cannot be restored"
            ) from None
        return Draft(uid, who, content, when, int(revision))


class DraftAutosaver:
    """Saves one draft as it changes, without saving on every keystroke.

    Call :meth:`update` with the new content on each change. A worker thread saves the latest
    content at most once per ``min_interval_s`` (0.5 s) and within ``min_interval_s`` of a
    change, so no change waits longer than ``max_delay_s`` (1 s) unless the disk itself stalls.
    A failed background save is kept, retried and reported to ``on_error``; :meth:`close` saves
    what is pending and raises if that fails, so the caller can tell the reader.
    """

    def __init__(
        self,
        store: DraftStore,
        study: str | Study,
        reader: str,
        *,
        min_interval_s: float = 0.5,
        max_delay_s: float = 1.0,
        on_error: Callable[[StoreError], None] | None = None,
        on_saved: Callable[[Draft], None] | None = None,
    ) -> None:
        if not 0 < min_interval_s <= max_delay_s:
            raise InvalidDraftError("need 0 < min_interval_s <= max_delay_s")
        self.store = store
        self.study_instance_uid = _study_uid(study)
        self.reader = _reader(reader)
        self.min_interval_s = min_interval_s
        self.max_delay_s = max_delay_s
        self._on_error = on_error
        self._on_saved = on_saved
        self._cond = threading.Condition()
        self._save_lock = threading.Lock()  # one save at a time, in sequence order
        self._seq = 0  # number of the latest update
        self._pending: tuple[int, DraftContent] | None = None
        self._saved_seq = 0
        self._last_attempt = -math.inf  # monotonic time of the last save attempt
        self._closed = False
        self.last_saved: Draft | None = None
        self.last_error: StoreError | None = None
        self.saves = 0
        self._thread = threading.Thread(target=self._run, name="draft-autosaver", daemon=True)
        self._thread.start()

    def update(self, content: DraftContent) -> None:
        """The draft's content changed; it will be saved soon."""
        if not isinstance(content, DraftContent):
            raise InvalidDraftError("DraftAutosaver.update takes a DraftContent")
        with self._cond:
            if self._closed:
                raise InvalidDraftError("this autosaver is closed")
            self._seq += 1
            self._pending = (self._seq, content)
            self._cond.notify()

    @property
    def has_pending(self) -> bool:
        with self._cond:
            return self._pending is not None

    def flush(self) -> Draft | None:
        """Save what is pending now, in the caller's thread; the saved draft, or None when
        nothing was pending. Raises StoreError when the save fails (the content stays
        pending)."""
        with self._cond:
            pending, self._pending = self._pending, None
        if pending is None:
            return None
        return self._save(*pending, raise_errors=True)

    def close(self) -> None:
        """Stop the worker thread and save what is pending (raises StoreError if it fails)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify()
        self._thread.join()
        self.flush()

    def __enter__(self) -> DraftAutosaver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    if self._pending is not None:
                        wait = self._last_attempt + self.min_interval_s - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if self._closed:
                    return  # close() saves what is pending, in its own thread
                pending, self._pending = self._pending, None
            assert pending is not None
            self._save(*pending, raise_errors=False)

    def _save(self, seq: int, content: DraftContent, *, raise_errors: bool) -> Draft | None:
        with self._save_lock:
            if seq <= self._saved_seq:
                return self.last_saved  # a newer content was saved meanwhile
            self._last_attempt = time.monotonic()
            try:
                draft = self.store.save(self.study_instance_uid, self.reader, content)
            except StoreError as exc:
                self.last_error = exc
                log.warning("draft autosave failed, will retry: %s", exc)
                with self._cond:
                    if self._pending is None:
                        self._pending = (seq, content)  # kept for the next try
                        self._cond.notify()
                if self._on_error is not None:
                    self._on_error(exc)
                if raise_errors:
                    raise
                return None
            self._saved_seq = seq
            self.last_saved = draft
            self.last_error = None
            self.saves += 1
        if self._on_saved is not None:
            self._on_saved(draft)
        return draft
