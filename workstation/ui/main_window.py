"""The main window: study list (search, sort), then the viewer with its series browser."""

from __future__ import annotations

import getpass
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QAction, QImage, QKeySequence, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QSpinBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workstation.archive.audit import AuditEvent, record_event
from workstation.archive.local import LocalArchive
from workstation.core.errors import ConfigError, WorkstationError
from workstation.core.model import (
    ImportReport,
    KeyImage,
    PriorStudy,
    format_da,
    format_person_name,
)
from workstation.core.settings import Settings
from workstation.core.ups import Permission
from workstation.core.window_lock import WindowLock
from workstation.reporting.drafts import DraftStore
from workstation.reporting.outbox import Outbox
from workstation.reporting.signing import latest_signed_report
from workstation.reporting.templates import load_builtin_templates, pick_template
from workstation.ui.cache_keeper import CacheKeeper
from workstation.ui.measurement_panel import MainWindowBinding, MeasurementPanel
from workstation.ui.mpr_view import MprView
from workstation.ui.reading_guard import ReadingGuard
from workstation.ui.reading_services import ReadingServices, is_final_report
from workstation.ui.remote_studies import RemoteStudies
from workstation.ui.report_editor import ReportEditor
from workstation.ui.series_browser import SeriesBrowser
from workstation.ui.shortcuts import ShortcutSheet, load_shortcuts
from workstation.ui.sr_viewer import SrViewer
from workstation.ui.study_model import StudyTableModel
from workstation.ui.viewport import ImageViewport
from workstation.ui.viewport_grid import ViewportGrid
from workstation.ui.worklist_panel import WorklistPanel
from workstation.viewer import hanging
from workstation.viewer.stack import ImageStack
from workstation.viewer.sync import SyncGroup, can_auto_link
from workstation.viewer.tools import Tool
from workstation.viewer.volume import assemble_series
from workstation.worklist.model import prefetch_order

MAX_PRIORS_HUNG = 3  # priors offered to the hanging protocols, most recent first


def _never(_uid: str) -> bool:
    return False


log = logging.getLogger(__name__)


class ImportWorker(QObject):
    """Runs an import off the UI thread; the archive opens its own DB connection there."""

    progress = Signal(int, int)
    finished = Signal(object)  # ImportReport
    failed = Signal(str)

    def __init__(self, archive: LocalArchive, paths: list[str]) -> None:
        super().__init__()
        self.archive = archive
        self.paths = paths

    def run(self) -> None:
        try:
            report = self.archive.import_paths(self.paths, progress=self.progress.emit)
        except WorkstationError as exc:
            self.failed.emit(str(exc))
        else:
            self.finished.emit(report)
        finally:
            self.archive.index.close()


# A worklist study queued for prefetch is not queued again (nor its priors searched again)
# for this long: the retrieval queue retries failures by itself.
PREFETCH_AGAIN_S = 600.0


class MainWindow(QMainWindow):
    """Study list tab and viewer tab over one local store."""

    study_opened = Signal(str)
    stage_applied = Signal(int)  # the grid was hung by a protocol stage (its index)

    def __init__(
        self,
        archive: LocalArchive,
        parent: QWidget | None = None,
        *,
        settings: Settings | None = None,
        window_lock: WindowLock | None = None,
    ) -> None:
        super().__init__(parent)
        self.archive = archive
        self.window_lock = window_lock
        self.setWindowTitle(self.tr("Reading Workstation"))
        self.resize(1400, 900)
        self.current_study_uid: str | None = None
        self._import_thread: QThread | None = None

        # Study list page
        self.search = QLineEdit()
        self.search.setPlaceholderText(self.tr("Search name, patient ID or accession"))
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(200)
        self._search_timer.timeout.connect(self._apply_search)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.study_model = StudyTableModel(archive, self)
        self.study_table = QTableView()
        self.study_table.setModel(self.study_model)
        self.study_table.setSortingEnabled(True)
        self.study_table.sortByColumn(5, Qt.SortOrder.DescendingOrder)
        self.study_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.study_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.study_table.setAlternatingRowColors(True)
        self.study_table.verticalHeader().setVisible(False)
        self.study_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.study_table.horizontalHeader().setStretchLastSection(True)
        self.study_table.doubleClicked.connect(self._open_index)
        self.study_table.activated.connect(self._open_index)
        study_page = QWidget()
        sl = QVBoxLayout(study_page)
        sl.addWidget(self.search)
        sl.addWidget(self.study_table)

        # Viewer page: series browser | grid of viewports hung by a protocol
        self.series_browser = SeriesBrowser()
        self.series_browser.series_activated.connect(self.open_series)
        self.grid = ViewportGrid()
        self.grid.series_dropped.connect(self._drop_series)
        self.grid.measurements_changed.connect(self._measurements_changed)
        self.grid.status_message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.grid.calibration_changed.connect(self._calibration_changed)
        # Per viewport: the study its measurements belong to and the ids kept in the store.
        self._kept_measurements: dict[int, tuple[str, set[str]]] = {}
        self._syncing_measurements = False
        self.sync = SyncGroup()
        self.protocol_errors: list[ConfigError] = []
        self.protocols = hanging.load_builtin_protocols(errors=self.protocol_errors)
        self.protocol: hanging.Protocol | None = None
        self.stage_index = 0
        self.priors: list[PriorStudy] = []
        self._hang_current: hanging.StudyWithSeries | None = None
        self._hang_priors: list[hanging.StudyWithSeries] = []
        self._cine = QTimer(self)
        self._cine.timeout.connect(self._cine_step)
        self.shortcut_keys, self.shortcut_errors = load_shortcuts()
        # Reporting beside the images: the editor of the open study, drafts and outbox in
        # the store folder (the outbox sends when an archive is configured).
        self.reader = getpass.getuser()
        self.drafts = DraftStore(archive.root)
        self.outbox = Outbox(archive.root)
        # What the settings decide (ui/reading_services.py): the outbox worker sending signed
        # reports to the archive, the worklist (embedded or UPS-RS), the signer. A settings
        # problem is said in the status bar and the window runs local-only.
        self.settings = settings
        self.settings_problem = ""
        self.services = self._make_services(settings or Settings())
        self.reader = self.services.reader_name(self.reader)
        # Studies another reader holds: opened read-only (message kept for the editor).
        self._read_only: dict[str, str] = {}
        self.reading_guard: ReadingGuard | None = None
        self._prefetching = False
        self._prefetch_asked: dict[str, float] = {}  # study UID -> when it was last queued
        self.template_errors: list[ConfigError] = []
        self.templates = load_builtin_templates(errors=self.template_errors)
        self.editor: ReportEditor | None = None
        self.editor_panel = QWidget()
        self._editor_layout = QVBoxLayout(self.editor_panel)
        self._editor_layout.setContentsMargins(0, 0, 0, 0)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.grid)
        self.splitter.addWidget(self.editor_panel)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        viewer_page = QWidget()
        vl = QHBoxLayout(viewer_page)
        vl.setContentsMargins(0, 0, 0, 0)
        vl.addWidget(self.series_browser)
        vl.addWidget(self.splitter, 1)
        self.sr_viewer = SrViewer()

        self.tabs = QTabWidget()
        self.tabs.addTab(study_page, self.tr("Studies"))
        self.tabs.addTab(viewer_page, self.tr("Viewer"))
        self.tabs.addTab(self.sr_viewer, self.tr("Reports"))
        # The reading worklist: the embedded one (a work item per local study) until an
        # archive's UPS-RS worklist is configured.
        self.worklist_backend: Any = None
        self.worklist_panel: WorklistPanel | None = None
        poll_s = settings.worklist.poll_s if settings is not None else 30.0
        try:
            # UPS-RS as the configured archive user, else the embedded worklist whose local
            # user reads and assigns (a one-reader site).
            self.worklist_backend = self.services.worklist_backend()
            self.worklist_panel = WorklistPanel(
                self.worklist_backend, archive, poll_interval_s=poll_s
            )
        except WorkstationError as exc:
            log.warning("worklist unavailable: %s", type(exc).__name__)
            self.settings_problem = self.settings_problem or str(exc)
        if self.worklist_panel is not None:
            self.tabs.addTab(self.worklist_panel, self.tr("Worklist"))
            self.worklist_panel.open_study_requested.connect(self._open_from_worklist)
            if self.worklist_backend.shared:  # other readers: check what opens outside it
                self.reading_guard = ReadingGuard(self, self.worklist_panel)
        self.setCentralWidget(self.tabs)
        self.status_label = QLabel()
        self.statusBar().addWidget(self.status_label, 1)
        # "Clear local cache…" and the configured size limit (ui/cache_keeper.py).
        self.cache_keeper = CacheKeeper(
            self, settings.cache.limit_bytes if settings is not None else 0
        )
        self._build_menus()
        self._build_viewer_toolbar()
        # The study's measurements, listed beside the images (ui/measurement_panel.py).
        self.measurement_panel = MeasurementPanel(archive, self)
        self.measurement_dock = QDockWidget(self.tr("Measurements"), self)
        self.measurement_dock.setObjectName("measurements-dock")
        self.measurement_dock.setWidget(self.measurement_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.measurement_dock)
        self.resizeDocks([self.measurement_dock], [300], Qt.Orientation.Horizontal)
        self.measurement_binding = MainWindowBinding(self.measurement_panel, self)
        self.view_menu.addAction(self.measurement_dock.toggleViewAction())
        if self.width() < 1900:
            self.measurement_dock.hide()  # images first in a narrow window; View > Measurements
        self._update_status()
        problems = self.protocol_errors + self.shortcut_errors
        if problems:
            self.statusBar().showMessage(
                self.tr("Some settings files were ignored: ") + "; ".join(map(str, problems)),
                15000,
            )
        if self.settings_problem:
            self.statusBar().showMessage(
                self.tr("Settings problem, working without the archive: %1").replace(
                    "%1", self.settings_problem
                ),
                30000,
            )
        # The configured archive (issue #5): search bar above the study list, Cache column,
        # progressive opening; it starts on show and stops on close (ui/remote_studies.py).
        self.remote: RemoteStudies | None = None
        if settings is not None:
            self.remote = RemoteStudies.attach(self, settings)
            if self.remote is not None:
                sl.insertWidget(0, self.remote.search_bar)
                prefetch = settings.prefetch
                self.remote.queue_options.setdefault("prefetch_share", prefetch.share)
                if prefetch.bandwidth_mbit_s > 0:
                    self.remote.queue_options.setdefault(
                        "bandwidth_bytes_per_s", prefetch.bandwidth_mbit_s * 1e6 / 8
                    )
        if self.worklist_panel is not None:
            self.worklist_panel.refreshed.connect(lambda _rows: self._worklist_refreshed())
        # Reports: completed on the archive's acknowledgement when one is configured.
        self.services.acknowledged.connect(self._report_acknowledged)
        self.services.start()
        # What this window uses, for a command-line eviction run meanwhile (core/window_lock).
        self._in_use_timer = QTimer(self)
        self._in_use_timer.setInterval(2000)
        self._in_use_timer.timeout.connect(self._publish_in_use)
        if window_lock is not None:
            self._in_use_timer.start()

    def _make_services(self, settings: Settings) -> ReadingServices:
        """The services the settings ask for; a settings problem (a site file that does not
        name the archive user, say) leaves the window local-only and says why."""
        try:
            return ReadingServices(settings, self.archive, self.outbox, self)
        except WorkstationError as exc:
            log.warning("settings problem: %s", type(exc).__name__)
            self.settings_problem = str(exc)
            return ReadingServices(Settings(), self.archive, self.outbox, self)

    def _report_acknowledged(self, study_uid: str, sop_uid: str) -> None:
        """The archive holds a report: a final one completes the reader's work item."""
        if self.editor is not None and self.editor.study.study_instance_uid == study_uid:
            self.editor.refresh_outbox()
        if self.worklist_panel is None or not is_final_report(self.archive, sop_uid):
            return
        self.worklist_panel.complete_study(study_uid)

    def _worklist_refreshed(self) -> None:
        self.prefetch_worklist()
        self._publish_in_use()  # the reader's next studies may have changed

    def prefetch_worklist(self) -> int:
        """Queue the next studies of the worklist as shown (most urgent first) that are not
        complete locally, and their priors, for background retrieval ([prefetch] settings).
        Returns how many studies were asked for; the archive is queried off the UI thread."""
        if self.remote is None or self.worklist_panel is None or self.settings is None:
            return 0
        wanted = self.settings.prefetch.studies
        queue = self.remote.queue
        if wanted <= 0 or queue is None or self._prefetching:
            return 0
        model = self.worklist_panel.model
        remote = self.remote

        def skip(uid: str) -> bool:
            if uid == self.current_study_uid:
                return True
            if remote.incomplete_series(uid) == [] and self.archive.index.study(uid):
                return True  # already here, whole
            asked = self._prefetch_asked.get(uid)
            # queued a short while ago: the queue retries it by itself
            return asked is not None and time.monotonic() - asked < PREFETCH_AGAIN_S

        uids = prefetch_order(model.items(), self.worklist_panel.user, skip, wanted)
        if not uids:
            return 0
        priors = self.settings.prefetch.priors
        self._prefetching = True
        now = time.monotonic()
        self._prefetch_asked.update((uid, now) for uid in uids)

        def run() -> None:
            try:
                queue.prefetch(uids, priors)
            except WorkstationError as exc:
                log.warning("prefetch failed: %s", type(exc).__name__)
            finally:
                self._prefetching = False

        threading.Thread(target=run, name="worklist-prefetch", daemon=True).start()
        return len(uids)

    @property
    def viewport(self) -> ImageViewport:
        """The active viewport of the grid."""
        return self.grid.active

    # -- menus -------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu(self.tr("&File"))
        imp = QAction(self.tr("&Import files…"), self)
        imp.setShortcut(QKeySequence(self.shortcut_keys["import_files"]))
        imp.triggered.connect(self._choose_import_files)
        file_menu.addAction(imp)
        imp_dir = QAction(self.tr("Import &folder…"), self)
        imp_dir.triggered.connect(self._choose_import_folder)
        file_menu.addAction(imp_dir)
        file_menu.addSeparator()
        file_menu.addAction(self.cache_keeper.clear_action())
        file_menu.addSeparator()
        quit_action = QAction(self.tr("&Quit"), self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        view_menu = self.menuBar().addMenu(self.tr("&View"))
        self.view_menu = view_menu
        to_list = QAction(self.tr("Study &list"), self)
        to_list.setShortcut(QKeySequence(self.shortcut_keys["show_studies"]))
        to_list.triggered.connect(lambda: self.tabs.setCurrentIndex(0))
        view_menu.addAction(to_list)
        to_viewer = QAction(self.tr("&Viewer"), self)
        to_viewer.setShortcut(QKeySequence(self.shortcut_keys["show_viewer"]))
        to_viewer.triggered.connect(lambda: self.tabs.setCurrentIndex(1))
        view_menu.addAction(to_viewer)
        panel = self.worklist_panel
        if panel is not None and panel.user.may(Permission.CLAIM):
            view_menu.addSeparator()
            read_next = QAction(self.tr("Read &next study"), self)
            read_next.setShortcut(QKeySequence(self.shortcut_keys["read_next"]))
            read_next.triggered.connect(self.read_next_study)
            view_menu.addAction(read_next)
        help_menu = self.menuBar().addMenu(self.tr("&Help"))
        sheet = QAction(self.tr("Keyboard &shortcuts"), self)
        sheet.setShortcut(QKeySequence(self.shortcut_keys["shortcut_sheet"]))
        sheet.triggered.connect(self.show_shortcut_sheet)
        help_menu.addAction(sheet)
        self.addAction(sheet)

    def _action(self, name: str, text: str, slot: Any) -> QAction:
        act = QAction(text, self)
        act.setShortcut(QKeySequence(self.shortcut_keys[name]))
        act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        act.triggered.connect(slot)
        self.addAction(act)
        return act

    def _build_viewer_toolbar(self) -> None:
        bar = self.addToolBar(self.tr("Viewer"))
        bar.setObjectName("viewer-toolbar")
        for name, rows, cols in (
            ("layout_1x1", 1, 1),
            ("layout_1x2", 1, 2),
            ("layout_2x2", 2, 2),
            ("layout_3x3", 3, 3),
        ):
            bar.addAction(
                self._action(
                    name, f"{rows}×{cols}", lambda _=False, r=rows, c=cols: self.set_layout(r, c)
                )
            )
        custom = QAction(self.tr("Grid…"), self)
        custom.triggered.connect(self._choose_custom_layout)
        bar.addAction(custom)
        bar.addSeparator()
        bar.addAction(self._action("previous_stage", "◀", lambda: self.go_to_stage(-1)))
        self.stage_label = QLabel()
        bar.addWidget(self.stage_label)
        bar.addAction(self._action("next_stage", "▶", lambda: self.go_to_stage(+1)))
        bar.addSeparator()
        bar.addAction(self._action("link_series", self.tr("Link"), self.link_visible_series))
        bar.addAction(self._action("key_image", self.tr("Key image"), self.toggle_key_image))
        bar.addAction(self._action("cine", self.tr("Cine"), self.toggle_cine))
        bar.addAction(self._action("mpr", self.tr("MPR / 3D"), self.open_mpr))
        calibrate = QAction(self.tr("Calibrate…"), self)
        calibrate.setToolTip(self.tr("Draw a line over an object of known size (U)"))
        calibrate.triggered.connect(lambda: self.grid.active.model.set_tool(Tool.CALIBRATE))
        bar.addAction(calibrate)
        uncalibrate = QAction(self.tr("Remove calibration"), self)
        uncalibrate.triggered.connect(lambda: self.grid.active.remove_calibration())
        bar.addAction(uncalibrate)
        self.cine_fps = QSpinBox()
        self.cine_fps.setRange(1, 60)
        self.cine_fps.setValue(15)
        self.cine_fps.setSuffix(self.tr(" img/s"))
        self.cine_fps.valueChanged.connect(self._cine_rate_changed)
        bar.addWidget(self.cine_fps)

    def show_shortcut_sheet(self) -> ShortcutSheet:
        sheet = ShortcutSheet(self.shortcut_keys, self)
        sheet.open()
        return sheet

    def studies_evicted(self, study_uids: list[str]) -> None:
        """The cache removed these studies: what said they were here forgets them, and the
        list is read again (an archive's study shows "Not retrieved")."""
        for uid in study_uids:
            self.study_model.set_cache_state(uid, None)
            if self.remote is not None:
                self.remote.study_evicted(uid)
        if self.worklist_panel is not None:
            self.worklist_panel.local_copy_changed(study_uids)
        self.refresh_local_studies()

    def refresh_local_studies(self) -> None:
        """The study list and the status line again from the store (after an import or an
        eviction)."""
        self.study_model.refresh()
        self._update_status()

    def _update_status(self) -> None:
        c = self.archive.index.counts()
        counts = self.tr(", ", "list separator").join(
            (
                self.tr("%n studies", "", c["studies"]),
                self.tr("%n series", "", c["series"]),
                self.tr("%n images", "", c["instances"]),
            )
        )
        self.status_label.setText(self.tr("Local store: %1").replace("%1", counts))

    # -- study list --------------------------------------------------------------------------
    def _apply_search(self) -> None:
        self.study_model.set_search(self.search.text())

    def _open_index(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_study(self.study_model.study_at(index.row()).study_instance_uid)

    def studies_in_use(self) -> set[str]:
        """The study on screen, its priors, the studies being retrieved, and the reader's
        next studies that prefetch keeps ready (evicting those would only fetch them again)."""
        uids = {p.study.study_instance_uid for p in self.priors}
        if self.current_study_uid:
            uids.add(self.current_study_uid)
        if self.remote is not None:
            uids.update(uid for uid, job in self.remote.jobs.items() if not job.state.final)
            if self.worklist_panel is not None and self.settings is not None:
                items = self.worklist_panel.model.items()
                wanted = self.settings.prefetch.studies
                uids.update(prefetch_order(items, self.worklist_panel.user, _never, wanted))
        return uids

    def _publish_in_use(self) -> None:
        if self.window_lock is None:
            return
        try:
            self.window_lock.publish(self.studies_in_use())
        except WorkstationError as exc:  # a full disk: the lock holds, the list is stale
            log.warning("cannot say which studies the window uses: %s", exc)

    def open_study(self, study_instance_uid: str) -> None:
        """Show the study hung by the best hanging protocol, beside its priors when it fits."""
        try:
            study = self.archive.study(study_instance_uid)
            series_list = self.archive.series(study_instance_uid)
            self.priors = self.archive.priors(study_instance_uid)
        except WorkstationError as exc:
            QMessageBox.warning(self, self.tr("Cannot open study"), str(exc))
            return
        self._cine.stop()
        mpr = getattr(self, "mpr_view", None)
        if mpr is not None and mpr.study_instance_uid != study_instance_uid:
            self._close_mpr()  # its volume is another study's, perhaps another patient's
        self.current_study_uid = study_instance_uid
        self._publish_in_use()
        self.archive.mark_opened(study_instance_uid)
        record_event(
            self.archive.root,
            AuditEvent.STUDY_OPENED,
            study_instance_uid=study_instance_uid,
            user=self.reader,
        )
        groups = [("", series_list)] + [
            (
                self.tr("Prior")
                + f" {format_da(p.study.study_date)}"
                + (" ⚠" if p.identity_conflicts else ""),
                self.archive.series(p.study.study_instance_uid),
            )
            for p in self.priors
        ]
        self.series_browser.show_groups(self.archive, groups)
        self.tabs.setCurrentIndex(1)
        self.setWindowTitle(
            self.tr("Reading Workstation") + " — " + format_person_name(study.patient.patient_name)
        )
        conflicts = [p for p in self.priors if p.identity_conflicts]
        if conflicts:
            self.statusBar().showMessage(
                self.tr("Check the priors: same patient ID but ")
                + ", ".join(sorted({c for p in conflicts for c in p.identity_conflicts})),
                20000,
            )
        self._hang_current = (study, self._series_infos(series_list))
        self._hang_priors = [
            (p.study, self._series_infos(self.archive.series(p.study.study_instance_uid)))
            for p in self.priors[:MAX_PRIORS_HUNG]
            if not p.identity_conflicts  # a doubtful prior is listed, never hung by itself
        ]
        self.protocol = hanging.best_protocol(
            self.protocols, study, self._hang_current[1], self._hang_priors
        )
        self.apply_stage(0)
        self._open_editor(study)
        try:
            self.sr_viewer.show_study(self.archive, study_instance_uid)
        except WorkstationError as exc:
            log.warning("reports could not be shown: %s", type(exc).__name__)
        log.info(
            "study opened: %d series, %d priors, protocol %s",
            len(series_list),
            len(self.priors),
            self.protocol.id if self.protocol else "-",
        )
        self.study_opened.emit(study_instance_uid)

    def read_next_study(self) -> None:
        """Claim and open the worklist's most urgent study this reader may read, passing over
        the one on screen and any whose final report is signed (on its way to the archive,
        which then completes its item)."""
        if self.worklist_panel is None:
            return

        def done_here(study_uid: str) -> bool:
            if study_uid == self.current_study_uid:
                return True
            try:
                return latest_signed_report(self.archive, study_uid).final
            except WorkstationError:  # not here, or no report yet
                return False

        self.worklist_panel.read_next(done_here)

    def _open_from_worklist(self, study_instance_uid: str, read_only: bool) -> None:
        message = self.tr("Another reader holds this study: opened read-only")
        if read_only:
            self._read_only[study_instance_uid] = message
        else:
            self._read_only.pop(study_instance_uid, None)
        if self.remote is not None:
            self.remote.open(study_instance_uid)  # at once when local, else as it arrives
        else:
            try:
                self.archive.study(study_instance_uid)
            except WorkstationError:
                self.statusBar().showMessage(
                    self.tr("The study is not in the local store and no archive is configured"),
                    10000,
                )
                return
            self.open_study(study_instance_uid)
        if read_only:
            self.statusBar().showMessage(message, 15000)

    def reopen_report(self) -> None:
        """The report editor of the study on screen again (after a claim: editable now)."""
        if self.current_study_uid:
            self._open_editor(self.archive.study(self.current_study_uid))

    def _open_editor(self, study: Any) -> None:
        """The report editor of this study, its template picked by modality and body part."""
        self._close_editor()
        template = pick_template(
            self.templates, study, self.archive.series(study.study_instance_uid)
        )
        try:
            signer_name, signer_organisation = self.services.signer()
            dictation = (self.settings or Settings()).dictation
            self.editor = ReportEditor(
                self.archive,
                study.study_instance_uid,
                template,
                self.reader,
                self.drafts,
                outbox=self.outbox,
                destinations=self.services.destinations,
                after_sign=self.services.wake,
                signer_name=signer_name,
                signer_organisation=signer_organisation,
                dictation_engine=dictation.engine,
                dictation_model_path=dictation.model_path or None,
            )
        except WorkstationError as exc:
            self.statusBar().showMessage(self.tr("The report editor failed: ") + str(exc), 10000)
            return
        key = QKeySequence(self.shortcut_keys.get("dictate", "F4"))
        if not key.isEmpty():
            self.editor.dictate_key = int(key[0].key().value)
        held = self._read_only.get(study.study_instance_uid)
        if held:
            self.editor.set_read_only(held)
        elif self.reading_guard is not None:
            self.reading_guard.watch(self.editor, study)
        self.editor.status_message.connect(lambda t: self.statusBar().showMessage(t, 8000))
        self.editor.signed.connect(
            lambda _s: self.sr_viewer.show_study(self.archive, study.study_instance_uid)
        )
        if self.worklist_panel is not None and not self.services.completes_on_acknowledgement:
            # No archive to acknowledge: a signed final report completes the work item.
            self.editor.signed.connect(
                lambda signed: (
                    self.worklist_panel.complete_study(study.study_instance_uid)
                    if getattr(signed, "final", True)
                    else None
                )
            )
        self._editor_layout.addWidget(self.editor)

    def _close_editor(self) -> None:
        if self.editor is not None:
            self.editor.shutdown()  # saves what is pending of the draft
            self._editor_layout.removeWidget(self.editor)
            self.editor.deleteLater()
            self.editor = None

    def _series_infos(self, series_list: list[Any]) -> list[hanging.SeriesInfo]:
        return [
            hanging.SeriesInfo.from_instances(s, self.archive.instances(s.series_instance_uid))
            for s in series_list
        ]

    def apply_stage(self, index: int) -> None:
        """Lay out the grid for a stage of the current protocol and fill its viewports.

        Every viewport of the new layout is given a series or emptied (with what it lacks):
        none keeps what it showed before, another study's images above all."""
        if self._hang_current is None:
            return
        first = next((s for s in self._hang_current[1] if s.images), None)
        if self.protocol is None or first is None:
            self.grid.set_layout(1, 1)
            if first is None:
                modalities = sorted({s.series.modality for s in self._hang_current[1]} - {""})
                text = self.tr("No images in this study")
                self._show_empty(self.grid.active, f"{text} ({', '.join(modalities)})")
            elif not self.open_series(first.series.series_instance_uid):
                self._show_empty(self.grid.active, self.tr("Cannot show this series"))
            self.stage_label.setText("")
            self.stage_applied.emit(0)
            return
        stages = self.protocol.stages
        self.stage_index = max(0, min(index, len(stages) - 1))
        stage = stages[self.stage_index]
        relevant = hanging.relevant_priors(self.protocol, self._hang_current[0], self._hang_priors)
        assignments = hanging.assign_viewports(stage, self._hang_current, relevant)
        self.sync.clear()
        self.grid.set_layout(stage.rows, stage.columns)
        for a in assignments:
            vp = self.grid.viewports[a.index]
            if a.series is None:
                self._show_empty(vp, self._not_found_text(a.viewport))
                continue
            if not self._load_into(vp, a.series.series.series_instance_uid):
                self._show_empty(vp, self.tr("Cannot show this series"))
        self.grid.set_active(0)
        self._auto_link()
        self.stage_label.setText(
            f" {self.protocol.name} · {stage.name} ({self.stage_index + 1}/{len(stages)}) "
        )
        self.stage_applied.emit(self.stage_index)

    def _not_found_text(self, viewport: hanging.Viewport) -> str:
        """What an empty viewport of the protocol says: which series it looked for."""
        if viewport.prior:
            if viewport.label:
                return self.tr("%1 of a prior: none here").replace("%1", viewport.label)
            return self.tr("No prior here")
        if viewport.label:
            return self.tr("%1: not in this study").replace("%1", viewport.label)
        return ""

    def hang_arrived_series(self, keep: Callable[[int, ImageViewport], bool]) -> list[int]:
        """Hang series of the open study that arrived after it was hung, by the current stage.

        The protocol's matching (:func:`hanging.assign_viewports`) is run again with the series
        the store holds now; a viewport whose best match is not what it shows is loaded when it
        is empty or ``keep(index, viewport)`` is False (the reader did not choose what it shows).
        Returns the indices of the viewports loaded; none when the layout was changed by hand.
        """
        if self._hang_current is None or self.protocol is None:
            return []
        uid = self._hang_current[0].study_instance_uid
        try:
            study = self.archive.study(uid)
            self._hang_current = (study, self._series_infos(self.archive.series(uid)))
        except WorkstationError as exc:
            log.warning("arrived series not hung: %s", type(exc).__name__)
            return []
        stage = self.protocol.stages[self.stage_index]
        if (self.grid.rows, self.grid.columns) != (stage.rows, stage.columns):
            return []
        relevant = hanging.relevant_priors(self.protocol, study, self._hang_priors)
        assignments = hanging.assign_viewports(stage, self._hang_current, relevant)
        viewports = self.grid.viewports
        kept = {
            vp.model.stack.series.series_instance_uid
            for i, vp in enumerate(viewports)
            if vp.model.stack is not None and keep(i, vp)
        }
        loaded: list[int] = []
        for a in assignments:
            if a.series is None:
                continue
            vp = viewports[a.index]
            shown = vp.model.stack
            wanted = a.series.series.series_instance_uid
            if shown is not None and (
                shown.series.series_instance_uid == wanted or keep(a.index, vp)
            ):
                continue
            if wanted in kept and not a.viewport.allow_reuse:
                continue  # the reader shows it elsewhere: not twice unless the stage says so
            if self._load_into(vp, wanted):
                loaded.append(a.index)
        if loaded:
            self._auto_link()
        return loaded

    def go_to_stage(self, step: int) -> None:
        if self.protocol is not None:
            self.apply_stage(self.stage_index + step)

    def set_layout(self, rows: int, columns: int) -> None:
        """A layout chosen by hand: viewports keep their series, new ones start empty."""
        self.grid.set_layout(rows, columns)
        self._auto_link()

    def _choose_custom_layout(self) -> None:
        text, ok = QInputDialog.getText(
            self, self.tr("Grid"), self.tr("Rows × columns (e.g. 2x3):"), text="2x3"
        )
        if not ok:
            return
        try:
            rows, cols = (int(v) for v in text.lower().replace("×", "x").split("x"))
            self.set_layout(rows, cols)
        except ValueError as exc:
            self.statusBar().showMessage(self.tr("Not a grid: ") + str(exc), 8000)

    def _show_empty(self, vp: ImageViewport, text: str = "") -> None:
        """``vp`` shows nothing, saying ``text``: never a series the study on screen is not."""
        self.sync.remove(vp.model)
        vp.set_stack(None, text)
        self._kept_measurements.pop(id(vp), None)

    def _load_into(self, vp: ImageViewport, series_instance_uid: str) -> bool:
        try:
            stack = ImageStack.open(self.archive, series_instance_uid)
        except WorkstationError as exc:
            log.warning("series could not be opened: %s", type(exc).__name__)
            self.statusBar().showMessage(self.tr("Cannot open this series: ") + str(exc), 10000)
            return False
        self.sync.remove(vp.model)
        vp.attach_store(self.archive)  # user calibrations are kept in, and read from, the store
        vp.set_stack(stack)  # the first image is read on its own and shown at once
        stack.load_volume_in_background()
        self._load_measurements(vp)
        return True

    # -- measurements, kept per study in the store ------------------------------------------
    def _load_measurements(self, vp: ImageViewport) -> None:
        stack = vp.model.stack
        if stack is None:
            self._kept_measurements.pop(id(vp), None)
            return
        study = stack.study.study_instance_uid
        kept = self.archive.measurements(study)
        self._kept_measurements[id(vp)] = (study, {m.measurement_id for m in kept})
        self._syncing_measurements = True
        try:
            vp.model.set_measurements(kept)
        finally:
            self._syncing_measurements = False

    def _measurements_changed(self, vp: ImageViewport, measurements: list[Any]) -> None:
        """Save what the reader drew or edited, delete what was deleted, show it everywhere."""
        if self._syncing_measurements or vp.model.stack is None:
            return
        study = vp.model.stack.study.study_instance_uid
        before_study, before_ids = self._kept_measurements.get(id(vp), (study, set()))
        if before_study != study:
            return  # the viewport switched study: nothing was deleted
        now_ids = {m.measurement_id for m in measurements}
        try:
            for m in measurements:
                self.archive.save_measurement(study, m)
            for gone in before_ids - now_ids:
                self.archive.delete_measurement(gone)
        except WorkstationError as exc:
            self.statusBar().showMessage(self.tr("Measurement not saved: ") + str(exc), 10000)
            return
        self._kept_measurements[id(vp)] = (study, now_ids)
        if self.editor is not None and self.editor.study.study_instance_uid == study:
            self.editor.refresh_measurements()
        for other in self.grid.viewports:  # the same study in another viewport sees them too
            shown = other.model.stack
            if other is not vp and shown is not None and shown.study.study_instance_uid == study:
                self._load_measurements(other)

    def _calibration_changed(self, vp: ImageViewport, _calibration: Any) -> None:
        """A user calibration was set or removed: the stored values changed with it."""
        self.measurement_panel.refresh()
        if self.editor is not None:
            self.editor.refresh_measurements()
        for other in self.grid.viewports:  # the same series elsewhere measures the same way
            shown, here = other.model.stack, vp.model.stack
            if (
                other is not vp
                and shown is not None
                and here is not None
                and shown.series.series_instance_uid == here.series.series_instance_uid
            ):
                self._load_measurements(other)

    def open_series(self, series_instance_uid: str) -> bool:
        """Show a series in the active viewport; a failure is said in the status bar."""
        vp = self.grid.active
        if not self._load_into(vp, series_instance_uid):
            return False
        self._auto_link()
        vp.vtk_widget.setFocus()
        return True

    def _drop_series(self, index: int, series_instance_uid: str) -> None:
        self.grid.set_active(index)
        self.open_series(series_instance_uid)

    # -- linking, key images, cine -------------------------------------------------------------
    def _auto_link(self) -> None:
        """Link the viewports whose series share the active one's Frame of Reference."""
        self.sync.clear()
        anchor = self.grid.active.model.stack
        if anchor is None:
            return
        for vp in self.grid.viewports:
            stack = vp.model.stack
            if stack is not None and (stack is anchor or can_auto_link(anchor, stack)):
                self.sync.add(vp.model)
        if len(self.sync) < 2:
            self.sync.clear()

    def link_visible_series(self) -> int:
        """Link every visible series to the active one as shown now (one click); returns count."""
        self.sync.clear()
        anchor = self.grid.active.model
        linked = 0
        for vp in self.grid.viewports:
            if vp.model is not anchor and self.sync.link_by_hand(anchor, vp.model):
                linked += 1
        self.statusBar().showMessage(
            self.tr("Linked %n series to the active one").replace("%n", str(linked)), 6000
        )
        return linked

    def toggle_key_image(self) -> bool | None:
        """Mark the active image as key image, or unmark it; returns the new state."""
        m = self.grid.active.model
        if m.stack is None:
            return None
        frame = m.stack.frames[m.index]
        key = KeyImage(
            m.stack.study.study_instance_uid, frame.instance.sop_instance_uid, frame.frame + 1
        )
        marked = key not in self.archive.key_images(key.study_instance_uid)
        self.archive.set_key_image(key, marked)
        total = len(self.archive.key_images(key.study_instance_uid))
        if self.editor is not None:
            self.editor.refresh_key_images()
        self.statusBar().showMessage(
            (self.tr("Key image marked") if marked else self.tr("Key image removed"))
            + f" ({total})",
            6000,
        )
        return marked

    def confirm_partial_mpr(self, received: int, expected: int) -> bool:
        """Ask whether to build an MPR of a series still arriving (True: build it now).

        Tests replace this method to answer without a dialog.
        """
        box = QMessageBox(
            QMessageBox.Icon.Question,
            self.tr("MPR"),
            self.tr(
                "This series is still arriving (%1 of %2 images). Build the MPR from what is "
                "here, or wait?"
            )
            .replace("%1", str(received))
            .replace("%2", str(expected)),
            parent=self,
        )
        build = box.addButton(self.tr("Build"), QMessageBox.ButtonRole.AcceptRole)
        wait = box.addButton(self.tr("Wait"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(wait)
        box.exec()
        return box.clickedButton() is build

    def open_mpr(self) -> bool:
        """The active viewport's series as a volume in the MPR tab (three planes, 3D optional).

        A series still being retrieved is built only when the reader says so
        (:meth:`confirm_partial_mpr`); False when there is nothing to build or the reader waits.
        """
        stack = self.grid.active.model.stack
        if stack is None:
            return False
        if self.remote is not None:
            arriving = self.remote.arriving(stack.series.series_instance_uid)
            if arriving is not None and not self.confirm_partial_mpr(*arriving):
                return False
        try:
            result = assemble_series(self.archive, stack.series.series_instance_uid)
            volume = result.volume
        except WorkstationError as exc:
            self.statusBar().showMessage(self.tr("No MPR for this series: ") + str(exc), 15000)
            return False
        self._close_mpr()
        window = self.grid.active.model.window
        self.mpr_view = MprView(
            volume,
            modality=stack.modality,
            window=(window.center, window.width) if window is not None else None,
            series_instance_uid=stack.series.series_instance_uid,
            archive=self.archive,
            study_instance_uid=stack.study.study_instance_uid,
            reduce_3d_on_software_gl=(
                None if self.settings is None else self.settings.ui.software_3d == "reduced"
            ),
        )
        self._mpr_tab = self.tabs.addTab(self.mpr_view, self.tr("MPR"))
        self.tabs.setCurrentIndex(self._mpr_tab)
        if volume.warnings:  # all of them: one message each would leave only the last
            self.statusBar().showMessage("; ".join(volume.warnings), 15000)
        return True

    def _close_mpr(self) -> None:
        view = getattr(self, "mpr_view", None)
        if view is not None:
            self.tabs.removeTab(self.tabs.indexOf(view))
            view.close_views()
            view.deleteLater()
            self.mpr_view = None

    def toggle_cine(self) -> None:
        if self._cine.isActive():
            self._cine.stop()
        else:
            self._cine.start(int(1000 / self.cine_fps.value()))

    def _cine_rate_changed(self, fps: int) -> None:
        if self._cine.isActive():
            self._cine.start(int(1000 / fps))

    def _cine_step(self) -> None:
        m = self.grid.active.model
        if m.stack is None:
            self._cine.stop()
            return
        m.go_to(m.index + 1 if m.index + 1 < m.count else 0)

    def first_study_uid(self) -> str | None:
        if self.study_model.rowCount() == 0:
            return None
        return self.study_model.study_at(0).study_instance_uid

    # -- import ------------------------------------------------------------------------------
    def _choose_import_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, self.tr("Import DICOM files"))
        if files:
            self.start_import(files)

    def _choose_import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Import a folder"))
        if folder:
            self.start_import([folder])

    def start_import(self, paths: list[str]) -> None:
        """Import in a worker thread with a progress dialog; the list refreshes at the end."""
        if self._import_thread is not None:
            return
        dialog = QProgressDialog(self.tr("Importing…"), self.tr("Hide"), 0, 0, self)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        self._import_dialog = dialog
        thread = QThread(self)
        worker = ImportWorker(self.archive, paths)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # Slots of this window run on the GUI thread: the connections are queued, so no
        # widget is touched from the worker (that crashes Qt's font engine under X11).
        queued = Qt.ConnectionType.QueuedConnection
        worker.progress.connect(self._on_import_progress, queued)
        worker.finished.connect(self._on_import_done, queued)
        worker.failed.connect(self._on_import_failed, queued)
        thread.finished.connect(self._import_thread_done)
        self._import_worker = worker
        self._import_thread = thread
        thread.start()

    def _on_import_progress(self, done: int, total: int) -> None:
        self._import_dialog.setMaximum(total)
        self._import_dialog.setValue(done)

    def _on_import_done(self, report: Any) -> None:
        self._import_dialog.close()
        if self._import_thread is not None:
            self._import_thread.quit()
        self._import_finished(report)

    def _on_import_failed(self, message: str) -> None:
        self._import_dialog.close()
        if self._import_thread is not None:
            self._import_thread.quit()
        QMessageBox.warning(self, self.tr("Import failed"), message)

    def _import_thread_done(self) -> None:
        if self._import_thread is not None:
            self._import_thread.deleteLater()
        self._import_thread = None

    def _import_finished(self, report: ImportReport) -> None:
        self.refresh_local_studies()
        if self.remote is not None:
            self.remote.compare_stored()  # what the archive holds of the imported studies
        text = self.tr("Import finished: %1").replace("%1", report.summary())
        self.statusBar().showMessage(text, 10000)
        if report.rejected:
            details = "\n".join(f"{Path(p).name}: {why}" for p, why in report.rejected[:50])
            box = QMessageBox(QMessageBox.Icon.Warning, self.tr("Import"), text, parent=self)
            box.setDetailedText(details)
            box.open()

    # -- screenshots -------------------------------------------------------------------------
    def screenshot(self) -> QImage:
        """The window as the user sees it, each VTK viewport painted in from its own buffer."""
        image = self.grab().toImage()
        if self.tabs.currentIndex() == 1:
            painter = QPainter(image)
            for vp in self.grid.viewports:
                if vp.isVisible():
                    top_left = vp.mapTo(self, vp.rect().topLeft())
                    painter.drawImage(vp.rect().translated(top_left), vp.capture())
            painter.end()
        return image

    def closeEvent(self, ev: Any) -> None:
        self._in_use_timer.stop()
        self.cache_keeper.stop()
        if self._import_thread is not None:
            self._import_thread.quit()
            self._import_thread.wait(5000)
        self._cine.stop()
        self.sync.clear()
        self._close_editor()
        self._close_mpr()
        self.measurement_binding.disconnect()
        if self.worklist_panel is not None:
            self.worklist_panel.shutdown()
            self.worklist_backend.close()
        self.grid.close_all()
        self.services.stop()  # after the current round; unsent reports stay in the outbox
        self.outbox.close()
        self.drafts.close()
        super().closeEvent(ev)
