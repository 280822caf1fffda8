"""An Orthanc server process of our own: config written, started, awaited, stopped by PID.

Used by the integration tests, by ``workstation archive serve`` and by the worklist plugin's
tests. Orthanc 1.10 has no bind-address option (its ports listen on every interface), so the
HTTP side refuses non-local clients (``RemoteAccessAllowed: false``) and ports are fresh per
process. ``MaximumStorageSize`` is never set: Orthanc would then delete the oldest patients.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workstation.archive.remote import RemoteError

log = logging.getLogger(__name__)

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
PYTHON_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancPython.so")
DEFAULT_AET = "ORTHANC"
_LOG_TAIL_CHARS = 1500


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (bind port 0, read it back, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class OrthancUrls:
    """Where a running Orthanc answers: its REST API and its DICOMweb root (PS3.18 8.2)."""

    http: str  # e.g. http://127.0.0.1:8042
    dicomweb: str  # e.g. http://127.0.0.1:8042/dicom-web


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the starting thread dies (PR_SET_PDEATHSIG, Linux).

    A crashed test run or a killed workstation then leaves no Orthanc behind holding its
    ports and storage. Start Orthanc from a thread that lives as long as the archive.
    """
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class OrthancProcess:
    """One ``Orthanc CONFIG.json`` child process with its storage in ``folder``.

    ``modalities`` is Orthanc's ``DicomModalities`` (name -> [AET, host, port]) needed for C-MOVE
    destinations; ``extra_config`` is merged last (top-level keys replace ours, the ``DicomWeb``
    section is merged key by key). Ports left as None are chosen free at start.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        http_port: int | None = None,
        dicom_port: int | None = None,
        aet: str = DEFAULT_AET,
        modalities: Mapping[str, Any] | None = None,
        stable_age_s: int | None = None,
        python_script: str | os.PathLike[str] | None = None,
        dicomweb: bool = True,
        extra_config: Mapping[str, Any] | None = None,
        executable: str = "Orthanc",
        startup_timeout_s: float = 30.0,
        verbose: bool = False,
        die_with_parent: bool = True,
    ) -> None:
        self.folder = Path(folder)
        self.aet = aet
        self.modalities = dict(modalities or {})
        self.stable_age_s = stable_age_s
        self.python_script = Path(python_script) if python_script else None
        self.dicomweb = dicomweb
        self.extra_config = dict(extra_config or {})
        self.executable = executable
        self.startup_timeout_s = startup_timeout_s
        self.verbose = verbose
        self.die_with_parent = die_with_parent
        self._fixed_http = http_port
        self._fixed_dicom = dicom_port
        self.http_port = http_port or 0
        self.dicom_port = dicom_port or 0
        self.config_path = self.folder / "orthanc.json"
        self.log_path = self.folder / "orthanc.log"
        self.startup_s: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # -- configuration ---------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The JSON configuration for the current ports (Orthanc Book, "Configuration")."""
        plugins: list[str] = []
        if self.dicomweb:
            plugins.append(str(DICOMWEB_PLUGIN))
        if self.python_script is not None:
            plugins.append(str(PYTHON_PLUGIN))
        cfg: dict[str, Any] = {
            "Name": f"workstation-{self.aet}",
            "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "index"),
            "Plugins": plugins,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomAet": self.aet,
            "DicomPort": self.dicom_port,
            "DicomCheckCalledAet": False,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowMove": True,
            "UnknownSopClassAccepted": True,
            "DicomModalities": self.modalities,
            "SaveJobs": False,
            # Search answers (QIDO-RS, C-FIND) are built in this character set: under Orthanc's
            # default, Latin-1, a name in Arabic, Greek or Cyrillic comes back as "^".
            "DefaultEncoding": "Utf8",
        }
        if self.stable_age_s is not None:
            cfg["StableAge"] = int(self.stable_age_s)
        if self.dicomweb:
            cfg["DicomWeb"] = {
                "Enable": True,
                "Root": "/dicom-web/",
                "EnableWado": True,
                "WadoRoot": "/wado",
                "Host": f"127.0.0.1:{self.http_port}",
                "StudiesMetadata": "Full",
                "SeriesMetadata": "Full",
            }
        if self.python_script is not None:
            cfg["PythonScript"] = str(self.python_script)
            cfg["PythonVerbose"] = False
        for key, value in self.extra_config.items():
            if key == "DicomWeb" and isinstance(value, Mapping) and "DicomWeb" in cfg:
                cfg["DicomWeb"] = {**cfg["DicomWeb"], **value}
            else:
                cfg[key] = value
        if "MaximumStorageSize" in cfg or "MaximumPatientCount" in cfg:
            raise ValueError("never limit an archive's size: Orthanc would delete old patients")
        return cfg

    @property
    def urls(self) -> OrthancUrls:
        http = f"http://127.0.0.1:{self.http_port}"
        return OrthancUrls(http=http, dicomweb=f"{http}/dicom-web")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> OrthancProcess:
        """Start Orthanc and wait until ``GET /system`` answers; raise RemoteError if it won't."""
        if self.running:
            return self
        if shutil.which(self.executable) is None:
            raise RemoteError(
                f"the Orthanc program {self.executable!r} is not installed "
                "(Debian: apt-get install orthanc orthanc-dicomweb)"
            )
        if self.dicomweb and not DICOMWEB_PLUGIN.exists():
            raise RemoteError(f"the DICOMweb plugin is missing: {DICOMWEB_PLUGIN}")
        # Ports chosen free may be taken by someone else before Orthanc binds them: retry.
        attempts = 1 if (self._fixed_http and self._fixed_dicom) else 3
        for attempt in range(1, attempts + 1):
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            try:
                self._start_once()
                return self
            except RemoteError:
                port_taken = "in use" in self.log_tail(offset=offset)
                if attempt == attempts or self.running or not port_taken:
                    raise
                log.warning("Orthanc found a port taken (attempt %d); retrying", attempt)
        return self

    def _start_once(self) -> None:
        self.http_port = self._fixed_http or free_port()
        self.dicom_port = self._fixed_dicom or free_port()
        while self.dicom_port == self.http_port:
            self.dicom_port = free_port()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.config(), indent=2), encoding="utf-8")
        env = dict(os.environ)
        env["TCP_NODELAY"] = "1"  # dcmtk inside Orthanc reads it (STACK.md: Nagle on C-STORE)
        args = [self.executable, str(self.config_path)]
        if self.verbose:
            args.insert(1, "--verbose")
        started = time.perf_counter()
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as logf:
            self._proc = subprocess.Popen(
                args,
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.folder,
                env=env,
                start_new_session=True,  # a Ctrl-C in the terminal is ours to forward
                preexec_fn=(
                    _die_with_parent
                    if self.die_with_parent and sys.platform.startswith("linux")
                    else None
                ),
            )
        deadline = started + self.startup_timeout_s
        while True:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise RemoteError(
                    f"Orthanc exited during start-up with code {code}"
                    f"{self._log_errors(log_offset)}; its log ({self.log_path}) ends with:\n"
                    + self.log_tail(offset=log_offset)
                )
            if self._answers():
                self.startup_s = time.perf_counter() - started
                log.info("Orthanc started in %.2f s (pid %d)", self.startup_s, self._proc.pid)
                return
            if time.perf_counter() > deadline:
                self.stop()
                raise RemoteError(
                    f"Orthanc did not answer on port {self.http_port} within "
                    f"{self.startup_timeout_s:.0f} s; its log ends with:\n" + self.log_tail()
                )
            time.sleep(0.02)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.urls.http}/system", timeout=1.0) as r:
                return bool(r.status)
        except urllib.error.HTTPError:
            return True  # it answers, maybe with 401 when authentication is configured
        except (OSError, ValueError):
            return False

    def log_tail(self, chars: int = _LOG_TAIL_CHARS, offset: int = 0) -> str:
        """The end of Orthanc's log (from byte ``offset`` on), for error messages."""
        try:
            with open(self.log_path, "rb") as fp:
                fp.seek(offset)
                text = fp.read().decode("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return text[-chars:]

    def _log_errors(self, offset: int) -> str:
        """Orthanc's error lines (glog "E" lines) since ``offset``, as ": msg; msg"."""
        errors = []
        for line in self.log_tail(chars=20000, offset=offset).splitlines():
            if line.startswith("E") and "] " in line:
                errors.append(line.split("] ", 1)[1].strip())
        return (": " + "; ".join(dict.fromkeys(errors))[:500]) if errors else ""

    def stop(self, timeout_s: float = 10.0, *, kill: bool = False) -> int | None:
        """SIGTERM, wait up to ``timeout_s``, then SIGKILL; returns the exit code.

        A clean stop takes Orthanc 1.10 about 3.5 s (its HTTP and DICOM servers poll);
        ``kill=True`` sends SIGKILL at once, for storage that is thrown away afterwards.
        """
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("Orthanc (pid %d) ignored SIGTERM; killing it", proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        self._proc = None
        return proc.returncode

    def __enter__(self) -> OrthancProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
