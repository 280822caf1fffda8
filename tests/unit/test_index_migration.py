"""An index written by an older version is upgraded in place; new Instance flags are indexed."""

from __future__ import annotations

import sqlite3

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from workstation.archive.index import SCHEMA_VERSION
from workstation.archive.local import LocalArchive
from workstation.viewer.stack import can_read_as_volume

UID = "1.2.826.0.1.3680043.10.999.66"


def test_schema_2_store_gains_the_new_columns(tmp_path, sample):
    a = LocalArchive(tmp_path / "store")
    a.import_paths([sample("CT_small.dcm")])
    a.close()
    db = tmp_path / "store" / "index.sqlite"
    with sqlite3.connect(db) as conn:
        for col in ("has_modality_lut_sequence", "has_voi_lut_sequence", "presentation_lut_shape"):
            conn.execute(f"ALTER TABLE instances DROP COLUMN {col}")
        conn.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    b = LocalArchive(tmp_path / "store")
    with sqlite3.connect(db) as conn:
        cols = {r[1] for r in conn.execute("PRAGMA table_info(instances)")}
        version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    assert {"has_modality_lut_sequence", "presentation_lut_shape"} <= cols
    assert int(version[0]) == SCHEMA_VERSION
    (series,) = b.series(b.studies()[0].study_instance_uid)
    (inst,) = b.instances(series.series_instance_uid)
    assert inst.has_modality_lut_sequence is False and inst.presentation_lut_shape == ""
    b.close()


def test_modality_lut_sequence_keeps_a_series_off_the_raw_volume_path(archive, write_image):
    files = []
    for k in range(3):
        path = write_image(
            pixels=np.full((4, 4), 100 + k, np.uint16),
            study_uid=UID,
            series_uid=UID + ".1",
            sop_uid=f"{UID}.1.{k}",
            instance_number=k + 1,
            position=(0.0, 0.0, float(k)),
        )
        files.append(path)
    import pydicom

    ds = pydicom.dcmread(files[1])
    item = Dataset()
    item.LUTDescriptor = [4, 100, 16]
    item.ModalityLUTType = "HU"
    item.add_new(0x00283006, "US", [0, 10, 20, 30])  # LUT Data as US (PS3.3 C.11.1)
    ds.ModalityLUTSequence = Sequence([item])
    ds.PresentationLUTShape = "INVERSE"
    ds.save_as(files[1], enforce_file_format=True)
    archive.import_paths(files)
    instances = archive.instances(UID + ".1")
    flags = [(i.has_modality_lut_sequence, i.presentation_lut_shape) for i in instances]
    assert flags == [(False, ""), (True, "INVERSE"), (False, "")]
    assert can_read_as_volume(instances) is False
    assert can_read_as_volume([instances[0], instances[2]]) is True
