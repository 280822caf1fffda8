"""VTK's Qt widget with the one fix every viewport here needs."""

from __future__ import annotations

from PySide6.QtGui import QResizeEvent
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
