"""What a 2D viewport draws over the image: orientation letters, scale bar, overlay planes.

Pure functions (numpy and pydicom, no VTK) so tests can check each letter and each pixel.
Orientation letters follow PS3.3 C.7.6.1.1.1 (L/R, A/P, H/F from Image Orientation
(Patient)); overlay planes are the Overlay Plane Module (PS3.3 C.9.2) and the Multi-frame
Overlay Module (C.9.3).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError

from workstation.core.errors import DecodeError
from workstation.core.geometry import orientation_label
from workstation.core.measure import PixelCalibration, SpacingSource
from workstation.viewer.stack_view import view_matrix

log = logging.getLogger(__name__)

EDGES = ("left", "right", "top", "bottom")
# Unit vectors of the screen edges in display axes (x right, y down).
_EDGE_DIRECTION = {"left": (-1, 0), "right": (1, 0), "top": (0, -1), "bottom": (0, 1)}


# ---------------------------------------------------------------------------------------------
# Calibration


def calibration_text(calibration: PixelCalibration) -> str:
    """The corner line that says an image measures with the reader's calibration:
    "Cal: user 0.182 mm/px" (row × column spacing when they differ); "" for the file's own
    spacing, whose qualifier every measurement label already carries (PS3.3 10.7.1.1)."""
    if calibration.source is not SpacingSource.USER:
        return ""
    row, col = calibration.spacing
    if abs(row - col) <= 1e-9 * max(row, col):
        return f"Cal: user {col:.3f} mm/px"
    return f"Cal: user {row:.3f} × {col:.3f} mm/px"


# ---------------------------------------------------------------------------------------------
# Orientation letters


def _edge_image_axes(rotation: int, flip_h: bool, flip_v: bool) -> dict[str, tuple[int, int]]:
    """For each screen edge, the image direction (d_column, d_row) that points towards it."""
    m = np.asarray(view_matrix(rotation, flip_h, flip_v), dtype=float)
    out = {}
    for edge, e in _EDGE_DIRECTION.items():
        d_col, d_row = m.T @ np.asarray(e, dtype=float)  # M is orthogonal: inverse = transpose
        out[edge] = (round(float(d_col)), round(float(d_row)))
    return out


def edge_labels(
    orientation: Sequence[float] | Sequence[str] | None,
    rotation: int = 0,
    flip_h: bool = False,
    flip_v: bool = False,
) -> dict[str, str]:
    """The patient direction letters at the middle of each screen edge.

    ``orientation`` is Image Orientation (Patient): the direction of increasing column, then of
    increasing row, in LPS (PS3.3 C.7.6.2.1.1). The direction towards an edge on screen is
    traced back through the display's rotation and flips to the image axes, then to the
    patient, and named with up to three letters (PS3.3 C.7.6.1.1.1), e.g. "R" on the left of
    an unrotated axial image. A projection radiograph has no Image Orientation; for it
    ``orientation`` may be the two values of Patient Orientation (0020,0020), which name the
    row and column directions with letters (:func:`edge_labels_from_patient_orientation`).
    No orientation: empty letters.
    """
    if (
        orientation is not None
        and len(orientation) == 2
        and all(isinstance(v, str) for v in orientation)
    ):
        return edge_labels_from_patient_orientation(
            (str(orientation[0]), str(orientation[1])), rotation, flip_h, flip_v
        )
    if orientation is None or len(orientation) < 6:
        return dict.fromkeys(EDGES, "")
    orientation = [float(v) for v in orientation]
    row_dir = np.asarray(orientation[:3], dtype=float)
    col_dir = np.asarray(orientation[3:6], dtype=float)
    m = np.asarray(view_matrix(rotation, flip_h, flip_v), dtype=float)
    out = {}
    for edge, e in _EDGE_DIRECTION.items():
        d_col, d_row = m.T @ np.asarray(e, dtype=float)  # M is orthogonal: inverse = transpose
        direction = d_col * row_dir + d_row * col_dir
        out[edge] = orientation_label(direction)
    return out


# Letters of a biped's directions and their opposites (PS3.3 C.7.6.1.1.1).
_OPPOSITE = {"A": "P", "P": "A", "R": "L", "L": "R", "H": "F", "F": "H"}


def opposite_direction(letters: str) -> str:
    """The opposite of a Patient Orientation value, letter by letter: "LP" -> "RA".

    Only the biped letters A, P, R, L, H, F are known (quadruped terms such as "CR" or "LE"
    are not): anything else gives "" rather than a wrong letter.
    """
    if not letters or any(ch not in _OPPOSITE for ch in letters):
        return ""
    return "".join(_OPPOSITE[ch] for ch in letters)


def _valid_letters(value: str) -> str:
    text = value.strip().upper()
    return text if text and all(ch in _OPPOSITE for ch in text) else ""


def edge_labels_from_patient_orientation(
    patient_orientation: Sequence[str] | None,
    rotation: int = 0,
    flip_h: bool = False,
    flip_v: bool = False,
) -> dict[str, str]:
    """Edge letters of an image described by Patient Orientation (0020,0020).

    Its first value names the direction of the rows (growing column, towards the right edge
    of an unrotated image), the second that of the columns (growing row, towards the bottom);
    each is letters from A, P, R, L, H, F, main direction first (PS3.3 C.7.6.1.1.1), e.g.
    ["P", "F"] for a lateral chest radiograph. The edges follow the display's rotation and
    flips exactly as :func:`edge_labels` does for Image Orientation: the letters of the image
    direction that points to an edge, or of its opposite. Values that are not biped letters
    leave their two edges empty.
    """
    if patient_orientation is None or len(patient_orientation) < 2:
        return dict.fromkeys(EDGES, "")
    row_letters = _valid_letters(str(patient_orientation[0]))
    col_letters = _valid_letters(str(patient_orientation[1]))
    out = {}
    for edge, (d_col, d_row) in _edge_image_axes(rotation, flip_h, flip_v).items():
        letters = row_letters if d_col else col_letters
        out[edge] = letters if (d_col or d_row) > 0 else opposite_direction(letters)
    return out


def patient_orientation(ds: Dataset, frame: int = 0) -> tuple[str, str] | None:
    """Patient Orientation (0020,0020) of a dataset, or of one frame (0-based) of a
    multi-frame image, where it sits in the Patient Orientation in Frame Sequence (0020,9450)
    of the per-frame or shared functional groups (PS3.3 C.7.6.16.2.15). None when absent or
    not two values."""

    def read(item: Dataset) -> tuple[str, str] | None:
        el = item.get((0x0020, 0x0020))
        if el is None or el.value in (None, ""):
            return None
        value = el.value
        values = [value] if isinstance(value, str) else list(value)
        if len(values) == 1 and "\\" in str(values[0]):
            values = str(values[0]).split("\\")
        if len(values) != 2:
            return None
        return (str(values[0]).strip().upper(), str(values[1]).strip().upper())

    def in_groups(groups: Dataset | None) -> tuple[str, str] | None:
        if groups is None:
            return None
        seq = groups.get((0x0020, 0x9450))
        if seq is None or not seq.value:
            return None
        return read(seq.value[0])

    found = read(ds)
    if found is not None:
        return found
    per_frame = ds.get((0x5200, 0x9230))
    if per_frame is not None and per_frame.value and 0 <= frame < len(per_frame.value):
        found = in_groups(per_frame.value[frame])
        if found is not None:
            return found
    shared = ds.get((0x5200, 0x9229))
    if shared is not None and shared.value:
        return in_groups(shared.value[0])
    return None


def read_patient_orientation(
    path: str | os.PathLike[str], frame: int = 0
) -> tuple[str, str] | None:
    """Patient Orientation of a DICOM file's frame (header only), or None."""
    return read_patient_orientations(path, frame + 1)[frame]


def read_patient_orientations(
    path: str | os.PathLike[str], number_of_frames: int = 1
) -> list[tuple[str, str] | None]:
    """Patient Orientation of each of the first ``number_of_frames`` frames of a file, from
    one read of its header (a cine of many frames is not read again per frame)."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (OSError, PydicomInvalidDicomError, ValueError, EOFError) as exc:
        raise DecodeError(
            f"cannot read the Patient Orientation of a file: {type(exc).__name__}"
        ) from None
    return [patient_orientation(ds, f) for f in range(max(1, number_of_frames))]


# ---------------------------------------------------------------------------------------------
# Scale bar


def scale_bar_length(px_per_mm: float, max_px: float) -> float | None:
    """The longest round length (1, 2 or 5 × 10^k mm) whose bar fits in ``max_px`` pixels.

    None when not even 0.1 mm fits or the scale is not a positive number.
    """
    if not (px_per_mm > 0 and math.isfinite(px_per_mm) and max_px > 0):
        return None
    limit_mm = max_px / px_per_mm
    exponent = math.floor(math.log10(limit_mm))
    best: float | None = None
    for e in (exponent - 1, exponent):
        for mantissa in (1.0, 2.0, 5.0):
            value = round(mantissa * 10.0**e, 10)
            if value <= limit_mm * (1 + 1e-9) and value >= 0.1 and (best is None or value > best):
                best = value
    return best


def format_length(mm: float) -> str:
    """A scale-bar label in millimetres, the unit of every measurement: "50 mm", "0.5 mm"."""
    return f"{mm:g} mm"


# ---------------------------------------------------------------------------------------------
# Overlay planes (60xx)


@dataclass(frozen=True, slots=True, eq=False)
class OverlayPlane:
    """One overlay plane of PS3.3 C.9.2, unpacked to booleans.

    ``origin`` is Overlay Origin (row, column), 1-based: overlay point (1, 1) lies on image pixel
    (origin row, origin column) (C.9.2.1.1). ``bitmap`` is (frames, rows, columns).
    """

    group: int
    rows: int
    columns: int
    origin: tuple[int, int]
    overlay_type: str  # "G" graphics or "R" region of interest
    bitmap: np.ndarray = field(repr=False)
    description: str = ""
    label: str = ""
    image_frame_origin: int | None = None  # 1-based frame of the image the first frame is on

    @property
    def number_of_frames(self) -> int:
        return int(self.bitmap.shape[0])

    def frame_bitmap(self, image_frame: int) -> np.ndarray | None:
        """The overlay bits on image frame ``image_frame`` (0-based), None when none apply.

        A multi-frame overlay starts at Image Frame Origin (C.9.3). A single-frame overlay
        without one is drawn on every frame: it describes the image, not one frame of it.
        """
        if self.number_of_frames == 1 and self.image_frame_origin is None:
            return self.bitmap[0]
        k = image_frame - ((self.image_frame_origin or 1) - 1)
        if 0 <= k < self.number_of_frames:
            return self.bitmap[k]
        return None


def _int(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return default


def overlay_planes(ds: Dataset) -> list[OverlayPlane]:
    """The overlay planes with Overlay Data (60xx,3000) in a dataset, in group order.

    Overlays embedded in the high bits of Pixel Data (retired) are not read. A plane that
    cannot be unpacked is left out with a log line naming its group only (no patient data).
    """
    groups = sorted(
        {
            tag.group
            for tag in ds.keys()  # noqa: SIM118 - tags, not elements
            if 0x6000 <= tag.group <= 0x601E and tag.group % 2 == 0 and tag.element == 0x3000
        }
    )
    planes = []
    for g in groups:
        try:
            arr = np.asarray(ds.overlay_array(g))
        except (AttributeError, ValueError, TypeError, NotImplementedError) as exc:
            log.warning("overlay plane %04X left out: %s", g, type(exc).__name__)
            continue
        if arr.ndim == 2:
            arr = arr[np.newaxis]
        origin_el = ds.get((g, 0x0050))
        origin = (1, 1)
        if origin_el is not None and origin_el.value is not None:
            vals = list(origin_el.value) if not isinstance(origin_el.value, int) else []
            if len(vals) >= 2:
                origin = (_int(vals[0], 1), _int(vals[1], 1))
        frame_origin_el = ds.get((g, 0x0051))
        frame_origin = (
            _int(frame_origin_el.value, 1)
            if frame_origin_el is not None and frame_origin_el.value not in (None, "")
            else None
        )
        type_el = ds.get((g, 0x0040))
        desc_el = ds.get((g, 0x0022))
        label_el = ds.get((g, 0x1500))
        planes.append(
            OverlayPlane(
                group=g,
                rows=int(arr.shape[1]),
                columns=int(arr.shape[2]),
                origin=origin,
                overlay_type=str(type_el.value).strip().upper() if type_el is not None else "G",
                bitmap=arr.astype(bool),
                description=str(desc_el.value) if desc_el is not None else "",
                label=str(label_el.value) if label_el is not None else "",
                image_frame_origin=frame_origin,
            )
        )
    return planes


def read_overlay_planes(path: str | os.PathLike[str]) -> list[OverlayPlane]:
    """The overlay planes of a DICOM file (header only: 60xx comes before Pixel Data)."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (OSError, PydicomInvalidDicomError, ValueError, EOFError) as exc:
        raise DecodeError(
            f"cannot read the overlay planes of a file: {type(exc).__name__}"
        ) from None
    return overlay_planes(ds)


OVERLAY_COLOR = (255, 255, 255)


def burn_in(
    display: np.ndarray,
    planes: Sequence[OverlayPlane],
    image_frame: int = 0,
    color: tuple[int, int, int] = OVERLAY_COLOR,
) -> np.ndarray:
    """The 8-bit display image with the overlay bits set to ``color`` (a new array).

    Overlay pixels are placed at their Overlay Origin and clipped to the image. A grey image
    stays grey when the colour is grey, and becomes RGB otherwise.
    """
    active: list[tuple[OverlayPlane, np.ndarray]] = []
    for p in planes:
        bits = p.frame_bitmap(image_frame)
        if bits is not None and bits.any():
            active.append((p, bits))
    if not active:
        return display
    grey_color = color[0] == color[1] == color[2]
    out = (
        display.copy()
        if (display.ndim == 3 or grey_color)
        else np.repeat(display[..., np.newaxis], 3, axis=2)
    )
    rows, cols = out.shape[:2]
    value = color[0] if out.ndim == 2 else np.asarray(color, dtype=np.uint8)
    for plane, bits in active:
        r0, c0 = plane.origin[0] - 1, plane.origin[1] - 1
        # Part of the overlay that lands inside the image.
        top, left = max(0, -r0), max(0, -c0)
        bottom = min(bits.shape[0], rows - r0)
        right = min(bits.shape[1], cols - c0)
        if bottom <= top or right <= left:
            continue
        sub = bits[top:bottom, left:right]
        target = out[r0 + top : r0 + bottom, c0 + left : c0 + right]
        target[sub] = value
    return out
