"""DICOMweb over TLS: a real Orthanc behind stunnel (a TLS terminator) on 127.0.0.1.

A certificate authority, a server certificate for 127.0.0.1 and a client certificate are made
by ``openssl`` for each test module. Checked: with the site's CA bundle the archive is queried
and an object stored (STOW-RS) and retrieved (WADO-RS) over HTTPS; without it, or when the
server's certificate names another host, ``workstation check`` says the certificate is not
trusted and exits 1 (no "insecure" fallback exists); with mutual TLS, a client without a
certificate is refused and one with the site's client certificate gets in.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from workstation.archive.dicomweb import DicomWebClient
from workstation.archive.orthanc import DICOMWEB_PLUGIN, OrthancProcess, free_port
from workstation.archive.remote import RemoteError, check_archive
from workstation.core.settings import ArchiveConfig
from workstation.demo import CT_HEAD, generate_slice

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None
    or shutil.which("stunnel") is None
    or shutil.which("Orthanc") is None
    or not DICOMWEB_PLUGIN.exists(),
    reason="openssl, Orthanc and its DICOMweb plugin are needed",
)


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA certificate (the site's ca_bundle)
    server: Path  # server certificate + key, for 127.0.0.1
    wrong_host: Path  # server certificate + key for another host name
    client: Path  # client certificate + key (mutual TLS)
    other_ca: Path  # a CA that signed none of these


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def _issue(folder: Path, name: str, subject: str, ext: str) -> Path:
    """A key and a certificate signed by ca.pem; returns one PEM with both (Orthanc's form)."""
    (folder / f"{name}.ext").write_text(ext + "\n", encoding="ascii")
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
        f"{name}.csr", "-subj", subject, cwd=folder,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext",
        cwd=folder,
    )  # fmt: skip
    both = folder / f"{name}.pem"
    both.write_text(
        (folder / f"{name}.crt").read_text() + (folder / f"{name}.key").read_text(),
        encoding="ascii",
    )
    both.chmod(0o600)
    return both


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out",
            f"{ca}.pem", "-days", "2", "-subj", f"/CN=Workstation test {ca}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d,
        )  # fmt: skip
    server_ext = "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    return Pki(
        ca=d / "ca.pem",
        server=_issue(d, "server", "/CN=127.0.0.1", server_ext + "subjectAltName=IP:127.0.0.1"),
        wrong_host=_issue(
            d, "wrong", "/CN=archive.example", server_ext + "subjectAltName=DNS:archive.example"
        ),
        client=_issue(
            d,
            "client",
            "/CN=reading-workstation-7",
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth",
        ),
        other_ca=d / "other-ca.pem",
    )


class TlsFront:
    """stunnel terminating TLS on a port of its own and passing the bytes to Orthanc's HTTP port
    (how a site puts HTTPS before an archive; Debian 12's Orthanc 1.10.1 crashes on the first
    request of its own HTTPS server, built on civetweb with OpenSSL 3)."""

    def __init__(
        self, folder: Path, orthanc: OrthancProcess, cert: Path, client_ca: Path | None = None
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = folder / "stunnel.log"
        mutual = (
            f"CAfile = {client_ca}\nverifyChain = yes\nrequireCert = yes\n" if client_ca else ""
        )
        conf = folder / "stunnel.conf"
        conf.write_text(
            f"foreground = yes\npid =\noutput = {self.log}\ndebug = 4\n"
            f"[dicomweb]\naccept = 127.0.0.1:{self.port}\n"
            f"connect = 127.0.0.1:{orthanc.http_port}\ncert = {cert}\n{mutual}",
            encoding="ascii",
        )
        self.proc = subprocess.Popen(
            ["stunnel", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            assert time.monotonic() < deadline, "stunnel did not listen within 10 s"
            time.sleep(0.02)
        self.dicomweb = f"https://127.0.0.1:{self.port}/dicom-web"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def https_archive(pki: Pki, orthanc: OrthancProcess, tmp_path_factory) -> Iterator[TlsFront]:
    front = TlsFront(tmp_path_factory.mktemp("tls-front"), orthanc, pki.server)
    try:
        yield front
    finally:
        front.stop()


def _config(front: TlsFront, **kw: str) -> ArchiveConfig:
    return ArchiveConfig(
        name="tls-hub", dicomweb_url=front.dicomweb, connect_timeout_s=5, read_timeout_s=20, **kw
    )


def test_with_the_site_ca_the_archive_is_used_over_https(https_archive, pki, tmp_path, monkeypatch):
    # Managed desktops often set REQUESTS_CA_BUNDLE: the archive's ca_bundle must still win
    # (requests would let the variable replace a session's verify, psf/requests#3829).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.other_ca))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(pki.other_ca))
    assert https_archive.dicomweb.startswith("https://127.0.0.1:")
    ds = generate_slice(CT_HEAD.series[0], 75)
    path = tmp_path / "slice.dcm"
    ds.save_as(path, enforce_file_format=True)
    with DicomWebClient(_config(https_archive, ca_bundle=str(pki.ca))) as client:
        result = client.store_instances([path])
        assert result.stored == [ds.SOPInstanceUID]
        [study] = client.search_studies(StudyInstanceUID=CT_HEAD.study_instance_uid)
        assert study.study_instance_uid == CT_HEAD.study_instance_uid
    steps = check_archive(_config(https_archive, ca_bundle=str(pki.ca)))
    assert [(s.name, s.ok) for s in steps] == [
        ("QIDO-RS search", True),
        ("WADO-RS metadata", True),
    ]


def test_an_untrusted_certificate_is_refused_with_advice(https_archive, pki):
    for config in (
        _config(https_archive),  # the system's CAs do not know our test CA
        _config(https_archive, ca_bundle=str(pki.other_ca)),
    ):
        with DicomWebClient(config) as client, pytest.raises(RemoteError) as err:
            client.search_studies(limit=1)
        assert "the certificate is not trusted or does not match" in str(err.value)
        assert "set ca_bundle" in str(err.value)


def test_a_certificate_for_another_host_is_refused(pki, orthanc, tmp_path):
    front = TlsFront(tmp_path / "wrong", orthanc, pki.wrong_host)
    try:
        with (
            DicomWebClient(_config(front, ca_bundle=str(pki.ca))) as client,
            pytest.raises(RemoteError) as err,
        ):
            client.search_studies(limit=1)
        assert "the certificate is not trusted or does not match" in str(err.value)
    finally:
        front.stop()


def test_check_command_reports_tls_failure_and_success(https_archive, pki, cli, isolated_home):
    cfg = isolated_home / "config" / "workstation" / "settings.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        f'[[archives]]\nname = "untrusted"\ndicomweb_url = "{https_archive.dicomweb}"\n'
        f'[[archives]]\nname = "trusted"\ndicomweb_url = "{https_archive.dicomweb}"\n'
        f'ca_bundle = "{pki.ca}"\n',
        encoding="utf-8",
    )
    r = cli("check")
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "archive untrusted"
    assert lines[1].split()[:3] == ["QIDO-RS", "search", "FAILED"]
    assert "the certificate is not trusted or does not match" in lines[1]
    i = lines.index("archive trusted")
    assert [ln.split()[:3] for ln in lines[i + 1 :]] == [
        ["QIDO-RS", "search", "ok"],
        ["WADO-RS", "metadata", lines[i + 2].split()[2]],
    ]


def test_mutual_tls_needs_the_client_certificate(pki, orthanc, tmp_path):
    front = TlsFront(tmp_path / "mtls", orthanc, pki.server, client_ca=pki.ca)
    try:
        with (
            DicomWebClient(_config(front, ca_bundle=str(pki.ca))) as anonymous,
            pytest.raises(RemoteError) as err,
        ):
            anonymous.search_studies(limit=1)
        assert "TLS failed" in str(err.value)
        with DicomWebClient(
            _config(front, ca_bundle=str(pki.ca), client_cert=str(pki.client))
        ) as client:
            assert isinstance(client.search_studies(limit=1), list)
        # a certificate the CA signed, but not for client authentication
        stranger = _config(front, ca_bundle=str(pki.ca), client_cert=str(pki.wrong_host))
        with DicomWebClient(stranger) as client, pytest.raises(RemoteError) as err:
            client.search_studies(limit=1)
        assert "TLS failed" in str(err.value)
    finally:
        front.stop()
