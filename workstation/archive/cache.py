"""Managing the local store as a cache: a size limit, least-recently-used eviction by study,
"clear cache", a usage report, and a check that the store is private to its owner.

Studies are used in the order of ``last_opened_at`` (set when the viewer opens one), else
``added_at``. A study the caller protects is never evicted: ``workstation cache`` passes
reporting's :class:`~workstation.reporting.retention.ReportHolds` as ``is_protected(study_uid)``
(a draft, a signed report the archive has not acknowledged), and the studies named by --keep.

Crash safety. An index row must never point to a missing file, and a crash must not leak files
forever. So an eviction (1) in one transaction deletes the study's index rows and writes the
paths of its files into a journal table of our own (``cache_pending_deletes``), (2) deletes the
files, (3) clears their journal rows. A crash after (1) leaves files that no row points to, and
the journal names them: the next :class:`StoreCache` finishes the job (:meth:`recover`). Deleting
files first would, after a crash, leave rows pointing to missing files, which is the one state a
reader must never meet; a plain sweep for unindexed files instead of a journal could not tell an
orphan from a file another thread has just moved into place and not yet indexed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import sys
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from workstation.archive.audit import AuditEvent, AuditTrail
from workstation.core.errors import ConfigError, InvalidDicomError, NotFoundError, StoreError
from workstation.core.sizes import format_size, parse_size
from workstation.core.text import counted

if TYPE_CHECKING:
    from workstation.archive.local import LocalArchive

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
FILE_MODE = 0o600
FOLDER_MODE = 0o700
_BATCH = 100  # files deleted between two commits of the journal
# A file in studies/ with no index row younger than this may be waiting for its batch's commit.
ORPHAN_GRACE_S = 15 * 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cache_pending_deletes (
    path TEXT PRIMARY KEY,
    study_instance_uid TEXT NOT NULL,
    queued_at REAL NOT NULL
);
"""

_USAGE_SQL = """
SELECT s.study_instance_uid AS uid,
       COALESCE(s.last_opened_at, s.added_at) AS used_at,
       s.last_opened_at IS NOT NULL AS opened,
       COUNT(i.sop_instance_uid) AS n,
       COALESCE(SUM(i.file_size), 0) AS size
FROM studies s
LEFT JOIN series r ON r.study_instance_uid = s.study_instance_uid
LEFT JOIN instances i ON i.series_instance_uid = r.series_instance_uid
{where}
GROUP BY s.study_instance_uid
ORDER BY used_at, s.study_instance_uid
"""


@dataclass(frozen=True, slots=True)
class StudyUsage:
    """One study's share of the store: its files' bytes and when it was last used."""

    study_instance_uid: str
    size_bytes: int
    instances: int
    last_used_at: float  # seconds since the epoch: last opened, else added
    opened: bool
    protected: bool


@dataclass(slots=True)
class EvictionReport:
    """What an eviction did: studies removed in order, bytes freed, what is left."""

    evicted: list[StudyUsage] = field(default_factory=list)
    freed_bytes: int = 0
    remaining_bytes: int = 0
    limit_bytes: int | None = None
    protected_bytes: int = 0  # bytes kept because their studies are protected
    protected_studies: int = 0

    @property
    def over_limit(self) -> bool:
        """True when protected studies alone keep the store above its limit."""
        return self.limit_bytes is not None and self.remaining_bytes > self.limit_bytes

    def summary(self) -> str:
        text = (
            f"{counted(len(self.evicted), 'study', 'studies')} evicted, "
            f"{format_size(self.freed_bytes)} freed, "
            f"{format_size(self.remaining_bytes)} in the store"
        )
        if self.limit_bytes is not None:
            text += f" (limit {format_size(self.limit_bytes)})"
        if self.over_limit:
            text += f"; still over the limit: {format_size(self.protected_bytes)} are protected"
        elif self.protected_studies:
            kept = counted(self.protected_studies, "protected study", "protected studies")
            text += f"; {kept} kept ({format_size(self.protected_bytes)})"
        return text


@dataclass(frozen=True, slots=True)
class PermissionProblem:
    """A path in the store that others could read or enter, with its mode and the one expected."""

    path: str  # relative to the store folder ("." for the folder itself)
    mode: int
    expected: int

    def line(self) -> str:
        return f"{self.path}: mode {self.mode:04o}, expected {self.expected:04o}"


class StoreCache:
    """Size limit, LRU eviction and clearing of a :class:`LocalArchive`, study by study.

    ``protected`` names studies to keep; ``is_protected(study_uid)`` is asked for every
    candidate (an open draft, an unsent report). Opening it finishes any eviction a crash cut
    short. Use it on one thread at a time (the index connection is per thread).
    """

    def __init__(
        self,
        archive: LocalArchive,
        *,
        is_protected: Callable[[str], bool] | None = None,
        protected: Collection[str] = (),
    ) -> None:
        self.archive = archive
        self.root = archive.root
        self._is_protected = is_protected
        self.protected = set(protected)
        conn = self._conn()
        try:
            conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot prepare the store index for cache management: {exc}"
            ) from None
        self.recover()

    def _conn(self) -> sqlite3.Connection:
        return self.archive.index.connection()

    def is_protected(self, study_instance_uid: str) -> bool:
        if study_instance_uid in self.protected:
            return True
        return bool(self._is_protected and self._is_protected(study_instance_uid))

    # -- usage -----------------------------------------------------------------------------
    def usage(self) -> list[StudyUsage]:
        """Every study with its bytes, least recently used first (the eviction order)."""
        rows = self._conn().execute(_USAGE_SQL.format(where=""))
        return [self._usage_of(r) for r in rows.fetchall()]

    def study_usage(self, study_instance_uid: str) -> StudyUsage:
        rows = self._conn().execute(
            _USAGE_SQL.format(where="WHERE s.study_instance_uid = ?"), (study_instance_uid,)
        )
        row = rows.fetchone()
        if row is None:
            raise NotFoundError(f"study {study_instance_uid} is not in the local store")
        return self._usage_of(row)

    def _usage_of(self, r: sqlite3.Row) -> StudyUsage:
        uid = str(r["uid"])
        return StudyUsage(
            study_instance_uid=uid,
            size_bytes=int(r["size"]),
            instances=int(r["n"]),
            last_used_at=float(r["used_at"]),
            opened=bool(r["opened"]),
            protected=self.is_protected(uid),
        )

    def total_bytes(self) -> int:
        """Bytes of every stored instance file, as the index records them."""
        row = self._conn().execute("SELECT COALESCE(SUM(file_size), 0) FROM instances").fetchone()
        return int(row[0])

    # -- eviction --------------------------------------------------------------------------
    def enforce_limit(
        self,
        limit_bytes: int,
        *,
        reserve_bytes: int = 0,
        progress: ProgressCallback | None = None,
    ) -> EvictionReport:
        """Evict least recently used unprotected studies until the store (plus ``reserve_bytes``
        about to arrive) fits in ``limit_bytes``; protected studies are skipped, never evicted."""
        if limit_bytes < 0 or reserve_bytes < 0:
            raise ValueError("limit_bytes and reserve_bytes must not be negative")
        studies = self.usage()
        total = sum(s.size_bytes for s in studies)
        victims: list[StudyUsage] = []
        running = total
        for s in studies:
            if running + reserve_bytes <= limit_bytes:
                break
            if s.protected:
                continue
            victims.append(s)
            running -= s.size_bytes
        report = self._evict(victims, progress)
        report.limit_bytes = limit_bytes
        report.remaining_bytes = self.total_bytes()
        kept = [s for s in self.usage() if s.protected]
        report.protected_bytes = sum(s.size_bytes for s in kept)
        report.protected_studies = len(kept)
        return report

    def clear(self, progress: ProgressCallback | None = None) -> EvictionReport:
        """Evict every study that is not protected ("clear cache")."""
        studies = self.usage()
        report = self._evict([s for s in studies if not s.protected], progress)
        report.remaining_bytes = self.total_bytes()
        report.protected_bytes = report.remaining_bytes
        report.protected_studies = sum(1 for s in studies if s.protected)
        return report

    def evict_study(
        self, study_instance_uid: str, progress: ProgressCallback | None = None
    ) -> StudyUsage:
        """Remove one study's files and index rows; refuses a protected study."""
        usage = self.study_usage(study_instance_uid)
        if usage.protected:
            raise StoreError(
                f"study {study_instance_uid} is protected (an open report or one not yet sent); "
                "finish or send the report first"
            )
        self._evict([usage], progress)
        return usage

    def _evict(
        self, victims: list[StudyUsage], progress: ProgressCallback | None
    ) -> EvictionReport:
        report = EvictionReport()
        if not victims:
            return report
        queued = self._queue(v.study_instance_uid for v in victims)
        self._delete_pending(progress, expected=queued)
        report.evicted = victims
        report.freed_bytes = sum(v.size_bytes for v in victims)
        with contextlib.suppress(StoreError), AuditTrail(self.root) as trail:
            for v in victims:
                trail.record(
                    AuditEvent.STUDY_REMOVED,
                    study_instance_uid=v.study_instance_uid,
                    detail=f"{v.instances} instances, {v.size_bytes} bytes",
                )
        log.info(
            "cache: evicted %d studies, %d files, %d bytes",
            len(victims),
            queued,
            report.freed_bytes,
        )
        return report

    def _queue(self, study_uids: Iterable[str]) -> int:
        """Step 1, one transaction: journal the studies' files and delete their index rows."""
        conn = self._conn()
        now = time.time()
        queued = 0
        try:
            conn.commit()  # end whatever this thread left open before taking the write lock
            conn.execute("BEGIN IMMEDIATE")
            for uid in study_uids:
                series = "SELECT series_instance_uid FROM series WHERE study_instance_uid=?"
                cur = conn.execute(
                    "INSERT OR IGNORE INTO cache_pending_deletes (path, study_instance_uid, "
                    f"queued_at) SELECT path, ?, ? FROM instances WHERE series_instance_uid IN "
                    f"({series})",
                    (uid, now, uid),
                )
                queued += max(cur.rowcount, 0)
                conn.execute(
                    f"DELETE FROM instances WHERE series_instance_uid IN ({series})", (uid,)
                )
                conn.execute("DELETE FROM series WHERE study_instance_uid=?", (uid,))
                conn.execute("DELETE FROM studies WHERE study_instance_uid=?", (uid,))
            conn.commit()
        except sqlite3.Error as exc:
            conn.rollback()
            raise StoreError(f"cannot update the store index: {exc}") from None
        return queued

    def _delete_pending(self, progress: ProgressCallback | None, expected: int = 0) -> int:
        """Steps 2 and 3: delete journalled files, then their journal rows, batch by batch.

        A path that an instance row names again (the study was retrieved anew meanwhile) is
        kept: its file belongs to the new row.
        """
        conn = self._conn()
        total = max(
            expected, conn.execute("SELECT COUNT(*) FROM cache_pending_deletes").fetchone()[0]
        )
        done = 0
        folders: set[Path] = set()
        if progress:
            progress(0, total)
        while True:
            paths = [
                str(r[0])
                for r in conn.execute(
                    "SELECT path FROM cache_pending_deletes ORDER BY path LIMIT ?", (_BATCH,)
                )
            ]
            if not paths:
                break
            marks = ",".join("?" * len(paths))
            reused = {
                str(r[0])
                for r in conn.execute(f"SELECT path FROM instances WHERE path IN ({marks})", paths)
            }
            for rel in paths:
                if rel not in reused:
                    target = self._inside(rel)
                    if target is not None:
                        with contextlib.suppress(FileNotFoundError):
                            target.unlink()
                        folders.add(target.parent)
                done += 1
                if progress:
                    progress(done, total)
            try:
                conn.execute(f"DELETE FROM cache_pending_deletes WHERE path IN ({marks})", paths)
                conn.commit()
            except sqlite3.Error as exc:
                conn.rollback()
                raise StoreError(f"cannot update the store index: {exc}") from None
        self._remove_empty(folders)
        return done

    def _inside(self, rel: str) -> Path | None:
        """The absolute path of a journalled file, or None if it would lie outside studies/."""
        target = (self.root / rel).resolve()
        studies = (self.root / "studies").resolve()
        if studies not in target.parents:
            log.warning("cache: a journalled path lies outside the store; left alone")
            return None
        return target

    def _remove_empty(self, folders: set[Path]) -> None:
        """Remove series folders, then study folders, that are left empty."""
        studies = (self.root / "studies").resolve()
        for folder in sorted(folders | {f.parent for f in folders}, key=lambda p: -len(p.parts)):
            if folder != studies and studies in folder.parents:
                with contextlib.suppress(OSError):  # not empty (re-retrieved): keep it
                    folder.rmdir()

    def recover(self, progress: ProgressCallback | None = None) -> int:
        """Finish evictions a crash cut short; returns how many journalled files were handled."""
        pending = self.pending_deletions()
        if not pending:
            return 0
        log.warning("cache: finishing an interrupted eviction (%d files)", pending)
        return self._delete_pending(progress)

    def pending_deletions(self) -> int:
        """Files an interrupted eviction still has to delete."""
        return int(self._conn().execute("SELECT COUNT(*) FROM cache_pending_deletes").fetchone()[0])

    # -- checks ----------------------------------------------------------------------------
    def missing_files(self) -> list[str]:
        """Store-relative paths of indexed instances whose file is gone (should be none)."""
        rows = self._conn().execute("SELECT path FROM instances ORDER BY path")
        return [str(r[0]) for r in rows if not (self.root / str(r[0])).is_file()]

    def forget_missing(self) -> list[str]:
        """Delete the index rows of instances whose file is gone, so that their series count
        as partial and the next retrieve fetches them again; series and studies left without
        instances go too (a reader's measurements and key images stay, as after an eviction).
        Returns the paths forgotten.

        Refuses when no indexed file is left at all: that is more likely a store folder that
        is not there (an unmounted disk) than files lost one by one.
        """
        gone = self._rows_without_files()
        if not gone:
            return []
        gone, emptied = self._forget_rows(gone)
        with contextlib.suppress(StoreError), AuditTrail(self.root) as trail:
            for uid in emptied:
                trail.record(
                    AuditEvent.STUDY_REMOVED,
                    study_instance_uid=uid,
                    detail="its files were missing from the store",
                )
        log.warning("cache: forgot %d instances whose files were missing", len(gone))
        return sorted(rel for _sop, _series, rel in gone)

    def _rows_without_files(self) -> list[tuple[str, str, str]]:
        """(SOP Instance UID, Series Instance UID, path) of each row whose file is gone."""
        rows = self._conn().execute(
            "SELECT sop_instance_uid, series_instance_uid, path FROM instances"
        )
        indexed = 0
        gone: list[tuple[str, str, str]] = []
        for sop, series, rel in rows:
            indexed += 1
            if not (self.root / str(rel)).is_file():
                gone.append((str(sop), str(series), str(rel)))
        if gone and len(gone) == indexed and indexed > 1:
            raise StoreError(
                f"none of the {indexed} indexed files is in {self.root / 'studies'}: is the "
                "store's disk there? Nothing forgotten; to start the store afresh, clear it "
                "(workstation cache clear)"
            )
        return gone

    def _forget_rows(
        self, gone: list[tuple[str, str, str]]
    ) -> tuple[list[tuple[str, str, str]], list[str]]:
        """One transaction: delete the rows (those still without a file), then the series and
        studies left empty; returns the rows deleted and the studies removed."""
        conn = self._conn()
        emptied: list[str] = []
        try:
            conn.commit()
            conn.execute("BEGIN IMMEDIATE")
            # Asked again under the write lock: a retrieve may have brought one back meanwhile.
            gone = [g for g in gone if not (self.root / g[2]).is_file()]
            series = sorted({g[1] for g in gone})
            studies = {
                str(r[0])
                for uid in series
                for r in conn.execute(
                    "SELECT study_instance_uid FROM series WHERE series_instance_uid=?", (uid,)
                )
            }
            conn.executemany(
                "DELETE FROM instances WHERE sop_instance_uid=? AND path=?",
                [(sop, rel) for sop, _series, rel in gone],
            )
            conn.executemany(
                "DELETE FROM series WHERE series_instance_uid=? AND NOT EXISTS (SELECT 1 FROM "
                "instances i WHERE i.series_instance_uid = series.series_instance_uid)",
                [(uid,) for uid in series],
            )
            for uid in sorted(studies):
                emptied += [
                    str(r[0])
                    for r in conn.execute(
                        "DELETE FROM studies WHERE study_instance_uid=? AND NOT EXISTS (SELECT 1 "
                        "FROM series r WHERE r.study_instance_uid = studies.study_instance_uid) "
                        "RETURNING study_instance_uid",
                        (uid,),
                    )
                ]
            conn.commit()
        except sqlite3.Error as exc:
            conn.rollback()
            raise StoreError(f"cannot update the store index: {exc}") from None
        return gone, emptied

    def unindexed_files(self, min_age_s: float | None = None) -> list[str]:
        """Store-relative paths of files under studies/ that no index row names and that have
        not changed for ``min_age_s`` seconds (a file renamed into place waits for its batch's
        commit, milliseconds later; a rename sets the change time). A crash between the two
        leaves such a file; :meth:`adopt_unindexed` takes it back. ``min_age_s`` defaults to
        :data:`ORPHAN_GRACE_S`."""
        cutoff = time.time() - (ORPHAN_GRACE_S if min_age_s is None else min_age_s)
        found: list[tuple[str]] = []
        for dirpath, dirs, files in os.walk(self.root / "studies"):
            dirs.sort()
            for name in files:
                p = os.path.join(dirpath, name)
                with contextlib.suppress(FileNotFoundError):
                    st = os.lstat(p)
                    if stat.S_ISREG(st.st_mode) and st.st_ctime < cutoff:
                        found.append((os.path.relpath(p, self.root),))
        if not found:
            return []
        conn = self._conn()
        try:
            conn.commit()
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS store_files (path TEXT PRIMARY KEY)")
            conn.execute("DELETE FROM temp.store_files")
            conn.executemany("INSERT OR IGNORE INTO temp.store_files (path) VALUES (?)", found)
            # IN (subquery): SQLite builds one transient index of the indexed paths.
            rows = conn.execute(
                "SELECT path FROM temp.store_files WHERE path NOT IN (SELECT path FROM instances) "
                "AND path NOT IN (SELECT path FROM cache_pending_deletes) ORDER BY path"
            ).fetchall()
            conn.execute("DELETE FROM temp.store_files")
            conn.commit()
        except sqlite3.Error as exc:
            conn.rollback()
            raise StoreError(f"cannot read the store index: {exc}") from None
        return [str(r[0]) for r in rows]

    def adopt_unindexed(self, paths: Iterable[str]) -> list[tuple[str, str]]:
        """Index each file :meth:`unindexed_files` found, where it lies; a file that is not an
        instance the store can index, or a second copy of one it has, is deleted. Returns, per
        path, what was done: "indexed", or "deleted: " and why."""
        done: list[tuple[str, str]] = []
        try:
            for rel in paths:
                if self._inside(rel) is None:
                    continue
                try:
                    new = self.archive.adopt_file(rel)
                except FileNotFoundError:
                    continue  # gone meanwhile (an eviction)
                except InvalidDicomError as exc:
                    with contextlib.suppress(FileNotFoundError):
                        (self.root / rel).unlink()
                    done.append((rel, f"deleted: not an instance the store can index ({exc})"))
                    continue
                except OSError as exc:
                    raise StoreError(f"cannot read {rel} in the store: {exc.strerror}") from None
                done.append((rel, "indexed" if new else "deleted: a second copy of an instance"))
        finally:
            self.archive.commit()
        if done:
            log.warning("cache: took back %d files the index had lost", len(done))
        return done

    def check_permissions(self, fix: bool = False) -> list[PermissionProblem]:
        """Paths others could read: the store folder must be 0700, every file in it 0600.

        With ``fix`` the modes are set right and the problems found are still returned.
        Symbolic links are not followed.
        """
        problems: list[PermissionProblem] = []

        def check(path: Path, expected: int) -> None:
            try:
                st = path.lstat()
            except FileNotFoundError:
                return  # removed meanwhile (an SQLite -shm file, an eviction)
            mode = stat.S_IMODE(st.st_mode)
            if mode != expected:
                rel = os.path.relpath(path, self.root)
                problems.append(PermissionProblem(rel, mode, expected))
                if fix:
                    try:
                        os.chmod(path, expected, follow_symlinks=False)
                    except OSError as exc:
                        raise StoreError(
                            f"cannot change the mode of {rel}: {exc.strerror}"
                        ) from None

        check(self.root, FOLDER_MODE)
        for dirpath, _dirs, files in os.walk(self.root):
            for name in sorted(files):
                p = Path(dirpath, name)
                with contextlib.suppress(FileNotFoundError):
                    if stat.S_ISREG(p.lstat().st_mode):
                        check(p, FILE_MODE)
        problems.sort(key=lambda p: p.path)
        return problems


# -- the `workstation cache` command --------------------------------------------------------------


def cache_command(
    archive: LocalArchive,
    action: str,
    *,
    limit: str | int | None = None,
    protected: Collection[str] = (),
    is_protected: Callable[[str], bool] | None = None,
    fix: bool = False,
    out: TextIO | None = None,
) -> int:
    """``workstation cache usage|limit|clear|verify``; returns the process exit code.

    usage: one line per study, least recently used first, then the total. limit: evict down to
    ``limit`` (e.g. "200G"); exit 1 if protected studies keep the store above it. clear: evict
    every unprotected study. verify: index rows without files, files without index rows (older
    than :data:`ORPHAN_GRACE_S`), unfinished evictions and modes; ``fix`` forgets the rows (the
    next retrieve fetches those instances), indexes the files or deletes what cannot be, and
    sets 0600/0700. Exit 1 on any problem left.
    """
    out = out or sys.stdout
    cache = StoreCache(archive, is_protected=is_protected, protected=protected)
    if action == "usage":
        studies = cache.usage()
        for s in studies:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.last_used_at))
            flags = ("opened" if s.opened else "added") + (", protected" if s.protected else "")
            print(
                f"{s.study_instance_uid}\t{s.size_bytes}\t{counted(s.instances, 'file', 'files')}\t"
                f"{when} ({flags})",
                file=out,
            )
        total = sum(s.size_bytes for s in studies)
        studies_text = counted(len(studies), "study", "studies")
        print(f"total\t{total}\t{studies_text}\t{format_size(total)}", file=out)
        return 0
    if action == "limit":
        if limit is None:
            raise ConfigError("cache limit needs a size, e.g. 200G")
        report = cache.enforce_limit(parse_size(limit))
        print(report.summary(), file=out)
        return 1 if report.over_limit else 0
    if action == "clear":
        print(cache.clear().summary(), file=out)
        return 0
    if action == "verify":
        missing = cache.forget_missing() if fix else cache.missing_files()
        for rel in missing:
            print(("forgotten, its file is missing: " if fix else "missing file: ") + rel, file=out)
        unindexed = cache.unindexed_files()
        if fix:
            for rel, what in cache.adopt_unindexed(unindexed):
                print(f"{what}: {rel}", file=out)
        else:
            for rel in unindexed:
                print(f"not in the index: {rel}", file=out)
        problems = cache.check_permissions(fix=fix)
        for p in problems:
            print(("fixed: " if fix else "mode: ") + p.line(), file=out)
        pending = cache.pending_deletions()
        if pending:
            print(f"unfinished eviction: {pending} files", file=out)
        left = pending + (0 if fix else len(missing) + len(unindexed) + len(problems))
        print("ok" if not left else f"{left} problems", file=out)
        return 1 if left else 0
    raise ConfigError(f"unknown cache action {action!r}; use usage, limit, clear or verify")
