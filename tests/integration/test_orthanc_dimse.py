"""C-ECHO, C-FIND, C-GET and C-STORE (pynetdicom) against a real Orthanc (PS3.4, PS3.7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
from pydicom.uid import generate_uid

from workstation.archive.dimse import (
    COMMON_STORAGE_CLASSES,
    UNCOMPRESSED,
    DimseClient,
    storage_contexts,
)
from workstation.archive.local import LocalArchive
from workstation.core.settings import ArchiveConfig, DimseConfig
from workstation.demo import CT_HEAD, generate_slice

JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
TEST_UID_ROOT = "1.2.826.0.1.3680043.10.999."


def _client(loaded, **kw) -> DimseClient:
    peer = DimseConfig("127.0.0.1", loaded.orthanc.dicom_port, loaded.orthanc.aet)
    return DimseClient(ArchiveConfig(name="orthanc", dimse=peer, **kw))


def _pixels_by_uid(paths) -> dict[str, bytes]:
    out = {}
    for p in paths:
        ds = pydicom.dcmread(p)
        out[str(ds.SOPInstanceUID)] = ds.PixelData
    return out


def test_echo(loaded):
    latency = _client(loaded).echo()
    assert 0 < latency < 2


def test_c_find_studies_with_their_attributes(loaded):
    c = _client(loaded)
    (s,) = c.find_studies(PatientID="DEMO-0001")
    assert (
        s.study_instance_uid,
        s.patient.patient_name,
        s.patient.issuer_of_patient_id,
        s.accession_number,
        s.study_date,
        s.modalities,
        s.number_of_series,
        s.number_of_instances,
    ) == (loaded.ct_study_uid, "Doe^Jane", "DEMO-HOSP", "ACC-CTH-0", "20251101", ("CT",), 1, 30)
    assert [x.study_instance_uid for x in c.find_studies(PatientName="Doe^Jane")] == [
        loaded.ct_study_uid
    ]
    assert [x.study_instance_uid for x in c.find_studies(ModalitiesInStudy="MR")] == [
        loaded.samples_study_uid
    ]
    assert len(c.find_studies()) == 2
    assert len(c.find_studies(limit=1)) == 1
    with pytest.raises(ValueError, match="unknown study search key 'Name'"):
        c.find_studies(Name="x")


def test_c_find_studies_by_uid_list(loaded):
    """UID list matching (PS3.4 C.2.2.2.2): the held ones with their counts; the rest absent."""
    unknown = TEST_UID_ROOT + "424242"
    c = _client(loaded)
    found = c.studies_by_uid([loaded.ct_study_uid, unknown, loaded.samples_study_uid])
    assert sorted((s.study_instance_uid, s.number_of_instances) for s in found) == sorted(
        [(loaded.ct_study_uid, 30), (loaded.samples_study_uid, 2)]
    )
    assert c.studies_by_uid([unknown]) == []
    with pytest.raises(ValueError, match=r"at most 40 UIDs at once \(got 41\)"):
        c.studies_by_uid([unknown] * 41)
    with pytest.raises(ValueError, match=r"Study Instance UID '1.2\\\\3' is not a DICOM UID"):
        c.studies_by_uid(["1.2\\3"])


def test_c_find_series_and_instances(loaded):
    c = _client(loaded)
    series = sorted(c.find_series(loaded.samples_study_uid), key=lambda s: s.series_instance_uid)
    assert [(s.series_instance_uid, s.modality, s.number_of_instances) for s in series] == sorted(
        [(loaded.mr_series_uid, "MR", 1), (loaded.jls_series_uid, "MR", 1)]
    )
    instances = c.find_instances(loaded.ct_study_uid, loaded.ct_series_uid)
    pushed = _pixels_by_uid(loaded.series_files(loaded.ct_series_uid))
    assert sorted(i.sop_instance_uid for i in instances) == sorted(pushed)
    assert {i.sop_class_uid for i in instances} == {"1.2.840.10008.5.1.4.1.1.2"}


def test_c_get_retrieves_the_series_whole(loaded, tmp_path, artifact_dir):
    store = LocalArchive(tmp_path / "store")
    c = _client(loaded)
    ticks: list[tuple[int, int]] = []
    result = c.get_series(
        loaded.ct_study_uid, loaded.ct_series_uid, store, lambda d, t: ticks.append((d, t))
    )
    assert (result.expected, result.received, result.already_present, result.missing) == (
        30,
        30,
        0,
        (),
    )
    assert result.complete and result.rejected == [] and result.via == "c-get"
    assert ticks[0] == (0, 30) and ticks[-1] == (30, 30)
    pushed = _pixels_by_uid(loaded.series_files(loaded.ct_series_uid))
    got = _pixels_by_uid(store.path_of(i) for i in store.instances(loaded.ct_series_uid))
    assert sorted(got) == sorted(pushed)
    assert all(got[uid] == pushed[uid] for uid in pushed)
    assert list((store.root / "tmp").iterdir()) == []
    again = c.get_series(loaded.ct_study_uid, loaded.ct_series_uid, store)
    assert (again.received, again.already_present, again.complete) == (0, 30, True)
    (artifact_dir / "orthanc-timings-cget.txt").write_text(
        f"C-GET 30 x 512x512 CT ({result.bytes_received / 1e6:.1f} MB) "
        f"{result.seconds:.3f} s (C-FIND IMAGE + association + C-GET)\n",
        encoding="utf-8",
    )
    store.close()


@pytest.mark.parametrize(
    ("policy", "ts"), [("lossless", JPEG_LS_LOSSLESS), ("uncompressed", EXPLICIT_LE)]
)
def test_c_get_transfer_syntax_policy(loaded, tmp_path, policy, ts):
    store = LocalArchive(tmp_path / "store")
    results = _client(loaded, transfer_syntax=policy).get_study(loaded.samples_study_uid, store)
    assert sorted((r.series_instance_uid, r.received, r.complete) for r in results) == sorted(
        [(loaded.mr_series_uid, 1, True), (loaded.jls_series_uid, 1, True)]
    )
    (inst,) = store.instances(loaded.jls_series_uid)
    assert inst.transfer_syntax_uid == ts
    (pushed,) = loaded.series_files(loaded.jls_series_uid)
    original = pydicom.dcmread(pushed)
    got = pydicom.dcmread(store.path_of(inst))
    if ts == JPEG_LS_LOSSLESS:
        assert got.PixelData == original.PixelData
    else:
        assert np.array_equal(got.pixel_array, original.pixel_array)
    store.close()


def test_c_store_new_objects_and_a_bad_file(loaded, tmp_path):
    paths, uids = [], []
    for k in range(3):
        ds = generate_slice(CT_HEAD.series[0], k, CT_HEAD)
        ds.PatientID = "CSTORE-TEST"
        ds.StudyInstanceUID = TEST_UID_ROOT + "2"
        ds.SeriesInstanceUID = TEST_UID_ROOT + "2.1"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(TEST_UID_ROOT)
        p = tmp_path / f"c{k}.dcm"
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
        uids.append(str(ds.SOPInstanceUID))
    bad = tmp_path / "notes.txt"
    bad.write_text("not DICOM")
    result = _client(loaded).store([*paths, bad])
    assert sorted(result.stored) == sorted(uids)
    assert result.failed == [("notes.txt", "not a DICOM Part 10 file (InvalidDicomError)")]
    http = loaded.orthanc.urls.http
    for uid in uids:
        found = requests.post(f"{http}/tools/lookup", data=uid, timeout=5).json()
        assert [f["Type"] for f in found] == ["Instance"]
    series = requests.post(f"{http}/tools/lookup", data=TEST_UID_ROOT + "2.1", timeout=5).json()
    info = requests.get(f"{http}/series/{series[0]['ID']}", timeout=5).json()
    assert len(info["Instances"]) == 3


def test_storage_contexts_stay_within_one_association():
    contexts = storage_contexts(list(COMMON_STORAGE_CLASSES), "lossy-allowed")
    assert len(contexts) == 127  # plus the C-GET context: 128 (PS3.8 9.3.2.2)
    first = contexts[: len(COMMON_STORAGE_CLASSES)]
    assert [c.abstract_syntax for c in first] == list(COMMON_STORAGE_CLASSES)
    assert all(c.transfer_syntax == list(UNCOMPRESSED) for c in first)
    one = storage_contexts(["1.2.840.10008.5.1.4.1.1.2"], "uncompressed")
    assert [(c.abstract_syntax, c.transfer_syntax) for c in one] == [
        ("1.2.840.10008.5.1.4.1.1.2", list(UNCOMPRESSED))
    ]
    assert len(storage_contexts(["1.2.840.10008.5.1.4.1.1.2"], "lossless")) == 7


def test_cli_retrieve_by_c_get(loaded, cli, tmp_path: Path):
    store = tmp_path / "store"
    dimse = f"127.0.0.1:{loaded.orthanc.dicom_port}:{loaded.orthanc.aet}"
    r = cli("retrieve", "--dimse", dimse, "--data-dir", str(store), loaded.ct_study_uid)
    assert r.returncode == 0, r.stderr
    (out,) = r.stdout.strip().splitlines()
    assert out.startswith(f"{loaded.ct_series_uid}\t30/30 instances (30 received, 0 already")
    assert out.endswith("via c-get")
    q = cli("query", "--dimse", dimse, "--accession", "ACC-SAMPLES")
    assert q.returncode == 0, q.stderr
    assert [ln.split("\t")[0] for ln in q.stdout.strip().splitlines()] == [loaded.samples_study_uid]
