"""Export one MPR plane, thick slab or 3D rendering of a stored series to PNG.

2D views are written pixel for pixel: each PNG pixel is one sample of the reformatted plane
(linear interpolation), windowed with the DICOM linear window (PS3.3 C.11.2.1.2) and nothing
else, so a pixel of the file can be traced back to its LPS point through
:attr:`MprExportResult.grid`. The requested position lands exactly on pixel
(width // 2, height // 2). Axial and coronal images have the patient's left on the right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workstation.archive.local import LocalArchive
from workstation.core.errors import ConfigError, NotFoundError
from workstation.core.model import Series
from workstation.viewer.mpr import (
    SLAB_MODES,
    VIEWS,
    EdgeLabels,
    Plane,
    ResliceGrid,
    Slab,
    Vec3,
    oblique_plane,
    orthogonal_plane,
)
from workstation.viewer.pixels import Window, default_window, to_display
from workstation.viewer.volume import Volume, assemble_series

if TYPE_CHECKING:  # VTK loads only when something is rendered
    from workstation.viewer.reslice import VolumeImage

EXPORT_VIEWS = (*VIEWS, "oblique", "3d")
MAX_SIDE = 4096
DEFAULT_3D_SIZE = (512, 512)


@dataclass(frozen=True, slots=True)
class MprExportResult:
    """What was written, and where each of its pixels lies (2D) or the camera looked (3D)."""

    path: Path
    view: str
    width: int
    height: int
    series_instance_uid: str
    position_lps: Vec3
    window: Window | None
    slab: Slab | None
    mode: str | None
    grid: ResliceGrid | None  # 2D: pixel (c, r) samples grid.pixel_to_lps(c, r)
    edge_labels: EdgeLabels | None
    position_pixel: tuple[float, float]  # where position_lps is drawn (col, row)
    notice: str = ""
    warnings: tuple[str, ...] = ()


def _pick_series(archive: LocalArchive, study_uid: str, series_number: int | None) -> Series:
    archive.study(study_uid)  # NotFoundError when the study is unknown
    series = [s for s in archive.series(study_uid) if s.number_of_instances]
    if series_number is not None:
        series = [s for s in series if s.series_number == series_number]
        if not series:
            raise NotFoundError(f"the study has no series number {series_number} with images")
    if not series:
        raise NotFoundError("the study has no images in the local store")
    return max(series, key=lambda s: s.number_of_instances)


def _vector(value: Sequence[float] | None, name: str) -> np.ndarray | None:
    if value is None:
        return None
    try:
        v = np.asarray([float(x) for x in value], dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"--{name} must be three numbers X,Y,Z") from None
    if v.shape != (3,) or not np.all(np.isfinite(v)):
        raise ConfigError(f"--{name} must be three finite numbers X,Y,Z")
    return v


def _window_of(
    volume: Volume, modality: str, window: Window | tuple[float, float] | None
) -> Window:
    if isinstance(window, Window):
        return window
    if window is not None:
        try:
            return Window(float(window[0]), float(window[1]))
        except (ValueError, IndexError) as exc:
            raise ConfigError(f"--window must be CENTER/WIDTH with width ≥ 1 ({exc})") from None
    if volume.instances:
        return default_window(volume.instances[0], modality, volume.array)
    lo, hi = float(volume.array.min()), float(volume.array.max())
    return Window((lo + hi + 1) / 2.0, max(hi - lo + 1, 1.0))


def plane_grid(
    volume: Volume, plane: Plane, position: Sequence[float], size: tuple[int, int] | None
) -> ResliceGrid:
    """A grid centred on ``position`` that holds the whole volume.

    Without ``size`` the pixels are the volume's finest spacing and the sides odd, so the
    position is the exact centre; with ``size`` the spacing is chosen so that the volume fits.
    """
    g = volume.geometry
    k, r, c = g.shape
    corners = g.index_to_lps(
        *np.meshgrid([-0.5, k - 0.5], [-0.5, r - 0.5], [-0.5, c - 0.5], indexing="ij")
    ).reshape(-1, 3)
    p = np.asarray(plane.project(position))
    rel = corners - p
    hx = float(np.abs(rel @ np.asarray(plane.x_axis)).max())
    hy = float(np.abs(rel @ np.asarray(plane.y_axis)).max())
    if size is None:
        spacing = min(g.spacing_mm)
        need = 2 * max(math.ceil(hx / spacing), math.ceil(hy / spacing)) + 1
        if need > MAX_SIDE:
            spacing *= need / MAX_SIDE
        width = 2 * math.ceil(hx / spacing) + 1
        height = 2 * math.ceil(hy / spacing) + 1
    else:
        width, height = size
        if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
            raise ConfigError(f"--size must be between 1 and {MAX_SIDE} per side")
        spacing = max(2 * hx / width, 2 * hy / height)
    return ResliceGrid.centred(plane, p, width, height, spacing)


def export_view(
    archive: LocalArchive,
    study_uid: str,
    series_number: int | None,
    view: str,
    out_png: str | Path,
    position: Sequence[float] | None = None,
    normal: Sequence[float] | None = None,
    slab_mm: float | None = None,
    mode: str | None = None,
    size: tuple[int, int] | None = None,
    window: Window | tuple[float, float] | None = None,
) -> MprExportResult:
    """Render ``view`` (axial, coronal, sagittal, oblique or 3d) of a stored series to a PNG.

    ``position`` (LPS mm, default the volume centre) is the image centre, and the point the
    plane passes through; ``normal`` is the oblique plane's normal, or for 3d the direction
    from the position towards the camera (default: from the front). ``slab_mm`` with ``mode``
    (mip, minip or avg; mip when only the thickness is given) makes a thick slab; for 3d,
    ``mode`` picks a MIP, MinIP or average projection instead of the modality's preset.
    ``series_number`` None takes the study's largest series.
    """
    if view not in EXPORT_VIEWS:
        raise ConfigError(f"--view must be one of {', '.join(EXPORT_VIEWS)}, not {view!r}")
    if mode is not None and mode not in SLAB_MODES:
        raise ConfigError(f"--mode must be one of {', '.join(SLAB_MODES)}, not {mode!r}")
    pos = _vector(position, "position")
    nrm = _vector(normal, "normal")
    if nrm is not None and view in VIEWS:
        raise ConfigError(
            "--normal is for --view oblique or 3d; axial, coronal and sagittal are fixed"
        )
    if view == "oblique" and nrm is None:
        raise ConfigError("--view oblique needs --normal X,Y,Z")
    if nrm is not None and np.linalg.norm(nrm) < 1e-9:
        raise ConfigError("--normal must not be zero")
    if slab_mm is not None and not (math.isfinite(slab_mm) and slab_mm >= 0):
        raise ConfigError("--slab must be a thickness in mm, 0 or more")
    if view == "3d" and slab_mm:
        raise ConfigError("--slab is for 2D views; crop the 3D view instead")
    if view != "3d" and mode is not None and not slab_mm:
        raise ConfigError("--mode needs --slab MM (the slab thickness)")

    series = _pick_series(archive, study_uid, series_number)
    volume = assemble_series(archive, series.series_instance_uid).volume
    k, r, c = volume.geometry.shape
    centre = volume.geometry.index_to_lps((k - 1) / 2, (r - 1) / 2, (c - 1) / 2)
    point = centre if pos is None else pos
    win = _window_of(volume, series.modality, window)
    out = Path(out_png)

    from workstation.viewer.export import write_png
    from workstation.viewer.reslice import VolumeImage

    image = VolumeImage(volume)
    if view == "3d":
        return _export_3d(image, series, out, point, nrm, mode, size, win, volume.warnings)

    plane = (
        oblique_plane(point, nrm)  # type: ignore[arg-type]
        if view == "oblique"
        else orthogonal_plane(view, point)  # type: ignore[arg-type]
    )
    grid = plane_grid(volume, plane, point, size)
    slab = Slab(float(slab_mm), mode or "mip") if slab_mm else None  # type: ignore[arg-type]

    from workstation.viewer.reslice import reslice

    values = reslice(image, grid, "linear", slab)
    grey = to_display(values, win)
    write_png(out, np.repeat(grey[:, :, None], 3, axis=2))
    col, row, _ = grid.lps_to_pixel(point)
    return MprExportResult(
        path=out,
        view=view,
        width=grid.width,
        height=grid.height,
        series_instance_uid=series.series_instance_uid,
        position_lps=(float(point[0]), float(point[1]), float(point[2])),
        window=win,
        slab=slab,
        mode=slab.mode if slab else None,
        grid=grid,
        edge_labels=plane.edge_labels(),
        position_pixel=(float(col), float(row)),
        warnings=volume.warnings,
    )


def _export_3d(
    image: VolumeImage,
    series: Series,
    out: Path,
    point: np.ndarray,
    normal: np.ndarray | None,
    mode: str | None,
    size: tuple[int, int] | None,
    window: Window,
    warnings: tuple[str, ...],
) -> MprExportResult:
    from workstation.viewer.export import write_png
    from workstation.viewer.render3d import VolumeRenderView
    from workstation.viewer.scene2d import offscreen_window

    width, height = size or DEFAULT_3D_SIZE
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ConfigError(f"--size must be between 1 and {MAX_SIDE} per side")
    win = offscreen_window(width, height)
    try:
        view = VolumeRenderView(
            win, image, modality=series.modality or "CT", reduce_on_software_gl=False
        )
        if mode is not None:
            view.set_blend_mode(mode, (window.center, window.width))  # type: ignore[arg-type]
        view.look_from("anterior" if normal is None else normal, focal_lps=point)
        rgb = view.capture()
        x, y = view.world_to_display(point)
        notice = view.notice
    finally:
        win.Finalize()
    write_png(out, rgb)
    return MprExportResult(
        path=out,
        view="3d",
        width=width,
        height=height,
        series_instance_uid=series.series_instance_uid,
        position_lps=(float(point[0]), float(point[1]), float(point[2])),
        window=window if mode is not None else None,
        slab=None,
        mode=mode,
        grid=None,
        edge_labels=None,
        position_pixel=(x, y),
        notice=notice,
        warnings=warnings,
    )
