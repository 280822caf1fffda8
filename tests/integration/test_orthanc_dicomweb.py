"""QIDO-RS, WADO-RS and STOW-RS against a real Orthanc filled by dcmtk's storescu (PS3.18)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
from pydicom.uid import generate_uid

from workstation.archive.dicomweb import DicomWebClient
from workstation.archive.local import LocalArchive
from workstation.archive.orthanc import free_port
from workstation.core.settings import ArchiveConfig
from workstation.demo import CT_HEAD, CT_HEAD_PRIOR, generate_slice

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
TEST_UID_ROOT = "1.2.826.0.1.3680043.10.999."


def _client(loaded, **kw) -> DicomWebClient:
    return DicomWebClient(
        ArchiveConfig(name="orthanc", dicomweb_url=loaded.orthanc.urls.dicomweb, **kw)
    )


def _assert_same_objects(store: LocalArchive, series_uid: str, pushed: list[Path]) -> None:
    """Every pushed object is in the store with the same SOP Instance UID and pixel bytes."""
    want = {}
    for p in pushed:
        ds = pydicom.dcmread(p)
        want[str(ds.SOPInstanceUID)] = ds.PixelData
    got = {}
    for inst in store.instances(series_uid):
        ds = pydicom.dcmread(store.path_of(inst))
        got[str(ds.SOPInstanceUID)] = ds.PixelData
    assert sorted(got) == sorted(want)
    for uid, pixels in want.items():
        assert got[uid] == pixels, uid
    assert list((store.root / "tmp").iterdir()) == []


def _record(artifact_dir: Path, line: str) -> None:
    (artifact_dir / "orthanc-timings-wado.txt").write_text(line + "\n", encoding="utf-8")


def test_qido_finds_studies_with_their_attributes(loaded):
    with _client(loaded) as c:
        studies = c.search_studies(PatientID="DEMO-0001")
    assert len(studies) == 1
    s = studies[0]
    assert s.study_instance_uid == loaded.ct_study_uid == CT_HEAD_PRIOR.study_instance_uid
    assert (
        s.patient.patient_id,
        s.patient.patient_name,
        s.accession_number,
        s.study_date,
        s.study_description,
        s.institution_name,
        s.modalities,
        s.number_of_series,
        s.number_of_instances,
    ) == (
        "DEMO-0001",
        "Doe^Jane",
        "ACC-CTH-0",
        "20251101",
        "CT HEAD WITHOUT CONTRAST",
        "Demo General Hospital",
        ("CT",),
        1,
        30,
    )


@pytest.mark.parametrize(
    ("filters", "which"),
    [
        ({"PatientName": "doe*"}, ["ct"]),
        ({"PatientName": "SAMP*"}, ["samples"]),
        ({"PatientName": "D?e^Jane"}, ["ct"]),
        ({"PatientName": "Doe^Jane"}, ["ct"]),
        ({"PatientName": "Doe^John"}, []),
        ({"StudyDate": "20251001-20251130"}, ["ct"]),
        ({"StudyDate": "20260101-"}, ["samples"]),
        ({"StudyDate": "-20200101"}, []),
        ({"ModalitiesInStudy": "MR"}, ["samples"]),
        ({"AccessionNumber": "ACC-SAMPLES"}, ["samples"]),
        ({"PatientID": "DEMO-0001", "ModalitiesInStudy": "MR"}, []),
    ],
)
def test_qido_filters(loaded, filters, which):
    uids = {"ct": loaded.ct_study_uid, "samples": loaded.samples_study_uid}
    with _client(loaded) as c:
        found = c.search_studies(**filters)
    assert sorted(s.study_instance_uid for s in found) == sorted(uids[w] for w in which)


def test_qido_limit_and_bad_filters(loaded):
    with _client(loaded) as c:
        assert len(c.search_studies()) == 2
        assert len(c.search_studies(limit=1)) == 1
        with pytest.raises(ValueError, match=r"StudyDate must be YYYYMMDD or a range"):
            c.search_studies(StudyDate="2025-01-01")
        with pytest.raises(ValueError, match=r"unknown study search key 'Name'"):
            c.search_studies(Name="x")


def test_qido_studies_by_uid_list(loaded):
    """UID list matching (PS3.18 8.3.4.1): the held ones with their counts; the rest absent."""
    unknown = TEST_UID_ROOT + "424242"
    with _client(loaded) as c:
        found = c.studies_by_uid([loaded.ct_study_uid, unknown, loaded.samples_study_uid])
        assert sorted((s.study_instance_uid, s.number_of_instances) for s in found) == sorted(
            [(loaded.ct_study_uid, 30), (loaded.samples_study_uid, 2)]
        )
        assert c.studies_by_uid([unknown]) == []
        assert c.studies_by_uid([]) == []
        with pytest.raises(ValueError, match=r"at most 40 UIDs at once \(got 41\)"):
            c.studies_by_uid([unknown] * 41)
        with pytest.raises(ValueError, match=r"Study Instance UID '1.2,3' is not a DICOM UID"):
            c.studies_by_uid(["1.2,3"])


def test_qido_series_and_instances(loaded):
    with _client(loaded) as c:
        series = c.search_series(loaded.samples_study_uid)
        instances = c.search_instances(loaded.ct_study_uid, loaded.ct_series_uid)
    series.sort(key=lambda s: s.series_instance_uid == loaded.jls_series_uid)
    assert [(s.series_instance_uid, s.modality, s.number_of_instances) for s in series] == [
        (loaded.mr_series_uid, "MR", 1),
        (loaded.jls_series_uid, "MR", 1),
    ]
    assert series[1].series_description == "MR_small_jpeg_ls_lossless.dcm (JPEG-LS Lossless)"
    ct_files = loaded.series_files(loaded.ct_series_uid)
    assert len(ct_files) == 30
    assert sorted(i.sop_instance_uid for i in instances) == sorted(
        pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in ct_files
    )
    assert sorted(i.instance_number for i in instances) == list(range(1, 31))
    assert {(i.sop_class_uid, i.rows, i.columns) for i in instances} == {
        (CT_IMAGE_STORAGE, 512, 512)
    }


def test_wado_rs_retrieves_the_series_whole(loaded, tmp_path, artifact_dir):
    store = LocalArchive(tmp_path / "store")
    ticks: list[tuple[int, int]] = []
    with _client(loaded) as c:
        result = c.retrieve_series(
            loaded.ct_study_uid, loaded.ct_series_uid, store, lambda d, t: ticks.append((d, t))
        )
        again = c.retrieve_series(loaded.ct_study_uid, loaded.ct_series_uid, store)
    assert (result.expected, result.received, result.already_present, result.missing) == (
        30,
        30,
        0,
        (),
    )
    assert result.complete and result.rejected == []
    assert result.bytes_received > 30 * 512 * 512 * 2
    assert ticks[0] == (0, 30) and ticks[-1] == (30, 30)
    _assert_same_objects(store, loaded.ct_series_uid, loaded.series_files(loaded.ct_series_uid))
    assert (again.received, again.already_present, again.complete) == (0, 30, True)
    assert store.index.counts() == {"studies": 1, "series": 1, "instances": 30}
    _record(
        artifact_dir,
        f"Orthanc start-up {loaded.orthanc.startup_s:.3f} s; storescu push of 32 objects "
        f"{loaded.push_seconds:.2f} s; WADO-RS 30 x 512x512 CT "
        f"({result.bytes_received / 1e6:.1f} MB) {result.seconds:.3f} s",
    )
    store.close()


def test_wado_rs_resumes_a_partial_series(loaded, tmp_path):
    files = sorted(loaded.series_files(loaded.ct_series_uid))
    store = LocalArchive(tmp_path / "store")
    assert store.import_paths(files[:20]).imported == 20
    with _client(loaded) as c:
        result = c.retrieve_series(loaded.ct_study_uid, loaded.ct_series_uid, store)
    assert (result.expected, result.received, result.already_present, result.missing) == (
        30,
        10,
        20,
        (),
    )
    _assert_same_objects(store, loaded.ct_series_uid, files)
    store.close()


@pytest.mark.parametrize(
    ("policy", "ts"), [("lossless", JPEG_LS_LOSSLESS), ("uncompressed", EXPLICIT_LE)]
)
def test_wado_rs_transfer_syntax_policy(loaded, tmp_path, policy, ts):
    store = LocalArchive(tmp_path / "store")
    with _client(loaded, transfer_syntax=policy) as c:
        results = c.retrieve_study(loaded.samples_study_uid, store)
    assert sorted((r.series_instance_uid, r.expected, r.complete) for r in results) == sorted(
        [(loaded.mr_series_uid, 1, True), (loaded.jls_series_uid, 1, True)]
    )
    (inst,) = store.instances(loaded.jls_series_uid)
    assert inst.transfer_syntax_uid == ts
    (pushed,) = loaded.series_files(loaded.jls_series_uid)
    original = pydicom.dcmread(pushed)
    got = pydicom.dcmread(store.path_of(inst))
    if ts == JPEG_LS_LOSSLESS:
        assert got.PixelData == original.PixelData  # the stored codestream, untouched
    else:
        assert np.array_equal(got.pixel_array, original.pixel_array)  # decoded, lossless
    store.close()


def test_stow_rs_stores_new_objects(loaded, tmp_path):
    paths, uids = [], []
    for k in range(2):
        ds = generate_slice(CT_HEAD.series[0], k, CT_HEAD)
        ds.PatientID = "STOW-TEST"
        ds.StudyInstanceUID = TEST_UID_ROOT + "1"
        ds.SeriesInstanceUID = TEST_UID_ROOT + "1.1"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(TEST_UID_ROOT)
        p = tmp_path / f"stow{k}.dcm"
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
        uids.append(str(ds.SOPInstanceUID))
    http = loaded.orthanc.urls.http
    before = len(requests.get(f"{http}/instances", timeout=5).json())
    with _client(loaded) as c:
        result = c.store_instances(paths)
    assert sorted(result.stored) == sorted(uids) and result.failed == []
    assert len(requests.get(f"{http}/instances", timeout=5).json()) == before + 2
    for uid in uids:
        found = requests.post(f"{http}/tools/lookup", data=uid, timeout=5).json()
        assert [f["Type"] for f in found] == ["Instance"]
        tags = requests.get(f"{http}/instances/{found[0]['ID']}/simplified-tags", timeout=5).json()
        assert (tags["SOPInstanceUID"], tags["PatientID"]) == (uid, "STOW-TEST")


def test_check_reports_each_step(loaded):
    with _client(loaded) as c:
        steps = c.check()
    assert [(s.name, s.ok) for s in steps] == [("QIDO-RS search", True), ("WADO-RS metadata", True)]
    assert steps[0].detail == "answers"
    assert steps[1].detail.endswith("attributes of one instance")
    assert all(0 < (s.latency_s or 0) < 5 for s in steps)


def test_cli_query_and_retrieve(loaded, cli, tmp_path):
    url = loaded.orthanc.urls.dicomweb
    q = cli("query", "--dicomweb-url", url, "--patient-id", "DEMO-0001")
    assert q.returncode == 0, q.stderr
    (line,) = q.stdout.strip().splitlines()
    assert line.split("\t") == [
        loaded.ct_study_uid,
        "2025-11-01",
        "CT",
        "Doe, Jane",
        "DEMO-0001",
        "ACC-CTH-0",
        "CT HEAD WITHOUT CONTRAST",
        "1 series",
        "30 images",
    ]
    assert "1 study on command-line" in q.stderr

    # The sending hospital, with a space in it (Orthanc 1.10 matches it only as "?"), over
    # QIDO-RS and over C-FIND; other tests of the module may have stored more studies.
    def hospital(via: str, name: str) -> list[str]:
        h = cli(
            "query",
            "--dicomweb-url",
            url,
            "--dimse",
            f"127.0.0.1:{loaded.orthanc.dicom_port}:ORTHANC",
            "--via",
            via,
            "--institution",
            name,
        )
        assert h.returncode == 0, h.stderr
        return [x.split("\t")[0] for x in h.stdout.strip().splitlines()]

    for via in ("qido", "cfind"):
        assert loaded.ct_study_uid in hospital(via, "Demo General*")
        assert loaded.ct_study_uid in hospital(via, "Demo General Hospital")
        assert hospital(via, "St Elsewhere*") == []
    store = tmp_path / "store"
    r = cli("retrieve", "--dicomweb-url", url, "--data-dir", str(store), loaded.ct_study_uid)
    assert r.returncode == 0, r.stderr
    (out,) = r.stdout.strip().splitlines()
    assert out.startswith(f"{loaded.ct_series_uid}\t30/30 instances (30 received, 0 already")
    a = LocalArchive(store)
    assert a.index.counts() == {"studies": 1, "series": 1, "instances": 30}
    a.close()
    # A study of two series (retrieved together): one line each.
    r = cli("retrieve", "--dicomweb-url", url, "--data-dir", str(store), loaded.samples_study_uid)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert sorted(x.split("\t")[0] for x in lines) == sorted(
        [loaded.mr_series_uid, loaded.jls_series_uid]
    )
    assert all("\t1/1 instances (1 received, 0 already present)" in x for x in lines)
    a = LocalArchive(store)
    assert a.index.counts() == {"studies": 2, "series": 3, "instances": 32}
    a.close()


def test_cli_check_tests_every_configured_archive(loaded, cli, isolated_home):
    dead_port = free_port()
    cfg = isolated_home / "config" / "workstation" / "settings.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        "schema_version = 1\n[[archives]]\n"
        f'name = "local-orthanc"\ndicomweb_url = "{loaded.orthanc.urls.dicomweb}"\n'
        f'dimse = {{ host = "127.0.0.1", port = {loaded.orthanc.dicom_port}, '
        'ae_title = "ORTHANC" }\n'
        f'[[archives]]\nname = "dead"\ndicomweb_url = "http://127.0.0.1:{dead_port}/dicom-web"\n',
        encoding="utf-8",
    )
    r = cli("check")
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "archive local-orthanc"
    assert [ln.split()[0:3] for ln in lines[1:4]] == [
        ["C-ECHO", "ok", lines[1].split()[2]],
        ["QIDO-RS", "search", "ok"],
        ["WADO-RS", "metadata", "ok"],
    ]
    assert lines[1].split()[3] == "ms" and lines[3].endswith("attributes of one instance")
    assert lines[4] == "archive dead"
    assert lines[5].split()[:3] == ["QIDO-RS", "search", "FAILED"]
    assert f"connection refused at 127.0.0.1:{dead_port}" in lines[5]
    assert len(lines) == 6
    only = cli("check", "--archive", "local-orthanc")
    assert only.returncode == 0, only.stdout
    assert only.stdout.count("archive ") == 1
