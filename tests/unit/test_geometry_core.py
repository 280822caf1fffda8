"""workstation.core.geometry: image plane to patient coordinates (PS3.3 C.7.6.2.1.1), LPS."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workstation.core.geometry import (
    orientation_label,
    patient_to_pixel,
    pixel_to_patient,
    slice_normal,
    sort_key_along_normal,
)

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
C, S = math.cos(math.radians(30)), math.sin(math.radians(30))
OBLIQUE = (C, S, 0.0, 0.0, 0.0, -1.0)  # coronal rotated 30 degrees about the body axis
ABS = 1e-9  # mm


def test_axial_known_values():
    # Spacing is (row spacing, column spacing): columns advance 0.8 mm along x, rows 0.5 mm along y.
    p = pixel_to_patient((-100.0, -50.0, 20.0), AXIAL, (0.5, 0.8), column=10, row=4)
    assert p == pytest.approx((-92.0, -48.0, 20.0), abs=ABS)
    assert pixel_to_patient((-100.0, -50.0, 20.0), AXIAL, (0.5, 0.8), 0, 0) == (-100.0, -50.0, 20.0)


def test_coronal_known_values():
    # Rows go down the patient (towards the feet, -z).
    p = pixel_to_patient((-100.0, 30.0, 50.0), CORONAL, (2.0, 0.5), column=4, row=10)
    assert p == pytest.approx((-98.0, 30.0, 30.0), abs=ABS)
    col, row, dist = patient_to_pixel(
        (-100.0, 30.0, 50.0), CORONAL, (2.0, 0.5), (-98.0, 35.0, 30.0)
    )
    # normal = row x column = (1,0,0) x (0,0,-1) = (0,1,0): 5 mm posterior of the plane
    assert (col, row, dist) == pytest.approx((4.0, 10.0, 5.0), abs=ABS)


def test_patient_to_pixel_axial_distance_is_along_the_normal():
    col, row, dist = patient_to_pixel((0.0, 0.0, 10.0), AXIAL, (0.5, 0.25), (1.0, 2.0, 7.0))
    assert (col, row, dist) == pytest.approx((4.0, 4.0, -3.0), abs=ABS)


@pytest.mark.parametrize("orientation", [AXIAL, CORONAL, SAGITTAL, OBLIQUE])
@pytest.mark.parametrize(("column", "row"), [(0.0, 0.0), (17.0, 3.0), (255.5, 511.25)])
def test_round_trip(orientation, column, row):
    ipp, spacing = (-120.5, 33.0, 7.25), (0.7, 1.3)
    p = pixel_to_patient(ipp, orientation, spacing, column, row)
    back = patient_to_pixel(ipp, orientation, spacing, p)
    assert back == pytest.approx((column, row, 0.0), abs=1e-9)


def test_slice_normal():
    assert slice_normal(AXIAL) == (0.0, 0.0, 1.0)
    assert slice_normal(CORONAL) == (0.0, 1.0, 0.0)
    assert slice_normal(SAGITTAL) == (-1.0, 0.0, 0.0)
    # not quite unit vectors as stored in files: the normal is normalised
    assert slice_normal((2.0, 0.0, 0.0, 0.0, 3.0, 0.0)) == (0.0, 0.0, 1.0)
    assert np.linalg.norm(slice_normal(OBLIQUE)) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="parallel"):
        slice_normal((1.0, 0.0, 0.0, 1.0, 0.0, 0.0))


def test_sort_key_along_normal():
    assert sort_key_along_normal((1.0, 2.0, -30.5), (0.0, 0.0, 1.0)) == -30.5
    assert sort_key_along_normal((3.0, 4.0, 0.0), (0.6, 0.8, 0.0)) == pytest.approx(5.0, abs=ABS)
    with pytest.raises(ValueError):
        sort_key_along_normal((1.0, 2.0), (0.0, 0.0, 1.0))


@pytest.mark.parametrize(
    ("direction", "label"),
    [
        ((1.0, 0.0, 0.0), "L"),  # axial row direction: towards the patient's left
        ((0.0, 1.0, 0.0), "P"),  # axial column direction: towards the back
        ((0.0, 0.0, 1.0), "H"),
        ((-1.0, 0.0, 0.0), "R"),
        ((0.0, -1.0, 0.0), "A"),
        ((0.0, 0.0, -1.0), "F"),
        ((C, S, 0.0), "LP"),  # 30 degrees oblique: main axis first
        ((-0.8, 0.0, -0.6), "RF"),
        ((0.6, -0.8, 0.0), "AL"),
        ((0.8, -0.3, 0.5), "LH"),  # 0.3 < half of 0.8: dropped
        ((0.6, 0.58, 0.55), "LPH"),
        ((1.0, 1e-9, 0.0), "L"),
    ],
)
def test_orientation_label(direction, label):
    assert orientation_label(direction) == label


def test_orientation_label_threshold():
    assert orientation_label((0.8, -0.3, 0.0), threshold=0.3) == "LA"
    assert orientation_label((0.8, -0.3, 0.0), threshold=0.5) == "L"
