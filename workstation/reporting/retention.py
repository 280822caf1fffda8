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

from pathlib import Path
from types import TracebackType

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
