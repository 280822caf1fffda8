"""The archive in the study list: search it, see what the cache holds, open studies progressively.

:class:`RemoteStudies` belongs to a :class:`~workstation.ui.main_window.MainWindow` whose
settings name an archive. It owns an :class:`ArchiveSearchBar` (QIDO-RS study search, PS3.18
10.6, paged with limit/offset; or, for an archive reached by DIMSE only, a Study Root C-FIND at
STUDY level, PS3.4 C.6.2, which has no offset: one answer of at most ``dimse_max_matches``
studies is kept and paged here; either runs on a worker thread) and a
:class:`~workstation.archive.queue.RetrievalQueue` (WADO-RS, or C-GET for DIMSE only).
Opening a study that is not (fully) local retrieves it in progressive order and shows the
viewer as soon as its first image is stored;
viewports showing a series that is still arriving grow as instances come in (slices not yet
here are skipped, never stood in for) and a banner under them says so; series that arrive
later are hung by the current protocol stage where they fit, never over the reader's choice;
the series browser shows n/N bars; the study list's Cache column follows. A series counts as
complete only when the queue says so (PS3.4 C.3.3 counts and the archive's own instance list).

Queue events arrive on worker threads and are handed to the GUI thread by queued signals.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import re
import weakref
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from workstation.archive.credentials import resolve_credentials
from workstation.archive.dicomweb import DicomWebClient, name_needs_cfind
from workstation.archive.dimse import DimseClient
from workstation.archive.queue import (
    JobState,
    Priority,
    RetrievalJob,
    RetrievalQueue,
    SeriesProgress,
)
from workstation.archive.remote import UID_LIST_BATCH
from workstation.core.errors import ConfigError, NotFoundError, WorkstationError
from workstation.core.model import Study
from workstation.ui.study_model import COLUMN_CACHE, CacheKind, CacheState
from workstation.viewer.stack import ImageStack

if TYPE_CHECKING:
    from workstation.core.settings import ArchiveConfig, Settings
    from workstation.ui.main_window import MainWindow
    from workstation.ui.viewport import ImageViewport

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # studies per QIDO-RS page; "More" asks for the next one
DIMSE_PAGES = 10  # a C-FIND answer is read up to this many pages (C-FIND cannot page)
TICK_MS = 150  # how often arrivals are folded into the views
BANNER_NAME = "retrieving-banner"
MODALITIES = ("", "CT", "MR", "CR", "DX", "MG", "US", "PT", "NM", "XA", "RF", "SR")
_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")


def _date(text: str, what: str) -> str:
    """YYYYMMDD from "YYYYMMDD" or "YYYY-MM-DD" (PS3.5 6.2 DA); "" stays ""."""
    text = text.strip()
    if not text:
        return ""
    m = _DATE.match(text)
    if m is None:
        raise ValueError(f"{what} must be a date like 2026-11-26 (got {text!r})")
    return "".join(m.groups())


def _prefix_match(text: str) -> str:
    """What a name or hospital box sends: a prefix match unless it holds a wildcard (see
    :meth:`ArchiveSearchBar.filters`); inner runs of spaces count as one."""
    text = " ".join(text.split())
    if not text:
        return ""
    return text if ("*" in text or "?" in text) else text + "*"


class ArchiveSearchBar(QWidget):
    """Patient ID, name (wildcards * and ?), accession, date range, modality and the sending
    hospital (Institution Name); Enter or Search runs the query, More fetches the next page."""

    search_requested = Signal()
    more_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("archive-search-bar")
        self.patient_id = QLineEdit()
        self.patient_id.setPlaceholderText(self.tr("Patient ID"))
        self.patient_name = QLineEdit()
        self.patient_name.setPlaceholderText(self.tr("Name (Doe* or Doe^J?ne)"))
        self.accession = QLineEdit()
        self.accession.setPlaceholderText(self.tr("Accession"))
        self.date_from = QLineEdit()
        self.date_from.setPlaceholderText(self.tr("From YYYY-MM-DD"))
        self.date_to = QLineEdit()
        self.date_to.setPlaceholderText(self.tr("To YYYY-MM-DD"))
        self.institution = QLineEdit()
        self.institution.setPlaceholderText(self.tr("Hospital"))
        self.modality = QComboBox()
        self.modality.setEditable(True)
        self.modality.addItems(MODALITIES)
        placeholder = self.tr("Modality")
        self.modality.lineEdit().setPlaceholderText(placeholder)
        # wide enough for the placeholder (in any language), not a blank box
        self.modality.setMinimumContentsLength(max(8, len(placeholder)))
        self.search_button = QPushButton(self.tr("Search archive"))
        self.more_button = QPushButton(self.tr("More"))
        self.more_button.setEnabled(False)
        self.message = QLabel()
        self.message.setObjectName("archive-search-message")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel(self.tr("Archive:")))
        edits = (self.patient_id, self.patient_name, self.accession, self.date_from, self.date_to)
        for w in (*edits, self.institution):
            layout.addWidget(w)
            w.returnPressed.connect(self.search_requested)
        self.modality.lineEdit().returnPressed.connect(self.search_requested)
        layout.addWidget(self.modality)
        layout.addWidget(self.search_button)
        layout.addWidget(self.more_button)
        layout.addWidget(self.message, 1)
        self.search_button.clicked.connect(self.search_requested)
        self.more_button.clicked.connect(self.more_requested)

    def filters(self) -> dict[str, str]:
        """The QIDO-RS keys of what is typed (DICOM keywords); ValueError for a bad date.

        A name or hospital without a wildcard matches as a prefix ("Doe" finds "Doe^Jane"), as
        readers expect of a search box (PS3.4 C.2.2.2.4 wildcard matching).
        """
        out: dict[str, str] = {}
        if self.patient_id.text().strip():
            out["PatientID"] = self.patient_id.text().strip()
        name = _prefix_match(self.patient_name.text())
        if name:
            out["PatientName"] = name
        if self.accession.text().strip():
            out["AccessionNumber"] = self.accession.text().strip()
        start = _date(self.date_from.text(), "From")
        end = _date(self.date_to.text(), "To")
        if start and end and start > end:
            raise ValueError("the From date is after the To date")
        if start or end:
            out["StudyDate"] = start if start and start == end else f"{start}-{end}"
        modality = self.modality.currentText().strip().upper()
        if modality:
            out["ModalitiesInStudy"] = modality
        hospital = _prefix_match(self.institution.text())
        if hospital:
            out["InstitutionName"] = hospital
        return out

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #e06c75;" if error else "")


class _Bridge(QObject):
    """Carries worker-thread callbacks to the GUI thread (queued connections)."""

    job_changed = Signal(object)
    series_progress = Signal(object, object)
    first_image = Signal(object, str, str)
    instance_stored = Signal(object, str, str)
    retrying = Signal(object, int, float, str)
    search_done = Signal(int, object, bool, bool)  # token, list[Study], append, by C-FIND
    search_failed = Signal(int, str)
    compared = Signal(object, object)  # UIDs asked, list[Study] the archive holds of them
    compare_failed = Signal(str)


class RemoteStudies(QObject):
    """Archive search, cache state and progressive opening for one main window.

    ``queue_options`` are keyword arguments for the :class:`RetrievalQueue`, read when the
    queue starts (when the window is first shown, or at the first retrieval). An archive with
    a DICOMweb URL is searched by QIDO-RS; one with DIMSE settings only by C-FIND, reading at
    most ``dimse_max_matches`` answers (default: ``DIMSE_PAGES`` pages) and paging them here.
    """

    search_finished = Signal(int)  # studies in the list from the archive
    search_error = Signal(str)
    study_shown = Signal(str)  # a retrieved study opened in the viewer (first image there)

    def __init__(
        self,
        window: MainWindow,
        config: ArchiveConfig,
        *,
        page_size: int = PAGE_SIZE,
        queue_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.archive = window.archive
        self.config = config
        self.page_size = page_size
        self.queue_options: dict[str, Any] = dict(queue_options or {})
        self.queue: RetrievalQueue | None = None
        self.search_bar = ArchiveSearchBar()
        self.search_bar.search_requested.connect(self.search)
        self.search_bar.more_requested.connect(self.more)
        self._bridge = _Bridge(self)
        queued = Qt.ConnectionType.QueuedConnection
        self._bridge.job_changed.connect(self._on_job_changed, queued)
        self._bridge.series_progress.connect(self._on_series_progress, queued)
        self._bridge.first_image.connect(self._on_first_image, queued)
        self._bridge.instance_stored.connect(self._on_instance_stored, queued)
        self._bridge.retrying.connect(self._on_retrying, queued)
        self._bridge.search_done.connect(self._on_search_done, queued)
        self._bridge.search_failed.connect(self._on_search_failed, queued)
        self._bridge.compared.connect(self._on_compared, queued)
        self._bridge.compare_failed.connect(self._on_compare_failed, queued)
        self._subscriptions: list[Any] = []
        self._search_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="archive-search"
        )
        self._search_client: DicomWebClient | None = None  # used on the search thread only
        # DIMSE only (no DICOMweb URL): C-FIND searches, answers paged here.
        self.dimse_only = not config.dicomweb_url and config.dimse is not None
        # The search at hand is answered by C-FIND: always when DIMSE only; else when QIDO-RS
        # found nothing for a name it may not match (name_needs_cfind) and the archive has a
        # DIMSE peer too.
        self._cfind = self.dimse_only
        self.dimse_max_matches: int | None = None  # None: DIMSE_PAGES pages
        self._matches: list[Study] = []  # the last C-FIND answer, at most the cap
        self._truncated = False  # the archive had more matches than the cap
        self._token = 0
        self._filters: dict[str, str] = {}
        self._offset = 0
        self._closed = False
        self._compared = False  # the stored studies were (being) compared with the archive
        self._compare_again = False  # it failed: again when the archive answers a search
        self.jobs: dict[str, RetrievalJob] = {}  # the latest job of each study
        self._finished: set[int] = set()  # job ids whose end was handled
        self.progress: dict[str, SeriesProgress] = {}  # series UID -> latest progress
        self._opening: str | None = None  # a study to show at its first image
        self._arrived: set[str] = set()  # series with new instances since the last tick
        self._dirty_studies: set[str] = set()
        self._grown: weakref.WeakSet[ImageStack] = weakref.WeakSet()
        self._final: weakref.WeakSet[ImageStack] = weakref.WeakSet()
        # What the protocol hung in each viewport, and viewports the reader scrolled since:
        # a series arriving later never replaces the reader's choice.
        self._hung: dict[int, str | None] = {}
        self._scrolled: weakref.WeakSet[ImageViewport] = weakref.WeakSet()
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._fold)
        window.installEventFilter(self)
        window.study_opened.connect(self._on_study_opened)
        window.stage_applied.connect(self._on_stage_applied)
        window.tabs.currentChanged.connect(self._on_tab_changed)
        self._take_over_opening()
        window.study_model.compares_with_archive = True
        window.study_model.refresh()
        # The Cache column is the model's last; the reader sees it first.
        header = window.study_table.horizontalHeader()
        header.moveSection(header.visualIndex(COLUMN_CACHE), 0)

    @classmethod
    def attach(cls, window: MainWindow, settings: Settings) -> RemoteStudies | None:
        """The controller for the settings' archive, or None when no archive is configured or
        it has neither a DICOMweb URL nor DIMSE settings. DICOMweb is used when both are set;
        a DIMSE-only archive is searched by C-FIND and retrieved by C-GET."""
        try:
            # the keyring's password too: a missing entry is said here, not at the first search
            config = resolve_credentials(settings.archive())
        except ConfigError as exc:
            log.info("no archive in the settings: %s", type(exc).__name__)
            if settings.archives:  # configured, but which one is unclear: say so
                window.statusBar().showMessage(
                    QCoreApplication.translate("RemoteStudies", "The archive is not used: ")
                    + str(exc),
                    30000,
                )
            return None
        if not config.dicomweb_url and config.dimse is None:
            log.info("the archive has neither a DICOMweb URL nor DIMSE settings: no archive search")
            return None
        if config.dicomweb_url:
            log.info("archive search by QIDO-RS, retrieval by WADO-RS")
        else:
            log.info("the archive has no DICOMweb URL: search by C-FIND, retrieval by C-GET")
        return cls(window, config)

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> RetrievalQueue:
        """Start the retrieval queue (done when the window is shown)."""
        if self.queue is None:
            if self._closed:
                raise WorkstationError("the archive connection is closed")
            self.queue = RetrievalQueue(self.config, self.archive, **self.queue_options)
            q = self.queue
            b = self._bridge
            self._subscriptions = [
                q.job_changed.connect(lambda job: self._emit(b.job_changed, job)),
                q.series_progress.connect(lambda job, p: self._emit(b.series_progress, job, p)),
                q.first_image.connect(lambda job, s, i: self._emit(b.first_image, job, s, i)),
                q.instance_stored.connect(
                    lambda job, s, i: self._emit(b.instance_stored, job, s, i)
                ),
                q.retrying.connect(lambda job, n, d, m: self._emit(b.retrying, job, n, d, m)),
            ]
        return self.queue

    def _emit(self, signal: Any, *args: Any) -> None:
        if self._closed:
            return
        with contextlib.suppress(RuntimeError):  # the window is being destroyed
            signal.emit(*args)

    def shutdown(self, timeout_s: float = 2.0) -> None:
        """Cancel retrievals and searches; returns within about ``timeout_s``."""
        if self._closed:
            return
        self._closed = True
        self._tick.stop()
        self._search_pool.shutdown(wait=False, cancel_futures=True)
        if self.queue is not None:
            self.queue.close(timeout=timeout_s)
            for sub in self._subscriptions:
                sub.disconnect()
        if self._search_client is not None:
            with contextlib.suppress(Exception):
                self._search_client.close()
        self._matches = []

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:
        if ev.type() in (QEvent.Type.Wheel, QEvent.Type.KeyPress) and obj is not self.window:
            for vp in self.window.grid.viewports:
                if vp.vtk_widget is obj:
                    self._scrolled.add(vp)  # the reader is reading this one
            return False
        if obj is self.window:
            if ev.type() == QEvent.Type.Show and not self._closed:
                try:
                    self.start()
                except (WorkstationError, ValueError) as exc:
                    self._status(self.tr("The archive queue did not start: ") + str(exc))
                if not self._compared:
                    self.compare_stored()
            elif ev.type() == QEvent.Type.Close:
                self.shutdown()
        return False

    def _take_over_opening(self) -> None:
        """Rows of the study list open through :meth:`open` (remote-aware)."""
        table = self.window.study_table
        for signal in (table.doubleClicked, table.activated):
            with contextlib.suppress(RuntimeError, TypeError):
                signal.disconnect(self.window._open_index)
            signal.connect(self._open_index)

    def _status(self, text: str, ms: int = 10000) -> None:
        self.window.statusBar().showMessage(text, ms)

    # -- search ----------------------------------------------------------------------------
    def search(self, filters: dict[str, str] | None = None) -> bool:
        """Search the archive with ``filters`` (DICOM keywords) or what the bar holds; the
        answer comes on a worker thread. False when the bar holds something invalid."""
        if self._closed:
            return False
        if filters is None:
            try:
                filters = self.search_bar.filters()
            except ValueError as exc:
                self.search_bar.show_message(str(exc), error=True)
                return False
        self._filters = dict(filters)
        self._offset = 0
        self._cfind = self.dimse_only
        self._submit(append=False)
        return True

    def more(self) -> None:
        """The next page of the last search."""
        if not self._closed:
            self._submit(append=True)

    def _max_matches(self) -> int:
        return self.dimse_max_matches or self.page_size * DIMSE_PAGES

    def _submit(self, append: bool) -> None:
        self._token += 1
        token = self._token
        if self._cfind:
            if append:  # the next page of the C-FIND answer kept here
                page = self._matches[self._offset : self._offset + self.page_size]
                self._emit(self._bridge.search_done, token, page, True, True)
                return
            filters: dict[str, Any] = self._cfind_filters(self._filters)
        else:
            filters = dict(self._filters, limit=self.page_size, offset=self._offset)
        self.search_bar.search_button.setEnabled(False)
        self.search_bar.more_button.setEnabled(False)
        self.search_bar.show_message(self.tr("Searching…"))
        try:
            self._search_pool.submit(self._run_search, token, filters, append, self._cfind)
        except RuntimeError:  # shut down
            return

    def _cfind_filters(self, filters: dict[str, Any]) -> dict[str, Any]:
        """A search's keys for C-FIND: no paging, one more answer than the cap (that one says
        the archive holds more)."""
        keys = {k: v for k, v in filters.items() if k not in ("limit", "offset")}
        return dict(keys, max_matches=self._max_matches() + 1)

    def _run_search(self, token: int, filters: dict[str, Any], append: bool, cfind: bool) -> None:
        """On the search thread: one QIDO-RS page, or the whole C-FIND answer (up to the cap).

        A name QIDO-RS may not match (:func:`name_needs_cfind`: Orthanc 1.10 cannot) that it
        found nothing for is asked again by C-FIND where the archive has a DIMSE peer.
        """
        try:
            if cfind:
                studies = DimseClient(self.config).find_studies(**filters)
            else:
                if self._search_client is None:
                    self._search_client = DicomWebClient(self.config)
                studies = self._search_client.search_studies(**filters)
                if (
                    not studies
                    and not append
                    and self.config.dimse is not None
                    and name_needs_cfind(filters)
                ):
                    cfind = True
                    studies = DimseClient(self.config).find_studies(**self._cfind_filters(filters))
        except (WorkstationError, ValueError) as exc:
            self._emit(self._bridge.search_failed, token, str(exc))
            return
        except Exception:  # a bug must not kill the search thread silently
            log.exception("the archive search failed unexpectedly")
            self._emit(self._bridge.search_failed, token, "unexpected error (see the log)")
            return
        self._emit(self._bridge.search_done, token, studies, append, cfind)

    def _on_search_done(self, token: int, studies: list[Study], append: bool, cfind: bool) -> None:
        if token != self._token or self._closed:
            return  # a newer search is on its way
        self._cfind = cfind  # QIDO-RS may have handed the search to C-FIND
        capped = False
        if self._cfind:
            if not append:  # the whole C-FIND answer: keep it, show its first page
                cap = self._max_matches()
                self._truncated = len(studies) > cap
                self._matches = list(studies[:cap])
                studies = self._matches[: self.page_size]
            self._offset += len(studies)
            more = self._offset < len(self._matches)
            capped = not more and self._truncated
        else:
            self._offset += len(studies)
            more = len(studies) >= self.page_size
        model = self.window.study_model
        model.set_remote_results(studies, append=append)
        if self._compare_again:  # the archive answers again: what it holds of the store
            self._compare_again = False
            self.compare_stored()
        for uid, job in self.jobs.items():
            model.set_cache_state(uid, self._job_state(job))
        bar = self.search_bar
        bar.search_button.setEnabled(True)
        bar.more_button.setEnabled(more)
        total = self._offset
        found = (
            self.tr("1 study") if total == 1 else self.tr("%n studies").replace("%n", str(total))
        )
        note = self.tr(" (more available)") if more else ""
        if capped:
            note = self.tr(" (the archive has more matches: narrow the search)")
        elif not total and not self._cfind and name_needs_cfind(self._filters):
            note = self.tr(
                " (some archives cannot search DICOMweb for a name in letters other than A-Z:"
                " search by patient ID or accession number)"
            )
        bar.show_message(found + self.tr(" in the archive") + note)
        self.search_finished.emit(total)

    def _on_search_failed(self, token: int, message: str) -> None:
        if token != self._token or self._closed:
            return
        self.search_bar.search_button.setEnabled(True)
        self.search_bar.more_button.setEnabled(False)
        text = self.tr("Archive search failed: ") + message
        self.search_bar.show_message(text, error=True)
        self._status(text, 20000)
        self.search_error.emit(message)

    # -- the store against the archive -----------------------------------------------------
    def compare_stored(self) -> None:
        """Ask the archive, on the search thread, for its record of each stored study it has
        said nothing about yet (when the window opens, after an import), so the Cache column
        says complete or partial from the first look (the store keeps no count of the
        archive's). A batch of UIDs at a time: a search asked meanwhile goes between two."""
        self._compared = True
        self._compare_next(self.window.study_model.uncompared())

    def _compare_next(self, uids: list[str]) -> None:
        if not uids or self._closed:
            return
        with contextlib.suppress(RuntimeError):  # shut down
            self._search_pool.submit(
                self._run_compare, uids[:UID_LIST_BATCH], uids[UID_LIST_BATCH:]
            )

    def _run_compare(self, batch: list[str], rest: list[str]) -> None:
        """On the search thread: one batch by UID list matching, then the next is queued."""
        try:
            if self.dimse_only:
                studies = DimseClient(self.config).studies_by_uid(batch)
            else:
                if self._search_client is None:
                    self._search_client = DicomWebClient(self.config)
                studies = self._search_client.studies_by_uid(batch)
        except (WorkstationError, ValueError) as exc:
            self._emit(self._bridge.compare_failed, str(exc))
            return
        except Exception:  # a bug must not kill the search thread silently
            log.exception("comparing the stored studies with the archive failed unexpectedly")
            return
        self._emit(self._bridge.compared, batch, studies)
        self._compare_next(rest)

    def _on_compared(self, batch: list[str], studies: list[Study]) -> None:
        if self._closed:
            return
        asked = set(batch)
        self.window.study_model.set_archive_records(
            batch, [s for s in studies if s.study_instance_uid in asked]
        )

    def _on_compare_failed(self, message: str) -> None:
        if not self._closed:
            self._compare_again = True
            text = self.tr("The stored studies were not compared with the archive: ")
            self._status(text + message)

    # -- opening ---------------------------------------------------------------------------
    def _open_index(self, index: Any) -> None:
        if index.isValid():
            self.open(self.window.study_model.study_at(index.row()).study_instance_uid)

    def open(self, study_instance_uid: str) -> RetrievalJob | None:
        """Open a study: at once when the store holds it whole (or it is local only, or not yet
        compared with the archive), else retrieve it and open at its first image. Returns the
        retrieval job, if one was made."""
        model = self.window.study_model
        state = model.cache_state(study_instance_uid)
        remote = model.remote_study(study_instance_uid)
        job = self.jobs.get(study_instance_uid)
        if job is not None and job.state is JobState.COMPLETE:
            # Unless something evicted it since (the command line, another window's limit).
            whole = self._has_images(study_instance_uid)
        elif state is None:  # not in the list as filtered: what the store holds decides
            whole = remote is None and self._has_images(study_instance_uid)
        else:
            settled = job is None or job.state.final
            # Stored and not compared with the archive (it may not hold it): what is here opens.
            here = state.kind in (CacheKind.LOCAL, CacheKind.STORED)
            whole = here or (state.kind is CacheKind.COMPLETE and settled)
        if whole:
            self.window.open_study(study_instance_uid)
            return None
        try:
            job = self.start().open_study(study_instance_uid)
        except (WorkstationError, ValueError) as exc:
            self._status(self.tr("Cannot retrieve the study: ") + str(exc), 20000)
            return None
        self.jobs[study_instance_uid] = job
        self.window.study_model.set_cache_state(study_instance_uid, self._job_state(job))
        self._tick.start()
        if self._has_images(study_instance_uid):
            self._opening = None
            self.window.open_study(study_instance_uid)
        else:
            self._opening = study_instance_uid
            self._status(self.tr("Retrieving the study from the archive…"), 10000)
        return job

    def _has_images(self, study_instance_uid: str) -> bool:
        try:
            return self.archive.study(study_instance_uid).number_of_instances > 0
        except NotFoundError:
            return False

    def _on_first_image(self, job: RetrievalJob, series_uid: str, sop_uid: str) -> None:
        uid = job.study_instance_uid
        if self._closed:
            return
        if self._opening == uid:
            self._opening = None
            self.window.open_study(uid)
            self._show_instance(series_uid, sop_uid)
            self.study_shown.emit(uid)
        elif self.window.current_study_uid == uid:
            try:
                series = self.archive.one_series(series_uid)
            except NotFoundError:
                return
            self.window.series_browser.add_series(self.archive, series)
            self.hang_arrived()
        self._arrived.add(series_uid)

    def _on_stage_applied(self, _stage: int) -> None:
        """The protocol hung the grid: remember what it put where, forget earlier scrolling."""
        self._scrolled = weakref.WeakSet()
        self._hung = {}
        for i, vp in enumerate(self.window.grid.viewports):
            stack = vp.model.stack
            self._hung[i] = stack.series.series_instance_uid if stack is not None else None
            vp.vtk_widget.installEventFilter(self)

    def readers_choice(self, index: int, vp: ImageViewport) -> bool:
        """True when the reader put the viewport's series there (dropped, opened from the
        browser) or scrolled it since the protocol hung it."""
        stack = vp.model.stack
        shown = stack.series.series_instance_uid if stack is not None else None
        return vp in self._scrolled or self._hung.get(index) != shown

    def hang_arrived(self) -> list[int]:
        """Hang series that arrived after the open study was hung, where the current stage's
        rules place them (empty viewports, or better matches), keeping the reader's choices.
        Returns the indices of the viewports loaded."""
        if self._closed:
            return []
        loaded = self.window.hang_arrived_series(self.readers_choice)
        for i in loaded:
            stack = self.window.grid.viewports[i].model.stack
            self._hung[i] = stack.series.series_instance_uid if stack is not None else None
        if loaded:
            log.info("arrived series hung in %d viewport(s)", len(loaded))
        return loaded

    def arriving(self, series_instance_uid: str) -> tuple[int, int] | None:
        """(received, expected) images of a series still being retrieved, else None."""
        p = self.progress.get(series_instance_uid)
        if p is None or p.complete:
            return None
        return p.received, p.expected

    def _show_instance(self, series_uid: str, sop_uid: str) -> None:
        """The viewport showing ``series_uid`` goes to the first retrieved image (the middle
        slice), whatever else arrived meanwhile."""
        for vp in self.window.grid.viewports:
            stack = vp.model.stack
            if stack is not None and stack.series.series_instance_uid == series_uid:
                self._grow(vp)
                k = stack.index_of(sop_uid)
                if k is not None:
                    vp.model.go_to(k)

    def _on_study_opened(self, study_instance_uid: str) -> None:
        editor = self.window.editor
        if editor is not None:
            # Signing warns while the study is still partial (reporting.signing).
            editor.completeness = self.incomplete_series
        for p in list(self.progress.values()):
            if p.complete:
                self.window.series_browser.clear_progress(p.series_instance_uid)
            else:
                self.window.series_browser.set_progress(
                    p.series_instance_uid, p.received, p.expected
                )

    def _on_tab_changed(self, _index: int) -> None:
        """An MPR of a series still arriving is built from the slices here: say so plainly
        (DESIGN.md: a partly retrieved series is never shown as complete)."""
        view = getattr(self.window, "mpr_view", None)
        if view is None or self.window.tabs.currentWidget() is not view:
            return
        p = self.progress.get(getattr(view, "series_instance_uid", ""))
        if p is not None and not p.complete:
            # After the MPR's own geometry warnings, which would hide this one.
            QTimer.singleShot(0, self, lambda: self._warn_partial_mpr(p))

    def _warn_partial_mpr(self, p: SeriesProgress) -> None:
        if not self._closed:
            self._status(
                self.tr(
                    "Incomplete: this MPR is built from %1 of %2 images; the series is still "
                    "being retrieved"
                )
                .replace("%1", str(p.received))
                .replace("%2", str(p.expected)),
                60000,
            )

    # -- queue events (GUI thread) ---------------------------------------------------------
    def _on_job_changed(self, job: RetrievalJob) -> None:
        uid = job.study_instance_uid
        if self._closed or self.jobs.get(uid, job) is not job:
            return  # a job that another replaced
        self.jobs[uid] = job
        self._dirty_studies.add(uid)
        if job.state.final:
            self._job_finished(job)
        elif not self._tick.isActive():
            self._tick.start()

    def _job_finished(self, job: RetrievalJob) -> None:
        uid = job.study_instance_uid
        self._fold()
        model = self.window.study_model
        if model.row_of(uid) < 0:
            model.add_study(uid)
        model.update_local(uid)
        model.set_cache_state(uid, self._job_state(job))
        if self.window.worklist_panel is not None:
            self.window.worklist_panel.local_copy_changed([uid])
        # Queued events carry the job itself: an earlier event can arrive after the job turned
        # final; its end is said once, so a repeat does not hide "Cannot open the study".
        if job.job_id in self._finished:
            pass
        elif job.state is JobState.COMPLETE and job.priority is Priority.FOREGROUND:
            # (a prefetch's end is the worklist's Local copy and the list's Cache column)
            self._status(self.tr("Study retrieved completely"), 8000)
        elif job.state in (JobState.FAILED, JobState.INCOMPLETE):
            self._status(self.tr("Retrieval stopped: ") + job.error, 30000)
        self._finished.add(job.job_id)
        if self._opening == uid:
            self._opening = None
            if self._has_images(uid):
                self.window.open_study(uid)
            else:
                self._status(self.tr("Cannot open the study: ") + (job.error or job.state.value))
        if not any(not j.state.final for j in self.jobs.values()):
            self._tick.stop()

    def _on_series_progress(self, job: RetrievalJob, progress: SeriesProgress) -> None:
        if self._closed:
            return
        self.progress[progress.series_instance_uid] = progress
        self._dirty_studies.add(job.study_instance_uid)

    def _on_instance_stored(self, job: RetrievalJob, series_uid: str, _sop: str) -> None:
        self._arrived.add(series_uid)

    def _on_retrying(self, job: RetrievalJob, attempt: int, delay_s: float, message: str) -> None:
        if self._closed or job.state.final:
            return  # a retry that the job's end overtook (a dead peer fails fast)
        self._status(
            self.tr("The archive did not answer (%1); retry %2 in %3 s")
            .replace("%1", message)
            .replace("%2", str(attempt))
            .replace("%3", f"{delay_s:.0f}"),
            int(max(5.0, delay_s) * 1000),
        )
        self._dirty_studies.add(job.study_instance_uid)

    def study_evicted(self, study_instance_uid: str) -> None:
        """The store no longer holds the study (the cache evicted it): its finished job no
        longer says it is here, so opening it retrieves it again."""
        job = self.jobs.get(study_instance_uid)
        if job is not None and job.state.final:
            del self.jobs[study_instance_uid]

    def _job_state(self, job: RetrievalJob) -> CacheState | None:
        """The Cache column's state for a job; None (counts decide) when it was cancelled."""
        series = job.series
        received = sum(s.received for s in series)
        expected = sum(s.expected for s in series)
        remote = self.window.study_model.remote_study(job.study_instance_uid)
        if remote is not None:
            expected = max(expected, remote.number_of_instances)
        if job.state is JobState.COMPLETE:
            return CacheState(CacheKind.COMPLETE, received, expected)
        if job.state is JobState.INCOMPLETE:
            return CacheState(CacheKind.PARTIAL, received, expected, job.error)
        if job.state is JobState.FAILED:
            return CacheState(CacheKind.ERROR, received, expected, job.error)
        if job.state is JobState.RETRY_WAIT:
            return CacheState(CacheKind.ERROR, received, expected, job.error, retrying=True)
        if job.state is JobState.CANCELLED:
            return None
        return CacheState(CacheKind.RETRIEVING, received, expected)

    def _fold(self) -> None:
        """Apply what arrived since the last tick: cache cells, series bars, viewports."""
        if self._closed:
            return
        model = self.window.study_model
        for uid in self._dirty_studies:
            job = self.jobs.get(uid)
            if job is not None:
                if model.row_of(uid) < 0:
                    model.add_study(uid)
                model.set_cache_state(uid, self._job_state(job))
        self._dirty_studies = set()
        current = self.window.current_study_uid
        browser = self.window.series_browser
        for p in self.progress.values():
            if p.complete:
                if browser.progress(p.series_instance_uid) is not None:
                    browser.clear_progress(p.series_instance_uid, p.received)
            elif current is not None:
                browser.set_progress(p.series_instance_uid, p.received, p.expected)
        arrived, self._arrived = self._arrived, set()
        for vp in self.window.grid.viewports:
            stack = vp.model.stack
            if stack is None:
                self._banner(vp, "")
                continue
            uid = stack.series.series_instance_uid
            progress = self.progress.get(uid)
            if uid in arrived or stack not in self._grown:
                self._grow(vp)
            if progress is not None and progress.complete and stack not in self._final:
                self._grow(vp)
                self._final.add(stack)
                stack.load_volume_in_background()  # the series is whole: read it as one
            if progress is not None and not progress.complete:
                self._banner(
                    vp,
                    self.tr(
                        "Retrieving: %1 of %2 images here; the others are skipped until they arrive"
                    )
                    .replace("%1", str(len(stack.instances)))
                    .replace("%2", str(progress.expected)),
                )
            else:
                self._banner(vp, "")

    def _grow(self, vp: ImageViewport) -> None:
        """Add to a viewport's stack what the store holds now, keeping the image shown."""
        m = vp.model
        stack = m.stack
        if stack is None:
            return
        self._grown.add(stack)
        shown = stack.frames[m.index] if stack.frames else None
        try:
            added = stack.add_instances(self.archive.instances(stack.series.series_instance_uid))
        except WorkstationError as exc:
            log.warning("a growing series could not be read: %s", type(exc).__name__)
            return
        if not added:
            return
        if shown is not None:
            k = stack.index_of(shown.instance.sop_instance_uid, shown.frame)
            if k is not None:
                m.index = k  # the same image, at its place in the longer stack
        # A linked viewport's slice positions were measured on the shorter stack.
        self.window.sync.refresh(m)
        m.changed.emit()

    @staticmethod
    def _banner_holder(vp: ImageViewport) -> QWidget:
        """The viewport's frame in the grid (the banner goes under the image, not over it)."""
        parent = vp.parentWidget()
        return parent if parent is not None and parent.layout() is not None else vp

    def _banner(self, vp: ImageViewport, text: str) -> None:
        holder = self._banner_holder(vp)
        banner = holder.findChild(QLabel, BANNER_NAME)
        if not text:
            if banner is not None and not banner.isHidden():
                banner.hide()
            return
        if banner is None:
            banner = QLabel(holder)
            banner.setObjectName(BANNER_NAME)
            banner.setStyleSheet("background: #3b3220; color: #f0c674; padding: 2px 6px;")
            layout = holder.layout()
            if layout is not None:
                layout.addWidget(banner)
        if banner.text() != text:
            banner.setText(text)
        if banner.isHidden():
            banner.show()

    def banner_text(self, vp: ImageViewport) -> str:
        """What the banner under a viewport says ("" when none is shown)."""
        banner = self._banner_holder(vp).findChild(QLabel, BANNER_NAME)
        return banner.text() if banner is not None and not banner.isHidden() else ""

    # -- signing -----------------------------------------------------------------------------
    def incomplete_series(self, study_instance_uid: str) -> list[str]:
        """Series of a study not yet whole in the store, for the sign warning
        (:class:`~workstation.reporting.signing.IncompleteStudyError`)."""
        job = self.jobs.get(study_instance_uid)
        if job is not None:
            if job.state is JobState.COMPLETE:
                return []
            out = [
                f"{p.modality} {p.series_number if p.series_number is not None else '?'} "
                f"({p.received} of {p.expected} images)"
                for p in job.series
                if not p.complete
            ]
            if out or job.state.final:
                return out
            return ["the retrieval has not listed the series yet"]
        remote = self.window.study_model.remote_study(study_instance_uid)
        if remote is None:
            return []
        try:
            have = self.archive.study(study_instance_uid).number_of_instances
        except NotFoundError:
            have = 0
        if have < remote.number_of_instances:
            return [f"study ({have} of {remote.number_of_instances} images)"]
        return []
