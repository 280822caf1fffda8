"""Volumes from stored images: slices split into display sets, sorted, checked, stacked.

A volume is drawn in MPR, MIP and 3D as if its voxels were where its geometry says, so a wrong
geometry must never pass silently (DESIGN.md, "What must never happen"):

- slices are sorted by Image Position (Patient) projected on the slice normal (PS3.3
  C.7.6.2.1.1), never by Instance Number;
- a set that mixes orientations, image sizes or pixel spacings, or repeats positions (two
  acquisitions), is split into display sets first (:func:`split_display_sets`);
- missing slices, uneven spacing and gantry tilt are found from the positions
  (:func:`workstation.core.volume_geometry.analyse_stack`). Each is either resampled onto a
  uniform orthogonal grid by linear interpolation, with a warning on the volume, or refused with a
  :class:`GeometryError` that says why, as :class:`AssemblyPolicy` chooses. A stack is never
  returned stretched onto a grid it does not fit.

Enhanced multi-frame images (PS3.3 C.7.6.16, Multi-frame Functional Groups) are placed frame by
frame from their Plane Position, Plane Orientation, Pixel Measures and Pixel Value Transformation
functional groups, read from the file.
"""

from __future__ import annotations

import itertools
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from workstation.archive.local import LocalArchive
from workstation.core.errors import ConfigError, DecodeError, GeometryError
from workstation.core.model import Instance
from workstation.core.volume_geometry import (
    DEFAULT_TOLERANCE,
    StackLayout,
    StackTolerance,
    Vec3,
    VolumeGeometry,
    analyse_stack,
    orientations_match,
    orthonormal_axes,
    plane_name,
)
from workstation.viewer import pixels
from workstation.viewer.stack import can_read_as_volume, read_volume

log = logging.getLogger(__name__)

Policy = Literal["resample", "refuse"]
Orientation = tuple[float, float, float, float, float, float]
_POLICIES = ("resample", "refuse")
# Two positions closer than this along the normal are the same slice position (mm).
_SAME_POSITION_MM = 0.01
# Pixel spacings that differ by less than this (mm) are the same.
_SPACING_MATCH_MM = 1e-4


@dataclass(frozen=True, slots=True)
class AssemblyPolicy:
    """What to do with each irregular stack: resample onto a uniform grid, or refuse.

    Defaults: gantry tilt and uneven spacing are resampled (both are how the scanner acquired
    the images), missing slices are refused, because a gap can also mean a series that is only
    partly retrieved, which must never look complete.
    """

    tilt: Policy = "resample"
    uneven_spacing: Policy = "resample"
    missing_slices: Policy = "refuse"
    tolerance: StackTolerance = DEFAULT_TOLERANCE
    orientation_tolerance: float = 1e-4

    def __post_init__(self) -> None:
        for name in ("tilt", "uneven_spacing", "missing_slices"):
            if getattr(self, name) not in _POLICIES:
                raise ConfigError(
                    f"volume policy {name!r} must be 'resample' or 'refuse', "
                    f"not {getattr(self, name)!r}"
                )


@dataclass(frozen=True, slots=True)
class SliceSource:
    """One acquired image plane: a frame of an instance with its plane geometry and rescale."""

    instance: Instance
    frame: int
    position: Vec3
    orientation: Orientation
    pixel_spacing: tuple[float, float]  # (row spacing, column spacing) mm
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0


@dataclass(frozen=True, slots=True)
class InstanceGroup(Sequence[Instance]):
    """The instances of one display set, and why they were split from the rest ("" if not)."""

    instances: tuple[Instance, ...]
    reason: str = ""

    @overload
    def __getitem__(self, index: int) -> Instance: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Instance, ...]: ...
    def __getitem__(self, index: int | slice) -> Instance | tuple[Instance, ...]:
        return self.instances[index]

    def __len__(self) -> int:
        return len(self.instances)

    def __iter__(self) -> Iterator[Instance]:
        return iter(self.instances)


@dataclass(frozen=True, slots=True, eq=False)
class Volume:
    """Modality values (HU for CT) in one read-only (slices, rows, columns) array, with geometry.

    The array is int16 when every value fits, else float32, and is held once: views slice it,
    never copy or change it. ``slices`` are the acquired planes in slice order; when the volume
    was resampled (``resampled``) the array's slices are grid planes between them.
    """

    array: NDArray[Any]
    geometry: VolumeGeometry
    instances: tuple[Instance, ...]
    slices: tuple[SliceSource, ...]
    warnings: tuple[str, ...] = ()
    resampled: bool = False
    reason: str = ""

    def value_at(self, point_lps: Sequence[float]) -> float | None:
        """The value of the voxel nearest an LPS point, None outside the volume."""
        idx = self.geometry.nearest_voxel(point_lps)
        return None if idx is None else float(self.array[idx])


@dataclass(frozen=True, slots=True)
class RefusedSet:
    """A display set that could not become a volume, and the reason a user can read."""

    group: InstanceGroup
    reason: str


@dataclass(frozen=True, slots=True, eq=False)
class AssemblyResult:
    """The volumes a series gives, one per display set, and the sets refused with reasons."""

    volumes: tuple[Volume, ...]
    refused: tuple[RefusedSet, ...]

    @property
    def volume(self) -> Volume:
        """The volume with the most acquired slices; :class:`GeometryError` when there is none."""
        if self.volumes:
            return max(self.volumes, key=lambda v: len(v.slices))
        if not self.refused:
            raise GeometryError("the series holds no images to build a volume from")
        return _raise_refused(self.refused)

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(w for v in self.volumes for w in v.warnings)


def _raise_refused(refused: Sequence[RefusedSet]) -> Volume:
    if len(refused) == 1:
        raise GeometryError(refused[0].reason)
    raise GeometryError(
        "no display set of the series forms a volume: "
        + "; ".join(f"{r.group.reason or 'set'}: {r.reason}" for r in refused)
    )


# ---------------------------------------------------------------------------------------------
# Public entry points


def assemble_series(
    archive: LocalArchive, series_instance_uid: str, policy: AssemblyPolicy | None = None
) -> AssemblyResult:
    """:func:`assemble_volume` on a series of the local store."""
    return assemble_volume(archive.instances(series_instance_uid), archive.root, policy)


def assemble_volume(
    instances: Sequence[Instance], root: str | Path, policy: AssemblyPolicy | None = None
) -> AssemblyResult:
    """Split a series into display sets and build a volume from each set that allows one.

    ``root`` is the store folder the instances' paths are relative to. A set that cannot be
    stacked is kept in ``refused`` with its reason; the rest still become volumes.
    """
    policy = policy or AssemblyPolicy()
    volumes: list[Volume] = []
    refused: list[RefusedSet] = []
    for group in split_display_sets(instances, policy.orientation_tolerance):
        try:
            volumes.append(build_volume(group, root, policy))
        except (GeometryError, DecodeError) as exc:
            log.info("display set refused as a volume: %s", exc)
            refused.append(RefusedSet(group, str(exc)))
    return AssemblyResult(tuple(volumes), tuple(refused))


def split_display_sets(
    instances: Sequence[Instance], orientation_tolerance: float = 1e-4
) -> list[InstanceGroup]:
    """Split a series into sets that can each be one volume, each with the reason it was split.

    Sets are separated by orientation (within ``orientation_tolerance`` per component), image
    size and pixel spacing; images repeating the same positions are split by Acquisition Number,
    else by the order of repeats. Each multi-frame object is a set of its own; images without
    plane geometry (PS3.3 C.7.6.2) or in colour form sets that :func:`build_volume` refuses.
    """
    no_pixels = [i for i in instances if not i.has_pixels]
    colour = [i for i in instances if i.has_pixels and pixels.is_color(i)]
    grey = [i for i in instances if i.has_pixels and not pixels.is_color(i)]
    multi = [i for i in grey if i.number_of_frames > 1]
    single = [i for i in grey if i.number_of_frames == 1]
    no_plane = [i for i in single if not _has_plane(i)]
    planar = [i for i in single if _has_plane(i)]

    clusters: list[list[Instance]] = []
    for inst in planar:
        for members in clusters:
            if _same_plane_kind(members[0], inst, orientation_tolerance):
                members.append(inst)
                break
        else:
            clusters.append([inst])
    clusters.sort(key=len, reverse=True)  # stable: ties keep their first appearance

    groups: list[InstanceGroup] = []
    for members in clusters:
        for part, repeat_reason in _split_repeats(members):
            reason = _cluster_reason(members[0], clusters, orientation_tolerance)
            reason = "; ".join(r for r in (reason, repeat_reason) if r)
            groups.append(InstanceGroup(tuple(part), reason))
    for inst in multi:
        groups.append(InstanceGroup((inst,), "multi-frame object, stacked from its own frames"))
    if no_plane:
        groups.append(
            InstanceGroup(
                tuple(no_plane),
                "images without Image Position/Orientation (Patient) or Pixel Spacing",
            )
        )
    if colour:
        groups.append(InstanceGroup(tuple(colour), "colour images"))
    if no_pixels:
        groups.append(InstanceGroup(tuple(no_pixels), "objects without pixel data"))
    if len(groups) == 1:
        groups[0] = InstanceGroup(groups[0].instances, "")
    return groups


def build_volume(
    instances: Sequence[Instance], root: str | Path, policy: AssemblyPolicy | None = None
) -> Volume:
    """Stack one display set into a volume, resampling or refusing an irregular stack.

    Raises :class:`GeometryError` when the set mixes geometries or breaks a rule the policy
    refuses (missing slices, uneven spacing, gantry tilt); :class:`DecodeError` when pixel data
    cannot be read.
    """
    policy = policy or AssemblyPolicy()
    root = Path(root)
    if not instances:
        raise GeometryError("the set holds no images to build a volume from")
    reason = instances.reason if isinstance(instances, InstanceGroup) else ""
    if not all(i.has_pixels for i in instances):
        raise GeometryError("objects without pixel data cannot form a volume")
    if any(pixels.is_color(i) for i in instances):
        raise GeometryError("colour images cannot be stacked into a grey-value volume")
    sources = [s for inst in instances for s in slice_sources(inst, root)]
    _check_same_geometry(sources, policy.orientation_tolerance)
    first = sources[0]
    layout = analyse_stack(
        [s.position for s in sources], first.orientation, first.pixel_spacing, policy.tolerance
    )
    refusals = []
    if layout.missing and policy.missing_slices == "refuse":
        refusals.append(layout.missing_message() + "; retrieve the series again")
    if not layout.spacing_uniform and policy.uneven_spacing == "refuse":
        refusals.append(layout.spacing_message())
    if layout.sheared and policy.tilt == "refuse":
        refusals.append(layout.tilt_message())
    if refusals:
        raise GeometryError("cannot build a volume: " + "; ".join(refusals))

    ordered = [sources[i] for i in layout.order]
    try:
        acquired = _read_pixels(ordered, root)
    except OSError as exc:
        raise DecodeError(
            f"cannot read an image of the set from the local store: {exc.strerror}"
        ) from None
    u, v, n = orthonormal_axes(first.orientation)
    origin = np.asarray(ordered[0].position, dtype=np.float64) + layout.grid_offset_mm * n
    warns: list[str] = []
    if layout.regular:
        array = acquired
        geometry = VolumeGeometry.from_image_plane(
            origin, first.orientation, first.pixel_spacing, layout.spacing_mm, array.shape
        )
    else:
        array, origin = _resample(acquired, layout, first.pixel_spacing, origin, u, v)
        del acquired
        geometry = VolumeGeometry.from_image_plane(
            origin, first.orientation, first.pixel_spacing, layout.spacing_mm, array.shape
        )
        warns.extend(layout.problems)
        warns.append(
            f"resampled by linear interpolation onto a uniform {layout.spacing_mm:.4g} mm grid "
            f"({len(ordered)} acquired slices, {array.shape[0]} in the volume)"
        )
    array.flags.writeable = False
    seen: dict[str, Instance] = {}
    for s in ordered:
        seen.setdefault(s.instance.sop_instance_uid, s.instance)
    log.info(
        "volume %s: %d slices %s, %s%s",
        "resampled" if warns else "assembled",
        array.shape[0],
        "x".join(str(d) for d in array.shape[1:]),
        array.dtype,
        f", {len(warns)} warning(s)" if warns else "",
    )
    return Volume(
        array=array,
        geometry=geometry,
        instances=tuple(seen.values()),
        slices=tuple(ordered),
        warnings=tuple(warns),
        resampled=not layout.regular,
        reason=reason,
    )


def slice_sources(instance: Instance, root: str | Path) -> list[SliceSource]:
    """The image planes of an instance: itself for a single frame, each frame of a multi-frame
    object from its Per-frame and Shared Functional Groups (PS3.3 C.7.6.16)."""
    if instance.number_of_frames == 1 and instance.sop_class_uid not in _ENHANCED_CLASSES:
        if not _has_plane(instance):
            raise GeometryError(
                "an image has no Image Position/Orientation (Patient) or Pixel Spacing "
                "(PS3.3 C.7.6.2), so it cannot be placed in a volume"
            )
        return [
            SliceSource(
                instance=instance,
                frame=0,
                position=instance.image_position_patient,  # type: ignore[arg-type]
                orientation=instance.image_orientation_patient,  # type: ignore[arg-type]
                pixel_spacing=instance.pixel_spacing,  # type: ignore[arg-type]
                rescale_slope=instance.rescale_slope or 1.0,
                rescale_intercept=instance.rescale_intercept or 0.0,
            )
        ]
    return _frame_sources(instance, Path(root))


# ---------------------------------------------------------------------------------------------
# Display sets

# Enhanced and legacy-converted enhanced image storage SOP classes (PS3.4 B.5) that carry
# Multi-frame Functional Groups even when they hold a single frame.
_ENHANCED_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT
        "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT
        "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR
        "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy Converted Enhanced MR
        "1.2.840.10008.5.1.4.1.1.128.1",  # Legacy Converted Enhanced PET
        "1.2.840.10008.5.1.4.1.1.130",  # Enhanced PET
    }
)


def _has_plane(inst: Instance) -> bool:
    return (
        inst.image_position_patient is not None
        and inst.image_orientation_patient is not None
        and inst.pixel_spacing is not None
    )


def _same_spacing(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(abs(x - y) <= _SPACING_MATCH_MM for x, y in zip(a, b, strict=True))


def _same_plane_kind(a: Instance, b: Instance, orientation_tolerance: float) -> bool:
    return (
        a.rows == b.rows
        and a.columns == b.columns
        and _same_spacing(a.pixel_spacing, b.pixel_spacing)  # type: ignore[arg-type]
        and orientations_match(
            a.image_orientation_patient,  # type: ignore[arg-type]
            b.image_orientation_patient,  # type: ignore[arg-type]
            orientation_tolerance,
        )
    )


def _describe_orientation(orientation: Sequence[float]) -> str:
    values = ", ".join(f"{x:.3g}" for x in orientation)
    try:
        return f"{plane_name(orientation)} plane ({values})"
    except GeometryError:
        return f"orientation ({values})"


def _cluster_reason(
    first: Instance, clusters: list[list[Instance]], orientation_tolerance: float
) -> str:
    """Why a cluster is not one with the others: the attributes that differ, with its values."""
    if len(clusters) < 2:
        return ""
    heads = [c[0] for c in clusters]
    names, values = [], []
    if any(
        not orientations_match(
            h.image_orientation_patient,  # type: ignore[arg-type]
            first.image_orientation_patient,  # type: ignore[arg-type]
            orientation_tolerance,
        )
        for h in heads
    ):
        names.append("orientation")
        values.append(_describe_orientation(first.image_orientation_patient))  # type: ignore[arg-type]
    if any((h.rows, h.columns) != (first.rows, first.columns) for h in heads):
        names.append("image size")
        values.append(f"{first.rows}×{first.columns} images")
    if any(not _same_spacing(h.pixel_spacing, first.pixel_spacing) for h in heads):  # type: ignore[arg-type]
        names.append("pixel spacing")
        sr, sc = first.pixel_spacing  # type: ignore[misc]
        values.append(f"{sr:g}×{sc:g} mm pixels")
    return "split by " + " and ".join(names) + ": " + ", ".join(values)


def _split_repeats(members: list[Instance]) -> list[tuple[list[Instance], str]]:
    """Split images that repeat the same positions (two acquisitions or time points)."""
    _, _, n = orthonormal_axes(members[0].image_orientation_patient)  # type: ignore[arg-type]
    along = [float(np.dot(i.image_position_patient, n)) for i in members]  # type: ignore[arg-type]
    order = sorted(range(len(members)), key=lambda j: along[j])
    position_of = [0] * len(members)
    pos = 0
    for prev, cur in itertools.pairwise(order):
        if along[cur] - along[prev] > _SAME_POSITION_MM:
            pos += 1
        position_of[cur] = pos
    if len(set(position_of)) == len(members):
        return [(members, "")]

    by_acq: dict[int | None, list[int]] = {}
    for j, inst in enumerate(members):
        by_acq.setdefault(inst.acquisition_number, []).append(j)
    if len(by_acq) > 1 and all(
        len({position_of[j] for j in js}) == len(js) for js in by_acq.values()
    ):
        keys = sorted(by_acq, key=lambda a: (a is None, a or 0))
        return [
            (
                [members[j] for j in by_acq[a]],
                "images repeat the same positions: "
                + (f"acquisition {a}" if a is not None else "no acquisition number"),
            )
            for a in keys
        ]

    layers: dict[int, list[int]] = {}
    at_position: dict[int, list[int]] = {}
    for j in range(len(members)):
        at_position.setdefault(position_of[j], []).append(j)
    for js in at_position.values():
        js.sort(key=lambda j: (members[j].instance_number or 0, members[j].sop_instance_uid))
        for rank, j in enumerate(js):
            layers.setdefault(rank, []).append(j)
    return [
        (
            [members[j] for j in sorted(js)],
            f"images repeat the same positions: repeat {rank + 1} of {len(layers)}",
        )
        for rank, js in sorted(layers.items())
    ]


def _check_same_geometry(sources: Sequence[SliceSource], orientation_tolerance: float) -> None:
    first = sources[0]
    for s in sources[1:]:
        if (s.instance.rows, s.instance.columns) != (first.instance.rows, first.instance.columns):
            raise GeometryError(
                "the set mixes image sizes; split it into display sets before stacking it"
            )
        if not orientations_match(s.orientation, first.orientation, orientation_tolerance):
            raise GeometryError(
                "the set mixes image orientations; split it into display sets before stacking it"
            )
        if not _same_spacing(s.pixel_spacing, first.pixel_spacing):
            raise GeometryError(
                "the set mixes pixel spacings; split it into display sets before stacking it"
            )


# ---------------------------------------------------------------------------------------------
# Enhanced multi-frame


def _frame_sources(instance: Instance, root: Path) -> list[SliceSource]:
    """Per-frame plane geometry from the Multi-frame Functional Groups (PS3.3 C.7.6.16)."""
    path = root / instance.path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
    except FileNotFoundError:
        raise DecodeError("the image file is missing from the local store") from None
    except Exception as exc:
        raise DecodeError(f"cannot read the multi-frame header: {type(exc).__name__}") from None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else Dataset()
    frames = instance.number_of_frames
    if not per_frame or len(per_frame) != frames:
        raise GeometryError(
            "a multi-frame image without one Per-frame Functional Groups item per frame "
            "(PS3.3 C.7.6.16) cannot be placed in a volume"
        )
    out = []
    for f, item in enumerate(per_frame):
        ipp = _functional(item, shared, "PlanePositionSequence", "ImagePositionPatient", 3)
        iop = _functional(item, shared, "PlaneOrientationSequence", "ImageOrientationPatient", 6)
        iop = iop or _floats(ds, "ImageOrientationPatient", 6)
        ps = _functional(item, shared, "PixelMeasuresSequence", "PixelSpacing", 2)
        if ipp is None or iop is None or ps is None:
            missing = [
                name
                for name, val in (
                    ("Plane Position", ipp),
                    ("Plane Orientation", iop),
                    ("Pixel Measures", ps),
                )
                if val is None
            ]
            raise GeometryError(
                f"frame {f + 1} of a multi-frame image lacks {', '.join(missing)} "
                "(PS3.3 C.7.6.16.2), so it cannot be placed in a volume"
            )
        slope = _functional(item, shared, "PixelValueTransformationSequence", "RescaleSlope", 1)
        icpt = _functional(item, shared, "PixelValueTransformationSequence", "RescaleIntercept", 1)
        slope = slope or _floats(ds, "RescaleSlope", 1)
        icpt = icpt or _floats(ds, "RescaleIntercept", 1)
        out.append(
            SliceSource(
                instance=instance,
                frame=f,
                position=(ipp[0], ipp[1], ipp[2]),
                orientation=(iop[0], iop[1], iop[2], iop[3], iop[4], iop[5]),
                pixel_spacing=(ps[0], ps[1]),
                rescale_slope=(slope[0] if slope else 1.0) or 1.0,
                rescale_intercept=icpt[0] if icpt else 0.0,
            )
        )
    return out


def _functional(
    item: Dataset, shared: Dataset, sequence: str, keyword: str, n: int
) -> tuple[float, ...] | None:
    """An attribute of a functional group macro, per-frame first, then shared (C.7.6.16.1)."""
    for group in (item, shared):
        seq = group.get(sequence)
        if seq:
            value = _floats(seq[0], keyword, n)
            if value is not None:
                return value
    return None


def _floats(ds: Dataset, keyword: str, n: int) -> tuple[float, ...] | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    try:
        floats = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        return None
    if len(floats) != n or not all(math.isfinite(x) for x in floats):
        return None
    return floats


# ---------------------------------------------------------------------------------------------
# Pixels


def _integer_values(source: SliceSource) -> bool:
    """True when the frame's modality values are integers (PS3.3 C.11.1.1.2)."""
    return (
        source.instance.bits_allocated <= 16
        and source.rescale_slope == 1.0
        and float(source.rescale_intercept).is_integer()
    )


def _narrowed(arr: NDArray[Any]) -> NDArray[Any]:
    """int16 when every value fits (checked on the values, not the stored range), else float32.

    Signed 16-bit CT with Rescale Intercept -1024 could in principle reach -33792, so the
    stored range alone would never allow int16; real values do.
    """
    if arr.dtype == np.int16:
        return arr
    if arr.dtype.kind in "iu" and arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo >= -32768 and hi <= 32767:
            return arr.astype(np.int16)
    return arr.astype(np.float32)


def _read_pixels(ordered: Sequence[SliceSource], root: Path) -> NDArray[Any]:
    """Modality values of the sorted planes as one (slices, rows, columns) array."""
    instances = [s.instance for s in ordered]
    if all(s.instance.number_of_frames == 1 for s in ordered) and can_read_as_volume(instances):
        return _narrowed(read_volume(root, instances))  # straight from the recorded offsets
    integer = all(_integer_values(s) for s in ordered)
    first = ordered[0].instance
    out = np.empty((len(ordered), first.rows, first.columns), np.int32 if integer else np.float32)
    decoded: tuple[str, NDArray[Any]] | None = None
    for k, s in enumerate(ordered):
        inst = s.instance
        path = root / inst.path
        stored = pixels.read_native_frame(path, inst, s.frame)
        if stored is None:
            if decoded is None or decoded[0] != inst.sop_instance_uid:
                decoded = (inst.sop_instance_uid, pixels.decode_frames(path, inst))
            frames = decoded[1]
            if s.frame >= len(frames):
                raise DecodeError("the image file holds fewer frames than it declares")
            stored = frames[s.frame]
        if integer:
            out[k] = stored.astype(np.int32) + int(s.rescale_intercept)
        else:
            out[k] = stored.astype(np.float32) * np.float32(s.rescale_slope) + np.float32(
                s.rescale_intercept
            )
    return _narrowed(out)


# ---------------------------------------------------------------------------------------------
# Resampling


def _resample(
    acquired: NDArray[Any],
    layout: StackLayout,
    pixel_spacing: tuple[float, float],
    first_position: NDArray[np.float64],
    u: NDArray[np.float64],
    v: NDArray[np.float64],
) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """Resample sorted slices onto a uniform orthogonal grid; returns (array, origin LPS).

    Along the normal, each grid plane is the linear blend of the two acquired slices around it
    (a plane within the step tolerance of a slice takes that slice as it is). In a sheared stack
    (gantry tilt) each slice is first shifted in-plane onto the first slice's pixel lattice by
    bilinear interpolation; the grid grows to hold every shifted slice, and voxels no slice
    covers hold the smallest value of the data (air for CT).
    """
    n_acq, rows, cols = acquired.shape
    sr, sc = pixel_spacing
    t = np.asarray(layout.distances_mm)
    spacing = layout.spacing_mm
    if layout.sheared:
        off = np.asarray(layout.in_plane_offsets_mm)
        oc, orow = off[:, 0] / sc, off[:, 1] / sr  # in pixels
        c0 = math.floor(min(oc.min(), 0.0) + 1e-6)
        r0 = math.floor(min(orow.min(), 0.0) + 1e-6)
        out_cols = math.ceil(max(oc.max(), 0.0) - 1e-6) - c0 + cols
        out_rows = math.ceil(max(orow.max(), 0.0) - 1e-6) - r0 + rows
        shift_r, shift_c = r0 - orow, c0 - oc
    else:
        c0 = r0 = 0
        out_rows, out_cols = rows, cols
        shift_r = shift_c = np.zeros(n_acq)
    fill = float(acquired.min())
    count = layout.grid_count
    out = np.empty((count, out_rows, out_cols), dtype=acquired.dtype)
    snap = layout.step_tolerance_mm
    cache: dict[int, NDArray[np.float32]] = {}

    def plane(k: int) -> NDArray[np.float32]:
        if k not in cache:
            if len(cache) > 2:
                cache.pop(min(cache))
            cache[k] = _shifted(acquired[k], shift_r[k], shift_c[k], out_rows, out_cols, fill)
        return cache[k]

    for j in range(count):
        tj = min(max(layout.grid_offset_mm + j * spacing, 0.0), t[-1])
        k = int(np.clip(np.searchsorted(t, tj, side="right") - 1, 0, n_acq - 2))
        if abs(tj - t[k]) <= snap:
            values = plane(k)
        elif abs(t[k + 1] - tj) <= snap:
            values = plane(k + 1)
        else:
            w = float((tj - t[k]) / (t[k + 1] - t[k]))
            values = plane(k) * np.float32(1 - w) + plane(k + 1) * np.float32(w)
        out[j] = np.rint(values) if out.dtype.kind in "iu" else values
    return out, first_position + c0 * sc * u + r0 * sr * v


def _shifted(
    image: NDArray[Any], dr: float, dc: float, out_rows: int, out_cols: int, fill: float
) -> NDArray[np.float32]:
    """``image`` sampled at (r + dr, c + dc) for r < out_rows, c < out_cols, bilinearly."""
    r0, c0 = math.floor(dr), math.floor(dc)
    fr, fc = dr - r0, dc - c0
    if fr > 1 - 1e-6:
        r0, fr = r0 + 1, 0.0
    if fc > 1 - 1e-6:
        c0, fc = c0 + 1, 0.0
    fr = 0.0 if fr < 1e-6 else fr
    fc = 0.0 if fc < 1e-6 else fc
    base = np.full((out_rows + 1, out_cols + 1), fill, dtype=np.float32)
    rows, cols = image.shape
    rs, re = max(r0, 0), min(r0 + out_rows + 1, rows)
    cs, ce = max(c0, 0), min(c0 + out_cols + 1, cols)
    if rs < re and cs < ce:
        base[rs - r0 : re - r0, cs - c0 : ce - c0] = image[rs:re, cs:ce]
    a = base[:-1, :-1]
    if fr == 0.0 and fc == 0.0:
        return a
    b, c, d = base[:-1, 1:], base[1:, :-1], base[1:, 1:]
    return (1 - fr) * ((1 - fc) * a + fc * b) + fr * ((1 - fc) * c + fc * d)


# ---------------------------------------------------------------------------------------------
# Reduced copies (the 3D view on software OpenGL)


def block_mean(array: NDArray[Any], factor: int) -> NDArray[Any]:
    """The mean of every ``factor``³ block of a (slices, rows, columns) array, same dtype.

    An axis whose length is not a multiple of ``factor`` is padded by repeating its last plane,
    so for factor 2 a partial block at the far edge is the mean of the voxels it holds. Integer
    arrays are summed exactly and rounded half up; made one output slice at a time, so the
    temporaries stay a few slices large whatever the volume's size.
    """
    f = int(factor)
    if f < 1 or f != factor:
        raise ConfigError(f"a reduction factor must be a positive whole number, not {factor!r}")
    if array.ndim != 3 or min(array.shape) < 1:
        raise ConfigError("a block mean needs a (slices, rows, columns) array")
    if f == 1:
        return array
    k, r, c = array.shape
    ok, orr, oc = -(-k // f), -(-r // f), -(-c // f)
    integer = array.dtype.kind in "iu"
    acc_type: Any = (np.int32 if array.dtype.itemsize <= 2 else np.int64) if integer else np.float64
    out = np.empty((ok, orr, oc), array.dtype if integer else np.float32)
    rows = None if r == orr * f else np.minimum(np.arange(orr * f), r - 1)
    cols = None if c == oc * f else np.minimum(np.arange(oc * f), c - 1)
    n = f**3
    for kk in range(ok):
        planes = np.minimum(np.arange(kk * f, kk * f + f), k - 1)
        acc = array[planes].sum(axis=0, dtype=acc_type)
        if rows is not None:
            acc = acc[rows]
        if cols is not None:
            acc = acc[:, cols]
        s = acc.reshape(orr, f, oc, f).sum(axis=(1, 3))
        out[kk] = (s + n // 2) // n if integer else s / n
    return out


def reduced_volume(volume: Volume, factor: int) -> Volume:
    """``volume`` averaged over ``factor``³ blocks (:func:`block_mean`), geometry kept.

    Coarse voxel (K, R, C) is the mean of fine voxels f·K … f·K + f − 1 (each axis), so its
    centre is fine index f·K + (f − 1)/2: the origin moves by (f − 1)/2 fine voxels along each
    axis and the spacing grows f times; the volume's box stays where it was (PS3.3 C.7.6.2.1.1).
    """
    geo = volume.geometry
    arr = block_mean(volume.array, factor)
    if arr is volume.array:
        return volume
    f = int(factor)
    half = (f - 1) / 2.0
    origin = geo.index_to_lps(half, half, half).reshape(3)
    coarse = VolumeGeometry(
        shape=(int(arr.shape[0]), int(arr.shape[1]), int(arr.shape[2])),
        spacing_mm=(geo.spacing_mm[0] * f, geo.spacing_mm[1] * f, geo.spacing_mm[2] * f),
        origin_lps=(float(origin[0]), float(origin[1]), float(origin[2])),
        direction=geo.direction,
    )
    arr.flags.writeable = False
    return Volume(arr, coarse, (), (), volume.warnings, resampled=True, reason=volume.reason)
