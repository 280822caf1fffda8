"""The VTK scene of a 2D viewport: image, corner text, orientation letters, scale bar,
measurements and overlay planes; shared by the app and export-image.

The image arrives as 8-bit display values (the pixel pipeline ran in numpy), so what is drawn
is exactly what the pipeline computed; VTK only scales it to the viewport with
nearest-neighbour or linear interpolation. The camera follows a
:class:`~workstation.viewer.stack_view.DisplayTransform` (zoom, pan, rotation, flips); with none
set, row 0 is drawn at the top and the image fills the window pixel for pixel at its native
size. Everything drawn over the image is placed in display pixels through the same transform.
The corner text is laid out as vtkCornerAnnotation does; in narrow viewports the edge letters
and the scale bar step past the corner blocks, and a left and a right line that would meet are
elided with "…".
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkImageData, vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkActor2D,
    vtkImageActor,
    vtkPolyDataMapper2D,
    vtkRenderer,
    vtkRenderWindow,
    vtkTextActor,
    vtkTextMapper,
    vtkTextProperty,
    vtkWindowToImageFilter,
)

from workstation.core.fonts import best_cover, font_characters
from workstation.core.measure import Measurement, MeasurementKind
from workstation.viewer.overlays import (
    EDGES,
    OverlayPlane,
    burn_in,
    edge_labels,
    format_length,
    scale_bar_length,
)
from workstation.viewer.stack_view import DisplayTransform
from workstation.viewer.tools import format_measurement, handles, outline, partial_outline

import vtkmodules.vtkInteractionStyle  # isort: skip - registers styles
import vtkmodules.vtkRenderingFreeType  # isort: skip - text rendering
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  # isort: skip - OpenGL backend

CORNERS = ("bottom_left", "bottom_right", "top_left", "top_right")
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


# Fonts with the glyphs DejaVu Sans lacks (Chinese, Japanese including half-width kana,
# Korean), each with Latin too, as a corner block mixes a name with IDs and dates.
_FALLBACK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # Debian fonts-wqy-microhei
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian fonts-noto-cjk
)
MISSING_GLYPH = "?"


@lru_cache(maxsize=512)
def overlay_font(text: str) -> tuple[str | None, str]:
    """The font file to draw ``text`` in (None: VTK's own), and the text as drawn.

    VTK's FreeType renderer draws one font file per text and silently drops a character the
    font has no glyph for: a Korean or Japanese patient name showed as a lone comma. The first
    installed font with a glyph for every character is taken (DejaVu Sans, then the CJK
    fallbacks); where none has them all, the one that lacks fewest, its missing characters
    drawn as "?" so that the reader sees something is not shown.
    """
    primary = unicode_font()
    if text.isascii() or primary is None:
        return primary, text
    candidates = (primary, *(p for p in _FALLBACK_FONTS if os.path.exists(p)))
    fonts = [p for p in candidates if font_characters(p)]  # those readable as fonts
    if not fonts:
        return primary, text
    index, missing = best_cover(text, [font_characters(p) for p in fonts])
    if missing:
        text = "".join(MISSING_GLYPH if ord(ch) in missing else ch for ch in text)
    return fonts[index], text


def _set_text(holder: vtkTextMapper | vtkTextActor, text: str) -> None:
    """``holder`` shows ``text`` in a font that has its glyphs (:func:`overlay_font`)."""
    font, shown = overlay_font(text)
    prop = holder.GetTextProperty()
    if font is not None and prop.GetFontFile() != font:
        prop.SetFontFamily(4)  # VTK_FONT_FILE
        prop.SetFontFile(font)
    holder.SetInput(shown)


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


_LINE_COLOR = (1.0, 0.82, 0.2)
_SELECTED_COLOR = (0.35, 1.0, 0.45)
_PREVIEW_COLOR = (0.45, 0.85, 1.0)
_TEXT_COLOR = (0.92, 0.92, 0.75)
_PROBE_ARM_PX = 7.0
_HANDLE_PX = 3.5


class _Lines2D:
    """A set of polylines drawn in display pixels, one colour."""

    def __init__(self, renderer: vtkRenderer, color: tuple[float, float, float]) -> None:
        self.polydata = vtkPolyData()
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(self.polydata)
        self.actor = vtkActor2D()
        self.actor.SetMapper(mapper)
        prop = self.actor.GetProperty()
        prop.SetColor(*color)
        prop.SetLineWidth(1.5)
        renderer.AddViewProp(self.actor)
        self.lines: list[list[tuple[float, float]]] = []

    def set_lines(self, lines: Sequence[Sequence[tuple[float, float]]], height: int) -> None:
        """Polylines in display coordinates (y down); VTK's viewport y points up."""
        self.lines = [list(line) for line in lines if len(line) >= 2]
        points = vtkPoints()
        cells = vtkCellArray()
        for line in self.lines:
            cells.InsertNextCell(len(line))
            for x, y in line:
                cells.InsertCellPoint(points.InsertNextPoint(x, height - y, 0.0))
        self.polydata.SetPoints(points)
        self.polydata.SetLines(cells)
        self.polydata.Modified()
        self.actor.SetVisibility(1 if self.lines else 0)


def _style_text(prop: vtkTextProperty) -> None:
    """The overlay text look: colour, shadow, and a font with Arabic glyphs when there is one."""
    prop.SetColor(*_TEXT_COLOR)
    prop.SetShadow(1)
    font = unicode_font()
    if font:
        prop.SetFontFamily(4)  # VTK_FONT_FILE
        prop.SetFontFile(font)


def _text_actor(renderer: vtkRenderer, size: int = 14) -> vtkTextActor:
    actor = vtkTextActor()
    prop = actor.GetTextProperty()
    prop.SetFontSize(size)
    _style_text(prop)
    actor.VisibilityOff()
    renderer.AddViewProp(actor)
    return actor


# The corner blocks as vtkCornerAnnotation lays them out (VTK's vtkCornerAnnotation.cxx): 5 px
# from the edges; the largest font at which the blocks fill at most 90 % of the viewport,
# doubled (LinearFontScaleFactor 2), at most 16 points, and not drawn at all below 9.
_CORNER_MARGIN = 5
_CORNER_FONT_START = 15
_CORNER_FONT_SCALE = 2
_CORNER_MAX_FONT = 16
_CORNER_MIN_FONT = 9
_CORNER_JUSTIFY = {
    "bottom_left": ("Left", "Bottom"),
    "bottom_right": ("Right", "Bottom"),
    "top_left": ("Left", "Top"),
    "top_right": ("Right", "Top"),
}
_LETTER_MARGIN = 8
_GAP_PX = 4  # least room between a letter and a corner block
_LINE_GAP_PX = 10  # least room between a left and a right corner line on one row
_SCALE_BAR_FROM_BOTTOM = 34
ELLIPSIS = "\u2026"

#: A text's extent in display pixels: (x0, y0, x1, y1), y pointing up as in VTK's viewport.
Box = tuple[float, float, float, float]


def boxes_overlap(a: Box, b: Box) -> bool:
    """Whether two display boxes share any area (touching edges do not count)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _number_of_lines(text: str) -> int:
    return text.count("\n") + 1 if text else 0


def _is_right_to_left(line: str) -> bool:
    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in line)


def shorten_line(line: str) -> str:
    """``line`` one character shorter, marked with an ellipsis where text was cut: at the end,
    or for right-to-left text (already in display order) at the start, its logical end."""
    rtl = _is_right_to_left(line)
    core = line.removeprefix(ELLIPSIS) if rtl else line.removesuffix(ELLIPSIS)
    core = core[1:] if rtl else core[:-1]
    if not core.strip():
        return ""
    return ELLIPSIS + core.lstrip() if rtl else core.rstrip() + ELLIPSIS


def _corner_text_property(mapper: vtkTextMapper, corner: str) -> None:
    prop = mapper.GetTextProperty()
    _style_text(prop)
    horizontal, vertical = _CORNER_JUSTIFY[corner]
    getattr(prop, f"SetJustificationTo{horizontal}")()
    getattr(prop, f"SetVerticalJustificationTo{vertical}")()


# Approximate size of label text at 14 points, to keep labels from covering each other.
_LABEL_LINE_PX = 17.0
_LABEL_CHAR_PX = 8.0

_Label = tuple[str, tuple[float, float], tuple[float, float, float]]


def _spread_labels(labels: Sequence[_Label]) -> list[_Label]:
    """Move each label (left-anchored, vertically centred) below any earlier one it covers."""
    placed: list[tuple[float, float, float, float]] = []  # x0, y0, x1, y1 (y down)
    out = []
    for text, (x, y), color in labels:
        lines = text.split("\n")
        h = len(lines) * _LABEL_LINE_PX
        w = max(len(line) for line in lines) * _LABEL_CHAR_PX
        y0 = y - h / 2.0
        moved = True
        while moved:
            moved = False
            for bx0, by0, bx1, by1 in placed:
                if x < bx1 and x + w > bx0 and y0 < by1 and y0 + h > by0:
                    y0 = by1 + 2.0
                    moved = True
        placed.append((x, y0, x + w, y0 + h))
        out.append((text, (x, y0 + h / 2.0), color))
    return out


class SliceScene:
    """Image actor, corner annotation and the 2D drawings of one viewport's renderer."""

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
        # The four corner blocks: text mappers on 2D actors, sized and placed as VTK's
        # vtkCornerAnnotation does (so a large viewport looks the same), but measurable, so
        # that narrow viewports can keep the blocks and the edge letters apart.
        self._corner_mappers: dict[str, vtkTextMapper] = {}
        self._corner_actors: dict[str, vtkActor2D] = {}
        for corner in CORNERS:
            mapper = vtkTextMapper()
            _corner_text_property(mapper, corner)
            actor2d = vtkActor2D()
            actor2d.SetMapper(mapper)
            actor2d.VisibilityOff()
            self.renderer.AddViewProp(actor2d)
            self._corner_mappers[corner] = mapper
            self._corner_actors[corner] = actor2d
        self._corner_font_guess = _CORNER_FONT_START
        self._corner_too_wide = False  # the last fit fell back to the smallest size for width
        self.corner_font_size = 0  # font size of the corner text at the last render
        self.corner_text: dict[str, str] = dict.fromkeys(CORNERS, "")
        self.corner_shown: dict[str, str] = dict.fromkeys(CORNERS, "")  # as drawn (elided)
        self.corner_boxes: dict[str, Box] = {}  # display boxes of the blocks drawn, by corner
        self._corner_layout_key: tuple[object, ...] | None = None
        self._line_mapper = vtkTextMapper()
        _corner_text_property(self._line_mapper, "top_left")
        self._array: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None
        self._spacing = (1.0, 1.0)
        self._has_spacing = False
        self.zoom = 1.0
        self.pan = (0.0, 0.0)  # pan_mm of DisplayTransform
        self.rotation = 0
        self.flip_h = False
        self.flip_v = False
        self.message = ""
        # Orientation letters and scale bar: off unless asked (export draws the bare image).
        self.show_orientation = False
        self.show_scale_bar = False
        self._orientation: tuple[float, ...] | None = None
        self.orientation_text: dict[str, str] = dict.fromkeys(EDGES, "")
        self._letters = {edge: _text_actor(self.renderer, 18) for edge in EDGES}
        self.scale_bar_mm: float | None = None
        self.scale_bar_label = ""
        self._scale_lines = _Lines2D(self.renderer, _TEXT_COLOR)
        self._scale_text = _text_actor(self.renderer, 13)
        self._bottom_letter_lift = 0.0  # how far the bottom letter moved up off the corners
        # Measurements
        self._measurements: list[Measurement] = []
        self._selected_id: str | None = None
        self._preview: Measurement | None = None
        self._preview_kind: MeasurementKind | None = None
        self._preview_points: tuple[tuple[float, float], ...] = ()
        self._value_unit = ""
        self._normal_lines = _Lines2D(self.renderer, _LINE_COLOR)
        self._selected_lines = _Lines2D(self.renderer, _SELECTED_COLOR)
        self._preview_lines = _Lines2D(self.renderer, _PREVIEW_COLOR)
        self._labels: list[vtkTextActor] = []
        self.label_text: list[str] = []  # labels drawn at the last render, in order

    # -- image --------------------------------------------------------------------------------
    def set_image(
        self,
        display: np.ndarray,
        spacing_mm: tuple[float, float] | None,
        overlays: Sequence[OverlayPlane] = (),
        frame: int = 0,
    ) -> None:
        """Show an 8-bit image; ``spacing_mm`` is (row, column) spacing, None for square.

        ``overlays`` are the image's overlay planes (PS3.3 C.9.2), drawn on frame ``frame``.
        """
        if display.dtype != np.uint8:
            raise TypeError("the scene shows 8-bit display values")
        if overlays:
            display = burn_in(display, overlays, frame)
        rows, cols = display.shape[:2]
        comps = 1 if display.ndim == 2 else display.shape[2]
        row_sp, col_sp = spacing_mm if spacing_mm else (1.0, 1.0)
        self._has_spacing = bool(spacing_mm)
        arr = np.ascontiguousarray(display).reshape(rows * cols, comps)
        new_geometry = self._shape is None or self._shape[:2] != display.shape[:2]
        new_geometry = new_geometry or self._spacing != (row_sp, col_sp)
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
        """The text of each corner block (several lines), drawn at the next render."""
        for corner, text in texts.items():
            self.corner_text[corner] = text

    def set_interpolation(self, linear: bool) -> None:
        self.actor.SetInterpolate(1 if linear else 0)

    # -- view ---------------------------------------------------------------------------------
    def reset_camera(self) -> None:
        """Fit the whole image, centred, row 0 at the top, no rotation or flip."""
        self.zoom = 1.0
        self.pan = (0.0, 0.0)
        self.rotation = 0
        self.flip_h = self.flip_v = False
        self._apply_camera()

    def set_zoom(self, zoom: float) -> None:
        self.zoom = max(0.05, min(zoom, 50.0))
        self._apply_camera()

    def set_view(
        self,
        zoom: float = 1.0,
        pan_mm: tuple[float, float] = (0.0, 0.0),
        rotation: int = 0,
        flip_h: bool = False,
        flip_v: bool = False,
    ) -> None:
        """Zoom, pan (mm, see :class:`DisplayTransform`), clockwise rotation and flips."""
        if rotation % 90:
            raise ValueError("the image turns in steps of 90 degrees")
        self.zoom = max(0.05, min(zoom, 50.0))
        self.pan = (float(pan_mm[0]), float(pan_mm[1]))
        self.rotation = rotation % 360
        self.flip_h, self.flip_v = bool(flip_h), bool(flip_v)
        self._apply_camera()

    def transform(self) -> DisplayTransform | None:
        """Image pixel <-> display pixel mapping of what is drawn now (None without image)."""
        if self._shape is None:
            return None
        rows, cols = self._shape[:2]
        w, h = self.render_window.GetSize()
        return DisplayTransform(
            rows,
            cols,
            self._spacing,
            int(w),
            int(h),
            self.rotation,
            self.flip_h,
            self.flip_v,
            self.zoom,
            self.pan,
        )

    def _apply_camera(self) -> None:
        t = self.transform()
        if t is None:
            return
        m = t.matrix
        cx, cy = t.image_center_mm
        fx, fy = cx + t.pan_mm[0], cy + t.pan_mm[1]
        # The screen's x axis is row 0 of M in image axes, its downward y axis row 1.
        right = np.array([m[0][0], m[0][1], 0.0])
        up = -np.array([m[1][0], m[1][1], 0.0])
        # VTK: right = direction of projection x view-up, so the direction is up x right.
        # A mirrored view (det M = -1) looks at the image from its back.
        direction = np.cross(up, right)
        cam = self.renderer.GetActiveCamera()
        cam.ParallelProjectionOn()
        cam.SetFocalPoint(fx, fy, 0.0)
        cam.SetPosition(
            fx - 1000.0 * direction[0], fy - 1000.0 * direction[1], -1000.0 * direction[2]
        )
        cam.SetViewUp(float(up[0]), float(up[1]), 0.0)
        height = t.height if t.height > 0 else 1
        cam.SetParallelScale(height / (2.0 * t.scale))
        self.renderer.ResetCameraClippingRange()

    # -- corner text and edge letters -----------------------------------------------------------
    def _text_size(self, mapper: vtkTextMapper, font_size: int) -> tuple[int, int]:
        mapper.GetTextProperty().SetFontSize(font_size)
        size = [0, 0]
        mapper.GetSize(self.renderer, size)
        return int(size[0]), int(size[1])

    def _fit_corner_font(self, texts: Mapping[str, str], w: int, h: int) -> int:
        """The corner font size vtkCornerAnnotation would choose for ``texts`` (0: hidden)."""
        if not any(texts.values()):
            return 0
        for corner, mapper in self._corner_mappers.items():
            _set_text(mapper, texts[corner])
        lines = {c: _number_of_lines(t) for c, t in texts.items()}
        line_max_left = int(h) * max(lines["bottom_left"] + lines["top_left"], 1)
        line_max_right = int(h) * max(lines["bottom_right"] + lines["top_right"], 1)
        target_w, target_h = int(0.9 * w), int(0.9 * h)

        def measure(size: int) -> tuple[int, int, int]:
            s = {c: self._text_size(m, size) for c, m in self._corner_mappers.items()}
            left = s["bottom_left"][1] + s["top_left"][1]
            right = s["bottom_right"][1] + s["top_right"][1]
            width = max(
                s["bottom_left"][0] + s["bottom_right"][0], s["top_left"][0] + s["top_right"][0]
            )
            return left, right, width

        def too_small(size: int) -> bool:
            left, right, width = measure(size)
            return (
                left < target_h
                and right < target_h
                and width < target_w
                and left < line_max_left
                and right < line_max_right
            )

        def too_large(size: int) -> bool:
            left, right, width = measure(size)
            return (
                left > target_h
                or right > target_h
                or width > target_w
                or left > line_max_left
                or right > line_max_right
            )

        self._corner_too_wide = False
        size = self._corner_font_guess
        while size < 100 and too_small(size):
            size += 1
        while size > 0 and too_large(size):
            size -= 1
        # The next fit starts here: a new slice's text fits at about the same size.
        self._corner_font_guess = max(size, 1)
        scaled = min(size * _CORNER_FONT_SCALE, _CORNER_MAX_FONT)
        if scaled >= _CORNER_MIN_FONT:
            return scaled
        # Too small for the width alone (one long line, an error message): the smallest size
        # with the long lines elided, rather than no text at all, the patient's name included.
        left, right, _ = measure(-(-_CORNER_MIN_FONT // _CORNER_FONT_SCALE))
        fits_height = max(left, right) <= target_h
        self._corner_too_wide = fits_height and left <= line_max_left and right <= line_max_right
        return _CORNER_MIN_FONT if self._corner_too_wide else 0

    def _line_width(self, line: str, font_size: int) -> int:
        mapper = self._line_mapper
        _set_text(mapper, line)
        return self._text_size(mapper, font_size)[0] if line else 0

    def _elide(self, texts: dict[str, str], font_size: int, w: int) -> dict[str, str]:
        """Shorten the longer of a left and a right line on the same row until the two leave
        ``_LINE_GAP_PX`` between them (the longer is cut until both are as long, then both
        in turn); rows count from the top of the top blocks and from the bottom of the bottom
        blocks, where each pair shares its height."""
        room = w - 2 * _CORNER_MARGIN - _LINE_GAP_PX
        out = dict(texts)
        for left, right, from_top in (
            ("top_left", "top_right", True),
            ("bottom_left", "bottom_right", False),
        ):
            lines_l = out[left].split("\n") if out[left] else []
            lines_r = out[right].split("\n") if out[right] else []
            for k in range(min(len(lines_l), len(lines_r))):
                i = k if from_top else len(lines_l) - 1 - k
                j = k if from_top else len(lines_r) - 1 - k
                width_l = self._line_width(lines_l[i], font_size)
                width_r = self._line_width(lines_r[j], font_size)
                while width_l + width_r > room and (lines_l[i] or lines_r[j]):
                    if width_l >= width_r:
                        lines_l[i] = shorten_line(lines_l[i])
                        width_l = self._line_width(lines_l[i], font_size)
                    else:
                        lines_r[j] = shorten_line(lines_r[j])
                        width_r = self._line_width(lines_r[j], font_size)
            out[left], out[right] = "\n".join(lines_l), "\n".join(lines_r)
        if not self._corner_too_wide:
            return out  # the fit keeps every block within the width
        whole = w - 2 * _CORNER_MARGIN  # a line with no line beside it: the viewport's width
        for corner, text in out.items():
            lines = text.split("\n") if text else []
            for i, line in enumerate(lines):
                while line and self._line_width(line, font_size) > whole:
                    line = shorten_line(line)
                lines[i] = line
            out[corner] = "\n".join(lines)
        return out

    def _draw_corners(self) -> None:
        """Lay out the four corner blocks as vtkCornerAnnotation would, eliding lines where a
        left and a right block would run into each other (narrow viewports)."""
        w, h = (int(v) for v in self.render_window.GetSize())
        shaped = {c: shape_for_display(self.corner_text[c]) for c in CORNERS}
        key = (w, h, tuple(shaped.values()))
        if key != self._corner_layout_key:
            self._corner_layout_key = key
            font_size = self._fit_corner_font(shaped, w, h)
            shown = self._elide(shaped, font_size, w) if font_size else dict.fromkeys(CORNERS, "")
            self.corner_font_size = font_size
            self.corner_shown = shown
            self.corner_boxes = {}
            for corner in CORNERS:
                mapper, actor = self._corner_mappers[corner], self._corner_actors[corner]
                text = shown[corner]
                _set_text(mapper, text)
                if not text:
                    actor.VisibilityOff()
                    continue
                cw, ch = self._text_size(mapper, font_size)
                right = corner.endswith("right")
                top = corner.startswith("top")
                x = w - _CORNER_MARGIN if right else _CORNER_MARGIN
                y = h - _CORNER_MARGIN if top else _CORNER_MARGIN
                actor.SetPosition(x, y)
                actor.VisibilityOn()
                self.corner_boxes[corner] = (
                    float(x - cw if right else x),
                    float(y - ch if top else y),
                    float(x if right else x + cw),
                    float(y if top else y + ch),
                )

    def letter_boxes(self) -> dict[str, Box]:
        """The display boxes of the edge letters drawn at the last render, by edge."""
        out = {}
        for edge, actor in self._letters.items():
            if actor.GetVisibility():
                bb = [0.0] * 4
                actor.GetBoundingBox(self.renderer, bb)  # relative to its position
                x, y = actor.GetPosition()
                out[edge] = (x + bb[0], y + bb[2], x + bb[1], y + bb[3])
        return out

    # -- drawings -----------------------------------------------------------------------------
    def set_orientation(self, image_orientation_patient: Sequence[float] | None) -> None:
        """Image Orientation (Patient) of the image, for the edge letters (None: no letters)."""
        self._orientation = tuple(image_orientation_patient) if image_orientation_patient else None

    def set_measurements(
        self,
        measurements: Sequence[Measurement],
        selected_id: str | None = None,
        preview: Measurement | None = None,
        preview_kind: MeasurementKind | None = None,
        preview_points: Sequence[tuple[float, float]] = (),
        value_unit: str = "",
    ) -> None:
        """The measurements on this image, the selected one, and the one being drawn."""
        self._measurements = list(measurements)
        self._selected_id = selected_id
        self._preview = preview
        self._preview_kind = preview_kind
        self._preview_points = tuple(preview_points)
        self._value_unit = value_unit

    def _update_drawings(self) -> None:
        t = self.transform()
        self._draw_corners()
        if t is None or not self.actor.GetVisibility():
            for lines in (self._normal_lines, self._selected_lines, self._preview_lines):
                lines.set_lines([], 1)
            self._scale_lines.set_lines([], 1)
            self._scale_text.VisibilityOff()
            for actor in (*self._letters.values(), *self._labels):
                actor.VisibilityOff()
            self.orientation_text = dict.fromkeys(EDGES, "")
            self.scale_bar_mm = None
            self.label_text = []
            return
        self._draw_letters(t)
        self._draw_scale_bar(t)
        self._draw_measurements(t)

    def _draw_letters(self, t: DisplayTransform) -> None:
        if self.show_orientation:
            self.orientation_text = edge_labels(self._orientation, t.rotation, t.flip_h, t.flip_v)
        else:
            self.orientation_text = dict.fromkeys(EDGES, "")
        w, h = t.width, t.height
        places = {
            "left": ((8, h / 2.0), "left", "center"),
            "right": ((w - 8, h / 2.0), "right", "center"),
            "top": ((w / 2.0, h - 8), "center", "top"),
            "bottom": ((w / 2.0, 8), "center", "bottom"),
        }
        for edge, actor in self._letters.items():
            text = self.orientation_text[edge]
            if not text:
                actor.VisibilityOff()
                continue
            (x, y), hj, vj = places[edge]
            prop = actor.GetTextProperty()
            getattr(
                prop,
                {
                    "left": "SetJustificationToLeft",
                    "right": "SetJustificationToRight",
                    "center": "SetJustificationToCentered",
                }[hj],
            )()
            getattr(
                prop,
                {
                    "top": "SetVerticalJustificationToTop",
                    "bottom": "SetVerticalJustificationToBottom",
                    "center": "SetVerticalJustificationToCentered",
                }[vj],
            )()
            actor.SetInput(text)
            actor.SetDisplayPosition(round(x), round(y))
            actor.VisibilityOn()
        self._keep_letters_off_corners()

    def _keep_letters_off_corners(self) -> None:
        """Move a letter that would cover a corner block just past it: the top letter below
        the top blocks it meets, the bottom one above, the side ones beside. Where nothing
        meets (large viewports) the letters stay at their places by the edges."""
        self._bottom_letter_lift = 0.0
        corners = self.corner_boxes
        for edge, box in self.letter_boxes().items():
            actor = self._letters[edge]
            x, y = actor.GetPosition()
            grown = (box[0] - _GAP_PX, box[1] - _GAP_PX, box[2] + _GAP_PX, box[3] + _GAP_PX)
            hit = [c for c in corners.values() if boxes_overlap(grown, c)]
            if not hit:
                continue
            if edge == "top":
                dy = min(c[1] for c in hit) - _GAP_PX - box[3]
                actor.SetDisplayPosition(round(x), round(y + dy))
            elif edge == "bottom":
                dy = max(c[3] for c in hit) + _GAP_PX - box[1]
                actor.SetDisplayPosition(round(x), round(y + dy))
                self._bottom_letter_lift = round(y + dy) - y
            elif edge == "left":
                dx = max(c[2] for c in hit) + _GAP_PX - box[0]
                actor.SetDisplayPosition(round(x + dx), round(y))
            else:
                dx = min(c[0] for c in hit) - _GAP_PX - box[2]
                actor.SetDisplayPosition(round(x + dx), round(y))

    def _draw_scale_bar(self, t: DisplayTransform) -> None:
        length = None
        if self.show_scale_bar and self._has_spacing:
            length = scale_bar_length(t.scale, 0.25 * t.width)
        self.scale_bar_mm = length
        if length is None:
            self._scale_lines.set_lines([], t.height)
            self._scale_text.VisibilityOff()
            return
        px = length * t.scale
        x0, x1 = t.width / 2.0 - px / 2.0, t.width / 2.0 + px / 2.0
        # Above the bottom letter (lifted with it) and above the bottom corner blocks it
        # would cross (narrow viewports); y points down here.
        above = _SCALE_BAR_FROM_BOTTOM + self._bottom_letter_lift
        for box in self.corner_boxes.values():
            if box[1] < _SCALE_BAR_FROM_BOTTOM and box[0] < x1 + _GAP_PX and x0 - _GAP_PX < box[2]:
                above = max(above, box[3] + _GAP_PX)
        y = t.height - above
        self._scale_lines.set_lines(
            [
                [(x0, y - 5), (x0, y), (x1, y), (x1, y - 5)],
                [(t.width / 2.0, y), (t.width / 2.0, y - 3)],
            ],
            t.height,
        )
        self.scale_bar_label = format_length(length)
        prop = self._scale_text.GetTextProperty()
        prop.SetJustificationToCentered()
        prop.SetVerticalJustificationToBottom()
        self._scale_text.SetInput(self.scale_bar_label)
        self._scale_text.SetDisplayPosition(round(t.width / 2.0), round(t.height - y + 6))
        self._scale_text.VisibilityOn()

    def _draw_measurements(self, t: DisplayTransform) -> None:
        def to_display(line: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
            return [t.image_to_display(c, r) for c, r in line]

        normal: list[list[tuple[float, float]]] = []
        selected: list[list[tuple[float, float]]] = []
        preview: list[list[tuple[float, float]]] = []
        labels: list[tuple[str, tuple[float, float], tuple[float, float, float]]] = []

        def add(
            m: Measurement,
            target: list[list[tuple[float, float]]],
            color: tuple[float, float, float],
            is_selected: bool,
        ) -> None:
            lines = [to_display(line) for line in outline(m)]
            if m.kind is MeasurementKind.PROBE:
                x, y = t.image_to_display(*m.points[0])
                a = _PROBE_ARM_PX
                lines = [[(x - a, y), (x + a, y)], [(x, y - a), (x, y + a)]]
            target.extend(lines)
            if is_selected:
                for hx, hy in (t.image_to_display(*p) for p in handles(m)):
                    d = _HANDLE_PX
                    target.append(
                        [
                            (hx - d, hy - d),
                            (hx + d, hy - d),
                            (hx + d, hy + d),
                            (hx - d, hy + d),
                            (hx - d, hy - d),
                        ]
                    )
            flat = [p for line in lines for p in line]
            if flat:
                anchor = max(flat, key=lambda p: (p[0], -p[1]))
                labels.append(
                    (format_measurement(m, self._value_unit), (anchor[0] + 10, anchor[1]), color)
                )

        for m in self._measurements:
            sel = m.measurement_id == self._selected_id
            add(m, selected if sel else normal, _SELECTED_COLOR if sel else _TEXT_COLOR, sel)
        if self._preview is not None:
            add(self._preview, preview, _PREVIEW_COLOR, False)
        elif self._preview_kind is not None and self._preview_points:
            preview.extend(
                to_display(line)
                for line in partial_outline(self._preview_kind, self._preview_points)
            )
        self._normal_lines.set_lines(normal, t.height)
        self._selected_lines.set_lines(selected, t.height)
        self._preview_lines.set_lines(preview, t.height)
        while len(self._labels) < len(labels):
            self._labels.append(_text_actor(self.renderer, 14))
        self.label_text = [text for text, _, _ in labels]
        labels = _spread_labels(labels)
        for i, actor in enumerate(self._labels):
            if i >= len(labels):
                actor.VisibilityOff()
                continue
            text, (x, y), color = labels[i]
            prop = actor.GetTextProperty()
            prop.SetColor(*color)
            prop.SetVerticalJustificationToCentered()
            _set_text(actor, text)
            actor.SetDisplayPosition(round(x), round(t.height - y))
            actor.VisibilityOn()

    # -- output -------------------------------------------------------------------------------
    def render(self) -> None:
        self._apply_camera()
        self._update_drawings()
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
