"""The retrieval queue on a DIMSE-only archive (C-FIND + C-GET, PS3.4 C.6.2, C.4.3) against a
real Orthanc: middle slice first, per-series progress, completeness against the IMAGE-level
C-FIND list, resume of what is missing, cancel, retries then a clear failure on a dead peer.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pydicom
import pytest

from workstation.archive.local import LocalArchive
from workstation.archive.queue import JobState, Priority, RetrievalQueue, SeriesProgress
from workstation.core.settings import ArchiveConfig, DimseConfig
from workstation.demo import CT_HEAD_PRIOR, generate_slice

SERIES = CT_HEAD_PRIOR.series[0].series_instance_uid
MIDDLE = str(generate_slice(CT_HEAD_PRIOR.series[0], 15, CT_HEAD_PRIOR).SOPInstanceUID)


def _config(orthanc, **kw: object) -> ArchiveConfig:
    peer = DimseConfig("127.0.0.1", orthanc.dicom_port, orthanc.aet)
    return ArchiveConfig(name="pacs", dimse=peer, **kw)


@pytest.fixture
def store(tmp_path: Path):
    s = LocalArchive(tmp_path / "store")
    yield s
    s.close()


def _pixels(path: Path) -> bytes:
    return pydicom.dcmread(path).PixelData


def _assert_same_as_pushed(loaded, store: LocalArchive, series_uid: str) -> None:
    pushed = {
        str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p
        for p in loaded.series_files(series_uid)
    }
    stored = store.instances(series_uid)
    assert sorted(i.sop_instance_uid for i in stored) == sorted(pushed)
    for inst in stored:
        assert _pixels(store.path_of(inst)) == _pixels(pushed[inst.sop_instance_uid])


def test_which_protocol_the_queue_uses(loaded, store):
    both = _config(loaded.orthanc, dicomweb_url=loaded.orthanc.urls.dicomweb)
    with RetrievalQueue(both, store, start=False) as q:
        assert q.via == "wado-rs"  # DICOMweb stays the default when both are set
    with RetrievalQueue(_config(loaded.orthanc), store, start=False) as q:
        assert q.via == "c-get"
    with pytest.raises(ValueError, match="neither a dicomweb_url nor"):
        RetrievalQueue(ArchiveConfig(name="none"), store)


def test_foreground_c_get_middle_first_then_complete(loaded, store):
    events: list[tuple[str, str]] = []
    progress: list[SeriesProgress] = []
    with RetrievalQueue(_config(loaded.orthanc), store) as queue:
        queue.first_image.connect(lambda job, s, sop: events.append(("first", sop)))
        queue.instance_stored.connect(lambda job, s, sop: events.append(("stored", sop)))
        queue.series_progress.connect(
            lambda job, p: progress.append(p) if p.series_instance_uid == SERIES else None
        )
        job = queue.open_study(loaded.ct_study_uid)
        assert job.wait(30)
    assert job.state is JobState.COMPLETE, job.error
    assert job.first_image == (SERIES, MIDDLE)
    assert events[:2] == [("first", MIDDLE), ("stored", MIDDLE)]
    assert len([e for e in events if e[0] == "stored"]) == 30
    assert job.series == [SeriesProgress(SERIES, 1, "CT", 30, 30, True)]
    received = [p.received for p in progress]
    assert received == sorted(received) and received[0] == 0 and received[-1] == 30
    assert [p.complete for p in progress].count(True) >= 1 and progress[-1].complete
    assert not any(p.complete for p in progress if p.received < 30)
    assert job.bytes_received > 30 * 512 * 512 * 2
    _assert_same_as_pushed(loaded, store, SERIES)


def test_background_job_gets_each_series_whole_as_stored(loaded, store):
    with RetrievalQueue(_config(loaded.orthanc), store) as queue:
        job = queue.enqueue(loaded.samples_study_uid, Priority.PREFETCH)
        assert job.wait(30)
    assert job.state is JobState.COMPLETE, job.error
    assert sorted((p.received, p.expected, p.complete) for p in job.series) == [
        (1, 1, True),
        (1, 1, True),
    ]
    _assert_same_as_pushed(loaded, store, loaded.mr_series_uid)
    _assert_same_as_pushed(loaded, store, loaded.jls_series_uid)
    # The JPEG-LS file stays JPEG-LS (lossless policy, PS3.5 A.4.3): nothing re-encoded.
    (jls,) = store.instances(loaded.jls_series_uid)
    meta = pydicom.dcmread(store.path_of(jls), stop_before_pixels=True).file_meta
    assert str(meta.TransferSyntaxUID) == "1.2.840.10008.1.2.4.80"


def test_a_retry_fetches_only_what_is_missing(loaded, store):
    for p in sorted(loaded.series_files(SERIES))[:5]:
        assert store.ingest_file(_copy_into_tmp(store, p))
    store.commit()
    stored: list[str] = []
    with RetrievalQueue(_config(loaded.orthanc), store) as queue:
        queue.instance_stored.connect(lambda job, s, sop: stored.append(sop))
        job = queue.open_study(loaded.ct_study_uid)
        assert job.wait(30)
    assert job.state is JobState.COMPLETE, job.error
    assert len(stored) == 25 and len(set(stored)) == 25
    assert job.first_image is not None and job.first_image[1] not in stored  # already here
    _assert_same_as_pushed(loaded, store, SERIES)


def _copy_into_tmp(store: LocalArchive, path: Path) -> Path:
    target = store.tmp_dir / f"seed-{path.name}"
    target.write_bytes(path.read_bytes())
    return target


def test_cancel_ends_a_c_get_part_way(loaded, store):
    enough = threading.Event()
    # 2 MB/s: 30 slices of 0.5 MB take about 8 s, so the job is cancelled part way.
    with RetrievalQueue(_config(loaded.orthanc), store, bandwidth_bytes_per_s=2e6) as queue:
        queue.instance_stored.connect(
            lambda job, s, sop: enough.set() if job.series[0].received >= 5 else None
        )
        job = queue.enqueue(loaded.ct_study_uid, Priority.PREFETCH)
        assert enough.wait(15)
        started = time.monotonic()
        job.cancel()
        assert job.wait(5)
        assert time.monotonic() - started < 2.0
    assert job.state is JobState.CANCELLED
    held = len(store.instances(SERIES))
    assert 5 <= held < 30
    assert job.series[0].complete is False and job.series[0].expected == 30


def test_a_dead_peer_retries_with_back_off_then_fails_clearly(orthanc_fresh, store):
    config = _config(orthanc_fresh, connect_timeout_s=1)
    port = orthanc_fresh.dicom_port
    orthanc_fresh.stop(kill=True)
    delays: list[tuple[int, float]] = []
    with RetrievalQueue(config, store, retry_first_s=0.05, retry_max_s=0.1, max_retries=2) as queue:
        queue.retrying.connect(lambda job, n, d, m: delays.append((n, d)))
        job = queue.open_study(CT_HEAD_PRIOR.study_instance_uid)
        assert job.wait(10)
    assert job.state is JobState.FAILED and job.attempts == 3
    assert delays == [(1, 0.05), (2, 0.1)]
    assert job.error == (
        f"connection refused at 127.0.0.1:{port}: is the archive's DICOM port right and is it "
        "running? (gave up after 3 tries)"
    )
