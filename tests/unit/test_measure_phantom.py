"""Measurements on the demo phantoms, whose sizes and values are known exactly from their specs.

Each image goes through the real path: the generator writes a DICOM dataset, the archive's
header parser turns it into an Instance, pydicom decodes the pixels and the viewer's Modality
LUT makes them HU; the noise-free image comes from the same spec without noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from workstation.archive.dicomio import parse_dataset
from workstation.core.measure import (
    PixelCalibration,
    SpacingSource,
    ellipse_roi_stats,
    length_mm,
    probe,
)
from workstation.core.model import Instance
from workstation.demo import (
    CT_HEAD,
    DX_CHEST,
    Cylinder,
    DemoSeries,
    Sphere,
    generate_slice,
    phantom_slice,
    phantom_value_at,
)
from workstation.demo.studies import (
    HEAD_HAEMATOMA_CENTER_LPS,
    LATERAL_COIN_CENTER_LPS,
    LATERAL_MAGNIFICATION,
    PA_COIN_CENTER_LPS,
)
from workstation.viewer.pixels import modality_lut


@dataclass(frozen=True)
class Image:
    instance: Instance
    noisy: np.ndarray  # decoded and rescaled
    clean: np.ndarray  # the phantom without noise
    calibration: PixelCalibration


_CACHE: dict[tuple[str, int], Image] = {}


def load(series: DemoSeries, index: int) -> Image:
    """One generated slice through DICOM encoding, header parsing, decoding and rescale."""
    key = (series.key, index)
    if key not in _CACHE:
        ds = generate_slice(series, index)
        parsed = parse_dataset(
            ds,
            path="",
            pixel_data_offset=None,
            pixel_data_length=None,
            file_size=0,
            has_file_meta=True,
        )
        noisy = modality_lut(ds.pixel_array, parsed.instance).astype(np.float64)
        clean = phantom_slice(series, index).astype(np.float64)
        cal = PixelCalibration.from_instance(parsed.instance, parsed.series.modality)
        _CACHE[key] = Image(parsed.instance, noisy, clean, cal)
    return _CACHE[key]


def shape_at(series: DemoSeries, center: tuple[float, float, float]) -> Sphere | Cylinder:
    found = [
        s
        for s in series.shapes
        if isinstance(s, Sphere | Cylinder) and tuple(s.center_lps) == tuple(center)
    ]
    assert len(found) == 1
    return found[0]


def edges_along_row(
    values: np.ndarray, row: int, col: int, threshold: float
) -> tuple[float, float]:
    """Sub-pixel columns where the profile through (col, row) crosses ``threshold``.

    Walks out from the centre pixel until the value passes the threshold, then interpolates
    linearly between the two pixels on either side of the crossing.
    """
    line = values[row]
    inside = line[col] > threshold

    def crossing(step: int) -> float:
        c = col
        while (line[c + step] > threshold) == inside:
            c += step
        v0, v1 = line[c], line[c + step]
        return c + step * (threshold - v0) / (v1 - v0)

    return crossing(-1), crossing(+1)


def edges_along_column(
    values: np.ndarray, row: int, col: int, threshold: float
) -> tuple[float, float]:
    return edges_along_row(values.T, col, row, threshold)


# ---------------------------------------------------------------------------------------------
# CT head haematoma: a 16 mm sphere of 70 HU in 35 HU brain, 0.45 mm pixels, 3 HU noise.

HEAD = CT_HEAD.series[0]
HAEMATOMA = shape_at(HEAD, HEAD_HAEMATOMA_CENTER_LPS)


def haematoma_slice() -> tuple[Image, int, int]:
    col, row, k = HEAD.lps_to_pixel(HEAD_HAEMATOMA_CENTER_LPS)
    assert k == pytest.approx(round(k), abs=1e-9)  # the centre lies on a slice
    return load(HEAD, round(k)), round(col), round(row)


def test_ct_head_calibration_is_pixel_spacing_in_patient() -> None:
    image, _, _ = haematoma_slice()
    assert image.calibration.source is SpacingSource.PATIENT
    assert image.calibration.spacing == HEAD.pixel_spacing_mm
    assert image.calibration.label == ""
    assert image.calibration.unit == "mm"


@pytest.mark.parametrize("which", ["clean", "noisy"])
def test_haematoma_diameter_edge_to_edge(which: str) -> None:
    image, col, row = haematoma_slice()
    values = getattr(image, which)
    radius = HAEMATOMA.radius_mm
    x, y, z = HEAD_HAEMATOMA_CENTER_LPS
    brain = phantom_value_at(HEAD, (x + radius + 3.0, y, z))  # just outside the sphere
    threshold = (HAEMATOMA.value + brain) / 2
    assert (HAEMATOMA.value, brain) == (70.0, 35.0)
    pixel = max(image.calibration.spacing)
    left, right = edges_along_row(values, row, col, threshold)
    horizontal = length_mm((left, row), (right, row), image.calibration)
    assert horizontal == pytest.approx(2 * radius, abs=pixel)
    top, bottom = edges_along_column(values, row, col, threshold)
    vertical = length_mm((col, top), (col, bottom), image.calibration)
    assert vertical == pytest.approx(2 * radius, abs=pixel)


@pytest.mark.parametrize(
    "region",
    [
        "haematoma",  # inside the 8 mm sphere, a 4.5 mm radius ROI
        "brain",  # the mirror spot in the left hemisphere, a 12 mm radius ROI
    ],
)
def test_ellipse_roi_mean_and_sd_in_known_region(region: str) -> None:
    image, _, _ = haematoma_slice()
    cal = image.calibration
    if region == "haematoma":
        center_lps = HEAD_HAEMATOMA_CENTER_LPS
        radius_mm = 4.5
    else:
        x, y, z = HEAD_HAEMATOMA_CENTER_LPS
        center_lps = (-x, y, z)
        radius_mm = 12.0
    c, r, _ = HEAD.lps_to_pixel(center_lps)
    expected = phantom_value_at(HEAD, center_lps)
    radii = (radius_mm / cal.spacing[1], radius_mm / cal.spacing[0])
    clean = ellipse_roi_stats(image.clean, (c, r), radii, cal)
    assert (clean.minimum, clean.maximum) == (expected, expected)  # wholly inside the region
    assert clean.sd == 0.0
    stats = ellipse_roi_stats(image.noisy, (c, r), radii, cal)
    assert stats.pixel_count == clean.pixel_count
    assert stats.mean == pytest.approx(expected, abs=1.0)
    assert stats.sd == pytest.approx(HEAD.noise_sd, rel=0.20)


def test_disc_area_by_pixel_count() -> None:
    """The sphere's central cross-section is a disc of radius 8 mm: π r² = 201.06 mm²."""
    image, col, row = haematoma_slice()
    cal = image.calibration
    r = HAEMATOMA.radius_mm
    true_area = math.pi * r * r
    stats = ellipse_roi_stats(
        image.clean, (col, row), (r / cal.spacing[1], r / cal.spacing[0]), cal
    )
    # Same inclusion rule as the phantom (pixel centre inside, boundary included): the ROI
    # holds exactly the haematoma's pixels.
    assert stats.pixel_count == int(np.count_nonzero(image.clean == HAEMATOMA.value))
    assert (stats.minimum, stats.maximum) == (HAEMATOMA.value, HAEMATOMA.value)
    assert stats.area == pytest.approx(true_area, rel=1e-12)
    assert stats.pixel_area == pytest.approx(true_area, rel=0.02)
    # Counting thresholded pixels of the noisy image gives the same disc.
    threshold = (HAEMATOMA.value + 35.0) / 2
    half = math.ceil(r / cal.spacing[0]) + 4
    box = image.noisy[row - half : row + half + 1, col - half : col + half + 1]
    counted = int(np.count_nonzero(box > threshold)) * cal.pixel_area
    assert counted == pytest.approx(true_area, rel=0.02)


def test_probe_gives_value_and_patient_position() -> None:
    image, col, row = haematoma_slice()
    result = probe(image.clean, col + 0.3, row - 0.4, image.instance)
    assert result is not None
    assert (result.column, result.row) == (col, row)
    assert result.value == HAEMATOMA.value
    assert result.patient_lps == pytest.approx(HEAD_HAEMATOMA_CENTER_LPS, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# DX chest: a 25 mm coin. PA: no magnification factor, coin sized at the detector. Lateral:
# Estimated Radiographic Magnification Factor 1.1, the coin 27.5 mm at the detector.


@dataclass(frozen=True)
class CoinCase:
    series: DemoSeries
    center: tuple[float, float, float]
    source: SpacingSource
    label: str


PA = CoinCase(DX_CHEST.series[0], PA_COIN_CENTER_LPS, SpacingSource.DETECTOR, "at detector")
LATERAL = CoinCase(
    DX_CHEST.series[1],
    LATERAL_COIN_CENTER_LPS,
    SpacingSource.MAGNIFICATION_CORRECTED,
    "corrected for magnification",
)
COIN_DIAMETER_MM = 25.0


def coin(case: CoinCase) -> tuple[Image, int, int, float, float]:
    """The image, the coin's centre pixel, the coin's value and the threshold to its surround."""
    image = load(case.series, 0)
    c, r, _ = case.series.lps_to_pixel(case.center)
    shape = shape_at(case.series, case.center)
    outside = c + shape.radius_mm / case.series.pixel_spacing_mm[1] + 10
    surround = phantom_value_at(case.series, case.series.pixel_to_lps(outside, r, 0))
    return image, round(c), round(r), shape.value, (shape.value + surround) / 2


@pytest.mark.parametrize("case", [PA, LATERAL], ids=["PA", "lateral"])
def test_dx_coin_calibration_label(case: CoinCase) -> None:
    image, *_ = coin(case)
    cal = image.calibration
    assert cal.source is case.source
    assert cal.label == case.label
    factor = case.series.estimated_radiographic_magnification_factor or 1.0
    assert cal.spacing == pytest.approx(
        (case.series.pixel_spacing_mm[0] / factor, case.series.pixel_spacing_mm[1] / factor),
        rel=1e-12,
    )
    assert factor == (LATERAL_MAGNIFICATION if case is LATERAL else 1.0)


@pytest.mark.parametrize("which", ["clean", "noisy"])
@pytest.mark.parametrize("case", [PA, LATERAL], ids=["PA", "lateral"])
def test_dx_coin_diameter(case: CoinCase, which: str) -> None:
    image, col, row, _, threshold = coin(case)
    values = getattr(image, which)
    pixel = max(image.calibration.spacing)
    left, right = edges_along_row(values, row, col, threshold)
    assert length_mm((left, row), (right, row), image.calibration) == pytest.approx(
        COIN_DIAMETER_MM, abs=pixel
    )
    top, bottom = edges_along_column(values, row, col, threshold)
    assert length_mm((col, top), (col, bottom), image.calibration) == pytest.approx(
        COIN_DIAMETER_MM, abs=pixel
    )


@pytest.mark.parametrize("case", [PA, LATERAL], ids=["PA", "lateral"])
def test_dx_coin_area_by_pixel_count(case: CoinCase) -> None:
    image, col, row, value, threshold = coin(case)
    cal = image.calibration
    true_area = math.pi * (COIN_DIAMETER_MM / 2) ** 2
    radius_px = (COIN_DIAMETER_MM / 2) / cal.spacing[0]
    stats = ellipse_roi_stats(image.noisy, (col, row), (radius_px, radius_px), cal)
    assert stats.area == pytest.approx(true_area, rel=1e-12)
    assert stats.pixel_area == pytest.approx(true_area, rel=0.02)
    assert stats.mean == pytest.approx(value, abs=3 * case.series.noise_sd)
    half = math.ceil(radius_px) + 5
    box = image.noisy[row - half : row + half + 1, col - half : col + half + 1]
    coin_pixels = box > threshold if value > threshold else box < threshold
    assert int(np.count_nonzero(coin_pixels)) * cal.pixel_area == pytest.approx(true_area, rel=0.02)


def test_dx_probe_has_no_patient_position() -> None:
    """A projection has no Image Plane: the probe gives the value but no LPS point."""
    image, col, row, value, _ = coin(PA)
    result = probe(image.clean, col, row, image.instance)
    assert result is not None
    assert result.value == value
    assert result.patient_lps is None
