"""A radiograph without Image Orientation in a real viewport: letters from Patient Orientation.

The DX image is made in the test as modalities send it: Patient Orientation "A\\F" (rows run
anterior, columns to the feet: a lateral view), Imager Pixel Spacing, no Image Plane module.
The letters drawn at the edges must follow rotation and flips, as they do for CT.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from workstation.archive.local import LocalArchive
from workstation.ui.viewport import ImageViewport
from workstation.viewer.stack import ImageStack

DX_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"
ROOT = "1.2.826.0.1.3680043.10.999.91."


def lateral_dx(patient_orientation: list[str] | None) -> Dataset:
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = ROOT + "1.1.1"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.SOPClassUID = DX_SOP_CLASS
    ds.SOPInstanceUID = ROOT + "1.1.1"
    ds.StudyInstanceUID = ROOT + "1"
    ds.SeriesInstanceUID = ROOT + "1.1"
    ds.Modality = "DX"
    ds.PatientName = "Test^Lateral"
    ds.PatientID = "TEST-91"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    if patient_orientation is not None:
        ds.PatientOrientation = patient_orientation
    ds.ImagerPixelSpacing = [0.2, 0.2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = 120, 80
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.WindowCenter, ds.WindowWidth = 500, 1000
    pixels = np.zeros((120, 80), dtype="<u2")
    pixels[:, 40:] = 900  # columns grow anterior: the anterior half bright, to tell sides apart
    ds.PixelData = pixels.tobytes()
    return ds


@pytest.fixture
def viewport(qtbot, tmp_path: Path):
    archive = LocalArchive(tmp_path / "store")
    archive.add_dataset(lateral_dx(["A", "F"]))
    vp = ImageViewport()
    qtbot.addWidget(vp)
    vp.resize(400, 400)
    vp.show()
    qtbot.waitExposed(vp)
    vp.set_stack(ImageStack.open(archive, ROOT + "1.1"))
    yield vp
    vp.close()
    archive.close()


def letters(vp) -> tuple[str, str, str, str]:
    vp.scene.render()
    t = vp.scene.orientation_text
    return (t["left"], t["right"], t["top"], t["bottom"])


def test_letters_follow_rotation_and_flips(viewport):
    m = viewport.model
    assert m.stack.frames[0].instance.image_orientation_patient is None
    assert letters(viewport) == ("P", "A", "H", "F")
    m.rotate(90)  # clockwise: the feet come to the left
    assert letters(viewport) == ("F", "H", "P", "A")
    m.rotate(90)
    assert letters(viewport) == ("A", "P", "F", "H")
    m.reset()
    m.flip_horizontal()
    assert letters(viewport) == ("A", "P", "H", "F")
    m.flip_vertical()
    assert letters(viewport) == ("A", "P", "F", "H")
    # the bright (anterior) half is on the screen's left now, under the "A"
    rgb = viewport.scene.capture()
    row = rgb[rgb.shape[0] // 2]
    lit = np.flatnonzero(row[:, 0] > 128)
    assert lit.size > 0 and lit.mean() < rgb.shape[1] / 2


def test_no_orientation_at_all_draws_no_letters(qtbot, tmp_path: Path):
    archive = LocalArchive(tmp_path / "store")
    archive.add_dataset(lateral_dx(None))
    vp = ImageViewport()
    qtbot.addWidget(vp)
    vp.resize(300, 300)
    vp.show()
    qtbot.waitExposed(vp)
    try:
        vp.set_stack(ImageStack.open(archive, ROOT + "1.1"))
        assert letters(vp) == ("", "", "", "")
    finally:
        vp.close()
        archive.close()
