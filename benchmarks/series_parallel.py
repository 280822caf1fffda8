"""Series of one study retrieved one at a time and several at once, over a 40 ms link.

A study like an MR examination (many small series: 12 series of 5 CT slices from the demo
phantom, 512×512, 31 MB) is stored in an Orthanc of its own on loopback, reached through the
user-space TCP delay line of ``benchmarks/retrieve.py`` (server→client data leaves 40 ms after
it came, a new connection's first request waits 40 ms; no bandwidth cap, no root needed). Beside
each other, runs interleaved, each into a fresh store:

- curl fetching the whole study as one WADO-RS multipart answer (``/studies/{uid}``) to
  /dev/null: one request for everything, the floor;
- ``DicomWebClient.retrieve_study`` with ``parallel=1`` (series one after the other, as before)
  and with ``parallel=3`` (the default): every series asked for by its own request, judged
  complete by its own count.

    .venv/bin/python benchmarks/series_parallel.py [--runs N] [--delay-ms MS]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERIES = 12
PER_SERIES = 5


def _uid(*names: str) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=["workstation-series-parallel-benchmark", *names]))


def make_study(folder: Path) -> tuple[str, list[Path]]:
    """12 series of 5 slices each, with identifiers of their own."""
    from workstation.demo import CT_CHEST_ABDOMEN, iter_series_datasets

    study = _uid("study")
    paths = []
    source = iter_series_datasets(CT_CHEST_ABDOMEN.series[0], CT_CHEST_ABDOMEN)
    for n in range(SERIES):
        series = _uid("series", str(n))
        for k in range(PER_SERIES):
            ds = next(source)
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.SeriesNumber, ds.InstanceNumber = n + 1, k + 1
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = _uid(str(n), str(k))
            p = folder / f"{n:02d}-{k}.dcm"
            ds.save_as(p, enforce_file_format=True)
            paths.append(p)
    return study, paths


def curl_study(url: str) -> float:
    r = subprocess.run(
        ["curl", "-s", "-f", "-o", "/dev/null", "-w", "%{time_total}", "-H",
         'Accept: multipart/related; type="application/dicom"; transfer-syntax=*', url],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return float(r.stdout)


def retrieve(base: str, study: str, scratch: Path, parallel: int) -> float:
    from workstation.archive.dicomweb import DicomWebClient
    from workstation.archive.local import LocalArchive
    from workstation.core.settings import ArchiveConfig

    folder = Path(tempfile.mkdtemp(dir=scratch))
    store = LocalArchive(folder)
    try:
        started = time.perf_counter()
        with DicomWebClient(ArchiveConfig(name="bench", dicomweb_url=base)) as c:
            results = c.retrieve_study(study, store, parallel=parallel)
        seconds = time.perf_counter() - started
        assert len(results) == SERIES and all(r.complete for r in results)
        assert sum(r.received for r in results) == SERIES * PER_SERIES
        return seconds
    finally:
        store.close()
        shutil.rmtree(folder)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--delay-ms", type=int, default=40)
    args = ap.parse_args()

    from workstation.archive.dicomweb import DicomWebClient
    from workstation.archive.orthanc import OrthancProcess, free_port
    from workstation.core.settings import ArchiveConfig

    work = Path(tempfile.mkdtemp(prefix="ws-series-parallel-"))
    proxy = None
    orthanc = OrthancProcess(work / "orthanc").start()
    try:
        objects = work / "objects"
        objects.mkdir()
        study, paths = make_study(objects)
        size = sum(p.stat().st_size for p in paths)
        with DicomWebClient(ArchiveConfig(name="o", dicomweb_url=orthanc.urls.dicomweb)) as c:
            stored = c.store_instances(paths)
        assert len(stored.stored) == len(paths), stored.failed
        port = free_port()
        proxy = subprocess.Popen(
            [sys.executable, str(HERE / "retrieve.py"), "--delay-line", f"127.0.0.1:{port}",
             f"127.0.0.1:{orthanc.http_port}", str(args.delay_ms)],
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}/dicom-web"
        deadline = time.monotonic() + 10
        while True:
            try:
                curl_study(f"{base}/studies/{study}")  # also warms Orthanc and the page cache
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        load0 = os.getloadavg()[0]
        samples: dict[str, list[float]] = {"curl": [], "1": [], "3": []}
        for _ in range(args.runs):
            samples["curl"].append(curl_study(f"{base}/studies/{study}"))
            for parallel in (1, 3):
                samples[str(parallel)].append(retrieve(base, study, work, parallel))
        load1 = os.getloadavg()[0]
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(10)
        orthanc.stop()
        shutil.rmtree(work, ignore_errors=True)

    floor = statistics.median(samples["curl"])
    print(
        f"\n{SERIES} series × {PER_SERIES} slices of 512×512 CT ({size / 1e6:.1f} MB), "
        f"{args.delay_ms} ms delay line on loopback (no bandwidth cap), median of {args.runs}, "
        f"load average {load0:.2f} → {load1:.2f}\n"
    )
    print("| method | median s | min s | ÷ curl |")
    print("|---|---:|---:|---:|")
    rows = [
        ("curl: the whole study, one WADO-RS answer → /dev/null", "curl"),
        ("retrieve_study, series one after the other (parallel=1)", "1"),
        ("retrieve_study, three series at once (parallel=3, default)", "3"),
    ]
    for label, key in rows:
        xs = samples[key]
        med = statistics.median(xs)
        print(f"| {label} | {med:.3f} | {min(xs):.3f} | {med / floor:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
