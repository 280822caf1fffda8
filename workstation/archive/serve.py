"""``workstation archive serve``: an Orthanc archive with DICOMweb and the reading worklist.

For development, demos and small sites: Debian's Orthanc with the DICOMweb and Python plugins,
the project's worklist plugin (UPS-RS, PS3.18 §11) and HTTP authentication, on loopback HTTP
(``RemoteAccessAllowed: false``), its storage, index and worklist in one data folder. Each
worklist user of the site configuration gets an Orthanc HTTP account whose password is made
once and kept in ``DATA/credentials.json`` (readable by its owner only). Ctrl-C, SIGTERM or
SIGHUP stop Orthanc cleanly. Orthanc 1.10 has no bind address, so its DICOM port listens on
every interface (DIMSE has no authentication here: firewall it on a shared network).
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import workstation
from workstation.archive.orthanc import PYTHON_PLUGIN, OrthancProcess
from workstation.core.errors import ConfigError, WorkstationError
from workstation.core.ups import WorklistConfig, read_worklist_config

_SOURCE_ROOT = Path(workstation.__file__).resolve().parents[1]
PLUGIN_SCRIPT = _SOURCE_ROOT / "server" / "orthanc" / "worklist_plugin.py"
DEFAULT_SITE_CONFIG = _SOURCE_ROOT / "server" / "orthanc" / "worklist.json"
CREDENTIALS_FILE = "credentials.json"
LOCK_FILE = "serve.lock"
DEFAULT_HTTP_PORT = 8042  # Orthanc's own defaults
DEFAULT_DICOM_PORT = 4242
DEFAULT_STABLE_AGE_S = 10  # a study is read-ready 10 s after its last image (Orthanc: 60 s)
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What ``archive serve`` starts: folder, ports, AE title, site config, StableAge."""

    data_dir: Path
    http_port: int = DEFAULT_HTTP_PORT
    dicom_port: int = DEFAULT_DICOM_PORT
    site_config: Path = DEFAULT_SITE_CONFIG
    aet: str = "ORTHANC"
    stable_age_s: int = DEFAULT_STABLE_AGE_S


def load_site(path: Path) -> WorklistConfig:
    """The reading network's worklist configuration (pools, routing, users); ConfigError."""
    return read_worklist_config(path)


def load_credentials(data_dir: Path, users: Sequence[str]) -> dict[str, str]:
    """Each user's HTTP password, made once (random) and kept in ``DATA/credentials.json``."""
    path = data_dir / CREDENTIALS_FILE
    known: dict[str, str] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: unreadable ({exc}); delete it to make new ones") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: must be a JSON object of user: password")
        known = {str(k): str(v) for k, v in loaded.items()}
    missing = [u for u in users if u not in known]
    if missing or not path.exists():
        for user in missing:
            known[user] = secrets.token_urlsafe(12)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fp:
            json.dump(known, fp, indent=2, sort_keys=True)
        os.replace(tmp, path)
    return {u: known[u] for u in users}


def build_server(options: ServeOptions, credentials: dict[str, str]) -> OrthancProcess:
    """The Orthanc process: DICOMweb, the worklist plugin, authentication, fixed ports."""
    if not PLUGIN_SCRIPT.exists():
        raise ConfigError(
            f"the worklist plugin is not in this installation ({PLUGIN_SCRIPT}): "
            "run from a source checkout of the workstation"
        )
    if not PYTHON_PLUGIN.exists():
        raise ConfigError(
            f"Orthanc's Python plugin is missing ({PYTHON_PLUGIN}): apt-get install orthanc-python"
        )
    return OrthancProcess(
        options.data_dir,
        http_port=options.http_port,
        dicom_port=options.dicom_port,
        aet=options.aet,
        stable_age_s=options.stable_age_s,
        python_script=PLUGIN_SCRIPT,
        extra_config={
            "Name": "workstation-archive",
            "AuthenticationEnabled": True,
            "RegisteredUsers": credentials,
            "Worklist": {
                "ConfigFile": str(options.site_config.resolve()),
                "WorkstationPath": str(_SOURCE_ROOT),
                "Database": str(options.data_dir.resolve() / "worklist.sqlite"),
                # Orthanc runs in a session of its own: it must not outlive this command.
                "StopWhenProcessEnds": os.getpid(),
            },
        },
    )


def _worklist_status(url: str, user: str, password: str) -> str | None:
    """None when the worklist answers Search Workitems, else why not (for the banner)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    request = urllib.request.Request(
        f"{url}/workitems?limit=1", headers={"Authorization": f"Basic {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return None if reply.status in (200, 204) else f"HTTP {reply.status}"
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read().decode("utf-8")).get("reason", "")
        except (ValueError, AttributeError):
            reason = ""
        return f"HTTP {exc.code} {reason}".strip()
    except OSError as exc:
        return str(exc)


def _print_banner(
    out: TextIO, server: OrthancProcess, options: ServeOptions, config: WorklistConfig
) -> None:
    urls = server.urls
    lines = [
        f"Orthanc archive serving {options.data_dir} (pid {server.pid}, "
        f"started in {server.startup_s or 0:.2f} s)",
        f"  REST API   {urls.http}/",
        f"  DICOMweb   {urls.dicomweb}/",
        f"  UPS-RS     {urls.dicomweb}/workitems",
        f"  DICOM      AE title {options.aet}, port {server.dicom_port} "
        "(Orthanc 1.10 listens on every interface)",
        f"Users (passwords in {options.data_dir / CREDENTIALS_FILE}):",
    ]
    width = max(len(name) for name in config.users)
    for name, user in config.users.items():
        pools = f" (pools: {', '.join(sorted(user.pools))})" if user.pools else ""
        lines.append(f"  {name:<{width}}  {user.role.value}{pools}")
    for line in lines:
        print(line, file=out)
    out.flush()


def hold_data_dir(data_dir: Path) -> int:
    """An exclusive ``flock`` on ``<data_dir>/serve.lock`` for as long as the returned
    descriptor is open (the kernel drops it when the process ends, a crash included).

    Two servers on one folder would share Orthanc's SQLite index, and the second would die
    with "database is locked" after rewriting the first one's configuration. Raises
    :class:`ConfigError` naming the process that serves the folder.
    """
    path = data_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot use {data_dir}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise ConfigError(
            f"{data_dir} is served already (process {holder}): stop that server first, or "
            "give another --data-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


def serve(options: ServeOptions, *, out: TextIO | None = None) -> int:
    """Start, print where and who, wait for Ctrl-C/SIGTERM/SIGHUP, stop; the exit status.

    Must run on the main thread (signal handlers). 0 after a clean stop, 1 when Orthanc
    ended on its own or did not stop cleanly.
    """
    out = out or sys.stdout
    config = load_site(options.site_config)
    data_dir = options.data_dir
    if not data_dir.exists():
        data_dir.mkdir(parents=True, mode=0o700)  # the config written there holds passwords
    held = hold_data_dir(data_dir)
    try:
        return _serve(options, config, out)
    finally:
        os.close(held)


def _serve(options: ServeOptions, config: WorklistConfig, out: TextIO) -> int:
    data_dir = options.data_dir
    credentials = load_credentials(data_dir, list(config.users))
    server = build_server(options, credentials)

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)
        stop.set()

    wanted = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    previous = {s: signal.signal(s, on_signal) for s in wanted}
    try:
        server.start()
        _print_banner(out, server, options, config)
        manager = next(
            (n for n, u in config.users.items() if u.role.value in ("lead", "admin")),
            next(iter(config.users)),
        )
        problem = _worklist_status(server.urls.dicomweb, manager, credentials[manager])
        if problem:
            print(f"warning: the worklist does not answer: {problem}", file=out)
        print("Ready. Ctrl-C or SIGTERM stops the server.", file=out, flush=True)
        while not stop.wait(0.5):
            if not server.running:
                print(
                    f"error: Orthanc ended on its own; its log ({server.log_path}) ends with:\n"
                    + server.log_tail(),
                    file=out,
                    flush=True,
                )
                server.stop()
                return 1
        name = signal.Signals(received[0]).name if received else "signal"
        print(f"{name}: stopping Orthanc...", file=out, flush=True)
        started = time.perf_counter()
        code = server.stop(timeout_s=STOP_TIMEOUT_S)
        took = time.perf_counter() - started
        if code == 0:
            print(f"Orthanc stopped cleanly in {took:.1f} s.", file=out, flush=True)
            return 0
        print(f"Orthanc stopped with exit code {code} after {took:.1f} s.", file=out, flush=True)
        return 1
    finally:
        if server.running:
            server.stop(timeout_s=STOP_TIMEOUT_S)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_serve(args: argparse.Namespace) -> int:
    """The ``serve`` command's entry point (argparse namespace from ``add_serve_commands``)."""
    for name in ("http_port", "dicom_port"):
        port = getattr(args, name)
        if not 1 <= port <= 65535:
            raise ConfigError(f"--{name.replace('_', '-')} {port}: a TCP port is 1 to 65535")
    if args.http_port == args.dicom_port:
        raise ConfigError("--http-port and --dicom-port must differ")
    if args.stable_age < 1:
        raise ConfigError("--stable-age must be at least 1 second")
    options = ServeOptions(
        data_dir=Path(args.data_dir).expanduser().resolve(),
        http_port=args.http_port,
        dicom_port=args.dicom_port,
        site_config=Path(args.config).expanduser() if args.config else DEFAULT_SITE_CONFIG,
        aet=args.aet,
        stable_age_s=args.stable_age,
    )
    return serve(options)


def add_serve_commands(sub: Any) -> None:
    """Register ``serve`` on an argparse subparsers object (``workstation archive serve``)."""
    sp = sub.add_parser(
        "serve",
        help="run an Orthanc archive with DICOMweb and the reading worklist (dev, demo, small)",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    sp.add_argument("--data-dir", required=True, metavar="DIR", help="storage, index, worklist")
    sp.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT, metavar="N")
    sp.add_argument("--dicom-port", type=int, default=DEFAULT_DICOM_PORT, metavar="N")
    sp.add_argument(
        "--config",
        metavar="FILE",
        help=f"worklist config: pools, routing, users (default {DEFAULT_SITE_CONFIG})",
    )
    sp.add_argument("--aet", default="ORTHANC", metavar="AET", help="DICOM AE title")
    sp.add_argument(
        "--stable-age",
        type=int,
        default=DEFAULT_STABLE_AGE_S,
        metavar="S",
        help="seconds after a study's last image before its reading workitem is made",
    )
    sp.set_defaults(func=cmd_serve)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m workstation.archive.serve ...`` (the same options as ``archive serve``)."""
    parser = argparse.ArgumentParser(prog="workstation archive")
    sub = parser.add_subparsers(dest="command")
    add_serve_commands(sub)
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except WorkstationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
