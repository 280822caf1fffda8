"""VTK's Qt widget with the one fix every viewport here needs."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtGui import QKeyEvent, QMouseEvent, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QWidget
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor


class SizedVtkWidget(QVTKRenderWindowInteractor):
    """QVTKRenderWindowInteractor whose render window really takes the widget's size.

    The stock ``resizeEvent`` calls ``vtkRenderWindow.SetSize`` unbound, which VTK's Python
    wrapping runs non-virtually: an OSMesa window (offscreen) then keeps its 300×300 buffer
    while VTK draws and reads the larger size, which overruns the heap and crashes later.
    Calling ``SetSize`` on the object reaches the offscreen window's own resize.
    """

    def resizeEvent(self, ev: QResizeEvent) -> None:
        scale = self._getPixelRatio()
        w = round(scale * self.width())
        h = round(scale * self.height())
        rw = self.GetRenderWindow()
        rw.SetDPI(round(72 * scale))
        rw.SetSize(w, h)
        self._Iren.SetSize(w, h)
        self._Iren.ConfigureEvent()
        self.update()


class InputOwner(Protocol):
    """What a viewport offers the widget: one handler per kind of input."""

    def handle_wheel(self, ev: QWheelEvent) -> None: ...
    def handle_key(self, ev: QKeyEvent) -> bool: ...
    def handle_press(self, ev: QMouseEvent) -> None: ...
    def handle_move(self, ev: QMouseEvent) -> None: ...
    def handle_release(self, ev: QMouseEvent) -> None: ...


class RoutedVtkWidget(SizedVtkWidget):
    """The VTK widget with Qt input routed to its viewport instead of VTK's camera styles."""

    def __init__(self, owner: QWidget, handler: InputOwner | None = None) -> None:
        super().__init__(owner)
        self._owner: InputOwner = handler or owner  # type: ignore[assignment]

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
