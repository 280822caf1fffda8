"""Turn demo specs into DICOM instances, one slice at a time.

Each instance is a complete Part 10 dataset (PS3.10 7.1) in Explicit VR Little Endian, built
from the modules its IOD requires: CT Image (PS3.3 A.3), MR Image (A.4), Digital X-Ray Image
For Presentation (A.26).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian
from pydicom.valuerep import DSfloat

from workstation.demo.phantom import rasterize_plane
from workstation.demo.spec import DemoSeries, DemoStudy, demo_uid
from workstation.demo.studies import DEMO_STUDIES

IMPLEMENTATION_CLASS_UID = UID(demo_uid("implementation-class"))
IMPLEMENTATION_VERSION_NAME = "WS_DEMO_1"
MANUFACTURER = "Workstation Demo"

ProgressCallback = Callable[[int, int], None]

# View Code Sequence values from CID 4010 "DX View" (PS3.16), keyed by View Position.
_VIEW_CODES: dict[str, tuple[str, str]] = {
    "PA": ("399348003", "postero-anterior"),
    "LL": ("399173006", "left lateral"),
}


def _ds(value: float) -> DSfloat:
    """A Decimal String that always fits the 16-byte limit of PS3.5 6.2."""
    return DSfloat(value, auto_format=True)


def _ds_values(values: Sequence[float]) -> DSfloat | list[DSfloat]:
    formatted = [_ds(v) for v in values]
    return formatted[0] if len(formatted) == 1 else formatted


def find_study(series: DemoSeries) -> DemoStudy:
    """The demo study that holds ``series``."""
    for study in DEMO_STUDIES:
        if any(s.series_instance_uid == series.series_instance_uid for s in study.series):
            return study
    raise ValueError(f"series {series.key!r} belongs to no study in DEMO_STUDIES")


def phantom_slice(series: DemoSeries, slice_index: int) -> NDArray[np.float32]:
    """Noise-free values (HU for CT) of one slice, shape (rows, columns)."""
    if not 0 <= slice_index < series.number_of_slices:
        raise IndexError(f"slice_index {slice_index} outside 0..{series.number_of_slices - 1}")
    return rasterize_plane(
        series.shapes,
        series.background_value,
        series.image_position_patient[slice_index],
        series.image_orientation_patient[:3],
        series.image_orientation_patient[3:],
        series.pixel_spacing_mm,
        series.rows,
        series.columns,
    )


def stored_slice(series: DemoSeries, slice_index: int) -> NDArray[np.integer]:
    """Stored pixel values of one slice: phantom + Gaussian noise, inverse Modality LUT, clipped.

    The noise generator is seeded with (series.noise_seed, slice_index), so a slice is the same
    whether it is made alone or as part of the whole demo. Stored = round((value - intercept) /
    slope) (PS3.3 C.11.1.1.2), clipped to the range Bits Stored allows.
    """
    values = phantom_slice(series, slice_index)
    if series.noise_sd > 0:
        rng = np.random.default_rng((series.noise_seed, slice_index))
        noise = rng.standard_normal(values.shape, dtype=np.float32)
        noise *= np.float32(series.noise_sd)
        values += noise
    slope = series.rescale_slope if series.rescale_slope is not None else 1.0
    intercept = series.rescale_intercept if series.rescale_intercept is not None else 0.0
    if intercept != 0.0:
        values -= np.float32(intercept)
    if slope != 1.0:
        values /= np.float32(slope)
    np.rint(values, out=values)
    low, high = series.stored_value_range
    np.clip(values, low, high, out=values)
    dtype = np.dtype("<i2") if series.pixel_representation else np.dtype("<u2")
    return values.astype(dtype)


def _file_meta(series: DemoSeries, sop_instance_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(series.sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def generate_slice(series: DemoSeries, slice_index: int, study: DemoStudy | None = None) -> Dataset:
    """One complete instance (with file_meta) of ``series``; ``slice_index`` is 0-based.

    ``study`` defaults to the DEMO_STUDIES entry holding the series.
    """
    if study is None:
        study = find_study(series)
    patient = study.patient
    sop_instance_uid = series.sop_instance_uid(slice_index)
    pixels = stored_slice(series, slice_index)

    ds = Dataset()
    ds.file_meta = _file_meta(series, sop_instance_uid)
    # SOP Common (PS3.3 C.12.1); the character set first so text below is encoded with it.
    ds.SpecificCharacterSet = patient.specific_character_set
    ds.SOPClassUID = UID(series.sop_class_uid)
    ds.SOPInstanceUID = UID(sop_instance_uid)
    ds.InstanceCreationDate = study.study_date
    ds.InstanceCreationTime = series.series_time or study.study_time
    # Patient (C.7.1.1)
    ds.PatientName = patient.patient_name
    ds.PatientID = patient.patient_id
    ds.IssuerOfPatientID = patient.issuer_of_patient_id
    ds.PatientBirthDate = patient.patient_birth_date
    ds.PatientSex = patient.patient_sex
    # General Study (C.7.2.1)
    ds.StudyInstanceUID = UID(study.study_instance_uid)
    ds.StudyDate = study.study_date
    ds.StudyTime = study.study_time
    ds.ReferringPhysicianName = study.referring_physician_name
    ds.StudyID = study.study_id
    ds.AccessionNumber = study.accession_number
    ds.StudyDescription = study.study_description
    # General Series (C.7.3.1)
    ds.Modality = series.modality
    ds.SeriesInstanceUID = UID(series.series_instance_uid)
    ds.SeriesNumber = series.series_number
    ds.SeriesDescription = series.series_description
    ds.SeriesDate = study.study_date
    ds.SeriesTime = series.series_time
    ds.BodyPartExamined = series.body_part_examined
    if series.patient_position is not None:
        ds.PatientPosition = series.patient_position
    # General Equipment (C.7.5.1)
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = "Phantom Generator"
    ds.InstitutionName = study.institution_name
    ds.StationName = "DEMO"
    ds.SoftwareVersions = "1"
    # General Image and General Acquisition (C.7.6.1, C.7.10.1)
    ds.InstanceNumber = slice_index + 1
    ds.ImageType = list(series.image_type)
    ds.AcquisitionNumber = 1
    ds.AcquisitionDate = study.study_date
    ds.AcquisitionTime = series.series_time
    ds.ContentDate = study.study_date
    ds.ContentTime = series.series_time
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    if series.kvp is not None:
        ds.KVP = _ds(series.kvp)

    if series.is_projection:
        _add_dx_modules(ds, series)
    else:
        _add_image_plane(ds, series, slice_index)
        if series.modality == "MR":
            _add_mr_image(ds, series)

    # Image Pixel (C.7.6.3)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = series.photometric_interpretation
    ds.Rows = series.rows
    ds.Columns = series.columns
    ds.BitsAllocated = 16
    ds.BitsStored = series.bits_stored
    ds.HighBit = series.bits_stored - 1
    ds.PixelRepresentation = series.pixel_representation
    # Modality LUT (C.11.1) and VOI LUT (C.11.2)
    if series.rescale_intercept is not None and series.rescale_slope is not None:
        ds.RescaleIntercept = _ds(series.rescale_intercept)
        ds.RescaleSlope = _ds(series.rescale_slope)
        if series.rescale_type is not None:
            ds.RescaleType = series.rescale_type
    ds.WindowCenter = _ds_values(series.window_center)
    ds.WindowWidth = _ds_values(series.window_width)
    if series.window_explanation:
        explanation = list(series.window_explanation)
        ds.WindowCenterWidthExplanation = explanation[0] if len(explanation) == 1 else explanation
    ds.add_new(0x7FE00010, "OW", pixels.tobytes())
    return ds


def _add_image_plane(ds: Dataset, series: DemoSeries, slice_index: int) -> None:
    """Frame of Reference (C.7.4.1) and Image Plane (C.7.6.2) of a tomographic slice."""
    position = series.image_position_patient[slice_index]
    ds.FrameOfReferenceUID = UID(series.frame_of_reference_uid or "")
    ds.PositionReferenceIndicator = ""
    ds.PixelSpacing = [_ds(v) for v in series.pixel_spacing_mm]
    ds.ImageOrientationPatient = [_ds(v) for v in series.image_orientation_patient]
    ds.ImagePositionPatient = [_ds(v) for v in position]
    if series.slice_thickness_mm is not None:
        ds.SliceThickness = _ds(series.slice_thickness_mm)
    if series.spacing_between_slices_mm is not None:
        ds.SpacingBetweenSlices = _ds(series.spacing_between_slices_mm)
    # Slice Location along the normal; for these axial series that is z (C.7.6.2.1.2).
    normal = series.slice_normal()
    ds.SliceLocation = _ds(round(sum(p * n for p, n in zip(position, normal, strict=True)), 6))


def _add_mr_image(ds: Dataset, series: DemoSeries) -> None:
    """MR Image module (C.8.3.1): a plain 2D spin echo."""
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.RepetitionTime = _ds(500.0)
    ds.EchoTime = _ds(15.0)
    ds.EchoTrainLength = 1
    ds.MagneticFieldStrength = _ds(1.5)
    ds.ImagedNucleus = "1H"


def _add_dx_modules(ds: Dataset, series: DemoSeries) -> None:
    """DX Series, Anatomy Imaged, Image, Detector and Positioning (C.8.11.1 to C.8.11.5)."""
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageLaterality = "U"
    chest = Dataset()
    chest.CodeValue = "51185008"
    chest.CodingSchemeDesignator = "SCT"
    chest.CodeMeaning = "Chest"
    ds.AnatomicRegionSequence = DicomSequence([chest])
    ds.AcquisitionContextSequence = DicomSequence([])
    if series.patient_orientation is not None:
        ds.PatientOrientation = list(series.patient_orientation)
    # PS3.3 C.8.11.3.1.2: log-exposure pixels; sign -1 where higher values mean less beam.
    ds.PixelIntensityRelationship = "LOG"
    if series.pixel_intensity_relationship_sign is not None:
        ds.PixelIntensityRelationshipSign = series.pixel_intensity_relationship_sign
    # PS3.3 C.8.11.3: IDENTITY with MONOCHROME2, INVERSE with MONOCHROME1.
    if series.presentation_lut_shape is not None:
        ds.PresentationLUTShape = series.presentation_lut_shape
    ds.DetectorType = "SCINTILLATOR"
    ds.ImagerPixelSpacing = [_ds(v) for v in series.pixel_spacing_mm]
    ds.PositionerType = "COLUMN"  # a chest stand (C.8.11.5, Type 2)
    if series.view_position is not None:
        ds.ViewPosition = series.view_position
        if series.view_position in _VIEW_CODES:
            view = Dataset()
            view.CodeValue, view.CodeMeaning = _VIEW_CODES[series.view_position]
            view.CodingSchemeDesignator = "SCT"
            view.ViewModifierCodeSequence = DicomSequence([])
            ds.ViewCodeSequence = DicomSequence([view])
    if series.estimated_radiographic_magnification_factor is not None:
        ds.EstimatedRadiographicMagnificationFactor = _ds(
            series.estimated_radiographic_magnification_factor
        )


def iter_series_datasets(series: DemoSeries, study: DemoStudy | None = None) -> Iterator[Dataset]:
    """Every instance of one series, generated lazily in instance order."""
    if study is None:
        study = find_study(series)
    for index in range(series.number_of_slices):
        yield generate_slice(series, index, study)


def demo_instance_count() -> int:
    """How many instances iter_demo_datasets yields."""
    return sum(study.number_of_instances for study in DEMO_STUDIES)


def iter_demo_datasets(progress: ProgressCallback | None = None) -> Iterator[Dataset]:
    """Yield every instance of every DEMO_STUDIES series, one slice at a time.

    ``progress(done, total)`` is called with (0, total) first, then each time the consumer
    comes back for the next instance, so ``done`` counts instances it has finished with.
    """
    total = demo_instance_count()
    done = 0
    if progress is not None:
        progress(done, total)
    for study in DEMO_STUDIES:
        for series in study.series:
            for ds in iter_series_datasets(series, study):
                yield ds
                done += 1
                if progress is not None:
                    progress(done, total)
