"""Cache management of the local store: exact bytes per study, LRU eviction order, protection,
crash safety of an eviction (a real process killed midway) and the store's file modes."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from workstation.archive.audit import AuditTrail
from workstation.archive.cache import (
    EvictionReport,
    PermissionProblem,
    StoreCache,
    cache_command,
    format_size,
    parse_size,
)
from workstation.archive.local import LocalArchive
from workstation.core.errors import ConfigError, NotFoundError, StoreError
from workstation.core.measure import Measurement, MeasurementKind

UID_ROOT = "1.2.826.0.1.3680043.10.999.8."
# study key -> (instances, rows = columns): every UID below has the same length, so two files
# differ in size only by their pixel data (2 bytes a pixel).
LAYOUT = {"A": (3, 16), "B": (2, 32), "C": (4, 8), "D": (1, 64)}


def study_uid(key: str) -> str:
    return f"{UID_ROOT}{ord(key) - ord('A') + 1}"


def fill(archive: LocalArchive, image_dataset, layout=LAYOUT) -> dict[str, list[Path]]:
    """Store the layout's studies; returns each study's files as they lie on disk."""
    files: dict[str, list[Path]] = {}
    for key, (count, size) in layout.items():
        uid = study_uid(key)
        for j in range(1, count + 1):
            ds = image_dataset(
                pixels=np.full((size, size), j, np.uint16),
                study_uid=uid,
                series_uid=uid + ".1",
                sop_uid=f"{uid}.1.{j}",
                instance_number=j,
                patient_id=f"P-{key}",
            )
            assert archive.add_dataset(ds)
        archive.commit()
        files[key] = sorted((archive.root / "studies" / uid).rglob("*.dcm"))
        assert len(files[key]) == count
    return files


def disk_bytes(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


@pytest.fixture
def stocked(archive: LocalArchive, image_dataset):
    """Four studies; A, C and D opened 3000, 2000 and 1000 s ago, B never: LRU order A C D B."""
    files = fill(archive, image_dataset)
    now = time.time()
    for key, ago in (("A", 3000), ("C", 2000), ("D", 1000)):
        archive.index.mark_opened(study_uid(key), now - ago)
    sizes = {k: disk_bytes(v) for k, v in files.items()}
    return archive, files, sizes


def test_usage_gives_exact_bytes_per_study_least_recently_used_first(stocked):
    archive, _files, sizes = stocked
    cache = StoreCache(archive)
    usage = cache.usage()
    assert [(u.study_instance_uid, u.size_bytes, u.instances, u.opened) for u in usage] == [
        (study_uid("A"), sizes["A"], 3, True),
        (study_uid("C"), sizes["C"], 4, True),
        (study_uid("D"), sizes["D"], 1, True),
        (study_uid("B"), sizes["B"], 2, False),
    ]
    assert cache.total_bytes() == sum(sizes.values())
    # Same header size everywhere: study sizes differ by exactly their pixel bytes.
    header = sizes["D"] - 2 * 64 * 64
    assert sizes["A"] == 3 * (header + 2 * 16 * 16)
    assert sizes["B"] == 2 * (header + 2 * 32 * 32)
    assert sizes["C"] == 4 * (header + 2 * 8 * 8)
    assert cache.study_usage(study_uid("B")).size_bytes == sizes["B"]
    with pytest.raises(NotFoundError, match="not in the local store"):
        cache.study_usage(UID_ROOT + "99")


def test_limit_evicts_least_recently_used_until_the_store_fits(stocked):
    archive, files, sizes = stocked
    total = sum(sizes.values())
    cache = StoreCache(archive)
    # One byte short of fitting after A: C must go too; D and B stay.
    report = cache.enforce_limit(total - sizes["A"] - 1)
    assert [u.study_instance_uid for u in report.evicted] == [study_uid("A"), study_uid("C")]
    assert report.freed_bytes == sizes["A"] + sizes["C"]
    assert report.remaining_bytes == sizes["B"] + sizes["D"] == cache.total_bytes()
    assert not report.over_limit
    assert not any(p.exists() for p in files["A"] + files["C"])
    assert all(p.is_file() for p in files["B"] + files["D"])
    assert not (archive.root / "studies" / study_uid("A")).exists()  # empty folders removed
    assert sorted(s.study_instance_uid for s in archive.studies()) == [
        study_uid("B"),
        study_uid("D"),
    ]
    assert archive.index.counts() == {"studies": 2, "series": 2, "instances": 3}
    assert cache.missing_files() == []
    assert cache.pending_deletions() == 0


def test_limit_that_fits_exactly_evicts_nothing_more(stocked):
    archive, _files, sizes = stocked
    total = sum(sizes.values())
    cache = StoreCache(archive)
    assert cache.enforce_limit(total).evicted == []
    report = cache.enforce_limit(total - sizes["A"])
    assert [u.study_instance_uid for u in report.evicted] == [study_uid("A")]
    # Room for an incoming retrieval: one byte more than the room left evicts the next study.
    report = cache.enforce_limit(total - sizes["A"], reserve_bytes=1)
    assert [u.study_instance_uid for u in report.evicted] == [study_uid("C")]
    assert report.remaining_bytes == sizes["B"] + sizes["D"]


def test_protected_studies_are_never_evicted(stocked):
    archive, files, sizes = stocked
    asked: list[str] = []

    def has_open_report(uid: str) -> bool:
        asked.append(uid)
        return uid == study_uid("A")

    cache = StoreCache(archive, is_protected=has_open_report, protected={study_uid("C")})
    report = cache.enforce_limit(0)
    assert [u.study_instance_uid for u in report.evicted] == [study_uid("D"), study_uid("B")]
    assert report.over_limit
    assert report.remaining_bytes == report.protected_bytes == sizes["A"] + sizes["C"]
    assert all(p.is_file() for p in files["A"] + files["C"])
    assert study_uid("A") in asked
    with pytest.raises(StoreError, match="protected"):
        cache.evict_study(study_uid("A"))
    with pytest.raises(NotFoundError):
        cache.evict_study(study_uid("D"))  # already gone
    assert "still over the limit" in report.summary()


def test_clear_removes_everything_not_protected(stocked):
    archive, files, sizes = stocked
    cache = StoreCache(archive, protected=[study_uid("B")])
    report = cache.clear()
    assert [u.study_instance_uid for u in report.evicted] == [
        study_uid("A"),
        study_uid("C"),
        study_uid("D"),
    ]
    assert report.freed_bytes == sizes["A"] + sizes["C"] + sizes["D"]
    assert report.remaining_bytes == sizes["B"]
    assert [s.study_instance_uid for s in archive.studies()] == [study_uid("B")]
    assert sorted((archive.root / "studies").rglob("*.dcm")) == files["B"]
    assert cache.clear().evicted == []


def test_what_a_reader_added_survives_eviction(stocked):
    """Measurements are the reader's work: kept, and found again once the study is back."""
    archive, _files, _sizes = stocked
    m = Measurement(
        kind=MeasurementKind.LENGTH,
        points=((0.0, 0.0), (3.0, 4.0)),
        value=5.0,
        unit="mm",
        label="",
        sop_instance_uid=f"{study_uid('A')}.1.1",
        measurement_id="m-1",
    )
    archive.save_measurement(study_uid("A"), m)
    StoreCache(archive).evict_study(study_uid("A"))
    assert archive.index.study(study_uid("A")) is None
    assert [x.measurement_id for x in archive.measurements(study_uid("A"))] == ["m-1"]


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from workstation.archive.cache import StoreCache
    from workstation.archive.local import LocalArchive

    archive = LocalArchive(sys.argv[1])
    def die_after_two(done, total):
        if done == 2:
            os._exit(9)  # a crash: no cleanup, no commit of the journal
    StoreCache(archive).evict_study(sys.argv[2], progress=die_after_two)
    """
)


def _crash_evicting(root: Path, uid: str) -> None:
    r = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(root), uid],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 9, r.stderr[-2000:]


def _rows_without_files(root: Path) -> list[str]:
    a = LocalArchive(root)
    try:
        paths = [str(r[0]) for r in a.index.connection().execute("SELECT path FROM instances")]
        return [p for p in paths if not (root / p).is_file()]
    finally:
        a.close()


def test_a_crash_midway_leaves_no_row_without_its_file_and_is_finished_later(stocked):
    archive, files, sizes = stocked
    root = archive.root
    archive.close()
    _crash_evicting(root, study_uid("C"))  # 4 files: 2 deleted, then the process dies
    assert [p.exists() for p in files["C"]] == [False, False, True, True]
    assert _rows_without_files(root) == []
    a = LocalArchive(root)
    assert a.index.study(study_uid("C")) is None  # rows went first, in one transaction
    journal = a.index.connection().execute("SELECT COUNT(*) FROM cache_pending_deletes")
    assert journal.fetchone()[0] == 4
    cache = StoreCache(a)  # opening it finishes the eviction
    assert cache.pending_deletions() == 0
    assert not any(p.exists() for p in files["C"])
    assert not (root / "studies" / study_uid("C")).exists()
    assert cache.total_bytes() == sizes["A"] + sizes["B"] + sizes["D"]
    assert cache.missing_files() == []
    a.close()


def test_recovery_keeps_a_file_retrieved_again_before_it_ran(stocked, image_dataset):
    archive, files, _sizes = stocked
    root = archive.root
    archive.close()
    _crash_evicting(root, study_uid("C"))
    a = LocalArchive(root)
    # The study comes back (a retrieval) before anyone finishes the eviction.
    fill(a, image_dataset, {"C": LAYOUT["C"]})
    assert all(p.is_file() for p in files["C"])
    StoreCache(a)
    assert all(p.is_file() for p in files["C"])  # the journal's paths belong to new rows now
    assert _rows_without_files(root) == []
    assert a.index.counts()["instances"] == 3 + 2 + 4 + 1
    a.close()


def test_file_modes_are_checked_and_fixed(stocked):
    archive, files, _sizes = stocked
    cache = StoreCache(archive)
    # Instance files and the index (with its -wal and -shm) are 0600 from the start.
    assert all(
        (archive.root / name).stat().st_mode & 0o777 == 0o600
        for name in ("index.sqlite", "index.sqlite-shm", "index.sqlite-wal")
        if (archive.root / name).exists()
    )
    expected: list[PermissionProblem] = []
    assert cache.check_permissions() == expected
    os.chmod(files["B"][1], 0o644)
    os.chmod(archive.root, 0o755)
    rel = os.path.relpath(files["B"][1], archive.root)
    problems = cache.check_permissions(fix=True)
    assert problems == sorted(
        [*expected, PermissionProblem(".", 0o755, 0o700), PermissionProblem(rel, 0o644, 0o600)],
        key=lambda p: p.path,
    )
    assert cache.check_permissions() == []
    assert (files["B"][1].stat().st_mode & 0o777, archive.root.stat().st_mode & 0o777) == (
        0o600,
        0o700,
    )
    assert problems[0].line() == ".: mode 0755, expected 0700"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1500", 1500),
        ("500M", 500_000_000),
        ("20G", 20_000_000_000),
        ("20 GB", 20_000_000_000),
        ("1.5T", 1_500_000_000_000),
        ("20GiB", 20 * 1024**3),
        ("512kib", 512 * 1024),
        (4096, 4096),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "G", "12 apples", "-5G", "1iB", "5X"])
def test_parse_size_rejects_nonsense(text):
    with pytest.raises(ConfigError, match="cannot read"):
        parse_size(text)


def test_format_size():
    assert [format_size(n) for n in (999, 1000, 1_234_567, 20 * 10**9, 3 * 10**15)] == [
        "999 B",
        "1.0 kB",
        "1.2 MB",
        "20.0 GB",
        "3000.0 TB",
    ]


def test_cache_command(stocked):
    archive, _files, sizes = stocked
    out = io.StringIO()
    assert cache_command(archive, "usage", out=out) == 0
    lines = out.getvalue().splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        [study_uid("A"), str(sizes["A"]), "3 files"],
        [study_uid("C"), str(sizes["C"]), "4 files"],
        [study_uid("D"), str(sizes["D"]), "1 file"],
        [study_uid("B"), str(sizes["B"]), "2 files"],
        ["total", str(sum(sizes.values())), "4 studies"],
    ]
    out = io.StringIO()
    limit = sizes["D"] + sizes["B"]  # A and C go, least recently used first; then it fits
    assert cache_command(archive, "limit", limit=limit, out=out) == 0
    assert out.getvalue().startswith("2 studies evicted")
    out = io.StringIO()
    assert cache_command(archive, "limit", limit="1", protected=[study_uid("B")], out=out) == 1
    assert out.getvalue().startswith("1 study evicted")  # D; B is protected: still over
    assert "still over the limit" in out.getvalue()
    out = io.StringIO()
    assert cache_command(archive, "verify", fix=True, out=out) == 0
    assert out.getvalue().splitlines()[-1] == "ok"
    with pytest.raises(ConfigError, match="unknown cache action"):
        cache_command(archive, "purge")
    with pytest.raises(ConfigError, match="needs a size"):
        cache_command(archive, "limit")
    assert isinstance(StoreCache(archive).clear(), EvictionReport)


ADD_AND_DIE = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    sys.path.insert(0, sys.argv[3])
    from conftest import build_image
    from workstation.archive.local import LocalArchive

    archive = LocalArchive(sys.argv[1])
    uid = sys.argv[2]
    ds = build_image(pixels=np.full((16, 16), 7, np.uint16), study_uid=uid,
                     series_uid=uid + ".1", sop_uid=uid + ".1.9", instance_number=9,
                     patient_id="P-A")
    assert archive.add_dataset(ds)  # renamed into place and indexed, not committed
    os._exit(9)  # a crash before the commit
    """
)


def test_a_file_left_unindexed_by_a_crash_is_found_and_indexed_again(stocked):
    archive, files, sizes = stocked
    root = archive.root
    r = subprocess.run(
        [sys.executable, "-c", ADD_AND_DIE, str(root), study_uid("A"), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 9, r.stderr[-2000:]
    orphan = root / "studies" / study_uid("A") / f"{study_uid('A')}.1" / f"{study_uid('A')}.1.9.dcm"
    assert orphan.is_file()
    rel = os.path.relpath(orphan, root)
    cache = StoreCache(archive)
    assert archive.index.has_instance(f"{study_uid('A')}.1.9") is False
    # Just renamed: it may be waiting for its commit, so the default grace leaves it alone.
    assert cache.unindexed_files() == []
    assert cache.unindexed_files(min_age_s=0) == [rel]
    # A file that is no DICOM, and a second copy of an indexed instance, beside it.
    junk = root / "studies" / study_uid("B") / "junk.dcm"
    junk.write_bytes(b"not DICOM at all")
    copy = files["C"][0].with_name("copy.dcm")
    copy.write_bytes(files["C"][0].read_bytes())
    time.sleep(0.05)
    found = cache.unindexed_files(min_age_s=0)
    assert found == sorted([rel, os.path.relpath(junk, root), os.path.relpath(copy, root)])
    done = dict(cache.adopt_unindexed(found))
    assert done[rel] == "indexed"
    assert done[os.path.relpath(copy, root)] == "deleted: a second copy of an instance"
    assert done[os.path.relpath(junk, root)].startswith("deleted: not an instance")
    assert not junk.exists() and not copy.exists() and files["C"][0].is_file()
    # Indexed where it lies, with the pixel data where the file has it.
    (inst,) = [i for i in archive.instances(f"{study_uid('A')}.1") if i.instance_number == 9]
    assert archive.path_of(inst) == orphan
    assert orphan.stat().st_mode & 0o777 == 0o600
    with open(orphan, "rb") as fp:
        fp.seek(inst.pixel_data_offset)
        assert np.array_equal(
            np.frombuffer(fp.read(inst.pixel_data_length), "<u2"), np.full(256, 7, np.uint16)
        )
    assert cache.unindexed_files(min_age_s=0) == []
    assert cache.missing_files() == []
    assert cache.study_usage(study_uid("A")).instances == 4
    assert cache.total_bytes() == sum(sizes.values()) + orphan.stat().st_size


def test_rows_whose_files_are_gone_are_forgotten_so_they_are_fetched_again(stocked):
    archive, files, sizes = stocked
    root = archive.root
    slice_bytes = files["C"][1].stat().st_size
    files["C"][1].unlink()  # one slice of a series
    files["D"][0].unlink()  # the only file of study D
    cache = StoreCache(archive)
    lost = sorted(os.path.relpath(p, root) for p in (files["C"][1], files["D"][0]))
    assert cache.missing_files() == lost
    assert cache.forget_missing() == lost
    assert cache.missing_files() == []
    assert cache.study_usage(study_uid("C")).instances == 3
    assert archive.index.study(study_uid("D")) is None  # nothing of it left: gone from the list
    with AuditTrail(root) as trail:
        removed = [(e.study_instance_uid, e.detail) for e in trail.entries()]
    assert removed == [(study_uid("D"), "its files were missing from the store")]
    assert archive.series(study_uid("C"))[0].number_of_instances == 3
    assert cache.total_bytes() == sizes["A"] + sizes["B"] + sizes["C"] - slice_bytes
    assert cache.forget_missing() == []


def test_forgetting_refuses_when_no_indexed_file_is_left(stocked):
    archive, _files, _sizes = stocked

    shutil.rmtree(archive.root / "studies")  # an unmounted disk looks like this
    cache = StoreCache(archive)
    with pytest.raises(StoreError, match="none of the 10 indexed files"):
        cache.forget_missing()
    assert archive.index.counts()["instances"] == 10


def test_cache_verify_reports_then_fixes_what_a_crash_and_a_lost_file_left(stocked, monkeypatch):
    archive, files, _sizes = stocked
    root = archive.root
    files["B"][0].unlink()
    extra = files["A"][0].with_name("extra.dcm")
    extra.write_bytes(files["A"][0].read_bytes())  # a second copy: nothing the index lacks
    extra.chmod(0o600)
    out = io.StringIO()
    assert cache_command(archive, "verify", out=out) == 1
    # Just written: it may be waiting for its commit, and is not counted yet.
    assert out.getvalue().splitlines() == [
        f"missing file: {os.path.relpath(files['B'][0], root)}",
        "1 problems",
    ]
    monkeypatch.setattr("workstation.archive.cache.ORPHAN_GRACE_S", 0.0)
    out = io.StringIO()
    assert cache_command(archive, "verify", out=out) == 1
    assert out.getvalue().splitlines() == [
        f"missing file: {os.path.relpath(files['B'][0], root)}",
        f"not in the index: {os.path.relpath(extra, root)}",
        "2 problems",
    ]
    out = io.StringIO()
    assert cache_command(archive, "verify", fix=True, out=out) == 0
    assert out.getvalue().splitlines() == [
        f"forgotten, its file is missing: {os.path.relpath(files['B'][0], root)}",
        f"deleted: a second copy of an instance: {os.path.relpath(extra, root)}",
        "ok",
    ]
    out = io.StringIO()
    assert cache_command(archive, "verify", out=out) == 0
    assert out.getvalue().splitlines() == ["ok"]
