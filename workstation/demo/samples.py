"""pydicom's bundled sample files, re-identified into one demo study.

The samples cover compressed transfer syntaxes and photometric interpretations that the
generated phantoms do not (JPEG, JPEG-LS, JPEG 2000, RLE, big endian, deflate, multi-frame,
colour, palette, MONOCHROME1). Several share UIDs and carry odd patient data, so each becomes a
series of one study of one demo patient with fresh deterministic UIDs. Pixel Data, every
pixel-describing attribute and the original Transfer Syntax are kept as they are.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from workstation.demo.spec import DemoPatient, demo_uid

# (name passed to get_testdata_file, what it covers)
SAMPLE_FILES: tuple[tuple[str, str], ...] = (
    ("SC_rgb_jpeg_dcmtk.dcm", "JPEG baseline, YBR_FULL"),
    ("JPGExtended.dcm", "JPEG extended, 12 bit"),
    ("SC_rgb_jpeg_gdcm.dcm", "JPEG lossless, RGB"),
    ("MR_small_jpeg_ls_lossless.dcm", "JPEG-LS lossless"),
    ("MR_small_jp2klossless.dcm", "JPEG 2000 lossless"),
    ("JPEG2000.dcm", "JPEG 2000"),
    ("MR_small_RLE.dcm", "RLE lossless"),
    ("MR_small_bigendian.dcm", "explicit VR big endian"),
    ("image_dfl.dcm", "deflated explicit VR little endian"),
    ("examples_ybr_color.dcm", "multi-frame, 30 frames, YBR_FULL_422"),
    ("SC_rgb_rle_2frame.dcm", "multi-frame, 2 frames, RLE RGB"),
    ("examples_rgb_color.dcm", "RGB"),
    ("examples_palette.dcm", "PALETTE COLOR"),
    ("6154", "MONOCHROME1 computed radiography"),
    ("MR_small.dcm", "uncompressed MR reference"),
    ("CT_small.dcm", "uncompressed CT reference"),
)

SAMPLES_PATIENT = DemoPatient(
    patient_name="Samples^Pydicom",
    patient_id="DEMO-SAMPLES",
    issuer_of_patient_id="DEMO-HOSP",
    patient_birth_date="",
    patient_sex="O",
    specific_character_set="",  # each file keeps its own; the name is plain ASCII
)
SAMPLES_STUDY_INSTANCE_UID = demo_uid("study", "SAMPLES")
SAMPLES_STUDY_DESCRIPTION = "pydicom sample files"
SAMPLES_ACCESSION_NUMBER = "ACC-SAMPLES"
SAMPLES_STUDY_DATE = "20260101"
SAMPLES_STUDY_TIME = "120000"

# Short names, so "<file name> (<transfer syntax>)" fits Series Description (LO, 64 chars,
# PS3.5 6.2); pydicom's full names run to 90 characters.
_TRANSFER_SYNTAX_NAMES: dict[str, str] = {
    ImplicitVRLittleEndian: "Implicit VR Little Endian",
    ExplicitVRLittleEndian: "Explicit VR Little Endian",
    ExplicitVRBigEndian: "Explicit VR Big Endian",
    DeflatedExplicitVRLittleEndian: "Deflated Explicit VR Little Endian",
    JPEGBaseline8Bit: "JPEG Baseline",
    JPEGExtended12Bit: "JPEG Extended",
    JPEGLossless: "JPEG Lossless",
    JPEGLosslessSV1: "JPEG Lossless SV1",
    JPEGLSLossless: "JPEG-LS Lossless",
    JPEGLSNearLossless: "JPEG-LS Near-Lossless",
    JPEG2000Lossless: "JPEG 2000 Lossless",
    JPEG2000: "JPEG 2000",
    RLELossless: "RLE Lossless",
}
_LO_MAX_CHARS = 64


def transfer_syntax_name(uid: str) -> str:
    """A short human name for a transfer syntax UID."""
    return _TRANSFER_SYNTAX_NAMES.get(uid) or UID(uid).name


def series_description_for(file_name: str, transfer_syntax_uid: str) -> str:
    """``"<file name> (<transfer syntax name>)"``, cut to the 64 characters LO allows."""
    text = f"{file_name} ({transfer_syntax_name(transfer_syntax_uid)})"
    if len(text) > _LO_MAX_CHARS:
        text = text[: _LO_MAX_CHARS - 1] + ")"
    return text


def _sample_path(name: str) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = get_testdata_file(name)
    except Exception:  # a missing optional data package must not stop the demo
        return None
    return path if isinstance(path, str) else None


def _reidentify(ds: Dataset, file_name: str, series_number: int) -> Dataset:
    """Give one sample the demo patient, the samples study and new UIDs; keep its pixels."""
    for element in list(ds.group_dataset(0x0010)):
        del ds[element.tag]
    patient = SAMPLES_PATIENT
    ds.PatientName = patient.patient_name
    ds.PatientID = patient.patient_id
    ds.IssuerOfPatientID = patient.issuer_of_patient_id
    ds.PatientBirthDate = patient.patient_birth_date
    ds.PatientSex = patient.patient_sex

    ds.StudyInstanceUID = UID(SAMPLES_STUDY_INSTANCE_UID)
    ds.StudyDate = SAMPLES_STUDY_DATE
    ds.StudyTime = SAMPLES_STUDY_TIME
    ds.StudyID = "SMP1"
    ds.AccessionNumber = SAMPLES_ACCESSION_NUMBER
    ds.StudyDescription = SAMPLES_STUDY_DESCRIPTION
    ds.ReferringPhysicianName = ""

    meta = getattr(ds, "file_meta", None) or FileMetaDataset()
    transfer_syntax = meta.get("TransferSyntaxUID") or _encoding_of(ds)
    ds.SeriesInstanceUID = UID(demo_uid("series", "SAMPLES", file_name))
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description_for(file_name, transfer_syntax)
    sop_instance_uid = UID(demo_uid("instance", "SAMPLES", file_name))
    ds.SOPInstanceUID = sop_instance_uid
    if "FrameOfReferenceUID" in ds:
        ds.FrameOfReferenceUID = UID(demo_uid("frame-of-reference", "SAMPLES", file_name))
    if "InstanceNumber" not in ds or ds.InstanceNumber is None:
        ds.InstanceNumber = 1

    meta.MediaStorageSOPClassUID = UID(ds.SOPClassUID)
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = UID(demo_uid("implementation-class"))
    meta.ImplementationVersionName = "WS_DEMO_1"
    ds.file_meta = meta
    return ds


def _encoding_of(ds: Dataset) -> str:
    """The transfer syntax a dataset without file meta was read with."""
    implicit, little = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def iter_sample_datasets() -> Iterator[Dataset]:
    """The pydicom sample files as one study of patient "Samples^Pydicom", one series per file.

    Files that pydicom cannot find (an incomplete installation) are skipped silently.
    """
    series_number = 0
    for file_name, _covers in SAMPLE_FILES:
        path = _sample_path(file_name)
        if path is None:
            continue
        ds = pydicom.dcmread(path)
        series_number += 1
        yield _reidentify(ds, Path(path).name, series_number)
