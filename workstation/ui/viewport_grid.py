"""A grid of 2D viewports (1×1 … 3×3 and custom), one of them active."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QVBoxLayout, QWidget

from workstation.ui.series_browser import SERIES_MIME
from workstation.ui.viewport import ImageViewport

MAX_SIDE = 4
_ACTIVE = "QFrame#cell { border: 2px solid #4a86c5; }"
_IDLE = "QFrame#cell { border: 2px solid #1b1d21; }"


class _Cell(QFrame):
    """A viewport with a border that shows which one is active; accepts dropped series."""

    series_dropped = Signal(str)

    def __init__(self, viewport: ImageViewport) -> None:
        super().__init__()
        self.setObjectName("cell")
        self.viewport = viewport
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(viewport)
        self.setAcceptDrops(True)
        self.set_active(False)

    def set_active(self, active: bool) -> None:
        self.setStyleSheet(_ACTIVE if active else _IDLE)

    def dragEnterEvent(self, ev) -> None:  # type: ignore[no-untyped-def]
        if ev.mimeData().hasFormat(SERIES_MIME):
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:  # type: ignore[no-untyped-def]
        data = ev.mimeData().data(SERIES_MIME)
        if data:
            self.series_dropped.emit(bytes(data).decode("ascii"))
            ev.acceptProposedAction()


class ViewportGrid(QWidget):
    """Rows × columns of :class:`ImageViewport`; clicking one makes it active."""

    active_changed = Signal(int)
    series_dropped = Signal(int, str)  # viewport index, Series Instance UID
    measurements_changed = Signal(object, list)  # the viewport, its model's measurements
    status_message = Signal(str)
    calibration_changed = Signal(object, object)  # the viewport, its UserCalibration | None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Hanging protocols place images by position (frontal left of lateral, current left of
        # prior): the grid keeps that order in a mirrored (Arabic) interface too.
        self.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(0)
        self._cells: list[_Cell] = []
        self.rows = 0
        self.columns = 0
        self.active_index = 0
        self.set_layout(1, 1)

    @property
    def viewports(self) -> list[ImageViewport]:
        return [c.viewport for c in self._cells[: self.rows * self.columns]]

    @property
    def active(self) -> ImageViewport:
        return self.viewports[self.active_index]

    def set_layout(self, rows: int, columns: int) -> None:
        """Show rows × columns viewports; existing ones keep their images, extras close."""
        if not (1 <= rows <= MAX_SIDE and 1 <= columns <= MAX_SIDE):
            raise ValueError(f"a layout has 1 to {MAX_SIDE} rows and columns")
        n = rows * columns
        while len(self._cells) < n:
            vp = ImageViewport()
            cell = _Cell(vp)
            index = len(self._cells)
            cell.series_dropped.connect(lambda uid, i=index: self.series_dropped.emit(i, uid))
            vp.measurements_changed.connect(lambda ms, v=vp: self.measurements_changed.emit(v, ms))
            vp.status_message.connect(self.status_message)
            vp.calibration_changed.connect(lambda c, v=vp: self.calibration_changed.emit(v, c))
            vp.vtk_widget.installEventFilter(self)
            self._cells.append(cell)
        for cell in self._cells[n:]:
            _retire(cell)
            self._grid.removeWidget(cell)
            cell.deleteLater()
        self._cells = self._cells[:n]
        for i, cell in enumerate(self._cells):
            self._grid.removeWidget(cell)
            self._grid.addWidget(cell, i // columns, i % columns)
        for r in range(MAX_SIDE):
            self._grid.setRowStretch(r, 1 if r < rows else 0)
        for c in range(MAX_SIDE):
            self._grid.setColumnStretch(c, 1 if c < columns else 0)
        self.rows, self.columns = rows, columns
        self.set_active(min(self.active_index, n - 1))

    def set_active(self, index: int) -> None:
        self.active_index = index
        for i, cell in enumerate(self._cells):
            cell.set_active(i == index and len(self._cells) > 1)
        self.active_changed.emit(index)

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:
        if ev.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.FocusIn):
            for i, cell in enumerate(self._cells):
                if cell.viewport.vtk_widget is obj and i != self.active_index:
                    self.set_active(i)
                    break
        return False

    def close_all(self) -> None:
        for cell in self._cells:
            _retire(cell)

    def keyboard_focus(self) -> None:
        self.active.vtk_widget.setFocus(Qt.FocusReason.OtherFocusReason)


def _retire(cell: _Cell) -> None:
    """Stop painting before the render window goes: a paint event after Finalize crashes."""
    cell.viewport.vtk_widget.setUpdatesEnabled(False)
    cell.hide()
    cell.viewport.close_viewport()
