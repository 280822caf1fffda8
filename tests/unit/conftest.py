"""Shared fixtures of the unit tests: the pydicom sample files, a store, a DICOM file writer.

Only data made in the test or the sample files that ship with pydicom are used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
)

from workstation.archive.local import LocalArchive

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
UID_ROOT = "1.2.826.0.1.3680043.10.999."  # test UIDs, never seen outside these tests

# Only the samples that ship inside the pydicom wheel (no download).
LOCAL_SAMPLES = frozenset(
    p.name for p in Path(get_testdata_file("CT_small.dcm") or ".").parent.iterdir()
)


def sample_path(name: str) -> Path:
    """A pydicom sample file that ships in the wheel (never one pydicom would download)."""
    if name != "DICOMDIR":
        assert name in LOCAL_SAMPLES, f"{name} is not a local pydicom sample"
    p = get_testdata_file(name)
    assert p is not None, name
    return Path(p)


@pytest.fixture
def sample() -> Callable[[str], Path]:
    return sample_path


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[LocalArchive]:
    """An empty local store in tmp_path/store."""
    a = LocalArchive(tmp_path / "store")
    yield a
    a.close()


def build_image(
    *,
    pixels: np.ndarray,
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    instance_number: int | None = 1,
    position: Sequence[float] | None = (0.0, 0.0, 0.0),
    orientation: Sequence[float] | None = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    spacing: Sequence[float] = (0.5, 0.5),
    bits_stored: int = 16,
    pixel_representation: int = 0,
    rescale_intercept: float | None = None,
    rescale_slope: float | None = None,
    window: tuple[float, float] | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    sop_class_uid: str = CT_IMAGE_STORAGE,
    modality: str = "CT",
    patient_name: str = "Test^Patient",
    patient_id: str = "TEST-1",
    accession_number: str = "",
    study_date: str = "20240101",
    study_time: str = "120000",
    series_number: int | None = 1,
    series_description: str = "",
    character_set: str | None = None,
) -> Dataset:
    """A single-frame grey image; ``pixels`` are the raw 16-bit words to store (any high bits)."""
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    if character_set:
        ds.SpecificCharacterSet = character_set
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = study_date
    ds.StudyTime = study_time
    ds.AccessionNumber = accession_number
    ds.Modality = modality
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    if series_number is not None:
        ds.SeriesNumber = series_number
    if series_description:
        ds.SeriesDescription = series_description
    if instance_number is not None:
        ds.InstanceNumber = instance_number
    ds.FrameOfReferenceUID = study_uid + ".1"
    if position is not None:
        ds.ImagePositionPatient = [float(v) for v in position]
    if orientation is not None:
        ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = [float(v) for v in spacing]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = pixel_representation
    if rescale_intercept is not None:
        ds.RescaleIntercept = rescale_intercept
        ds.RescaleSlope = 1 if rescale_slope is None else rescale_slope
        ds.RescaleType = "HU" if modality == "CT" else "US"
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    # The 16-bit words as stored, two's complement for negative values, in the file's byte order.
    words = (np.asarray(pixels, dtype=np.int64) & 0xFFFF).astype(np.uint16)
    endian = ">" if transfer_syntax == ExplicitVRBigEndian else "<"
    ds.PixelData = words.astype(f"{endian}u2").tobytes()
    return ds


@pytest.fixture
def image_dataset() -> Callable[..., Dataset]:
    """:func:`build_image` as a fixture: an in-memory dataset with file meta."""
    return build_image


@pytest.fixture
def write_image(tmp_path: Path) -> Callable[..., Path]:
    """Write :func:`build_image` to a Part 10 file; returns its path."""
    counter = iter(range(1_000_000))

    def _write(path: Path | None = None, **kwargs: object) -> Path:
        ds = build_image(**kwargs)  # type: ignore[arg-type]
        if path is None:
            folder = tmp_path / "written"
            folder.mkdir(exist_ok=True)
            path = folder / f"img{next(counter)}.dcm"
        ds.save_as(path, enforce_file_format=True)
        return path

    return _write
