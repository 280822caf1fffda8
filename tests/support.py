"""Helpers the test tiers share (importable as ``support``: tests/ is on sys.path)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout_s: float = 15.0, what: str = "it") -> T:
    """Poll ``probe`` every 50 ms until it returns something truthy; AssertionError after
    ``timeout_s`` naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


class LoopbackHandler(BaseHTTPRequestHandler):
    """Base of the tests' own HTTP servers: keep-alive (HTTP/1.1), no request log on stderr,
    and ``_send`` for a whole answer (``length`` may claim another Content-Length, to cut one
    short)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: bytes, ctype: str, length: int | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def loopback_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server of a test's own on 127.0.0.1 (a free port), answering with ``handler``
    on threads of its own; yields its base URL and stops it after."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def loopback_fixture(handler: type[BaseHTTPRequestHandler], name: str) -> Any:
    """A module-scoped fixture called ``name``: :func:`loopback_http` serving ``handler``,
    yielding its base URL. In a test module: ``server = loopback_fixture(_Handler, "server")``.
    """

    @pytest.fixture(scope="module", name=name)
    def serve() -> Iterator[str]:
        with loopback_http(handler) as url:
            yield url

    return serve


def ct_study_facts(
    study_uid: str,
    *,
    name: str,
    patient_id: str,
    accession: str,
    priority: str = "ROUTINE",
    hospital: str = "Demo General Hospital",
    description: str = "CT CHEST",
    study_date: str = "20261126",
) -> Any:
    """``ups.StudyFacts`` of a stored study of one CT CHEST instance, what the worklist plugin
    builds a reading workitem from."""
    from workstation.core import ups

    ct = "1.2.840.10008.5.1.4.1.1.2"
    return ups.StudyFacts(
        study_instance_uid=study_uid,
        accession_number=accession,
        patient_name=name,
        patient_id=patient_id,
        institution_name=hospital,
        study_description=description,
        study_date=study_date,
        study_time="101500",
        referring_physician_name="Referrer^Rita",
        requested_procedure_priority=priority,
        series=(ups.SeriesFacts(f"{study_uid}.1", "CT", "CHEST", ((ct, f"{study_uid}.1.1"),)),),
    )


def clear_reader_annotations(store: Path) -> None:
    """Forget the measurements and key images earlier tests left in the shared demo store."""
    import sqlite3

    with sqlite3.connect(store / "index.sqlite") as conn:
        conn.execute("DELETE FROM measurements")
        conn.execute("DELETE FROM key_images")


def stored_study_uids(root: Path) -> set[str]:
    """The Study Instance UIDs the local store at ``root`` holds, read as a new process would."""
    from workstation.archive.local import LocalArchive

    archive = LocalArchive(root)
    try:
        return {s.study_instance_uid for s in archive.studies()}
    finally:
        archive.close()
