"""From stored pixel values to display grey levels (PS3.3 C.11, C.7.6.3).

stored value -> Modality LUT (Rescale Slope/Intercept or Modality LUT Sequence, C.11.1)
-> VOI LUT (window C.11.2.1.2 or VOI LUT Sequence C.11.2.1.1) -> Presentation (MONOCHROME1
and Presentation LUT Shape INVERSE shown inverted, C.7.6.3.1.2, C.11.6) -> 8-bit display value.

Colour images (RGB, YBR converted to RGB, palette colour expanded) bypass the grey stages and
are shown as 8-bit RGB.

What the index does not carry in :class:`Instance` (LUT Sequences, Presentation LUT Shape,
per-frame rescale and windows of enhanced objects, pixel padding) is read from the file's
header here (:func:`pixel_header`, cached per file) and remembered per SOP Instance UID, so
that :func:`modality_lut` also applies it to frames a caller read through this module.
"""

from __future__ import annotations

import functools
import math
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRBigEndian

from workstation.archive.dicomio import parse_file
from workstation.core.errors import DecodeError, InvalidDicomError
from workstation.core.model import Instance

GREY = ("MONOCHROME1", "MONOCHROME2")
# Modality defaults (centre, width) when a file stores no window: soft tissue for CT.
_MODALITY_DEFAULT_WINDOW = {"CT": (40.0, 400.0), "PT": (5.0, 10.0)}
# Integer input whose value range is at most this wide maps through a lookup table.
_MAX_TABLE = 1 << 17


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


@dataclass(frozen=True, eq=False)
class LookupTable:
    """A LUT of a Modality LUT or VOI LUT Sequence item (PS3.3 C.11.1.1, C.11.2.1.1).

    Input below ``first_mapped`` maps to the first entry, input past the last entry to the
    last entry. ``bits`` is the LUT Descriptor's third value; a VOI LUT's output range is
    0 .. 2**bits - 1. As a VOI it also offers ``center``/``width`` (the input range it
    covers) so window dragging can start from it.
    """

    first_mapped: int
    bits: int
    data: np.ndarray = field(repr=False)  # uint16 entries, read-only
    explanation: str = ""
    function: str = "LUT"

    def __post_init__(self) -> None:
        if self.data.ndim != 1 or self.data.size == 0:
            raise ValueError("a lookup table needs at least one entry")
        if not 1 <= self.bits <= 16:
            raise ValueError(f"LUT entries of {self.bits} bits are not allowed (1..16)")
        key = (self.first_mapped, self.bits, self.explanation, self.data.tobytes())
        object.__setattr__(self, "_hash", hash(key))  # tables are looked up per frame drawn

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LookupTable):
            return NotImplemented
        return (
            self.first_mapped == other.first_mapped
            and self.bits == other.bits
            and self.explanation == other.explanation
            and np.array_equal(self.data, other.data)
        )

    def __hash__(self) -> int:
        return int(self.__dict__["_hash"])

    @property
    def center(self) -> float:
        return self.first_mapped + self.data.size / 2.0

    @property
    def width(self) -> float:
        return float(max(self.data.size, 1))

    def label(self) -> str:
        return f"LUT {self.explanation}".strip()

    def indices(self, values: np.ndarray) -> np.ndarray:
        """Entry index of each input value, clamped to the table (floor for fractions)."""
        if values.dtype.kind == "f":
            values = np.floor(values)
        idx = np.subtract(values, self.first_mapped, dtype=np.int64, casting="unsafe")
        return np.clip(idx, 0, self.data.size - 1)

    def apply(self, values: np.ndarray) -> np.ndarray:
        """The table's output for each input value (uint16)."""
        return self.data[self.indices(values)]

    def display_table(self) -> np.ndarray:
        """The entries scaled from 0 .. 2**bits - 1 to 0 .. 255 (uint8)."""
        top = float((1 << self.bits) - 1)
        scaled = np.clip(self.data.astype(np.float64) * (255.0 / top), 0.0, 255.0)
        return np.rint(scaled).astype(np.uint8)


Voi = Window | LookupTable


@dataclass(frozen=True, eq=False)
class PixelHeader:
    """What the pipeline needs from a header beyond :class:`Instance` (PS3.3 C.11)."""

    modality: str = ""
    modality_lut: LookupTable | None = None
    voi_luts: tuple[LookupTable, ...] = ()
    presentation_lut_shape: str = ""  # IDENTITY, INVERSE or "" (C.11.6.1)
    frame_rescale: tuple[tuple[float, float], ...] = ()  # (slope, intercept) per frame
    frame_windows: tuple[tuple[Window, ...], ...] = ()  # Frame VOI LUT per frame
    pixel_padding: tuple[int, int] | None = None  # stored values lo..hi (C.7.5.1.1.2)
    palette_bits: int = 0  # Palette Color LUT Descriptor third value (C.7.6.3.1.5)

    @property
    def adds_to_instance(self) -> bool:
        """True when the header holds something the index's Instance lacks."""
        return bool(
            self.modality_lut
            or self.voi_luts
            or self.presentation_lut_shape
            or self.frame_rescale
            or self.frame_windows
            or self.pixel_padding
        )


def is_color(instance: Instance) -> bool:
    return instance.samples_per_pixel > 1 or instance.photometric_interpretation in (
        "PALETTE COLOR",
    )


# -- headers ---------------------------------------------------------------------------------
_HEADERS_LOCK = threading.Lock()
_HEADERS_BY_FILE: OrderedDict[tuple[str, int, int], PixelHeader] = OrderedDict()
_HEADERS_BY_UID: OrderedDict[str, PixelHeader] = OrderedDict()
_MAX_HEADERS = 4096


def pixel_header(path: str | os.PathLike[str]) -> PixelHeader:
    """The pipeline attributes of a file's header, read once per file version (cached)."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise DecodeError("the image file is missing from the local store") from None
    except OSError as exc:
        raise DecodeError(f"cannot read the image file ({exc.strerror})") from None
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    with _HEADERS_LOCK:
        found = _HEADERS_BY_FILE.get(key)
        if found is not None:
            _HEADERS_BY_FILE.move_to_end(key)
            return found
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(p, stop_before_pixels=True, force=True)
    except Exception as exc:
        raise DecodeError(f"cannot read the image header ({type(exc).__name__})") from None
    header = header_from_dataset(ds)
    with _HEADERS_LOCK:
        _HEADERS_BY_FILE[key] = header
        while len(_HEADERS_BY_FILE) > _MAX_HEADERS:
            _HEADERS_BY_FILE.popitem(last=False)
    return header


def remember_header(sop_instance_uid: str, header: PixelHeader) -> None:
    """Keep a header that adds to the Instance, so :func:`modality_lut` finds it by UID."""
    if not sop_instance_uid:
        return
    with _HEADERS_LOCK:
        if not header.adds_to_instance:
            _HEADERS_BY_UID.pop(sop_instance_uid, None)  # the file may have been replaced
            return
        _HEADERS_BY_UID[sop_instance_uid] = header
        _HEADERS_BY_UID.move_to_end(sop_instance_uid)
        while len(_HEADERS_BY_UID) > _MAX_HEADERS:
            _HEADERS_BY_UID.popitem(last=False)


def known_header(sop_instance_uid: str) -> PixelHeader | None:
    """The remembered header of an instance whose pixels were read here, if it adds anything."""
    with _HEADERS_LOCK:
        return _HEADERS_BY_UID.get(sop_instance_uid)


def header_from_dataset(ds: Dataset) -> PixelHeader:
    """Read the Modality LUT, VOI LUT, Presentation LUT Shape and functional groups.

    A damaged Modality LUT Sequence raises :class:`DecodeError` (the values would be
    wrong); a damaged VOI LUT item is skipped (the image can still be windowed).
    """
    little = _little_endian(ds)
    signed_stored = int(ds.get("PixelRepresentation", 0) or 0) == 1
    mlut = None
    seq = ds.get("ModalityLUTSequence")
    if seq:
        try:
            mlut = _lut_from_item(seq[0], signed_stored, little)
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            raise DecodeError(f"the Modality LUT Sequence is damaged ({exc})") from None
    voi_input_signed = mlut is None and _modality_min(ds) < 0
    vluts = []
    for k, item in enumerate(ds.get("VOILUTSequence") or ()):
        try:
            vluts.append(_lut_from_item(item, voi_input_signed, little, f"VOI LUT {k + 1}"))
        except (ValueError, TypeError, AttributeError, KeyError, IndexError):
            continue
    shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper()
    if shape not in ("IDENTITY", "INVERSE"):
        shape = ""
    frame_rescale, frame_windows = _functional_groups(ds)
    padding = _padding(ds, signed_stored)
    palette_bits = 0
    desc = ds.get("RedPaletteColorLookupTableDescriptor")
    if desc is not None and len(desc) == 3:
        palette_bits = int(desc[2])
    return PixelHeader(
        modality=str(ds.get("Modality", "") or "").strip().upper(),
        modality_lut=mlut,
        voi_luts=tuple(vluts),
        presentation_lut_shape=shape,
        frame_rescale=frame_rescale,
        frame_windows=frame_windows,
        pixel_padding=padding,
        palette_bits=palette_bits,
    )


def _little_endian(ds: Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts:
        return UID(ts) != ExplicitVRBigEndian
    enc = getattr(ds, "original_encoding", (None, True))
    return enc[1] is not False


def _lut_from_item(
    item: Dataset, signed_input: bool, little: bool, default_name: str = ""
) -> LookupTable:
    """One LUT item: Descriptor (entries, first mapped, bits) and Data (C.11.1.1.1)."""
    desc = [int(v) for v in item.LUTDescriptor]
    if len(desc) != 3:
        raise ValueError(f"LUT Descriptor has {len(desc)} values, not 3")
    n = (desc[0] & 0xFFFF) or 65536  # 0 means 2**16 entries (read as SS it may be negative)
    first = desc[1]
    if signed_input and first >= 32768:
        first -= 65536  # the second value is SS when the input is signed
    bits = desc[2]
    raw = item["LUTData"].value
    if isinstance(raw, bytes | bytearray):
        if len(raw) >= 2 * n:
            data = np.frombuffer(raw, dtype="<u2" if little else ">u2", count=n)
        elif bits <= 8 and len(raw) >= n:
            data = np.frombuffer(raw, dtype=np.uint8, count=n)
        else:
            raise ValueError(f"LUT Data holds {len(raw)} bytes for {n} entries")
    else:
        values = [raw] if isinstance(raw, int) else list(raw)
        if len(values) < n:
            raise ValueError(f"LUT Data holds {len(values)} entries, the descriptor says {n}")
        data = np.asarray(values[:n], dtype=np.int64)
        if data.min() < 0 or data.max() > 65535:
            raise ValueError("LUT Data entries outside 0..65535")
    table = np.ascontiguousarray(data, dtype=np.uint16)
    table.flags.writeable = False
    expl = str(item.get("LUTExplanation", "") or "").strip() or default_name
    return LookupTable(first, bits, table, expl)


def _modality_min(ds: Dataset) -> float:
    bits = int(ds.get("BitsStored", 0) or ds.get("BitsAllocated", 16) or 16)
    lo = -(1 << (bits - 1)) if int(ds.get("PixelRepresentation", 0) or 0) == 1 else 0
    hi = (1 << (bits - 1)) - 1 if lo else (1 << bits) - 1
    try:
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    except (TypeError, ValueError):
        return float(lo)
    return min(lo * slope + intercept, hi * slope + intercept)


def _functional_groups(
    ds: Dataset,
) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[Window, ...], ...]]:
    """Per-frame rescale and windows of enhanced objects (PS3.3 C.7.6.16.2.9, C.7.6.16.2.10)."""
    shared = ds.get("SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if not shared and not per_frame:
        return (), ()
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    shared_item = shared[0] if shared else None
    rescale: list[tuple[float, float]] = []
    windows: list[tuple[Window, ...]] = []
    for f in range(frames):
        item = per_frame[f] if per_frame and f < len(per_frame) else None
        pvt = _group_item(item, shared_item, "PixelValueTransformationSequence")
        if pvt is not None and "RescaleSlope" in pvt and "RescaleIntercept" in pvt:
            rescale.append((float(pvt.RescaleSlope), float(pvt.RescaleIntercept)))
        voi = _group_item(item, shared_item, "FrameVOILUTSequence")
        windows.append(_windows_of(voi) if voi is not None else ())
    if len(rescale) != frames or "RescaleSlope" in ds:
        rescale = []
    if not any(windows):
        windows = []
    return tuple(rescale), tuple(windows)


def _group_item(item: Dataset | None, shared: Dataset | None, keyword: str) -> Dataset | None:
    for group in (item, shared):
        if group is not None and group.get(keyword):
            return group.get(keyword)[0]
    return None


def _windows_of(ds: Dataset) -> tuple[Window, ...]:
    centres = _numbers(ds.get("WindowCenter"))
    widths = _numbers(ds.get("WindowWidth"))
    expl = ds.get("WindowCenterWidthExplanation")
    if isinstance(expl, str):
        names = [expl]
    elif isinstance(expl, Sequence | pydicom.multival.MultiValue):
        names = [str(e) for e in expl]
    else:
        names = []
    function = str(ds.get("VOILUTFunction", "") or "LINEAR").strip().upper()
    out = []
    for i, (c, w) in enumerate(zip(centres, widths, strict=False)):
        try:
            out.append(Window(c, max(w, 1.0), function, names[i] if i < len(names) else ""))
        except ValueError:
            continue
    return tuple(out)


def _numbers(value: Any) -> list[float]:
    if value is None or isinstance(value, str | bytes):
        return []
    seq = value if isinstance(value, Sequence | pydicom.multival.MultiValue) else [value]
    try:
        return [float(v) for v in seq]
    except (TypeError, ValueError):
        return []


def _padding(ds: Dataset, signed: bool) -> tuple[int, int] | None:
    """Pixel Padding Value and Range Limit as an inclusive stored-value range (C.7.5.1.1.2)."""
    value = ds.get("PixelPaddingValue")
    if value is None or isinstance(value, bytes):
        return None
    limit = ds.get("PixelPaddingRangeLimit")

    def signed_value(v: int) -> int:
        return v - 65536 if signed and v >= 32768 else int(v)

    lo = signed_value(int(value))
    hi = signed_value(int(limit)) if limit is not None and not isinstance(limit, bytes) else lo
    return (min(lo, hi), max(lo, hi))


# -- decoding --------------------------------------------------------------------------------
def decoder_problem(transfer_syntax_uid: str) -> str | None:
    """Why pixel data in this transfer syntax cannot be decoded here, or None when it can."""
    if not transfer_syntax_uid:
        return "the file declares no transfer syntax, so its pixel data cannot be read"
    uid = UID(transfer_syntax_uid)
    name = uid.name if uid.name != str(uid) else "unknown transfer syntax"
    if not uid.is_transfer_syntax:
        return f"cannot decode pixel data: {name} ({uid}) is not a known transfer syntax"
    try:
        decoder = pydicom.pixels.get_decoder(uid)
    except NotImplementedError:
        return f"cannot decode pixel data: no decoder exists for {name} ({uid})"
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
        return f"cannot decode pixel data ({name}): missing {missing}"
    return None


def read_native_frame(path: Path, instance: Instance, frame: int = 0) -> np.ndarray | None:
    """Read one frame of native grey pixel data straight from the file, or None if not possible.

    Only for single-sample images at 8 or 16 bits in a native transfer syntax whose Pixel
    Data offset the index recorded at import. Without a Rescale (which excludes a Modality
    LUT Sequence, C.11.1) the header is read too and remembered for :func:`modality_lut`.
    """
    if (
        instance.pixel_data_offset is None
        or instance.photometric_interpretation not in GREY
        or instance.samples_per_pixel != 1
        or instance.bits_allocated not in (8, 16)
    ):
        return None
    if _rescale_is_identity(instance):
        remember_header(instance.sop_instance_uid, pixel_header(path))
    dtype = _stored_dtype(instance)
    n = instance.rows * instance.columns
    start = instance.pixel_data_offset + frame * n * dtype.itemsize
    out = np.empty(n, dtype=dtype)
    try:
        with open(path, "rb") as fp:
            fp.seek(start)
            got = fp.readinto(memoryview(out).cast("B"))
    except FileNotFoundError:
        raise DecodeError("the image file is missing from the local store") from None
    if got != out.nbytes:
        raise DecodeError("the image file is shorter than its pixel data (truncated)")
    out = _mask_stored(out, instance)
    return out.reshape(instance.rows, instance.columns)


def _rescale_is_identity(instance: Instance) -> bool:
    return (instance.rescale_slope or 1.0) == 1.0 and (instance.rescale_intercept or 0.0) == 0.0


def _stored_dtype(instance: Instance) -> np.dtype:
    endian = ">" if instance.transfer_syntax_uid == ExplicitVRBigEndian else "<"
    kind = "i" if instance.pixel_representation == 1 else "u"
    return np.dtype(f"{endian}{kind}{instance.bits_allocated // 8}")


def _mask_stored(arr: np.ndarray, instance: Instance) -> np.ndarray:
    """Keep only Bits Stored (PS3.5 8.1.1): high bits may carry overlays or garbage."""
    bits = instance.bits_stored
    alloc = instance.bits_allocated
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if not bits or bits >= alloc:
        return arr
    if instance.pixel_representation == 1:
        shift = alloc - bits
        return (arr << shift) >> shift  # sign-extend from the top stored bit
    return arr & np.array((1 << bits) - 1, dtype=arr.dtype)


def decode_frames(path: Path, instance: Instance) -> np.ndarray:
    """Decode all frames with pydicom (any transfer syntax it has a decoder for).

    Returns stored values (frames, rows, columns) for grey and 8-bit RGB (frames, rows,
    columns, 3) for colour: YBR converted to RGB (PS3.3 C.7.6.3.1.2), palette colour
    expanded (C.7.6.3.1.5), samples above 8 bits scaled to 8. Raises :class:`DecodeError`
    naming the transfer syntax and what is missing.
    """
    problem = decoder_problem(instance.transfer_syntax_uid)
    if problem:
        raise DecodeError(problem)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
    except FileNotFoundError:
        raise DecodeError("the image file is missing from the local store") from None
    except Exception as exc:
        raise DecodeError(f"cannot read the image file ({type(exc).__name__})") from None
    if "PixelData" not in ds:
        raise DecodeError("the file holds no pixel data")
    header = header_from_dataset(ds)
    remember_header(instance.sop_instance_uid, header)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = ds.pixel_array
    except Exception as exc:
        name = UID(instance.transfer_syntax_uid).name
        reason = " ".join(str(exc).split())
        raise DecodeError(f"cannot decode pixel data ({name}): {reason}") from None
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("="))
    photometric = instance.photometric_interpretation
    if photometric == "PALETTE COLOR":
        try:
            arr = pydicom.pixels.apply_color_lut(arr, ds)[..., :3]
        except Exception as exc:
            raise DecodeError(f"the palette colour lookup table is damaged ({exc})") from None
        arr = palette_to_8bit(arr, header.palette_bits)
        return arr if arr.ndim == 4 else arr[np.newaxis]
    if instance.samples_per_pixel == 3 and arr.ndim >= 3 and arr.shape[-1] == 3:
        arr = color_to_8bit(arr, instance.bits_stored or instance.bits_allocated)
        return arr if arr.ndim == 4 else arr[np.newaxis]
    return arr.reshape((-1, *arr.shape[-2:]))


def color_to_8bit(arr: np.ndarray, bits: int) -> np.ndarray:
    """RGB samples of ``bits`` bits as 8-bit, keeping the top 8 bits (PS3.3 C.7.6.3.1.3)."""
    if arr.dtype == np.uint8 and bits <= 8:
        return arr
    shift = max(int(bits) - 8, 0)
    return (arr >> shift).astype(np.uint8) if shift else arr.astype(np.uint8)


def palette_to_8bit(rgb: np.ndarray, entry_bits: int) -> np.ndarray:
    """Palette colours to 8 bits: 16-bit entries keep their top byte (C.7.6.3.1.5).

    A table declared 16-bit whose entries all fit in 8 bits is 8-bit data in 16-bit words
    (a known encoder quirk) and is taken as is rather than shown black.
    """
    if entry_bits <= 8 or rgb.dtype == np.uint8 or int(rgb.max(initial=0)) <= 255:
        return np.clip(rgb, 0, 255).astype(np.uint8)
    return (rgb >> 8).astype(np.uint8)


# -- modality LUT ----------------------------------------------------------------------------
def modality_lut(
    stored: np.ndarray,
    instance: Instance,
    header: PixelHeader | None = None,
    frame: int | None = None,
) -> np.ndarray:
    """Stored values to modality values (PS3.3 C.11.1): LUT Sequence, else Rescale.

    ``stored`` is one frame (2-D) or all frames (3-D). Without ``header`` the one
    remembered for the instance is used; per-frame rescale of enhanced objects comes from
    it (C.7.6.16.2.9). Integers stay integers when the result is exact.
    """
    h = header if header is not None else known_header(instance.sop_instance_uid)
    if h is not None and h.modality_lut is not None:
        return h.modality_lut.apply(stored)
    if h is not None and h.frame_rescale:
        if frame is not None:
            return _rescale(stored, *h.frame_rescale[frame], instance)
        if stored.ndim == 3 and stored.shape[0] == len(h.frame_rescale):
            parts = [_rescale(stored[k], *h.frame_rescale[k], instance) for k in range(len(stored))]
            dtype = np.result_type(*parts)
            return np.stack([p.astype(dtype, copy=False) for p in parts])
        return _rescale(stored, *h.frame_rescale[0], instance)
    return _rescale(stored, instance.rescale_slope, instance.rescale_intercept, instance)


def _rescale(stored: np.ndarray, slope: float, intercept: float, instance: Instance) -> np.ndarray:
    """Rescale Slope/Intercept (PS3.3 C.11.1.1.2)."""
    slope = slope or 1.0
    intercept = intercept or 0.0
    if slope == 1.0 and intercept == 0.0:
        return stored
    if slope == 1.0 and float(intercept).is_integer() and stored.dtype.kind in "iu":
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


# -- VOI -------------------------------------------------------------------------------------
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
        if hi <= lo:  # a flat image: its one value mid-grey (width 1 would show it black)
            return Window(lo + 0.5, 2.0)
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


def voi_choices(instance: Instance, header: PixelHeader | None = None, frame: int = 0) -> list[Voi]:
    """Every VOI the file offers for cycling: its VOI LUTs, then its windows (C.11.2).

    Both kinds are alternative views (PS3.3 C.8.11.3.1.5); the VOI LUTs come first because
    they are the vendor's tuned curve (pydicom prefers them too). Enhanced objects take the
    windows of the frame's Frame VOI LUT (C.7.6.16.2.10).
    """
    h = header if header is not None else known_header(instance.sop_instance_uid)
    out: list[Voi] = list(h.voi_luts) if h is not None else []
    if h is not None and h.frame_windows and frame < len(h.frame_windows):
        out.extend(h.frame_windows[frame])
    else:
        out.extend(file_windows(instance))
    return out


def voi_lut(values: np.ndarray, window: Voi) -> np.ndarray:
    """Map modality values to 0..255 through a window (PS3.3 C.11.2.1.2.1, .3.1, .3.2) or LUT."""
    if isinstance(window, LookupTable):
        return window.display_table()[window.indices(np.asarray(values))]
    c, w = window.center, window.width
    x = np.asarray(values).astype(np.float64, copy=False)
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


def voi_lut_table(lo: int, hi: int, window: Voi) -> np.ndarray:
    """The same mapping as :func:`voi_lut` tabulated for integer values lo..hi (fast path)."""
    return voi_lut(np.arange(lo, hi + 1, dtype=np.int64), window)


@functools.lru_cache(maxsize=32)
def _display_table(lo: int, hi: int, window: Voi, inverted: bool) -> np.ndarray:
    table = voi_lut_table(lo, hi, window)
    if inverted:
        table = 255 - table
    table.flags.writeable = False
    return table


def presentation_inverted(photometric: str, presentation_lut_shape: str = "") -> bool:
    """Whether the lowest VOI output shows white (PS3.3 C.7.6.3.1.2, C.11.6.1).

    MONOCHROME1 always shows its minimum white; INVERSE is the same inversion (the DX
    Image Module pairs INVERSE with MONOCHROME1, C.8.11.3), so it never inverts twice.
    """
    return photometric == "MONOCHROME1" or presentation_lut_shape.upper() == "INVERSE"


def to_display(
    values: np.ndarray,
    window: Voi,
    photometric: str = "MONOCHROME2",
    *,
    presentation_lut_shape: str = "",
    invert: bool = False,
) -> np.ndarray:
    """Grey modality values to 8-bit display values, MONOCHROME1 inverted (C.7.6.3.1.2).

    ``invert`` is the reader's own inversion on top of the file's presentation. Integer
    input maps through a cached table over its value range.
    """
    inverted = presentation_inverted(photometric, presentation_lut_shape) != invert
    if values.dtype.kind in "iu" and values.size > 4096:
        lo = int(values.min())
        hi = int(values.max())
        if hi - lo < _MAX_TABLE:
            table = _display_table(lo, hi, window, inverted)
            return table[np.subtract(values, lo, dtype=np.intp)]
    out = voi_lut(values, window)
    if inverted:
        out = 255 - out
    return out


def auto_window(
    values: np.ndarray,
    photometric: str = "MONOCHROME2",
    exclude: np.ndarray | None = None,
    *,
    background_fraction: float = 0.1,
    percentiles: tuple[float, float] = (1.0, 99.0),
) -> Window:
    """A window over the 1st..99th percentile of the body pixels, for MR and radiographs.

    The rule: drop ``exclude`` (pixel padding) and non-finite values; the robust range is
    the 2nd..98th percentile; background is what lies on the dark side of the robust range
    by more than ``background_fraction`` of it (MONOCHROME1: the high side), the threshold
    of FSL BET (Smith 2002, Hum Brain Mapp 17:143). The window runs from the lower to the
    upper percentile of what remains, both ends inclusive. Large images are subsampled to
    about a million pixels with a fixed stride, so the result is deterministic.
    """
    v = np.asarray(values)
    if v.ndim == 3 and v.shape[-1] == 3:
        raise ValueError("auto window is for grey images")
    flat = v[~exclude] if exclude is not None else v.ravel()
    if flat.dtype.kind == "f":
        flat = flat[np.isfinite(flat)]
    if flat.size > (1 << 20):
        flat = flat[:: flat.size // (1 << 20) + 1]
    if flat.size == 0:
        return Window(0.5, 1.0)
    flat = flat.astype(np.float64, copy=False)
    p2, p98 = np.percentile(flat, [2.0, 98.0])
    span = p98 - p2
    if photometric == "MONOCHROME1":
        body = flat[flat <= p98 - background_fraction * span]
    else:
        body = flat[flat >= p2 + background_fraction * span]
    if body.size < max(16, flat.size // 100):
        body = flat  # no clear background: use everything
    lo, hi = np.percentile(body, list(percentiles))
    if hi <= lo:  # one value left (a binary mask: its ones): the whole image's range instead
        lo, hi = np.percentile(flat, list(percentiles))
        if hi <= lo:
            lo, hi = flat.min(), flat.max()
    if hi <= lo:  # a flat image: its one value mid-grey, not on the window's black edge
        return Window(float(lo) + 0.5, 2.0, "LINEAR", "AUTO")
    width = max(float(hi - lo) + 1.0, 1.0)
    return Window(float(lo + hi + 1.0) / 2.0, width, "LINEAR", "AUTO")


def padding_mask(stored: np.ndarray, header: PixelHeader | None) -> np.ndarray | None:
    """Pixels that are Pixel Padding (PS3.3 C.7.5.1.1.2), or None when the file has none."""
    if header is None or header.pixel_padding is None:
        return None
    lo, hi = header.pixel_padding
    return (stored >= lo) & (stored <= hi)


# -- one file through the whole pipeline -----------------------------------------------------
class FilePixels:
    """One file's frames through the PS3.3 C.11 pipeline: stored, modality, VOI, display."""

    def __init__(self, path: str | os.PathLike[str], instance: Instance | None = None) -> None:
        self.path = Path(path)
        if instance is None:
            try:
                instance = parse_file(self.path).instance
            except InvalidDicomError as exc:
                raise DecodeError(f"cannot read the image: {exc}") from None
        self.instance: Instance = instance
        self.header = pixel_header(self.path)
        remember_header(instance.sop_instance_uid, self.header)
        self._stored: np.ndarray | None = None

    @property
    def number_of_frames(self) -> int:
        return self.instance.number_of_frames

    @property
    def is_color(self) -> bool:
        return is_color(self.instance)

    @property
    def photometric(self) -> str:
        return self.instance.photometric_interpretation or "MONOCHROME2"

    def stored(self) -> np.ndarray:
        """Stored values of all frames (grey), or 8-bit RGB of all frames (colour)."""
        if self._stored is None:
            native = None
            if self.instance.number_of_frames == 1:
                native = read_native_frame(self.path, self.instance)
            self._stored = (
                native[np.newaxis]
                if native is not None
                else decode_frames(self.path, self.instance)
            )
        return self._stored

    def values(self, frame: int = 0) -> np.ndarray:
        """Modality values of one frame (grey), or its 8-bit RGB (colour)."""
        stored = self.stored()[frame]
        if self.is_color:
            return stored
        return modality_lut(stored, self.instance, self.header, frame)

    def voi_choices(self, frame: int = 0) -> list[Voi]:
        return voi_choices(self.instance, self.header, frame)

    def default_voi(self, frame: int = 0) -> Voi | None:
        """The file's first VOI, else the modality default (CT, PT), else the auto window.

        None for colour images, which have no VOI stage.
        """
        if self.is_color:
            return None
        choices = self.voi_choices(frame)
        if choices:
            return choices[0]
        modality = self.header.modality
        if modality in _MODALITY_DEFAULT_WINDOW:
            return Window(*_MODALITY_DEFAULT_WINDOW[modality])
        mask = padding_mask(self.stored()[frame], self.header)
        return auto_window(self.values(frame), self.photometric, mask)

    def display(
        self, frame: int = 0, voi: Voi | None = None, *, invert: bool = False
    ) -> np.ndarray:
        """8-bit display frame: grey (rows, cols), colour RGB (rows, cols, 3)."""
        if self.is_color:
            rgb = self.stored()[frame]
            return 255 - rgb if invert else rgb
        if voi is None:
            voi = self.default_voi(frame)
        return to_display(
            self.values(frame),
            voi,
            self.photometric,
            presentation_lut_shape=self.header.presentation_lut_shape,
            invert=invert,
        )
