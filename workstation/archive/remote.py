"""What the DICOMweb and DIMSE clients share: errors, results, completeness and the self-check.

A series counts as complete only when every SOP Instance UID the archive lists for it (QIDO-RS
or C-FIND at IMAGE level) is in the local store; a partial retrieval is reported with the UIDs
that are missing, never shown as complete (DESIGN.md, "What must never happen").
"""

from __future__ import annotations

import concurrent.futures
import functools
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from workstation.core.errors import WorkstationError
from workstation.core.model import Series

if TYPE_CHECKING:
    from workstation.archive.local import LocalArchive
    from workstation.core.settings import ArchiveConfig

ProgressCallback = Callable[[int, int], None]
T = TypeVar("T")

# Study search keys a caller may give, as DICOM keywords (PS3.18 Table 10.6.1-5, PS3.4 C.6.2.1.2).
STUDY_SEARCH_KEYS = (
    "PatientID",
    "IssuerOfPatientID",
    "PatientName",
    "PatientBirthDate",
    "AccessionNumber",
    "StudyDate",
    "StudyTime",
    "StudyInstanceUID",
    "StudyID",
    "ModalitiesInStudy",
    "StudyDescription",
    "InstitutionName",
    "ReferringPhysicianName",
)


# Study Instance UIDs asked at once by UID list matching (PS3.4 C.2.2.2.2): 40 UIDs of up to
# 64 characters keep a QIDO-RS URL under 3 kB, which every HTTP server takes.
UID_LIST_BATCH = 40


_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def check_uid(uid: str, what: str) -> str:
    """``uid`` when it is a DICOM UID (PS3.5 9.1), else ValueError naming ``what``."""
    if not _UID.match(uid or "") or len(uid) > 64:
        raise ValueError(f"{what} {uid!r} is not a DICOM UID (PS3.5 9.1)")
    return uid


def check_uid_list(uids: Sequence[str]) -> bool:
    """Whether there are Study Instance UIDs to ask for by UID list matching: each must be a
    UID, and at most :data:`UID_LIST_BATCH` of them (ValueError otherwise)."""
    if len(uids) > UID_LIST_BATCH:
        raise ValueError(f"at most {UID_LIST_BATCH} UIDs at once (got {len(uids)})")
    for uid in uids:
        check_uid(uid, "Study Instance UID")
    return bool(uids)


class RemoteError(WorkstationError):
    """Talking to a remote archive failed: network, TLS, authentication, server or protocol.

    The message says what to do (check the URL, the password, the archive's log); it never
    carries patient data.
    """


class RemoteProtocolError(RemoteError):
    """The archive answered, but with something that breaks the standard (bad JSON, multipart)."""


@dataclass(frozen=True, slots=True)
class RemoteInstance:
    """One instance as a QIDO-RS or C-FIND IMAGE-level answer describes it."""

    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    sop_class_uid: str = ""
    instance_number: int | None = None
    number_of_frames: int | None = None
    rows: int | None = None
    columns: int | None = None


@dataclass(slots=True)
class RetrieveResult:
    """What a series retrieval did, against the archive's own list of the series' instances.

    ``expected`` is the archive's count (NumberOfSeriesRelatedInstances, PS3.4 C.3.3, or the
    number of IMAGE-level matches); ``missing`` are UIDs the archive lists but the local store
    lacks after the retrieval.
    """

    study_instance_uid: str
    series_instance_uid: str
    via: str  # "wado-rs" or "c-get"
    expected: int = 0
    received: int = 0  # newly stored
    already_present: int = 0
    missing: tuple[str, ...] = ()
    rejected: list[tuple[str, str]] = field(default_factory=list)
    bytes_received: int = 0
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.missing and self.received + self.already_present >= self.expected

    def summary(self) -> str:
        text = (
            f"{self.received + self.already_present}/{self.expected} instances "
            f"({self.received} received, {self.already_present} already present"
        )
        if self.missing:
            text += f", {len(self.missing)} missing"
        if self.rejected:
            text += f", {len(self.rejected)} rejected"
        return text + f") in {self.seconds:.2f} s via {self.via}"


@dataclass(slots=True)
class StoreResult:
    """What a STOW-RS or C-STORE did: SOP Instance UIDs stored, and failures with reasons."""

    stored: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


class RetrieveError(RemoteError):
    """A retrieval stopped part way; ``result`` says what did arrive (complete instances only)."""

    def __init__(self, message: str, result: RetrieveResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True, slots=True)
class CheckStep:
    """One step of a connectivity self-check: its name, outcome, latency and what to do."""

    name: str
    ok: bool
    latency_s: float | None = None
    detail: str = ""

    def line(self) -> str:
        if self.ok:
            ms = f"{self.latency_s * 1000:.0f} ms" if self.latency_s is not None else ""
            return f"{self.name:<22} ok      {ms:>8}  {self.detail}".rstrip()
        return f"{self.name:<22} FAILED            {self.detail}".rstrip()


def local_sop_uids(archive: LocalArchive, series_instance_uid: str) -> set[str]:
    """SOP Instance UIDs of a series that the local store holds."""
    return archive.index.sop_instance_uids(series_instance_uid)


def missing_uids(
    expected: Iterable[str], archive: LocalArchive, series_uid: str
) -> tuple[str, ...]:
    """UIDs the archive lists for a series that the local store still lacks, sorted."""
    have = local_sop_uids(archive, series_uid)
    return tuple(sorted(u for u in set(expected) if u not in have))


def timed_step(name: str, action: Callable[[], str]) -> CheckStep:
    """Run ``action`` (returns a detail text) and turn its outcome into a CheckStep."""
    start = time.perf_counter()
    try:
        detail = action()
    except WorkstationError as exc:
        return CheckStep(name, False, None, str(exc))
    return CheckStep(name, True, time.perf_counter() - start, detail)


def check_archive(config: ArchiveConfig) -> list[CheckStep]:
    """Self-check of one configured archive: C-ECHO when DIMSE is set, then QIDO-RS and a
    WADO-RS metadata retrieve of one instance when DICOMweb is set (PS3.18 10.6, 10.4)."""
    steps: list[CheckStep] = []
    if config.dimse is not None:
        from workstation.archive.dimse import DimseClient

        dimse = DimseClient(config)

        def echo() -> str:
            dimse.echo()
            return f"{dimse.where} answered"

        steps.append(timed_step("C-ECHO", echo))
    if config.dicomweb_url:
        from workstation.archive.dicomweb import DicomWebClient

        with DicomWebClient(config) as client:
            steps.extend(client.check())
    if not steps:
        steps.append(CheckStep("configuration", False, None, "no dicomweb_url and no dimse set"))
    return steps


def in_series_order(series: list[Series]) -> list[Series]:
    """Series by Series Number, unnumbered last (the order a study is retrieved in)."""
    return sorted(series, key=lambda s: (s.series_number is None, s.series_number or 0))


def retrieve_each_series(
    series: list[Series],
    one: Callable[[str, Callable[[int, int], None] | None], RetrieveResult],
    progress: Callable[[Series, int, int], None] | None,
    no_study: str,
    parallel: int = 1,
) -> list[RetrieveResult]:
    """Retrieve a study series by series, so each is judged complete (and resumed) alone.

    ``one(series_uid, progress)`` retrieves one series; ``no_study`` is the error when the
    archive lists no series. ``parallel`` series run at once (each request's round trip and
    the archive's time to start an answer overlap the others' transfer); the results come in
    series order, and when some series failed, the first failure in that order is raised
    after every series has ended (what the others stored stays stored).
    """
    if not series:
        raise RemoteError(no_study)
    ordered = in_series_order(series)

    def run(s: Series) -> RetrieveResult:
        cb = (lambda d, t: progress(s, d, t)) if progress else None
        return one(s.series_instance_uid, cb)

    if parallel <= 1 or len(ordered) == 1:
        return [run(s) for s in ordered]
    outcomes = at_once([functools.partial(run, s) for s in ordered], parallel)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes  # type: ignore[return-value]


def at_once(calls: Sequence[Callable[[], T]], parallel: int) -> list[T | BaseException]:
    """Every call, up to ``parallel`` at once on threads of their own, each to its end: each
    one's result, or what it raised, in the calls' order."""
    with concurrent.futures.ThreadPoolExecutor(
        max(1, min(parallel, len(calls))), thread_name_prefix="at-once"
    ) as pool:
        futures = [pool.submit(call) for call in calls]
        concurrent.futures.wait(futures)
    return [exc if (exc := f.exception()) is not None else f.result() for f in futures]
