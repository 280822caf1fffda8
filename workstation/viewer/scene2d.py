"""The VTK scene of a 2D viewport: one image, corner text; shared by the app and export-image.

The image arrives as 8-bit display values (the pixel pipeline ran in numpy), so what is drawn
is exactly what the pipeline computed; VTK only scales it to the viewport with
nearest-neighbour or linear interpolation. Row 0 is drawn at the top (camera view-up -y).
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping
from functools import lru_cache

import numpy as np
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkRenderingAnnotation import vtkCornerAnnotation
from vtkmodules.vtkRenderingCore import (
    vtkImageActor,
    vtkRenderer,
    vtkRenderWindow,
    vtkWindowToImageFilter,
)

import vtkmodules.vtkInteractionStyle  # isort: skip - registers styles
import vtkmodules.vtkRenderingFreeType  # isort: skip - text rendering
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  # isort: skip - OpenGL backend

CORNERS = ("bottom_left", "bottom_right", "top_left", "top_right")
_CORNER_INDEX = {"bottom_left": 0, "bottom_right": 1, "top_left": 2, "top_right": 3}
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/arial.ttf",
)


@lru_cache(maxsize=1)
def unicode_font() -> str | None:
    """A TrueType font with Arabic glyphs for VTK's text renderer, if one is installed."""
    for path in _FONT_CANDIDATES:
        if os.path.exists(path):
            return path
    return None


def shape_for_display(text: str) -> str:
    """Arabic letters joined and ordered for a renderer without shaping (FreeType in VTK)."""
    if not any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text):
        return text
    try:
        import arabic_reshaper
        from bidi.algorithm import get_display
    except ImportError:
        return text
    return "\n".join(get_display(arabic_reshaper.reshape(line)) for line in text.split("\n"))


class SliceScene:
    """Image actor plus corner annotation in a renderer of the given render window."""

    def __init__(self, render_window: vtkRenderWindow) -> None:
        self.render_window = render_window
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(0.0, 0.0, 0.0)
        render_window.AddRenderer(self.renderer)
        self.image_data = vtkImageData()
        self.actor = vtkImageActor()
        self.actor.GetMapper().SetInputData(self.image_data)
        # Draw edge pixels whole (the default stops at their centres, half a pixel short).
        self.actor.GetMapper().BorderOn()
        self.actor.InterpolateOff()
        self.actor.VisibilityOff()
        self.renderer.AddViewProp(self.actor)
        self.corners = vtkCornerAnnotation()
        self.corners.SetMaximumFontSize(16)
        self.corners.SetMinimumFontSize(9)
        self.corners.SetLinearFontScaleFactor(2)
        self.corners.SetNonlinearFontScaleFactor(1)
        prop = self.corners.GetTextProperty()
        prop.SetColor(0.92, 0.92, 0.75)
        prop.SetShadow(1)
        font = unicode_font()
        if font:
            prop.SetFontFamily(4)  # VTK_FONT_FILE
            prop.SetFontFile(font)
        self.renderer.AddViewProp(self.corners)
        self.corner_text: dict[str, str] = dict.fromkeys(CORNERS, "")
        self._array: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None
        self._spacing = (1.0, 1.0)
        self.zoom = 1.0
        self.pan = (0.0, 0.0)
        self.message = ""

    def set_image(self, display: np.ndarray, spacing_mm: tuple[float, float] | None) -> None:
        """Show an 8-bit image; ``spacing_mm`` is (row, column) spacing, None for square."""
        if display.dtype != np.uint8:
            raise TypeError("the scene shows 8-bit display values")
        rows, cols = display.shape[:2]
        comps = 1 if display.ndim == 2 else display.shape[2]
        row_sp, col_sp = spacing_mm if spacing_mm else (1.0, 1.0)
        arr = np.ascontiguousarray(display).reshape(rows * cols, comps)
        new_geometry = self._shape != display.shape or self._spacing != (row_sp, col_sp)
        self._array = arr  # keep alive: VTK shares its memory
        self.image_data.SetDimensions(cols, rows, 1)
        self.image_data.SetSpacing(col_sp, row_sp, 1.0)
        self.image_data.SetOrigin(0.0, 0.0, 0.0)
        vtk_arr = numpy_support.numpy_to_vtk(arr, deep=False)
        vtk_arr.SetNumberOfComponents(comps)
        self.image_data.GetPointData().SetScalars(vtk_arr)
        self.image_data.Modified()
        self.actor.VisibilityOn()
        self._shape = display.shape
        self._spacing = (row_sp, col_sp)
        if new_geometry:
            self.reset_camera()

    def clear_image(self, message: str = "") -> None:
        self.actor.VisibilityOff()
        self.message = message
        self._shape = None

    def set_corner_text(self, texts: Mapping[str, str]) -> None:
        for corner, text in texts.items():
            self.corner_text[corner] = text
            self.corners.SetText(_CORNER_INDEX[corner], shape_for_display(text))

    def set_interpolation(self, linear: bool) -> None:
        self.actor.SetInterpolate(1 if linear else 0)

    def reset_camera(self) -> None:
        """Fit the whole image, centred, row 0 at the top."""
        self.zoom = 1.0
        self.pan = (0.0, 0.0)
        self._apply_camera()

    def set_zoom(self, zoom: float) -> None:
        self.zoom = max(0.05, min(zoom, 50.0))
        self._apply_camera()

    def _apply_camera(self) -> None:
        if self._shape is None:
            return
        rows, cols = self._shape[:2]
        row_sp, col_sp = self._spacing
        # Pixel centres are at i*spacing, so the image spans -spacing/2 .. (n-0.5)*spacing.
        width_mm = cols * col_sp
        height_mm = rows * row_sp
        cx = (cols - 1) * col_sp / 2.0 + self.pan[0]
        cy = (rows - 1) * row_sp / 2.0 + self.pan[1]
        cam = self.renderer.GetActiveCamera()
        cam.ParallelProjectionOn()
        cam.SetFocalPoint(cx, cy, 0.0)
        cam.SetPosition(cx, cy, -1000.0)
        cam.SetViewUp(0.0, -1.0, 0.0)
        w, h = self.render_window.GetSize()
        aspect = (w / h) if w and h else 1.0
        scale = max(height_mm / 2.0, width_mm / 2.0 / aspect)
        cam.SetParallelScale(scale / self.zoom)
        self.renderer.ResetCameraClippingRange()

    def render(self) -> None:
        self._apply_camera()
        self.render_window.Render()

    def capture(self) -> np.ndarray:
        """The render window's pixels as an RGB array, row 0 at the top."""
        self.render()
        grab = vtkWindowToImageFilter()
        grab.SetInput(self.render_window)
        grab.SetInputBufferTypeToRGB()
        grab.ReadFrontBufferOff()
        grab.ShouldRerenderOff()
        grab.Update()
        img = grab.GetOutput()
        w, h, _ = img.GetDimensions()
        arr = numpy_support.vtk_to_numpy(img.GetPointData().GetScalars()).reshape(h, w, 3)
        return np.flipud(arr).copy()


def prefer_offscreen_backend() -> None:
    """Without a display, pick OSMesa (Mesa's software GL) before VTK tries X and warns."""
    if (
        not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
        and os.name == "posix"
        and "VTK_DEFAULT_OPENGL_WINDOW" not in os.environ
    ):
        os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = "vtkOSOpenGLRenderWindow"


def offscreen_window(width: int, height: int) -> vtkRenderWindow:
    """A render window that draws without a screen (OSMesa or EGL when no display exists)."""
    prefer_offscreen_backend()
    win = vtkRenderWindow()
    win.SetOffScreenRendering(1)
    win.SetSize(width, height)
    win.SetMultiSamples(0)
    return win
