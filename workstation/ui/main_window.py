"""The main window: study list (search, sort), then the viewer with its series browser."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QAction, QImage, QKeySequence, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workstation.archive.local import LocalArchive
from workstation.core.errors import WorkstationError
from workstation.core.model import ImportReport, format_person_name
from workstation.ui.series_browser import SeriesBrowser
from workstation.ui.study_model import StudyTableModel
from workstation.ui.viewport import ImageViewport
from workstation.viewer.stack import ImageStack

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


class MainWindow(QMainWindow):
    """Study list tab and viewer tab over one local store."""

    study_opened = Signal(str)

    def __init__(self, archive: LocalArchive, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.archive = archive
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

        # Viewer page
        self.series_browser = SeriesBrowser()
        self.series_browser.series_activated.connect(self.open_series)
        self.viewport = ImageViewport()
        viewer_page = QWidget()
        vl = QHBoxLayout(viewer_page)
        vl.setContentsMargins(0, 0, 0, 0)
        vl.addWidget(self.series_browser)
        vl.addWidget(self.viewport, 1)

        self.tabs = QTabWidget()
        self.tabs.addTab(study_page, self.tr("Studies"))
        self.tabs.addTab(viewer_page, self.tr("Viewer"))
        self.setCentralWidget(self.tabs)
        self.status_label = QLabel()
        self.statusBar().addWidget(self.status_label, 1)
        self._build_menus()
        self._update_status()

    # -- menus -------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu(self.tr("&File"))
        imp = QAction(self.tr("&Import files…"), self)
        imp.setShortcut(QKeySequence.StandardKey.Open)
        imp.triggered.connect(self._choose_import_files)
        file_menu.addAction(imp)
        imp_dir = QAction(self.tr("Import &folder…"), self)
        imp_dir.triggered.connect(self._choose_import_folder)
        file_menu.addAction(imp_dir)
        file_menu.addSeparator()
        quit_action = QAction(self.tr("&Quit"), self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        view_menu = self.menuBar().addMenu(self.tr("&View"))
        to_list = QAction(self.tr("Study &list"), self)
        to_list.setShortcut(QKeySequence("F2"))
        to_list.triggered.connect(lambda: self.tabs.setCurrentIndex(0))
        view_menu.addAction(to_list)
        to_viewer = QAction(self.tr("&Viewer"), self)
        to_viewer.setShortcut(QKeySequence("F3"))
        to_viewer.triggered.connect(lambda: self.tabs.setCurrentIndex(1))
        view_menu.addAction(to_viewer)

    def _update_status(self) -> None:
        c = self.archive.index.counts()
        self.status_label.setText(
            self.tr("Local store: %1 studies, %2 series, %3 images")
            .replace("%1", str(c["studies"]))
            .replace("%2", str(c["series"]))
            .replace("%3", str(c["instances"]))
        )

    # -- study list --------------------------------------------------------------------------
    def _apply_search(self) -> None:
        self.study_model.set_search(self.search.text())

    def _open_index(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_study(self.study_model.study_at(index.row()).study_instance_uid)

    def open_study(self, study_instance_uid: str) -> None:
        """Show the study's series and open the first one with images."""
        try:
            study = self.archive.study(study_instance_uid)
            series_list = self.archive.series(study_instance_uid)
        except WorkstationError as exc:
            QMessageBox.warning(self, self.tr("Cannot open study"), str(exc))
            return
        self.current_study_uid = study_instance_uid
        self.archive.mark_opened(study_instance_uid)
        self.series_browser.show_series(self.archive, series_list)
        self.tabs.setCurrentIndex(1)
        self.setWindowTitle(
            self.tr("Reading Workstation") + " — " + format_person_name(study.patient.patient_name)
        )
        # The first series that has images (a study may start with an SR or a KO).
        for series in series_list:
            if series.number_of_instances and self.open_series(series.series_instance_uid):
                break
        log.info("study opened with %d series", len(series_list))
        self.study_opened.emit(study_instance_uid)

    def open_series(self, series_instance_uid: str) -> bool:
        """Show a series in the viewport; a failure is said in the status bar, not a dialog."""
        try:
            stack = ImageStack.open(self.archive, series_instance_uid)
            stack.load_volume()
        except WorkstationError as exc:
            log.warning("series could not be opened: %s", type(exc).__name__)
            self.statusBar().showMessage(self.tr("Cannot open this series: ") + str(exc), 10000)
            return False
        self.viewport.set_stack(stack)
        self.viewport.vtk_widget.setFocus()
        return True

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
        thread = QThread(self)
        worker = ImportWorker(self.archive, paths)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)

        def on_progress(done: int, total: int) -> None:
            dialog.setMaximum(total)
            dialog.setValue(done)

        def on_done(report: Any) -> None:
            dialog.close()
            thread.quit()
            self._import_finished(report)

        def on_failed(message: str) -> None:
            dialog.close()
            thread.quit()
            QMessageBox.warning(self, self.tr("Import failed"), message)

        worker.progress.connect(on_progress)
        worker.finished.connect(on_done)
        worker.failed.connect(on_failed)
        thread.finished.connect(self._import_thread_done)
        self._import_worker = worker
        self._import_thread = thread
        thread.start()

    def _import_thread_done(self) -> None:
        if self._import_thread is not None:
            self._import_thread.deleteLater()
        self._import_thread = None

    def _import_finished(self, report: ImportReport) -> None:
        self.study_model.refresh()
        self._update_status()
        text = self.tr("Import finished: %1").replace("%1", report.summary())
        self.statusBar().showMessage(text, 10000)
        if report.rejected:
            details = "\n".join(f"{Path(p).name}: {why}" for p, why in report.rejected[:50])
            box = QMessageBox(QMessageBox.Icon.Warning, self.tr("Import"), text, parent=self)
            box.setDetailedText(details)
            box.open()

    # -- screenshots -------------------------------------------------------------------------
    def screenshot(self) -> QImage:
        """The window as the user sees it, the VTK viewport painted in from its own buffer."""
        image = self.grab().toImage()
        if self.tabs.currentIndex() == 1 and self.viewport.isVisible():
            vp = self.viewport.capture()
            top_left = self.viewport.mapTo(self, self.viewport.rect().topLeft())
            dpr = image.devicePixelRatio() or 1.0
            painter = QPainter(image)
            target = self.viewport.rect().translated(top_left)
            painter.drawImage(target, vp)
            painter.end()
            del dpr
        return image

    def closeEvent(self, ev: Any) -> None:
        if self._import_thread is not None:
            self._import_thread.quit()
            self._import_thread.wait(5000)
        self.viewport.close_viewport()
        super().closeEvent(ev)
