"""The DICOMweb client sends the credentials its archive is configured with and no others:
a ``~/.netrc`` entry for the archive's host (which ``requests`` reads for every request made
without auth of its own) neither adds credentials nor replaces a bearer token. Checked
against a loopback server of the test's own that records each request's Authorization."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import LoopbackHandler, loopback_http
from workstation.archive.dicomweb import DicomWebClient
from workstation.core.settings import ArchiveConfig

seen_auth: list[str | None] = []


class _Handler(LoopbackHandler):
    def do_GET(self) -> None:
        seen_auth.append(self.headers.get("Authorization"))
        self._send(200, b"[]", "application/dicom+json")


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A loopback server, and a netrc file with credentials for its host."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    seen_auth.clear()
    with loopback_http(_Handler) as url:
        yield url


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_plain_requests_would_send_the_netrc_credentials(server):
    """The control: the netrc file is found and used by requests on its own."""
    requests.get(f"{server}/dicom-web/studies", timeout=10).raise_for_status()
    assert seen_auth == [_basic("netrc-user", "netrc-secret")]


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ({}, None),
        ({"auth": "bearer", "token": "tok-123"}, "Bearer tok-123"),
        ({"auth": "basic", "user": "reader", "password": "pw"}, _basic("reader", "pw")),
    ],
)
def test_only_the_configured_credentials_are_sent(server, auth, expected):
    config = ArchiveConfig(name="a", dicomweb_url=f"{server}/dicom-web", **auth)
    with DicomWebClient(config) as client:
        assert client.search_studies(PatientID="X") == []
        assert client.search_studies(PatientID="Y") == []
    assert seen_auth == [expected, expected]
