"""3D volume rendering: GPU ray casting with transfer-function presets read from data.

``vtkGPUVolumeRayCastMapper`` renders the volume the MPR views share (one ``vtkImageData`` on
the volume's own memory, :class:`workstation.viewer.reslice.VolumeImage`), placed in LPS by the
volume's user matrix. When the GPU path is unsupported or fails while rendering, the view falls
back to ``vtkSmartVolumeMapper`` in CPU ray-cast mode and says so in its ``notice``.
Software OpenGL takes seconds per full-quality frame, so while the user drags, the view renders
at reduced quality (coarser samples along the ray, a third of the rays, no shading); jittering
removes the wood-grain pattern coarse sampling would leave.

Software OpenGL (Mesa llvmpipe, softpipe, swrast) keeps the 3D texture in system memory, a second
copy of the volume beside the one the MPR views share. There, a volume larger than
:data:`SOFTWARE_GL_MAX_TEXTURE_BYTES` is ray cast from a block-averaged copy
(:func:`workstation.viewer.volume.reduced_volume`, geometry kept) and ``reduction`` says by how
much, for the UI to tell the user; :data:`REDUCE_3D_ON_SOFTWARE_GL` turns this off. A hardware
driver always gets the full volume; the 2D MPR planes are always full resolution.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from vtkmodules.vtkCommonCore import vtkCommand, vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPiecewiseFunction, vtkPolyData
from vtkmodules.vtkFiltersSources import vtkSphereSource
from vtkmodules.vtkInteractionWidgets import vtkBoxRepresentation, vtkBoxWidget2
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkColorTransferFunction,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkRenderWindow,
    vtkRenderWindowInteractor,
    vtkVolume,
    vtkVolumeProperty,
)
from vtkmodules.vtkRenderingVolume import vtkGPUVolumeRayCastMapper
from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkSmartVolumeMapper

from workstation.core.errors import ConfigError
from workstation.viewer.planes3d import Box, Extent, clamp_box, crop_extent, extent_local_planes
from workstation.viewer.reslice import VolumeImage, capture_window
from workstation.viewer.volume import reduced_volume

import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  # isort: skip - OpenGL backend
from workstation.core.paths import resource_path

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
BlendMode = Literal["composite", "mip", "minip", "avg"]
BLEND_MODES: tuple[BlendMode, ...] = ("composite", "mip", "minip", "avg")
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_FIELDS = frozenset(
    {
        "key",
        "name",
        "modality",
        "color",
        "opacity",
        "gradient_opacity",
        "shade",
        "ambient",
        "diffuse",
        "specular",
        "specular_power",
        "source",
    }
)
# Named viewing directions: from where the camera looks (LPS), and the screen's up.
VIEW_DIRECTIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "anterior": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "posterior": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "left": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "right": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "superior": ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),
    "inferior": ((0.0, 0.0, -1.0), (0.0, -1.0, 0.0)),
}
# While moving: 4× coarser samples along the ray, a third of the rays, no shading (shading
# triples the cost on software OpenGL).
INTERACTIVE_SAMPLE_FACTOR = 4.0
INTERACTIVE_IMAGE_SAMPLE_DISTANCE = 3.0
OUTLINE_WIDTH_PX = 2.0
# Software OpenGL: ray cast from a block-averaged copy when the volume's texture would exceed
# this (a 512×512×400 int16 CT, 200 MiB, is averaged over 2×2×2 blocks: 25 MiB).
REDUCE_3D_ON_SOFTWARE_GL = True
SOFTWARE_GL_MAX_TEXTURE_BYTES = 32 * 2**20
SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast")
Color = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class VolumePreset:
    """One transfer function: colour and opacity by value, lighting, for some modalities."""

    key: str
    name: str
    modalities: tuple[str, ...]
    color: tuple[tuple[float, float, float, float], ...]  # (value, r, g, b)
    opacity: tuple[tuple[float, float], ...]  # (value, opacity per mm)
    gradient_opacity: tuple[tuple[float, float], ...] = ()
    shade: bool = False
    ambient: float = 0.1
    diffuse: float = 0.9
    specular: float = 0.2
    specular_power: float = 10.0
    source: str = ""


def builtin_volume_presets_path() -> Path:
    """resources/presets/volume_rendering.toml (see :func:`core.paths.resource_path`)."""
    return resource_path("presets", "volume_rendering.toml")


def _curve(
    raw: Any, width: int, where: str, name: str, unit_range: bool
) -> tuple[tuple[float, ...], ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise ConfigError(f"{where}: '{name}' needs a list of at least two points")
    points = []
    for i, p in enumerate(raw):
        if not isinstance(p, list) or len(p) != width:
            raise ConfigError(f"{where}: '{name}' point {i + 1} must have {width} numbers")
        try:
            values = tuple(float(v) for v in p)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: '{name}' point {i + 1} must hold numbers") from None
        if not all(math.isfinite(v) for v in values):
            raise ConfigError(f"{where}: '{name}' point {i + 1} must be finite")
        if unit_range and not all(0.0 <= v <= 1.0 for v in values[1:]):
            raise ConfigError(f"{where}: '{name}' point {i + 1}: components must be 0..1")
        points.append(values)
    xs = [p[0] for p in points]
    if any(b < a for a, b in itertools.pairwise(xs)):
        raise ConfigError(f"{where}: '{name}' values must be in ascending order")
    return tuple(points)


def _preset(item: Any, where: str, index: int) -> VolumePreset:
    here = f"{where}: preset {index + 1}"
    if not isinstance(item, dict):
        raise ConfigError(f"{here} must be a table")
    unknown = set(item) - _FIELDS
    if unknown:
        raise ConfigError(f"{here}: unknown key(s) {', '.join(sorted(unknown))}")
    for req in ("key", "name", "modality", "color", "opacity"):
        if req not in item:
            raise ConfigError(f"{here} lacks '{req}'")
    key = item["key"]
    if not isinstance(key, str) or not _KEY.match(key):
        raise ConfigError(f"{here}: 'key' must be lower-case letters, digits and '-'")
    here = f"{where}: preset {key!r}"
    mods = item["modality"]
    if isinstance(mods, str):
        mods = [mods]
    if not isinstance(mods, list) or not mods or not all(isinstance(m, str) for m in mods):
        raise ConfigError(f"{here}: 'modality' must be a Modality value or a list of them")
    lighting = {}
    for name in ("ambient", "diffuse", "specular", "specular_power"):
        if name in item:
            v = item[name]
            if not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"{here}: '{name}' must be a non-negative number")
            lighting[name] = float(v)
    shade = item.get("shade", False)
    if not isinstance(shade, bool):
        raise ConfigError(f"{here}: 'shade' must be true or false")
    return VolumePreset(
        key=key,
        name=str(item["name"]),
        modalities=tuple(m.strip().upper() for m in mods),
        color=_curve(item["color"], 4, here, "color", True),  # type: ignore[arg-type]
        opacity=_curve(item["opacity"], 2, here, "opacity", True),  # type: ignore[arg-type]
        gradient_opacity=_curve(item["gradient_opacity"], 2, here, "gradient_opacity", True)  # type: ignore[arg-type]
        if "gradient_opacity" in item
        else (),
        shade=shade,
        source=str(item.get("source", "")),
        **lighting,
    )


def load_volume_presets(path: Path | None = None) -> dict[str, VolumePreset]:
    """Read a presets file (default: the built-in one); errors name the file and the key."""
    path = path or builtin_volume_presets_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: volume-rendering presets file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the presets ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ConfigError(f"{path}: 'schema_version' must be {SCHEMA_VERSION}, not {version!r}")
    items = data.get("preset")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: no [[preset]] entries")
    out: dict[str, VolumePreset] = {}
    for i, item in enumerate(items):
        p = _preset(item, str(path), i)
        if p.key in out:
            raise ConfigError(f"{path}: preset key {p.key!r} is defined twice")
        out[p.key] = p
    return out


def default_preset_key(modality: str, presets: dict[str, VolumePreset]) -> str:
    """The first preset made for ``modality``, else the first preset of the file."""
    m = modality.strip().upper()
    for key, p in presets.items():
        if m in p.modalities:
            return key
    return next(iter(presets))


def opengl_renderer(render_window: vtkRenderWindow) -> str:
    """The OpenGL renderer string of an initialised window ("" when not known)."""
    if not render_window.GetInitialized():
        return ""  # asking VTK before the context exists crashes (VTK 9.7, OSMesa)
    for line in str(render_window.ReportCapabilities()).splitlines():
        if line.startswith("OpenGL renderer string:"):
            return line.split(":", 1)[1].strip()
    return ""


def is_software_renderer(renderer: str) -> bool:
    """True for Mesa's CPU rasterisers, whose textures live in system memory."""
    low = renderer.lower()
    return any(name in low for name in SOFTWARE_RENDERERS)


def software_reduction_factor(nbytes: int, max_bytes: int = SOFTWARE_GL_MAX_TEXTURE_BYTES) -> int:
    """The smallest block size f whose f³-averaged copy fits ``max_bytes`` (1: no reduction)."""
    if max_bytes <= 0:
        raise ConfigError("the 3D texture budget must be a positive number of bytes")
    f = 1
    while nbytes / f**3 > max_bytes:
        f += 1
    return f


def _gpu_mapper() -> Any:
    """The OpenGL implementation of the GPU ray-cast mapper (the factory's choice)."""
    return vtkGPUVolumeRayCastMapper()


class VolumeRenderView:
    """A ray-cast volume in a renderer of its own, with presets, blend modes and cropping.

    ``use_gpu=False`` starts on the fallback mapper directly; ``notice`` tells the user when the
    view runs on the fallback (empty otherwise).
    """

    def __init__(
        self,
        render_window: vtkRenderWindow,
        image: VolumeImage,
        preset: VolumePreset | str | None = None,
        *,
        presets: dict[str, VolumePreset] | None = None,
        modality: str = "CT",
        use_gpu: bool = True,
        reduce_on_software_gl: bool | None = None,
    ) -> None:
        self.render_window = render_window
        self.image = image
        # None: REDUCE_3D_ON_SOFTWARE_GL decides (read at the first frame); an export asks
        # for full resolution, since it holds no MPR views beside the 3D texture.
        self._reduce = reduce_on_software_gl
        # What the ray caster reads: ``image``, or its block-averaged copy on software OpenGL.
        self.render_image = image
        self.reduction = 1
        self._input_chosen = False
        self.presets = presets if presets is not None else load_volume_presets()
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(0.0, 0.0, 0.0)
        render_window.AddRenderer(self.renderer)
        self.property = vtkVolumeProperty()
        self.property.SetInterpolationTypeToLinear()
        self.property.SetScalarOpacityUnitDistance(1.0)
        self.volume = vtkVolume()
        self.volume.SetProperty(self.property)
        self.volume.SetUserMatrix(image.placement_matrix())
        self.renderer.AddVolume(self.volume)
        spacing = min(image.geometry.spacing_mm)
        self.sample_distance = float(spacing)
        self.blend_mode: BlendMode = "composite"
        self.window: tuple[float, float] = (40.0, 400.0)
        self.interactive = False
        self.crop_box_lps: tuple[tuple[float, ...], tuple[float, ...]] | None = None
        self.crop_extent: Extent | None = None
        self.overlays_visible = True
        self._outlines: dict[str, tuple[vtkPolyData, vtkActor]] = {}
        self._marker: tuple[vtkSphereSource, vtkActor] | None = None
        self.marker_lps: tuple[float, float, float] | None = None
        self.notice = ""
        self._gpu_failed = False
        self.mapper: Any = None
        self.mapper_kind = ""
        if isinstance(preset, str):
            preset = self.presets.get(preset)
            if preset is None:
                raise ConfigError(f"no volume-rendering preset {preset!r}")
        self.preset: VolumePreset = (
            preset or self.presets[default_preset_key(modality, self.presets)]
        )
        self._apply_preset()
        if use_gpu:
            self._use_gpu()
        else:
            self._use_fallback("the GPU ray caster was turned off")
        self.look_from("anterior")

    # -- mappers -----------------------------------------------------------------------------
    def _use_gpu(self) -> None:
        mapper = _gpu_mapper()
        mapper.SetInputData(self.render_image.image_data)
        mapper.SetUseJittering(1)
        mapper.AddObserver(vtkCommand.ErrorEvent, self._on_gpu_error)
        self.mapper = mapper
        self.mapper_kind = "gpu"
        self.volume.SetMapper(mapper)
        self._apply_mapper_state()
        try:
            supported = bool(mapper.IsRenderSupported(self.render_window, self.property))
        except Exception as exc:  # a broken driver can fail here instead of answering
            log.warning("GPU volume rendering check failed: %s", type(exc).__name__)
            supported = False
        if not supported:
            self._use_fallback("the GPU ray caster is not supported by this OpenGL driver")

    def _on_gpu_error(self, _obj: Any, _event: str) -> None:
        self._gpu_failed = True

    def _choose_input(self) -> None:
        """Before the first upload: on software OpenGL, a volume over the texture budget is
        replaced by its block-averaged copy (see the module's docstring)."""
        self._input_chosen = True
        reduce = REDUCE_3D_ON_SOFTWARE_GL if self._reduce is None else self._reduce
        if not reduce or self.mapper_kind != "gpu":
            return
        factor = software_reduction_factor(self.image.array.nbytes, SOFTWARE_GL_MAX_TEXTURE_BYTES)
        if factor == 1:
            return
        if not self.render_window.GetInitialized():
            self.volume.VisibilityOff()  # a frame without the volume makes the context
            try:
                self.render_window.Render()
            finally:
                self.volume.VisibilityOn()
        renderer = opengl_renderer(self.render_window)
        if not is_software_renderer(renderer):
            return
        self._set_render_image(VolumeImage(reduced_volume(self.image.volume, factor)), factor)
        log.info("3D on software OpenGL: ray cast at 1/%d resolution", factor)

    def _set_render_image(self, image: VolumeImage, reduction: int) -> None:
        self.render_image = image
        self.reduction = reduction
        self.volume.SetUserMatrix(image.placement_matrix())
        self.sample_distance = float(min(image.geometry.spacing_mm))
        if self.mapper_kind == "gpu":
            self.mapper.SetInputData(image.image_data)
            self._apply_mapper_state()

    def _use_fallback(self, reason: str) -> None:
        if self.render_image is not self.image:  # the CPU ray caster needs no texture
            self.render_image, self.reduction = self.image, 1
            self.volume.SetUserMatrix(self.image.placement_matrix())
            self.sample_distance = float(min(self.image.geometry.spacing_mm))
        mapper = vtkSmartVolumeMapper()
        mapper.SetInputData(self.image.image_data)
        mapper.SetRequestedRenderModeToRayCast()
        self.mapper = mapper
        self.mapper_kind = "smart"
        self.volume.SetMapper(mapper)
        self._apply_mapper_state()
        self.notice = f"3D runs on the CPU ray caster: {reason}; rendering is slower"
        log.info("volume rendering falls back to the CPU: %s", reason)

    def _apply_mapper_state(self) -> None:
        m = self.mapper
        {
            "composite": m.SetBlendModeToComposite,
            "mip": m.SetBlendModeToMaximumIntensity,
            "minip": m.SetBlendModeToMinimumIntensity,
            "avg": m.SetBlendModeToAverageIntensity,
        }[self.blend_mode]()
        self._apply_quality()
        self._apply_crop()

    def _apply_quality(self) -> None:
        m = self.mapper
        factor = INTERACTIVE_SAMPLE_FACTOR if self.interactive else 1.0
        if self.blend_mode == "composite":
            self.property.SetShade(1 if self.preset.shade and not self.interactive else 0)
        if self.mapper_kind == "gpu":
            m.SetAutoAdjustSampleDistances(0)
            m.SetSampleDistance(self.sample_distance * factor)
            m.SetImageSampleDistance(INTERACTIVE_IMAGE_SAMPLE_DISTANCE if self.interactive else 1.0)
        else:
            m.SetSampleDistance(self.sample_distance * factor)
            m.SetInteractiveAdjustSampleDistances(0)

    # -- transfer functions ------------------------------------------------------------------
    def set_preset(self, preset: VolumePreset | str) -> None:
        if isinstance(preset, str):
            if preset not in self.presets:
                raise ConfigError(f"no volume-rendering preset {preset!r}")
            preset = self.presets[preset]
        self.preset = preset
        self._apply_preset()
        self._apply_quality()

    def _apply_preset(self) -> None:
        p = self.preset
        if self.blend_mode == "composite":
            color = vtkColorTransferFunction()
            for v, r, g, b in p.color:
                color.AddRGBPoint(v, r, g, b)
            opacity = vtkPiecewiseFunction()
            for v, a in p.opacity:
                opacity.AddPoint(v, a)
            self.property.SetColor(color)
            self.property.SetScalarOpacity(opacity)
            if p.gradient_opacity:
                grad = vtkPiecewiseFunction()
                for v, a in p.gradient_opacity:
                    grad.AddPoint(v, a)
                self.property.SetGradientOpacity(grad)
                self.property.DisableGradientOpacityOff()
            else:
                self.property.DisableGradientOpacityOn()
            self.property.SetShade(1 if p.shade else 0)
            self.property.SetAmbient(p.ambient)
            self.property.SetDiffuse(p.diffuse)
            self.property.SetSpecular(p.specular)
            self.property.SetSpecularPower(p.specular_power)
        else:
            # Projections show the value found along the ray through the window, grey.
            c, w = self.window
            lo, hi = c - w / 2.0, c + w / 2.0
            color = vtkColorTransferFunction()
            color.AddRGBPoint(lo, 0.0, 0.0, 0.0)
            color.AddRGBPoint(hi, 1.0, 1.0, 1.0)
            opacity = vtkPiecewiseFunction()
            opacity.AddPoint(lo, 1.0)
            opacity.AddPoint(hi, 1.0)
            self.property.SetColor(color)
            self.property.SetScalarOpacity(opacity)
            self.property.DisableGradientOpacityOn()
            self.property.ShadeOff()

    def set_blend_mode(self, mode: BlendMode, window: tuple[float, float] | None = None) -> None:
        """composite (the preset), or a 3D MIP, MinIP or average through ``window``."""
        if mode not in BLEND_MODES:
            raise ConfigError(f"blend mode must be one of {', '.join(BLEND_MODES)}, not {mode!r}")
        self.blend_mode = mode
        if window is not None:
            self.window = (float(window[0]), float(window[1]))
        self._apply_preset()
        self._apply_mapper_state()

    # -- cropping ----------------------------------------------------------------------------
    def set_crop_box_lps(self, lo: ArrayLike, hi: ArrayLike) -> None:
        """Show only the voxels whose centres lie in the LPS box lo..hi (taken as the box
        around its corners in the volume's own axes, the box itself for an axial volume)."""
        a = np.asarray(lo, dtype=np.float64).reshape(3)
        b = np.asarray(hi, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(a)) or not np.all(np.isfinite(b)) or np.any(b <= a):
            raise ConfigError("a crop box needs finite corners with lo < hi on every axis")
        extent = crop_extent(self.image.geometry, a, b)  # GeometryError: keeps no voxel
        self.crop_box_lps = (tuple(a), tuple(b))
        self.crop_extent = extent
        self._apply_crop()

    def clear_crop(self) -> None:
        self.crop_box_lps = None
        self.crop_extent = None
        self._apply_crop()

    def _apply_crop(self) -> None:
        m = self.mapper
        if self.crop_extent is None:
            m.SetCropping(0)
            return
        # Whole voxels: the planes lie half a voxel beyond the first and last kept centres.
        m.SetCropping(1)
        planes = extent_local_planes(self.image.geometry, self.crop_extent)
        if self.render_image is not self.image:  # the same planes in the coarse image's frame
            shift = self.image.to_local_point(self.render_image.geometry.origin_lps)
            planes = tuple(p - shift[i // 2] for i, p in enumerate(planes))
        m.SetCroppingRegionPlanes(*planes)
        m.SetCroppingRegionFlagsToSubVolume()

    # -- overlays: plane outlines and a marker -----------------------------------------------
    def set_plane_outlines(self, outlines: Mapping[str, tuple[ArrayLike, Color]]) -> None:
        """Closed polylines drawn in the scene, one per key (the MPR planes): LPS corners
        (N×3, in order) and a colour; a key left out is removed, an empty polygon hides it."""
        for key in list(self._outlines):
            if key not in outlines:
                self.renderer.RemoveActor(self._outlines.pop(key)[1])
        for key, (corners, color) in outlines.items():
            pts = np.asarray(corners, dtype=np.float64).reshape(-1, 3)
            if key not in self._outlines:
                poly = vtkPolyData()
                mapper = vtkPolyDataMapper()
                mapper.SetInputData(poly)
                actor = vtkActor()
                actor.SetMapper(mapper)
                prop = actor.GetProperty()
                prop.SetLineWidth(OUTLINE_WIDTH_PX)
                prop.LightingOff()
                actor.PickableOff()
                self.renderer.AddActor(actor)
                self._outlines[key] = (poly, actor)
            poly, actor = self._outlines[key]
            points = vtkPoints()
            points.SetDataTypeToDouble()  # the LPS millimetres as given, no float32 rounding
            for p in pts:
                points.InsertNextPoint(float(p[0]), float(p[1]), float(p[2]))
            lines = vtkCellArray()
            if len(pts) >= 2:
                lines.InsertNextCell(len(pts) + 1)
                for i in [*range(len(pts)), 0]:
                    lines.InsertCellPoint(i)
            poly.SetPoints(points)
            poly.SetLines(lines)
            poly.Modified()
            actor.GetProperty().SetColor(*color)
            actor.SetVisibility(self.overlays_visible and len(pts) >= 2)

    def outline_points(self, key: str) -> NDArray[np.float64]:
        """The LPS corners the scene holds for outline ``key`` (N×3), as drawn."""
        if key not in self._outlines:
            return np.zeros((0, 3))
        points = self._outlines[key][0].GetPoints()
        if points is None:
            return np.zeros((0, 3))
        return np.array([points.GetPoint(i) for i in range(points.GetNumberOfPoints())])

    def set_marker(self, point_lps: Sequence[float] | None, color: Color = (1.0, 1.0, 1.0)) -> None:
        """A small sphere at an LPS point (the crosshair), or none."""
        if point_lps is None:
            self.marker_lps = None
            if self._marker is not None:
                self._marker[1].SetVisibility(0)
            return
        if self._marker is None:
            lo, hi = self.bounds_lps()
            sphere = vtkSphereSource()
            sphere.SetRadius(max(1.0, 0.005 * float(np.linalg.norm(hi - lo))))
            sphere.SetThetaResolution(16)
            sphere.SetPhiResolution(12)
            mapper = vtkPolyDataMapper()
            mapper.SetInputConnection(sphere.GetOutputPort())
            actor = vtkActor()
            actor.SetMapper(mapper)
            actor.GetProperty().LightingOff()
            actor.PickableOff()
            self.renderer.AddActor(actor)
            self._marker = (sphere, actor)
        sphere, actor = self._marker
        p = tuple(float(v) for v in point_lps)
        self.marker_lps = (p[0], p[1], p[2])
        sphere.SetCenter(*p)
        actor.GetProperty().SetColor(*color)
        actor.SetVisibility(self.overlays_visible)

    def set_overlays_visible(self, visible: bool) -> None:
        """Show or hide the plane outlines and the marker together."""
        self.overlays_visible = bool(visible)
        for poly, actor in self._outlines.values():
            actor.SetVisibility(self.overlays_visible and poly.GetNumberOfPoints() >= 2)
        if self._marker is not None:
            self._marker[1].SetVisibility(self.overlays_visible and self.marker_lps is not None)

    # -- quality -----------------------------------------------------------------------------
    def set_interactive(self, interactive: bool) -> None:
        """Reduced quality while the user moves the camera; full quality when still."""
        if interactive == self.interactive:
            return
        self.interactive = interactive
        self._apply_quality()

    # -- camera ------------------------------------------------------------------------------
    def bounds_lps(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        lo, hi = self.image.geometry.world_bounds(voxel_edges=True)
        return np.asarray(lo), np.asarray(hi)

    def look_from(
        self,
        direction: str | Sequence[float],
        focal_lps: Sequence[float] | None = None,
        view_up: Sequence[float] | None = None,
    ) -> None:
        """Place the camera on the side ``direction`` (a name of :data:`VIEW_DIRECTIONS` or an
        LPS vector pointing from the focal point to the camera), the whole volume in view."""
        if isinstance(direction, str):
            if direction not in VIEW_DIRECTIONS:
                raise ConfigError(
                    f"view direction must be one of {', '.join(VIEW_DIRECTIONS)}, not {direction!r}"
                )
            d, up = (np.asarray(v, dtype=np.float64) for v in VIEW_DIRECTIONS[direction])
        else:
            d = np.asarray(direction, dtype=np.float64).reshape(3)
            if not np.all(np.isfinite(d)) or np.linalg.norm(d) < 1e-9:
                raise ConfigError("a view direction must be a non-zero finite vector")
            d = d / np.linalg.norm(d)
            up = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([0.0, -1.0, 0.0])
        if view_up is not None:
            up = np.asarray(view_up, dtype=np.float64).reshape(3)
        up = up - (up @ d) * d
        up = up / np.linalg.norm(up)
        lo, hi = self.bounds_lps()
        focal = (lo + hi) / 2.0 if focal_lps is None else np.asarray(focal_lps, dtype=np.float64)
        corners = np.array(
            [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
        )
        rel = corners - focal
        right = np.cross(-d, up)
        # The nearest distance at which every corner of the volume lies inside the 30° view.
        spread = np.maximum(np.abs(rel @ right), np.abs(rel @ up))
        distance = float((spread / math.tan(math.radians(15.0)) + rel @ d).max()) * 1.02
        cam = self.renderer.GetActiveCamera()
        cam.ParallelProjectionOff()
        cam.SetViewAngle(30.0)
        cam.SetFocalPoint(*focal)
        cam.SetPosition(*(focal + d * distance))
        cam.SetViewUp(*up)
        self.renderer.ResetCameraClippingRange()

    def rotate(self, azimuth_deg: float = 0.0, elevation_deg: float = 0.0) -> None:
        cam = self.renderer.GetActiveCamera()
        cam.Azimuth(azimuth_deg)
        cam.Elevation(elevation_deg)
        cam.OrthogonalizeViewUp()
        self.renderer.ResetCameraClippingRange()

    def world_to_display(self, point_lps: Sequence[float]) -> tuple[float, float]:
        """Window position (x right, y down, in pixels) where an LPS point is drawn."""
        r = self.renderer
        r.SetWorldPoint(float(point_lps[0]), float(point_lps[1]), float(point_lps[2]), 1.0)
        r.WorldToDisplay()
        x, y, _ = r.GetDisplayPoint()
        _, h = self.render_window.GetSize()
        return (float(x), float(h - y))

    # -- drawing -----------------------------------------------------------------------------
    def render(self) -> None:
        if not self._input_chosen:
            self._choose_input()
        self.renderer.ResetCameraClippingRange()
        self.render_window.Render()
        if self._gpu_failed and self.mapper_kind == "gpu":
            self._gpu_failed = False
            self._use_fallback("the GPU ray caster failed while rendering")
            self.render_window.Render()

    def capture(self) -> NDArray[np.uint8]:
        self.render()
        return capture_window(self.render_window)


class CropBoxWidget:
    """An interactive crop box in the 3D view (``vtkBoxWidget2``): six face handles to drag,
    the centre handle to move it, no rotation; kept inside the volume's box (LPS).

    ``on_change`` gets the box (lo, hi in LPS) after each move, already cut to the volume.
    """

    def __init__(
        self,
        view: VolumeRenderView,
        interactor: vtkRenderWindowInteractor,
        on_change: Callable[[Box], None],
    ) -> None:
        self.view = view
        self.on_change = on_change
        lo, hi = view.bounds_lps()
        self.bounds: Box = (
            (float(lo[0]), float(lo[1]), float(lo[2])),
            (float(hi[0]), float(hi[1]), float(hi[2])),
        )
        self.representation = vtkBoxRepresentation()
        self.representation.SetPlaceFactor(1.0)  # the default 0.5 would enlarge the box
        self.representation.SetHandleSize(4.0)
        self.widget = vtkBoxWidget2()
        self.widget.SetInteractor(interactor)
        self.widget.SetRepresentation(self.representation)
        self.widget.SetCurrentRenderer(view.renderer)
        self.widget.RotationEnabledOff()
        self.widget.AddObserver(vtkCommand.StartInteractionEvent, self._start)
        self.widget.AddObserver(vtkCommand.InteractionEvent, self._moved)
        self.widget.AddObserver(vtkCommand.EndInteractionEvent, self._end)
        self.set_box(*self.bounds)

    @property
    def enabled(self) -> bool:
        return bool(self.widget.GetEnabled())

    def set_enabled(self, on: bool) -> None:
        if bool(on) != self.enabled:
            self.widget.SetEnabled(1 if on else 0)

    def box(self) -> Box:
        """The box as drawn now (LPS lo, hi)."""
        b = self.representation.GetBounds()
        return ((b[0], b[2], b[4]), (b[1], b[3], b[5]))

    def set_box(self, lo: Sequence[float], hi: Sequence[float]) -> None:
        """Place the box (cut to the volume) without telling ``on_change``."""
        a, b = clamp_box(lo, hi, *self.bounds)
        if np.allclose(self.box(), (a, b), atol=1e-6):
            return
        self.representation.PlaceWidget([a[0], b[0], a[1], b[1], a[2], b[2]])

    def _start(self, _obj: Any, _event: str) -> None:
        self.view.set_interactive(True)

    def _moved(self, _obj: Any, _event: str) -> None:
        lo, hi = self.box()
        kept = clamp_box(lo, hi, *self.bounds)
        if not np.allclose((lo, hi), kept, atol=1e-6):
            self.representation.PlaceWidget(
                [kept[0][0], kept[1][0], kept[0][1], kept[1][1], kept[0][2], kept[1][2]]
            )
        self.on_change(kept)

    def _end(self, _obj: Any, _event: str) -> None:
        self.view.set_interactive(False)
        self.on_change(self.box())
        self.view.render()
