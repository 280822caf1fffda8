"""Orientation letters of projection radiographs from Patient Orientation (0020,0020).

A DX, CR or MG image has no Image Orientation (Patient); its Patient Orientation names the row
and column directions with letters (PS3.3 C.7.6.1.1.1). The letters at the screen edges must
follow rotation and flips exactly as the cross-sectional ones do: for every display state they
are checked against the letters Image Orientation vectors of the same directions give.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from conftest import UID_ROOT, build_image
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from workstation.core.errors import DecodeError
from workstation.demo import DX_CHEST
from workstation.viewer.overlays import (
    EDGES,
    edge_labels,
    edge_labels_from_patient_orientation,
    opposite_direction,
    patient_orientation,
    read_patient_orientation,
)

DX_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"
# LPS unit vectors of the biped direction letters
LETTER_VECTOR = {
    "L": (1.0, 0.0, 0.0),
    "R": (-1.0, 0.0, 0.0),
    "P": (0.0, 1.0, 0.0),
    "A": (0.0, -1.0, 0.0),
    "H": (0.0, 0.0, 1.0),
    "F": (0.0, 0.0, -1.0),
}
DISPLAY_STATES = list(itertools.product((0, 90, 180, 270), (False, True), (False, True)))


def dx_without_plane(orientation: object) -> Dataset:
    """A DX image with Patient Orientation and no Image Plane attributes, as modalities send."""
    ds = build_image(
        pixels=np.full((8, 6), 300),
        study_uid=UID_ROOT + "81",
        series_uid=UID_ROOT + "81.1",
        sop_uid=UID_ROOT + "81.1.1",
        position=None,
        orientation=None,
        sop_class_uid=DX_SOP_CLASS,
        modality="DX",
    )
    del ds.PixelSpacing
    ds.ImagerPixelSpacing = [0.15, 0.15]
    if orientation is not None:
        ds.PatientOrientation = orientation
    return ds


def test_unrotated_lateral_and_pa_chest():
    assert edge_labels_from_patient_orientation(("P", "F")) == {
        "left": "A",
        "right": "P",
        "top": "H",
        "bottom": "F",
    }
    # a PA chest displayed as a radiologist reads it: patient's right on the viewer's left
    assert edge_labels_from_patient_orientation(("L", "F")) == {
        "left": "R",
        "right": "L",
        "top": "H",
        "bottom": "F",
    }


def test_rotation_and_flips_move_the_letters():
    po = ("A", "F")
    assert edge_labels_from_patient_orientation(po, 90) == {
        "left": "F",  # clockwise: the bottom edge (feet) comes to the left
        "right": "H",
        "top": "P",
        "bottom": "A",
    }
    assert edge_labels_from_patient_orientation(po, 0, flip_h=True) == {
        "left": "A",
        "right": "P",
        "top": "H",
        "bottom": "F",
    }
    assert edge_labels_from_patient_orientation(po, 180, flip_v=True)["top"] == "H"
    assert edge_labels_from_patient_orientation(po, 180)["top"] == "F"


@pytest.mark.parametrize(
    "po",
    [("A", "F"), ("P", "F"), ("L", "F"), ("R", "H"), ("F", "L"), ("H", "A")],
)
def test_same_letters_as_the_equivalent_image_orientation(po):
    iop = (*LETTER_VECTOR[po[0]], *LETTER_VECTOR[po[1]])
    for rotation, fh, fv in DISPLAY_STATES:
        assert edge_labels(po, rotation, fh, fv) == edge_labels(iop, rotation, fh, fv), (
            rotation,
            fh,
            fv,
        )


def test_oblique_letters_main_direction_first():
    # rows mostly to the patient's left and a little posterior (PS3.3 C.7.6.1.1.1 example "LP")
    row = np.array([1.0, 0.6, 0.0]) / np.linalg.norm([1.0, 0.6, 0.0])
    iop = (*row, 0.0, 0.0, -1.0)
    for rotation, fh, fv in DISPLAY_STATES:
        assert edge_labels(("LP", "F"), rotation, fh, fv) == edge_labels(iop, rotation, fh, fv)
    assert edge_labels(("LP", "F"))["left"] == "RA"
    assert opposite_direction("LPH") == "RAF"


def test_quadruped_terms_and_bad_values_give_no_letters():
    assert opposite_direction("CR") == ""
    labels = edge_labels_from_patient_orientation(("CR", "F"))
    assert labels == {"left": "", "right": "", "top": "H", "bottom": "F"}
    assert edge_labels_from_patient_orientation(None) == dict.fromkeys(EDGES, "")
    assert edge_labels_from_patient_orientation(("A",)) == dict.fromkeys(EDGES, "")


def test_patient_orientation_read_from_the_file(tmp_path: Path):
    path = tmp_path / "dx.dcm"
    dx_without_plane(["A", "F"]).save_as(path, enforce_file_format=True)
    assert read_patient_orientation(path) == ("A", "F")
    dx_without_plane("P\\F").save_as(path, enforce_file_format=True)  # as one string
    assert read_patient_orientation(path) == ("P", "F")
    dx_without_plane(None).save_as(path, enforce_file_format=True)
    assert read_patient_orientation(path) is None
    (tmp_path / "junk.dcm").write_bytes(b"not dicom at all")
    with pytest.raises(DecodeError, match="Patient Orientation"):
        read_patient_orientation(tmp_path / "junk.dcm")


def test_patient_orientation_of_a_frame_in_functional_groups():
    def group(values: list[str]) -> Dataset:
        item = Dataset()
        inner = Dataset()
        inner.PatientOrientation = values
        item.PatientOrientationInFrameSequence = DicomSequence([inner])
        return item

    ds = Dataset()
    ds.SharedFunctionalGroupsSequence = DicomSequence([group(["L", "F"])])
    ds.PerFrameFunctionalGroupsSequence = DicomSequence([Dataset(), group(["R", "H"])])
    assert patient_orientation(ds, 0) == ("L", "F")  # frame 1 has none of its own: shared
    assert patient_orientation(ds, 1) == ("R", "H")
    assert patient_orientation(Dataset(), 0) is None


def test_demo_radiographs_letters_agree_with_their_image_orientation():
    for series in DX_CHEST.series:
        po = series.patient_orientation
        assert po is not None
        for rotation, fh, fv in DISPLAY_STATES:
            assert edge_labels(po, rotation, fh, fv) == edge_labels(
                series.image_orientation_patient, rotation, fh, fv
            )
