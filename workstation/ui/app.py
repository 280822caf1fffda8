"""Start the Qt application on a local store."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workstation.core.settings import Settings

log = logging.getLogger(__name__)


def prepare_environment() -> None:
    """Without a display, run Qt offscreen and VTK on OSMesa (see STACK.md: Qt + VTK)."""
    headless = not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")
    if sys.platform.startswith("linux") and headless:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")


def signal_emit_drops_references() -> bool:
    """True when this PySide6 drops a reference to ``True`` on each ``Signal.emit()`` from
    Python (PySide6 6.12.0 does): on Python 3.11 the process then aborts after about 10,000
    signals, mid-reading. Eight emits tell; on Python 3.12+ ``True`` is immortal and the
    count never moves."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        fired = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(8):
        probe.fired.emit()
    return before - sys.getrefcount(True) >= 8


def run_app(
    store: Path,
    *,
    open_first: bool = False,
    open_study: str | None = None,
    screenshot: Path | None = None,
    quit_after_s: float | None = None,
    language: str = "system",
    settings: Settings | None = None,
) -> int:
    prepare_environment()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from workstation.archive.local import LocalArchive
    from workstation.core.errors import StoreError, WorkstationError
    from workstation.core.window_lock import WindowLock
    from workstation.ui.i18n import install_translator
    from workstation.ui.main_window import MainWindow
    from workstation.ui.theme import apply_dark_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    if signal_emit_drops_references():
        import PySide6

        message = (
            f"PySide6 {PySide6.__version__} has a reference-counting bug that ends the "
            "application after about 10,000 signals. Install PySide6 6.11 "
            "(pip install 'PySide6-Essentials<6.12' 'PySide6-Addons<6.12')."
        )
        return _fatal(message)
    install_translator(app, language)  # before any window: widgets take their texts when built
    app.setApplicationName("Reading Workstation")
    app.setOrganizationName("workstation")
    apply_dark_theme(app)  # type: ignore[arg-type]
    lock = WindowLock(store)
    try:
        try:
            store.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreError(f"cannot use {store} as the local store: {exc.strerror}") from None
        lock.acquire()  # one window per store: two would autosave over each other's drafts
        archive = LocalArchive(store)
    except WorkstationError as exc:
        lock.release()
        return _fatal(str(exc))
    window = MainWindow(archive, settings=settings, window_lock=lock)
    window.show()
    if open_study:
        window.open_study(open_study)
    elif open_first or screenshot is not None:
        uid = window.first_study_uid()
        if uid is not None:
            window.open_study(uid)
    if screenshot is not None:

        def shoot() -> None:
            window.screenshot().save(str(screenshot))
            print(f"wrote {screenshot}")
            app.quit()

        QTimer.singleShot(500, shoot)
    elif quit_after_s is not None:
        QTimer.singleShot(int(quit_after_s * 1000), app.quit)
    code = app.exec()
    archive.close()
    lock.release()
    return int(code)


def _fatal(message: str) -> int:
    """Say why the window cannot open: on stderr, in the log and, on a screen, in a dialog
    (offscreen no one could close it). Returns the exit code."""
    from PySide6.QtWidgets import QMessageBox

    log.error("%s", message)
    print(f"error: {message}", file=sys.stderr)
    if os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        QMessageBox.critical(None, "Reading Workstation", message)
    return 2
