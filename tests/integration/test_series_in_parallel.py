"""Several series of one study are retrieved at once (issue #5: "several series in parallel over
a pooled HTTP session"): by ``DicomWebClient.retrieve_study`` and by a background job of the
retrieval queue.

A loopback HTTP server of the test's own answers each series after a fixed delay, so overlap
shows in the wall time: three series of 0.5 s each take well under the 1.5 s of one after the
other. A series that fails stops the job with its own error; the others' instances stay.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from support import LoopbackHandler, loopback_fixture

from workstation.archive.dicomweb import DicomWebClient
from workstation.archive.local import LocalArchive
from workstation.archive.queue import JobState, Priority, RetrievalQueue
from workstation.archive.remote import RemoteError
from workstation.core.settings import ArchiveConfig

UID_ROOT = "1.2.826.0.1.3680043.10.999.9."
STUDY = UID_ROOT + "1"
SERIES = [f"{UID_ROOT}1.{n}" for n in (1, 2, 3)]
PER_SERIES = 2
BOUNDARY = "parallel-boundary"
DELAY_S = 0.5


def _objects(series_uid: str, n: int) -> list[tuple[str, bytes]]:
    out = []
    for k in range(PER_SERIES):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        sop = f"{series_uid}.{k + 1}"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SeriesNumber = STUDY, series_uid, n
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.InstanceNumber = k + 1
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append((sop, buf.getvalue()))
    return out


OBJECTS = {uid: _objects(uid, n) for n, uid in enumerate(SERIES, 1)}
ASKED: list[tuple[str, str, float]] = []  # (mode, series UID, time the answer started)


def _series_list() -> bytes:
    return json.dumps(
        [
            {
                "0020000D": {"vr": "UI", "Value": [STUDY]},
                "0020000E": {"vr": "UI", "Value": [uid]},
                "00200011": {"vr": "IS", "Value": [n]},
                "00080060": {"vr": "CS", "Value": ["CT"]},
                "00201209": {"vr": "IS", "Value": [PER_SERIES]},
            }
            for n, uid in enumerate(SERIES, 1)
        ]
    ).encode()


class _Handler(LoopbackHandler):
    """/MODE/dicom-web/...: every series answer waits DELAY_S; in mode ``fail2`` the second
    series answers 500."""

    def do_GET(self) -> None:
        mode, _, rest = self.path.lstrip("/").partition("/")
        path = rest.split("?")[0]
        if path.endswith(f"/studies/{STUDY}/series"):
            self._send(200, _series_list(), "application/dicom+json")
            return
        for uid in SERIES:
            if path.endswith(f"/series/{uid}"):
                ASKED.append((mode, uid, time.monotonic()))
                time.sleep(DELAY_S)
                if mode == "fail2" and uid == SERIES[1]:
                    self._send(500, b'{"Message": "boom"}', "application/json")
                    return
                body = (
                    b"".join(
                        f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
                        + o
                        + b"\r\n"
                        for _, o in OBJECTS[uid]
                    )
                    + f"--{BOUNDARY}--\r\n".encode()
                )
                ctype = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
                self._send(200, body, ctype)
                return
        self._send(404, b"", "text/plain")


server = loopback_fixture(_Handler, "server")


def _config(server: str, mode: str) -> ArchiveConfig:
    return ArchiveConfig(name="fake", dicomweb_url=f"{server}/{mode}/dicom-web")


def _stored(store: LocalArchive) -> dict[str, set[str]]:
    return {uid: store.index.sop_instance_uids(uid) for uid in SERIES}


def _whole() -> dict[str, set[str]]:
    return {uid: {sop for sop, _ in OBJECTS[uid]} for uid in SERIES}


def _overlapped(mode: str) -> float:
    """How far apart the three series answers started (0: all at once)."""
    starts = [t for m, _, t in ASKED if m == mode]
    assert len(starts) == 3
    return max(starts) - min(starts)


def test_retrieve_study_takes_the_series_at_once(server: str, tmp_path: Path):
    store = LocalArchive(tmp_path / "store")
    started = time.perf_counter()
    with DicomWebClient(_config(server, "client")) as c:
        results = c.retrieve_study(STUDY, store)
    elapsed = time.perf_counter() - started
    assert [(r.series_instance_uid, r.expected, r.received, r.complete) for r in results] == [
        (uid, PER_SERIES, PER_SERIES, True) for uid in SERIES
    ]
    assert _stored(store) == _whole()
    assert _overlapped("client") < DELAY_S / 2  # asked for together
    assert DELAY_S <= elapsed < 2 * DELAY_S  # one after the other: 3 × 0.5 s
    store.close()


def test_a_background_job_takes_the_series_at_once(server: str, tmp_path: Path):
    store = LocalArchive(tmp_path / "store")
    with RetrievalQueue(_config(server, "queue"), store) as queue:
        job = queue.enqueue(STUDY, Priority.PREFETCH)
        assert job.wait(10)
    assert job.state is JobState.COMPLETE, job.error
    assert [(s.series_instance_uid, s.received, s.expected, s.complete) for s in job.series] == [
        (uid, PER_SERIES, PER_SERIES, True) for uid in SERIES
    ]
    assert _stored(store) == _whole()
    assert _overlapped("queue") < DELAY_S / 2
    assert job.started_at is not None and job.finished_at is not None
    assert job.finished_at - job.started_at < 2 * DELAY_S
    store.close()


def test_one_failing_series_fails_the_job_and_the_others_stay(server: str, tmp_path: Path):
    store = LocalArchive(tmp_path / "store")
    with RetrievalQueue(_config(server, "fail2"), store, max_retries=0) as queue:
        job = queue.enqueue(STUDY, Priority.PREFETCH)
        assert job.wait(10)
    assert job.state is JobState.FAILED
    assert "500" in job.error and "gave up after 1 tries" in job.error
    held = _stored(store)
    assert held[SERIES[1]] == set()
    assert held[SERIES[0]] == _whole()[SERIES[0]] and held[SERIES[2]] == _whole()[SERIES[2]]
    store.close()


def test_the_client_reports_the_first_failing_series(server: str, tmp_path: Path):
    store = LocalArchive(tmp_path / "store")
    with DicomWebClient(_config(server, "fail2")) as c, pytest.raises(RemoteError) as info:
        c.retrieve_study(STUDY, store)
    assert "500" in str(info.value)
    held = _stored(store)
    assert held[SERIES[0]] == _whole()[SERIES[0]] and held[SERIES[2]] == _whole()[SERIES[2]]
    store.close()


def test_series_streams_is_checked(tmp_path: Path):
    store = LocalArchive(tmp_path / "store")
    for bad in (0, True, 1.5):
        with pytest.raises(ValueError, match="series_streams"):
            RetrievalQueue(
                _config("http://127.0.0.1:9", "x"), store, series_streams=bad, start=False
            )
    store.close()
