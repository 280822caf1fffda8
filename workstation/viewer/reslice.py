"""The VTK side of MPR: a volume wrapped once for VTK, ``vtkImageReslice`` planes and slabs, and
the 2D scene of one MPR viewport (image, crosshair lines, orientation letters, overlays).

The volume's numpy memory is shared with VTK, never copied. Its placement in the patient
(origin and direction cosines, PS3.3 C.7.6.2.1.1) is not put on the ``vtkImageData``: the image
keeps origin 0 and identity direction, and the placement goes into the reslice axes here and into
the volume's user matrix in :mod:`workstation.viewer.render3d`, so both paths agree with
:class:`workstation.core.volume_geometry.VolumeGeometry` whatever VTK version reads the image.
The output grid of every reslice is a :class:`workstation.viewer.mpr.ResliceGrid`, whose maths
the tests check in numpy.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonCore import VTK_FLOAT, vtkPoints, vtkUnsignedCharArray
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkImageData, vtkPolyData
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkImagingCore import vtkImageReslice
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkImageActor,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkRenderWindow,
    vtkTextActor,
)

from workstation.core.errors import ConfigError
from workstation.core.volume_geometry import VolumeGeometry
from workstation.viewer.mpr import (
    INTERPOLATIONS,
    EdgeLabels,
    Interpolation,
    ResliceGrid,
    Slab,
    slab_sampling,
)
from workstation.viewer.volume import Volume

import vtkmodules.vtkInteractionStyle  # isort: skip - registers styles
import vtkmodules.vtkRenderingFreeType  # isort: skip - text rendering
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  # isort: skip - OpenGL backend

log = logging.getLogger(__name__)

Color = tuple[float, float, float]
VIEW_COLORS: dict[str, Color] = {
    "axial": (0.95, 0.25, 0.25),
    "coronal": (0.3, 0.85, 0.35),
    "sagittal": (0.95, 0.85, 0.25),
}
MEASURE_COLOR: Color = (0.3, 0.8, 1.0)
# corner: (x, y) in the viewport (0..1), horizontal and vertical justification
_CORNERS = {
    "top_left": (0.01, 0.99, 0, 2),
    "top_right": (0.99, 0.99, 2, 2),
    "bottom_left": (0.01, 0.01, 0, 0),
    "bottom_right": (0.99, 0.01, 2, 0),
}


def _matrix(m: NDArray[np.float64]) -> vtkMatrix4x4:
    out = vtkMatrix4x4()
    for i in range(4):
        for j in range(4):
            out.SetElement(i, j, float(m[i, j]))
    return out


class VolumeImage:
    """A :class:`Volume` as ``vtkImageData`` sharing the volume's memory (no copy).

    Index (column, row, slice) is VTK's (x, y, z); ``placement`` is the 4×4 taking the image's
    own millimetres (column·Δc, row·Δr, slice·Δk) to LPS. ``background`` (the volume's smallest
    value, air on CT) fills what lies outside the volume.
    """

    def __init__(self, volume: Volume) -> None:
        arr = volume.array
        if arr.ndim != 3:
            raise ConfigError("a volume for MPR needs three dimensions")
        if not arr.flags.c_contiguous:
            log.warning("volume array is not contiguous: copied once for VTK")
            arr = np.ascontiguousarray(arr)
        self.volume = volume
        self.array = arr  # keeps the shared memory alive as long as VTK uses it
        g = volume.geometry
        k, r, c = arr.shape
        sk, sr, sc = g.spacing_mm
        self.image_data = vtkImageData()
        self.image_data.SetDimensions(c, r, k)
        self.image_data.SetSpacing(sc, sr, sk)
        self.image_data.SetOrigin(0.0, 0.0, 0.0)
        scalars = numpy_support.numpy_to_vtk(arr.reshape(-1), deep=False)
        scalars.SetName("values")
        self.image_data.GetPointData().SetScalars(scalars)
        self.background = float(arr.min()) if arr.size else 0.0
        self.value_range = (self.background, float(arr.max()) if arr.size else 0.0)
        placement = np.eye(4)
        placement[:3, :3] = g.direction_matrix
        placement[:3, 3] = g.origin_lps
        self.placement = placement
        self._to_local = np.linalg.inv(placement)

    @property
    def geometry(self) -> VolumeGeometry:
        return self.volume.geometry

    def shares_memory(self) -> bool:
        """True while VTK reads the very bytes of the volume's array."""
        vtk_arr = numpy_support.vtk_to_numpy(self.image_data.GetPointData().GetScalars())
        return bool(np.shares_memory(vtk_arr, self.volume.array))

    def local_axes(self, lps_axes: NDArray[np.float64]) -> vtkMatrix4x4:
        """Reslice axes in the image's own frame from axes given in LPS."""
        return _matrix(self._to_local @ lps_axes)

    def to_local_point(self, point_lps: Sequence[float]) -> NDArray[np.float64]:
        """An LPS point in the image's own millimetres (x, y, z = column, row, slice axes)."""
        p = np.append(np.asarray(point_lps, dtype=np.float64).reshape(3), 1.0)
        return (self._to_local @ p)[:3]

    def placement_matrix(self) -> vtkMatrix4x4:
        return _matrix(self.placement)


class Reslicer:
    """One ``vtkImageReslice`` producing a :class:`ResliceGrid` plane, or a slab around it."""

    def __init__(self, image: VolumeImage) -> None:
        self.image = image
        self.filter = vtkImageReslice()
        self.filter.SetInputData(image.image_data)
        self.filter.SetOutputDimensionality(2)
        self.filter.SetBackgroundLevel(image.background)
        self.filter.AutoCropOutputOff()
        self.filter.TransformInputSamplingOff()
        self.filter.SetOutputOrigin(0.0, 0.0, 0.0)
        self.grid: ResliceGrid | None = None
        self.interpolation: Interpolation = "linear"
        self.slab: Slab | None = None
        self.slab_step_factor = 1.0
        self.filter.SetInterpolationModeToLinear()

    @property
    def output_port(self) -> Any:
        return self.filter.GetOutputPort()

    def configure(
        self,
        grid: ResliceGrid,
        interpolation: Interpolation = "linear",
        slab: Slab | None = None,
        slab_step_factor: float = 1.0,
    ) -> bool:
        """Set the plane, interpolation and slab; returns False when nothing changed.

        ``slab_step_factor`` > 1 samples the slab coarser (see :func:`slab_sampling`).
        """
        if interpolation not in INTERPOLATIONS:
            raise ConfigError(
                f"interpolation must be one of {', '.join(INTERPOLATIONS)}, not {interpolation!r}"
            )
        factor = slab_step_factor if slab is not None else 1.0
        if (
            grid.isclose(self.grid)
            and interpolation == self.interpolation
            and slab == self.slab
            and factor == self.slab_step_factor
        ):
            return False
        f = self.filter
        if interpolation != self.interpolation or self.grid is None:
            {
                "nearest": f.SetInterpolationModeToNearestNeighbor,
                "linear": f.SetInterpolationModeToLinear,
                "cubic": f.SetInterpolationModeToCubic,
            }[interpolation]()
        step = 1.0
        if slab is None:
            f.SetSlabNumberOfSlices(1)
            f.SetOutputScalarType(-1)  # the input's type
        else:
            count, step = slab_sampling(slab, self.image.geometry, grid.plane.normal, factor)
            f.SetSlabNumberOfSlices(count)
            f.SetSlabSliceSpacingFraction(1.0)
            {"mip": f.SetSlabModeToMax, "minip": f.SetSlabModeToMin, "avg": f.SetSlabModeToMean}[
                slab.mode
            ]()
            f.SetSlabTrapezoidIntegration(1 if slab.mode == "avg" else 0)
            f.SetOutputScalarType(VTK_FLOAT if slab.mode == "avg" else -1)
        s = grid.spacing_mm
        f.SetOutputSpacing(s, s, step)
        f.SetOutputExtent(0, grid.width - 1, 0, grid.height - 1, 0, 0)
        f.SetResliceAxes(self.image.local_axes(grid.axes_matrix()))
        self.grid, self.interpolation, self.slab = grid, interpolation, slab
        self.slab_step_factor = factor
        return True

    def update(self) -> NDArray[Any]:
        """Run the reslice; the output values as a (height, width) array (VTK's memory)."""
        self.filter.Update()
        return self.output_values()

    def output_values(self) -> NDArray[Any]:
        """The last output as a (height, width) view, row 0 the image's top (no copy)."""
        if self.grid is None:
            raise ConfigError("the reslice has no output grid yet")
        out = self.filter.GetOutput()
        arr = numpy_support.vtk_to_numpy(out.GetPointData().GetScalars())
        return arr.reshape(self.grid.height, self.grid.width)


def reslice(
    image: VolumeImage,
    grid: ResliceGrid,
    interpolation: Interpolation = "linear",
    slab: Slab | None = None,
) -> NDArray[Any]:
    """The reformatted values of one grid, as a new (height, width) array."""
    r = Reslicer(image)
    r.configure(grid, interpolation, slab)
    return r.update().copy()


def vtk_window_level(center: float, width: float) -> tuple[float, float]:
    """VTK (window, level) that reproduce the DICOM linear window (PS3.3 C.11.2.1.2.1).

    DICOM maps c − 0.5 − (w − 1)/2 … c − 0.5 + (w − 1)/2 onto black … white; VTK maps
    level ± window/2, so window = w − 1 and level = c − 0.5.
    """
    return max(width - 1.0, 1e-3), center - 0.5


class ResliceView:
    """The VTK scene of one MPR viewport in a render window of the grid's size.

    One output pixel is one screen pixel: the camera is parallel, centred, and scaled so that
    the grid exactly fills the window, which makes a mouse position a pixel of the grid with
    no rounding (see :meth:`display_to_pixel`).
    """

    def __init__(self, render_window: vtkRenderWindow, image: VolumeImage, name: str) -> None:
        self.name = name
        self.render_window = render_window
        self.reslicer = Reslicer(image)
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(0.0, 0.0, 0.0)
        render_window.AddRenderer(self.renderer)
        self.actor = vtkImageActor()
        self.actor.GetMapper().SetInputConnection(self.reslicer.output_port)
        self.actor.GetMapper().BorderOn()
        self.actor.InterpolateOff()
        self.actor.VisibilityOff()
        self.renderer.AddViewProp(self.actor)
        self.lines = _Polylines(self.renderer, width=1.5, z=-1.0)
        self.overlay = _Polylines(self.renderer, width=2.0, z=-2.0)
        self.labels: dict[str, vtkTextActor] = {}
        for edge, (x, y, hj, vj) in {
            "left": (0.01, 0.5, 0, 1),
            "right": (0.99, 0.5, 2, 1),
            "top": (0.5, 0.99, 1, 2),
            "bottom": (0.5, 0.01, 1, 0),
        }.items():
            t = vtkTextActor()
            t.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
            t.SetPosition(x, y)
            prop = t.GetTextProperty()
            prop.SetFontSize(16)
            prop.SetBold(1)
            prop.SetColor(0.95, 0.85, 0.3)
            prop.SetShadow(1)
            prop.SetJustification(hj)
            prop.SetVerticalJustification(vj)
            self.renderer.AddViewProp(t)
            self.labels[edge] = t
        # Plain text actors at a fixed size: vtkCornerAnnotation re-fits its font on every
        # change, about 9 ms a frame on software OpenGL, while the crosshair text changes per move.
        self.corners: dict[str, vtkTextActor] = {}
        for corner, (x, y, hj, vj) in _CORNERS.items():
            t = vtkTextActor()
            t.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
            t.SetPosition(x, y)
            prop = t.GetTextProperty()
            prop.SetFontSize(13)
            prop.SetColor(0.92, 0.92, 0.75)
            prop.SetShadow(1)
            prop.SetJustification(hj)
            prop.SetVerticalJustification(vj)
            self.renderer.AddViewProp(t)
            self.corners[corner] = t
        self.corner_text: dict[str, str] = dict.fromkeys(_CORNERS, "")
        self.edge_labels: EdgeLabels | None = None
        self.window: tuple[float, float] | None = None

    @property
    def grid(self) -> ResliceGrid | None:
        return self.reslicer.grid

    # -- content -----------------------------------------------------------------------------
    def set_grid(
        self,
        grid: ResliceGrid,
        interpolation: Interpolation = "linear",
        slab: Slab | None = None,
        slab_step_factor: float = 1.0,
    ) -> bool:
        """Show ``grid``; returns False when the image did not change (no reslice needed)."""
        changed = self.reslicer.configure(grid, interpolation, slab, slab_step_factor)
        self.actor.VisibilityOn()
        if changed:
            self._apply_camera()
        return changed

    def set_window(self, center: float, width: float) -> None:
        if self.window == (center, width):
            return
        self.window = (center, width)
        w, lvl = vtk_window_level(center, width)
        prop = self.actor.GetProperty()
        prop.SetColorWindow(w)
        prop.SetColorLevel(lvl)

    def set_edge_labels(self, labels: EdgeLabels) -> None:
        if labels == self.edge_labels:
            return
        self.edge_labels = labels
        for edge in ("left", "right", "top", "bottom"):
            self.labels[edge].SetInput(getattr(labels, edge))

    def set_corner_text(self, texts: Mapping[str, str]) -> None:
        for corner, text in texts.items():
            if self.corner_text[corner] != text:
                self.corner_text[corner] = text
                self.corners[corner].SetInput(text)

    def set_crosshair_lines(
        self, segments: Sequence[tuple[Sequence[tuple[float, float]], Color]]
    ) -> None:
        """Lines given as ((col, row) points, colour) in image pixels."""
        self.lines.set(segments, self._pixel_mm())

    def set_overlays(self, shapes: Sequence[tuple[Sequence[tuple[float, float]], Color]]) -> None:
        """Measurement outlines as ((col, row) points, colour)."""
        self.overlay.set(shapes, self._pixel_mm())

    def values(self) -> NDArray[Any]:
        """The reformatted values now shown, (height, width), a copy."""
        self.reslicer.filter.Update()
        return self.reslicer.output_values().copy()

    # -- camera and screen -------------------------------------------------------------------
    def _pixel_mm(self) -> float:
        g = self.reslicer.grid
        return g.spacing_mm if g is not None else 1.0

    def _apply_camera(self) -> None:
        g = self.reslicer.grid
        if g is None:
            return
        s = g.spacing_mm
        cx, cy = (g.width - 1) * s / 2.0, (g.height - 1) * s / 2.0
        cam = self.renderer.GetActiveCamera()
        cam.ParallelProjectionOn()
        cam.SetFocalPoint(cx, cy, 0.0)
        cam.SetPosition(cx, cy, -1000.0)
        cam.SetViewUp(0.0, -1.0, 0.0)
        cam.SetParallelScale(g.height * s / 2.0)
        self.renderer.ResetCameraClippingRange()

    def display_to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """Grid (col, row) under a window position (x right, y down, pixel units as Qt gives).

        Window pixel (i, j) covers display coordinates [i, i+1]; its centre is grid pixel
        (i, j) when the window has the grid's size.
        """
        g = self.reslicer.grid
        if g is None:
            return (x, y)
        w, h = self.render_window.GetSize()
        cam = self.renderer.GetActiveCamera()
        per_px = 2.0 * cam.GetParallelScale() / max(h, 1)
        fx, fy, _ = cam.GetFocalPoint()
        wx = fx + (x + 0.5 - w / 2.0) * per_px
        wy = fy + (y + 0.5 - h / 2.0) * per_px
        return (wx / g.spacing_mm, wy / g.spacing_mm)

    def render(self) -> None:
        self.render_window.Render()

    def capture(self) -> NDArray[np.uint8]:
        """The window's pixels as RGB (rows, cols, 3), row 0 at the top."""
        self.render()
        return capture_window(self.render_window)


def capture_window(render_window: vtkRenderWindow) -> NDArray[np.uint8]:
    """RGB pixels of a render window's back buffer, row 0 at the top (works offscreen).

    Read as RGBA: an RGB read of a window whose width × 3 is not a multiple of 4 overran the
    buffer under OSMesa (OpenGL's default pack alignment of 4), corrupting the heap.
    """
    w, h = render_window.GetSize()
    data = vtkUnsignedCharArray()
    render_window.MakeCurrent()
    render_window.GetRGBACharPixelData(0, 0, w - 1, h - 1, 0, data, 0)
    arr = numpy_support.vtk_to_numpy(data).reshape(h, w, 4)
    return np.flipud(arr[:, :, :3]).copy()


class _Polylines:
    """Coloured polylines drawn over the image, in image pixels, one actor for all."""

    def __init__(self, renderer: vtkRenderer, width: float, z: float) -> None:
        self.z = z
        self.poly = vtkPolyData()
        self.mapper = vtkPolyDataMapper()
        self.mapper.SetInputData(self.poly)
        self.mapper.SetColorModeToDirectScalars()
        self.mapper.SetScalarModeToUseCellData()
        self.actor = vtkActor()
        self.actor.SetMapper(self.mapper)
        self.actor.GetProperty().SetLineWidth(width)
        self.actor.GetProperty().LightingOff()
        renderer.AddActor(self.actor)

    def set(
        self, shapes: Sequence[tuple[Sequence[tuple[float, float]], Color]], pixel_mm: float
    ) -> None:
        points = vtkPoints()
        cells = vtkCellArray()
        colors = vtkUnsignedCharArray()
        colors.SetNumberOfComponents(3)
        for pts, color in shapes:
            if len(pts) < 2:
                continue
            ids = []
            for c, r in pts:
                ids.append(points.InsertNextPoint(c * pixel_mm, r * pixel_mm, self.z))
            cells.InsertNextCell(len(ids), ids)
            colors.InsertNextTuple3(*(round(255 * v) for v in color))
        self.poly.SetPoints(points)
        self.poly.SetLines(cells)
        self.poly.GetCellData().SetScalars(colors)
        self.poly.Modified()
