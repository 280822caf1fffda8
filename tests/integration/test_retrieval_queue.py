"""The retrieval queue against a real Orthanc: progressive order, priorities, priors, retries."""

from __future__ import annotations

import copy
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from workstation.archive.dicomweb import DicomWebClient
from workstation.archive.local import LocalArchive
from workstation.archive.orthanc import DICOMWEB_PLUGIN, OrthancProcess, free_port
from workstation.archive.progressive import bisection_order
from workstation.archive.queue import JobState, Priority, RetrievalQueue, TokenBucket
from workstation.core.settings import ArchiveConfig
from workstation.demo import CT_HEAD_PRIOR, generate_slice, iter_series_datasets

PRIOR_SERIES = CT_HEAD_PRIOR.series[0]
SLICE_BYTES = 512 * 512 * 2


@dataclass(frozen=True)
class _Spec:
    """A small study made from the demo head prior's slices with identifiers of its own."""

    key: str
    patient_id: str
    issuer: str
    date: str
    modality: str
    body_part: str
    slices: int

    @property
    def study_uid(self) -> str:
        return generate_uid(entropy_srcs=["queue-test", self.key, "study"])

    @property
    def series_uid(self) -> str:
        return generate_uid(entropy_srcs=["queue-test", self.key, "series"])


# Patient A (QTEST-A from issuer QTEST) has a current CT head and several other studies;
# the same Patient ID from another issuer is another person.
A0 = _Spec("A0", "QTEST-A", "QTEST", "20261120", "CT", "HEAD", 12)  # the study to read
A1 = _Spec("A1", "QTEST-A", "QTEST", "20251101", "CT", "HEAD", 6)  # latest relevant prior
A5 = _Spec("A5", "QTEST-A", "QTEST", "20250601", "MR", "HEAD", 3)  # relevant by body part
A2 = _Spec("A2", "QTEST-A", "QTEST", "20240101", "CT", "HEAD", 4)  # older relevant prior
A3 = _Spec("A3", "QTEST-A", "QTEST", "20260301", "DX", "CHEST", 3)  # not relevant
A4 = _Spec("A4", "QTEST-A", "QTEST", "20261201", "CT", "HEAD", 3)  # later: not a prior
X1 = _Spec("X1", "QTEST-A", "OTHER", "20260601", "CT", "HEAD", 3)  # another patient
B0 = _Spec("B0", "QTEST-B", "QTEST", "20261120", "CT", "CHEST", 6)  # no priors
SPECS = (A0, A1, A5, A2, A3, A4, X1, B0)


def _write(spec: _Spec, base: list[pydicom.Dataset], folder: Path) -> list[Path]:
    paths = []
    for k in range(spec.slices):
        ds = copy.deepcopy(base[k])
        sop = generate_uid(entropy_srcs=["queue-test", spec.key, str(k)])
        ds.PatientID = spec.patient_id
        ds.IssuerOfPatientID = spec.issuer
        ds.StudyInstanceUID = spec.study_uid
        ds.SeriesInstanceUID = spec.series_uid
        ds.SOPInstanceUID = sop
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.StudyDate = ds.SeriesDate = spec.date
        ds.Modality = spec.modality
        ds.BodyPartExamined = spec.body_part
        ds.InstanceNumber = k + 1
        ds.AccessionNumber = f"ACC-{spec.key}"
        p = folder / f"{spec.key}-{k:03d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
    return paths


@dataclass(frozen=True)
class Archive:
    orthanc: OrthancProcess
    prior_files: dict[str, Path]  # SOP Instance UID -> file of the demo head prior

    def config(self, **kw: object) -> ArchiveConfig:
        return ArchiveConfig(name="orthanc", dicomweb_url=self.orthanc.urls.dicomweb, **kw)


def _stow(orthanc: OrthancProcess, paths: list[Path]) -> None:
    with DicomWebClient(ArchiveConfig(name="o", dicomweb_url=orthanc.urls.dicomweb)) as c:
        result = c.store_instances(paths)
    assert len(result.stored) == len(paths) and not result.failed


@pytest.fixture(scope="module")
def archive(orthanc: OrthancProcess, tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """The module's Orthanc with the demo head prior (30 slices) and the small studies above."""
    folder = tmp_path_factory.mktemp("queue-objects")
    base = list(iter_series_datasets(PRIOR_SERIES, CT_HEAD_PRIOR))
    prior_files = {}
    for k, ds in enumerate(base):
        p = folder / f"prior-{k:03d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        prior_files[str(ds.SOPInstanceUID)] = p
    paths = list(prior_files.values())
    for spec in SPECS:
        paths += _write(spec, base, folder)
    _stow(orthanc, paths)
    return Archive(orthanc, prior_files)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalArchive]:
    s = LocalArchive(tmp_path / "store")
    try:
        yield s
    finally:
        s.close()


def _pixels(path: Path) -> bytes:
    return pydicom.dcmread(path).PixelData


def test_first_image_is_the_middle_slice_and_arrives_before_the_series_is_complete(archive, store):
    seen: list[tuple[str, int, int, list[str]]] = []
    arrivals: list[str] = []
    with RetrievalQueue(archive.config(), store, foreground_streams=1) as queue:

        def on_first(job, series_uid, sop_uid):
            progress = job.series[0]
            in_store = [i.sop_instance_uid for i in store.instances(series_uid)]
            seen.append((sop_uid, progress.received, progress.expected, in_store))

        queue.first_image.connect(on_first)
        queue.instance_stored.connect(lambda job, series, sop: arrivals.append(sop))
        job = queue.open_study(CT_HEAD_PRIOR.study_instance_uid)
        assert job.wait(30)
    stack = list(archive.prior_files)  # SOP Instance UIDs in slice order, z ascending
    middle = stack[15]
    assert middle == str(generate_slice(PRIOR_SERIES, 15, CT_HEAD_PRIOR).SOPInstanceUID)
    # One first-image event, for the middle slice (index 30 // 2, z = +2.5 mm), when it was
    # the only instance of the series in the store: 1 of 30, not complete.
    assert seen == [(middle, 1, 30, [middle])]
    assert job.first_image == (PRIOR_SERIES.series_instance_uid, middle)
    assert job.state is JobState.COMPLETE, job.error
    assert [(s.received, s.expected, s.complete) for s in job.series] == [(30, 30, True)]
    # With one stream the arrivals follow the bisection order of the stack exactly.
    assert arrivals == [stack[k] for k in bisection_order(30)]
    assert job.first_image_at is not None and job.finished_at is not None
    assert job.created_at <= job.first_image_at < job.finished_at
    for inst in store.instances(PRIOR_SERIES.series_instance_uid):
        assert _pixels(store.path_of(inst)) == _pixels(archive.prior_files[inst.sop_instance_uid])
    assert list(store.tmp_dir.iterdir()) == []


def test_relevant_priors_same_patient_and_issuer_latest_first(archive, store):
    with RetrievalQueue(archive.config(), store, start=False) as queue:
        got = [s.study_instance_uid for s in queue.relevant_priors(A0.study_uid, 5)]
        assert got == [A1.study_uid, A5.study_uid, A2.study_uid]
        assert [s.study_instance_uid for s in queue.relevant_priors(A0.study_uid, 1)] == [
            A1.study_uid
        ]
        assert queue.relevant_priors(B0.study_uid, 3) == []


def test_prefetch_of_two_worklist_studies_also_fetches_their_prior(archive, store):
    with RetrievalQueue(archive.config(), store) as queue:
        jobs = queue.prefetch([A0.study_uid, B0.study_uid], priors_per_study=1)
        assert [(j.study_instance_uid, j.priority) for j in jobs] == [
            (A0.study_uid, Priority.PREFETCH),
            (B0.study_uid, Priority.PREFETCH),
            (A1.study_uid, Priority.PRIOR),
        ]
        assert queue.wait_idle(30)
        assert queue.forget_finished() == 3 and queue.jobs() == []
    for job, spec in zip(jobs, (A0, B0, A1), strict=True):
        assert job.state is JobState.COMPLETE, job.error
        assert [(s.received, s.expected, s.complete) for s in job.series] == [
            (spec.slices, spec.slices, True)
        ]
    # One background worker (the other is kept for the foreground): in priority order.
    assert jobs[0].finished_at <= jobs[1].started_at and jobs[1].finished_at <= jobs[2].started_at
    assert {s.study_instance_uid for s in store.studies()} == {
        A0.study_uid,
        B0.study_uid,
        A1.study_uid,
    }


def _spy_instance_lists(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The series whose instance list (QIDO-RS at instance level) the queue asks Orthanc for;
    the real request still goes out."""
    asked: list[str] = []
    real = DicomWebClient.search_instances

    def search_instances(self, study_uid: str, series_uid: str):  # type: ignore[no-untyped-def]
        asked.append(series_uid)
        return real(self, study_uid, series_uid)

    monkeypatch.setattr(DicomWebClient, "search_instances", search_instances)
    return asked


def test_a_background_job_into_an_empty_store_goes_by_the_count(archive, store, monkeypatch):
    """No instance list for a series the store holds none of: its count decides, and every
    instance arrives (UIDs exactly the archive's)."""
    asked = _spy_instance_lists(monkeypatch)
    with RetrievalQueue(archive.config(), store) as queue:
        job = queue.enqueue(A0.study_uid, Priority.PREFETCH)
        assert job.wait(30)
    assert job.state is JobState.COMPLETE, job.error
    assert [(s.received, s.expected, s.complete) for s in job.series] == [(12, 12, True)]
    assert asked == []
    expected = {generate_uid(entropy_srcs=["queue-test", "A0", str(k)]) for k in range(12)}
    assert {i.sop_instance_uid for i in store.instances(A0.series_uid)} == expected


def test_a_background_job_on_a_partly_held_series_lists_it(archive, store, monkeypatch, tmp_path):
    """Two of A1's six instances are local already: the list names the four to fetch."""
    base = list(iter_series_datasets(PRIOR_SERIES, CT_HEAD_PRIOR))[: A1.slices]
    paths = _write(A1, base, tmp_path)
    store.import_paths(paths[:2])
    asked = _spy_instance_lists(monkeypatch)
    with RetrievalQueue(archive.config(), store) as queue:
        job = queue.enqueue(A1.study_uid, Priority.PREFETCH)
        assert job.wait(30)
    assert job.state is JobState.COMPLETE, job.error
    assert [(s.received, s.expected, s.complete) for s in job.series] == [(6, 6, True)]
    assert asked == [A1.series_uid]
    for p in paths:
        ds = pydicom.dcmread(p)
        stored = store.path_of(
            next(
                i for i in store.instances(A1.series_uid) if i.sop_instance_uid == ds.SOPInstanceUID
            )
        )
        assert _pixels(stored) == _pixels(p)


def test_foreground_job_overtakes_queued_prefetch_and_gets_most_of_the_link(archive, store):
    rate = 8e6
    share = 0.25
    p1_bytes: dict[str, int] = {}
    with RetrievalQueue(
        archive.config(), store, bandwidth_bytes_per_s=rate, prefetch_share=share
    ) as queue:
        p1, p2, p3 = (queue.enqueue(s.study_uid, Priority.PREFETCH) for s in (A0, A1, A2))
        deadline = time.monotonic() + 10
        while p1.bytes_received == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert p1.state is JobState.RUNNING and p2.state is JobState.QUEUED

        def on_change(job):
            if job.study_instance_uid == B0.study_uid and job.state in (
                JobState.RUNNING,
                JobState.COMPLETE,
            ):
                p1_bytes[job.state.value] = p1.bytes_received

        queue.job_changed.connect(on_change)
        fg = queue.open_study(B0.study_uid)
        assert queue.wait_idle(30)
    assert [j.state for j in (p1, p2, p3, fg)] == [JobState.COMPLETE] * 4
    assert fg.progressive and not p1.progressive
    # The foreground started while P1 ran, before P2 and P3 that were queued earlier.
    assert fg.started_at < p1.finished_at
    assert fg.started_at < p2.started_at < p3.started_at
    # While it ran, P1 got at most its share of the link (plus one bucket's burst and chunk).
    fg_seconds = fg.finished_at - fg.started_at
    bound = share * rate * fg_seconds + TokenBucket(share * rate).burst + 64 * 1024
    assert p1_bytes["complete"] - p1_bytes["running"] <= bound
    assert fg.bytes_received >= B0.slices * SLICE_BYTES


def test_open_study_raises_a_queued_prefetch_job_in_place(archive, store):
    queue = RetrievalQueue(archive.config(), store, start=False)
    try:
        job = queue.enqueue(A0.study_uid, Priority.PRIOR)
        assert (job.priority, job.progressive) == (Priority.PRIOR, False)
        assert queue.enqueue(A0.study_uid, Priority.PREFETCH) is job
        assert queue.open_study(A0.study_uid) is job
        assert (job.priority, job.progressive) == (Priority.FOREGROUND, True)
        assert queue.enqueue(A0.study_uid, Priority.PRIOR) is job  # never lowered
        queue.start()
        assert job.wait(30)
        assert job.state is JobState.COMPLETE and len(queue.jobs()) == 1
    finally:
        queue.close()


def test_cancelled_job_stops_and_never_reports_complete(archive, store):
    with RetrievalQueue(archive.config(), store, bandwidth_bytes_per_s=2e6) as queue:
        got_some = threading.Event()
        queue.instance_stored.connect(lambda job, series, sop: got_some.set())
        job = queue.open_study(A0.study_uid)
        assert got_some.wait(10)
        job.cancel()
        assert job.wait(10)
    assert job.state is JobState.CANCELLED
    (progress,) = job.series
    held = len(store.instances(A0.series_uid))
    assert 1 <= held < A0.slices
    assert (progress.expected, progress.complete) == (A0.slices, False)
    assert progress.received <= held
    assert list(store.tmp_dir.iterdir()) == []


def test_a_study_the_archive_lacks_fails_at_once_without_retries(archive, store):
    with RetrievalQueue(archive.config(), store, retry_first_s=0.05) as queue:
        job = queue.open_study("1.2.826.0.1.3680043.10.999.404")
        assert job.wait(10)
    assert (job.state, job.attempts) == (JobState.FAILED, 0)
    assert "lists no series" in job.error


def test_retries_resume_after_orthanc_is_stopped_and_restarted(tmp_path, store):
    if shutil.which("Orthanc") is None or not DICOMWEB_PLUGIN.exists():
        pytest.skip("Orthanc with its DICOMweb plugin is not installed")
    orthanc = OrthancProcess(tmp_path / "orthanc", http_port=free_port(), dicom_port=free_port())
    orthanc.start()
    try:
        folder = tmp_path / "objects"
        folder.mkdir()
        files = {}
        for ds in iter_series_datasets(PRIOR_SERIES, CT_HEAD_PRIOR):
            p = folder / f"{ds.SOPInstanceUID}.dcm"
            ds.save_as(p, enforce_file_format=True)
            files[str(ds.SOPInstanceUID)] = p
        _stow(orthanc, list(files.values()))
        started = time.monotonic()
        retried = threading.Event()
        enough = threading.Event()
        config = ArchiveConfig(name="o", dicomweb_url=orthanc.urls.dicomweb, connect_timeout_s=1)
        with RetrievalQueue(
            config,
            store,
            foreground_streams=1,
            bandwidth_bytes_per_s=5e6,
            retry_first_s=0.2,
            retry_max_s=1.0,
            max_retries=100,
        ) as queue:
            queue.retrying.connect(lambda *a: retried.set())
            queue.instance_stored.connect(
                lambda job, s, sop: enough.set() if job.series[0].received >= 5 else None
            )
            job = queue.open_study(CT_HEAD_PRIOR.study_instance_uid)
            assert enough.wait(15)
            orthanc.stop(kill=True)
            assert retried.wait(10)
            assert job.state is JobState.RETRY_WAIT
            time.sleep(0.7)  # retries after 0.2 and 0.4 s find the archive away
            assert job.state is JobState.RETRY_WAIT and job.attempts >= 2
            assert "connection refused" in job.error
            held = len(store.instances(PRIOR_SERIES.series_instance_uid))
            assert 5 <= held < 30
            assert job.series[0].complete is False
            orthanc.start()
            assert job.wait(25)
        assert job.state is JobState.COMPLETE, job.error
        assert job.attempts >= 1
        assert time.monotonic() - started < 30
        assert [(s.received, s.expected, s.complete) for s in job.series] == [(30, 30, True)]
        for inst in store.instances(PRIOR_SERIES.series_instance_uid):
            assert _pixels(store.path_of(inst)) == _pixels(files[inst.sop_instance_uid])
    finally:
        orthanc.stop(kill=True)


def test_token_bucket_passes_its_burst_at_once_then_holds_to_its_rate():
    bucket = TokenBucket(2_000_000, burst_bytes=500_000)
    started = time.monotonic()
    assert bucket.take(500_000)  # the burst: no wait
    assert time.monotonic() - started < 0.05
    stop = threading.Event()
    assert bucket.take(1_000_000, stop)  # 1 MB of debt at 2 MB/s: half a second
    assert 0.45 <= time.monotonic() - started <= 0.8
    stop.set()
    assert bucket.take(1_000_000, stop) is False  # a set stop event ends the wait at once
    assert time.monotonic() - started <= 0.9


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"workers": 0}, "workers must be"),
        ({"foreground_streams": 0}, "foreground_streams must be"),
        ({"prefetch_share": 0.0}, "prefetch_share must lie"),
        ({"bandwidth_bytes_per_s": -1.0}, "bandwidth must be positive"),
        ({"retry_first_s": 5.0, "retry_max_s": 1.0}, "retry delays"),
    ],
)
def test_queue_rejects_bad_settings(tmp_path, kw, message):
    store = LocalArchive(tmp_path / "store")
    config = ArchiveConfig(name="o", dicomweb_url="http://127.0.0.1:9/dicom-web")
    with pytest.raises(ValueError, match=message):
        RetrievalQueue(config, store, **kw)
    store.close()
