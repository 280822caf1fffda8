"""``workstation archive serve`` as a user runs it: a subprocess on free ports with a data folder
of the test's own; it answers, makes reading workitems for stored studies, keeps its data and
passwords across restarts, and stops cleanly on SIGTERM and on Ctrl-C (SIGINT)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from support import wait_for

from workstation.archive.orthanc import free_port
from workstation.archive.serve import DEFAULT_SITE_CONFIG
from workstation.core.ups import reading_workitem_uid

START_TIMEOUT_S = 30.0
STOP_BOUND_S = 15.0  # Orthanc 1.10's own clean stop takes about 2-4 s
SERVE = [sys.executable, "-m", "workstation.archive.serve"]


class Served:
    """The ``serve`` subprocess with its output collected line by line on a thread."""

    def __init__(self, data_dir: Path, http_port: int, dicom_port: int) -> None:
        self.http_port = http_port
        self.dicom_port = dicom_port
        self.lines: list[str] = []
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                *SERVE,
                *("--data-dir", str(data_dir), "--http-port", str(http_port)),
                *("--dicom-port", str(dicom_port), "--stable-age", "1"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for(
            lambda: (
                "Ready. Ctrl-C or SIGTERM stops the server." in self.lines
                or self.proc.poll() is not None
            ),
            timeout_s=START_TIMEOUT_S,
            what="the server to be ready",
        )
        assert self.proc.poll() is None, "\n".join(self.lines)
        self.ready_s = time.perf_counter() - self.started

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def orthanc_pid(self) -> int:
        first = self.lines[0]
        return int(first.split("(pid ", 1)[1].split(",", 1)[0])

    def stop(self, sig: signal.Signals) -> tuple[int, float]:
        """Send ``sig``; the exit code and the seconds it took to exit."""
        t0 = time.perf_counter()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=STOP_BOUND_S)
        self._reader.join(timeout=5)
        return code, time.perf_counter() - t0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def write_ct_head(folder: Path, count: int = 3) -> tuple[list[Path], str]:
    """The first slices of the demo CT head (body part HEAD, Demo General Hospital)."""
    from workstation.demo import CT_HEAD, iter_series_datasets

    folder.mkdir(parents=True, exist_ok=True)
    paths, study_uid = [], ""
    for n, ds in enumerate(
        itertools.islice(iter_series_datasets(CT_HEAD.series[0], CT_HEAD), count)
    ):
        path = folder / f"ct{n}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
        study_uid = str(ds.StudyInstanceUID)
    return paths, study_uid


def storescu(port: int, paths: list[Path]) -> None:
    exe = shutil.which("storescu")
    if exe is None:
        pytest.skip("dcmtk's storescu is not installed (Debian: dcmtk)")
    result = subprocess.run(
        [exe, "-aec", "ORTHANC", "127.0.0.1", str(port), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "TCP_NODELAY": "1"},
    )
    assert result.returncode == 0, result.stderr


def search(port: int, auth: tuple[str, str], **params: Any) -> list[dict[str, Any]]:
    r = requests.get(
        f"http://127.0.0.1:{port}/dicom-web/workitems", params=params, auth=auth, timeout=10
    )
    assert r.status_code in (200, 204), r.text
    return [] if r.status_code == 204 else list(r.json())


@pytest.fixture
def needs_orthanc() -> None:
    for program in ("Orthanc", "storescu"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (Debian: orthanc orthanc-python dcmtk)")
    if not Path("/usr/share/orthanc/plugins/libOrthancPython.so").exists():
        pytest.skip("Orthanc's Python plugin is not installed (Debian: orthanc-python)")


@pytest.mark.slow  # two clean Orthanc stops (about 3 s each) and one StableAge wait
@pytest.mark.usefixtures("needs_orthanc")
def test_serve_answers_reads_stops_and_restarts(tmp_path: Path, artifact_dir: Path) -> None:
    site = json.loads(DEFAULT_SITE_CONFIG.read_text(encoding="utf-8"))
    data = tmp_path / "data"
    http_port, dicom_port = free_port(), free_port()
    while dicom_port == http_port:
        dicom_port = free_port()
    served = Served(data, http_port, dicom_port)
    try:
        base = f"http://127.0.0.1:{http_port}"
        assert served.lines[1:6] == [
            f"  REST API   {base}/",
            f"  DICOMweb   {base}/dicom-web/",
            f"  UPS-RS     {base}/dicom-web/workitems",
            f"  DICOM      AE title ORTHANC, port {dicom_port} "
            "(Orthanc 1.10 listens on every interface)",
            f"Users (passwords in {data.resolve() / 'credentials.json'}):",
        ]
        listed = {line.split()[0]: line.split()[1] for line in served.lines[6:-1]}
        assert listed == {name: user["Role"] for name, user in site["Users"].items()}
        assert not any(line.startswith("warning") for line in served.lines)
        # A second server on the same folder is refused before it touches anything.
        config_before = (data / "orthanc.json").read_bytes()
        second = subprocess.run(
            [*SERVE, "--data-dir", str(data), "--http-port", str(free_port())],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (second.returncode, second.stderr) == (
            2,
            f"error: {data.resolve()} is served already (process {served.proc.pid}): stop that "
            "server first, or give another --data-dir\n",
        )
        assert (data / "orthanc.json").read_bytes() == config_before

        creds_path = data / "credentials.json"
        assert stat.S_IMODE(creds_path.stat().st_mode) == 0o600
        creds = json.loads(creds_path.read_text(encoding="utf-8"))
        assert sorted(creds) == sorted(site["Users"])
        lead = ("lead", creds["lead"])
        system = requests.get(f"{base}/system", auth=lead, timeout=10)
        assert system.status_code == 200 and system.json()["Name"] == "workstation-archive"
        assert requests.get(f"{base}/system", auth=("lead", "wrong"), timeout=10).status_code == 401
        plugins = requests.get(f"{base}/plugins", auth=lead, timeout=10).json()
        assert {"dicom-web", "python"} <= set(plugins)
        assert search(http_port, lead) == []  # 204: the worklist answers, empty

        # A study stored by C-STORE becomes one reading workitem once stable (StableAge 1 s).
        files, study_uid = write_ct_head(tmp_path / "ct")
        storescu(dicom_port, files)
        [item] = wait_for(lambda: search(http_port, lead, PatientID="DEMO-0001"), what="workitem")
        uid = item["00080018"]["Value"][0]
        assert uid == reading_workitem_uid(study_uid)
        assert item["00741204"]["Value"] == ["neuro"]  # HEAD routes to neuro (worklist.json)
        assert item["00404025"]["Value"][0]["00080100"]["Value"] == ["DEMOGEN"]
        neuro = ("dr.neuro", creds["dr.neuro"])
        assert [i["00080018"]["Value"][0] for i in search(http_port, neuro)] == [uid]
        orthanc_pid = served.orthanc_pid

        code, stop_s = served.stop(signal.SIGTERM)
        assert code == 0, "\n".join(served.lines)
        assert served.lines[-2] == "SIGTERM: stopping Orthanc..."
        assert served.lines[-1].startswith("Orthanc stopped cleanly in ")
        assert not pid_alive(orthanc_pid)
        assert not port_open(http_port) and not port_open(dicom_port)
    finally:
        served.kill()
    first_ready_s = served.ready_s

    # Again on the same folder: same passwords, the workitem is still there; Ctrl-C stops it.
    served = Served(data, http_port, dicom_port)
    try:
        assert json.loads(creds_path.read_text(encoding="utf-8")) == creds
        [again] = search(http_port, lead, PatientID="DEMO-0001")
        assert again["00080018"]["Value"] == [uid]
        assert again["00741000"]["Value"] == ["SCHEDULED"]
        orthanc_pid = served.orthanc_pid
        code2, stop2_s = served.stop(signal.SIGINT)
        assert code2 == 0, "\n".join(served.lines)
        assert "SIGINT: stopping Orthanc..." in served.lines
        assert not pid_alive(orthanc_pid)
    finally:
        served.kill()
    timings = {
        "serve_ready_s": [round(first_ready_s, 2), round(served.ready_s, 2)],
        "stop_sigterm_s": round(stop_s, 2),
        "stop_sigint_s": round(stop2_s, 2),
    }
    (artifact_dir / "archive_serve_timings.json").write_text(json.dumps(timings, indent=2))
    print("\narchive serve:", json.dumps(timings))
    assert stop_s < STOP_BOUND_S and stop2_s < STOP_BOUND_S


def test_serve_refuses_a_broken_config(tmp_path: Path) -> None:
    bad = tmp_path / "worklist.json"
    bad.write_text('{"Pools": ["neuro"],', encoding="utf-8")
    result = subprocess.run(
        [*SERVE, "--data-dir", str(tmp_path / "d"), "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {bad}: not valid JSON (line 1): Expecting property name enclosed in double quotes"
    )
    assert not (tmp_path / "d").exists()  # nothing started, nothing written


def test_serve_refuses_equal_ports(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *SERVE,
            "--data-dir",
            str(tmp_path / "d"),
            "--http-port",
            "18080",
            "--dicom-port",
            "18080",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --http-port and --dicom-port must differ"
