"""Retrieve a 300-instance 512×512 CT series from Orthanc: WADO-RS, C-GET, the curl floor.

On loopback, in the same run, on the demo CT chest-abdomen series (300 × 512², 12-bit):
  (a) curl fetching the WADO-RS series multipart answer to /dev/null (the transfer floor),
  (b) the workstation's DicomWebClient.retrieve_series into a fresh store,
  (c) RetrievalQueue jobs into a fresh store: background (one multipart answer per series)
      and progressive (single instances, middle slice first),
  (d) the workstation's DimseClient.get_series (C-GET) into a fresh store,
the time from opening a not-yet-retrieved study (a progressive job) to its first image in
the store, and to its first image on screen in the real window (benchmarks/first_image_ui.py:
Qt and VTK, offscreen without a display; the file read, decoded, hung and drawn). Goals (issue:
central archive): WADO-RS ≥ 0.8 × the floor's throughput; first image on screen ≤ 0.5 s on
loopback.

Then a simulated slow link (root only): benchmarks/netem.sh puts Orthanc in a network
namespace of its own and the client side in another, joined by a veth pair shaped to 20 Mbit/s
and 40 ms, and the first-image and full-series times are measured for the series stored
uncompressed, JPEG-LS lossless (dcmcjpls), JPEG extended 12-bit lossy and JPEG baseline 8-bit
lossy (dcmcjpeg).

    .venv/bin/python benchmarks/retrieve.py [--runs N] [--slow-runs M] [--no-slow-link]
                                            [--work-dir DIR] [--json FILE] [--screenshot PNG]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NETEM = HERE / "netem.sh"
MULTIPART = 'multipart/related; type="application/dicom"'
N_SLICES = 300
SLOW_RATE = "20mbit"
SLOW_DELAY_MS = 40
NS_HTTP_PORT = 8042  # inside the benchmark's own server namespace: nothing else listens there
NS_DICOM_PORT = 4242
PROXY_PORT = 8080


@dataclass(frozen=True)
class Variant:
    """One copy of the series on the archive, as its own study, in one transfer syntax."""

    name: str
    label: str
    transfer_syntax: str
    policy: str  # the workstation's transfer-syntax policy used to fetch it
    study_uid: str
    series_uid: str
    file_bytes: int

    @property
    def accept(self) -> str:
        """What the workstation's client sends for this policy (as stored, except uncompressed)."""
        if self.policy == "uncompressed":
            return f"{MULTIPART}; transfer-syntax=1.2.840.10008.1.2.1"
        return f"{MULTIPART}; transfer-syntax=*"


# name, label, transfer syntax, policy, dcmtk command (None: the generated files as they are)
_VARIANTS: tuple[tuple[str, str, str, str, list[str] | None], ...] = (
    ("uncompressed", "Explicit VR LE", "1.2.840.10008.1.2.1", "lossless", None),
    ("jpeg-ls", "JPEG-LS lossless", "1.2.840.10008.1.2.4.80", "lossless", ["dcmcjpls"]),
    (
        "jpeg-ext",
        "JPEG extended 12-bit lossy",
        "1.2.840.10008.1.2.4.51",
        "lossy-allowed",
        ["dcmcjpeg", "+ee", "+un"],
    ),
    (
        "jpeg-base",
        "JPEG baseline 8-bit lossy",
        "1.2.840.10008.1.2.4.50",
        "lossy-allowed",
        ["dcmcjpeg", "+eb", "+un"],
    ),
)


# -- preparing the series ------------------------------------------------------------------------


def _uid(*names: str) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=["workstation-retrieve-benchmark", *names]))


def prepare(work: Path) -> list[Variant]:
    """The demo CT chest series in each transfer syntax under ``work`` (kept for reruns)."""
    import pydicom

    from workstation.demo import CT_CHEST_ABDOMEN, iter_series_datasets

    series = CT_CHEST_ABDOMEN.series[0]
    src = work / "uncompressed"
    if len(list(src.glob("*.dcm"))) != N_SLICES:
        src.mkdir(parents=True, exist_ok=True)
        print("generating the 300-slice CT series…", file=sys.stderr)
        for k, ds in enumerate(iter_series_datasets(series, CT_CHEST_ABDOMEN)):
            ds.save_as(src / f"{k:03d}.dcm", enforce_file_format=True)
    variants = []
    for name, label, ts, policy, tool in _VARIANTS:
        folder = work / name
        if tool is not None and len(list(folder.glob("*.dcm"))) != N_SLICES:
            folder.mkdir(parents=True, exist_ok=True)
            print(f"encoding {label} with {tool[0]}…", file=sys.stderr)

            def encode(k: int, name: str = name, folder: Path = folder, tool: list[str] = tool):
                ds = pydicom.dcmread(src / f"{k:03d}.dcm")
                ds.StudyInstanceUID = _uid(name, "study")
                ds.SeriesInstanceUID = _uid(name, "series")
                ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = _uid(name, str(k))
                tmp = folder / f"in-{k:03d}.tmp"
                ds.save_as(tmp, enforce_file_format=True)
                try:
                    subprocess.run(
                        [*tool, str(tmp), str(folder / f"{k:03d}.dcm")],
                        check=True,
                        capture_output=True,
                        timeout=120,
                    )
                finally:
                    tmp.unlink()

            with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
                list(pool.map(encode, range(N_SLICES)))
        files = sorted((src if tool is None else folder).glob("*.dcm"))
        first = pydicom.dcmread(files[0], stop_before_pixels=True)
        assert str(first.file_meta.TransferSyntaxUID) == ts, (name, first.file_meta)
        variants.append(
            Variant(
                name,
                label,
                ts,
                policy,
                str(first.StudyInstanceUID),
                str(first.SeriesInstanceUID),
                sum(f.stat().st_size for f in files),
            )
        )
    return variants


def files_of(work: Path, variant: Variant) -> list[Path]:
    return sorted((work / variant.name).glob("*.dcm"))


# -- the measurements (used on loopback and, in the client namespace, over the slow link) --------


def curl_floor(
    url: str, accept: str, extra: tuple[str, ...] = (), out: str = "/dev/null"
) -> dict[str, float]:
    """curl fetching ``url`` to /dev/null (or ``out``): its own transfer time, the wall time
    and the size."""
    started = time.perf_counter()
    r = subprocess.run(
        [
            "curl",
            "-s",
            "-f",
            "-o",
            out,
            "-w",
            "%{time_total} %{size_download} %{time_connect} %{time_starttransfer}",
            "-H",
            f"Accept: {accept}",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    wall = time.perf_counter() - started
    total, size, connect, first_byte = r.stdout.split()
    return {
        "seconds": float(total),
        "wall_seconds": wall,
        "bytes": float(size),
        "connect_s": float(connect),
        "first_byte_s": float(first_byte),
    }


def describe_fs(path: Path) -> str:
    """The file system a folder is on, in words: its type, device and whether it journals
    (an ext4 without a journal makes creating files right after deleting others slow)."""
    st = os.stat(path)
    mounts = {}
    with open("/proc/self/mountinfo") as fp:
        for line in fp:
            fields = line.split()
            sep = fields.index("-")
            mounts[fields[2]] = (fields[4], fields[sep + 1], fields[sep + 2])
    major, minor = os.major(st.st_dev), os.minor(st.st_dev)
    _mount, fstype, source = mounts.get(f"{major}:{minor}", ("?", "?", "?"))
    words = f"{path.parent} ({fstype} on {source}"
    if fstype == "ext4":
        try:
            name = Path(f"/sys/dev/block/{major}:{minor}").resolve().name
            journalled = any(p.name.startswith(f"{name}-") for p in Path("/proc/fs/jbd2").iterdir())
        except OSError:
            journalled = None
        if journalled is not None:
            words += ", with a journal" if journalled else ", without a journal"
    return words + ")"


def spend(folder: Path) -> None:
    """Put a measured store aside instead of deleting it: its files are emptied (their pages
    dropped, nothing to write back) and the folder moved under ``spent/``, deleted at the end.

    Deleting 300 files between runs makes the next run's file creation pay for them on an ext4
    without a journal (this VM's root): the kernel skips inodes deleted in the last 60–300 s
    (``recently_deleted`` in ``find_inode_bit``), looking each one up. Measured here with
    ``perf``: creating 300 files went from 0.02 s to 0.13–0.23 s right after such deletions,
    a third of the kernel's time in ``recently_deleted``. A journalled ext4, as on a reading
    workstation, has no such check.
    """
    spent = folder.parent / "spent"
    spent.mkdir(exist_ok=True)
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            os.truncate(os.path.join(dirpath, name), 0)
    folder.rename(spent / f"{folder.name}-{time.monotonic_ns()}")


def create_probe(scratch: Path) -> dict[str, float]:
    """The kernel's cost of creating 300 empty files in a new folder beside the stores, now:
    the part of a retrieve no client can avoid while it keeps one file per instance."""
    folder = scratch / "create-probe"
    folder.mkdir()
    started = time.perf_counter()
    for n in range(N_SLICES):
        os.close(os.open(folder / f"{n}.part", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    seconds = time.perf_counter() - started
    spend(folder)
    return {"seconds": seconds}


def _config(url: str, policy: str, dimse_port: int | None = None) -> Any:
    from workstation.core.settings import ArchiveConfig, DimseConfig

    dimse = DimseConfig("127.0.0.1", dimse_port, "ORTHANC") if dimse_port else None
    return ArchiveConfig(
        name="bench",
        dicomweb_url=url,
        transfer_syntax=policy,
        read_timeout_s=300,
        dimse=dimse,
    )


def wado_client(dicomweb: str, v: Variant, scratch: Path) -> dict[str, float]:
    """DicomWebClient.retrieve_series into a fresh store."""
    from workstation.archive.dicomweb import DicomWebClient
    from workstation.archive.local import LocalArchive

    store = LocalArchive(scratch / "store-wado")
    try:
        started, cpu = time.perf_counter(), time.process_time()
        with DicomWebClient(_config(dicomweb, v.policy)) as c:
            result = c.retrieve_series(v.study_uid, v.series_uid, store)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu  # this process, every thread: the client's own cost
        assert result.complete and result.received == N_SLICES, result.summary()
        return {"seconds": seconds, "cpu_s": cpu, "bytes": float(result.bytes_received)}
    finally:
        store.close()
        spend(scratch / "store-wado")


def queue_job(
    dicomweb: str, v: Variant, scratch: Path, *, progressive: bool, first_image_only: bool = False
) -> dict[str, float]:
    """A RetrievalQueue job into a fresh store: time to the first image and to the end."""
    from workstation.archive.local import LocalArchive
    from workstation.archive.queue import JobState, Priority, RetrievalQueue

    folder = scratch / "store-queue"
    store = LocalArchive(folder)
    try:
        first = threading.Event()
        with RetrievalQueue(_config(dicomweb, v.policy), store) as queue:
            queue.first_image.connect(lambda *a: first.set())
            priority = Priority.FOREGROUND if progressive else Priority.PREFETCH
            job = queue.enqueue(v.study_uid, priority, progressive=progressive)
            if first_image_only:
                assert first.wait(300)
                job.cancel()
            assert job.wait(900)
        assert job.first_image_at is not None, job.error
        out = {"first_image_s": job.first_image_at - job.created_at}
        if not first_image_only:
            assert job.state is JobState.COMPLETE, job.error
            assert job.finished_at is not None
            out["seconds"] = job.finished_at - job.created_at
            out["bytes"] = float(job.bytes_received)
        return out
    finally:
        store.close()
        spend(folder)


def first_image_on_screen(
    dicomweb: str, v: Variant, scratch: Path, runs: int, screenshot: str | None = None
) -> list[float]:
    """Open → first image rendered in the real window (benchmarks/first_image_ui.py, a process
    of its own: Qt offscreen without a display), seconds per run."""
    cmd = [
        sys.executable,
        str(Path(__file__).with_name("first_image_ui.py")),
        dicomweb,
        v.study_uid,
        "--policy",
        v.policy,
        "--work-dir",
        str(scratch / f"ui-{v.name}"),
        "--runs",
        str(runs),
    ]
    if screenshot:
        cmd += ["--screenshot", screenshot]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120 + 60 * runs)
    if r.returncode != 0:
        raise RuntimeError(f"first_image_ui.py failed ({r.returncode}): {r.stderr[-2000:]}")
    seconds: list[float] = json.loads(r.stdout.strip().splitlines()[-1])["seconds"]
    return seconds


def cget(dicomweb: str, dimse_port: int, v: Variant, scratch: Path) -> dict[str, float]:
    """DimseClient.get_series (C-GET, TCP_NODELAY) into a fresh store."""
    from workstation.archive.dimse import DimseClient
    from workstation.archive.local import LocalArchive

    store = LocalArchive(scratch / "store-cget")
    try:
        started = time.perf_counter()
        result = DimseClient(_config(dicomweb, v.policy, dimse_port)).get_series(
            v.study_uid, v.series_uid, store
        )
        seconds = time.perf_counter() - started
        assert result.complete and result.received == N_SLICES, result.summary()
        return {"seconds": seconds, "bytes": float(result.bytes_received)}
    finally:
        store.close()
        spend(scratch / "store-cget")


def python_floor(dicomweb: str, v: Variant, scratch: Path) -> dict[str, float]:
    """Where the client's time goes: requests reading the answer to nowhere, then the
    workstation's multipart reader writing each part to a temp file (no parsing, no index)."""
    import uuid

    import requests

    from workstation.archive.multipart import boundary_of, read_multipart

    headers = {"Accept": v.accept, "Accept-Encoding": "identity"}
    out: dict[str, float] = {}
    with requests.Session() as s:
        started = time.perf_counter()
        with s.get(series_url(dicomweb, v), headers=headers, stream=True, timeout=300) as r:
            n = sum(len(c) for c in r.iter_content(1 << 20))
        out["http_s"] = time.perf_counter() - started
        out["bytes"] = float(n)
        folder = scratch / "parts"
        folder.mkdir()
        files = []

        def sink(_headers: object) -> Any:
            fp = open(folder / uuid.uuid4().hex, "wb")  # noqa: SIM115 (closed per part)
            files.append(fp)
            return fp

        started = time.perf_counter()
        with s.get(series_url(dicomweb, v), headers=headers, stream=True, timeout=300) as r:
            boundary = boundary_of(r.headers["Content-Type"])
            for _part in read_multipart(r.iter_content(1 << 20), boundary, sink):
                files[-1].close()
        out["parts_s"] = time.perf_counter() - started
        paths = sorted(folder.iterdir())
    # Then LocalArchive.ingest_file on those files (header parse, rename, index), 16 per commit.
    from workstation.archive.local import LocalArchive

    store = LocalArchive(scratch / "store-ingest")
    try:
        moved = []
        for p in paths:
            dest = store.tmp_dir / p.name
            os.replace(p, dest)
            moved.append(dest)
        started = time.perf_counter()
        for k, p in enumerate(moved, 1):
            store.ingest_file(p)
            if k % 16 == 0:
                store.commit()
        store.commit()
        out["ingest_s"] = time.perf_counter() - started
    finally:
        store.close()
        spend(scratch / "store-ingest")
        spend(folder)
    return out


def process_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system, every thread) a process has used, from /proc; 0 without."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_server_cpu(pid: int | None, run: Any, *args: Any) -> dict[str, float]:
    """``run(*args)``'s sample with the CPU time the archive process used meanwhile."""
    before = process_cpu_s(pid)
    sample = run(*args)
    return {**sample, "server_cpu_s": process_cpu_s(pid) - before}


def series_url(dicomweb: str, v: Variant) -> str:
    return f"{dicomweb}/studies/{v.study_uid}/series/{v.series_uid}"


def measure_link(
    base: str,
    variants: list[Variant],
    scratch: Path,
    *,
    runs: int,
    first_runs: int,
    dimse_port: int | None = None,
    warm: bool = True,
    brief_accept_for: str = "uncompressed",
    server_pid: int | None = None,
) -> dict[str, dict[str, list[dict[str, float]]]]:
    """Every method on every variant, methods interleaved run by run; returns raw samples
    (the curl and WADO-RS ones with the archive's CPU time when ``server_pid`` is known)."""
    dicomweb = f"{base}/dicom-web"
    out: dict[str, dict[str, list[dict[str, float]]]] = {}
    for v in variants:
        samples: dict[str, list[dict[str, float]]] = {}
        # The floor asks exactly as the issue says for the uncompressed series, and as the
        # workstation's policy does for the compressed ones (as stored).
        accept = MULTIPART if v.name == brief_accept_for else v.accept
        if warm:
            curl_floor(series_url(dicomweb, v), accept)  # warm Orthanc's and the page cache
        for _ in range(runs):
            samples.setdefault("curl", []).append(
                with_server_cpu(server_pid, curl_floor, series_url(dicomweb, v), accept)
            )
            samples.setdefault("create", []).append(create_probe(scratch))
            samples.setdefault("wado", []).append(
                with_server_cpu(server_pid, wado_client, dicomweb, v, scratch)
            )
            samples.setdefault("queue-bg", []).append(
                queue_job(dicomweb, v, scratch, progressive=False)
            )
            samples.setdefault("queue-prog", []).append(
                queue_job(dicomweb, v, scratch, progressive=True)
            )
            if dimse_port is not None:  # loopback only
                answer = scratch / "curl-answer.multipart"
                samples.setdefault("curl-file", []).append(
                    curl_floor(series_url(dicomweb, v), accept, out=str(answer))
                )
                answer.unlink()
                samples.setdefault("cget", []).append(cget(dicomweb, dimse_port, v, scratch))
                samples.setdefault("python", []).append(python_floor(dicomweb, v, scratch))
        for _ in range(first_runs):
            samples.setdefault("first", []).append(
                queue_job(dicomweb, v, scratch, progressive=True, first_image_only=True)
            )
        out[v.name] = samples
        print(f"  {v.name}: done", file=sys.stderr)
    return out


def median(samples: list[dict[str, float]], key: str) -> float:
    return statistics.median(s[key] for s in samples)


# -- the archive on loopback ---------------------------------------------------------------------


def load_archive(orthanc: Any, work: Path, variants: list[Variant]) -> None:
    """STOW every variant into Orthanc unless it is already there (a rerun with --work-dir)."""
    from workstation.archive.dicomweb import DicomWebClient

    with DicomWebClient(_config(orthanc.urls.dicomweb, "lossless")) as c:
        for v in variants:
            have = c.search_series(v.study_uid)
            if have and have[0].number_of_instances == N_SLICES:
                continue
            result = c.store_instances(files_of(work, v))
            assert len(result.stored) == N_SLICES and not result.failed, v.name


def transcode_check(base: str, v: Variant) -> dict[str, Any]:
    """Can this Orthanc transcode the uncompressed series to JPEG-LS on the fly (WADO-RS)?"""
    accept = f"{MULTIPART}; transfer-syntax=1.2.840.10008.1.2.4.80"
    try:
        r = curl_floor(series_url(f"{base}/dicom-web", v), accept)
    except subprocess.CalledProcessError as exc:
        return {"ok": False, "detail": f"curl exit {exc.returncode}"}
    return {"ok": True, **r}


# -- the slow link -------------------------------------------------------------------------------


async def _delay_line(listen: tuple[str, int], target: tuple[str, int], delay_s: float) -> None:
    """A TCP delay line: server-to-client data leaves ``delay_s`` after it arrived; a new
    connection's first request is held until ``delay_s`` after accept (netem on the server's
    egress delays its SYN-ACK the same way). Bounded buffers give back-pressure."""
    loop = asyncio.get_running_loop()

    async def pipe(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        delay: float,
        hold_until: float,
    ) -> None:
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(maxsize=64)

        async def pump_in() -> None:
            try:
                while data := await reader.read(65536):
                    await queue.put((max(loop.time() + delay, hold_until), data))
            except OSError:
                pass
            finally:
                await queue.put(None)

        async def pump_out() -> None:
            try:
                while (item := await queue.get()) is not None:
                    due, data = item
                    if (wait := due - loop.time()) > 0:
                        await asyncio.sleep(wait)
                    writer.write(data)
                    await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
            except OSError:
                pass

        await asyncio.gather(pump_in(), pump_out())

    async def handle(c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        accepted = loop.time()
        try:
            s_reader, s_writer = await asyncio.open_connection(*target)
        except OSError:
            c_writer.close()
            return
        for w in (c_writer, s_writer):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await asyncio.gather(
                pipe(c_reader, s_writer, 0.0, accepted + delay_s),
                pipe(s_reader, c_writer, delay_s, 0.0),
            )
        finally:
            for w in (c_writer, s_writer):
                with contextlib.suppress(OSError):
                    w.close()

    server = await asyncio.start_server(handle, *listen)
    async with server:
        await server.serve_forever()


def _parse_kv(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _stop(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM the process group we started, then SIGKILL if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _ns_curl(ns: str, url: str, timeout: float = 5.0) -> str:
    r = subprocess.run(
        ["ip", "netns", "exec", ns, "curl", "-s", "-o", "/dev/null", "-m", "2", "-w",
         "%{http_code}", url],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )  # fmt: skip
    return r.stdout.strip()


def _wait_http(ns: str, url: str, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while _ns_curl(ns, url) != "200":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer at {url} within {timeout_s:.0f} s")
        time.sleep(0.1)


def slow_link(
    orthanc_folder: Path,
    variants: list[Variant],
    scratch: Path,
    *,
    runs: int,
    first_runs: int,
    timeout_s: float,
) -> dict[str, Any]:
    """Orthanc in a namespace of its own behind a 20 Mbit/s, 40 ms link; the client side runs
    in a second namespace. Everything started here is stopped, and both namespaces deleted,
    whatever happens (bounded waits)."""
    from workstation.archive.orthanc import OrthancProcess

    if os.geteuid() != 0:
        return {"skipped": "network namespaces need root"}
    name = f"wsbench{os.getpid()}"
    up = subprocess.run(
        ["sh", str(NETEM), "up", name, SLOW_RATE, str(SLOW_DELAY_MS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if up.returncode != 0:
        return {"skipped": f"netem.sh up failed: {up.stderr.strip()[-400:]}"}
    env = _parse_kv(up.stdout)
    srv, cli, server_ip = env["SERVER_NS"], env["CLIENT_NS"], env["SERVER_IP"]
    userspace_delay_ms = int(env["USERSPACE_DELAY_MS"])
    orthanc_proc = proxy_proc = client_proc = None
    try:
        direct = userspace_delay_ms == 0
        cfg = OrthancProcess(
            orthanc_folder,
            http_port=NS_HTTP_PORT,
            dicom_port=NS_DICOM_PORT,
            extra_config={
                "RemoteAccessAllowed": direct,  # only our client namespace can reach it
                "DicomWeb": {"Host": f"{server_ip}:{NS_HTTP_PORT}"},
            },
        ).config()
        cfg_path = orthanc_folder / "orthanc-netns.json"
        cfg_path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
        with open(orthanc_folder / "orthanc-netns.log", "ab") as log:
            orthanc_proc = subprocess.Popen(
                ["ip", "netns", "exec", srv, "Orthanc", str(cfg_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=orthanc_folder,
                env=dict(os.environ, TCP_NODELAY="1"),
                start_new_session=True,
            )
        _wait_http(srv, f"http://127.0.0.1:{NS_HTTP_PORT}/system", "Orthanc (server namespace)")
        if direct:
            base = f"http://{server_ip}:{NS_HTTP_PORT}"
        else:
            proxy_proc = subprocess.Popen(
                [
                    "ip", "netns", "exec", srv, sys.executable, __file__, "--delay-line",
                    f"{server_ip}:{PROXY_PORT}", f"127.0.0.1:{NS_HTTP_PORT}",
                    str(userspace_delay_ms),
                ],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
            base = f"http://{server_ip}:{PROXY_PORT}"
        _wait_http(cli, f"{base}/system", "the archive through the slow link")
        plan = {
            "base": base,
            "variants": [asdict(v) for v in variants],
            "runs": runs,
            "first_runs": first_runs,
            "scratch": str(scratch),
        }
        plan_path = scratch / "slow-plan.json"
        out_path = scratch / "slow-result.json"
        plan_path.write_text(json.dumps(plan), encoding="utf-8")
        client_proc = subprocess.Popen(
            ["ip", "netns", "exec", cli, sys.executable, __file__, "--client-side",
             str(plan_path), str(out_path)],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            code = client_proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return {"skipped": f"the slow-link runs took more than {timeout_s:.0f} s"}
        if code != 0:
            return {"skipped": f"the client side failed with exit code {code}"}
        result = json.loads(out_path.read_text(encoding="utf-8"))
        result["shaper"] = env["SHAPER"]
        return result
    finally:
        _stop(client_proc)
        _stop(proxy_proc)
        _stop(orthanc_proc, timeout=15.0)
        subprocess.run(["sh", str(NETEM), "down", name], timeout=60, check=False)


def client_side(plan_path: Path, out_path: Path) -> int:
    """Run in the client namespace: the measurements over the slow link, written as JSON."""
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    variants = [Variant(**v) for v in plan["variants"]]
    base = plan["base"]
    rtt = [curl_floor(f"{base}/system", "application/json") for _ in range(5)]
    samples = measure_link(
        base,
        variants,
        Path(plan["scratch"]),
        runs=plan["runs"],
        first_runs=plan["first_runs"],
        warm=False,  # minutes per pass; the page cache on the server side is warm already
    )
    out_path.write_text(json.dumps({"samples": samples, "rtt": rtt}), encoding="utf-8")
    return 0


# -- the report ----------------------------------------------------------------------------------


def print_loopback(
    v: Variant, s: dict[str, list[dict[str, float]]], runs: int
) -> tuple[float, float]:
    floor_t = median(s["curl"], "seconds")
    size = median(s["curl"], "bytes")
    rows = [
        ("curl WADO-RS multipart → /dev/null (floor)", floor_t),
        ("curl, the same answer → one file (context)", median(s["curl-file"], "seconds")),
        ("DicomWebClient.retrieve_series (WADO-RS)", median(s["wado"], "seconds")),
        ("RetrievalQueue background job (series)", median(s["queue-bg"], "seconds")),
        ("RetrievalQueue progressive job (instances)", median(s["queue-prog"], "seconds")),
        ("DimseClient.get_series (C-GET)", median(s["cget"], "seconds")),
        ("  breakdown: requests → nowhere", median(s["python"], "http_s")),
        ("  breakdown: + multipart reader → temp files", median(s["python"], "parts_s")),
    ]
    print(
        f"\nLoopback, {N_SLICES} × 512² CT, {v.label}, {size / 1e6:.1f} MB multipart "
        f"({v.file_bytes / 1e6:.1f} MB of files), median of {runs}; into a fresh store:\n"
    )
    print(f"| {'method':<44} | {'s':>6} | {'MB/s':>6} | {'÷ floor MB/s':>12} |")
    print(f"|{'-' * 46}|{'-' * 8}|{'-' * 8}|{'-' * 14}|")
    for label, t in rows:
        print(f"| {label:<44} | {t:6.3f} | {size / 1e6 / t:6.0f} | {floor_t / t:12.2f} |")
    for label, t in (
        ("  breakdown: LocalArchive.ingest_file × 300", median(s["python"], "ingest_s")),
        ("  context: kernel creates 300 empty files", median(s["create"], "seconds")),
    ):
        print(f"| {label:<44} | {t:6.3f} | {'':>6} | {'':>12} |")
    paired = sorted(c["seconds"] / w["seconds"] for c, w in zip(s["curl"], s["wado"], strict=True))
    print(
        f"\nWADO-RS ÷ floor run by run (curl and retrieve_series back to back): "
        f"{', '.join(f'{r:.2f}' for r in paired)}; median {statistics.median(paired):.2f}"
    )
    if all("cpu_s" in x for x in s["wado"]):
        print(
            f"\nDicomWebClient.retrieve_series CPU time of the client process (all threads), "
            f"median: {median(s['wado'], 'cpu_s'):.3f} s"
        )
    if all(x.get("server_cpu_s") for x in s["wado"] + s["curl"]):
        # Both processes share the machine's cores: a retrieve cannot take less wall time than
        # their CPU time together divided by the cores, whatever the overlap.
        cores = os.cpu_count() or 1
        server_curl = median(s["curl"], "server_cpu_s")
        server_wado = median(s["wado"], "server_cpu_s")
        client = median(s["wado"], "cpu_s")
        bound = (server_wado + client) / cores
        budget = floor_t / 0.8 * cores - server_wado
        print(
            f"Orthanc's CPU time per answer: {server_curl:.3f} s while curl fetches, "
            f"{server_wado:.3f} s while the workstation retrieves. On {cores} cores a retrieve "
            f"takes at least (Orthanc + client CPU) / cores = {bound:.3f} s, at best "
            f"{floor_t / bound:.2f} × the floor; 0.8 × needs the client's CPU ≤ {budget:.3f} s "
            f"(it uses {client:.3f} s)."
        )
    wado_ratio = floor_t / median(s["wado"], "seconds")
    first = median(s["first"], "first_image_s")
    print(
        f"\ncurl wall time incl. process start: {median(s['curl'], 'wall_seconds'):.3f} s. "
        f"First image (open → middle slice stored), median of {len(s['first'])}: "
        f"{first * 1000:.0f} ms (min {min(x['first_image_s'] for x in s['first']) * 1000:.0f}, "
        f"max {max(x['first_image_s'] for x in s['first']) * 1000:.0f})"
    )
    return wado_ratio, first


def print_slow(variants: list[Variant], result: dict[str, Any], runs: int) -> None:
    if "skipped" in result:
        print(f"\nSlow link: not measured ({result['skipped']})")
        return
    rtt = statistics.median(r["seconds"] for r in result["rtt"])
    print(
        f"\nSlow link: {result['shaper']}; GET /system on a new connection "
        f"{rtt * 1000:.0f} ms (median of {len(result['rtt'])}). Full series: median of {runs}; "
        "first image: median of the runs listed.\n"
    )
    print(
        f"| {'stored as':<27} | {'MB':>6} | {'curl s':>7} | {'WADO-RS s':>9} | "
        f"{'queue bg s':>10} | {'progr. s':>8} | {'first image ms':>16} |"
    )
    print(f"|{'-' * 29}|{'-' * 8}|{'-' * 9}|{'-' * 11}|{'-' * 12}|{'-' * 10}|{'-' * 18}|")
    for v in variants:
        if v.name not in result["samples"]:
            continue
        s = result["samples"][v.name]
        firsts = [x["first_image_s"] for x in s["first"]]
        print(
            f"| {v.label:<27} | {median(s['curl'], 'bytes') / 1e6:6.1f} | "
            f"{median(s['curl'], 'seconds'):7.1f} | {median(s['wado'], 'seconds'):9.1f} | "
            f"{median(s['queue-bg'], 'seconds'):10.1f} | "
            f"{median(s['queue-prog'], 'seconds'):8.1f} | "
            f"{statistics.median(firsts) * 1000:7.0f} (n={len(firsts)}) |"
        )


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM ends the run through the same clean-up as Ctrl-C."""
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="loopback runs per method")
    ap.add_argument("--first-runs", type=int, default=7, help="first-image runs (loopback)")
    ap.add_argument("--slow-runs", type=int, default=1, help="full-series runs on the slow link")
    ap.add_argument("--slow-first-runs", type=int, default=3)
    ap.add_argument("--slow-timeout", type=float, default=1800.0, help="seconds, slow link")
    ap.add_argument("--no-slow-link", action="store_true")
    ap.add_argument(
        "--slow-variants",
        default="uncompressed,jpeg-ls,jpeg-ext,jpeg-base",
        help="which stored forms to fetch over the slow link (comma-separated)",
    )
    ap.add_argument("--work-dir", help="keep the encoded series here between runs")
    ap.add_argument(
        "--store-dir",
        help="make the retrieves' stores in a folder under this one (default: the temp dir); "
        "its file system is named in the output",
    )
    ap.add_argument("--json", help="write every sample here")
    ap.add_argument("--screenshot", help="save the window of the first on-screen run here (PNG)")
    ap.add_argument("--delay-line", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--client-side", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.delay_line:
        listen, target, delay_ms = args.delay_line
        lh, lp = listen.rsplit(":", 1)
        th, tp = target.rsplit(":", 1)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_delay_line((lh, int(lp)), (th, int(tp)), int(delay_ms) / 1000))
        return 0
    if args.client_side:
        return client_side(Path(args.client_side[0]), Path(args.client_side[1]))

    signal.signal(signal.SIGTERM, _interrupt)
    from workstation.archive.orthanc import OrthancProcess

    tmp = None
    if args.work_dir:
        work = Path(args.work_dir)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="ws-retrieve-")
        work = Path(tmp.name)
    scratch = Path(tempfile.mkdtemp(prefix="ws-retrieve-scratch-", dir=args.store_dir))
    store_fs = describe_fs(scratch)
    os.chmod(scratch, 0o755)
    try:
        variants = prepare(work)
        folder = work / "orthanc"
        orthanc = OrthancProcess(folder).start()
        try:
            print("loading Orthanc…", file=sys.stderr)
            load_archive(orthanc, work, variants)
            print("measuring on loopback…", file=sys.stderr)
            loop = measure_link(
                orthanc.urls.http,
                variants[:1],
                scratch,
                runs=args.runs,
                first_runs=args.first_runs,
                dimse_port=orthanc.dicom_port,
                server_pid=orthanc.pid,
            )
            firsts = {
                v.name: [
                    queue_job(orthanc.urls.dicomweb, v, scratch, progressive=True,
                              first_image_only=True)["first_image_s"]
                    for _ in range(3)
                ]
                for v in variants[1:]
            }  # fmt: skip
            print("first image on screen, in the real window…", file=sys.stderr)
            on_screen = {
                v.name: first_image_on_screen(
                    orthanc.urls.dicomweb,
                    v,
                    scratch,
                    args.first_runs if n == 0 else 3,
                    args.screenshot if n == 0 else None,
                )
                for n, v in enumerate(variants)
            }
            transcode = transcode_check(orthanc.urls.http, variants[0])
        finally:
            orthanc.stop()  # a clean stop: the slow-link Orthanc opens the same database
        slow: dict[str, Any] = {"skipped": "--no-slow-link"}
        if not args.no_slow_link:
            print("measuring over the slow link (minutes)…", file=sys.stderr)
            wanted = set(args.slow_variants.split(","))
            slow = slow_link(
                folder,
                [v for v in variants if v.name in wanted],
                scratch,
                runs=args.slow_runs,
                first_runs=args.slow_first_runs,
                timeout_s=args.slow_timeout,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if tmp is not None:
            tmp.cleanup()

    print(
        f"\n{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, Orthanc on loopback (DICOMweb plugin), curl "
        f"{subprocess.run(['curl', '--version'], capture_output=True, text=True).stdout.split()[1]}"
        f"; stores in {store_fs}"
    )
    ratio, _stored = print_loopback(variants[0], loop[variants[0].name], args.runs)
    for name, values in firsts.items():
        label = next(v.label for v in variants if v.name == name)
        print(
            f"First image, stored as {label}: {statistics.median(values) * 1000:.0f} ms "
            f"(median of {len(values)})"
        )
    print("First image on screen (the real window, Qt + VTK: open → the viewport has drawn it):")
    for name, values in on_screen.items():
        label = next(v.label for v in variants if v.name == name)
        print(
            f"  stored as {label}: {statistics.median(values) * 1000:.0f} ms (median of "
            f"{len(values)}, max {max(values) * 1000:.0f})"
        )
    on_screen_first = statistics.median(on_screen[variants[0].name])
    if transcode["ok"]:
        print(
            f"Orthanc transcodes to JPEG-LS on the fly (WADO-RS transfer-syntax=...4.80): yes, "
            f"{transcode['bytes'] / 1e6:.1f} MB in {transcode['seconds']:.2f} s on loopback"
        )
    else:
        print(f"Orthanc transcodes to JPEG-LS on the fly: no ({transcode['detail']})")
    ok = ratio >= 0.8 and on_screen_first <= 0.5
    print(
        f"\ngoals: WADO-RS ≥ 0.8 × floor throughput (got {ratio:.2f}), first image on screen "
        f"≤ 0.5 s (got {on_screen_first:.3f} s): {'met' if ok else 'NOT met'}"
    )
    print_slow(variants, slow, args.slow_runs)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "variants": [asdict(v) for v in variants],
                    "loopback": loop,
                    "first_image_other_syntaxes": firsts,
                    "first_image_on_screen": on_screen,
                    "transcode": transcode,
                    "slow": slow,
                },
                indent=1,
            ),
            encoding="utf-8",
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
