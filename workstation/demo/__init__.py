"""Synthetic demo studies with exactly known geometry and values, plus pydicom's sample files.

Tests and the ``workstation demo`` command use them: a test reads a spec (``CT_HEAD``) to know
which millimetre holds which Hounsfield unit, then checks what the viewer shows. Depends only on
numpy and pydicom.
"""

from __future__ import annotations

from workstation.demo.generator import (
    demo_instance_count,
    generate_slice,
    iter_demo_datasets,
    iter_series_datasets,
    phantom_slice,
    stored_slice,
)
from workstation.demo.phantom import Box, Cylinder, Ellipsoid, EllipticCylinder, Shape, Sphere
from workstation.demo.samples import SAMPLE_FILES, iter_sample_datasets
from workstation.demo.spec import DemoPatient, DemoSeries, DemoStudy, phantom_value_at
from workstation.demo.studies import (
    CT_CHEST_ABDOMEN,
    CT_HEAD,
    CT_HEAD_PRIOR,
    DEMO_STUDIES,
    DX_CHEST,
    MR_BRAIN,
)

__all__ = [
    "CT_CHEST_ABDOMEN",
    "CT_HEAD",
    "CT_HEAD_PRIOR",
    "DEMO_STUDIES",
    "DX_CHEST",
    "MR_BRAIN",
    "SAMPLE_FILES",
    "Box",
    "Cylinder",
    "DemoPatient",
    "DemoSeries",
    "DemoStudy",
    "Ellipsoid",
    "EllipticCylinder",
    "Shape",
    "Sphere",
    "demo_instance_count",
    "generate_slice",
    "iter_demo_datasets",
    "iter_sample_datasets",
    "iter_series_datasets",
    "phantom_slice",
    "phantom_value_at",
    "stored_slice",
]
