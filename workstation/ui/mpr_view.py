"""MPR in Qt: axial, coronal and sagittal viewports linked by a crosshair, and an optional 3D view.

The state lives in :class:`workstation.viewer.mpr.MprModel`; each viewport turns mouse input into
model calls and redraws on the model's ``changed`` event. Mouse, in a 2D viewport:

- left click or drag: move the crosshair there (the other planes follow);
- Ctrl + left drag: turn the crosshair about the point, making the other two planes oblique;
- right drag: window (horizontal: width, vertical: centre); middle drag: pan;
- wheel: move the plane along its normal; Ctrl + wheel: zoom.

The 3D view (checkbox "3D") shows the three planes' outlines and the crosshair, follows the
model, and has its own tools: trackball camera (left rotate, wheel or right zoom, middle pan),
standard views, MIP, and a crop box dragged by its handles.

With the length or ellipse tool, a left drag measures on the reformatted values (slab included)
in millimetres of the reformatted pixels; each measurement keeps its plane geometry.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QKeyEvent, QMouseEvent, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from vtkmodules.vtkCommonCore import vtkCommand
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera

from workstation.archive.local import LocalArchive
from workstation.core.errors import WorkstationError
from workstation.core.measure import MeasurementError, MeasurementKind
from workstation.ui.vtk_widget import RoutedVtkWidget, SizedVtkWidget
from workstation.viewer.mpr import (
    VIEWS,
    MprChange,
    MprModel,
    PlaneMeasurement,
    ResliceGrid,
    View,
    format_lps,
    line_in_grid,
    measure_ellipse,
    measure_length,
    native_step_mm,
)
from workstation.viewer.pixels import default_window
from workstation.viewer.reslice import (
    MEASURE_COLOR,
    VIEW_COLORS,
    ResliceView,
    VolumeImage,
    capture_window,
)
from workstation.viewer.volume import Volume

log = logging.getLogger(__name__)

TOOLS = ("crosshair", "length", "ellipse")
_GAP_PX = 6.0  # crosshair lines stop this far from the point, so the point stays visible
SELECTED_COLOR = (1.0, 0.55, 0.1)  # the measurement chosen in the measurement list
CROSSHAIR_3D_COLOR = (1.0, 1.0, 1.0)
SETTLE_MS = 250  # full-quality 3D frame this long after the last change


def _tr(text: str) -> str:
    return QCoreApplication.translate("MprView", text)


_MODE_LABELS = {"mip": "MIP", "minip": "MinIP", "avg": "Average"}


def _measure_text(pm: PlaneMeasurement) -> str:
    m = pm.measurement
    text = f"{m.value:.1f} {m.unit}"
    mean, sd = m.detail("mean"), m.detail("sd")
    if mean is not None and sd is not None:
        text += f"  {mean:.1f} ± {sd:.1f}"
    return f"{m.name}: {text}" if m.name else text


def to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class _VtkWidget(RoutedVtkWidget):
    def __init__(self, owner: MprViewport) -> None:
        super().__init__(owner)
        self._viewport = owner

    def resizeEvent(self, ev: QResizeEvent) -> None:
        super().resizeEvent(ev)
        self._viewport.refresh()


class MprViewport(QWidget):
    """One 2D MPR viewport (axial, coronal or sagittal) of an :class:`MprView`."""

    def __init__(self, owner: MprView, view: View) -> None:
        super().__init__(owner)
        self.owner = owner
        self.view: View = view
        self.vtk_widget = _VtkWidget(self)
        self.vtk_widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.vtk_widget)
        self.render_window = self.vtk_widget.GetRenderWindow()
        # No multisampling: a 2D view draws pixels 1:1, and 8× MSAA triples the cost of a frame
        # on software OpenGL.
        self.render_window.SetMultiSamples(0)
        self.scene = ResliceView(self.render_window, owner.image, view)
        self.vtk_widget.GetRenderWindow().GetInteractor().SetInteractorStyle(None)
        self._drag: str | None = None
        self._last: QPointF | None = None
        self._start_pixel: tuple[float, float] | None = None
        self._preview: list[tuple[list[tuple[float, float]], tuple[float, float, float]]] = []
        self.vtk_widget.Initialize()

    @property
    def model(self) -> MprModel:
        return self.owner.model

    # -- drawing -----------------------------------------------------------------------------
    def window_size(self) -> tuple[int, int]:
        w, h = self.render_window.GetSize()
        if w < 2 or h < 2:
            ratio = self.devicePixelRatioF()
            w = max(2, round(self.vtk_widget.width() * ratio))
            h = max(2, round(self.vtk_widget.height() * ratio))
        return int(w), int(h)

    def current_grid(self) -> ResliceGrid:
        w, h = self.window_size()
        return self.model.grid(self.view, w, h)

    def refresh(self) -> None:
        """Bring the scene up to date with the model and render (reslicing only if needed)."""
        m = self.model
        grid = self.current_grid()
        self.scene.set_grid(grid, m.interpolation, m.slab, m.slab_step_factor)
        d = m.display(self.view)
        self.scene.set_window(d.center, d.width)
        self.scene.set_edge_labels(grid.plane.edge_labels())
        self.scene.set_crosshair_lines(self._crosshair_segments(grid))
        self.scene.set_overlays(self._measurement_shapes(grid) + self._preview)
        self.scene.set_corner_text(self._corner_texts(grid))
        self.scene.render()

    def _crosshair_segments(
        self, grid: ResliceGrid
    ) -> list[tuple[list[tuple[float, float]], tuple[float, float, float]]]:
        out: list[tuple[list[tuple[float, float]], tuple[float, float, float]]] = []
        centre = grid.lps_to_pixel(self.model.crosshair_lps)
        cc, cr = float(centre[0]), float(centre[1])
        for other in VIEWS:
            if other == self.view:
                continue
            try:
                direction = self.model.intersection_direction(self.view, other)
            except WorkstationError:
                continue
            seg = line_in_grid(grid, self.model.crosshair_lps, direction)
            if seg is None:
                continue
            (c0, r0), (c1, r1) = seg
            length = math.hypot(c1 - c0, r1 - r0)
            if length < 1e-6:
                continue
            uc, ur = (c1 - c0) / length, (r1 - r0) / length
            t_centre = (cc - c0) * uc + (cr - r0) * ur
            color = VIEW_COLORS[other]
            if t_centre - _GAP_PX > 0:
                out.append(([(c0, r0), (cc - _GAP_PX * uc, cr - _GAP_PX * ur)], color))
            if t_centre + _GAP_PX < length:
                out.append(([(cc + _GAP_PX * uc, cr + _GAP_PX * ur), (c1, r1)], color))
        return out

    def _measurement_shapes(
        self, grid: ResliceGrid
    ) -> list[tuple[list[tuple[float, float]], tuple[float, float, float]]]:
        shapes = []
        for pm in self.model.measurements_on(grid):
            m = pm.measurement
            if m.kind is MeasurementKind.LENGTH:
                pts = grid.lps_to_pixel(np.asarray(pm.points_lps))[:, :2]
            else:  # ellipse: centre and radii in the pixels of the grid it was drawn on
                (cx, cy), (a, b) = m.points
                t = np.linspace(0.0, 2 * math.pi, 49)
                lps = pm.grid.pixel_to_lps(cx + a * np.cos(t), cy + b * np.sin(t))
                pts = grid.lps_to_pixel(lps)[:, :2]
            color = SELECTED_COLOR if pm.measurement_id == self.model.selected_id else MEASURE_COLOR
            shapes.append(([(float(c), float(r)) for c, r in pts], color))
        return shapes

    def _corner_texts(self, grid: ResliceGrid) -> dict[str, str]:
        m = self.model
        d = m.display(self.view)
        p = m.crosshair_lps
        value = self.owner.volume.value_at(p)
        slab = (
            ""
            if m.slab is None
            else f"\n{_tr('Slab')} {m.slab.thickness_mm:g} mm {_MODE_LABELS[m.slab.mode]}"
        )
        lines = [f"{self.view.capitalize()}{slab}"]
        if m.is_oblique(self.view):
            lines.append(_tr("Oblique"))
        measures = [_measure_text(pm) for pm in m.measurements_on(grid)]
        return {
            "top_left": "\n".join(lines),
            "top_right": format_lps(p) + ("" if value is None else f"\n{value:g}"),
            "bottom_left": f"W {d.width:g} L {d.center:g}\n{_tr('Zoom')} {d.zoom:.2f}",
            "bottom_right": "\n".join(measures[-4:]),
        }

    def capture(self) -> np.ndarray:
        """The viewport as RGB (rows, cols, 3), row 0 at the top."""
        self.scene.render()
        return capture_window(self.render_window)

    # -- input -------------------------------------------------------------------------------
    def pixel_at(self, pos: QPointF) -> tuple[float, float]:
        ratio = self.devicePixelRatioF()
        return self.scene.display_to_pixel(pos.x() * ratio, pos.y() * ratio)

    def handle_press(self, ev: QMouseEvent) -> None:
        pos = ev.position()
        self._last = pos
        button = ev.button()
        self.model.begin_interaction()
        if button == Qt.MouseButton.LeftButton:
            tool = self.owner.tool
            if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
                self._drag = "rotate"
            elif tool == "crosshair":
                self._drag = "crosshair"
                self._move_crosshair(pos)
            else:
                self._drag = tool
                self._start_pixel = self.pixel_at(pos)
        elif button == Qt.MouseButton.RightButton:
            self._drag = "window"
        elif button == Qt.MouseButton.MiddleButton:
            self._drag = "pan"

    def handle_move(self, ev: QMouseEvent) -> None:
        if self._drag is None or self._last is None:
            return
        pos = ev.position()
        last, self._last = self._last, pos
        if self._drag == "crosshair":
            self._move_crosshair(pos)
        elif self._drag == "rotate":
            self._rotate(last, pos)
        elif self._drag == "window":
            d = self.model.display(self.view)
            step = max(d.width / 500.0, 1.0)
            dx, dy = pos.x() - last.x(), pos.y() - last.y()
            self.model.set_window(self.view, d.center + dy * step, max(1.0, d.width + dx * step))
        elif self._drag == "pan":
            s = self.current_grid().spacing_mm
            self.model.pan(self.view, -(pos.x() - last.x()) * s, -(pos.y() - last.y()) * s)
        elif self._drag in ("length", "ellipse") and self._start_pixel is not None:
            self._preview = [
                (self._tool_outline(self._start_pixel, self.pixel_at(pos)), MEASURE_COLOR)
            ]
            self.refresh()

    def handle_release(self, ev: QMouseEvent) -> None:
        drag, self._drag = self._drag, None
        self.model.end_interaction()
        if drag in ("length", "ellipse") and self._start_pixel is not None:
            self._preview = []
            self.owner.measure(self, drag, self._start_pixel, self.pixel_at(ev.position()))
            self._start_pixel = None
        self._last = None

    def _tool_outline(
        self, p0: tuple[float, float], p1: tuple[float, float]
    ) -> list[tuple[float, float]]:
        if self.owner.tool == "length":
            return [p0, p1]
        a, b = abs(p1[0] - p0[0]), abs(p1[1] - p0[1])
        t = np.linspace(0.0, 2 * math.pi, 49)
        return [(p0[0] + a * math.cos(x), p0[1] + b * math.sin(x)) for x in t]

    def _move_crosshair(self, pos: QPointF) -> None:
        col, row = self.pixel_at(pos)
        self.model.click(self.view, self.scene.grid or self.current_grid(), col, row)

    def _rotate(self, last: QPointF, pos: QPointF) -> None:
        grid = self.scene.grid or self.current_grid()
        cc, cr, _ = grid.lps_to_pixel(self.model.crosshair_lps)
        c0, r0 = self.pixel_at(last)
        c1, r1 = self.pixel_at(pos)
        a0 = math.atan2(r0 - cr, c0 - cc)
        a1 = math.atan2(r1 - cr, c1 - cc)
        delta = math.degrees(math.atan2(math.sin(a1 - a0), math.cos(a1 - a0)))
        if abs(delta) > 1e-6:
            self.model.rotate(self.view, delta)

    def handle_wheel(self, ev: QWheelEvent) -> None:
        steps = ev.angleDelta().y() / 120.0
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.model.set_zoom(self.view, self.model.display(self.view).zoom * (1.1**steps))
        else:
            normal = self.model.plane(self.view).normal
            self.model.scroll(self.view, steps * native_step_mm(self.model.geometry, normal))
        ev.accept()

    def handle_key(self, ev: QKeyEvent) -> bool:
        key = ev.key()
        normal = self.model.plane(self.view).normal
        step = native_step_mm(self.model.geometry, normal)
        if key in (Qt.Key.Key_Up, Qt.Key.Key_PageUp):
            self.model.scroll(self.view, step)
        elif key in (Qt.Key.Key_Down, Qt.Key.Key_PageDown):
            self.model.scroll(self.view, -step)
        elif key == Qt.Key.Key_R:
            self.model.reset()
        else:
            return False
        return True

    def close_viewport(self) -> None:
        self.vtk_widget.Finalize()


class Mpr3DViewport(QWidget):
    """The 3D view: ray-cast volume with the MPR planes' outlines and the crosshair, an
    interactive crop box, standard views; reduced quality while anything moves.

    Mouse (VTK's trackball camera): left drag rotates, wheel or right drag zooms, middle drag
    pans; with Crop on, dragging the box's handles crops. The outlines, the crosshair and the
    crop box come from the :class:`MprModel` (one model for 2D and 3D, so nothing drifts).
    """

    def __init__(self, owner: MprView, preset: str | None = None) -> None:
        super().__init__(owner)
        from workstation.viewer.render3d import VIEW_DIRECTIONS, CropBoxWidget, VolumeRenderView

        self.owner = owner
        self.vtk_widget = SizedVtkWidget(self)
        self.planes_button = QToolButton()
        self.planes_button.setText(self.tr("Planes"))
        self.planes_button.setToolTip(self.tr("Show the MPR planes and the crosshair in 3D"))
        self.planes_button.setCheckable(True)
        self.planes_button.setChecked(True)
        self.crop_button = QToolButton()
        self.crop_button.setText(self.tr("Crop"))
        self.crop_button.setToolTip(self.tr("Crop the 3D rendering to a box (drag its handles)"))
        self.crop_button.setCheckable(True)
        self.reset_crop_button = QToolButton()
        self.reset_crop_button.setText(self.tr("Reset crop"))
        self.reset_crop_button.setToolTip(self.tr("The crop box back to the whole volume"))
        self.mip_button = QToolButton()
        self.mip_button.setText(self.tr("MIP"))
        self.mip_button.setToolTip(self.tr("3D maximum-intensity projection instead of the preset"))
        self.mip_button.setCheckable(True)
        self.view_box = QComboBox()
        self.view_box.setToolTip(self.tr("Look at the volume from a standard direction"))
        labels = {
            "anterior": self.tr("Anterior"),
            "posterior": self.tr("Posterior"),
            "left": self.tr("Left"),
            "right": self.tr("Right"),
            "superior": self.tr("Superior"),
            "inferior": self.tr("Inferior"),
        }
        for key in VIEW_DIRECTIONS:
            self.view_box.addItem(labels.get(key, key), key)
        self.reset_view_button = QToolButton()
        self.reset_view_button.setText(self.tr("Reset view"))
        self.reset_view_button.setToolTip(self.tr("Camera back to the front view, whole volume"))
        # Software OpenGL ray casts a block-averaged copy (render3d): the view says so.
        self.reduced_label = QLabel(self.tr("3D at reduced resolution: software rendering"))
        self.reduced_label.setObjectName("mpr3dReduced")
        self.reduced_label.setVisible(False)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for w in (
            self.planes_button,
            self.crop_button,
            self.reset_crop_button,
            self.mip_button,
            self.view_box,
            self.reset_view_button,
        ):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.reduced_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        layout.addLayout(bar)
        layout.addWidget(self.vtk_widget, 1)
        self.render_window = self.vtk_widget.GetRenderWindow()
        self.render_window.SetMultiSamples(0)  # ray casting gains nothing from MSAA
        self.scene = VolumeRenderView(
            self.render_window,
            owner.image,
            preset,
            modality=owner.modality,
            reduce_on_software_gl=owner.reduce_3d_on_software_gl,
        )
        interactor = self.render_window.GetInteractor()
        style = vtkInteractorStyleTrackballCamera()
        style.AddObserver(vtkCommand.StartInteractionEvent, self._start_interaction)
        style.AddObserver(vtkCommand.EndInteractionEvent, self._end_interaction)
        interactor.SetInteractorStyle(style)
        self.vtk_widget.Initialize()
        self.crop_widget = CropBoxWidget(self.scene, interactor, self._crop_dragged)
        # One full-quality frame once the model's changes pause (see model_changed).
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self.render_full)

        self.planes_button.toggled.connect(self._planes_toggled)
        self.crop_button.toggled.connect(self.model.set_cropping)
        self.reset_crop_button.clicked.connect(self.model.reset_crop)
        self.mip_button.toggled.connect(owner.set_3d_mip)
        self.view_box.activated.connect(self._view_chosen)
        self.reset_view_button.clicked.connect(self.reset_view)
        self.sync_from_model()

    @property
    def model(self) -> MprModel:
        return self.owner.model

    # -- state from the model ----------------------------------------------------------------
    def sync_from_model(self) -> None:
        """Plane outlines, crosshair and crop box as the model has them now (no rendering)."""
        m = self.model
        self.scene.set_plane_outlines({v: (m.plane_outline(v), VIEW_COLORS[v]) for v in VIEWS})
        self.scene.set_marker(m.crosshair_lps, CROSSHAIR_3D_COLOR)
        if m.cropping:
            self.scene.set_crop_box_lps(*m.crop_box_lps)
        elif self.scene.crop_box_lps is not None:
            self.scene.clear_crop()
        self.crop_widget.set_box(*m.crop_box_lps)
        self.crop_widget.set_enabled(m.cropping)
        if self.crop_button.isChecked() != m.cropping:
            self.crop_button.blockSignals(True)
            self.crop_button.setChecked(m.cropping)
            self.crop_button.blockSignals(False)

    def model_changed(self) -> None:
        """Follow a model change: the overlays at once, one frame once changes pause.

        A frame takes seconds on software OpenGL; rendering on every crosshair move would make
        the 2D views lag, so a burst of changes (a drag, a scroll) gets one frame at its end.
        """
        self.sync_from_model()
        self.schedule_render()

    def schedule_render(self) -> None:
        """One full-quality frame after :data:`SETTLE_MS` without further changes."""
        if self.isVisible():
            self._settle.start()

    @property
    def settling(self) -> bool:
        """True while a full-quality frame is still due."""
        return self._settle.isActive()

    def render_full(self) -> None:
        self._settle.stop()
        self.scene.set_interactive(False)
        self.scene.render()
        self._show_reduction()

    def _show_reduction(self) -> None:
        reduced = self.scene.reduction > 1
        if self.reduced_label.isVisibleTo(self) != reduced:
            self.reduced_label.setVisible(reduced)

    # -- tools -------------------------------------------------------------------------------
    def set_planes_visible(self, visible: bool) -> None:
        self.planes_button.setChecked(visible)

    def _planes_toggled(self, visible: bool) -> None:
        self.scene.set_overlays_visible(visible)
        self.schedule_render()

    def look_from(self, direction: str) -> None:
        """A standard view (anterior, posterior, left, right, superior, inferior)."""
        self.scene.look_from(direction)
        i = self.view_box.findData(direction)
        if i >= 0 and i != self.view_box.currentIndex():
            self.view_box.setCurrentIndex(i)
        self.schedule_render()

    def _view_chosen(self, index: int) -> None:
        self.look_from(self.view_box.itemData(index))

    def reset_view(self) -> None:
        self.look_from("anterior")

    def _crop_dragged(self, box: Any) -> None:
        kept = self.model.set_crop_box(*box)
        self.crop_widget.set_box(*kept)  # a box the model refused snaps back

    def _start_interaction(self, _obj: Any, _event: str) -> None:
        self.scene.set_interactive(True)

    def _end_interaction(self, _obj: Any, _event: str) -> None:
        self.render_full()

    def refresh(self) -> None:
        self.render_full()
        self.owner.show_notices()

    def capture(self) -> np.ndarray:
        self._settle.stop()
        self.scene.set_interactive(False)
        rgb = self.scene.capture()
        self._show_reduction()
        self.owner.show_notices()
        return rgb

    def close_viewport(self) -> None:
        self._settle.stop()
        self.crop_widget.set_enabled(False)
        self.vtk_widget.Finalize()


def _default_window(
    volume: Volume, modality: str, value_range: tuple[float, float]
) -> tuple[float, float]:
    """The first window the files store (PS3.3 C.11.2.1.2), else the modality's, else the range."""
    if volume.instances:
        try:
            w = default_window(volume.instances[0], modality)
            return (w.center, w.width)
        except (ValueError, WorkstationError):
            pass
    if modality == "CT":
        return (40.0, 400.0)
    lo, hi = value_range
    return ((lo + hi) / 2.0, max(hi - lo, 1.0))


class MprView(QWidget):
    """Three linked MPR viewports (axial, coronal, sagittal) and an optional 3D viewport."""

    crosshair_moved = Signal(float, float, float)
    measurement_added = Signal(object)  # PlaneMeasurement
    measurements_changed = Signal()  # one was added, renamed or removed (and stored)
    status_message = Signal(str)

    def __init__(
        self,
        volume: Volume,
        *,
        modality: str = "CT",
        window: tuple[float, float] | None = None,
        show_3d: bool = False,
        series_instance_uid: str = "",
        archive: LocalArchive | None = None,
        study_instance_uid: str = "",
        reduce_3d_on_software_gl: bool | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """With ``archive`` and ``study_instance_uid`` the view stores what is measured on it
        and shows again what was measured on this series before. ``reduce_3d_on_software_gl``
        is the site's ``[ui] software_3d`` (None: the renderer's default)."""
        super().__init__(parent)
        self.reduce_3d_on_software_gl = reduce_3d_on_software_gl
        self.volume = volume
        self.modality = modality
        self.series_instance_uid = series_instance_uid
        self.archive = archive
        self.study_instance_uid = study_instance_uid
        self.image = VolumeImage(volume)
        if window is None:
            window = _default_window(volume, modality, self.image.value_range)
        self.model = MprModel(volume.geometry, window)
        self.tool = "crosshair"
        self._closed = False
        self._last_preset = ""  # the composite preset the 3D MIP toggle returns to

        self.position_label = QLabel()
        self.position_label.setObjectName("mprPosition")
        self.link_box = QCheckBox(_tr("Link window and zoom"))
        self.link_box.setChecked(True)
        self.slab_box = QDoubleSpinBox()
        self.slab_box.setRange(0.0, 100.0)
        self.slab_box.setSingleStep(1.0)
        self.slab_box.setDecimals(1)
        self.slab_box.setSuffix(" mm")
        self.slab_box.setToolTip(_tr("Slab thickness (0: thin plane)"))
        self.mode_box = QComboBox()
        for key, label in (("mip", "MIP"), ("minip", "MinIP"), ("avg", _tr("Average"))):
            self.mode_box.addItem(label, key)
        self.tool_box = QComboBox()
        for key, label in (
            ("crosshair", _tr("Crosshair")),
            ("length", _tr("Length")),
            ("ellipse", _tr("Ellipse ROI")),
        ):
            self.tool_box.addItem(label, key)
        self.interp_box = QComboBox()
        for key, label in (
            ("linear", _tr("Linear")),
            ("nearest", _tr("Nearest")),
            ("cubic", _tr("Cubic")),
        ):
            self.interp_box.addItem(label, key)
        self.interp_box.setToolTip(_tr("Interpolation of the reformatted planes"))
        self.reset_button = QPushButton(_tr("Reset"))
        self.three_d_box = QCheckBox(_tr("3D"))
        self.three_d_box.setChecked(show_3d)
        self.preset_box = QComboBox()
        self.preset_box.setToolTip(_tr("3D rendering: transfer-function preset or projection"))
        self.preset_box.setEnabled(False)
        # Geometry that was resampled (tilt, uneven spacing) is never shown without saying so.
        self.warning_label = QLabel("; ".join(volume.warnings))
        self.warning_label.setObjectName("mprWarning")
        self.warning_label.setWordWrap(True)
        self.warning_label.setVisible(bool(volume.warnings))

        bar = QHBoxLayout()
        bar.addWidget(self.tool_box)
        bar.addWidget(QLabel(_tr("Slab")))
        bar.addWidget(self.slab_box)
        bar.addWidget(self.mode_box)
        bar.addWidget(self.interp_box)
        bar.addWidget(self.link_box)
        bar.addWidget(self.three_d_box)
        bar.addWidget(self.preset_box)
        bar.addWidget(self.reset_button)
        bar.addStretch(1)
        bar.addWidget(self.position_label)

        self.viewports: dict[View, MprViewport] = {v: MprViewport(self, v) for v in VIEWS}
        self.grid_layout = QGridLayout()
        self.grid_layout.setSpacing(2)
        self.grid_layout.addWidget(self.viewports["axial"], 0, 0)
        self.grid_layout.addWidget(self.viewports["coronal"], 0, 1)
        self.grid_layout.addWidget(self.viewports["sagittal"], 1, 0)
        self.viewport_3d: Mpr3DViewport | None = None
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.addLayout(bar)
        root.addWidget(self.warning_label)
        # The planes keep their places in a mirrored (Arabic) interface, as the image grid does.
        planes = QWidget(self)
        planes.setLayoutDirection(Qt.LayoutDirection.LeftToRight)
        planes.setLayout(self.grid_layout)
        self.grid_layout.setContentsMargins(0, 0, 0, 0)
        root.addWidget(planes, 1)
        if show_3d:
            self.set_3d_visible(True)

        self.link_box.toggled.connect(self.model.set_linked_display)
        self.slab_box.valueChanged.connect(self._slab_changed)
        self.mode_box.currentIndexChanged.connect(self._slab_changed)
        self.tool_box.currentIndexChanged.connect(self._tool_changed)
        self.reset_button.clicked.connect(self._reset)
        self.three_d_box.toggled.connect(self.set_3d_visible)
        self.interp_box.currentIndexChanged.connect(self._interpolation_changed)
        self.preset_box.currentIndexChanged.connect(self._preset_changed)
        self._subscription = self.model.changed.connect(self._on_change)
        self._update_position_label()
        self.reload_measurements()

    # -- public API --------------------------------------------------------------------------
    def viewport(self, view: View) -> MprViewport:
        return self.viewports[view]

    def render_all(self) -> None:
        for vp in self.viewports.values():
            vp.refresh()
        if self.viewport_3d is not None:
            self.viewport_3d.refresh()

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise WorkstationError(f"tool must be one of {', '.join(TOOLS)}, not {tool!r}")
        self.tool_box.setCurrentIndex(TOOLS.index(tool))

    def set_3d_visible(self, visible: bool) -> None:
        if visible and self.viewport_3d is None:
            try:
                self.viewport_3d = Mpr3DViewport(self)
            except WorkstationError as exc:
                log.warning("3D view unavailable: %s", exc)
                self.three_d_box.setChecked(False)
                return
            self.grid_layout.addWidget(self.viewport_3d, 1, 1)
            scene = self.viewport_3d.scene
            self.preset_box.blockSignals(True)
            for key, preset in scene.presets.items():
                self.preset_box.addItem(preset.name, key)
            self.preset_box.addItem(_tr("3D MIP"), "mip")
            self.preset_box.setCurrentIndex(self.preset_box.findData(scene.preset.key))
            self._last_preset = scene.preset.key
            self.preset_box.blockSignals(False)
            self.show_notices()
        self.preset_box.setEnabled(visible and self.viewport_3d is not None)
        if self.viewport_3d is not None:
            self.viewport_3d.setVisible(visible)
            if visible:
                self.viewport_3d.refresh()
        if self.three_d_box.isChecked() != visible:
            self.three_d_box.setChecked(visible)

    def show_notices(self) -> None:
        """Volume warnings (resampled geometry) and the 3D view's fallback notice, if any."""
        notes = list(self.volume.warnings)
        if self.viewport_3d is not None and self.viewport_3d.scene.notice:
            notes.append(self.viewport_3d.scene.notice)
        text = "; ".join(notes)
        if text != self.warning_label.text():
            self.warning_label.setText(text)
        self.warning_label.setVisible(bool(text))

    def capture(self) -> QImage:
        """All viewports side by side as one image, as laid out (2×2)."""
        tiles = [self.viewports[v].capture() for v in VIEWS]
        tiles.append(
            self.viewport_3d.capture()
            if self.viewport_3d is not None and self.viewport_3d.isVisible()
            else np.zeros_like(tiles[0])
        )
        h = max(t.shape[0] for t in tiles)
        w = max(t.shape[1] for t in tiles)
        canvas = np.full((2 * h + 2, 2 * w + 2, 3), 40, np.uint8)
        for i, t in enumerate(tiles):
            r, c = divmod(i, 2)
            canvas[
                r * (h + 2) : r * (h + 2) + t.shape[0], c * (w + 2) : c * (w + 2) + t.shape[1]
            ] = t
        return to_qimage(canvas)

    def measure(
        self,
        viewport: MprViewport,
        tool: str,
        p0: tuple[float, float],
        p1: tuple[float, float],
    ) -> PlaneMeasurement | None:
        """Measure on ``viewport``'s reformatted image between two image points (col, row)."""
        grid = viewport.scene.grid or viewport.current_grid()
        try:
            if tool == "length":
                pm = measure_length(
                    viewport.view, grid, p0, p1, self.model.slab, self.series_instance_uid
                )
            else:
                radii = (abs(p1[0] - p0[0]), abs(p1[1] - p0[1]))
                pm = measure_ellipse(
                    viewport.view,
                    grid,
                    viewport.scene.values(),
                    p0,
                    radii,
                    self.model.slab,
                    self.series_instance_uid,
                )
        except MeasurementError as exc:
            log.info("measurement not made: %s", exc)
            return None
        self.model.add_measurement(pm)
        self._store(pm)
        self.measurement_added.emit(pm)
        self.measurements_changed.emit()
        return pm

    # -- stored measurements ----------------------------------------------------------------
    @property
    def stores_measurements(self) -> bool:
        return self.archive is not None and bool(self.study_instance_uid)

    def attach_store(self, archive: LocalArchive, study_instance_uid: str) -> None:
        """Keep what is measured here in ``archive`` under the study, and show again what was
        measured on this series before (as the constructor's arguments do)."""
        self.archive = archive
        self.study_instance_uid = study_instance_uid
        self.reload_measurements()

    def reload_measurements(self) -> list[PlaneMeasurement]:
        """The MPR measurements the store keeps for this series, shown again; a record that
        cannot be read back is left out with a log line."""
        if self.archive is None or not self.study_instance_uid:
            return []
        try:
            stored = self.archive.measurements(self.study_instance_uid)
        except WorkstationError as exc:
            log.warning("stored measurements unreadable: %s", type(exc).__name__)
            return []
        mine: list[PlaneMeasurement] = []
        for m in stored:
            if m.plane is None or m.plane.series_instance_uid != self.series_instance_uid:
                continue
            try:
                mine.append(PlaneMeasurement.from_measurement(m))
            except MeasurementError as exc:
                log.warning("a stored MPR measurement was left out: %s", exc)
        if mine or self.model.measurements:
            self.model.set_measurements(mine)
        return mine

    def _store(self, pm: PlaneMeasurement) -> None:
        if self.archive is None or not self.study_instance_uid:
            return
        try:
            self.archive.save_measurement(self.study_instance_uid, pm.measurement)
        except WorkstationError as exc:
            self.status_message.emit(_tr("Measurement not saved: ") + str(exc))

    def rename_measurement(self, measurement_id: str, name: str) -> PlaneMeasurement | None:
        """Give a measurement a name (stored); None when it is not on this view."""
        pm = self.model.measurement(measurement_id)
        if pm is None:
            return None
        renamed = pm.with_name(name)
        self.model.replace_measurement(renamed)
        self._store(renamed)
        self.measurements_changed.emit()
        return renamed

    def remove_measurement(self, measurement_id: str) -> bool:
        """Delete a measurement here and from the store; False when it is not on this view."""
        if not self.model.remove_measurement(measurement_id):
            return False
        if self.archive is not None:
            try:
                self.archive.delete_measurement(measurement_id)
            except WorkstationError as exc:
                self.status_message.emit(_tr("Measurement not deleted: ") + str(exc))
        self.measurements_changed.emit()
        return True

    def show_measurement(self, measurement_id: str) -> View | None:
        """Bring a measurement's plane into its view and highlight it; None if not here."""
        return self.model.show_measurement(measurement_id)

    def close_views(self) -> None:
        """Release the render windows (once: closing twice is harmless)."""
        if self._closed:
            return
        self._closed = True
        self._subscription.disconnect()
        for vp in self.viewports.values():
            vp.close_viewport()
        if self.viewport_3d is not None:
            self.viewport_3d.close_viewport()

    # -- reactions ---------------------------------------------------------------------------
    def _on_change(self, change: MprChange) -> None:
        if change.kind != "crop":  # the crop box is the 3D view's alone
            for vp in self.viewports.values():
                vp.refresh()
        if self.viewport_3d is not None:
            self.viewport_3d.model_changed()
        p = self.model.crosshair_lps
        if change.kind in ("crosshair", "reset") or p != self._shown_crosshair:
            self._update_position_label()
            self.crosshair_moved.emit(p[0], p[1], p[2])

    def _update_position_label(self) -> None:
        self._shown_crosshair = self.model.crosshair_lps
        self.position_label.setText(format_lps(self.model.crosshair_lps))

    def _slab_changed(self, *_args: Any) -> None:
        mode = self.mode_box.currentData()
        self.model.set_slab(self.slab_box.value(), mode)

    def _interpolation_changed(self, *_args: Any) -> None:
        self.model.set_interpolation(self.interp_box.currentData())

    def _preset_changed(self, *_args: Any) -> None:
        if self.viewport_3d is None:
            return
        key = self.preset_box.currentData()
        scene = self.viewport_3d.scene
        if key == "mip":
            d = self.model.display("axial")
            scene.set_blend_mode("mip", (d.center, d.width))
        else:
            self._last_preset = key
            scene.set_blend_mode("composite")
            scene.set_preset(key)
        button = self.viewport_3d.mip_button
        if button.isChecked() != (key == "mip"):
            button.blockSignals(True)
            button.setChecked(key == "mip")
            button.blockSignals(False)
        self.viewport_3d.schedule_render()
        self.show_notices()

    def set_3d_mip(self, on: bool) -> None:
        """The 3D view as a MIP through the axial window, or back to the last preset."""
        key = "mip" if on else self._last_preset
        if key:
            self.preset_box.setCurrentIndex(self.preset_box.findData(key))

    def _tool_changed(self, *_args: Any) -> None:
        self.tool = self.tool_box.currentData()

    def _reset(self) -> None:
        self.slab_box.blockSignals(True)
        self.slab_box.setValue(0.0)
        self.slab_box.blockSignals(False)
        self.model.reset()

    def closeEvent(self, ev: Any) -> None:
        self.close_views()
        super().closeEvent(ev)
