"""The background services of a reading session that the settings decide.

- The report outbox worker: signed reports go to the configured archive (STOW-RS, or C-STORE
  when it has DIMSE only) with retries until acknowledged (reporting/outbox.py). Without an
  archive, reports stay in the local store and nothing is sent.
- The worklist backend: the embedded one over the local store, or the archive's UPS-RS
  worklist (PS3.18 11) as the archive user named in the settings, whose role and pools come
  from the network's worklist.json (``[worklist] site_file``).
- The signer: ``[reader]`` of the settings, else the UPS-RS user's name and organisation.

A reading work item completes when the archive acknowledges the final report
(:attr:`ReadingServices.acknowledged`), not when the reader presses Sign; with no archive (a
demo, a one-reader site) there is no acknowledgement to wait for and signing completes it.
The worker's callbacks run on its own thread: they only emit signals, which Qt delivers to the
receivers' thread (queued), so no widget is touched from a worker thread.
"""

from __future__ import annotations

import logging
from typing import Any

import pydicom
from PySide6.QtCore import QObject, Signal

from workstation.archive.credentials import resolve_credentials
from workstation.archive.local import LocalArchive
from workstation.core import ups
from workstation.core.errors import WorkstationError
from workstation.core.settings import ArchiveConfig, Settings
from workstation.reporting.outbox import Delivery, Outbox, OutboxWorker, sender_for
from workstation.reporting.signing import recover_signing
from workstation.worklist.backend import WorklistBackend
from workstation.worklist.embedded import EmbeddedWorklist

log = logging.getLogger(__name__)


def is_final_report(archive: LocalArchive, sop_instance_uid: str) -> bool:
    """True when the stored instance is a verified, complete SR: a final report (PS3.3
    C.17.2: Completion Flag COMPLETE, Verification Flag VERIFIED). A preliminary report, an
    Encapsulated PDF or an unknown UID is not."""
    instance = archive.index.instance(sop_instance_uid)
    if instance is None:
        return False
    try:
        ds = pydicom.dcmread(
            archive.path_of(instance),
            stop_before_pixels=True,
            specific_tags=["Modality", "CompletionFlag", "VerificationFlag"],
        )
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        log.warning("cannot read an acknowledged report: %s", type(exc).__name__)
        return False
    return (
        ds.get("Modality") == "SR"
        and ds.get("CompletionFlag") == "COMPLETE"
        and ds.get("VerificationFlag") == "VERIFIED"
    )


class ReadingServices(QObject):
    """Outbox worker, worklist backend and signer identity, built from :class:`Settings`."""

    acknowledged = Signal(str, str)  # study UID, SOP Instance UID: the archive has the report
    outbox_changed = Signal()  # a round of the worker delivered, failed or rescheduled

    def __init__(
        self,
        settings: Settings,
        archive: LocalArchive,
        outbox: Outbox,
        parent: QObject | None = None,
        *,
        outbox_poll_s: float = 5.0,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.archive = archive
        self.outbox = outbox
        self.archive_config: ArchiveConfig | None = (
            settings.archive() if settings.has_archive() else None
        )
        self.worker: OutboxWorker | None = None
        self.sender_error = ""
        self.recovered = 0  # signed reports a crash had kept from the outbox, queued at start
        self.site: ups.WorklistConfig | None = None
        self.worklist_user: ups.WorklistUser | None = None
        wl_archive = settings.worklist_archive()
        if wl_archive is not None:
            self.site = ups.read_worklist_config(settings.worklist.site_file)
            self.worklist_user = ups.archive_user(
                self.site,
                wl_archive.user,
                site_file=settings.worklist.site_file,
                archive=wl_archive.name,
            )
        if self.archive_config is not None:
            try:
                sender = sender_for(self.archive_config)
            except WorkstationError as exc:
                self.sender_error = str(exc)
                log.warning("reports will not be sent: %s", exc)
            else:
                self.worker = OutboxWorker(
                    outbox,
                    sender,
                    on_acknowledged=self._on_acknowledged,
                    on_change=self._on_change,
                    poll_s=outbox_poll_s,
                )

    # -- what the window asks ------------------------------------------------------------------
    @property
    def destinations(self) -> tuple[str, ...]:
        """The outbox destinations of a signed report: the configured archive, if any."""
        return (
            (self.archive_config.name,) if self.worker is not None and self.archive_config else ()
        )

    @property
    def completes_on_acknowledgement(self) -> bool:
        """True when a work item waits for the archive's acknowledgement of the report."""
        return self.worker is not None

    def signer(self) -> tuple[str, str]:
        """(person name, organisation) of the reader: settings first, then the UPS-RS user."""
        name = self.settings.reader.name
        organisation = self.settings.reader.organisation
        if self.worklist_user is not None:
            name = name or self.worklist_user.display_name
            organisation = organisation or self.worklist_user.organization
        return name, organisation

    def reader_name(self, fallback: str) -> str:
        """The key of this reader's drafts and macros: the archive user, else ``fallback``."""
        if self.worklist_user is not None:
            return self.worklist_user.name
        return fallback

    def worklist_backend(self) -> WorklistBackend:
        """The archive's UPS-RS worklist when configured, else the embedded one."""
        wl_archive = self.settings.worklist_archive()
        if wl_archive is None or self.worklist_user is None:
            return EmbeddedWorklist.for_archive(self.archive)
        from workstation.worklist.upsrs import UpsRsClient

        return UpsRsClient(resolve_credentials(wl_archive), self.worklist_user, site=self.site)

    # -- running ---------------------------------------------------------------------------------
    def start(self) -> None:
        # A signing a crash cut short (its file written, not yet queued) is queued first.
        try:
            self.recovered = recover_signing(self.archive, self.outbox)
        except WorkstationError as exc:
            log.error("cannot finish a signing a crash cut short: %s", exc)
        if self.worker is not None:
            self.worker.start()

    def wake(self, _signed: Any = None) -> None:
        """Send now (a report was just signed)."""
        if self.worker is not None:
            self.worker.wake()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the worker after its current round; what is unsent stays in the outbox."""
        if self.worker is not None:
            self.worker.stop(timeout_s)
            for sender in self.worker.senders.values():
                close = getattr(sender, "close", None)
                if close is not None:
                    close()

    # -- worker thread ---------------------------------------------------------------------------
    def _on_acknowledged(self, study_uid: str, sop_uid: str) -> None:
        self.acknowledged.emit(study_uid, sop_uid)  # queued to the receivers' thread

    def _on_change(self, _deliveries: list[Delivery]) -> None:
        self.outbox_changed.emit()
