"""Real peers for the integration tests: Orthanc on loopback and dcmtk's storescu.

``orthanc`` is one Orthanc per test module (fresh storage each module); ``orthanc_fresh`` is one
per test, for tests that stop it or break it. Each fixture stops what it started, by PID.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom.filereader import read_file_meta_info

from workstation.archive.orthanc import DICOMWEB_PLUGIN, OrthancProcess

# storescu proposes uncompressed syntaxes unless told otherwise; a compressed file needs its own
# proposal or dcmtk tries (and fails) to decompress it.
_STORESCU_PROPOSAL = {
    "1.2.840.10008.1.2.4.50": "-xy",  # JPEG baseline
    "1.2.840.10008.1.2.4.51": "-xx",  # JPEG extended
    "1.2.840.10008.1.2.4.57": "-xs",  # JPEG lossless
    "1.2.840.10008.1.2.4.70": "-xs",  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.80": "-xt",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": "-xu",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.90": "-xv",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": "-xw",  # JPEG 2000
    "1.2.840.10008.1.2.5": "-xr",  # RLE
    "1.2.840.10008.1.2.1.99": "-xd",  # deflated
}


def _need(program: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (Debian: orthanc orthanc-dicomweb dcmtk)")


def _start(folder: Path) -> OrthancProcess:
    _need("Orthanc")
    if not DICOMWEB_PLUGIN.exists():
        pytest.skip("the Orthanc DICOMweb plugin is not installed (Debian: orthanc-dicomweb)")
    return OrthancProcess(folder).start()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancProcess]:
    """An Orthanc with DICOMweb for the whole test module, on free loopback ports."""
    o = _start(tmp_path_factory.mktemp("orthanc"))
    try:
        yield o
    finally:
        o.stop(kill=True)  # the storage is thrown away: no need for the 3.5 s clean stop


@pytest.fixture
def orthanc_fresh(tmp_path: Path) -> Iterator[OrthancProcess]:
    """An Orthanc of the test's own, for tests that stop or break it."""
    o = _start(tmp_path / "orthanc")
    try:
        yield o
    finally:
        o.stop(kill=True)  # the storage is thrown away: no need for the 3.5 s clean stop


def storescu_push(
    orthanc: OrthancProcess, paths: Sequence[str | os.PathLike[str]], timeout: float = 120
) -> list[subprocess.CompletedProcess[str]]:
    """C-STORE files to Orthanc with dcmtk's storescu, one run per transfer syntax.

    Fails the test when storescu reports a failure.
    """
    _need("storescu")
    groups: dict[str, list[str]] = {}
    for p in paths:
        ts = str(read_file_meta_info(p).TransferSyntaxUID)
        groups.setdefault(_STORESCU_PROPOSAL.get(ts, ""), []).append(str(p))
    env = dict(os.environ, TCP_NODELAY="1")
    runs = []
    for flag, files in groups.items():
        args = ["storescu", "-aet", "STORESCU", "-aec", orthanc.aet]
        if flag:
            args.append(flag)
        args += ["127.0.0.1", str(orthanc.dicom_port), *files]
        r = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
        assert r.returncode == 0 and "Failed" not in r.stderr, r.stderr[-2000:]
        runs.append(r)
    return runs


@pytest.fixture(scope="session")
def push() -> Callable[..., list[subprocess.CompletedProcess[str]]]:
    """:func:`storescu_push` as a fixture (for module-scoped fixtures too)."""
    return storescu_push


@dataclass(frozen=True)
class LoadedArchive:
    """An Orthanc holding the demo CT head prior (30 slices) and two pydicom samples."""

    orthanc: OrthancProcess
    files: dict[str, Path]  # SOP Instance UID -> the file that was pushed
    ct_study_uid: str
    ct_series_uid: str
    samples_study_uid: str
    mr_series_uid: str  # MR_small.dcm, explicit VR little endian
    jls_series_uid: str  # MR_small_jpeg_ls_lossless.dcm, JPEG-LS lossless
    push_seconds: float

    def series_files(self, series_uid: str) -> list[Path]:
        import pydicom

        return [
            p
            for p in self.files.values()
            if pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID == series_uid
        ]


def write_test_objects(folder: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """The objects the archive tests push, as Part 10 files; returns (files, series UIDs)."""
    from workstation.demo import CT_HEAD_PRIOR, iter_sample_datasets, iter_series_datasets

    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    series: dict[str, str] = {}
    for n, ds in enumerate(iter_series_datasets(CT_HEAD_PRIOR.series[0], CT_HEAD_PRIOR)):
        p = folder / f"ct{n:03d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        files[str(ds.SOPInstanceUID)] = p
        series["ct"] = str(ds.SeriesInstanceUID)
        series["ct_study"] = str(ds.StudyInstanceUID)
    wanted = {"MR_small.dcm": "mr", "MR_small_jpeg_ls_lossless.dcm": "jls"}
    for ds in iter_sample_datasets():
        name = str(ds.SeriesDescription).split(" (")[0]
        if name in wanted:
            p = folder / name
            ds.save_as(p, enforce_file_format=True)
            files[str(ds.SOPInstanceUID)] = p
            series[wanted[name]] = str(ds.SeriesInstanceUID)
            series["samples_study"] = str(ds.StudyInstanceUID)
    assert len(files) == 32 and len(series) == 5
    return files, series


@pytest.fixture(scope="module")
def loaded(orthanc: OrthancProcess, tmp_path_factory: pytest.TempPathFactory) -> LoadedArchive:
    """The module's Orthanc with the test objects pushed by storescu (a real C-STORE peer)."""
    files, series = write_test_objects(tmp_path_factory.mktemp("pushed"))
    started = time.perf_counter()
    storescu_push(orthanc, list(files.values()))
    return LoadedArchive(
        orthanc=orthanc,
        files=files,
        ct_study_uid=series["ct_study"],
        ct_series_uid=series["ct"],
        samples_study_uid=series["samples_study"],
        mr_series_uid=series["mr"],
        jls_series_uid=series["jls"],
        push_seconds=time.perf_counter() - started,
    )
