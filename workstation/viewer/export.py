"""Render one image through the viewer's pipeline and scene to a PNG (``export-image``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workstation.core.errors import WorkstationError
from workstation.viewer.annotations import corner_texts
from workstation.viewer.pixels import Window
from workstation.viewer.stack import ImageStack

MAX_EXPORT_SIDE = 8192


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    width: int
    height: int
    window: Window | None
    frame_index: int


def output_size(stack: ImageStack, index: int, size: tuple[int, int] | None) -> tuple[int, int]:
    """Native size, widened or heightened so non-square pixels keep their true aspect."""
    if size is not None:
        w, h = size
        if not (0 < w <= MAX_EXPORT_SIDE and 0 < h <= MAX_EXPORT_SIDE):
            raise WorkstationError(f"--size must be between 1 and {MAX_EXPORT_SIDE} per side")
        return w, h
    inst = stack.frames[index].instance
    rows, cols = inst.rows, inst.columns
    spacing = stack.pixel_spacing(index)
    if spacing and spacing[0] > 0 and spacing[1] > 0 and spacing[0] != spacing[1]:
        ratio = spacing[1] / spacing[0]  # column spacing / row spacing
        if ratio > 1:
            return round(cols * ratio), rows
        return cols, round(rows / ratio)
    return cols, rows


def render_png(
    stack: ImageStack,
    index: int,
    out: Path,
    *,
    window: Window | None = None,
    size: tuple[int, int] | None = None,
    annotations: bool = False,
) -> ExportResult:
    """Render frame ``index`` of ``stack`` to ``out`` as PNG, through :class:`SliceScene`."""

    from workstation.viewer.scene2d import SliceScene, offscreen_window

    if not 0 <= index < len(stack):
        raise WorkstationError(f"image {index + 1} does not exist: the series has {len(stack)}")
    if window is None and not stack.is_color(index):
        window = stack.default_window(index)
    display = stack.display(index, window)
    width, height = output_size(stack, index, size)
    win = offscreen_window(width, height)
    scene = SliceScene(win)
    scene.set_image(display, stack.pixel_spacing(index))
    if annotations:
        scene.set_corner_text(corner_texts(stack, index, window, scene.zoom))
    rgb = scene.capture()
    win.Finalize()
    write_png(out, rgb)
    return ExportResult(out, width, height, window, index)


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB (rows, cols, 3) uint8 array, row 0 at the top, as a PNG file."""
    from vtkmodules.util import numpy_support
    from vtkmodules.vtkCommonDataModel import vtkImageData
    from vtkmodules.vtkIOImage import vtkPNGWriter

    h, w = rgb.shape[:2]
    img = vtkImageData()
    img.SetDimensions(w, h, 1)
    flat = np.ascontiguousarray(np.flipud(rgb)).reshape(h * w, 3)
    arr = numpy_support.numpy_to_vtk(flat, deep=True)
    arr.SetNumberOfComponents(3)
    img.GetPointData().SetScalars(arr)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = vtkPNGWriter()
    writer.SetFileName(str(path))
    writer.SetInputData(img)
    writer.Write()
    if not path.exists() or path.stat().st_size == 0:
        raise WorkstationError(f"could not write {path}")
