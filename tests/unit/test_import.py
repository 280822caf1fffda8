"""LocalArchive.import_paths: files, folders, zip files, DICOMDIR media, and damaged input.

Real files only: the samples that ship with pydicom and files written here with pydicom.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from workstation.archive.local import LocalArchive
from workstation.core.errors import InvalidDicomError, WorkstationError
from workstation.core.model import Instance
from workstation.viewer.stack import ImageStack

CT_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
MR_SOP = "1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457"


def all_instances(archive: LocalArchive) -> list[Instance]:
    return [
        inst
        for study in archive.studies()
        for series in archive.series(study.study_instance_uid)
        for inst in archive.instances(series.series_instance_uid)
    ]


def by_sop(archive: LocalArchive) -> dict[str, Instance]:
    return {i.sop_instance_uid: i for i in all_instances(archive)}


def stored_files(archive: LocalArchive) -> list[Path]:
    return sorted(p for p in (archive.root / "studies").rglob("*") if p.is_file())


def pseudo_random(n: int, seed: int) -> bytes:
    """Deterministic garbage: SHA-256 blocks of the seed."""
    out = b""
    k = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{k}".encode()).digest()
        k += 1
    return out[:n]


def element_offset(raw: bytes, tag_vr: bytes) -> int:
    """Offset of an Explicit VR Little Endian element header (tag bytes + VR) in a file."""
    pos = raw.find(tag_vr)
    assert pos > 0, tag_vr
    return pos


# (0020,000E) SeriesInstanceUID, (0020,0032) ImagePositionPatient, (0028,0010) Rows, ...
SERIES_UID_ELEM = b"\x20\x00\x0e\x00UI"
SOP_UID_ELEM = b"\x08\x00\x18\x00UI"
IPP_ELEM = b"\x20\x00\x32\x00DS"
ROWS_ELEM = b"\x28\x00\x10\x00US"
COLUMNS_ELEM = b"\x28\x00\x11\x00US\x02\x00"
PIXEL_DATA_ELEM = b"\xe0\x7f\x10\x00OW"


# -- good files ----------------------------------------------------------------------------
def test_good_files_are_stored_byte_identical_and_owner_only(archive, sample):
    ct, mr = sample("CT_small.dcm"), sample("MR_small.dcm")

    report = archive.import_paths([ct, mr])

    assert (report.imported, report.duplicates, report.rejected) == (2, 0, [])
    assert report.summary() == "2 imported, 0 duplicates, 0 rejected"
    assert report.study_uids == {CT_STUDY, pydicom.dcmread(mr).StudyInstanceUID}
    assert archive.index.counts() == {"studies": 2, "series": 2, "instances": 2}
    stored = by_sop(archive)
    assert set(stored) == {CT_SOP, MR_SOP}
    for sop, src in ((CT_SOP, ct), (MR_SOP, mr)):
        inst = stored[sop]
        dest = archive.path_of(inst)
        assert dest.read_bytes() == src.read_bytes()
        assert stat.S_IMODE(dest.stat().st_mode) == 0o600
        assert Path(inst.path).parts[0] == "studies"
        assert Path(inst.path).name == f"{sop}.dcm"
        assert inst.file_size == src.stat().st_size
    # Nothing is left behind in the temporary folder.
    assert list((archive.root / "tmp").iterdir()) == []


def test_reimport_is_idempotent(archive, sample):
    paths = [sample("CT_small.dcm"), sample("MR_small.dcm"), sample("rtplan.dcm")]
    first = archive.import_paths(paths)
    assert first.summary() == "3 imported, 0 duplicates, 0 rejected"
    counts = archive.index.counts()
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in stored_files(archive)}
    assert len(before) == 3

    again = archive.import_paths(paths)

    assert (again.imported, again.duplicates, again.rejected) == (0, 3, [])
    assert again.summary() == "0 imported, 3 duplicates, 0 rejected"
    assert archive.index.counts() == counts == {"studies": 3, "series": 3, "instances": 3}
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in stored_files(archive)}
    assert after == before  # not one file re-written


def test_the_same_file_given_twice_is_imported_once(archive, sample, tmp_path):
    ct = sample("CT_small.dcm")
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(ct, folder / "a.dcm")
    report = archive.import_paths([folder / "a.dcm", folder, folder / "a.dcm"])
    assert (report.imported, report.duplicates, report.rejected_count) == (1, 0, 0)


def test_folder_is_walked_recursively(archive, sample, tmp_path):
    root = tmp_path / "disc"
    deep = root / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (root / "x").mkdir()
    shutil.copy(sample("CT_small.dcm"), deep / "IM0001")
    shutil.copy(sample("MR_small.dcm"), root / "x" / "IM0002.dcm")
    shutil.copy(sample("rtplan.dcm"), root / "plan")
    (root / "a" / "README.TXT").write_text("Burned by a test.\n")

    report = archive.import_paths([root])

    assert report.imported == 3
    assert report.rejected == [
        (str(root / "a" / "README.TXT"), "not a DICOM file (no DICOM preamble or identifiers)")
    ]
    assert report.summary() == "3 imported, 0 duplicates, 1 rejected"
    assert archive.path_of(by_sop(archive)[CT_SOP]).read_bytes() == (
        sample("CT_small.dcm").read_bytes()
    )


def test_zip_file_members_are_imported(archive, sample, tmp_path):
    zp = tmp_path / "export.zip"
    with zipfile.ZipFile(zp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(sample("CT_small.dcm"), "PAT/CT/CT_small.dcm")
        zf.write(sample("MR_small.dcm"), "PAT/MR/IM1")
        zf.write(sample("DICOMDIR"), "DICOMDIR")
        zf.writestr("notes.txt", "not an image")
        zf.writestr("PAT/EMPTY/", "")

    report = archive.import_paths([zp])

    assert report.imported == 2
    assert report.skipped == 1  # the DICOMDIR member: its files are in the zip anyway
    assert report.rejected == [
        (f"{zp}:notes.txt", "not a DICOM file (no DICOM preamble or identifiers)")
    ]
    assert report.summary() == "2 imported, 0 duplicates, 1 rejected, 1 skipped"
    stored = by_sop(archive)
    assert archive.path_of(stored[CT_SOP]).read_bytes() == sample("CT_small.dcm").read_bytes()
    assert archive.path_of(stored[MR_SOP]).read_bytes() == sample("MR_small.dcm").read_bytes()
    assert stored[CT_SOP].pixel_data_offset == 6300


def dicomdir_references(dicomdir: Path) -> dict[str, Path]:
    """SOP Instance UID -> file of every record of the DICOMDIR that references a file."""
    dd = pydicom.dcmread(dicomdir)
    refs = {}
    for record in dd.DirectoryRecordSequence:
        if "ReferencedFileID" in record:
            file_id = record.ReferencedFileID
            parts = [file_id] if isinstance(file_id, str) else list(file_id)
            refs[record.ReferencedSOPInstanceUIDInFile] = dicomdir.parent.joinpath(*parts)
    return refs


def test_dicomdir_imports_exactly_the_files_it_references(archive, sample):
    dicomdir = sample("DICOMDIR")
    refs = dicomdir_references(dicomdir)
    assert len(refs) == 31  # the sample's records; its folder holds other files too

    report = archive.import_paths([dicomdir])

    assert (report.imported, report.duplicates, report.rejected) == (31, 0, [])
    stored = by_sop(archive)
    assert set(stored) == set(refs)
    assert archive.index.counts()["instances"] == 31
    for sop, src in refs.items():
        assert archive.path_of(stored[sop]).read_bytes() == src.read_bytes()
    # The CR images of the sample are MONOCHROME1 and keep that.
    cr = [i for i in stored.values() if "/CR" in str(refs[i.sop_instance_uid])]
    assert len(cr) == 3
    assert {i.photometric_interpretation for i in cr} == {"MONOCHROME1"}


def test_dicomdir_with_missing_files_and_lower_case_folders(archive, sample, tmp_path):
    """A copied disc: one patient folder present (renamed to lower case), the others lost."""
    src = sample("DICOMDIR").parent
    disc = tmp_path / "disc"
    disc.mkdir()
    shutil.copy(src / "DICOMDIR", disc / "DICOMDIR")
    shutil.copytree(src / "77654033", disc / "77654033")
    (disc / "77654033" / "CR1").rename(disc / "77654033" / "cr1")
    refs = dicomdir_references(src / "DICOMDIR")
    present = {s for s, p in refs.items() if p.parts[-3] == "77654033"}
    assert len(present) == 7

    report = archive.import_paths([disc / "DICOMDIR"])

    assert report.imported == 7
    assert set(by_sop(archive)) == present
    assert report.rejected_count == 24
    assert {reason for _, reason in report.rejected} == {
        "listed in the DICOMDIR but missing on the media"
    }
    assert str(disc / "98892001" / "CT2N" / "6293") in {label for label, _ in report.rejected}


def test_dicomdir_inside_a_folder_is_skipped_and_the_walk_imports_the_files(
    archive, sample, tmp_path
):
    src = sample("DICOMDIR").parent
    disc = tmp_path / "disc"
    disc.mkdir()
    shutil.copy(src / "DICOMDIR", disc / "DICOMDIR")
    shutil.copytree(src / "77654033", disc / "77654033")

    report = archive.import_paths([disc])

    assert (report.imported, report.skipped, report.rejected_count) == (7, 1, 0)
    assert report.summary() == "7 imported, 0 duplicates, 0 rejected, 1 skipped"


def test_progress_reports_every_object(archive, sample, tmp_path):
    calls: list[tuple[int, int]] = []
    (tmp_path / "junk.txt").write_text("x")
    archive.import_paths(
        [sample("CT_small.dcm"), tmp_path / "junk.txt", sample("MR_small.dcm")],
        progress=lambda n, total: calls.append((n, total)),
    )
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]


# -- truncated files -----------------------------------------------------------------------
def _import_bytes(archive: LocalArchive, tmp_path: Path, data: bytes, name: str = "cut.dcm"):
    f = tmp_path / name
    f.write_bytes(data)
    return archive.import_paths([f])


def _assert_nothing_stored(archive: LocalArchive) -> None:
    assert archive.index.counts() == {"studies": 0, "series": 0, "instances": 0}
    assert stored_files(archive) == []
    assert list((archive.root / "tmp").iterdir()) == []


def _ct_cut(where: str) -> int:
    raw = sample_bytes("CT_small.dcm")
    pd = element_offset(raw, PIXEL_DATA_ELEM)
    return {
        "before the Pixel Data element": pd,
        "inside the Pixel Data element header": pd + 6,
        "inside the Pixel Data length": pd + 10,
        "at the first pixel byte": pd + 12,
        "after one pixel byte": pd + 13,
        "in the middle of the pixels": pd + 12 + 16384,
        "one byte short of the pixels": pd + 12 + 32768 - 1,
    }[where]


def sample_bytes(name: str) -> bytes:
    return Path(get_testdata_file(name)).read_bytes()


@pytest.mark.parametrize(
    "where",
    [
        "before the Pixel Data element",
        "inside the Pixel Data element header",
        "inside the Pixel Data length",
        "at the first pixel byte",
        "after one pixel byte",
        "in the middle of the pixels",
        "one byte short of the pixels",
    ],
)
def test_file_truncated_at_or_inside_pixel_data_is_rejected(archive, tmp_path, where):
    raw = sample_bytes("CT_small.dcm")
    report = _import_bytes(archive, tmp_path, raw[: _ct_cut(where)])
    assert report.imported == 0
    assert report.rejected_count == 1
    assert "truncated" in report.rejected[0][1]
    _assert_nothing_stored(archive)


def test_truncated_reason_says_how_many_bytes_are_present(archive, tmp_path):
    raw = sample_bytes("CT_small.dcm")
    report = _import_bytes(archive, tmp_path, raw[: 6300 + 1000])
    assert report.rejected[0][1] == "truncated: Pixel Data needs 32768 bytes, 1000 present"


def test_pydicom_truncated_sample_is_rejected(archive, sample):
    report = archive.import_paths([sample("MR_truncated.dcm")])
    assert report.rejected == [
        (str(sample("MR_truncated.dcm")), "truncated: Pixel Data needs 8192 bytes, 8130 present")
    ]
    _assert_nothing_stored(archive)


@pytest.mark.parametrize(
    ("name", "fraction"),
    [
        ("MR_small_RLE.dcm", 0.5),
        ("MR_small_RLE.dcm", 0.9),
        ("MR_small_jp2klossless.dcm", 0.9),
        ("JPEG2000.dcm", 0.95),
        ("MR_small_bigendian.dcm", 0.8),
        ("MR_small_implicit.dcm", 0.8),
    ],
)
def test_truncated_compressed_and_other_encodings_are_rejected(archive, tmp_path, name, fraction):
    raw = sample_bytes(name)
    report = _import_bytes(archive, tmp_path, raw[: int(len(raw) * fraction)])
    assert report.imported == 0
    assert report.rejected_count == 1
    assert "truncated" in report.rejected[0][1]
    _assert_nothing_stored(archive)


@pytest.mark.parametrize(
    "where",
    [
        "inside the file meta",
        "inside the SOP Instance UID value",
        "inside the Series Instance UID value",
        "between two elements before Image Position",
        "inside the Rows value",
        "inside Pixel Spacing, after Rows and Columns",
    ],
)
def test_file_truncated_inside_the_header_is_rejected_as_truncated(archive, tmp_path, where):
    raw = sample_bytes("CT_small.dcm")
    cut = {
        "inside the file meta": 200,
        "inside the SOP Instance UID value": element_offset(raw, SOP_UID_ELEM) + 8 + 20,
        "inside the Series Instance UID value": element_offset(raw, SERIES_UID_ELEM) + 8 + 20,
        "between two elements before Image Position": element_offset(raw, IPP_ELEM),
        "inside the Rows value": element_offset(raw, ROWS_ELEM) + 9,
        "inside Pixel Spacing, after Rows and Columns": element_offset(raw, ROWS_ELEM) + 30,
    }[where]
    report = _import_bytes(archive, tmp_path, raw[:cut])
    assert report.imported == 0
    assert report.rejected_count == 1
    assert "truncated" in report.rejected[0][1]
    _assert_nothing_stored(archive)


def test_truncated_copy_does_not_shadow_the_intact_file(archive, sample, tmp_path):
    raw = sample_bytes("CT_small.dcm")
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(raw[: element_offset(raw, SERIES_UID_ELEM) + 8 + 20])
    archive.import_paths([cut])
    report = archive.import_paths([sample("CT_small.dcm")])
    assert report.imported == 1
    assert archive.path_of(by_sop(archive)[CT_SOP]).read_bytes() == raw


# -- garbled files -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "length", "seed"),
    [
        (0, 256, 1),  # preamble and "DICM" magic
        (128, 4, 2),  # the magic only
        (132, 200, 3),  # the file meta
        (336, 64, 4),  # the first data elements
        (474, 16, 5),  # the SOP Instance UID element
        (922, 64, 6),  # patient module
        (2200, 256, 7),  # study/series identifiers
        (2348, 256, 8),  # image plane
        (3234, 256, 9),  # image pixel description
        (5000, 256, 10),  # private elements before the pixels
    ],
)
def test_garbled_header_is_rejected_or_imported_without_crashing(
    archive, tmp_path, start, length, seed
):
    raw = bytearray(sample_bytes("CT_small.dcm"))
    raw[start : start + length] = pseudo_random(length, seed)
    f = tmp_path / "garbled.dcm"
    f.write_bytes(bytes(raw))

    report = archive.import_paths([f])

    assert report.imported + report.rejected_count == 1
    if report.rejected:
        label, reason = report.rejected[0]
        assert label == str(f)
        assert reason.split(" ", 1)[0] in ("not", "missing", "truncated:", "damaged", "unreadable")
        _assert_nothing_stored(archive)
    else:
        # Parsed: the viewer either shows it or says why not, with the project's own errors.
        series = archive.series(archive.studies()[0].study_instance_uid)[0]
        try:
            stack = ImageStack.open(archive, series.series_instance_uid)
            stack.display(0, stack.default_window(0))
        except WorkstationError:
            pass


def _patch_vr_gi(raw: bytes) -> bytes:
    i = element_offset(raw, SOP_UID_ELEM)
    return raw[: i + 4] + b"GI" + raw[i + 6 :]


def _patch_odd_columns(raw: bytes) -> bytes:
    i = element_offset(raw, COLUMNS_ELEM)
    return raw[:i] + b"\x28\x00\x11\x00US\x03\x00\x80\x00\x00" + raw[i + 10 :]


def _patch_unknown_transfer_syntax(raw: bytes) -> bytes:
    i = raw.find(b"1.2.840.10008.1.2.1\x00")
    assert 132 < i < 336
    return raw[:i] + b"1.2.840.10008.1.2.7\x00" + raw[i + 20 :]


@pytest.mark.parametrize(
    "patch",
    [_patch_vr_gi, _patch_odd_columns, _patch_unknown_transfer_syntax],
    ids=["unknown VR in SOP Instance UID", "odd length of Columns", "unknown transfer syntax"],
)
def test_garbled_element_does_not_abort_the_import(archive, sample, tmp_path, patch):
    bad = tmp_path / "garbled.dcm"
    bad.write_bytes(patch(sample_bytes("CT_small.dcm")))
    report = archive.import_paths([sample("MR_small.dcm"), bad, sample("rtplan.dcm")])
    assert report.imported == 2
    assert report.rejected_count == 1
    assert report.rejected[0][0] == str(bad)


# -- not DICOM, empty, missing -------------------------------------------------------------
def test_non_dicom_empty_and_missing_inputs_are_rejected_with_reasons(archive, tmp_path):
    text = tmp_path / "report.txt"
    text.write_text("FINDINGS: none. This is not DICOM.\n" * 20)
    png = tmp_path / "photo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + pseudo_random(2000, 42))
    empty_file = tmp_path / "empty.dcm"
    empty_file.write_bytes(b"")
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    missing = tmp_path / "gone.dcm"

    report = archive.import_paths([text, png, empty_file, empty_dir, missing])

    assert report.imported == 0
    reasons = dict(report.rejected)
    assert reasons == {
        str(empty_dir): "empty folder: no files to import",
        str(missing): "no such file or folder",
        str(text): "not a DICOM file (no DICOM preamble or identifiers)",
        str(png): "not a DICOM file (no DICOM preamble or identifiers)",
        str(empty_file): "empty file",
    }
    assert "empty" in reasons[str(empty_dir)]
    assert report.summary() == "0 imported, 0 duplicates, 5 rejected"
    _assert_nothing_stored(archive)


def test_dicom_file_without_identifiers_is_rejected(archive, tmp_path):
    # A Part 10 header whose data set holds no SOP/Study/Series identifiers.
    f = tmp_path / "meta_only.dcm"
    f.write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00\x00\x00\x00\x00")
    report = archive.import_paths([f])
    assert report.rejected == [
        (
            str(f),
            "missing required identifier(s): SOPClassUID, SOPInstanceUID, StudyInstanceUID, "
            "SeriesInstanceUID",
        )
    ]


def test_import_goes_on_after_bad_files(archive, sample, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(pseudo_random(3000, 9))
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(sample_bytes("MR_small.dcm")[:5000])
    missing = tmp_path / "missing.dcm"

    report = archive.import_paths(
        [sample("CT_small.dcm"), junk, cut, missing, sample("rtplan.dcm"), sample("CT_small.dcm")]
    )

    assert report.imported == 2
    assert report.duplicates == 0  # the same path twice is one object
    assert [label for label, _ in report.rejected] == [str(missing), str(junk), str(cut)]
    assert report.summary() == "2 imported, 0 duplicates, 3 rejected"
    assert archive.index.counts() == {"studies": 2, "series": 2, "instances": 2}


def test_dicomdir_under_another_name_is_recognised(archive, sample):
    """A DICOMDIR named otherwise is still recognised by its Media Storage SOP Class."""
    src = sample("DICOMDIR").parent / "DICOMDIR-implicit"
    report = archive.import_paths([src])
    # It references the same 31 files as DICOMDIR.
    assert report.imported == 31
    assert report.rejected == []


# -- no Part 10 meta -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "implicit_vr", "little_endian", "ts"),
    [
        ("CT_small.dcm", False, True, "1.2.840.10008.1.2.1"),
        ("CT_small.dcm", True, True, "1.2.840.10008.1.2"),
        ("MR_small_bigendian.dcm", False, False, "1.2.840.10008.1.2.2"),
    ],
)
def test_dataset_without_meta_is_stored_with_a_proper_meta(
    archive, sample, tmp_path, name, implicit_vr, little_endian, ts
):
    src = pydicom.dcmread(sample(name))
    expected_pixels = src.pixel_array.copy()
    del src.file_meta
    src.preamble = None
    bare = tmp_path / "bare.dcm"
    pydicom.dcmwrite(
        bare, src, enforce_file_format=False, implicit_vr=implicit_vr, little_endian=little_endian
    )
    assert bare.read_bytes()[128:132] != b"DICM"

    report = archive.import_paths([bare])

    assert (report.imported, report.rejected) == (1, [])
    (inst,) = all_instances(archive)
    stored = archive.path_of(inst)
    raw = stored.read_bytes()
    assert raw[128:132] == b"DICM"
    back = pydicom.dcmread(stored)  # no force: a proper Part 10 file
    assert back.file_meta.TransferSyntaxUID == ts
    assert back.file_meta.MediaStorageSOPClassUID == src.SOPClassUID
    assert back.file_meta.MediaStorageSOPInstanceUID == src.SOPInstanceUID
    assert back.SOPInstanceUID == src.SOPInstanceUID
    assert np.array_equal(back.pixel_array, expected_pixels)
    assert inst.transfer_syntax_uid == ts
    assert inst.file_size == len(raw)
    # The index describes the file as written, not the bare input.
    assert inst.pixel_data_offset is not None
    assert (
        raw[inst.pixel_data_offset : inst.pixel_data_offset + inst.pixel_data_length]
        == back.PixelData
    )
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600


def test_mr_without_meta_keeps_mr_pixel_values(archive, sample, tmp_path):
    """The big-endian MR sample without its meta decodes to the same values as MR_small."""
    src = pydicom.dcmread(sample("MR_small_bigendian.dcm"))
    del src.file_meta
    src.preamble = None
    bare = tmp_path / "bare_be.dcm"
    pydicom.dcmwrite(bare, src, enforce_file_format=False)
    archive.import_paths([bare])
    (inst,) = all_instances(archive)
    back = pydicom.dcmread(archive.path_of(inst))
    assert np.array_equal(back.pixel_array, pydicom.dcmread(sample("MR_small.dcm")).pixel_array)


def test_written_file_helper_roundtrip(archive, write_image: Callable[..., Path]):
    """The synthetic writer used across these tests makes files the store accepts."""
    path = write_image(
        pixels=np.arange(16, dtype=np.int64).reshape(4, 4),
        study_uid="1.2.826.0.1.3680043.10.999.1",
        series_uid="1.2.826.0.1.3680043.10.999.1.1",
        sop_uid="1.2.826.0.1.3680043.10.999.1.1.1",
    )
    report = archive.import_paths([path])
    assert report.summary() == "1 imported, 0 duplicates, 0 rejected"
    (inst,) = all_instances(archive)
    assert (inst.rows, inst.columns, inst.bits_stored) == (4, 4, 16)


def test_ingest_file_renames_into_place_and_skips_duplicates(archive, sample):
    raw = sample_bytes("CT_small.dcm")
    first = archive.tmp_dir / "a.part"
    first.write_bytes(raw)
    assert archive.ingest_file(first) is True
    archive.commit()
    assert not first.exists()  # moved, not copied
    again = archive.tmp_dir / "b.part"
    again.write_bytes(raw)
    assert archive.ingest_file(again) is False
    assert not again.exists()
    bad = archive.tmp_dir / "c.part"
    bad.write_bytes(raw[:4000])
    with pytest.raises(InvalidDicomError, match="truncated"):
        archive.ingest_file(bad)
    assert bad.exists()  # left to the caller
    assert archive.index.counts()["instances"] == 1


def test_the_same_instance_ingested_by_two_threads_at_once_is_new_once(archive):
    """Two retrievals may store one instance at the same moment, each on its own index
    connection, both past the early "already stored?" check: the index's own answer, given
    inside the write transaction, makes exactly one of them report it new."""
    raw = sample_bytes("CT_small.dcm")
    start = threading.Barrier(2)
    answers: list[bool] = []

    def ingest(name: str) -> None:
        part = archive.tmp_dir / name
        part.write_bytes(raw)
        start.wait()
        try:
            answers.append(archive.ingest_file(part))
            archive.commit()
        finally:
            archive.index.close()  # this thread's connection

    for _ in range(20):  # the race is won differently each round; the count never is
        answers.clear()
        threads = [threading.Thread(target=ingest, args=(f"{k}.part",)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(answers) == [False, True]
        assert archive.index.counts()["instances"] == 1
        (inst,) = all_instances(archive)
        assert archive.path_of(inst).read_bytes() == raw
        for i in all_instances(archive):  # forget it for the next round
            archive.index.connection().execute("DELETE FROM instances")
            archive.commit()
            archive.path_of(i).unlink()


def test_a_second_store_object_keeps_fresh_temp_files(archive):
    fresh = archive.tmp_dir / "in-transfer.part"
    fresh.write_bytes(b"x")
    stale = archive.tmp_dir / "crash-leftover.part"
    stale.write_bytes(b"y")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    LocalArchive(archive.root).close()
    assert fresh.exists()
    assert not stale.exists()
