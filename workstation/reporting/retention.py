"""Which studies the local store keeps for reporting: a draft, or a report not yet delivered.

Cache eviction (``archive/cache.py``: the size limit, "clear cache") removes whole studies.
Two kinds stay (DESIGN.md, "What must never happen"):

- a study with a report draft, of any reader: the reader comes back to its images;
- a study with a signed report (SR, encapsulated PDF) that the outbox has not delivered, pending
  or refused: signing stores the report in the study (``reporting/signing.py``), so evicting the
  study would delete the only copy before the archive acknowledged it.

Each question is asked of the databases when the eviction asks it, not from a list made before.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from types import TracebackType

from workstation.archive.cache import EvictionReport, StoreCache
from workstation.archive.local import LocalArchive
from workstation.reporting.drafts import DraftStore
from workstation.reporting.outbox import Outbox


class ReportHolds:
    """``holds(study_uid)``: True while reporting needs the study in the local store folder.

    Opening it opens (or creates, empty) the folder's drafts and outbox databases; a damaged
    one raises :class:`~workstation.core.errors.StoreError`, and then nothing may be evicted.
    Pass it as a :class:`~workstation.archive.cache.StoreCache`'s ``is_protected``.
    """

    def __init__(self, folder: str | Path) -> None:
        self._drafts = DraftStore(folder)
        try:
            self._outbox = Outbox(folder)
        except BaseException:
            self._drafts.close()
            raise

    def __call__(self, study_instance_uid: str) -> bool:
        return self._outbox.undelivered(study_instance_uid) > 0 or self._drafts.has_draft(
            study_instance_uid
        )

    def close(self) -> None:
        try:
            self._outbox.close()
        finally:
            self._drafts.close()

    def __enter__(self) -> ReportHolds:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def evict(
    archive: LocalArchive, *, limit_bytes: int | None, keep: Collection[str] = ()
) -> EvictionReport:
    """Bring the store under ``limit_bytes`` (None: clear it), least recently used studies
    first, keeping those reporting holds (:class:`ReportHolds`) and those in ``keep`` (on
    screen, being retrieved). Call it on the thread that uses it: the index is per thread."""
    with ReportHolds(archive.root) as holds:
        cache = StoreCache(archive, is_protected=holds, protected=keep)
        if limit_bytes is None:
            return cache.clear()
        return cache.enforce_limit(limit_bytes)


def usage_summary(archive: LocalArchive, keep: Collection[str] = ()) -> tuple[int, int, int, int]:
    """(studies, bytes) a clear would remove, then (studies, bytes) it would keep."""
    with ReportHolds(archive.root) as holds:
        studies = StoreCache(archive, is_protected=holds, protected=keep).usage()
    gone = [s for s in studies if not s.protected]
    kept = [s for s in studies if s.protected]
    return (
        len(gone),
        sum(s.size_bytes for s in gone),
        len(kept),
        sum(s.size_bytes for s in kept),
    )
