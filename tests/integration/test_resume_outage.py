"""An archive outage in the middle of a retrieval, then a resume that fetches only what is missing.

The demo CT head (150 slices of 512 x 512, 79 MB) is pushed to a real Orthanc with storescu.
A retrieval (WADO-RS, C-GET, C-MOVE) is cut by killing Orthanc once N instances have arrived (from
the retrieval's own progress callback, so the cut point is deterministic). Then: the error is a
RetrieveError carrying the partial result, the store holds only whole instances, the series is
not complete; Orthanc restarts on the same storage and ports, and the next retrieval brings
exactly the missing instances, after which the series is complete.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pydicom
import pytest

from workstation.archive.dicomweb import DicomWebClient
from workstation.archive.dimse import DimseClient
from workstation.archive.local import LocalArchive
from workstation.archive.orthanc import DICOMWEB_PLUGIN, OrthancProcess, free_port
from workstation.archive.remote import RemoteError, RetrieveError, RetrieveResult
from workstation.archive.scp import ReceivedInstance, StorageScp
from workstation.core.settings import ArchiveConfig, DimseConfig

WS = "WS"
SLICES = 150


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The demo CT head as Part 10 files, and each instance's pixel bytes by SOP Instance UID."""
    from workstation.demo import CT_HEAD, iter_series_datasets

    folder = tmp_path_factory.mktemp("ct-head")
    files: dict[str, Path] = {}
    pixels: dict[str, bytes] = {}
    for n, ds in enumerate(iter_series_datasets(CT_HEAD.series[0], CT_HEAD)):
        p = folder / f"{n:03d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        files[str(ds.SOPInstanceUID)] = p
        pixels[str(ds.SOPInstanceUID)] = bytes(ds.PixelData)
    assert len(files) == SLICES
    return SimpleNamespace(
        files=files,
        pixels=pixels,
        study=CT_HEAD.study_instance_uid,
        series=CT_HEAD.series[0].series_instance_uid,
    )


@pytest.fixture
def archive(tmp_path: Path, head, push):
    """An Orthanc on fixed ports (so it can come back on them) holding the CT head."""
    if shutil.which("Orthanc") is None or not DICOMWEB_PLUGIN.exists():
        pytest.skip("Orthanc with its DICOMweb plugin is not installed")
    scp_port = free_port()
    orthanc = OrthancProcess(
        tmp_path / "orthanc",
        http_port=free_port(),
        dicom_port=free_port(),
        modalities={WS: [WS, "127.0.0.1", scp_port]},
    ).start()
    try:
        push(orthanc, list(head.files.values()))
        yield SimpleNamespace(orthanc=orthanc, scp_port=scp_port)
    finally:
        orthanc.stop(kill=True)


class StopArchiveAfter:
    """A progress callback that kills the archive (SIGKILL: an outage, not a clean stop) the
    first time ``n`` instances are reported done."""

    def __init__(self, orthanc: OrthancProcess, n: int) -> None:
        self.orthanc, self.n = orthanc, n
        self.stopped_at: int | None = None
        self.calls: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))
        if self.stopped_at is None and done >= self.n:
            self.stopped_at = done
            self.orthanc.stop(kill=True)


def assert_whole_instances(store: LocalArchive, head: SimpleNamespace) -> set[str]:
    """Every stored instance is complete and equal to what was pushed; returns their UIDs."""
    have = set()
    for inst in store.instances(head.series):
        path = store.path_of(inst)
        assert path.stat().st_size == inst.file_size
        assert pydicom.dcmread(path).PixelData == head.pixels[inst.sop_instance_uid]
        have.add(inst.sop_instance_uid)
    assert not [p.name for p in store.tmp_dir.iterdir()]  # no half-written part left behind
    return have


def outage_then_resume(
    archive: SimpleNamespace,
    head: SimpleNamespace,
    store: LocalArchive,
    retrieve: Callable[[Callable[[int, int], None] | None], RetrieveResult],
    stop_after: int,
    settle: Callable[[], object] | None = None,
    late: int = 0,
    names_missing: bool = True,
    missing_after_cut: set[str] | None = None,
) -> tuple[RetrieveResult, RetrieveResult]:
    """Cut a retrieval by an outage, check the partial state, restart, resume; both results.

    ``settle`` waits for a receiver on another thread (our SCP) to finish; up to ``late``
    objects may land there after the retrieval has reported. Without ``names_missing`` the
    cut result has the archive's count but no instance list (a fresh WADO-RS retrieve asks
    for the count only; the archive is gone before the list could be asked for).
    """
    stopper = StopArchiveAfter(archive.orthanc, stop_after)
    with pytest.raises(RetrieveError) as info:
        retrieve(stopper)
    assert stopper.stopped_at is not None
    cut = info.value.result
    assert isinstance(info.value, RemoteError)
    assert (cut.expected, cut.complete) == (SLICES, False)
    if settle is not None:
        settle()
    have = assert_whole_instances(store, head)
    if names_missing:
        assert len(cut.missing) > 0
        assert cut.received == SLICES - len(cut.missing) >= stopper.stopped_at
        assert set(head.files) - have <= set(cut.missing)
    else:
        assert cut.missing == ()
        assert SLICES > cut.received >= stopper.stopped_at
    assert cut.received <= len(have) <= cut.received + late
    missing_before = set(head.files) - have
    if missing_after_cut is not None:
        missing_after_cut.update(missing_before)
    # The archive comes back on the same storage folder and the same ports.
    archive.orthanc.start()
    resumed = retrieve(None)
    assert resumed.complete and resumed.missing == ()
    assert (resumed.already_present, resumed.received) == (len(have), len(missing_before))
    assert assert_whole_instances(store, head) == set(head.files)
    return cut, resumed


def test_wado_rs_resumes_with_only_the_missing_instances(archive, head, tmp_path, artifact_dir):
    store = LocalArchive(tmp_path / "store")
    config = ArchiveConfig(name="orthanc", dicomweb_url=archive.orthanc.urls.dicomweb)
    missing: set[str] = set()
    with DicomWebClient(config) as client:
        cut, resumed = outage_then_resume(
            archive,
            head,
            store,
            lambda progress: client.retrieve_series(head.study, head.series, store, progress),
            stop_after=96,  # progress comes every 32 parts; more than half is in when it stops
            names_missing=False,
            missing_after_cut=missing,
        )
    # Only the missing instances crossed the wire: the bytes of the resume are exactly the
    # bytes of the files it stored.
    assert len(missing) == SLICES - cut.received == resumed.received
    formerly_missing = [i for i in store.instances(head.series) if i.sop_instance_uid in missing]
    assert resumed.bytes_received == sum(i.file_size for i in formerly_missing)
    _write_timing(artifact_dir, "wado", cut, resumed)
    store.close()


def test_c_get_resumes_and_counts_only_the_missing_instances(archive, head, tmp_path, artifact_dir):
    store = LocalArchive(tmp_path / "store")
    peer = DimseConfig("127.0.0.1", archive.orthanc.dicom_port, archive.orthanc.aet)
    client = DimseClient(ArchiveConfig(name="orthanc", dimse=peer))
    cut, resumed = outage_then_resume(
        archive,
        head,
        store,
        lambda progress: client.get_series(head.study, head.series, store, progress),
        stop_after=60,  # progress comes for every object on a C-GET
    )
    # get_series asks for the whole series again: Orthanc sends all 150 objects and the store
    # keeps only those it lacked (outage_then_resume counted them).
    _write_timing(artifact_dir, "cget", cut, resumed)
    store.close()


def test_c_move_resumes_with_only_the_missing_instances(archive, head, tmp_path, artifact_dir):
    store = LocalArchive(tmp_path / "store")
    events: list[ReceivedInstance] = []
    peer = DimseConfig(
        "127.0.0.1", archive.orthanc.dicom_port, archive.orthanc.aet, our_ae_title=WS
    )
    client = DimseClient(ArchiveConfig(name="orthanc", dimse=peer))
    with StorageScp(store, WS, archive.scp_port, on_received=events.append) as scp:
        cut, resumed = outage_then_resume(
            archive,
            head,
            store,
            lambda progress: client.move_series(head.study, head.series, store, progress),
            stop_after=60,  # pending C-MOVE responses report every sub-operation
            settle=lambda: scp.wait_idle(10.0),
            late=1,  # the object the archive was sending when it died may still land
        )
        # The resume was an IMAGE-level move of exactly the missing UIDs: nothing came twice.
        arrived_after = [e.sop_instance_uid for e in events[SLICES - resumed.received :]]
        assert len(arrived_after) == resumed.received
        assert set(arrived_after) <= set(cut.missing)
        assert scp.stats.duplicates == 0 and scp.stats.stored == SLICES
    _write_timing(artifact_dir, "cmove", cut, resumed)
    store.close()


def _write_timing(
    artifact_dir: Path, via: str, cut: RetrieveResult, resumed: RetrieveResult
) -> None:
    line = (
        f"{time.strftime('%Y-%m-%d %H:%M:%S')} {via}: cut after {cut.received}/{SLICES} in "
        f"{cut.seconds:.2f} s; resume of {resumed.received} in {resumed.seconds:.2f} s "
        f"({resumed.bytes_received / 1e6:.1f} MB)\n"
    )
    with open(artifact_dir / "resume_outage_timings.txt", "a", encoding="utf-8") as fp:
        fp.write(line)
