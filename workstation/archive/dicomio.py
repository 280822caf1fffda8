"""Read what the store indexes from a DICOM file: identifiers, display attributes, geometry.

Headers are read with ``stop_before_pixels``; the position and length of the Pixel Data
element (PS3.5 7.1) are taken from the element header that follows, so native pixel data can
later be read straight into a volume without parsing the file again, and a truncated file is
caught at import rather than when a radiologist scrolls to it.

:func:`parse_head` reads the same attributes from the first bytes of a plain image file without
pydicom (about 8x faster: it bounds how fast a series is stored); anything unusual is left to
:func:`read_header`, so both give the same result.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pydicom
import pydicom.config
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)
from pydicom.valuerep import PersonName

from workstation.core.errors import InvalidDicomError
from workstation.core.model import Instance, Patient, Series, Study

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
PIXEL_DATA_TAG = 0x7FE00010
_UNDEFINED_LENGTH = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_SEQ_DELIM = 0xFFFEE0DD
_REQUIRED = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


@dataclass(frozen=True, slots=True)
class ParsedInstance:
    """Everything the index stores for one file, read from its header."""

    patient: Patient
    study: Study
    series: Series
    instance: Instance
    has_file_meta: bool


def read_header(
    source: str | os.PathLike[str] | IO[bytes], size: int | None = None
) -> tuple[Dataset, int | None, int | None, bool]:
    """Read a file's header; return (dataset, pixel offset, pixel length, has Part 10 meta).

    Raises :class:`InvalidDicomError` with a reason for non-DICOM, truncated or incomplete
    input. ``source`` is a path or a seekable binary file object.
    """
    close = False
    if isinstance(source, str | os.PathLike):
        fp: IO[bytes] = open(source, "rb")  # noqa: SIM115 - closed below
        close = True
        size = os.fstat(fp.fileno()).st_size
    else:
        fp = source
        if size is None:
            pos = fp.tell()
            size = fp.seek(0, io.SEEK_END)
            fp.seek(pos)
    try:
        return _read_header(fp, size)
    finally:
        if close:
            fp.close()


def _read_header(fp: IO[bytes], size: int) -> tuple[Dataset, int | None, int | None, bool]:
    if size == 0:
        raise InvalidDicomError("empty file")
    has_meta = True
    try:
        with warnings.catch_warnings():
            # pydicom warns about every oddity of real-world files; the import reports
            # what matters (rejections) and the rest is not the reader's concern.
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(fp, stop_before_pixels=True)
    except PydicomInvalidDicomError:
        # A dataset without the Part 10 preamble and meta (PS3.10 7.1) is still DICOM if it
        # parses and carries the identifiers; it gets a proper meta when stored.
        has_meta = False
        fp.seek(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(fp, stop_before_pixels=True, force=True)
        except Exception as exc:
            raise InvalidDicomError(f"not a DICOM file ({type(exc).__name__})") from None
        if "SOPInstanceUID" not in ds:
            raise InvalidDicomError("not a DICOM file (no DICOM preamble or identifiers)") from None
    except (EOFError, struct.error, OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidDicomError(f"damaged or truncated header ({exc})") from None
    except Exception as exc:
        raise InvalidDicomError(f"unreadable header ({type(exc).__name__}: {exc})") from None

    try:
        return _check_header(fp, size, ds, has_meta)
    except InvalidDicomError:
        raise
    except Exception as exc:
        raise InvalidDicomError(f"damaged header ({type(exc).__name__}: {exc})") from None


def _check_header(
    fp: IO[bytes], size: int, ds: Dataset, has_meta: bool
) -> tuple[Dataset, int | None, int | None, bool]:
    _reject_cut_values(ds)
    ts = _transfer_syntax(ds)
    if not ts.is_transfer_syntax:
        raise InvalidDicomError(f"damaged header: {ts!s} is not a transfer syntax")
    if ds.get("SOPClassUID") == MEDIA_STORAGE_DIRECTORY or (
        has_meta and ds.file_meta.get("MediaStorageSOPClassUID") == MEDIA_STORAGE_DIRECTORY
    ):
        raise InvalidDicomError("DICOMDIR media directory, not an image")
    missing = [k for k in _REQUIRED if not str(ds.get(k, "") or "").strip()]
    if missing:
        raise InvalidDicomError("missing required identifier(s): " + ", ".join(missing))
    offset, length = (None, None)
    if ts != DeflatedExplicitVRLittleEndian:
        offset, length = _locate_pixel_data(fp, ts, size)
    if offset is None and ts != DeflatedExplicitVRLittleEndian:
        if "Rows" in ds and _expects_pixels(ds):
            raise InvalidDicomError("truncated: image attributes present but no Pixel Data")
        if "Image Storage" in UID(str(ds.SOPClassUID)).name:
            raise InvalidDicomError("truncated or incomplete: an image object without Pixel Data")
    if offset is not None and length is not None and length != _UNDEFINED_LENGTH:
        expected = _native_length(ds)
        if offset + length > size:
            raise InvalidDicomError(
                f"truncated: Pixel Data needs {length} bytes, {max(size - offset, 0)} present"
            )
        if expected and length < expected:
            raise InvalidDicomError(
                f"truncated: Pixel Data has {length} bytes, the image needs {expected}"
            )
    return ds, offset, length, has_meta


def _reject_cut_values(ds: Dataset) -> None:
    """pydicom keeps a value cut short by the end of the file; such a file is truncated."""
    for dataset in (getattr(ds, "file_meta", None), ds):
        if not dataset:
            continue
        last = dataset.get_item(max(dataset.keys()))
        if (
            isinstance(last, RawDataElement)
            and last.value is not None
            and last.length != _UNDEFINED_LENGTH
            and len(last.value) < last.length
        ):
            raise InvalidDicomError("truncated: the file ends inside its header")


def _expects_pixels(ds: Dataset) -> bool:
    return int(ds.get("Rows", 0) or 0) > 0 and int(ds.get("Columns", 0) or 0) > 0


@functools.lru_cache(maxsize=256)
def _uid(value: str) -> UID:
    """pydicom's UID of a value, made (and validated) once: a retrieve of 300 slices asks for
    the same transfer syntax 1,500 times."""
    return UID(value)


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts:
        return _uid(ts)
    return (
        ExplicitVRBigEndian
        if not ds.is_little_endian
        else (ImplicitVRLittleEndian if ds.is_implicit_VR else UID("1.2.840.10008.1.2.1"))
    )


def _locate_pixel_data(fp: IO[bytes], ts: UID, size: int) -> tuple[int | None, int | None]:
    """Parse the Pixel Data element header at the reader's stop position (PS3.5 7.1.2)."""
    start = fp.tell()
    offset, length = _pixel_data_element(fp.read(12), start, ts)
    if length == _UNDEFINED_LENGTH:
        _check_fragments(fp, offset or 0, size)
    return offset, length


def _pixel_data_element(head: bytes, start: int, ts: UID) -> tuple[int | None, int | None]:
    """The value offset and length of the Pixel Data element whose first (up to 12) bytes,
    found at ``start``, are ``head``; (None, None) when it is not Pixel Data."""
    if len(head) < 8:
        return None, None
    endian = ">" if ts == ExplicitVRBigEndian else "<"
    group, elem = struct.unpack(endian + "HH", head[:4])
    if (group << 16 | elem) != PIXEL_DATA_TAG:
        return None, None
    if ts == ImplicitVRLittleEndian or head[4:6] not in (b"OB", b"OW", b"OD", b"OF", b"OL", b"UN"):
        (length,) = struct.unpack(endian + "I", head[4:8])
        return start + 8, length
    if len(head) < 12:
        raise InvalidDicomError("truncated: Pixel Data element header cut short")
    (length,) = struct.unpack(endian + "I", head[8:12])
    return start + 12, length


def _check_fragments(fp: IO[bytes], offset: int, size: int) -> None:
    """Walk encapsulated fragments (PS3.5 A.4) to the sequence delimiter; fail if cut short."""
    pos = offset
    fp.seek(pos)
    for _ in range(1_000_000):
        head = fp.read(8)
        if len(head) < 8:
            raise InvalidDicomError("truncated: encapsulated Pixel Data ends before its delimiter")
        group, elem, length = struct.unpack("<HHI", head)
        tag = group << 16 | elem
        if tag == _SEQ_DELIM:
            return
        if tag != _ITEM or length == _UNDEFINED_LENGTH:
            raise InvalidDicomError("damaged encapsulated Pixel Data (bad item tag)")
        pos += 8 + length
        if pos > size:
            raise InvalidDicomError("truncated: a compressed frame is cut short")
        fp.seek(pos)
    raise InvalidDicomError("damaged encapsulated Pixel Data (too many fragments)")


def _native_length(ds: Dataset) -> int:
    try:
        rows = int(ds.Rows)
        cols = int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        spp = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.BitsAllocated)
    except (AttributeError, ValueError, TypeError):
        return 0
    if _transfer_syntax(ds).is_compressed:
        return 0
    if str(ds.get("PhotometricInterpretation", "")).upper() == "YBR_FULL_422":
        spp = 2  # chroma subsampled horizontally: two samples per pixel (PS3.5 8.2.6)
    total_bits = rows * cols * frames * spp * bits
    return (total_bits + 7) // 8


def _s(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if type(value) is str:  # the common case, before the costlier ABC check below
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, pydicom.multival.MultiValue | tuple):  # tuple: the fast header's
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(ds: Dataset, keyword: str) -> float | None:
    value = ds.get(keyword)
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _floats(ds: Dataset, keyword: str, n: int | None = None) -> tuple[float, ...] | None:
    value = ds.get(keyword)
    if value in (None, ""):
        return None
    seq: Any = value if isinstance(value, pydicom.multival.MultiValue | list | tuple) else [value]
    try:
        out = tuple(float(v) for v in seq)
    except (TypeError, ValueError):
        return None
    if n is not None and len(out) != n:
        return None
    return out


def _strs(ds: Dataset, keyword: str) -> tuple[str, ...]:
    value = ds.get(keyword)
    if value in (None, ""):
        return ()
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        return tuple(str(v) for v in value)
    return (str(value),)


def _requested_priority(ds: Dataset) -> str:
    for kw in ("RequestedProcedurePriority", "ScheduledProcedureStepPriority"):
        v = _s(ds, kw)
        if v:
            return v.upper()
    seq = ds.get("RequestAttributesSequence")
    if seq:
        for item in seq:
            v = _s(item, "RequestedProcedurePriority")
            if v:
                return v.upper()
    return ""


def _plane_geometry(ds: Dataset) -> tuple[Any, Any, Any, Any]:
    """Image Plane attributes, from the top level or the Shared Functional Groups (C.7.6.16)."""
    ipp = _floats(ds, "ImagePositionPatient", 3)
    iop = _floats(ds, "ImageOrientationPatient", 6)
    ps = _floats(ds, "PixelSpacing", 2)
    thick = _float(ds, "SliceThickness")
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        item = shared[0]
        if iop is None and item.get("PlaneOrientationSequence"):
            iop = _floats(item.PlaneOrientationSequence[0], "ImageOrientationPatient", 6)
        if item.get("PixelMeasuresSequence"):
            pm = item.PixelMeasuresSequence[0]
            ps = ps or _floats(pm, "PixelSpacing", 2)
            thick = thick if thick is not None else _float(pm, "SliceThickness")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if ipp is None and per_frame:
        first = per_frame[0]
        if first.get("PlanePositionSequence"):
            ipp = _floats(first.PlanePositionSequence[0], "ImagePositionPatient", 3)
    return ipp, iop, ps, thick


def _shared_rescale(ds: Dataset) -> tuple[float | None, float | None]:
    """Rescale of an enhanced object from its Shared Functional Groups (C.7.6.16.2.9)."""
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and shared[0].get("PixelValueTransformationSequence"):
        item = shared[0].PixelValueTransformationSequence[0]
        return _float(item, "RescaleSlope"), _float(item, "RescaleIntercept")
    return None, None


def _shared_records(ds: Dataset) -> tuple[Patient, Study, Series]:
    """The Patient, Study and Series of a header. The slices of a series share them: from the
    fast header (hashable values) they are made once, by the values they are made of."""
    memo_key = tuple(map(ds.get, _SHARED_KEYWORDS)) if type(ds) is _Header else None
    if memo_key is not None and (shared := _SHARED.get(memo_key)) is not None:
        return shared
    name = ds.get("PatientName")
    patient = Patient(
        patient_id=_s(ds, "PatientID"),
        issuer_of_patient_id=_s(ds, "IssuerOfPatientID"),
        patient_name=str(name) if name is not None else "",
        birth_date=_s(ds, "PatientBirthDate"),
        sex=_s(ds, "PatientSex").upper(),
    )
    study = Study(
        study_instance_uid=_s(ds, "StudyInstanceUID"),
        patient=patient,
        accession_number=_s(ds, "AccessionNumber"),
        study_date=_s(ds, "StudyDate"),
        study_time=_s(ds, "StudyTime"),
        study_description=_s(ds, "StudyDescription"),
        body_part_examined=_s(ds, "BodyPartExamined").upper(),
        institution_name=_s(ds, "InstitutionName"),
        referring_physician_name=str(ds.get("ReferringPhysicianName", "") or ""),
        requested_priority=_requested_priority(ds),
        study_id=_s(ds, "StudyID"),
    )
    series = Series(
        series_instance_uid=_s(ds, "SeriesInstanceUID"),
        study_instance_uid=study.study_instance_uid,
        modality=_s(ds, "Modality").upper(),
        series_number=_int(ds, "SeriesNumber"),
        series_description=_s(ds, "SeriesDescription"),
        body_part_examined=_s(ds, "BodyPartExamined").upper(),
        frame_of_reference_uid=_s(ds, "FrameOfReferenceUID"),
    )
    if memo_key is not None:
        if len(_SHARED) >= 64:
            _SHARED.clear()
        _SHARED[memo_key] = (patient, study, series)
    return patient, study, series


def parse_dataset(
    ds: Dataset,
    *,
    path: str,
    pixel_data_offset: int | None,
    pixel_data_length: int | None,
    file_size: int,
    has_file_meta: bool,
) -> ParsedInstance:
    """Turn a header into the domain objects the index stores."""
    patient, study, series = _shared_records(ds)
    ts = _transfer_syntax(ds)
    ipp, iop, ps, thick = _plane_geometry(ds)
    slope, intercept = _float(ds, "RescaleSlope"), _float(ds, "RescaleIntercept")
    if slope is None and intercept is None:
        slope, intercept = _shared_rescale(ds)
    wc = _floats(ds, "WindowCenter") or ()
    ww = _floats(ds, "WindowWidth") or ()
    imager_ps = _floats(ds, "ImagerPixelSpacing", 2)
    native = not ts.is_compressed and ts != DeflatedExplicitVRLittleEndian
    instance = Instance(
        sop_instance_uid=_s(ds, "SOPInstanceUID"),
        series_instance_uid=series.series_instance_uid,
        sop_class_uid=_s(ds, "SOPClassUID"),
        transfer_syntax_uid=str(ts),
        path=path,
        instance_number=_int(ds, "InstanceNumber"),
        rows=_int(ds, "Rows") or 0,
        columns=_int(ds, "Columns") or 0,
        number_of_frames=_int(ds, "NumberOfFrames") or 1,
        samples_per_pixel=_int(ds, "SamplesPerPixel") or 1,
        photometric_interpretation=_s(ds, "PhotometricInterpretation").upper(),
        bits_allocated=_int(ds, "BitsAllocated") or 0,
        bits_stored=_int(ds, "BitsStored") or 0,
        pixel_representation=_int(ds, "PixelRepresentation") or 0,
        planar_configuration=_int(ds, "PlanarConfiguration") or 0,
        rescale_slope=slope or 1.0,
        rescale_intercept=intercept or 0.0,
        rescale_type=_s(ds, "RescaleType"),
        window_center=tuple(wc),
        window_width=tuple(ww),
        window_explanation=_strs(ds, "WindowCenterWidthExplanation"),
        voi_lut_function=_s(ds, "VOILUTFunction").upper(),
        image_position_patient=ipp,  # type: ignore[arg-type]
        image_orientation_patient=iop,  # type: ignore[arg-type]
        pixel_spacing=ps,  # type: ignore[arg-type]
        imager_pixel_spacing=imager_ps,  # type: ignore[arg-type]
        estimated_radiographic_magnification_factor=_float(
            ds, "EstimatedRadiographicMagnificationFactor"
        ),
        slice_thickness=thick,
        slice_location=_float(ds, "SliceLocation"),
        acquisition_number=_int(ds, "AcquisitionNumber"),
        image_type=_strs(ds, "ImageType"),
        has_modality_lut_sequence=bool(ds.get("ModalityLUTSequence")),
        has_voi_lut_sequence=bool(ds.get("VOILUTSequence")),
        presentation_lut_shape=_s(ds, "PresentationLUTShape").upper(),
        pixel_data_offset=pixel_data_offset if native else None,
        pixel_data_length=pixel_data_length if native else None,
        file_size=file_size,
    )
    return ParsedInstance(patient, study, series, instance, has_file_meta)


# -- the fast path: the index attributes straight from the header bytes ----------------------------

HEAD_BYTES = 64 * 1024  # enough for the header of a typical image; a longer one takes pydicom
_ITEM_DELIM = 0xFFFEE00D
_SPECIFIC_CHARACTER_SET = 0x00080005
# Attributes parse_dataset reads, with their dictionary VR (PS3.6).
_FAST_KEYWORDS = (
    "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
    "FrameOfReferenceUID", "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate",
    "PatientSex", "AccessionNumber", "StudyDate", "StudyTime", "StudyDescription", "StudyID",
    "BodyPartExamined", "InstitutionName", "ReferringPhysicianName",
    "RequestedProcedurePriority", "ScheduledProcedureStepPriority", "Modality", "SeriesNumber",
    "SeriesDescription", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
    "SliceThickness", "RescaleSlope", "RescaleIntercept", "RescaleType", "WindowCenter",
    "WindowWidth", "WindowCenterWidthExplanation", "VOILUTFunction", "ImagerPixelSpacing",
    "EstimatedRadiographicMagnificationFactor", "SliceLocation", "AcquisitionNumber",
    "ImageType", "InstanceNumber", "Rows", "Columns", "NumberOfFrames", "SamplesPerPixel",
    "PhotometricInterpretation", "BitsAllocated", "BitsStored", "PixelRepresentation",
    "PlanarConfiguration", "PresentationLUTShape",
)  # fmt: skip
_FAST_TAGS: dict[int, tuple[str, str, bytes]] = {
    tag: (k, vr, vr.encode("ascii"))
    for k in _FAST_KEYWORDS
    for tag in [int(tag_for_keyword(k) or 0)]
    for vr in [str(dictionary_VR(tag))]
}
# Sequences parse_dataset looks into: a header with one of them takes pydicom.
_SEQUENCE_TAGS = frozenset(
    int(tag_for_keyword(k) or 0)
    for k in (
        "RequestAttributesSequence",
        "SharedFunctionalGroupsSequence",
        "PerFrameFunctionalGroupsSequence",
        "ModalityLUTSequence",
        "VOILUTSequence",
    )
)
# Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2, Table 7.1-1).
_LONG_VRS = frozenset(
    (b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV")
)
# Values converted before, by their bytes: the slices of a series share most of their header
# (names, UIDs, sizes, windows), so a 300-slice retrieve converts ~4 values per slice instead of
# ~42 (0.028 -> 0.019 s for 300 CT headers). Only immutable values are kept; the dict is
# emptied when full.
_CONVERTED: dict[tuple[bytes, str, bool, str], Any] = {}
_CONVERTED_MAX = 4096
_IMMUTABLE = frozenset((str, int, float, type(None), tuple))  # tuples of the first three
_MISSING = object()
# What parse_dataset makes the Patient, Study and Series of, and those it made, by these values.
_SHARED_KEYWORDS = (
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
    "StudyInstanceUID", "AccessionNumber", "StudyDate", "StudyTime", "StudyDescription",
    "BodyPartExamined", "InstitutionName", "ReferringPhysicianName",
    "RequestedProcedurePriority", "ScheduledProcedureStepPriority", "StudyID",
    "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
    "FrameOfReferenceUID",
)  # fmt: skip
_SHARED: dict[tuple[Any, ...], tuple[Patient, Study, Series]] = {}
_EXPLICIT_LE = struct.Struct("<HH2sH")  # group, element, VR, 2-byte length (PS3.5 7.1.2)
_U32_LE = struct.Struct("<I")
_TEXT_VRS = frozenset(("SH", "LO", "UC"))
_STRING_VRS = frozenset(("CS", "DA", "TM", "AS", "AE", "DT"))
# Character sets whose single Python codec decodes exactly as pydicom does (PS3.3 C.12.1.1.2).
_CHARSETS = {"": "iso8859", "ISO_IR 6": "iso8859", "ISO_IR 100": "latin_1", "ISO_IR 192": "UTF8"}


class _Fallback(Exception):
    """The header needs pydicom: an encoding, a structure or a value the fast path leaves out."""


class _Header(dict):  # type: ignore[type-arg]
    """Just enough of a pydicom Dataset for :func:`parse_dataset` and the header checks: its
    values by keyword. A dict, so that the ~60 ``get`` calls per header are the C one."""

    __slots__ = ("file_meta", "is_implicit_VR", "is_little_endian")

    def __init__(
        self, values: dict[str, Any], meta: dict[str, Any], little: bool, implicit: bool
    ) -> None:
        super().__init__(values)
        self.file_meta = meta
        self.is_little_endian = little
        self.is_implicit_VR = implicit

    def __getattr__(self, keyword: str) -> Any:
        try:
            return self[keyword]
        except KeyError:
            raise AttributeError(keyword) from None


def _split(text: str) -> Any:
    """pydicom's multi_string: trailing padding off, split at backslashes (PS3.5 6.4); more
    than one value as a tuple, which parse_dataset reads as it reads pydicom's MultiValue."""
    items = text.rstrip(" \x00").split("\\")
    return items[0] if len(items) == 1 else tuple(items)


def _convert(raw: bytes, vr: str, little: bool, encoding: str) -> Any:
    """A value as pydicom 3 gives it for the VRs parse_dataset reads (PS3.5 6.2), with more
    than one value as a tuple (hashable, and kept in _CONVERTED like a single value)."""
    if vr == "US":
        if len(raw) % 2:
            raise _Fallback
        n = len(raw) // 2
        if n == 0:
            return None
        shorts = struct.unpack(("<" if little else ">") + "H" * n, raw)
        return shorts[0] if n == 1 else shorts
    if not raw:
        return None if vr in ("DS", "IS") else ""
    try:
        if vr in _TEXT_VRS:
            items = [v.rstrip("\0 ") for v in raw.decode(encoding).split("\\")]
            return items[0] if len(items) == 1 else tuple(items)
        if vr == "PN":
            text = raw.rstrip(b"\x00 ").decode(encoding)
            if "\\" in text:
                raise _Fallback
            return str(PersonName(text))
        text = raw.decode("latin_1")
    except UnicodeDecodeError:
        raise _Fallback from None
    if vr in _STRING_VRS:
        return _split(text)
    if vr == "UI":
        return _split(text.rstrip("\0 "))
    if vr in ("DS", "IS"):
        items = (text.strip() if vr == "DS" else text).rstrip(" \x00").split("\\")
        if not all(v.strip() for v in items):
            raise _Fallback  # an empty number: pydicom's own rules apply
        try:
            numbers: list[Any] = [float(v) if vr == "DS" else int(v) for v in items]
        except ValueError:
            raise _Fallback from None
        return numbers[0] if len(numbers) == 1 else tuple(numbers)
    raise _Fallback


class _Walker:
    """Element headers of one encoding (PS3.5 7.1), read from a bytes object."""

    def __init__(self, buf: bytes, little: bool, implicit: bool) -> None:
        self.buf = buf
        self.end = len(buf)
        self.implicit = implicit
        e = "<" if little else ">"
        self.hh = struct.Struct(e + "HH")
        self.hhi = struct.Struct(e + "HHI")
        self.h = struct.Struct(e + "H")
        self.i = struct.Struct(e + "I")

    def element(self, pos: int) -> tuple[int, bytes | None, int, int]:
        """(tag, explicit VR or None, value length, value start) of the element at ``pos``."""
        if pos + 8 > self.end:
            raise _Fallback
        if self.implicit:
            group, elem, length = self.hhi.unpack_from(self.buf, pos)
            return group << 16 | elem, None, length, pos + 8
        group, elem = self.hh.unpack_from(self.buf, pos)
        vr = self.buf[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            if pos + 12 > self.end:
                raise _Fallback
            return group << 16 | elem, vr, self.i.unpack_from(self.buf, pos + 8)[0], pos + 12
        return group << 16 | elem, vr, self.h.unpack_from(self.buf, pos + 6)[0], pos + 8

    def skip_sequence(self, pos: int) -> int:
        """Past an undefined-length sequence's delimiter (PS3.5 7.5.2)."""
        for _ in range(100_000):
            if pos + 8 > self.end:
                raise _Fallback
            group, elem, length = self.hhi.unpack_from(self.buf, pos)
            tag = group << 16 | elem
            pos += 8
            if tag == _SEQ_DELIM:
                return pos
            if tag != _ITEM:
                raise _Fallback
            pos = self.skip_item(pos) if length == _UNDEFINED_LENGTH else pos + length
        raise _Fallback

    def skip_item(self, pos: int) -> int:
        """Past an undefined-length item's delimiter, skipping its elements."""
        for _ in range(100_000):
            tag, vr, length, start = self.element(pos)
            if tag == _ITEM_DELIM:
                return start
            if length == _UNDEFINED_LENGTH:
                if vr not in (None, b"SQ"):
                    raise _Fallback
                pos = self.skip_sequence(start)
            else:
                pos = start + length
        raise _Fallback


def _fast_header(head: bytes) -> tuple[_Header, int]:
    """Parse a Part 10 header (PS3.10 7.1) from bytes; return it and the Pixel Data position."""
    if len(head) < 144 or head[128:132] != b"DICM":
        raise _Fallback
    meta: dict[str, Any] = {}
    w = _Walker(head, True, False)  # the meta group is always Explicit VR Little Endian
    pos = 132
    while True:
        tag, vr, length, start = w.element(pos)
        if tag >> 16 != 0x0002:
            break
        if length == _UNDEFINED_LENGTH or start + length > len(head):
            raise _Fallback
        if tag in (0x00020002, 0x00020010):  # Media Storage SOP Class, Transfer Syntax
            if vr != b"UI":
                raise _Fallback
            key = "MediaStorageSOPClassUID" if tag == 0x00020002 else "TransferSyntaxUID"
            meta[key] = _split(head[start : start + length].decode("latin_1").rstrip("\0 "))
        pos = start + length
    ts = meta.get("TransferSyntaxUID")
    if not isinstance(ts, str) or not _uid(ts).is_transfer_syntax:
        raise _Fallback
    uid = _uid(ts)
    if uid == DeflatedExplicitVRLittleEndian:
        raise _Fallback
    little, implicit = uid.is_little_endian, uid.is_implicit_VR
    # pydicom follows the data where it contradicts the meta's transfer syntax; so does
    # read_header: leave such a file to it.
    looks_explicit = head[pos + 4 : pos + 6].isalpha() and head[pos + 4 : pos + 6].isupper()
    if looks_explicit == implicit:
        raise _Fallback
    w = _Walker(head, little, implicit)
    values: dict[str, Any] = {}
    encoding = "iso8859"
    # Explicit VR Little Endian, the common case, read inline: a CT header has ~70 elements.
    explicit_le = _EXPLICIT_LE.unpack_from if little and not implicit else None
    size = len(head)
    while True:
        if explicit_le is not None:
            if pos + 8 > size:
                raise _Fallback
            group, elem, vr, length = explicit_le(head, pos)
            tag = group << 16 | elem
            start = pos + 8
            if vr in _LONG_VRS:
                if pos + 12 > size:
                    raise _Fallback
                (length,) = _U32_LE.unpack_from(head, start)
                start += 4
        else:
            tag, vr, length, start = w.element(pos)
        if tag >= 0x7FE00008:
            if tag == PIXEL_DATA_TAG:
                return _Header(values, meta, little, implicit), pos
            raise _Fallback  # float pixel data, or an element pydicom would stop at
        if tag in _SEQUENCE_TAGS:
            raise _Fallback
        if length == _UNDEFINED_LENGTH:
            if vr not in (None, b"SQ"):
                raise _Fallback
            pos = w.skip_sequence(start)
            continue
        end = start + length
        if end > size:
            raise _Fallback
        if tag == _SPECIFIC_CHARACTER_SET:
            name = head[start:end].decode("latin_1").strip(" \x00")
            if name not in _CHARSETS:
                raise _Fallback
            encoding = _CHARSETS[name]
        spec = _FAST_TAGS.get(tag)
        if spec is not None:
            keyword, dict_vr, dict_vr_bytes = spec
            if vr is not None and vr != dict_vr_bytes:
                raise _Fallback
            raw = head[start:end]
            cache_key = (raw, dict_vr, little, encoding)
            value = _CONVERTED.get(cache_key, _MISSING)
            if value is _MISSING:
                value = _convert(raw, dict_vr, little, encoding)
                if type(value) in _IMMUTABLE:
                    if len(_CONVERTED) >= _CONVERTED_MAX:
                        _CONVERTED.clear()
                    _CONVERTED[cache_key] = value
            values[keyword] = value
        pos = end


def parse_head(
    fp: IO[bytes], size: int, *, path: str = "", head_bytes: int = HEAD_BYTES
) -> ParsedInstance | None:
    """The index attributes of an image file without pydicom, from its first bytes; or None.

    Covers Part 10 files (PS3.10 7.1) in Explicit or Implicit VR Little Endian, Explicit VR
    Big Endian and the encapsulated syntaxes, whose header up to Pixel Data fits in
    ``head_bytes`` and holds nothing parse_dataset would read from a nested sequence. None
    means "use :func:`read_header`": it gives the same result or the precise rejection.
    ``fp`` is read from its start; a cut encapsulated Pixel Data raises InvalidDicomError.
    """
    fp.seek(0)
    return parse_head_bytes(fp.read(min(size, head_bytes)), size, lambda: fp, path=path)


def parse_head_bytes(
    head: bytes, size: int, file: Callable[[], IO[bytes]], *, path: str = ""
) -> ParsedInstance | None:
    """:func:`parse_head` from a file's first bytes already in memory (a retrieve keeps each
    part's): ``file()`` is asked for the file only where the bytes past ``head`` matter, the
    fragments of encapsulated Pixel Data or a Pixel Data element that starts past it."""
    try:
        ds, tag_pos = _fast_header(head)
    except (_Fallback, struct.error, ValueError):
        return None
    ts = _transfer_syntax(ds)  # type: ignore[arg-type]
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if sop_class == MEDIA_STORAGE_DIRECTORY or (
        ds.file_meta.get("MediaStorageSOPClassUID") == MEDIA_STORAGE_DIRECTORY
    ):
        return None
    if any(not str(ds.get(k, "") or "").strip() for k in _REQUIRED):
        return None
    if tag_pos + 12 <= len(head) or len(head) == size:
        offset, length = _pixel_data_element(head[tag_pos : tag_pos + 12], tag_pos, ts)
        if length == _UNDEFINED_LENGTH:
            _check_fragments(file(), offset or 0, size)
    else:
        fp = file()
        fp.seek(tag_pos)
        offset, length = _locate_pixel_data(fp, ts, size)
    if offset is None or length is None:
        return None
    if length != _UNDEFINED_LENGTH:
        expected = _native_length(ds)  # type: ignore[arg-type]
        if offset + length > size or (expected and length < expected):
            return None
    return parse_dataset(
        ds,  # type: ignore[arg-type]
        path=path,
        pixel_data_offset=offset,
        pixel_data_length=length,
        file_size=size,
        has_file_meta=True,
    )


def parse_file(path: str | Path) -> ParsedInstance:
    """Read and parse one file on disk (raises :class:`InvalidDicomError`)."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise InvalidDicomError(f"cannot read file ({exc.strerror})") from None
    ds, offset, length, meta = read_header(p)
    return parse_dataset(
        ds,
        path=str(p),
        pixel_data_offset=offset,
        pixel_data_length=length,
        file_size=size,
        has_file_meta=meta,
    )


def is_dicomdir(path: Path) -> bool:
    """True for a DICOMDIR (PS3.10 8.6) by its meta's Media Storage SOP Class."""
    try:
        meta = pydicom.filereader.read_file_meta_info(path)
    except Exception:
        return False
    return meta.get("MediaStorageSOPClassUID") == MEDIA_STORAGE_DIRECTORY
