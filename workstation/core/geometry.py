"""Patient-coordinate geometry of image planes (PS3.3 C.7.6.2.1.1), LPS millimetres."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Vec3 = tuple[float, float, float]


def slice_normal(orientation: Sequence[float]) -> Vec3:
    """The normal of an image plane: row direction × column direction."""
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:6], dtype=float)
    n = np.cross(row, col)
    norm = np.linalg.norm(n)
    if norm == 0:
        raise ValueError("Image Orientation (Patient) has parallel row and column directions")
    n = n / norm
    return (float(n[0]), float(n[1]), float(n[2]))


def sort_key_along_normal(position: Sequence[float], normal: Sequence[float]) -> float:
    """Distance of an Image Position (Patient) along the slice normal."""
    return float(sum(p * n for p, n in zip(position, normal, strict=True)))


def pixel_to_patient(
    position: Sequence[float],
    orientation: Sequence[float],
    spacing_mm: Sequence[float],
    column: float,
    row: float,
) -> Vec3:
    """Patient coordinate of pixel (column, row); spacing is (row spacing, column spacing)."""
    ipp = np.asarray(position, dtype=float)
    rdir = np.asarray(orientation[:3], dtype=float)
    cdir = np.asarray(orientation[3:6], dtype=float)
    p = ipp + rdir * spacing_mm[1] * column + cdir * spacing_mm[0] * row
    return (float(p[0]), float(p[1]), float(p[2]))


def patient_to_pixel(
    position: Sequence[float],
    orientation: Sequence[float],
    spacing_mm: Sequence[float],
    point: Sequence[float],
) -> tuple[float, float, float]:
    """(column, row, distance from the plane in mm) of a patient coordinate."""
    d = np.asarray(point, dtype=float) - np.asarray(position, dtype=float)
    rdir = np.asarray(orientation[:3], dtype=float)
    cdir = np.asarray(orientation[3:6], dtype=float)
    n = np.cross(rdir, cdir)
    return (
        float(d @ rdir / spacing_mm[1]),
        float(d @ cdir / spacing_mm[0]),
        float(d @ n),
    )


def orientation_label(direction: Sequence[float], threshold: float = 0.5) -> str:
    """Orientation letters of a direction in LPS (PS3.3 C.7.6.1.1.1), main axis first."""
    letters = []
    comps = sorted(((abs(v), i, v) for i, v in enumerate(direction[:3])), reverse=True)
    for mag, axis, v in comps:
        if mag < threshold * comps[0][0] or mag < 1e-6:
            break
        letters.append(("LR", "PA", "HF")[axis][0 if v > 0 else 1])
    return "".join(letters)
