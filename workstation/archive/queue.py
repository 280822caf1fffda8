"""A retrieval queue: studies from a DICOMweb or DIMSE archive into the local store, by priority.

Three kinds of job, most urgent first (:class:`Priority`): the study being read (fetched
instance by instance in progressive order, so its first image is up at once), worklist
prefetch, then the priors of worklist studies. Background jobs fetch whole series as one
WADO-RS multipart answer (PS3.18 10.4.1.1.3); the foreground job asks for single instances
(PS3.18 10.4.1.1.4) in the order of :mod:`workstation.archive.progressive`. An archive
reached by DIMSE only (no DICOMweb URL) is listed by C-FIND and retrieved by C-GET (PS3.4 C.4.3,
as ``workstation retrieve`` does by default): the foreground job first asks for each series'
middle instance by an IMAGE-level C-GET, then for the rest of the series in progressive order
in one IMAGE-level C-GET (the archive sends in its own order); background jobs get each series
whole. With both, DICOMweb is used.

Worker threads do the work; nothing here imports Qt. The queue reports through
:class:`~workstation.core.events.Event` attributes whose callbacks run on a worker thread: a
UI marshals them to its own thread (e.g. a queued Qt signal). One worker is kept free for
the foreground while there are two or more, so the study being read never waits behind
prefetch; a byte token bucket caps the total rate, and while a foreground job runs,
background jobs get at most ``prefetch_share`` of the link.

A series counts as complete only when every SOP Instance UID the archive lists for it is in
the store and their number reaches the archive's NumberOfSeriesRelatedInstances (PS3.4
C.3.3), never earlier (DESIGN.md, "What must never happen"). A :class:`RemoteError` (the
archive is away, a transfer was cut) puts the job back in the queue with a growing delay; a
retry fetches only what is still missing.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import enum
import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from workstation.archive.dicomweb import (
    HEAD_KEPT,
    DicomWebClient,
    body_chunks,
    instance_from_json,
)
from workstation.archive.dimse import DimseClient
from workstation.archive.multipart import (
    MultipartError,
    Part,
    boundary_of,
    dicom_media_type,
    read_parts_to_files,
)
from workstation.archive.progressive import progressive_order
from workstation.archive.remote import RemoteError, RemoteInstance, at_once, local_sop_uids
from workstation.core.errors import InvalidDicomError, NotFoundError, WorkstationError
from workstation.core.events import Event
from workstation.core.model import Series, Study

if TYPE_CHECKING:
    from workstation.archive.local import LocalArchive
    from workstation.core.settings import ArchiveConfig

log = logging.getLogger(__name__)

# Bytes per read at most: each read hands on what one read of the connection gave, so a slow
# link is cancelled in small steps and a fast one read in large ones (300 CT slices on
# loopback: the background job at 0.7 of the client's speed with fixed 64 KB reads, at the
# client's with these). A throttled transfer (a bandwidth cap, or prefetch while a foreground
# job runs) reads at most _THROTTLED_CHUNK: a read is paid for after it arrived.
_CHUNK = 1 << 20
_THROTTLED_CHUNK = 64 * 1024
# Parts of a series answer stored per index commit: few enough that the archive goes on
# sending while a batch is indexed (as the client's; 300 CT slices on loopback, background
# job: 0.66 of curl's speed at 8 against 0.61 at 16, paired medians of 11).
_INGEST_BATCH = 8
_MIN_BURST = 256 * 1024
_METER_WINDOW_S = 0.5
_NON_IMAGE_MODALITIES = frozenset({"SR", "KO", "PR", "DOC", "REG", "SEG", "RWV", "OT"})
_WHAT = "a retrieve (WADO-RS)"


class Priority(enum.IntEnum):
    """Job priority, most urgent first: the study being read, worklist prefetch, priors."""

    FOREGROUND = 0
    PREFETCH = 1
    PRIOR = 2


class JobState(enum.Enum):
    """Where a job stands; COMPLETE, INCOMPLETE, FAILED and CANCELLED are final."""

    QUEUED = "queued"
    RUNNING = "running"
    RETRY_WAIT = "waiting to retry"
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({JobState.COMPLETE, JobState.INCOMPLETE, JobState.FAILED, JobState.CANCELLED})


@dataclass(frozen=True, slots=True)
class SeriesProgress:
    """One series of a job: instances in the store out of those the archive holds.

    ``expected`` is the larger of the archive's NumberOfSeriesRelatedInstances and the number
    of instances its QIDO-RS instance search lists; ``complete`` is true only when every
    listed instance is stored and ``received`` reaches ``expected``.
    """

    series_instance_uid: str
    series_number: int | None
    modality: str
    received: int
    expected: int
    complete: bool


class _Stop(Exception):
    """Internal: the job was cancelled, or a sibling stream of the same attempt failed."""


class TokenBucket:
    """A token bucket on bytes: ``take(n)`` returns once ``n`` bytes may pass at ``rate``.

    Tokens refill at ``rate_bytes_per_s`` up to ``burst_bytes``. A take larger than what is
    there goes into debt and sleeps it off, so chunks of any size pass and the long-run rate
    is exact. Thread-safe; the rate can change while takers wait.
    """

    def __init__(
        self,
        rate_bytes_per_s: float,
        burst_bytes: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rate_bytes_per_s > 0:
            raise ValueError(f"a byte rate must be positive (got {rate_bytes_per_s!r})")
        self._clock = clock
        self._lock = threading.Lock()
        self.rate = float(rate_bytes_per_s)
        self.burst = float(burst_bytes) if burst_bytes else max(_MIN_BURST, self.rate * 0.25)
        self._tokens = self.burst
        self._stamp = clock()

    def set_rate(self, rate_bytes_per_s: float) -> None:
        with self._lock:
            self._refill()
            self.rate = max(1.0, float(rate_bytes_per_s))

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def take(self, n: int, stop: threading.Event | None = None) -> bool:
        """Spend ``n`` tokens, waiting as long as the debt needs; False if ``stop`` was set."""
        with self._lock:
            self._refill()
            self._tokens -= n
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait <= 0:
            return True
        if stop is None:
            time.sleep(wait)
            return True
        return not stop.wait(wait)


class _RateMeter:
    """The link's capacity as seen: the best total byte rate over recent half-second windows.

    Used for the prefetch share when no bandwidth is configured; it decays slowly so that a
    link that got slower is followed.
    """

    def __init__(self, initial_bytes_per_s: float) -> None:
        self._lock = threading.Lock()
        self.estimate = initial_bytes_per_s
        self._window_start = time.monotonic()
        self._bytes = 0

    def add(self, n: int) -> None:
        with self._lock:
            self._bytes += n
            now = time.monotonic()
            span = now - self._window_start
            if span >= _METER_WINDOW_S:
                self.estimate = max(self._bytes / span, self.estimate * 0.9)
                self._window_start = now
                self._bytes = 0


class RetrievalJob:
    """One study to bring into the local store, with its per-series progress.

    Read its attributes from any thread; they are updated by the worker running it. Times are
    ``time.monotonic()`` seconds (``first_image_at - created_at`` is the wait a reader sees).
    """

    def __init__(
        self, job_id: int, study_instance_uid: str, priority: Priority, progressive: bool
    ) -> None:
        self.job_id = job_id
        self.study_instance_uid = study_instance_uid
        self.priority = priority
        self.progressive = progressive
        self.state = JobState.QUEUED
        self.attempts = 0  # failed attempts so far (each followed by a retry or a failure)
        self.error = ""
        self.bytes_received = 0
        self.created_at = time.monotonic()
        self.started_at: float | None = None
        self.first_image_at: float | None = None
        self.finished_at: float | None = None
        self.first_image: tuple[str, str] | None = None  # (series UID, SOP Instance UID)
        self._series: dict[str, SeriesProgress] = {}
        self._seq = 0
        self._not_before = 0.0
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._on_cancel: Callable[[RetrievalJob], None] | None = None

    def __repr__(self) -> str:
        return (
            f"RetrievalJob({self.job_id}, {self.priority.name}, {self.state.value}, "
            f"{sum(s.received for s in self.series)}/{sum(s.expected for s in self.series)})"
        )

    @property
    def series(self) -> list[SeriesProgress]:
        """Progress of each series, in series-number order (a snapshot)."""
        with self._lock:
            return list(self._series.values())

    @property
    def complete(self) -> bool:
        return self.state is JobState.COMPLETE

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the job reaches a final state; False on timeout."""
        return self._done.wait(timeout)

    def cancel(self) -> None:
        """Stop the job (a running one at its next chunk); what arrived whole stays stored."""
        self._cancel.set()
        if self._on_cancel is not None:
            self._on_cancel(self)


@dataclass(slots=True)
class _SeriesPlan:
    """A series to retrieve: what the archive lists, in fetch order, and what is stored."""

    series: Series
    order: list[RemoteInstance]  # progressive order for the foreground, stack order otherwise
    expected_uids: frozenset[str]
    expected: int
    have: set[str] = field(default_factory=set)
    first_image_sent: bool = False
    # False: a whole series into a store that holds none of it, measured by the archive's count
    # alone (every instance of the answer is the archive's); the instance list, which costs
    # Orthanc about 0.2 s per 300 instances, is not asked for.
    listed: bool = True

    def holds(self, sop_uid: str) -> bool:
        """Whether ``sop_uid`` is one of the series' instances the plan waits for."""
        return not self.listed or sop_uid in self.expected_uids

    def progress(self) -> SeriesProgress:
        received = len(self.have)
        whole = received >= self.expected
        if self.listed:
            whole = whole and received == len(self.expected_uids)
        return SeriesProgress(
            self.series.series_instance_uid,
            self.series.series_number,
            self.series.modality,
            received,
            self.expected,
            whole,
        )


class RetrievalQueue:
    """Worker threads that retrieve studies from one archive into ``archive``: by WADO-RS when
    it has a DICOMweb URL, else by C-GET from its DIMSE peer (:attr:`via`).

    ``workers`` jobs run at once (one is kept for the foreground when there are two or more);
    ``foreground_streams`` single-instance requests are in flight for a progressive job.
    ``bandwidth_bytes_per_s`` caps the total rate (None: no cap); while a foreground job runs,
    background jobs get ``prefetch_share`` of that cap, or of the best rate measured so far
    when there is no cap. A job that meets a :class:`RemoteError` waits ``retry_first_s``,
    doubling up to ``retry_max_s``, and fails after ``max_retries`` retries.

    Events (callbacks run on worker threads): ``job_changed(job)`` on every state change,
    ``series_progress(job, SeriesProgress)``, ``instance_stored(job, series_uid, sop_uid)`` for
    each instance this job stored, in arrival order, ``first_image(job, series_uid, sop_uid)``
    once per series as soon as it has an image in the store (before its ``instance_stored``),
    ``retrying(job, attempt, delay_s, message)``.
    """

    def __init__(
        self,
        config: ArchiveConfig,
        archive: LocalArchive,
        *,
        workers: int = 2,
        foreground_streams: int = 6,
        series_streams: int = 3,
        bandwidth_bytes_per_s: float | None = None,
        prefetch_share: float = 0.25,
        retry_first_s: float = 1.0,
        retry_max_s: float = 60.0,
        max_retries: int = 10,
        client_factory: Callable[[], DicomWebClient] | None = None,
        start: bool = True,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a whole number of at least 1 (got {workers!r})")
        if not isinstance(foreground_streams, int) or foreground_streams < 1:
            raise ValueError(f"foreground_streams must be at least 1 (got {foreground_streams!r})")
        if isinstance(series_streams, bool) or not isinstance(series_streams, int):
            raise ValueError(f"series_streams must be a whole number (got {series_streams!r})")
        if series_streams < 1:
            raise ValueError(f"series_streams must be at least 1 (got {series_streams!r})")
        if not 0.0 < prefetch_share <= 1.0:
            raise ValueError(f"prefetch_share must lie in (0, 1] (got {prefetch_share!r})")
        if bandwidth_bytes_per_s is not None and not bandwidth_bytes_per_s > 0:
            raise ValueError(f"bandwidth must be positive (got {bandwidth_bytes_per_s!r})")
        if not 0 < retry_first_s <= retry_max_s:
            raise ValueError("retry delays must satisfy 0 < retry_first_s <= retry_max_s")
        if max_retries < 0:
            raise ValueError(f"max_retries must not be negative (got {max_retries!r})")
        self.config = config
        self.archive = archive
        self.workers = workers
        self.foreground_streams = foreground_streams
        self.series_streams = series_streams
        self.prefetch_share = prefetch_share
        self.retry_first_s = retry_first_s
        self.retry_max_s = retry_max_s
        self.max_retries = max_retries
        if config.dicomweb_url:
            self.via = "wado-rs"
        elif config.dimse is not None:
            self.via = "c-get"
        else:
            raise ValueError(f"archive {config.name!r} has neither a dicomweb_url nor [dimse]")
        self._client_factory = client_factory or (lambda: DicomWebClient(config))
        self._clients: list[DicomWebClient] = []
        self._dimse = DimseClient(config) if self.via == "c-get" else None
        self._local = threading.local()

        self.job_changed = Event("job_changed")
        self.series_progress = Event("series_progress")
        self.first_image = Event("first_image")
        self.instance_stored = Event("instance_stored")
        self.retrying = Event("retrying")

        self._total = TokenBucket(bandwidth_bytes_per_s) if bandwidth_bytes_per_s else None
        initial = (bandwidth_bytes_per_s or 10e6) * prefetch_share
        self._background = TokenBucket(initial)
        self._meter = None if bandwidth_bytes_per_s else _RateMeter(10e6)
        self._cond = threading.Condition()
        self._jobs: list[RetrievalJob] = []  # every job, in creation order
        self._waiting: list[RetrievalJob] = []  # QUEUED or RETRY_WAIT
        self._running_fg = 0
        self._running_bg = 0
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._streams = concurrent.futures.ThreadPoolExecutor(
            max_workers=foreground_streams, thread_name_prefix="retrieval-stream"
        )
        if start:
            self.start()

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker threads (done by the constructor unless ``start=False``)."""
        with self._cond:
            if self._threads or self._closed:
                return
            for n in range(self.workers):
                t = threading.Thread(target=self._work, name=f"retrieval-{n + 1}", daemon=True)
                self._threads.append(t)
                t.start()

    def close(self, timeout: float = 10.0) -> None:
        """Cancel every job, stop the workers (waiting up to ``timeout``), close connections."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            jobs = list(self._jobs)
            self._cond.notify_all()
        for job in jobs:
            job.cancel()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        # Streams end at their next chunk (their job is cancelled); not waited for, so that a
        # read blocked on a dead archive cannot hold the caller past ``timeout``.
        self._streams.shutdown(wait=False, cancel_futures=True)
        for job in jobs:
            if not job.state.final:
                self._finish(job, JobState.CANCELLED, "the retrieval queue was closed")
        for c in self._clients:
            with contextlib.suppress(Exception):
                c.close()

    def __enter__(self) -> RetrievalQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def jobs(self) -> list[RetrievalJob]:
        """Every job this queue has taken, in the order they were created."""
        with self._cond:
            return list(self._jobs)

    def forget_finished(self) -> int:
        """Drop jobs in a final state from :meth:`jobs` (a long session); returns how many."""
        with self._cond:
            before = len(self._jobs)
            self._jobs = [j for j in self._jobs if not j.state.final]
            return before - len(self._jobs)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no job is queued, waiting to retry or running; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in self.jobs():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not job.wait(left):
                return False
        return True

    # -- taking jobs -----------------------------------------------------------------------
    def open_study(self, study_instance_uid: str) -> RetrievalJob:
        """The reader opens a study: retrieve it first, progressively (middle slices first)."""
        return self.enqueue(study_instance_uid, Priority.FOREGROUND)

    def enqueue(
        self,
        study_instance_uid: str,
        priority: Priority = Priority.PREFETCH,
        progressive: bool | None = None,
    ) -> RetrievalJob:
        """Queue a study; progressive defaults to True for the foreground only.

        A study already queued or running keeps its job, raised to ``priority`` when that is
        more urgent (a running background job is then replaced by a new foreground job that
        fetches what is still missing).
        """
        if not isinstance(study_instance_uid, str) or not study_instance_uid:
            raise ValueError("a Study Instance UID is needed")
        priority = Priority(priority)
        progressive = priority is Priority.FOREGROUND if progressive is None else progressive
        replaced: RetrievalJob | None = None
        with self._cond:
            if self._closed:
                raise RemoteError("the retrieval queue is closed")
            active = next(
                (
                    j
                    for j in self._jobs
                    if j.study_instance_uid == study_instance_uid
                    and not j.state.final
                    and not j._cancel.is_set()
                ),
                None,
            )
            if active is not None and priority >= active.priority:
                return active  # already on its way, at least as urgently
            if active is not None and active in self._waiting:
                # Not running: raise it in place; it keeps its progress and its attempts.
                active.priority = priority
                active.progressive = progressive
                active._not_before = 0.0
                self._cond.notify_all()
                job = active
            else:
                replaced = active  # running as background: a new job takes over
                job = RetrievalJob(next(self._ids), study_instance_uid, priority, progressive)
                job._seq = next(self._seq)
                job._on_cancel = self._cancelled
                self._jobs.append(job)
                self._waiting.append(job)
                self._cond.notify_all()
        if replaced is not None:
            replaced.cancel()
        self._emit(self.job_changed, job)
        return job

    def _cancelled(self, job: RetrievalJob) -> None:
        """A job was cancelled: one that is not running ends now, a running one at its next
        chunk."""
        with self._cond:
            waiting = job in self._waiting
            if waiting:
                self._waiting.remove(job)
            self._cond.notify_all()
        if waiting:
            self._finish(job, JobState.CANCELLED, "cancelled")

    def prefetch(
        self, worklist_study_uids: Sequence[str], priors_per_study: int = 2
    ) -> list[RetrievalJob]:
        """Queue the worklist's studies, then up to ``priors_per_study`` relevant priors of each.

        Queries the archive (a few QIDO-RS searches per study): call it off the UI thread.
        A failed prior search is logged and skipped; the worklist studies stay queued.
        """
        if isinstance(priors_per_study, bool) or not isinstance(priors_per_study, int):
            raise ValueError("priors_per_study must be a whole number")
        if priors_per_study < 0:
            raise ValueError(f"priors_per_study must not be negative (got {priors_per_study})")
        uids = list(dict.fromkeys(worklist_study_uids))
        jobs = [self.enqueue(uid, Priority.PREFETCH) for uid in uids]
        if priors_per_study == 0:
            return jobs
        wanted = set(uids)
        for uid in uids:
            try:
                priors = self.relevant_priors(uid, priors_per_study)
            except RemoteError as exc:
                log.warning("prior search failed for one worklist study: %s", exc)
                continue
            for study in priors:
                if study.study_instance_uid in wanted:
                    continue
                wanted.add(study.study_instance_uid)
                jobs.append(self.enqueue(study.study_instance_uid, Priority.PRIOR))
        return jobs

    def relevant_priors(self, study_instance_uid: str, limit: int) -> list[Study]:
        """The patient's earlier studies worth showing beside this one, latest first.

        Same patient: equal Patient ID and Issuer of Patient ID (PS3.3 C.7.1.1), searched by
        QIDO-RS and checked again here. Relevant: a modality in common (non-image modalities
        such as SR do not count) or a Body Part Examined in common (PS3.3 C.7.3.1).
        """
        client: DicomWebClient | DimseClient
        search_studies: Callable[..., list[Study]]
        search_series: Callable[[str], list[Series]]
        if self._dimse is not None:  # C-FIND, Study Root (PS3.4 C.6.2)
            client = self._dimse
            search_studies = client.find_studies
            search_series = client.find_series
        else:
            client = self._client()
            search_studies = client.search_studies
            search_series = client.search_series
        found = [
            s
            for s in search_studies(StudyInstanceUID=study_instance_uid)
            if s.study_instance_uid == study_instance_uid
        ]
        if not found:
            raise RemoteError(f"the archive at {client.where} has no study {study_instance_uid}")
        current = found[0]
        patient_id, issuer = current.patient.key
        if not patient_id or limit <= 0:
            return []
        filters: dict[str, Any] = {"PatientID": patient_id}
        if issuer:
            filters["IssuerOfPatientID"] = issuer
        when = (current.study_date, current.study_time)
        candidates = [
            s
            for s in search_studies(**filters)
            if s.study_instance_uid != study_instance_uid
            and s.patient.key == current.patient.key
            and not (s.study_date and current.study_date and (s.study_date, s.study_time) >= when)
        ]
        # Latest first; a study without a date goes last (its age is unknown).
        candidates.sort(
            key=lambda s: (bool(s.study_date), s.study_date, s.study_time), reverse=True
        )
        modalities = set(current.modalities) - _NON_IMAGE_MODALITIES
        parts: set[str] | None = None
        out: list[Study] = []
        for s in candidates:
            if modalities & (set(s.modalities) - _NON_IMAGE_MODALITIES):
                out.append(s)
            else:
                if parts is None:
                    parts = _body_parts(search_series(study_instance_uid))
                if parts and parts & _body_parts(search_series(s.study_instance_uid)):
                    out.append(s)
            if len(out) >= limit:
                break
        return out

    # -- scheduling ------------------------------------------------------------------------
    def _background_slots(self) -> int:
        return self.workers - 1 if self.workers > 1 else 1

    def _next_job(self) -> RetrievalJob | None:
        with self._cond:
            while True:
                if self._closed:
                    return None
                now = time.monotonic()
                best: RetrievalJob | None = None
                wake: float | None = None
                for job in self._waiting:
                    if job._not_before > now:
                        wake = job._not_before if wake is None else min(wake, job._not_before)
                        continue
                    if (
                        job.priority is not Priority.FOREGROUND
                        and self._running_bg >= self._background_slots()
                    ):
                        continue
                    if best is None or (job.priority, job._seq) < (best.priority, best._seq):
                        best = job
                if best is not None:
                    self._waiting.remove(best)
                    if best.priority is Priority.FOREGROUND:
                        self._running_fg += 1
                    else:
                        self._running_bg += 1
                    best.state = JobState.RUNNING
                    if best.started_at is None:
                        best.started_at = now
                    return best
                self._cond.wait(None if wake is None else max(0.005, wake - now))

    def _work(self) -> None:
        while True:
            job = self._next_job()
            if job is None:
                return
            fg = job.priority is Priority.FOREGROUND
            try:
                self._emit(self.job_changed, job)
                self._run(job)
            except Exception:  # a worker must survive anything one job does
                log.exception("retrieval job %d failed unexpectedly", job.job_id)
                self._finish(job, JobState.FAILED, "unexpected error (see the log)")
            finally:
                with self._cond:
                    if fg:
                        self._running_fg -= 1
                    else:
                        self._running_bg -= 1
                    self._cond.notify_all()

    def _finish(self, job: RetrievalJob, state: JobState, error: str = "") -> None:
        with job._lock:
            if job.state.final:
                return
            job.state = state
            job.error = error
            job.finished_at = time.monotonic()
        job._done.set()
        self._emit(self.job_changed, job)

    def _emit(self, event: Event, *args: object) -> None:
        try:
            event.emit(*args)
        except Exception:  # a subscriber's bug must not stop a retrieval
            log.exception("a %s subscriber raised", event.name)

    # -- running one job -------------------------------------------------------------------
    def _client(self) -> DicomWebClient:
        client: DicomWebClient | None = getattr(self._local, "client", None)
        if client is None:
            client = self._client_factory()
            self._local.client = client
            with self._cond:
                self._clients.append(client)
        return client

    def _run(self, job: RetrievalJob) -> None:
        stop = threading.Event()
        try:
            if job._cancel.is_set():
                raise _Stop
            if self._dimse is not None:
                self._run_dimse(job, self._dimse, stop)
                return
            client = self._client()
            series = self._series(job, client)
            early = self._first_images(job, client, series, stop) if job.progressive else {}
            plans = self._plan(job, client, series, early)
            if job.progressive:
                self._run_progressive(job, client, plans, stop)
            else:
                self._run_whole(job, client, plans, stop)
            self._conclude(job, plans)
        except _Stop:
            self._finish(job, JobState.CANCELLED, "cancelled")
        except RemoteError as exc:
            if job._cancel.is_set():
                self._finish(job, JobState.CANCELLED, "cancelled")
                return
            job.attempts += 1
            if job.attempts > self.max_retries:
                self._finish(job, JobState.FAILED, f"{exc} (gave up after {job.attempts} tries)")
                return
            delay = min(self.retry_max_s, self.retry_first_s * 2 ** (job.attempts - 1))
            log.warning(
                "retrieval job %d: %s; retry %d in %.1f s", job.job_id, exc, job.attempts, delay
            )
            with self._cond:
                cancelled = job._cancel.is_set() or self._closed
                if not cancelled:
                    job.state = JobState.RETRY_WAIT
                    job.error = str(exc)
                    job._not_before = time.monotonic() + delay
                    self._waiting.append(job)
                    self._cond.notify_all()
            if cancelled:
                self._finish(job, JobState.CANCELLED, "cancelled")
                return
            self._emit(self.retrying, job, job.attempts, delay, str(exc))
            self._emit(self.job_changed, job)
        except WorkstationError as exc:  # the store (StoreError) or the data: not transient
            self._finish(job, JobState.FAILED, str(exc))
        finally:
            stop.set()

    def _series(self, job: RetrievalJob, client: DicomWebClient | DimseClient) -> list[Series]:
        """The study's series (QIDO-RS or C-FIND), in series-number order."""
        if isinstance(client, DimseClient):
            series = client.find_series(job.study_instance_uid)
        else:
            series = client.search_series(job.study_instance_uid)
        if not series:  # not transient: no retry
            raise NotFoundError(
                f"the archive at {client.where} lists no series for study {job.study_instance_uid}"
            )
        series.sort(key=lambda s: (s.series_number is None, s.series_number or 0))
        return series

    def _first_images(
        self,
        job: RetrievalJob,
        client: DicomWebClient,
        series: list[Series],
        stop: threading.Event,
    ) -> dict[str, _SeriesPlan]:
        """Fetch each series' likely middle slice before listing the series.

        Listing 300 instances takes Orthanc about 0.2 s; one QIDO-RS match on Instance Number
        ``N // 2 + 1`` (N from the series search, PS3.4 C.3.3) takes a few milliseconds. When
        numbering is not 1..N this is merely some slice: still a first image, and the
        progressive order from the full list follows.
        """
        early: dict[str, _SeriesPlan] = {}
        for s in series:
            n = s.number_of_instances
            if n <= 0 or local_sop_uids(self.archive, s.series_instance_uid):
                continue
            path = f"/studies/{job.study_instance_uid}/series/{s.series_instance_uid}/instances"
            params = {"InstanceNumber": str(n // 2 + 1), "includefield": "00080018,00200013"}
            try:
                rows = client._qido(path, params, "an instance search (QIDO-RS)")
            except RemoteError as exc:  # an archive that cannot match on it: list instead
                log.debug("no Instance Number match: %s", exc)
                continue
            found = [
                instance_from_json(r, job.study_instance_uid, s.series_instance_uid) for r in rows
            ]
            if len(found) != 1 or not found[0].sop_instance_uid:
                continue
            plan = _SeriesPlan(s, found, frozenset({found[0].sop_instance_uid}), n)
            self._fetch_instance(job, client, plan, found[0], stop)
            early[s.series_instance_uid] = plan
        return early

    def _plan(
        self,
        job: RetrievalJob,
        client: DicomWebClient | DimseClient,
        series: list[Series],
        early: Mapping[str, _SeriesPlan],
    ) -> list[_SeriesPlan]:
        """The archive's instances (QIDO-RS, or C-FIND at IMAGE level) of each series against
        what the store holds. A background WADO-RS job takes a series the store holds none of
        whole, by its count (see :attr:`_SeriesPlan.listed`)."""
        plans = []
        for s in series:
            if (
                not job.progressive
                and isinstance(client, DicomWebClient)
                and s.number_of_instances > 0
                and s.series_instance_uid not in early
                and not local_sop_uids(self.archive, s.series_instance_uid)
            ):
                plans.append(_SeriesPlan(s, [], frozenset(), s.number_of_instances, listed=False))
                continue
            if isinstance(client, DimseClient):
                listed = client.find_instances(job.study_instance_uid, s.series_instance_uid)
            else:
                listed = client.search_instances(job.study_instance_uid, s.series_instance_uid)
            order = progressive_order(listed) if job.progressive else listed
            uids = frozenset(i.sop_instance_uid for i in listed)
            plan = _SeriesPlan(s, order, uids, max(s.number_of_instances, len(uids)))
            plan.have = local_sop_uids(self.archive, s.series_instance_uid) & uids
            if s.series_instance_uid in early:
                plan.first_image_sent = early[s.series_instance_uid].first_image_sent
            plans.append(plan)
        with job._lock:
            job._series = {p.series.series_instance_uid: p.progress() for p in plans}
        for p in plans:
            self._emit(self.series_progress, job, p.progress())
        return plans

    def _conclude(self, job: RetrievalJob, plans: list[_SeriesPlan]) -> None:
        notes = []
        for p in plans:
            p.have = local_sop_uids(self.archive, p.series.series_instance_uid)
            if p.listed:
                p.have &= p.expected_uids
            progress = p.progress()
            with job._lock:
                job._series[p.series.series_instance_uid] = progress
            self._emit(self.series_progress, job, progress)
            if progress.complete:
                continue
            if not p.listed:
                notes.append(
                    f"series {p.series.series_number or '?'}: {len(p.have)} of the "
                    f"{p.expected} instances the archive counts arrived"
                )
            elif len(p.expected_uids) < p.expected:
                notes.append(
                    f"series {p.series.series_number or '?'}: the archive counts "
                    f"{p.expected} instances but lists {len(p.expected_uids)} (still receiving?)"
                )
            else:
                notes.append(
                    f"series {p.series.series_number or '?'}: "
                    f"{len(p.expected_uids) - len(p.have)} listed instances did not arrive"
                )
        if notes:
            self._finish(job, JobState.INCOMPLETE, "; ".join(notes))
        else:
            self._finish(job, JobState.COMPLETE)

    def _stored(
        self, job: RetrievalJob, plan: _SeriesPlan, sop_uid: str, *, new: bool = True
    ) -> None:
        """Book one instance now in the store; the first of a series is its first image.

        ``new=False`` for one that was there before the job (reported as a first image only).
        """
        if not plan.holds(sop_uid):
            return
        first = False
        with job._lock:
            if sop_uid in plan.have and (plan.first_image_sent or new):
                return
            plan.have.add(sop_uid)
            progress = plan.progress()
            job._series[plan.series.series_instance_uid] = progress
            if not plan.first_image_sent:
                plan.first_image_sent = first = True
                if job.first_image is None:
                    job.first_image = (plan.series.series_instance_uid, sop_uid)
                    job.first_image_at = time.monotonic()
        if first:
            self._emit(self.first_image, job, plan.series.series_instance_uid, sop_uid)
        if new:
            self._emit(self.instance_stored, job, plan.series.series_instance_uid, sop_uid)
        self._emit(self.series_progress, job, progress)

    def _run_progressive(
        self,
        job: RetrievalJob,
        client: DicomWebClient,
        plans: list[_SeriesPlan],
        stop: threading.Event,
    ) -> None:
        """The middle slice of every series first, one at a time, then the rest in progressive
        order over ``foreground_streams`` parallel single-instance requests."""
        for plan in plans:  # an image already in the store is shown at once
            present = next((i for i in plan.order if i.sop_instance_uid in plan.have), None)
            if present is not None:
                self._stored(job, plan, present.sop_instance_uid, new=False)
        for plan in plans:
            if plan.first_image_sent:
                continue
            todo = next((i for i in plan.order if i.sop_instance_uid not in plan.have), None)
            if todo is not None:
                self._fetch_instance(job, client, plan, todo, stop)
        tasks = [
            (plan, inst)
            for plan in plans
            for inst in plan.order
            if inst.sop_instance_uid not in plan.have
        ]
        if not tasks:
            return
        pending: set[concurrent.futures.Future[None]] = set()
        failure: BaseException | None = None
        it = iter(tasks)
        try:
            while True:
                while failure is None and len(pending) < self.foreground_streams:
                    nxt = next(it, None)
                    if nxt is None:
                        break
                    try:
                        pending.add(self._streams.submit(self._stream_fetch, job, *nxt, stop))
                    except RuntimeError:  # the queue is closing: its streams are shut down
                        raise _Stop from None
                if not pending:
                    break
                done, pending = concurrent.futures.wait(
                    pending, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for f in done:
                    exc = f.exception()
                    if exc is not None and failure is None:
                        failure = exc
                        stop.set()  # sibling streams end at their next chunk
        finally:
            if pending:
                stop.set()
                concurrent.futures.wait(pending)
        if failure is not None:
            raise failure

    def _run_dimse(self, job: RetrievalJob, client: DimseClient, stop: threading.Event) -> None:
        """A job by C-FIND and C-GET (PS3.4 C.6.2, C.4.3): the foreground asks for each
        series' middle instance first, then the rest in progressive order; a background job
        asks for each series whole (only the missing instances when some are stored)."""
        series = self._series(job, client)
        plans = self._plan(job, client, series, {})
        if job.progressive:
            for plan in plans:  # an image already in the store is shown at once
                present = next((i for i in plan.order if i.sop_instance_uid in plan.have), None)
                if present is not None:
                    self._stored(job, plan, present.sop_instance_uid, new=False)
            for plan in plans:
                todo = next((i for i in plan.order if i.sop_instance_uid not in plan.have), None)
                if todo is not None and not plan.first_image_sent:
                    self._c_get(job, client, plan, [todo.sop_instance_uid], stop)
        for plan in plans:
            missing = [
                i.sop_instance_uid for i in plan.order if i.sop_instance_uid not in plan.have
            ]
            if missing:
                whole = not plan.have and not job.progressive
                self._c_get(job, client, plan, None if whole else missing, stop)
        self._conclude(job, plans)

    def _c_get(
        self,
        job: RetrievalJob,
        client: DimseClient,
        plan: _SeriesPlan,
        sop_instance_uids: list[str] | None,
        stop: threading.Event,
    ) -> None:
        """One C-GET of ``sop_instance_uids`` of a series (None: the whole series), each
        object booked as it is stored and throttled like a WADO-RS chunk."""
        self._check(job, stop)

        def on_stored(sop_uid: str, n_bytes: int) -> None:
            with job._lock:
                job.bytes_received += n_bytes
            self._stored(job, plan, sop_uid)
            with contextlib.suppress(_Stop):  # should_stop ends the C-GET at the next object
                self._throttle(job, n_bytes, stop)

        client.get_instances(
            job.study_instance_uid,
            plan.series.series_instance_uid,
            self.archive,
            sop_instance_uids=sop_instance_uids,
            sop_class_uids=[i.sop_class_uid for i in plan.order],
            on_stored=on_stored,
            should_stop=lambda: job._cancel.is_set() or stop.is_set(),
        )
        self._check(job, stop)

    def _stream_fetch(
        self, job: RetrievalJob, plan: _SeriesPlan, inst: RemoteInstance, stop: threading.Event
    ) -> None:
        self._fetch_instance(job, self._client(), plan, inst, stop)

    def _run_whole(
        self,
        job: RetrievalJob,
        client: DicomWebClient,
        plans: list[_SeriesPlan],
        stop: threading.Event,
    ) -> None:
        """Each series as one multipart answer, ``series_streams`` series at once over the
        job's session (each request's round trip and the archive's time to start an answer
        overlap the others' transfer); a series more than half there is resumed instance by
        instance instead (PS3.18 10.4.1.1.4). A series that fails does not stop the others:
        its error is raised once they have ended (the retry then needs that series alone)."""
        todo = [p for p in plans if not p.listed or any(
            i.sop_instance_uid not in p.have for i in p.order
        )]  # fmt: skip
        if self.series_streams <= 1 or len(todo) <= 1:
            for plan in todo:
                self._one_series(job, client, plan, stop)
            return

        def run(plan: _SeriesPlan) -> None:
            try:
                self._one_series(job, client, plan, stop)
            finally:
                self.archive.index.close()  # this thread's own index connection

        outcomes = at_once([functools.partial(run, plan) for plan in todo], self.series_streams)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            # A cancelled job ends every series with _Stop; any other error is the cause.
            real = [e for e in failures if not isinstance(e, _Stop)]
            raise (real or failures)[0]  # type: ignore[misc]

    def _one_series(
        self,
        job: RetrievalJob,
        client: DicomWebClient,
        plan: _SeriesPlan,
        stop: threading.Event,
    ) -> None:
        """What a background job fetches of one series: all of it, or the missing instances."""
        if not plan.listed:  # nothing of it local: the whole series, one answer
            self._whole_series(job, client, plan, stop)
            return
        missing = [i for i in plan.order if i.sop_instance_uid not in plan.have]
        if not missing:
            return
        if plan.have and len(missing) <= len(plan.expected_uids) // 2:
            for inst in missing:
                self._fetch_instance(job, client, plan, inst, stop)
            return
        self._whole_series(job, client, plan, stop)

    def _whole_series(
        self,
        job: RetrievalJob,
        client: DicomWebClient,
        plan: _SeriesPlan,
        stop: threading.Event,
    ) -> None:
        """One series as one multipart answer (PS3.18 10.4.1.1.3)."""
        base = f"/studies/{job.study_instance_uid}/series/{plan.series.series_instance_uid}"
        ingester = _Ingester(self, job, plan)
        try:
            self._get_multipart(job, client, base, ingester.put, stop)
        finally:
            ingester.close()  # every part that arrived whole is stored

    def _fetch_instance(
        self,
        job: RetrievalJob,
        client: DicomWebClient,
        plan: _SeriesPlan,
        inst: RemoteInstance,
        stop: threading.Event,
    ) -> None:
        """One instance by WADO-RS (PS3.18 10.4.1.1.4), stored and indexed at once."""
        path = (
            f"/studies/{job.study_instance_uid}/series/{plan.series.series_instance_uid}"
            f"/instances/{inst.sop_instance_uid}"
        )

        def on_part(p: Path, part: Part) -> None:
            # False (already there: another job) is fine
            (outcome,) = self.archive.ingest_files([(p, part.head, part.size)])
            if isinstance(outcome, InvalidDicomError):
                log.warning("retrieval job %d: one instance rejected: %s", job.job_id, outcome)
                return
            if self.archive.index.has_instance(inst.sop_instance_uid):
                self._stored(job, plan, inst.sop_instance_uid)

        self._get_multipart(job, client, path, on_part, stop)

    # -- the transfer ----------------------------------------------------------------------
    def _get_multipart(
        self,
        job: RetrievalJob,
        client: DicomWebClient,
        path: str,
        on_part: Callable[[Path, Part], None],
        stop: threading.Event,
    ) -> None:
        """GET a WADO-RS multipart answer, throttled chunk by chunk; each whole DICOM part is
        written to a temp file and handed to ``on_part`` with its kept head (the callee owns
        the file from then on)."""
        self._check(job, stop)

        # identity: pixel data hardly shrinks under gzip, and Orthanc 1.10 spends ~0.1 s per
        # 512x512 instance compressing it when asked (measured here: 100 ms against 3 ms).
        headers = {"Accept": client._accept_dicom(), "Accept-Encoding": "identity"}
        try:
            r = client._request("GET", path, _WHAT, headers=headers, stream=True)
        except RemoteError as exc:
            if "closed the connection" not in str(exc):
                raise
            # A pooled connection the archive closed while it sat idle (Orthanc's
            # KeepAliveTimeout is 1 s) fails when reused if the FIN is still on its way (seen
            # over a 40 ms link); the same GET on a new connection is safe. Once, at once.
            log.debug("retrieval job %d: stale connection, asking again", job.job_id)
            r = client._request("GET", path, _WHAT, headers=headers, stream=True)
        try:
            boundary = boundary_of(r.headers.get("Content-Type", ""))
            parts = read_parts_to_files(
                self._chunks(job, client, r, stop),
                boundary,
                self.archive.tmp_dir,
                "queue",
                head_bytes=HEAD_KEPT,
            )
            with contextlib.closing(parts):  # an unfinished part is never stored
                for p, part in parts:
                    if dicom_media_type(part) != "application/dicom":
                        p.unlink()
                        continue
                    on_part(p, part)
        except MultipartError as exc:
            raise RemoteError(f"{client.where} sent a broken multipart answer: {exc}") from None
        finally:
            r.close()

    def _chunks(
        self,
        job: RetrievalJob,
        client: DicomWebClient,
        r: requests.Response,
        stop: threading.Event,
    ) -> Iterator[bytes]:
        def size() -> int:
            throttled = self._total is not None or (
                job.priority is not Priority.FOREGROUND and self._running_fg > 0
            )
            return _THROTTLED_CHUNK if throttled else _CHUNK

        it = body_chunks(r, size)
        while True:
            try:
                chunk = next(it)
            except StopIteration:
                return
            except requests.exceptions.RequestException as exc:
                raise client._transport_error(exc, _WHAT) from None
            except OSError as exc:
                raise RemoteError(f"the transfer from {client.where} failed: {exc}") from None
            n = len(chunk)
            self._throttle(job, n, stop)
            with job._lock:
                job.bytes_received += n
            yield chunk

    def _check(self, job: RetrievalJob, stop: threading.Event) -> None:
        if job._cancel.is_set() or stop.is_set():
            raise _Stop

    def _throttle(self, job: RetrievalJob, n: int, stop: threading.Event) -> None:
        """Spend ``n`` bytes of the link: a background job while a foreground job runs first
        from the prefetch share, then every job from the total cap."""
        self._check(job, stop)
        if self._meter is not None:
            self._meter.add(n)
        if job.priority is not Priority.FOREGROUND and self._running_fg > 0:
            if self._meter is not None:
                self._background.set_rate(self._meter.estimate * self.prefetch_share)
            self._background.take(n, job._cancel)
        if self._total is not None:
            self._total.take(n, job._cancel)
        self._check(job, stop)


class _Ingester:
    """Stores the parts of one series answer in batches of ``_INGEST_BATCH`` (one index commit
    each) and books what arrived. A thread of its own did not help: parsing (pydicom) and the
    multipart reader both hold the GIL (measured here: 0.90 s either way for 300 CT slices).
    An invalid part is skipped; a store failure (a full disk) ends the job.
    """

    def __init__(self, queue: RetrievalQueue, job: RetrievalJob, plan: _SeriesPlan) -> None:
        self._queue = queue
        self._job = job
        self._plan = plan
        self._batch: list[tuple[Path, Part]] = []

    def put(self, path: Path, part: Part) -> None:
        self._batch.append((path, part))
        if len(self._batch) >= _INGEST_BATCH:
            self.flush()

    def close(self) -> None:
        self.flush()

    def flush(self) -> None:
        if not self._batch:
            return
        archive = self._queue.archive
        parts = list(self._batch)
        self._batch.clear()
        archive.ingest_files([(p, part.head, part.size) for p, part in parts])  # rejects skipped
        plan = self._plan
        now_have = local_sop_uids(archive, plan.series.series_instance_uid)
        if plan.listed:
            now_have &= plan.expected_uids
        for uid in sorted(now_have - plan.have):
            self._queue._stored(self._job, plan, uid)


def _body_parts(series: Sequence[Series]) -> set[str]:
    return {s.body_part_examined.upper() for s in series if s.body_part_examined}
