"""The state of a 2D stack viewport: which image, which window, zoom; no Qt, no VTK.

The Qt widget turns wheel, keys and drags into calls here and redraws on ``changed``.
"""

from __future__ import annotations

from workstation.core.errors import DecodeError
from workstation.core.events import Event
from workstation.viewer.annotations import corner_texts
from workstation.viewer.pixels import Window, file_windows
from workstation.viewer.stack import ImageStack


class StackViewModel:
    """Current image, window and zoom of one viewport."""

    def __init__(self) -> None:
        self.stack: ImageStack | None = None
        self.index = 0
        self.window: Window | None = None
        self.zoom = 1.0
        self.changed = Event("changed")  # emitted with no arguments after any state change
        self._windows: list[Window] = []
        self._window_choice = 0

    def set_stack(self, stack: ImageStack | None, index: int | None = None) -> None:
        self.stack = stack
        self.zoom = 1.0
        if stack is None:
            self.index = 0
            self.window = None
            self.changed.emit()
            return
        self.index = (len(stack) // 2) if index is None else max(0, min(index, len(stack) - 1))
        self._windows = file_windows(stack.frames[self.index].instance)
        self._window_choice = 0
        try:
            self.window = None if stack.is_color(self.index) else stack.default_window(self.index)
        except DecodeError:
            self.window = None
        self.changed.emit()

    @property
    def count(self) -> int:
        return len(self.stack) if self.stack is not None else 0

    def scroll(self, delta: int) -> None:
        """Move by ``delta`` images, stopping at the ends (no wrap: radiologists expect that)."""
        if self.stack is None:
            return
        new = max(0, min(self.index + delta, len(self.stack) - 1))
        if new != self.index:
            self.index = new
            self.changed.emit()

    def go_to(self, index: int) -> None:
        if self.stack is None:
            return
        self.scroll(index - self.index)

    def set_window(self, window: Window) -> None:
        self.window = window
        self.changed.emit()

    def adjust_window(self, d_center: float, d_width: float) -> None:
        """Drag-to-window: change centre and width by the given amounts (width stays ≥ 1)."""
        if self.window is None:
            return
        self.window = Window(
            self.window.center + d_center,
            max(1.0, self.window.width + d_width),
            "LINEAR" if self.window.function == "LINEAR_EXACT" else self.window.function,
        )
        self.changed.emit()

    def cycle_file_window(self) -> None:
        """Next of the windows stored in the file (PS3.3 C.11.2.1.2), if it has several."""
        if not self._windows:
            return
        self._window_choice = (self._window_choice + 1) % len(self._windows)
        self.set_window(self._windows[self._window_choice])

    def set_zoom(self, zoom: float) -> None:
        self.zoom = max(0.05, min(zoom, 50.0))
        self.changed.emit()

    def corner_texts(self) -> dict[str, str]:
        if self.stack is None:
            return {}
        return corner_texts(self.stack, self.index, self.window, self.zoom)
