"""Faults give clear errors, never a crash, and leave the local store consistent.

A stopped Orthanc, and a loopback HTTP server of the test's own that answers 401, 403, 500, bad
JSON, slow answers, cut connections and broken multipart bodies.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from support import LoopbackHandler, loopback_fixture

from workstation.archive.dicomweb import DicomWebClient
from workstation.archive.local import LocalArchive
from workstation.archive.orthanc import OrthancProcess
from workstation.archive.queue import JobState, Priority, RetrievalQueue
from workstation.archive.remote import RemoteError, RemoteProtocolError, RetrieveError
from workstation.core.errors import StoreError
from workstation.core.settings import ArchiveConfig

UID_ROOT = "1.2.826.0.1.3680043.10.999.7."
STUDY = UID_ROOT + "1"
SERIES = UID_ROOT + "1.1"
SOPS = [f"{UID_ROOT}1.1.{k}" for k in (1, 2, 3)]
BOUNDARY = "fake-boundary-1"


def _objects() -> list[bytes]:
    """Three small CT objects of one series, as Part 10 bytes."""
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


def _multipart(bodies: list[bytes], close: bool = True) -> bytes:
    out = b""
    for b in bodies:
        out += f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + b + b"\r\n"
    # Without the close delimiter the body ends right after the last part's delimiter.
    return out + (f"--{BOUNDARY}--\r\n" if close else f"--{BOUNDARY}").encode()


def _instances_json() -> bytes:
    return json.dumps(
        [
            {
                "0020000D": {"vr": "UI", "Value": [STUDY]},
                "0020000E": {"vr": "UI", "Value": [SERIES]},
                "00080018": {"vr": "UI", "Value": [sop]},
                "00080016": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]},
            }
            for sop in SOPS
        ]
    ).encode()


class _Handler(LoopbackHandler):
    """Answers by the first path segment, the fault mode: /MODE/dicom-web/..."""

    def do_GET(self) -> None:
        mode, _, rest = self.path.lstrip("/").partition("/")
        path = rest.split("?")[0]
        is_series_retrieve = path.endswith(f"/series/{SERIES}")
        if path.endswith("/instances"):
            self._send(200, _instances_json(), "application/dicom+json")
        elif path.endswith(f"/studies/{STUDY}/series") and mode.endswith("counted"):
            series = {"0020000E": {"vr": "UI", "Value": [SERIES]}}
            series["00201209"] = {"vr": "IS", "Value": [len(SOPS)]}
            self._send(200, json.dumps([series]).encode(), "application/dicom+json")
        elif mode == "e500":
            self._send(500, b'{"Message": "boom"}', "application/json")
        elif mode == "e401":
            self._send(401, b"", "text/plain")
        elif mode == "e403":
            self._send(403, b"", "text/plain")
        elif mode == "e404":
            self._send(404, b"", "text/plain")
        elif mode == "badjson":
            self._send(200, b'[{"0020000D": ', "application/dicom+json")
        elif mode == "notlist":
            self._send(200, b'{"a": 1}', "application/dicom+json")
        elif mode == "slow":
            time.sleep(1.0)
            self._send(200, b"[]", "application/dicom+json")
        elif is_series_retrieve and mode == "truncated":
            body = _multipart(OBJECTS)
            cut = body.index(OBJECTS[2]) + 1000  # inside part 3, no closing boundary
            self._send(200, body[:cut], f"multipart/related; boundary={BOUNDARY}")
        elif is_series_retrieve and mode == "noclose":
            self._send(
                200, _multipart(OBJECTS, close=False), f"multipart/related; boundary={BOUNDARY}"
            )
        elif is_series_retrieve and mode == "noboundary":
            self._send(200, _multipart(OBJECTS), 'multipart/related; type="application/dicom"')
        elif is_series_retrieve and mode == "cutconn":
            body = _multipart(OBJECTS)
            cut = body.index(OBJECTS[1]) + 500
            self._send(200, body[:cut], f"multipart/related; boundary={BOUNDARY}", len(body))
            self.close_connection = True
        elif is_series_retrieve and mode in ("ok", "okcounted"):
            self._send(200, _multipart(OBJECTS), f"multipart/related; boundary={BOUNDARY}")
        elif is_series_retrieve and mode in ("badpart", "badpartcounted"):
            bodies = [OBJECTS[0], b"this is not DICOM at all" * 10, OBJECTS[2]]
            self._send(200, _multipart(bodies), f"multipart/related; boundary={BOUNDARY}")
        else:
            self._send(404, b"", "text/plain")


fake = loopback_fixture(_Handler, "fake")


def _client(fake: str, mode: str, **kw) -> DicomWebClient:
    return DicomWebClient(ArchiveConfig(name="fake", dicomweb_url=f"{fake}/{mode}/dicom-web", **kw))


def _where(fake: str) -> str:
    return fake.removeprefix("http://")


def _assert_consistent(store: LocalArchive, stored: set[str]) -> None:
    """No partial or temporary file; exactly the complete objects, indexed and readable."""
    assert list((store.root / "tmp").iterdir()) == []
    files = sorted((store.root / "studies").rglob("*.dcm"))
    assert sorted(f.stem for f in files) == sorted(stored)
    assert {i.sop_instance_uid for i in store.instances(SERIES)} == stored
    for f in files:
        ds = pydicom.dcmread(f)
        assert len(ds.PixelData) == 128 * 128 * 2


@pytest.mark.parametrize(
    ("mode", "kw", "message"),
    [
        ("e500", {}, "the archive at {w} failed with 500 Internal Server Error for a study "
         "search (QIDO-RS); see the archive's log"),
        ("e401", {"auth": "basic", "user": "u", "password": "wrong"},
         "401 from {w} for a study search (QIDO-RS): wrong user or password"),
        ("e401", {"auth": "bearer", "token": "t"},
         "401 from {w} for a study search (QIDO-RS): the token was rejected or has expired"),
        ("e403", {}, "403 from {w} for a study search (QIDO-RS): the account may not do this"),
        ("e404", {}, "404 from {w} for a study search (QIDO-RS): not on the archive, or the "
         "DICOMweb root /e404/dicom-web is wrong"),
        ("badjson", {}, "the archive at {w} answered a study search (QIDO-RS) with invalid JSON "
         "(14 bytes, Content-Type 'application/dicom+json')"),
        ("notlist", {}, "the archive at {w} answered a study search (QIDO-RS) with JSON that is "
         "not a list of DICOM JSON objects (PS3.18 F.2)"),
        ("slow", {"read_timeout_s": 0.3}, "the archive at {w} did not answer a study search "
         "(QIDO-RS) within 0.3 s (read_timeout_s); it may be overloaded"),
    ],
)  # fmt: skip
def test_query_faults_give_clear_errors(fake, mode, kw, message):
    with _client(fake, mode, **kw) as c, pytest.raises(RemoteError) as err:
        c.search_studies(PatientID="X")
    assert str(err.value).startswith(message.format(w=_where(fake))), str(err.value)
    if mode in ("badjson", "notlist"):
        assert isinstance(err.value, RemoteProtocolError)


@pytest.mark.parametrize(
    ("mode", "stored", "message"),
    [
        ("truncated", 2, "sent a broken multipart answer: the multipart body ends inside part 3"),
        ("noclose", 3, "without its close delimiter"),
        ("noboundary", 0, "has no boundary parameter in its Content-Type"),
        # The body is handed on as it arrives: the object that came whole before the
        # connection ended is kept (with reads of a fixed 1 MiB it was lost with the rest).
        ("cutconn", 1, "the transfer of a retrieve (WADO-RS) from"),
    ],
)
def test_broken_retrievals_keep_only_whole_objects(fake, tmp_path, mode, stored, message):
    store = LocalArchive(tmp_path / "store")
    with _client(fake, mode) as c, pytest.raises(RetrieveError) as err:
        c.retrieve_series(STUDY, SERIES, store)
    assert message in str(err.value)
    assert str(err.value).endswith(
        f"({stored} of 3 instances of the series are in the local store)"
    )
    result = err.value.result
    assert (result.expected, result.received) == (3, stored)
    assert result.missing == tuple(sorted(SOPS[stored:]))
    assert result.complete == (stored == 3)  # every object whole, though the body was not
    _assert_consistent(store, set(SOPS[:stored]))
    store.close()


@pytest.mark.parametrize("mode", ["badpart", "badpartcounted"])
def test_a_bad_part_is_rejected_and_reported_missing(fake, tmp_path, mode):
    """With the series' count (short by one) and without it (no series-level QIDO-RS), the
    instance list names the missing instance."""
    store = LocalArchive(tmp_path / "store")
    with _client(fake, mode) as c:
        result = c.retrieve_series(STUDY, SERIES, store)
    assert (result.expected, result.received, result.missing) == (3, 2, (SOPS[1],))
    assert not result.complete
    assert [reason for _, reason in result.rejected] == [
        "not a DICOM file (no DICOM preamble or identifiers)"
    ]
    _assert_consistent(store, {SOPS[0], SOPS[2]})
    store.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs of the test's own (needs root: CI runs as root), unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def nearly_full_store(small_disk: Path) -> Iterator[tuple[LocalArchive, Path]]:
    """A store on the small disk with room left for about one of the three objects, and the
    file that takes the rest of the room."""
    store = LocalArchive(small_disk / "store")
    store.commit()
    room = os.statvfs(small_disk)
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (room.f_bavail * room.f_frsize - len(OBJECTS[0]) - 64 * 1024))
    yield store, filler
    store.close()


def test_a_full_disk_mid_retrieve_says_so_keeps_whole_objects_and_resumes(fake, nearly_full_store):
    """The disk fills before the last of three objects is written: a StoreError that says
    the disk is full, no temp file left, every object in the store whole and indexed; once
    there is room again the same call fetches the rest."""
    store, filler = nearly_full_store
    with _client(fake, "ok") as c, pytest.raises(StoreError) as err:
        c.retrieve_series(STUDY, SERIES, store)
    assert "the disk of the local store is full (No space left on device)" in str(err.value)
    kept = {i.sop_instance_uid for i in store.instances(SERIES)}
    assert len(kept) < 3
    _assert_consistent(store, kept)
    filler.unlink()
    with _client(fake, "ok") as c:
        result = c.retrieve_series(STUDY, SERIES, store)
    assert result.complete and result.already_present == len(kept)
    _assert_consistent(store, set(SOPS))


def test_a_full_disk_ends_a_queued_retrieval_with_that_reason(fake, nearly_full_store):
    """The retrieval queue (what the application retrieves with) fails the job with the full
    disk as its reason, not as an unexpected error, and leaves the store consistent."""
    store, _filler = nearly_full_store
    config = ArchiveConfig(name="fake", dicomweb_url=f"{fake}/okcounted/dicom-web")
    with RetrievalQueue(config, store, max_retries=0) as queue:
        job = queue.enqueue(STUDY, Priority.PREFETCH)
        assert job.wait(30)
    assert job.state is JobState.FAILED
    assert job.error.startswith("the disk of the local store is full ("), job.error
    _assert_consistent(store, {i.sop_instance_uid for i in store.instances(SERIES)})


def test_stopped_orthanc_gives_connection_refused(orthanc_fresh, cli, tmp_path):
    http, dicom = orthanc_fresh.http_port, orthanc_fresh.dicom_port
    url = orthanc_fresh.urls.dicomweb
    orthanc_fresh.stop(kill=True)
    assert not orthanc_fresh.running
    r = cli("check", "--dicomweb-url", url, "--dimse", f"127.0.0.1:{dicom}:ORTHANC")
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "archive command-line"
    assert lines[1].split() == [
        "C-ECHO",
        "FAILED",
        *f"connection refused at 127.0.0.1:{dicom}: is the archive's DICOM port right and is "
        "it running?".split(),
    ]
    assert lines[2].split()[:3] == ["QIDO-RS", "search", "FAILED"]
    assert lines[2].endswith(
        f"connection refused at 127.0.0.1:{http}: is the archive running, "
        "and are the host and port of its URL right?"
    )
    assert len(lines) == 3  # no WADO-RS step after a failed QIDO-RS
    q = cli("query", "--dicomweb-url", url)
    assert q.returncode == 2
    assert q.stderr.strip().startswith(f"error: connection refused at 127.0.0.1:{http}")
    g = cli("retrieve", "--dicomweb-url", url, "--data-dir", str(tmp_path / "s"), STUDY)
    assert g.returncode == 1
    assert f"error: {STUDY}: connection refused at 127.0.0.1:{http}" in g.stderr


def test_cli_reports_a_broken_retrieval_and_exits_non_zero(fake, cli, tmp_path):
    store = tmp_path / "store"
    r = cli(
        "retrieve",
        "--dicomweb-url",
        f"{fake}/truncated/dicom-web",
        "--data-dir",
        str(store),
        "--series",
        SERIES,
        STUDY,
    )
    assert r.returncode == 1
    assert r.stdout.startswith(f"{SERIES}\t2/3 instances (2 received, 0 already present, 1 missing")
    assert f"incomplete: {SERIES}: 1 missing: {SOPS[2]}" in r.stderr
    a = LocalArchive(store)
    _assert_consistent(a, set(SOPS[:2]))
    a.close()


def test_cli_config_errors_name_the_file_and_key(cli, isolated_home):
    cfg = isolated_home / "config" / "workstation" / "settings.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[[archives]]\nname = "hub"\ndicomweb_url = "pacs:8042"\n', encoding="utf-8")
    r = cli("check")
    assert r.returncode == 2
    assert r.stderr.strip() == (
        f"error: {cfg}: archives[0].dicomweb_url: must start with http:// or https://"
    )
    bad = cli("query", "--dimse", "127.0.0.1:x:ORTHANC")
    assert bad.returncode == 2
    assert "--dimse must be HOST:PORT:AET" in bad.stderr


def test_orthanc_that_cannot_start_says_why(tmp_path: Path):
    o = OrthancProcess(tmp_path / "o", extra_config={"StorageDirectory": "/proc/no-such/x"})
    with pytest.raises(RemoteError) as err:
        o.start()
    assert str(err.value).startswith("Orthanc exited during start-up with code")
    assert 'create_directories: No such file or directory: "/proc/no-such"' in str(err.value)
    assert f"its log ({o.log_path}) ends with:" in str(err.value)
    assert not o.running
    with pytest.raises(ValueError, match="never limit an archive's size"):
        OrthancProcess(tmp_path / "p", extra_config={"MaximumStorageSize": 10}).config()


def test_orthanc_config_is_loopback_only(tmp_path: Path):
    o = OrthancProcess(tmp_path / "o", http_port=18042, dicom_port=14242, stable_age_s=2)
    cfg = o.config()
    assert (cfg["RemoteAccessAllowed"], cfg["HttpPort"], cfg["DicomPort"], cfg["StableAge"]) == (
        False,
        18042,
        14242,
        2,
    )
    assert cfg["DicomWeb"]["Host"] == "127.0.0.1:18042"
    assert "MaximumStorageSize" not in cfg
    assert o.urls.dicomweb == "http://127.0.0.1:18042/dicom-web"
