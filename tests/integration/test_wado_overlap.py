"""WADO-RS into an empty store asks for the series' count (QIDO-RS) while the series streams.

A loopback HTTP server of the test's own answers the count, the instance list and the series,
each after a delay or with a fault, so the order of events is known: the two requests overlap,
progress starts at (0, N) and ends at (N, N), the instance list is asked for only when the
count is short or missing, and then the list's own failure is what the caller sees.
"""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from support import LoopbackHandler, loopback_fixture

from workstation.archive.dicomweb import DicomWebClient
from workstation.archive.local import LocalArchive
from workstation.archive.remote import RemoteError, RetrieveError
from workstation.core.settings import ArchiveConfig

UID_ROOT = "1.2.826.0.1.3680043.10.999.8."
STUDY = UID_ROOT + "1"
SERIES = UID_ROOT + "1.1"
SOPS = [f"{UID_ROOT}1.1.{k}" for k in (1, 2, 3)]
BOUNDARY = "overlap-boundary"
DELAY_S = 0.6


def _objects() -> list[bytes]:
    out = []
    for sop in SOPS:
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = STUDY, SERIES
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append(buf.getvalue())
    return out


OBJECTS = _objects()
BODY = (
    b"".join(
        f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + o + b"\r\n"
        for o in OBJECTS
    )
    + f"--{BOUNDARY}--\r\n".encode()
)
LISTING = json.dumps(
    [{"00080018": {"vr": "UI", "Value": [sop]}, "0020000E": {"vr": "UI", "Value": [SERIES]}}
     for sop in SOPS]
).encode()  # fmt: skip


ASKED: list[tuple[str, str]] = []  # (mode, "count" | "list" | "series"), in order


def _count(n: int) -> bytes:
    return json.dumps(
        [{"0020000E": {"vr": "UI", "Value": [SERIES]}, "00201209": {"vr": "IS", "Value": [n]}}]
    ).encode()


class _Handler(LoopbackHandler):
    """/MODE/dicom-web/...: ``slow`` delays every answer, ``short`` counts one instance more
    than the archive sends; ``listfail`` (the list fails with 500) and ``listempty`` (lists
    nothing) have no series-level QIDO-RS, as some archives."""

    def do_GET(self) -> None:
        mode, _, rest = self.path.lstrip("/").partition("/")
        path = rest.split("?")[0]
        if mode == "slow":
            time.sleep(DELAY_S)
        if path.endswith(f"/studies/{STUDY}/series"):
            ASKED.append((mode, "count"))
            if mode in ("slow", "ok", "short"):
                self._send(200, _count(4 if mode == "short" else 3), "application/dicom+json")
            else:
                self._send(404, b"", "text/plain")
        elif path.endswith("/instances"):
            ASKED.append((mode, "list"))
            if mode == "listfail":
                self._send(500, b'{"Message": "boom"}', "application/json")
            else:
                self._send(200, b"[]" if mode == "listempty" else LISTING, "application/dicom+json")
        elif path.endswith(f"/series/{SERIES}"):
            ASKED.append((mode, "series"))
            self._send(
                200, BODY, f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
            )
        else:
            self._send(404, b"", "text/plain")


server = loopback_fixture(_Handler, "server")


def _client(server: str, mode: str) -> DicomWebClient:
    return DicomWebClient(ArchiveConfig(name="fake", dicomweb_url=f"{server}/{mode}/dicom-web"))


def test_list_and_series_overlap_and_progress_is_whole(server: str, tmp_path: Path):
    store = LocalArchive(tmp_path / "store")
    calls: list[tuple[int, int]] = []
    started = time.perf_counter()
    with _client(server, "slow") as c:
        result = c.retrieve_series(STUDY, SERIES, store, lambda d, t: calls.append((d, t)))
    elapsed = time.perf_counter() - started
    assert (result.expected, result.received, result.missing, result.complete) == (3, 3, (), True)
    assert calls == [(0, 3), (3, 3)]
    assert {i.sop_instance_uid for i in store.instances(SERIES)} == set(SOPS)
    # Two answers of 0.6 s each, asked for at once: well under the 1.2 s of one after the other.
    assert DELAY_S <= elapsed < 2 * DELAY_S - 0.05
    assert list(store.tmp_dir.iterdir()) == []
    # The count sufficed: the instance list (slow to build on a big series) was not asked for.
    assert sorted(kind for m, kind in ASKED if m == "slow") == ["count", "series"]
    store.close()


def test_a_short_count_asks_for_the_list(server: str, tmp_path: Path):
    """The archive counts 4, sends 3 and lists 3: the list decides (the series is whole)."""
    store = LocalArchive(tmp_path / "store")
    with _client(server, "short") as c:
        result = c.retrieve_series(STUDY, SERIES, store)
    assert (result.expected, result.received, result.missing, result.complete) == (3, 3, (), True)
    assert sorted(kind for m, kind in ASKED if m == "short") == ["count", "list", "series"]
    store.close()


def test_the_lists_failure_is_reported_not_a_retrieve_error(server: str, tmp_path: Path):
    store = LocalArchive(tmp_path / "store")
    where = server.removeprefix("http://")
    with _client(server, "listfail") as c, pytest.raises(RemoteError) as info:
        c.retrieve_series(STUDY, SERIES, store)
    assert not isinstance(info.value, RetrieveError)
    assert str(info.value) == (
        f"the archive at {where} failed with 500 Internal Server Error for an instance search "
        "(QIDO-RS); see the archive's log"
    )
    assert list(store.tmp_dir.iterdir()) == []
    store.close()


def test_an_empty_list_is_reported(server: str, tmp_path: Path):
    store = LocalArchive(tmp_path / "store")
    where = server.removeprefix("http://")
    with _client(server, "listempty") as c, pytest.raises(RemoteError) as info:
        c.retrieve_series(STUDY, SERIES, store)
    assert str(info.value) == f"the archive at {where} lists no instances for series {SERIES}"
    store.close()


def test_the_index_lists_the_series_uids(server: str, tmp_path: Path):
    store = LocalArchive(tmp_path / "store")
    with _client(server, "ok") as c:
        c.retrieve_series(STUDY, SERIES, store)
    assert store.index.sop_instance_uids(SERIES) == set(SOPS)
    assert store.index.sop_instance_uids(UID_ROOT + "9") == set()
    store.close()


def test_two_retrievals_of_one_series_at_once_both_end_complete(server: str, tmp_path: Path):
    """The CLI and the app's queue may fetch the same series into one store together: what
    the other stored meanwhile counts as present, and neither reports the series partial."""
    store = LocalArchive(tmp_path / "store")
    results: list[object] = []

    def fetch() -> None:
        with _client(server, "slow") as c:
            results.append(c.retrieve_series(STUDY, SERIES, store))

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 2
    for r in results:
        assert (r.expected, r.missing, r.complete) == (3, (), True)  # type: ignore[attr-defined]
        assert r.received + r.already_present == 3  # type: ignore[attr-defined]
    assert sum(r.received for r in results) == 3  # type: ignore[attr-defined]
    assert store.index.sop_instance_uids(SERIES) == set(SOPS)
    store.close()
