"""Reading a streamed answer's body as it arrives (dicomweb.body_chunks), from a loopback
server of the test's own: what came is handed on at once, a cut body raises the error
``requests`` raises, a compressed body is decoded."""

from __future__ import annotations

import gzip
import threading
import time

import pytest
import requests

from tests.support import LoopbackHandler, loopback_fixture
from workstation.archive.dicomweb import body_chunks

FIRST = b"a" * 1000
REST = b"b" * 5000
RELEASE = threading.Event()  # the server sends REST once the test has seen FIRST


class _Handler(LoopbackHandler):
    def do_GET(self) -> None:
        if self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(FIRST) + len(REST)))
            self.end_headers()
            self.wfile.write(FIRST)
            self.wfile.flush()
            RELEASE.wait(10)
            self.wfile.write(REST)
        elif self.path == "/chunked-cut":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(FIRST), FIRST))
            self.wfile.write(b"%x\r\n" % len(REST) + REST[:100])  # the connection ends here
            self.close_connection = True
        elif self.path == "/length-cut":
            self._send(200, FIRST, "application/octet-stream", length=len(FIRST) + len(REST))
            self.close_connection = True
        elif self.path == "/gzip":
            body = gzip.compress(FIRST + REST)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._send(404, b"", "text/plain")


server = loopback_fixture(_Handler, "server")


def test_what_came_is_handed_on_before_the_rest_arrives(server):
    """iter_content(1 MiB) would wait for the whole 6,000 bytes; the server sends the rest
    only after the test has the first 1,000."""
    RELEASE.clear()
    got = b""
    started = time.monotonic()
    with requests.get(f"{server}/slow", stream=True, timeout=10) as r:
        chunks = body_chunks(r, 1 << 20)
        got += next(chunks)
        assert got == FIRST
        assert time.monotonic() - started < 5  # not the server's 10 s wait
        RELEASE.set()
        for chunk in chunks:
            got += chunk
    assert got == FIRST + REST


@pytest.mark.parametrize("path", ["/chunked-cut", "/length-cut"])
def test_a_cut_body_raises_what_iter_content_raises(server, path):
    """Chunked and cut inside a chunk, or shorter than its Content-Length: requests' own
    error, after what arrived before the cut was handed on."""
    got = b""
    with (
        requests.get(f"{server}{path}", stream=True, timeout=10) as r,
        pytest.raises(requests.exceptions.ChunkedEncodingError),
    ):
        for chunk in body_chunks(r, 1 << 20):
            got += chunk
    assert got[: len(FIRST)] == FIRST and len(got) < len(FIRST) + len(REST)


def test_a_compressed_body_is_decoded(server):
    with requests.get(f"{server}/gzip", stream=True, timeout=10) as r:
        assert b"".join(body_chunks(r, 1 << 20)) == FIRST + REST
