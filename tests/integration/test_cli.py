"""The ``workstation`` command as IT and scripts use it: import, studies, demo, logging."""

from __future__ import annotations

import zipfile
from pathlib import Path

from pydicom.data import get_testdata_file

from workstation.archive.local import LocalArchive
from workstation.demo import DEMO_STUDIES


def test_import_reports_each_rejection_and_summary(cli, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    ct = Path(get_testdata_file("CT_small.dcm"))
    (src / "ct.dcm").write_bytes(ct.read_bytes())
    (src / "cut.dcm").write_bytes(ct.read_bytes()[:5000])
    (src / "notes.txt").write_text("hello")
    with zipfile.ZipFile(src / "mr.zip", "w") as zf:
        zf.write(get_testdata_file("MR_small.dcm"), "a/MR_small.dcm")
    store = tmp_path / "store"
    r = cli("import", "--data-dir", str(store), str(src))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "2 imported, 0 duplicates, 2 rejected"
    assert f"rejected: {src / 'cut.dcm'}: truncated" in r.stderr
    assert f"rejected: {src / 'notes.txt'}: not a DICOM file" in r.stderr
    again = cli("import", "--data-dir", str(store), str(src))
    assert again.stdout.strip().splitlines()[-1] == "0 imported, 2 duplicates, 2 rejected"
    assert again.returncode == 0
    a = LocalArchive(store)
    assert a.index.counts() == {"studies": 2, "series": 2, "instances": 2}
    a.close()


def test_import_of_nothing_usable_fails(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cli("import", "--data-dir", str(tmp_path / "store"), str(empty))
    assert r.returncode == 1
    assert "empty folder" in r.stderr
    assert r.stdout.strip() == "0 imported, 0 duplicates, 1 rejected"


def test_demo_is_built_once_and_logs_carry_no_patient_data(cli, isolated_home, tmp_path):
    store = tmp_path / "demo"
    r = cli("demo", "--no-gui", "--data-dir", str(store), timeout=180)
    assert r.returncode == 0, r.stderr
    assert "demo store ready" in r.stdout
    again = cli("demo", "--no-gui", "--data-dir", str(store))
    assert again.returncode == 0 and "ready" not in again.stdout
    # Nothing in it another user could read, no row without its file, no file without a row.
    verify = cli("cache", "verify", "--data-dir", str(store))
    assert (verify.returncode, verify.stdout) == (0, "ok\n"), verify.stdout + verify.stderr
    listing = cli("studies", "--data-dir", str(store))
    lines = listing.stdout.strip().splitlines()
    uids = {line.split("\t")[0] for line in lines}
    assert {s.study_instance_uid for s in DEMO_STUDIES} <= uids
    assert len(lines) == len(DEMO_STUDIES) + 1  # plus the pydicom samples study
    cli(
        "export-image",
        "--data-dir",
        str(store),
        "--study",
        DEMO_STUDIES[0].study_instance_uid,
        "--annotations",
        "--out",
        str(tmp_path / "x.png"),
    )
    log = isolated_home / "state" / "workstation" / "log" / "workstation.log"
    text = log.read_text(encoding="utf-8")
    assert "demo store built" in text
    for study in DEMO_STUDIES:
        p = study.patient
        family = p.patient_name.split("^")[0]
        assert family not in text
        assert p.patient_id not in text
        assert study.accession_number not in text


def test_search_in_studies_command(cli, demo_store):
    r = cli("studies", "--data-dir", str(demo_store), "--search", "smith")
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "DEMO-0002" in lines[0] and "300 images" in lines[0]


def test_unwritable_store_is_a_clear_error(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = cli("import", "--data-dir", str(blocker / "store"), str(blocker))
    assert r.returncode == 2
    assert "cannot use" in r.stderr and "local store" in r.stderr
