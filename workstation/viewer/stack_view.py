"""The state of a 2D stack viewport, and its display transform; no Qt, no VTK.

The Qt widget turns wheel, keys and drags into calls here and redraws on ``changed``. The
model holds which image, which window, the view (zoom, pan, rotation, flips, invert), the
active tool and the measurements; :class:`DisplayTransform` maps image pixels to viewport
pixels and back as pure arithmetic, so tests check where a pixel lands after a rotation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from workstation.archive.audit import current_user
from workstation.archive.local import LocalArchive
from workstation.core.errors import DecodeError, WorkstationError
from workstation.core.events import Event
from workstation.core.measure import (
    Line,
    Measurement,
    MeasurementError,
    MeasurementKind,
    PixelCalibration,
    Point,
    ProbeResult,
    UserCalibration,
    calibrate_from_line,
    effective_calibration,
    length_mm,
    needs_recalibration,
    probe,
    recalibrate,
    shares_geometry,
    user_calibration_base,
)
from workstation.viewer.annotations import corner_texts
from workstation.viewer.pixels import Voi, Window
from workstation.viewer.presets import PresetBook, WindowPreset, load_presets
from workstation.viewer.stack import ImageStack
from workstation.viewer.tools import (
    MEASURE_TOOLS,
    Hit,
    ImageContext,
    PointCollector,
    Tool,
    edit_measurement,
    hit_test,
    measure_tool_points,
)

log = logging.getLogger(__name__)

ROTATIONS = (0, 90, 180, 270)
MIN_ZOOM, MAX_ZOOM = 0.05, 50.0

Matrix = tuple[tuple[int, int], tuple[int, int]]

# Clockwise rotations on a screen whose y axis points down: (x, y) -> (-y, x) per quarter.
_ROTATION_MATRICES: dict[int, Matrix] = {
    0: ((1, 0), (0, 1)),
    90: ((0, -1), (1, 0)),
    180: ((-1, 0), (0, -1)),
    270: ((0, 1), (-1, 0)),
}


def view_matrix(rotation: int, flip_h: bool = False, flip_v: bool = False) -> Matrix:
    """Image axes (columns right, rows down) to display axes (x right, y down).

    The image is first turned ``rotation`` degrees clockwise, then mirrored left-right
    (``flip_h``) and top-bottom (``flip_v``) on the screen.
    """
    r = _ROTATION_MATRICES[rotation % 360]
    fx, fy = (-1 if flip_h else 1), (-1 if flip_v else 1)
    return ((fx * r[0][0], fx * r[0][1]), (fy * r[1][0], fy * r[1][1]))


@dataclass(frozen=True, slots=True)
class DisplayTransform:
    """Image pixel (column, row) <-> display point (x, y) of a viewport, both continuous.

    Display points are in the render window's pixels, origin at the top-left corner, y down;
    display pixel i covers [i, i + 1). Image pixel centres are on integers; the image is laid
    out in millimetres (``spacing_mm`` = (row, column) spacing) so anisotropic pixels keep their
    true aspect. At zoom 1 the whole image fits the viewport; ``pan_mm`` is the image-plane
    point (mm from the image centre, image axes) shown at the viewport centre.
    """

    rows: int
    columns: int
    spacing_mm: tuple[float, float]
    width: int
    height: int
    rotation: int = 0
    flip_h: bool = False
    flip_v: bool = False
    zoom: float = 1.0
    pan_mm: tuple[float, float] = (0.0, 0.0)

    @property
    def matrix(self) -> Matrix:
        return view_matrix(self.rotation, self.flip_h, self.flip_v)

    @property
    def image_center_mm(self) -> tuple[float, float]:
        """Centre of the image in image-plane mm (x along columns, y along rows)."""
        return (
            (self.columns - 1) * self.spacing_mm[1] / 2.0,
            (self.rows - 1) * self.spacing_mm[0] / 2.0,
        )

    @property
    def fit_scale(self) -> float:
        """Display pixels per mm at zoom 1: the whole (rotated) image fits the viewport."""
        w_mm = self.columns * self.spacing_mm[1]
        h_mm = self.rows * self.spacing_mm[0]
        m = self.matrix
        ext_x = abs(m[0][0]) * w_mm + abs(m[0][1]) * h_mm
        ext_y = abs(m[1][0]) * w_mm + abs(m[1][1]) * h_mm
        if ext_x <= 0 or ext_y <= 0 or self.width <= 0 or self.height <= 0:
            return 1.0
        return min(self.width / ext_x, self.height / ext_y)

    @property
    def scale(self) -> float:
        """Display pixels per mm."""
        return self.fit_scale * self.zoom

    def image_to_display(self, col: float, row: float) -> tuple[float, float]:
        cx, cy = self.image_center_mm
        dx = col * self.spacing_mm[1] - cx - self.pan_mm[0]
        dy = row * self.spacing_mm[0] - cy - self.pan_mm[1]
        m, s = self.matrix, self.scale
        return (
            self.width / 2.0 + s * (m[0][0] * dx + m[0][1] * dy),
            self.height / 2.0 + s * (m[1][0] * dx + m[1][1] * dy),
        )

    def display_to_image(self, x: float, y: float) -> tuple[float, float]:
        qx, qy = x - self.width / 2.0, y - self.height / 2.0
        m, s = self.matrix, self.scale
        dx = (m[0][0] * qx + m[1][0] * qy) / s  # transpose: M is orthogonal
        dy = (m[0][1] * qx + m[1][1] * qy) / s
        cx, cy = self.image_center_mm
        return (
            (cx + self.pan_mm[0] + dx) / self.spacing_mm[1],
            (cy + self.pan_mm[1] + dy) / self.spacing_mm[0],
        )

    def pan_after_drag(self, dx: float, dy: float) -> tuple[float, float]:
        """The pan that moves the image by (dx, dy) display pixels, following the mouse."""
        m, s = self.matrix, self.scale
        return (
            self.pan_mm[0] - (m[0][0] * dx + m[1][0] * dy) / s,
            self.pan_mm[1] - (m[0][1] * dx + m[1][1] * dy) / s,
        )

    def pan_for_zoom_about(self, x: float, y: float, zoom: float) -> tuple[float, float]:
        """The pan that keeps the image point under display point (x, y) there at ``zoom``."""
        col, row = self.display_to_image(x, y)
        qx, qy = x - self.width / 2.0, y - self.height / 2.0
        m, s = self.matrix, self.fit_scale * zoom
        cx, cy = self.image_center_mm
        return (
            col * self.spacing_mm[1] - cx - (m[0][0] * qx + m[1][0] * qy) / s,
            row * self.spacing_mm[0] - cy - (m[0][1] * qx + m[1][1] * qy) / s,
        )


@dataclass(frozen=True, slots=True)
class ViewState:
    """How an image is shown: zoom, pan, rotation, flips and the reader's inversion."""

    zoom: float = 1.0
    pan_mm: tuple[float, float] = (0.0, 0.0)
    rotation: int = 0
    flip_h: bool = False
    flip_v: bool = False
    invert: bool = False


def format_lps(p: Sequence[float]) -> str:
    """An LPS point (PS3.3 C.7.6.2.1.1) as radiologists read it: "R 36.0 A 9.0 S 20.0 mm"."""
    x, y, z = (float(v) for v in p[:3])
    return (
        f"{'L' if x >= 0 else 'R'} {abs(x):.1f} "
        f"{'P' if y >= 0 else 'A'} {abs(y):.1f} "
        f"{'S' if z >= 0 else 'I'} {abs(z):.1f} mm"
    )


def _load_presets() -> PresetBook | None:
    """The built-in window presets, or None (logged) when their file is unreadable."""
    try:
        return load_presets()
    except WorkstationError as exc:
        log.warning("window presets not loaded: %s", exc)
        return None


@dataclass
class _Drag:
    """A handle being dragged: which measurement, which handle."""

    measurement_id: str
    handle: int


@dataclass
class _ImageCache:
    index: int = -1
    context: ImageContext | None = None


class StackViewModel:
    """Current image, window, view, tool and measurements of one viewport.

    ``changed`` is emitted with no arguments after any state change; ``measurements_changed``
    with the new list of :class:`Measurement` after one is added, edited or deleted.
    ``calibration_requested`` carries the (start, end) image points of a line drawn with the
    Calibrate tool: the UI asks the reader for its true length and calls :meth:`calibrate`.
    ``calibration_changed`` carries the :class:`UserCalibration` set, or None after a removal.
    With a store attached (:meth:`attach_store`) calibrations are kept in it and read back
    when a study is shown.
    """

    def __init__(self, presets: PresetBook | None = None) -> None:
        self.stack: ImageStack | None = None
        self.index = 0
        self.window: Voi | None = None  # a window or a VOI LUT of the file (PS3.3 C.11.2)
        self.zoom = 1.0
        self.pan_mm: tuple[float, float] = (0.0, 0.0)
        self.rotation = 0
        self.flip_h = False
        self.flip_v = False
        self.invert = False
        self.show_overlays = True
        self.tool = Tool.WINDOW
        self.changed = Event("changed")
        self.measurements_changed = Event("measurements_changed")
        self.calibration_requested = Event("calibration_requested")
        self.calibration_changed = Event("calibration_changed")
        self.pending_calibration_line: Line | None = None
        self.user_calibrations: list[UserCalibration] = []
        self._store: LocalArchive | None = None
        self.probe_result: ProbeResult | None = None
        self.selected_id: str | None = None
        self.preview: Measurement | None = None
        self.status = ""  # the last message for the user (a measurement that failed)
        self._measurements: list[Measurement] = []
        self._windows: list[Voi] = []
        self._window_choice = 0
        self._preset_choice = 0
        self._presets = presets
        self._presets_loaded = presets is not None
        self._collector: PointCollector | None = None
        self._drag: _Drag | None = None
        self._cache = _ImageCache()

    # -- stack and images -------------------------------------------------------------------
    def attach_store(self, store: LocalArchive | None) -> None:
        """Keep user calibrations in ``store`` and read them from it for each series shown."""
        self._store = store
        self._load_calibrations()

    def _load_calibrations(self) -> None:
        self._cache = _ImageCache()
        if self._store is None or self.stack is None:
            return
        try:
            self.user_calibrations = self._store.series_calibrations(
                self.stack.series.series_instance_uid
            )
        except WorkstationError as exc:
            log.warning("user calibrations not read: %s", type(exc).__name__)
            self.status = str(exc)
            self.user_calibrations = []

    def set_stack(self, stack: ImageStack | None, index: int | None = None) -> None:
        """Show a series; the view is reset. Measurements stay while the study stays."""
        old_study = self.stack.study.study_instance_uid if self.stack is not None else None
        self.stack = stack
        self._reset_view()
        self._cancel_collector()
        self._cache = _ImageCache()
        self.probe_result = None
        self.pending_calibration_line = None
        if stack is None or (
            self.user_calibrations
            and self.user_calibrations[0].series_instance_uid != stack.series.series_instance_uid
        ):
            self.user_calibrations = []
        self._load_calibrations()
        new_study = stack.study.study_instance_uid if stack is not None else None
        if new_study != old_study and self._measurements:
            self._measurements = []
            self.selected_id = None
            self.measurements_changed.emit(self.measurements)
        if stack is None:
            self.index = 0
            self.window = None
            self.changed.emit()
            return
        self.index = (len(stack) // 2) if index is None else max(0, min(index, len(stack) - 1))
        try:
            self._windows = stack.voi_choices(self.index)
        except DecodeError:
            self._windows = []
        self._window_choice = 0
        self.window = self._default_window()
        self.changed.emit()

    def _default_window(self) -> Voi | None:
        if self.stack is None:
            return None
        try:
            if self.stack.is_color(self.index):
                return None
            return self.stack.default_window(self.index)
        except DecodeError:
            return None

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
            self._cancel_collector()
            self.probe_result = None
            self.changed.emit()

    def go_to(self, index: int) -> None:
        if self.stack is None:
            return
        self.scroll(index - self.index)

    def display(self) -> np.ndarray:
        """The 8-bit display image of the current frame, inverted when the reader asked.

        The reader's inversion comes on top of the file's presentation (MONOCHROME1, INVERSE
        Presentation LUT Shape, PS3.3 C.11.6), so a MONOCHROME1 radiograph inverted shows as
        MONOCHROME2 would.
        """
        if self.stack is None:
            raise DecodeError("no series is shown")
        return self.stack.display(self.index, self.window, invert=self.invert)

    def image_context(self) -> ImageContext:
        """Values, calibration and identity of the current frame, for measuring."""
        if self.stack is None:
            raise MeasurementError("no image is shown")
        if self._cache.index != self.index or self._cache.context is None:
            frame = self.stack.frames[self.index]
            cal = self.calibration()
            values = self.stack.values(self.index)
            self._cache = _ImageCache(
                self.index, ImageContext(values, cal, frame.instance, frame.frame + 1)
            )
        return self._cache.context  # type: ignore[return-value]

    def calibration(self, index: int | None = None) -> PixelCalibration:
        """The calibration the image at ``index`` (default: shown) measures with: the
        reader's when one covers it, else the file's (PS3.3 10.7.1.1)."""
        if self.stack is None:
            return PixelCalibration.uncalibrated()
        frame = self.stack.frames[self.index if index is None else index]
        return effective_calibration(frame.instance, self.stack.modality, self.user_calibrations)

    def user_calibration(self) -> UserCalibration | None:
        """The user calibration that covers the image shown, if any."""
        cal = self.calibration()
        return (
            next(
                (c for c in self.user_calibrations if c.calibration_id == cal.calibration_id), None
            )
            if cal.calibration_id
            else None
        )

    # -- user calibration ------------------------------------------------------------------
    def calibrate(
        self,
        p0: Sequence[float],
        p1: Sequence[float],
        known_length_mm: float,
        *,
        whole_series: bool | None = None,
        user: str | None = None,
    ) -> UserCalibration:
        """Calibrate so that the line p0-p1 on the image shown measures ``known_length_mm``.

        It covers the whole series when its images share one geometry (``whole_series``
        None: decided so; True is refused otherwise), else only this image. Measurements on
        the images it covers are valued again (points kept) and ``measurements_changed``
        emitted; with a store attached it is kept there and audited. Raises
        :class:`~workstation.core.measure.CalibrationError` (a cross-sectional image, a bad
        length or line) and the store's errors; nothing changes then.
        """
        if self.stack is None:
            raise MeasurementError("no image is shown")
        old_spacing = self.display_spacing()
        frame = self.stack.frames[self.index]
        same = shares_geometry(self.stack.instances)
        if whole_series is None:
            whole_series = same
        elif whole_series and not same:
            raise MeasurementError(
                "the images of this series differ in size or spacing: calibrate each image"
            )
        cal = calibrate_from_line(
            p0,
            p1,
            known_length_mm,
            frame.instance,
            self.stack.modality,
            whole_series=whole_series,
            frame_number=frame.frame + 1,
            user=user or current_user(),
        )
        if self._store is not None:
            self._store.set_user_calibration(cal)
            stored = self._store.series_calibrations(cal.series_instance_uid)
            cal = next((c for c in stored if c.calibration_id == cal.calibration_id), cal)
            self.user_calibrations = stored
        else:
            self.user_calibrations = [
                c for c in self.user_calibrations if c.sop_instance_uid != cal.sop_instance_uid
            ] + [cal]
        self._after_calibration(cal, old_spacing)
        return cal

    def remove_calibration(self) -> UserCalibration | None:
        """Remove the user calibration covering the image shown (its own, else the series');
        values return to the file's calibration. None when there was none."""
        current = self.user_calibration()
        if current is None or self.stack is None:
            return None
        old_spacing = self.display_spacing()
        if self._store is not None:
            self._store.remove_user_calibration(
                current.series_instance_uid, current.sop_instance_uid
            )
            self.user_calibrations = self._store.series_calibrations(current.series_instance_uid)
        else:
            self.user_calibrations = [
                c for c in self.user_calibrations if c.calibration_id != current.calibration_id
            ]
        self._after_calibration(None, old_spacing)
        return current

    def _after_calibration(
        self, cal: UserCalibration | None, old_spacing: tuple[float, float]
    ) -> None:
        self._cache = _ImageCache()
        # The image is laid out in the new spacing's mm: the pan follows, so the view stays.
        new = self.display_spacing()
        self.pan_mm = (
            self.pan_mm[0] * new[1] / old_spacing[1],
            self.pan_mm[1] * new[0] / old_spacing[0],
        )
        self.pending_calibration_line = None
        self.status = ""
        changed = self._revalue_measurements()
        self.changed.emit()
        self.calibration_changed.emit(cal)
        if changed:
            self.measurements_changed.emit(self.measurements)

    def _revalue_measurements(self) -> int:
        """Value again the measurements on this series whose calibration is no longer theirs."""
        if self.stack is None:
            return 0
        by_uid = {i.sop_instance_uid: i for i in self.stack.instances}
        n = 0
        for k, m in enumerate(self._measurements):
            inst = by_uid.get(m.sop_instance_uid)
            if inst is None or m.plane is not None:
                continue
            cal = effective_calibration(inst, self.stack.modality, self.user_calibrations)
            if needs_recalibration(m, cal):
                self._measurements[k] = recalibrate(m, cal)
                n += 1
        return n

    def can_calibrate(self) -> str:
        """ "" when the image shown may be calibrated by the reader, else why not."""
        if self.stack is None:
            return "no image is shown"
        try:
            user_calibration_base(self.stack.frames[self.index].instance, self.stack.modality)
        except MeasurementError as exc:
            return str(exc)
        return ""

    def scene_spacing(self) -> tuple[float, float] | None:
        """(row, column) spacing the scene lays the image out with and its scale bar uses:
        the reader's calibration when one covers the image (so the bar agrees with the
        values), else the file's; None when there is none (no scale bar)."""
        if self.stack is None:
            return None
        cal = self.calibration()
        if cal.calibration_id:
            return cal.spacing
        sp = self.stack.pixel_spacing(self.index)
        if sp and sp[0] > 0 and sp[1] > 0:
            return (float(sp[0]), float(sp[1]))
        return None

    def display_spacing(self) -> tuple[float, float]:
        """(row, column) spacing the image is laid out with on screen; (1, 1) when unknown."""
        return self.scene_spacing() or (1.0, 1.0)

    def value_unit(self) -> str:
        """Unit of the current frame's values: Rescale Type (PS3.3 C.11.1.1.2), HU for CT."""
        if self.stack is None:
            return ""
        inst = self.stack.frames[self.index].instance
        if inst.rescale_type:
            return inst.rescale_type
        return "HU" if self.stack.modality == "CT" else ""

    # -- window -----------------------------------------------------------------------------
    def set_window(self, window: Voi) -> None:
        self.window = window
        self.changed.emit()

    def adjust_window(self, d_center: float, d_width: float) -> None:
        """Drag-to-window: change centre and width by the given amounts (width stays ≥ 1).

        A VOI LUT becomes the linear window over the input range it covers, then moves.
        """
        if self.window is None:
            return
        function = self.window.function if self.window.function == "SIGMOID" else "LINEAR"
        self.window = Window(
            self.window.center + d_center, max(1.0, self.window.width + d_width), function
        )
        self.changed.emit()

    def cycle_file_window(self) -> None:
        """Next of the file's VOI LUTs and windows (PS3.3 C.11.2); presets when it has none."""
        if not self._windows:
            presets = self.presets_for_modality()
            if presets:
                self._preset_choice = self._preset_choice % len(presets) + 1
                self.apply_preset(presets[self._preset_choice - 1].key)
            return
        self._window_choice = (self._window_choice + 1) % len(self._windows)
        self.set_window(self._windows[self._window_choice])

    @property
    def presets(self) -> PresetBook | None:
        """The window preset book (:mod:`workstation.viewer.presets`), loaded on first use."""
        if not self._presets_loaded:
            self._presets = _load_presets()
            self._presets_loaded = True
        return self._presets

    def presets_for_modality(self) -> list[WindowPreset]:
        """The presets of the series' modality, in key order (number keys 1..9)."""
        book = self.presets
        if self.stack is None or book is None:
            return []
        return book.for_modality(self.stack.modality)

    def apply_preset(self, key: int) -> bool:
        """Window preset ``key`` (1..9) of the series' modality; False when there is none."""
        book = self.presets
        if self.stack is None or book is None or self.stack.is_color(self.index):
            return False
        preset = book.by_key(self.stack.modality, key)
        if preset is None:
            return False
        inst = self.stack.frames[self.index].instance
        try:
            values = self.stack.values(self.index) if preset.auto else None
            window = preset.window(values, inst.photometric_interpretation)
        except (DecodeError, ValueError) as exc:
            self.status = str(exc)
            self.changed.emit()
            return False
        self.window = window
        self.invert = bool(preset.invert)
        self.changed.emit()
        return True

    # -- view -------------------------------------------------------------------------------
    def _reset_view(self) -> None:
        self.zoom = 1.0
        self.pan_mm = (0.0, 0.0)
        self.rotation = 0
        self.flip_h = self.flip_v = False
        self.invert = False

    @property
    def view(self) -> ViewState:
        return ViewState(
            self.zoom, self.pan_mm, self.rotation, self.flip_h, self.flip_v, self.invert
        )

    def reset(self) -> None:
        """Fit, centre, no rotation, flip or inversion, and the default window again."""
        self._reset_view()
        self._window_choice = 0
        self._preset_choice = 0
        self.window = self._default_window()
        self.changed.emit()

    def set_zoom(self, zoom: float, pan_mm: tuple[float, float] | None = None) -> None:
        self.zoom = max(MIN_ZOOM, min(float(zoom), MAX_ZOOM))
        if pan_mm is not None:
            self.pan_mm = (float(pan_mm[0]), float(pan_mm[1]))
        self.changed.emit()

    def set_pan(self, pan_mm: tuple[float, float]) -> None:
        self.pan_mm = (float(pan_mm[0]), float(pan_mm[1]))
        self.changed.emit()

    def rotate(self, degrees: int = 90) -> None:
        """Turn the image on screen by a multiple of 90°, clockwise for positive values.

        The screen rotation composes with the flips already applied, so a rotation of a
        mirrored view turns the mirrored image the way the user sees it.
        """
        if degrees % 90:
            raise ValueError("the image turns in steps of 90 degrees")
        sign = -1 if self.flip_h != self.flip_v else 1
        self.rotation = (self.rotation + sign * degrees) % 360
        self.changed.emit()

    def flip_horizontal(self) -> None:
        """Mirror left-right on screen."""
        self.flip_h = not self.flip_h
        self.changed.emit()

    def flip_vertical(self) -> None:
        """Mirror top-bottom on screen."""
        self.flip_v = not self.flip_v
        self.changed.emit()

    def toggle_invert(self) -> None:
        self.invert = not self.invert
        self.changed.emit()

    def toggle_overlays(self) -> None:
        self.show_overlays = not self.show_overlays
        self.changed.emit()

    def display_transform(self, width: int, height: int) -> DisplayTransform | None:
        """The transform of the current image in a viewport of width × height pixels."""
        if self.stack is None:
            return None
        inst = self.stack.frames[self.index].instance
        return DisplayTransform(
            inst.rows,
            inst.columns,
            self.display_spacing(),
            width,
            height,
            self.rotation,
            self.flip_h,
            self.flip_v,
            self.zoom,
            self.pan_mm,
        )

    # -- tools ------------------------------------------------------------------------------
    def set_tool(self, tool: Tool) -> None:
        """Choose what a left drag does; a measurement half drawn is dropped."""
        self._cancel_collector()
        self.tool = Tool(tool)
        self.changed.emit()

    @property
    def drawing(self) -> bool:
        """True while a measurement is half drawn or a handle is being dragged."""
        return (self._collector is not None and self._collector.in_progress) or (
            self._drag is not None
        )

    def cancel_tool(self) -> bool:
        """Esc: drop the measurement being drawn; when none, go back to window/level."""
        if self.drawing:
            self._cancel_collector()
            self.changed.emit()
            return True
        if self.tool is not Tool.WINDOW:
            self.set_tool(Tool.WINDOW)
            return True
        if self.selected_id is not None:
            self.selected_id = None
            self.changed.emit()
            return True
        return False

    def _cancel_collector(self) -> None:
        if self._collector is not None:
            self._collector.cancel()
        self._drag = None
        self.preview = None

    def preview_points(self) -> tuple[Point, ...]:
        """Points of the measurement being drawn (for drawing before it is complete)."""
        return self._collector.preview() if self._collector is not None else ()

    @property
    def measure_kind(self) -> MeasurementKind | None:
        """The kind the active tool draws; the Calibrate tool draws a length."""
        if self.tool is Tool.CALIBRATE:
            return MeasurementKind.LENGTH
        return MEASURE_TOOLS.get(self.tool)

    def tool_press(
        self, p: Sequence[float], click_tolerance: float = 1.0, hit_tolerance_mm: float = 0.0
    ) -> None:
        """A left press at image point ``p`` with a measurement tool (or to grab a handle).

        ``click_tolerance`` (image pixels) tells a click from a drag; ``hit_tolerance_mm``
        how near a handle must be to grab it instead of starting a new measurement.
        """
        kind = self.measure_kind
        if self.stack is None:
            return
        if not self.drawing and hit_tolerance_mm > 0:
            hit = self.hit(p, hit_tolerance_mm)
            if hit is not None:
                self.selected_id = hit.measurement_id
                if hit.handle is not None:
                    self._drag = _Drag(hit.measurement_id, hit.handle)
                self.changed.emit()
                return
            if self.selected_id is not None:
                self.selected_id = None
        if kind is None:
            self.changed.emit()
            return
        if self._collector is None or self._collector.kind is not kind:
            self._collector = PointCollector(kind, click_tolerance)
        self._collector.click_tolerance = click_tolerance
        self._collector.press(p)
        self._update_preview(p)
        self.changed.emit()

    def tool_move(self, p: Sequence[float]) -> None:
        """Pointer moved to image point ``p`` (pressed or not)."""
        if self.stack is None:
            return
        if self._drag is not None:
            self._move_handle(p, final=False)
            return
        if self.tool is Tool.PROBE:
            self._set_probe(p)
        if self._collector is not None and self._collector.in_progress:
            self._collector.move(p)
            self._update_preview(p)
            self.changed.emit()
        elif self.tool is Tool.PROBE:
            self.changed.emit()

    def tool_release(self, p: Sequence[float]) -> Measurement | None:
        """Left release at image point ``p``: the new measurement when the tool completed one."""
        if self.stack is None:
            return None
        if self._drag is not None:
            m = self._move_handle(p, final=True)
            self._drag = None
            self.changed.emit()
            return m
        if self._collector is None:
            return None
        points = self._collector.release(p)
        if points is None:
            self._update_preview(p)
            self.changed.emit()
            return None
        self.preview = None
        if self.tool is Tool.CALIBRATE:
            self._calibration_line(points)
            return None
        try:
            m = measure_tool_points(self._collector.kind, points, self.image_context())
        except (MeasurementError, DecodeError) as exc:
            self.status = str(exc)
            self.changed.emit()
            return None
        if m.kind is MeasurementKind.PROBE:
            self._set_probe(m.points[0])
        self.status = ""
        self._measurements.append(m)
        self.selected_id = m.measurement_id
        self.changed.emit()
        self.measurements_changed.emit(self.measurements)
        return m

    def _calibration_line(self, points: Sequence[Point]) -> None:
        """A Calibrate line is complete: ask for its true length (refused on CT/MR at once)."""
        reason = self.can_calibrate()
        if reason:
            self.status = reason
            self.changed.emit()
            return
        line = (points[0], points[1])
        self.pending_calibration_line = line
        self.status = ""
        self.changed.emit()
        self.calibration_requested.emit(line)

    def calibration_line_length(self) -> tuple[float, str]:
        """The pending Calibrate line's length under the current calibration, and its unit."""
        line = self.pending_calibration_line
        if line is None:
            return (0.0, "")
        cal = self.calibration()
        return (length_mm(line[0], line[1], cal), cal.unit)

    def calibrate_pending(self, known_length_mm: float) -> UserCalibration:
        """:meth:`calibrate` with the line the Calibrate tool drew last."""
        line = self.pending_calibration_line
        if line is None:
            raise MeasurementError("draw a line over the object of known size first")
        return self.calibrate(line[0], line[1], known_length_mm)

    def cancel_calibration(self) -> None:
        """The reader gave no length: forget the Calibrate line."""
        if self.pending_calibration_line is not None:
            self.pending_calibration_line = None
            self.changed.emit()

    def _update_preview(self, p: Sequence[float]) -> None:
        """A provisional measurement of the points so far, for the live value while drawing."""
        self.preview = None
        if self._collector is None:
            return
        pts = self._collector.preview()
        if self.tool is Tool.PROBE:
            self._set_probe(p)
        if len(pts) < self._collector.n_points:
            return
        try:
            self.preview = measure_tool_points(
                self._collector.kind, pts[: self._collector.n_points], self.image_context()
            )
        except (MeasurementError, DecodeError):
            self.preview = None

    def _set_probe(self, p: Sequence[float]) -> None:
        if self.stack is None:
            return
        try:
            ctx = self.image_context()
            values = np.asarray(ctx.values)
            if values.ndim != 2:
                self.probe_result = None
                return
            self.probe_result = probe(values, float(p[0]), float(p[1]), ctx.instance)
        except (MeasurementError, DecodeError):
            self.probe_result = None

    def _move_handle(self, p: Sequence[float], final: bool) -> Measurement | None:
        assert self._drag is not None
        i = self._index_of(self._drag.measurement_id)
        if i is None:
            return None
        old = self._measurements[i]
        try:
            m = edit_measurement(old, self._drag.handle, p, self.image_context())
        except (MeasurementError, DecodeError) as exc:
            self.status = str(exc)
            return None
        self._measurements[i] = m
        self.changed.emit()
        if final:
            self.measurements_changed.emit(self.measurements)
        return m

    # -- measurements -----------------------------------------------------------------------
    @property
    def measurements(self) -> list[Measurement]:
        """Every measurement of the open study, in the order made (a copy)."""
        return list(self._measurements)

    def set_measurements(self, measurements: Iterable[Measurement]) -> None:
        """Replace the measurements (e.g. those a store kept for the study); with a store
        attached, its calibrations are read again too (another viewport may have set one)."""
        if self._store is not None:
            self._load_calibrations()
        self._measurements = list(measurements)
        if self.selected_id is not None and self._index_of(self.selected_id) is None:
            self.selected_id = None
        self.changed.emit()
        self.measurements_changed.emit(self.measurements)

    def measurements_on_image(self) -> list[Measurement]:
        """The measurements made on the frame shown now."""
        if self.stack is None:
            return []
        frame = self.stack.frames[self.index]
        uid = frame.instance.sop_instance_uid
        return [
            m
            for m in self._measurements
            if m.sop_instance_uid == uid and m.frame_number == frame.frame + 1
        ]

    def hit(self, p: Sequence[float], tolerance_mm: float) -> Hit | None:
        """The measurement on this image under image point ``p`` (handles first)."""
        return hit_test(self.measurements_on_image(), p, self.display_spacing(), tolerance_mm)

    def select(self, measurement_id: str | None) -> None:
        self.selected_id = measurement_id
        self.changed.emit()

    def delete_measurement(self, measurement_id: str) -> bool:
        i = self._index_of(measurement_id)
        if i is None:
            return False
        del self._measurements[i]
        if self.selected_id == measurement_id:
            self.selected_id = None
        self.changed.emit()
        self.measurements_changed.emit(self.measurements)
        return True

    def delete_selected(self) -> bool:
        """Delete key: remove the selected measurement."""
        if self.selected_id is None:
            return False
        return self.delete_measurement(self.selected_id)

    def _index_of(self, measurement_id: str) -> int | None:
        return next(
            (i for i, m in enumerate(self._measurements) if m.measurement_id == measurement_id),
            None,
        )

    # -- text -------------------------------------------------------------------------------
    def corner_texts(self) -> dict[str, str]:
        if self.stack is None:
            return {}
        texts = corner_texts(
            self.stack,
            self.index,
            self.window,
            self.zoom,
            invert=self.invert,
        )
        from workstation.viewer.overlays import calibration_text  # overlays imports this module

        cal_text = calibration_text(self.calibration())
        if cal_text:
            texts["bottom_left"] = (texts["bottom_left"] + "\n" + cal_text).lstrip("\n")
        probe_text = self.probe_text()
        if probe_text:
            texts["bottom_right"] = probe_text + "\n" + texts["bottom_right"]
        return texts

    def probe_text(self) -> str:
        """Value under the probe and its patient position, for the corner."""
        r = self.probe_result
        if r is None:
            return ""
        unit = self.value_unit()
        value = f"{r.value:.0f}" if float(r.value).is_integer() or unit == "HU" else f"{r.value:g}"
        line = f"({r.column}, {r.row}) {value} {unit}".rstrip()
        if r.patient_lps is not None:
            line += "\n" + format_lps(r.patient_lps)
        return line
