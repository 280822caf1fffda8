"""Scrolling a 500-image CT in the 2D viewer: frame times, time to first image, memory.

In the same run: a 500 × 512×512 CT is written to a temporary store; then
  - open to first image: ImageStack.open + load_volume + the viewport's first render;
  - scrolling: model.scroll(1) and the render that follows, per image, in a 1×1 layout and in
    a 2×2 layout whose four viewports are linked (one scroll moves and redraws all four);
  - resident memory added by the loaded volume, beside the raw int16 volume size.
Goals (2D reading issue): median ≤ 33 ms in 1×1; first image ≤ 300 ms; memory ≤ 1.3× raw.
Runs on an Xvfb screen of its own when there is no display.

    .venv/bin/python benchmarks/scroll.py [--images 500] [--frames 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _die_with_parent() -> None:
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_xvfb() -> subprocess.Popen[bytes] | None:
    if os.environ.get("DISPLAY"):
        return None
    r, w = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        pass_fds=(w,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,  # outlives Qt, ends with this process
    )
    os.close(w)
    with os.fdopen(r) as f:
        os.environ["DISPLAY"] = ":" + f.readline().strip()
    return proc


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def build_series(store: Path, n: int) -> str:
    """n slices of the demo chest phantom (cycled), 512×512, 1 mm apart, in a new series."""
    import pydicom
    from pydicom.uid import generate_uid

    from workstation.archive.local import LocalArchive
    from workstation.demo import CT_CHEST_ABDOMEN, generate_slice

    a = LocalArchive(store)
    series_uid = generate_uid()
    study_uid = generate_uid()
    src = CT_CHEST_ABDOMEN.series[0]
    template = [generate_slice(src, k) for k in range(0, 300, 30)]
    for k in range(n):
        ds = pydicom.Dataset(template[k % len(template)])
        ds.file_meta = template[k % len(template)].file_meta
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-179.2, -179.2, float(k)]
        ds.SliceLocation = float(k)
        a.add_dataset(ds)
    a.commit()
    a.close()
    return series_uid


def median_p95(xs: list[float]) -> tuple[float, float]:
    s = sorted(xs)
    return statistics.median(s), s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--frames", type=int, default=200)
    args = ap.parse_args()
    start_xvfb()
    return run(args)


def run(args: argparse.Namespace) -> int:
    from PySide6.QtWidgets import QApplication

    from workstation.archive.local import LocalArchive
    from workstation.ui.viewport_grid import ViewportGrid
    from workstation.viewer.stack import ImageStack
    from workstation.viewer.sync import SyncGroup

    app = QApplication.instance() or QApplication(sys.argv[:1])
    tmp = tempfile.TemporaryDirectory(prefix="ws-scroll-")
    store = Path(tmp.name) / "store"
    print(f"writing {args.images} slices…", file=sys.stderr)
    series_uid = build_series(store, args.images)
    archive = LocalArchive(store)
    for inst in archive.instances(series_uid):  # warm page cache, as on a second opening
        (store / inst.path).read_bytes()

    grid = ViewportGrid()
    grid.resize(1024, 1024)
    grid.show()
    for _ in range(5):
        app.processEvents()

    # Open to first image (1×1), median of 5; memory of the loaded volume.
    firsts = []
    base = rss_mb()
    extra = 0.0
    for _ in range(5):
        vp = grid.viewports[0]
        vp.set_stack(None)
        t0 = time.perf_counter()
        stack = ImageStack.open(archive, series_uid)
        vp.set_stack(stack)  # reads and renders the first image, as the main window does
        firsts.append(time.perf_counter() - t0)
        loader = stack.load_volume_in_background()
        if loader is not None:
            loader.join()
        extra = max(extra, rss_mb() - base)
    raw_mb = args.images * 512 * 512 * 2 / 1e6

    def scroll_times(n_views: int) -> list[float]:
        grid.set_layout(1, 1) if n_views == 1 else grid.set_layout(2, 2)
        for _ in range(5):
            app.processEvents()
        stack = grid.viewports[0].model.stack or ImageStack.open(archive, series_uid)
        stack.load_volume()
        group = SyncGroup()
        for vp in grid.viewports:
            vp.set_stack(stack)
            vp.model.go_to(0)
            group.add(vp.model)
        times = []
        model = grid.viewports[0].model
        for k in range(args.frames):
            t0 = time.perf_counter()
            model.scroll(1 if (k // (args.images - 1)) % 2 == 0 else -1)
            times.append(time.perf_counter() - t0)
        group.clear()
        return times

    t1 = scroll_times(1)
    t4 = scroll_times(4)
    fm, fp = median_p95(firsts)
    m1, p1 = median_p95(t1)
    m4, p4 = median_p95(t4)
    print(
        f"\n{args.images} × 512×512 CT, viewport 1024×1024 (2×2: four of 512×512), "
        f"{platform.machine()}, {os.cpu_count()} cores, display {os.environ.get('DISPLAY')}"
    )
    print(f"| {'measure':<44} | {'median':>9} | {'p95':>9} | {'goal':>10} |")
    print(f"|{'-' * 46}|{'-' * 11}|{'-' * 11}|{'-' * 12}|")
    first = "open to first image"
    print(f"| {first:<44} | {fm * 1e3:7.1f}ms | {fp * 1e3:7.1f}ms | {'≤ 300 ms':>10} |")
    print(
        f"| {'scroll frame, 1×1':<44} | {m1 * 1e3:7.1f}ms | {p1 * 1e3:7.1f}ms | {'≤ 33 ms':>10} |"
    )
    print(
        f"| {'scroll frame, 2×2 linked (4 redraws)':<44} | {m4 * 1e3:7.1f}ms | "
        f"{p4 * 1e3:7.1f}ms | {'-':>10} |"
    )
    ratio = extra / raw_mb
    print(
        f"\nresident memory added by the loaded series: {extra:.0f} MB for a raw int16 volume "
        f"of {raw_mb:.0f} MB: {ratio:.2f}× (goal ≤ 1.3×)"
    )
    ok = m1 <= 0.033 and fm <= 0.3 and ratio <= 1.3
    print(f"goals {'met' if ok else 'NOT met'}")
    grid.close_all()
    archive.close()
    tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
