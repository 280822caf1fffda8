"""From stored pixel values to display grey levels (PS3.3 C.11, C.7.6.3).

stored value -> Modality LUT (Rescale Slope/Intercept, C.11.1) -> VOI LUT (window, C.11.2)
-> Presentation (MONOCHROME1 inverted, C.11.6) -> 8-bit display value.

Colour images (RGB, YBR converted to RGB, palette colour) bypass the VOI stage.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRBigEndian

from workstation.core.errors import DecodeError
from workstation.core.model import Instance

GREY = ("MONOCHROME1", "MONOCHROME2")
# Modality defaults (centre, width) when a file stores no window: soft tissue for CT.
_MODALITY_DEFAULT_WINDOW = {"CT": (40.0, 400.0), "PT": (5.0, 10.0)}


@dataclass(frozen=True, slots=True)
class Window:
    """A VOI window (PS3.3 C.11.2.1.2): centre and width in modality units."""

    center: float
    width: float
    function: str = "LINEAR"  # LINEAR, LINEAR_EXACT or SIGMOID
    explanation: str = ""

    def __post_init__(self) -> None:
        if not math.isfinite(self.center) or not math.isfinite(self.width):
            raise ValueError("window centre and width must be finite")
        if self.width <= 0 or (self.function != "LINEAR_EXACT" and self.width < 1):
            raise ValueError(f"window width {self.width} is below the minimum for {self.function}")

    def label(self) -> str:
        return f"W {self.width:g} L {self.center:g}"


def is_color(instance: Instance) -> bool:
    return instance.samples_per_pixel > 1 or instance.photometric_interpretation in (
        "PALETTE COLOR",
    )


def read_native_frame(path: Path, instance: Instance, frame: int = 0) -> np.ndarray | None:
    """Read one frame of native grey pixel data straight from the file, or None if not possible.

    Only for single-sample images at 8 or 16 bits in a native transfer syntax whose Pixel
    Data offset the index recorded at import.
    """
    if (
        instance.pixel_data_offset is None
        or instance.photometric_interpretation not in GREY
        or instance.samples_per_pixel != 1
        or instance.bits_allocated not in (8, 16)
    ):
        return None
    dtype = _stored_dtype(instance)
    n = instance.rows * instance.columns
    start = instance.pixel_data_offset + frame * n * dtype.itemsize
    out = np.empty(n, dtype=dtype)
    with open(path, "rb") as fp:
        fp.seek(start)
        got = fp.readinto(memoryview(out).cast("B"))
    if got != out.nbytes:
        raise DecodeError("the image file is shorter than its pixel data (truncated)")
    out = _mask_stored(out, instance)
    return out.reshape(instance.rows, instance.columns)


def _stored_dtype(instance: Instance) -> np.dtype:
    endian = ">" if instance.transfer_syntax_uid == ExplicitVRBigEndian else "<"
    kind = "i" if instance.pixel_representation == 1 else "u"
    return np.dtype(f"{endian}{kind}{instance.bits_allocated // 8}")


def _mask_stored(arr: np.ndarray, instance: Instance) -> np.ndarray:
    """Keep only Bits Stored (PS3.5 8.1.1): high bits may carry overlays or garbage."""
    bits = instance.bits_stored
    alloc = instance.bits_allocated
    if not bits or bits >= alloc:
        return arr
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if instance.pixel_representation == 1:
        shift = alloc - bits
        return (arr << shift) >> shift  # sign-extend from the top stored bit
    return arr & np.array((1 << bits) - 1, dtype=arr.dtype)


def decode_frames(path: Path, instance: Instance) -> np.ndarray:
    """Decode all frames with pydicom (any transfer syntax it can handle).

    Returns (frames, rows, columns) for grey and (frames, rows, columns, 3) for colour
    (YBR converted to RGB, palette colour expanded).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
            arr = ds.pixel_array
    except FileNotFoundError:
        raise DecodeError("the image file is missing from the local store") from None
    except Exception as exc:
        ts = instance.transfer_syntax_uid
        name = pydicom.uid.UID(ts).name if ts else "unknown transfer syntax"
        raise DecodeError(f"cannot decode pixel data ({name}): {exc}") from None
    if instance.photometric_interpretation == "PALETTE COLOR":
        arr = pydicom.pixels.apply_color_lut(arr, ds)
        if arr.dtype != np.uint8:
            arr = (arr >> 8).astype(np.uint8)  # palette entries are 16 bit (C.7.6.3.1.6)
    frames = instance.number_of_frames
    color = arr.ndim >= 3 and arr.shape[-1] == 3 and instance.samples_per_pixel == 3
    color = color or instance.photometric_interpretation == "PALETTE COLOR"
    if color:
        if arr.ndim == 3:
            arr = arr[np.newaxis]
    elif frames == 1 or arr.ndim == 2:
        arr = arr.reshape((1, *arr.shape[-2:]))
    return arr


def modality_lut(stored: np.ndarray, instance: Instance) -> np.ndarray:
    """Apply Rescale Slope/Intercept (PS3.3 C.11.1.1.2); integers stay integers when exact."""
    slope = instance.rescale_slope or 1.0
    intercept = instance.rescale_intercept or 0.0
    if slope == 1.0 and intercept == 0.0:
        return stored
    if slope == 1.0 and float(intercept).is_integer():
        lo, hi = stored_range(instance)
        dtype = np.int16 if lo + intercept >= -32768 and hi + intercept <= 32767 else np.int32
        out = stored.astype(dtype)
        out += dtype(int(intercept))
        return out
    return stored.astype(np.float32) * np.float32(slope) + np.float32(intercept)


def stored_range(instance: Instance) -> tuple[int, int]:
    bits = instance.bits_stored or instance.bits_allocated or 16
    if instance.pixel_representation == 1:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def default_window(instance: Instance, modality: str, values: np.ndarray | None = None) -> Window:
    """The file's first window (C.11.2.1.2), else a modality default, else the value range."""
    if instance.window_center and instance.window_width:
        expl = instance.window_explanation[0] if instance.window_explanation else ""
        try:
            return Window(
                instance.window_center[0],
                max(instance.window_width[0], 1.0),
                instance.voi_lut_function or "LINEAR",
                expl,
            )
        except ValueError:
            pass
    if modality in _MODALITY_DEFAULT_WINDOW:
        c, w = _MODALITY_DEFAULT_WINDOW[modality]
        return Window(c, w)
    if values is not None and values.size:
        lo = float(np.min(values))
        hi = float(np.max(values))
        return Window((lo + hi + 1) / 2.0, max(hi - lo + 1, 1.0))
    lo_s, hi_s = stored_range(instance)
    return Window((lo_s + hi_s + 1) / 2.0, float(hi_s - lo_s + 1))


def file_windows(instance: Instance) -> list[Window]:
    """Every window the file stores, in order, for cycling."""
    out = []
    for i, (c, w) in enumerate(zip(instance.window_center, instance.window_width, strict=False)):
        expl = instance.window_explanation[i] if i < len(instance.window_explanation) else ""
        try:
            out.append(Window(c, max(w, 1.0), instance.voi_lut_function or "LINEAR", expl))
        except ValueError:
            continue
    return out


def voi_lut(values: np.ndarray, window: Window) -> np.ndarray:
    """Map modality values to 0..255 through a window (PS3.3 C.11.2.1.2.1, .3.1, .3.2)."""
    c, w = window.center, window.width
    x = values.astype(np.float32, copy=False)
    if window.function == "SIGMOID":
        with np.errstate(over="ignore"):  # exp overflows to inf far below: y -> 0, as it must
            y = 255.0 / (1.0 + np.exp(-4.0 * (x - c) / w))
    elif window.function == "LINEAR_EXACT":
        y = np.clip((x - c) / w + 0.5, 0.0, 1.0) * 255.0
    elif w <= 1.0:
        y = np.where(x <= c - 0.5, 0.0, 255.0)  # the limit of the linear function at w = 1
    else:
        y = np.clip((x - (c - 0.5)) / (w - 1.0) + 0.5, 0.0, 1.0) * 255.0
    return np.rint(y).astype(np.uint8)


def voi_lut_table(lo: int, hi: int, window: Window) -> np.ndarray:
    """The same mapping as :func:`voi_lut` tabulated for integer values lo..hi (fast path)."""
    return voi_lut(np.arange(lo, hi + 1, dtype=np.float32), window)


def to_display(values: np.ndarray, window: Window, photometric: str) -> np.ndarray:
    """Grey modality values to 8-bit display values, MONOCHROME1 inverted (C.7.6.3.1.2)."""
    if values.dtype.kind in "iu" and values.size > 4096:
        lo = int(values.min())
        hi = int(values.max())
        table = voi_lut_table(lo, hi, window)
        out = table[np.subtract(values, lo, dtype=np.intp)]
    else:
        out = voi_lut(values, window)
    if photometric == "MONOCHROME1":
        out = 255 - out
    return out
