"""Load a 300-slice 512×512 CT series from the local store into a volume.

Beside the workstation's loader, in the same run and on the same files:
  (a) reading the files' bytes (the I/O floor),
  (b) SimpleITK's ImageSeriesReader (GDCM),
  (c) pydicom's dcmread + pixel_array + rescale in a loop (for reference).
Page cache warm, median of several runs. Goals (issue: foundation): loader / SimpleITK <= 0.75,
loader / raw read <= 10.

    .venv/bin/python benchmarks/load_series.py [--data-dir DIR] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def timed(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    times = []
    result = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def build_store(store: Path) -> str:
    """The demo CT chest-abdomen series (300 × 512²) in a store; returns its series UID."""
    from workstation.archive.local import LocalArchive
    from workstation.demo import CT_CHEST_ABDOMEN, iter_series_datasets

    series = CT_CHEST_ABDOMEN.series[0]
    archive = LocalArchive(store)
    if not archive.index.one_series(series.series_instance_uid):
        for ds in iter_series_datasets(series, CT_CHEST_ABDOMEN):
            archive.add_dataset(ds)
        archive.commit()
    archive.close()
    return series.series_instance_uid


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help="store to use (default: a temporary one)")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()

    import pydicom
    import SimpleITK as sitk

    from workstation.archive.local import LocalArchive
    from workstation.viewer.stack import ImageStack

    tmp = None
    if args.data_dir:
        store = Path(args.data_dir)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="ws-bench-")
        store = Path(tmp.name) / "store"
    print("building the series…", file=sys.stderr)
    uid = build_store(store)
    archive = LocalArchive(store)
    stack = ImageStack.open(archive, uid)
    files = [str(archive.path_of(i)) for i in stack.instances]
    n = len(files)
    nbytes = sum(os.path.getsize(f) for f in files)

    def raw_read() -> int:
        total = 0
        for f in files:
            with open(f, "rb") as fp:
                total += len(fp.read())
        return total

    def ours() -> np.ndarray:
        s = ImageStack.open(archive, uid)
        vol = s.load_volume()
        assert vol is not None
        return vol

    def simpleitk() -> np.ndarray:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(files)
        img = reader.Execute()
        return sitk.GetArrayViewFromImage(img)

    def pydicom_loop() -> np.ndarray:
        out = np.empty((n, stack.instances[0].rows, stack.instances[0].columns), np.int16)
        for k, f in enumerate(files):
            ds = pydicom.dcmread(f)
            out[k] = ds.pixel_array.astype(np.int16) + np.int16(int(ds.RescaleIntercept))
        return out

    for f in files:  # warm the page cache
        Path(f).read_bytes()
    rows = []
    t_raw, _ = timed(raw_read, args.runs)
    t_ours, vol = timed(ours, args.runs)
    t_sitk, ref = timed(simpleitk, args.runs)
    t_pyd, _ = timed(pydicom_loop, max(3, args.runs // 2))
    # SimpleITK sorts by its own rules; the files were given in our order, so they must match.
    same = np.array_equal(np.asarray(vol, dtype=np.int32), np.asarray(ref, dtype=np.int32))
    rows = [
        ("read the files' bytes (I/O floor)", t_raw),
        ("workstation ImageStack.load_volume", t_ours),
        ("SimpleITK ImageSeriesReader (GDCM)", t_sitk),
        ("pydicom dcmread + pixel_array loop", t_pyd),
    ]
    print(
        f"\n{n} × {stack.instances[0].rows}×{stack.instances[0].columns} CT, "
        f"{nbytes / 1e6:.0f} MB, median of {args.runs}, page cache warm"
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"volumes identical (workstation vs SimpleITK): {same}\n")
    print(f"| {'method':<38} | {'ms':>8} | {'÷ raw read':>10} | {'÷ SimpleITK':>11} |")
    print(f"|{'-' * 40}|{'-' * 10}|{'-' * 12}|{'-' * 13}|")
    for name, t in rows:
        print(f"| {name:<38} | {t * 1000:8.1f} | {t / t_raw:10.2f} | {t / t_sitk:11.2f} |")
    ok = t_ours / t_sitk <= 0.75 and t_ours / t_raw <= 10 and same
    print(
        f"\ngoal: loader/SimpleITK ≤ 0.75 (got {t_ours / t_sitk:.2f}), "
        f"loader/raw ≤ 10 (got {t_ours / t_raw:.2f}): {'met' if ok else 'NOT met'}"
    )
    archive.close()
    if tmp is not None:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
