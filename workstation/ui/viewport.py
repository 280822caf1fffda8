"""A 2D viewport: VTK's render window inside Qt, driven by a :class:`StackViewModel`.

Wheel and arrow keys scroll, right-drag changes the window (horizontal: width, vertical:
centre), Ctrl+wheel zooms, W cycles the windows stored in the file.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QPoint, Qt, Signal
from PySide6.QtGui import QImage, QKeyEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor

from workstation.core.errors import DecodeError
from workstation.viewer.scene2d import SliceScene
from workstation.viewer.stack import ImageStack
from workstation.viewer.stack_view import StackViewModel

log = logging.getLogger(__name__)


def _tr(text: str) -> str:
    return QCoreApplication.translate("ImageViewport", text)


class _VtkWidget(QVTKRenderWindowInteractor):
    """The VTK widget with Qt input routed to the viewport instead of VTK's camera styles."""

    def __init__(self, owner: ImageViewport) -> None:
        super().__init__(owner)
        self._owner = owner

    def wheelEvent(self, ev: QWheelEvent) -> None:
        self._owner.handle_wheel(ev)

    def keyPressEvent(self, ev: QKeyEvent) -> None:
        if not self._owner.handle_key(ev):
            super().keyPressEvent(ev)

    def keyReleaseEvent(self, ev: QKeyEvent) -> None:
        pass

    def mousePressEvent(self, ev: QMouseEvent) -> None:
        self.setFocus()
        self._owner.handle_press(ev)

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:
        self._owner.handle_move(ev)

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:
        self._owner.handle_release(ev)


class ImageViewport(QWidget):
    """One image viewport. ``image_changed`` carries the new 0-based index."""

    image_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = StackViewModel()
        self.vtk_widget = _VtkWidget(self)
        self.vtk_widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.vtk_widget)
        self.render_window = self.vtk_widget.GetRenderWindow()
        self.scene = SliceScene(self.render_window)
        # No VTK interactor style: camera moves only through the model.
        self.vtk_widget.GetRenderWindow().GetInteractor().SetInteractorStyle(None)
        self._drag_origin: QPoint | None = None
        self._subscription = self.model.changed.connect(self._redraw)
        self.error_text = ""
        self.vtk_widget.Initialize()

    # -- API ---------------------------------------------------------------------------------
    def set_stack(self, stack: ImageStack | None) -> None:
        self.model.set_stack(stack)

    def close_viewport(self) -> None:
        self._subscription.disconnect()
        self.vtk_widget.Finalize()

    def capture(self) -> QImage:
        """The rendered viewport as a QImage (QWidget.grab cannot read VTK's GL surface)."""
        rgb = np.ascontiguousarray(self.scene.capture())
        h, w = rgb.shape[:2]
        return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()

    # -- drawing -----------------------------------------------------------------------------
    def _redraw(self) -> None:
        m = self.model
        if m.stack is None:
            self.scene.clear_image()
            self.scene.set_corner_text(dict.fromkeys(("top_left", "top_right"), ""))
            self.scene.render()
            return
        try:
            display = m.stack.display(m.index, m.window)
            self.scene.set_image(display, m.stack.pixel_spacing(m.index))
            self.error_text = ""
            texts = m.corner_texts()
        except DecodeError as exc:
            log.warning("image could not be shown: %s", type(exc).__name__)
            self.error_text = str(exc)
            self.scene.clear_image()
            texts = m.corner_texts() if m.stack is not None else {}
            texts["bottom_right"] = _tr("Cannot display this image:") + "\n" + str(exc)
        self.scene.set_zoom(m.zoom)
        self.scene.set_corner_text(texts)
        self.scene.render()
        self.image_changed.emit(m.index)

    # -- input -------------------------------------------------------------------------------
    def handle_wheel(self, ev: QWheelEvent) -> None:
        steps = ev.angleDelta().y() / 120.0
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.model.set_zoom(self.model.zoom * (1.1**steps))
        else:
            # Wheel towards the user goes forward through the stack, as in PACS viewers.
            self.model.scroll(-round(steps) or (-1 if steps > 0 else 1))
        ev.accept()

    def handle_key(self, ev: QKeyEvent) -> bool:
        key = ev.key()
        page = max(1, self.model.count // 10)
        moves = {
            Qt.Key.Key_Down: 1,
            Qt.Key.Key_Right: 1,
            Qt.Key.Key_Up: -1,
            Qt.Key.Key_Left: -1,
            Qt.Key.Key_PageDown: page,
            Qt.Key.Key_PageUp: -page,
        }
        if key in moves:
            self.model.scroll(moves[key])
        elif key == Qt.Key.Key_Home:
            self.model.go_to(0)
        elif key == Qt.Key.Key_End:
            self.model.go_to(self.model.count - 1)
        elif key == Qt.Key.Key_W:
            self.model.cycle_file_window()
        elif key == Qt.Key.Key_R:
            if self.model.stack is not None:
                self.model.set_stack(self.model.stack, self.model.index)
        else:
            return False
        return True

    def handle_press(self, ev: QMouseEvent) -> None:
        if ev.button() == Qt.MouseButton.RightButton:
            self._drag_origin = ev.position().toPoint()

    def handle_move(self, ev: QMouseEvent) -> None:
        if self._drag_origin is None or self.model.window is None:
            return
        pos = ev.position().toPoint()
        dx = pos.x() - self._drag_origin.x()
        dy = pos.y() - self._drag_origin.y()
        self._drag_origin = pos
        # One screen pixel moves the window by 1/500 of its width, at least one unit.
        step = max(self.model.window.width / 500.0, 1.0)
        self.model.adjust_window(dy * step, dx * step)

    def handle_release(self, ev: QMouseEvent) -> None:
        self._drag_origin = None

    def closeEvent(self, ev: Any) -> None:
        self.close_viewport()
        super().closeEvent(ev)
