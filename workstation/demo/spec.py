"""Specifications of the demo studies: patient, study and series attributes plus exact geometry.

A spec is plain data: everything a generated file contains follows from it, and tests read the
same spec to know which millimetre and which value to expect where.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pydicom.uid

from workstation.demo.phantom import Shape, value_at

Vec3 = tuple[float, float, float]

UID_ENTROPY_ROOT = "workstation-demo"

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
DX_IMAGE_STORAGE_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"


def demo_uid(*names: str) -> str:
    """A UID that is the same on every run, derived from a stable name (PS3.5 9.1 syntax)."""
    return str(pydicom.uid.generate_uid(entropy_srcs=[UID_ENTROPY_ROOT, "/".join(names)]))


@dataclass(frozen=True, slots=True)
class DemoPatient:
    """Patient module attributes (PS3.3 C.7.1.1); the name is a decoded Python string."""

    patient_name: str
    patient_id: str
    issuer_of_patient_id: str
    patient_birth_date: str  # YYYYMMDD
    patient_sex: str  # M, F or O
    specific_character_set: str  # PS3.3 C.12.1.1.2, e.g. "ISO_IR 100", "ISO_IR 192"


@dataclass(frozen=True, slots=True)
class DemoSeries:
    """One generated series: identifiers, pixel encoding, plane geometry and phantom.

    Geometry follows the Image Plane module (PS3.3 C.7.6.2.1.1): ``image_position_patient[k]``
    is the centre of the first transmitted pixel of slice k, ``image_orientation_patient`` the
    row direction then the column direction, ``pixel_spacing_mm`` (row spacing, column
    spacing). Slices must be evenly spaced along one line. For a projection radiograph
    (``is_projection``) the plane is a nominal detector plane in patient axes: it places the 2D
    phantom and is not written to the file, where ``pixel_spacing_mm`` becomes Imager Pixel
    Spacing (PS3.3 C.8.11.4).
    """

    key: str
    series_instance_uid: str
    modality: str
    sop_class_uid: str
    series_description: str
    series_number: int
    body_part_examined: str
    rows: int
    columns: int
    pixel_spacing_mm: tuple[float, float]
    image_orientation_patient: tuple[float, float, float, float, float, float]
    image_position_patient: tuple[Vec3, ...]
    slice_thickness_mm: float | None
    background_value: float
    shapes: tuple[Shape, ...]
    noise_sd: float
    noise_seed: int
    bits_stored: int
    pixel_representation: int  # 0 unsigned, 1 two's complement (PS3.3 C.7.6.3.1)
    window_center: tuple[float, ...]
    window_width: tuple[float, ...]
    window_explanation: tuple[str, ...] = ()
    rescale_slope: float | None = None
    rescale_intercept: float | None = None
    rescale_type: str | None = None
    photometric_interpretation: str = "MONOCHROME2"
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL")
    frame_of_reference_uid: str | None = None
    spacing_between_slices_mm: float | None = None
    patient_position: str | None = "HFS"
    kvp: float | None = None
    is_projection: bool = False
    view_position: str | None = None
    patient_orientation: tuple[str, str] | None = None
    presentation_lut_shape: str | None = None
    pixel_intensity_relationship_sign: int | None = None
    estimated_radiographic_magnification_factor: float | None = None
    series_time: str = ""

    def __post_init__(self) -> None:
        if not self.image_position_patient:
            raise ValueError(f"{self.key}: a series needs at least one Image Position")
        if self.bits_stored > 16 or self.bits_stored < 1:
            raise ValueError(f"{self.key}: bits_stored must be 1..16")
        u, v = self._directions()
        if abs(float(u @ v)) > 1e-6 or abs(np.linalg.norm(u) - 1) > 1e-6:
            raise ValueError(f"{self.key}: Image Orientation must hold two orthonormal vectors")
        positions = np.asarray(self.image_position_patient, dtype=np.float64)
        if len(positions) > 1:
            step = self._slice_step()
            expected = positions[0] + np.arange(len(positions))[:, np.newaxis] * step
            if np.abs(positions - expected).max() > 1e-4:
                raise ValueError(f"{self.key}: slices must be evenly spaced along one line")

    @property
    def number_of_slices(self) -> int:
        """How many instances (one frame each) the series has."""
        return len(self.image_position_patient)

    @property
    def stored_value_range(self) -> tuple[int, int]:
        """The smallest and largest stored pixel value that Bits Stored allows (PS3.5 8.1.1)."""
        if self.pixel_representation:
            return -(1 << (self.bits_stored - 1)), (1 << (self.bits_stored - 1)) - 1
        return 0, (1 << self.bits_stored) - 1

    def sop_instance_uid(self, slice_index: int) -> str:
        """The deterministic SOP Instance UID of slice ``slice_index`` (0-based)."""
        return demo_uid("instance", self.key, str(slice_index))

    def _directions(self) -> tuple[np.ndarray, np.ndarray]:
        iop = np.asarray(self.image_orientation_patient, dtype=np.float64)
        return iop[:3], iop[3:]

    def slice_normal(self) -> tuple[float, float, float]:
        """Row direction x column direction: the normal of the image plane."""
        u, v = self._directions()
        n = np.cross(u, v)
        return float(n[0]), float(n[1]), float(n[2])

    def _slice_step(self) -> np.ndarray:
        positions = np.asarray(self.image_position_patient, dtype=np.float64)
        if len(positions) > 1:
            return (positions[-1] - positions[0]) / (len(positions) - 1)
        spacing = self.spacing_between_slices_mm or self.slice_thickness_mm or 1.0
        return np.asarray(self.slice_normal()) * spacing

    def slice_step_mm(self) -> Vec3:
        """The vector from one slice's Image Position to the next one's."""
        s = self._slice_step()
        return float(s[0]), float(s[1]), float(s[2])

    def pixel_to_lps(self, col: float, row: float, slice_index: float) -> Vec3:
        """Patient coordinates (mm) of a pixel centre, fractional indices allowed.

        PS3.3 C.7.6.2.1.1: P = S + col * column_spacing * X + row * row_spacing * Y, where S is
        the Image Position of the slice, X the row direction and Y the column direction.
        """
        k0 = int(np.floor(slice_index))
        k0 = min(max(k0, 0), self.number_of_slices - 1)
        frac = float(slice_index) - k0
        step = self._slice_step()
        u, v = self._directions()
        row_spacing, column_spacing = self.pixel_spacing_mm
        c = float(col) * column_spacing
        r = float(row) * row_spacing
        out = []
        for i in range(3):
            origin = float(self.image_position_patient[k0][i])
            if frac != 0.0:
                origin = origin + frac * float(step[i])
            # Operation order matches phantom.rasterize_plane (bit-identical pixel centres).
            value = origin + c * float(u[i])
            if v[i] != 0.0:
                value = value + r * float(v[i])
            out.append(value)
        return out[0], out[1], out[2]

    def lps_to_pixel(self, point: tuple[float, float, float]) -> Vec3:
        """(col, row, slice_index) of a patient point, as floats; the inverse of pixel_to_lps."""
        u, v = self._directions()
        row_spacing, column_spacing = self.pixel_spacing_mm
        matrix = np.column_stack((u * column_spacing, v * row_spacing, self._slice_step()))
        rel = np.asarray(point, dtype=np.float64) - np.asarray(self.image_position_patient[0])
        col, row, k = np.linalg.solve(matrix, rel)
        return float(col), float(row), float(k)


@dataclass(frozen=True, slots=True)
class DemoStudy:
    """One generated study: General Study module attributes (PS3.3 C.7.2.1) and its series."""

    key: str
    patient: DemoPatient
    study_instance_uid: str
    accession_number: str
    study_id: str
    study_date: str  # YYYYMMDD
    study_time: str  # HHMMSS
    study_description: str
    institution_name: str
    referring_physician_name: str
    series: tuple[DemoSeries, ...]

    @property
    def number_of_instances(self) -> int:
        """Total instances over all series."""
        return sum(s.number_of_slices for s in self.series)


def phantom_value_at(series: DemoSeries, point_lps: tuple[float, float, float]) -> float:
    """Noise-free value of the series' phantom at a patient point (HU for CT, stored for MR/DX).

    For a projection series the point should lie in the series' nominal detector plane.
    """
    return value_at(series.shapes, series.background_value, point_lps)
