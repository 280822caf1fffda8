"""StoreIndex and LocalArchive queries: search, order, counts, and the parsed Instance fields."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest

from workstation.archive.dicomio import parse_file
from workstation.archive.index import SCHEMA_VERSION, StoreIndex, search_key
from workstation.archive.local import LocalArchive
from workstation.core.errors import NotFoundError, StoreError
from workstation.core.model import Instance

ROOT = "1.2.826.0.1.3680043.10.999.2."
S1, S2, S3, S4, S5 = (f"{ROOT}{n}" for n in range(1, 6))


@pytest.fixture
def worklist(archive: LocalArchive, write_image: Callable[..., Path]) -> LocalArchive:
    """Five studies with known names, IDs, accessions, dates and series."""
    px = np.zeros((4, 4), dtype=np.int64)

    def add(study, series, sop, **kw):
        return write_image(pixels=px, study_uid=study, series_uid=series, sop_uid=sop, **kw)

    files = []
    jane = {
        "patient_name": "Doe^Jane",
        "patient_id": "PID-001",
        "accession_number": "ACC100",
        "study_date": "20240105",
        "study_time": "101500",
    }
    # S1: CT series 2 (3 images, numbered 3, 1, 2 in writing order), CT series 1 (2), SR (1).
    for n in (3, 1, 2):
        files.append(add(S1, S1 + ".2", f"{S1}.2.{n}", series_number=2, instance_number=n, **jane))
    files.append(add(S1, S1 + ".1", f"{S1}.1.1", series_number=1, instance_number=1, **jane))
    files.append(add(S1, S1 + ".1", f"{S1}.1.2", series_number=1, instance_number=None, **jane))
    files.append(
        add(
            S1, S1 + ".9", f"{S1}.9.1", series_number=None, modality="SR", instance_number=1, **jane
        )
    )
    # S2: same day, earlier.
    files.append(
        add(
            S2,
            S2 + ".1",
            S2 + ".1.1",
            patient_name="Smith^John^Q",
            patient_id="X77",
            accession_number="A_2",
            study_date="20240105",
            study_time="093000",
            modality="MR",
        )
    )
    # S3: the previous year.
    files.append(
        add(
            S3,
            S3 + ".1",
            S3 + ".1.1",
            patient_name="Doe^John",
            patient_id="123",
            study_date="20231231",
            study_time="235959",
        )
    )
    # S4: a name outside ASCII (ISO 8859-1).
    files.append(
        add(
            S4,
            S4 + ".1",
            S4 + ".1.1",
            patient_name="Åström^Åsa",
            patient_id="SE-9",
            study_date="20200101",
            study_time="080000",
            character_set="ISO_IR 100",
        )
    )
    # S5: no study date at all.
    files.append(
        add(S5, S5 + ".1", S5 + ".1.1", patient_name="Nobody^", patient_id="Z", study_date="")
    )
    report = archive.import_paths(files)
    assert report.summary() == "10 imported, 0 duplicates, 0 rejected"
    return archive


def uids(studies) -> list[str]:
    return [s.study_instance_uid for s in studies]


# -- studies -------------------------------------------------------------------------------
def test_studies_newest_first_with_counts(worklist):
    studies = worklist.studies()
    assert uids(studies) == [S1, S2, S3, S4, S5]
    first = studies[0]
    assert first.patient.patient_name == "Doe^Jane"
    assert first.patient.patient_id == "PID-001"
    assert first.accession_number == "ACC100"
    assert (first.study_date, first.study_time) == ("20240105", "101500")
    assert first.number_of_series == 3
    assert first.number_of_instances == 6
    assert first.modalities == ("CT", "SR")
    assert [s.modalities for s in studies[1:]] == [("MR",), ("CT",), ("CT",), ("CT",)]
    assert [s.number_of_instances for s in studies] == [6, 1, 1, 1, 1]


def test_studies_limit(worklist):
    assert uids(worklist.studies(limit=2)) == [S1, S2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("doe", [S1, S3]),
        ("DOE", [S1, S3]),
        ("jane", [S1]),
        ("Doe^Jane", [S1]),
        ("jane doe", [S1]),  # several words are AND-ed, in any order
        ("doe john", [S3]),
        ("john", [S2, S3]),
        ("q smith", [S2]),
        ("pid-001", [S1]),
        ("x77", [S2]),
        ("acc100", [S1]),
        ("a_2", [S2]),
        ("a_", [S2]),  # '_' is literal, not a LIKE wildcard
        ("%", []),  # '%' is literal too
        ("ÅSTRÖM", [S4]),
        ("åsa", [S4]),
        ("123", [S3]),
        ("doe x77", []),
        ("nobody", [S5]),
        ("   ", [S1, S2, S3, S4, S5]),
        ("zzz", []),
    ],
)
def test_studies_search(worklist, text, expected):
    assert uids(worklist.studies(text)) == expected


def test_search_key_folds_case_and_name_separators():
    assert search_key("Doe^Jane^^Dr", "PID-1", "ACC") == "doe jane  dr pid-1 acc"
    assert search_key("Yamada^Tarou=山田^太郎", "") == "yamada tarou 山田 太郎"


def test_study_by_uid_and_not_found(worklist):
    s = worklist.study(S2)
    assert s.patient.patient_name == "Smith^John^Q"
    assert (s.number_of_series, s.number_of_instances, s.modalities) == (1, 1, ("MR",))
    with pytest.raises(NotFoundError, match="not in the local store"):
        worklist.study(ROOT + "404")
    assert worklist.index.study(ROOT + "404") is None
    with pytest.raises(NotFoundError):
        worklist.one_series(ROOT + "404")


def test_studies_of_patient(worklist):
    assert uids(worklist.index.studies_of_patient("PID-001", "")) == [S1]
    assert worklist.index.studies_of_patient("PID-001", "OTHER ISSUER") == []


# -- series and instances ------------------------------------------------------------------
def test_series_ordered_by_number_then_unnumbered(worklist):
    series = worklist.series(S1)
    assert [(s.series_number, s.modality, s.number_of_instances) for s in series] == [
        (1, "CT", 2),
        (2, "CT", 3),
        (None, "SR", 1),
    ]
    assert [s.series_instance_uid for s in series] == [S1 + ".1", S1 + ".2", S1 + ".9"]
    one = worklist.one_series(S1 + ".2")
    assert (one.study_instance_uid, one.number_of_instances) == (S1, 3)
    assert worklist.series(ROOT + "404") == []


def test_instances_ordered_by_instance_number_unnumbered_last(worklist):
    assert [i.instance_number for i in worklist.instances(S1 + ".2")] == [1, 2, 3]
    assert [i.sop_instance_uid for i in worklist.instances(S1 + ".2")] == [
        f"{S1}.2.1",
        f"{S1}.2.2",
        f"{S1}.2.3",
    ]
    assert [i.instance_number for i in worklist.instances(S1 + ".1")] == [1, None]


def test_counts_and_reopen(worklist):
    counts = {"studies": 5, "series": 7, "instances": 10}
    assert worklist.index.counts() == counts
    root = worklist.root
    worklist.close()
    again = LocalArchive(root)
    try:
        assert again.index.counts() == counts
        assert uids(again.studies("doe")) == [S1, S3]
    finally:
        again.close()


def test_index_written_by_a_newer_version_is_refused(tmp_path):
    db = tmp_path / "index.sqlite"
    StoreIndex(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(StoreError, match=rf"newer version \(schema 99 > {SCHEMA_VERSION}\)"):
        StoreIndex(db)


def test_garbage_index_file_is_a_store_error(tmp_path):
    db = tmp_path / "index.sqlite"
    db.write_bytes(b"this is not an SQLite database" * 100)
    with pytest.raises(StoreError):
        StoreIndex(db)


# -- Instance fields -----------------------------------------------------------------------
def test_ct_small_instance_fields_are_parsed_as_pydicom_reads_them(archive, sample):
    src = sample("CT_small.dcm")
    ds = pydicom.dcmread(src)
    archive.import_paths([src])
    (inst,) = archive.instances(ds.SeriesInstanceUID)

    assert inst.sop_instance_uid == ds.SOPInstanceUID
    assert inst.sop_class_uid == "1.2.840.10008.5.1.4.1.1.2"
    assert inst.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert (inst.rows, inst.columns) == (128, 128)
    assert inst.number_of_frames == 1
    assert inst.samples_per_pixel == 1
    assert inst.photometric_interpretation == "MONOCHROME2"
    assert (inst.bits_allocated, inst.bits_stored, inst.pixel_representation) == (16, 16, 1)
    assert inst.pixel_spacing == (0.661468, 0.661468)
    assert inst.pixel_spacing == tuple(float(v) for v in ds.PixelSpacing)
    assert (inst.rescale_slope, inst.rescale_intercept) == (1.0, -1024.0)
    assert inst.window_center == () and inst.window_width == ()  # CT_small stores none
    assert inst.image_position_patient == (-158.135803, -179.035797, -75.699997)
    assert inst.image_position_patient == tuple(float(v) for v in ds.ImagePositionPatient)
    assert inst.image_orientation_patient == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert inst.slice_thickness == 5.0
    assert inst.slice_location == -77.2040634155
    assert (inst.instance_number, inst.acquisition_number) == (1, 2)
    assert inst.image_type == ("ORIGINAL", "PRIMARY", "AXIAL")
    assert inst.file_size == 39206
    assert inst.has_pixels

    # The index gives back exactly what was parsed (JSON round trip of the tuples included).
    parsed = parse_file(src).instance
    assert inst == replace(parsed, path=inst.path)

    study = archive.study(ds.StudyInstanceUID)
    assert study.patient.patient_name == "CompressedSamples^CT1"
    assert study.patient.patient_id == "1CT1"
    assert (study.study_date, study.study_time) == ("20040119", "072730")
    series = archive.one_series(ds.SeriesInstanceUID)
    assert (series.modality, series.series_number) == ("CT", 1)


def test_mr_small_window_fields(sample):
    inst = parse_file(sample("MR_small.dcm")).instance
    assert inst.window_center == (600.0,)
    assert inst.window_width == (1600.0,)
    assert inst.pixel_spacing == (0.3125, 0.3125)
    assert inst.image_position_patient == (-83.9063, -91.2, 6.6406)
    assert (inst.rescale_slope, inst.rescale_intercept) == (1.0, 0.0)


@pytest.mark.parametrize(
    ("name", "offset", "length"),
    [
        ("CT_small.dcm", 6300, 32768),
        ("MR_small.dcm", 1500, 8192),
        ("MR_small_implicit.dcm", 1510, 8192),
        ("MR_small_bigendian.dcm", 1516, 8192),
        ("examples_palette.dcm", 3486, 280000),
        ("SC_rgb_small_odd.dcm", 1416, 28),  # odd value length padded to even
    ],
)
def test_pixel_data_offset_points_at_the_pixel_data(sample, name, offset, length):
    path = sample(name)
    inst: Instance = parse_file(path).instance
    assert (inst.pixel_data_offset, inst.pixel_data_length) == (offset, length)
    raw = path.read_bytes()
    assert raw[offset : offset + length] == pydicom.dcmread(path).PixelData


def test_pixel_data_offset_of_the_stored_copy(archive, sample):
    archive.import_paths([sample("MR_small.dcm")])
    (study,) = archive.studies()
    (series,) = archive.series(study.study_instance_uid)
    (inst,) = archive.instances(series.series_instance_uid)
    raw = archive.path_of(inst).read_bytes()
    assert raw[inst.pixel_data_offset : inst.pixel_data_offset + inst.pixel_data_length] == (
        pydicom.dcmread(sample("MR_small.dcm")).PixelData
    )


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "JPEG2000.dcm",
        "SC_rgb_rle.dcm",
        "image_dfl.dcm",  # deflated: the offset in the file means nothing
    ],
)
def test_pixel_data_offset_is_none_for_compressed_syntaxes(sample, name):
    inst = parse_file(sample(name)).instance
    assert inst.pixel_data_offset is None
    assert inst.pixel_data_length is None


def test_non_image_instance(archive, sample):
    archive.import_paths([sample("rtplan.dcm")])
    (study,) = archive.studies()
    (series,) = archive.series(study.study_instance_uid)
    assert series.modality == "RTPLAN"
    (inst,) = archive.instances(series.series_instance_uid)
    assert (inst.rows, inst.columns, inst.has_pixels) == (0, 0, False)
    assert inst.pixel_data_offset is None


def test_a_study_deleted_between_transactions_is_indexed_again(tmp_path, write_image):
    """add() skips the study and series INSERTs for instances after the first of a series in
    one write transaction; after a commit (an eviction may have deleted the study since, as
    the cache does from any thread) it inserts them again."""
    px = np.zeros((4, 4), dtype=np.int64)
    parsed = [
        parse_file(
            write_image(pixels=px, study_uid=S1, series_uid=S1 + ".1", sop_uid=f"{S1}.1.{n}")
        )
        for n in (1, 2, 3)
    ]
    index = StoreIndex(tmp_path / "index.sqlite")
    for p in parsed[:2]:
        assert index.add(p.patient, p.study, p.series, p.instance)
    index.commit()
    assert index.counts() == {"studies": 1, "series": 1, "instances": 2}

    def evict() -> None:
        conn = sqlite3.connect(tmp_path / "index.sqlite")
        conn.execute("DELETE FROM instances")
        conn.execute("DELETE FROM series")
        conn.execute("DELETE FROM studies")
        conn.commit()
        conn.close()

    worker = threading.Thread(target=evict)
    worker.start()
    worker.join()
    assert index.counts() == {"studies": 0, "series": 0, "instances": 0}
    p = parsed[2]
    assert index.add(p.patient, p.study, p.series, p.instance)
    index.commit()
    assert index.counts() == {"studies": 1, "series": 1, "instances": 1}
    assert index.study(S1).study_instance_uid == S1
    index.close()
