"""The local store as a cache, from the window: "Clear local cache…" and the configured limit.

Evictions run on a worker thread (deleting a study's files takes a moment) and never touch
what the window uses (the study on screen, its priors, what is being retrieved:
``MainWindow.studies_in_use``) nor a study reporting holds (a draft, a report the archive has
not acknowledged: ``reporting/retention.py``). With ``[cache] limit`` set, the window checks the
store a few seconds after it opens and then every minute.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox

from workstation.archive.cache import EvictionReport
from workstation.core.errors import WorkstationError
from workstation.core.sizes import format_size
from workstation.reporting.retention import evict, usage_summary

if TYPE_CHECKING:
    from workstation.ui.main_window import MainWindow

log = logging.getLogger(__name__)


class CacheKeeper(QObject):
    """Clears the local cache on request and keeps it under the configured limit."""

    finished = Signal(object)  # the EvictionReport, on the GUI thread
    failed = Signal(str)
    _done = Signal(object, bool)  # from the worker: report, asked for by the reader
    _error = Signal(str, bool)

    def __init__(
        self,
        window: MainWindow,
        limit_bytes: int = 0,
        *,
        first_check_ms: int = 5000,
        interval_ms: int = 60_000,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.limit_bytes = limit_bytes
        self._thread: threading.Thread | None = None
        queued = Qt.ConnectionType.QueuedConnection
        self._done.connect(self._on_done, queued)
        self._error.connect(self._on_error, queued)
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.enforce)
        self._first_check = QTimer(self)
        self._first_check.setSingleShot(True)
        self._first_check.setInterval(first_check_ms)
        self._first_check.timeout.connect(self.enforce)
        if limit_bytes > 0:
            self.timer.start()
            self._first_check.start()

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def clear_action(self) -> QAction:
        action = QAction(self.tr("Clear local cache…"), self.window)
        action.triggered.connect(self.confirm_and_clear)
        return action

    def confirm_and_clear(self) -> None:
        """Say what a clear removes and keeps; clear when the reader agrees."""
        if self.busy:
            return
        keep = self.window.studies_in_use()
        try:
            gone, gone_bytes, kept, kept_bytes = usage_summary(self.window.archive, keep)
        except WorkstationError as exc:
            self._on_error(str(exc), True)
            return
        box = QMessageBox(self.window)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(self.tr("Clear the local cache"))
        kept_text = (
            self.tr(
                "Kept: %n study(s) with a report draft, a report not yet sent, or open now (%1).",
                "",
                kept,
            ).replace("%1", self._size(kept_bytes))
            if kept
            else ""
        )
        if gone == 0:
            box.setIcon(QMessageBox.Icon.Information)
            box.setText(self.tr("Nothing to remove."))
            box.setInformativeText(kept_text)
            box.setStandardButtons(QMessageBox.StandardButton.Ok)
            box.open()
            return
        box.setText(
            self.tr("Remove the local copies of %n study(s) (%1)?", "", gone).replace(
                "%1", self._size(gone_bytes)
            )
        )
        box.setInformativeText(
            " ".join(
                t
                for t in (self.tr("They can be retrieved again from the archive."), kept_text)
                if t
            )
        )
        remove = box.addButton(self.tr("Remove"), QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def answered(_result: int) -> None:
            if box.clickedButton() is remove:
                self.clear()

        box.finished.connect(answered)
        box.open()

    def _size(self, n: int) -> str:
        """A size for a sentence: kept left to right ("258.6 MB") inside an Arabic one."""
        text = format_size(n)
        if self.window.layoutDirection() == Qt.LayoutDirection.RightToLeft:
            return f"\u2066{text}\u2069"  # LEFT-TO-RIGHT ISOLATE ... POP DIRECTIONAL ISOLATE
        return text

    def clear(self) -> bool:
        """Clear on the worker thread now; False when an eviction is already running."""
        return self._start(None, interactive=True)

    def enforce(self) -> bool:
        """Evict down to the configured limit (nothing when under it or without a limit)."""
        if self.limit_bytes <= 0:
            return False
        return self._start(self.limit_bytes, interactive=False)

    def _start(self, limit: int | None, *, interactive: bool) -> bool:
        if self.busy:
            return False
        keep = frozenset(self.window.studies_in_use())  # asked on the GUI thread
        self._thread = threading.Thread(
            target=self._work, args=(limit, keep, interactive), name="cache-evict", daemon=True
        )
        self._thread.start()
        return True

    def _work(self, limit: int | None, keep: Collection[str], interactive: bool) -> None:
        try:
            report = evict(self.window.archive, limit_bytes=limit, keep=keep)
        except WorkstationError as exc:
            self._error.emit(str(exc), interactive)
        except Exception as exc:  # never leave the window without an answer
            log.exception("cache eviction failed")
            self._error.emit(f"{type(exc).__name__}: {exc}", interactive)
        else:
            self._done.emit(report, interactive)
        finally:
            self.window.archive.index.close()  # this thread's connection, not the window's

    def _on_done(self, report: EvictionReport, interactive: bool) -> None:
        if report.evicted or interactive:
            self.window.studies_evicted([s.study_instance_uid for s in report.evicted])
            text = self.tr("Local cache: %1").replace("%1", report.summary())
            self.window.statusBar().showMessage(text, 15000)
            log.info("local cache: %s", report.summary())
        self.finished.emit(report)

    def _on_error(self, message: str, interactive: bool) -> None:
        text = self.tr("The local cache could not be cleaned: %1").replace("%1", message)
        log.warning("%s", text)
        self.window.statusBar().showMessage(text, 30000)
        if interactive:
            box = QMessageBox(
                QMessageBox.Icon.Warning, self.tr("Clear the local cache"), text, parent=self.window
            )
            box.open()
        self.failed.emit(message)

    def stop(self, wait_s: float = 30.0) -> None:
        """No new checks; wait for an eviction under way (its files are being deleted)."""
        self.timer.stop()
        self._first_check.stop()
        if self._thread is not None:
            self._thread.join(wait_s)
