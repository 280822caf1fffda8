"""Time from opening a study that is not in the local store to its first image on screen.

The real main window (Qt, VTK), configured with the archive's DICOMweb URL as a site
configures it, opens a study it has never retrieved, as a double-click in the study list does
(``RemoteStudies.open``). The clock stops when the viewer shows the first retrieved image: the
progressive job stored it, the window opened the study, hung it, read and decoded the file and
the viewport rendered it. Each run starts with an empty store and a new window; the job is
cancelled once the image is up.

Run by ``benchmarks/retrieve.py`` (a process of its own, so that the benchmark's own process
never loads Qt); alone:

    .venv/bin/python benchmarks/first_image_ui.py URL STUDY_UID --policy uncompressed \\
        --work-dir DIR [--runs 5] [--screenshot PNG]

Prints one JSON object: the seconds of each run, and what was on screen.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="the archive's DICOMweb base URL")
    ap.add_argument("study_uid")
    ap.add_argument("--policy", default="uncompressed", help="transfer syntax policy")
    ap.add_argument("--work-dir", type=Path, required=True, help="stores and settings go here")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--screenshot", type=Path, help="save the first run's window here")
    args = ap.parse_args()

    from workstation.ui.app import prepare_environment

    prepare_environment()
    from PySide6.QtWidgets import QApplication

    from workstation.archive.local import LocalArchive
    from workstation.core.settings import load_settings
    from workstation.ui.i18n import install_translator
    from workstation.ui.main_window import MainWindow
    from workstation.ui.theme import apply_dark_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_dark_theme(app)
    install_translator(app, "en")
    args.work_dir.mkdir(parents=True, exist_ok=True)
    toml = args.work_dir / "workstation.toml"
    toml.write_text(
        f'[[archives]]\nname = "bench"\ndicomweb_url = "{args.url}"\n'
        f'transfer_syntax = "{args.policy}"\n'
    )
    settings = load_settings(user_path=toml, environ={})
    seconds: list[float] = []
    shown: list[dict[str, object]] = []
    for run in range(args.runs):
        store = LocalArchive(args.work_dir / f"store-{os.getpid()}-{run}")
        win = MainWindow(store, settings=settings)
        try:
            win.resize(1400, 900)
            win.show()
            deadline = time.monotonic() + 10
            while win.remote is None or win.remote.queue is None:  # started when shown
                app.processEvents()
                if time.monotonic() > deadline:
                    raise SystemExit("the window started no retrieval queue")
            remote = win.remote
            for _ in range(20):  # let the window settle: its first paint is not the image's
                app.processEvents()
            opened: list[float] = []
            remote.study_shown.connect(lambda _uid, o=opened: o.append(time.perf_counter()))
            started = time.perf_counter()
            job = remote.open(args.study_uid)
            if job is None:
                raise SystemExit(f"study {args.study_uid} opened without a retrieval")
            deadline = time.monotonic() + 60
            while not opened:
                app.processEvents()
                if time.monotonic() > deadline:
                    raise SystemExit(f"no first image after 60 s: {job.error or job.state}")
            seconds.append(opened[0] - started)
            vp = win.viewport
            stack = vp.model.stack
            assert stack is not None and job.first_image is not None
            frame = stack.frames[vp.model.index].instance.sop_instance_uid
            if frame != job.first_image[1]:
                raise SystemExit(f"the viewer shows {frame}, not the first image retrieved")
            image = vp.capture()
            centre = image.pixelColor(image.width() // 2, image.height() // 2)
            shown.append(
                {
                    "sop_instance_uid": frame,
                    "images_in_stack": len(stack),
                    "centre_grey": centre.red(),
                    "viewport_px": [image.width(), image.height()],
                }
            )
            if run == 0 and args.screenshot is not None:
                for _ in range(20):  # the toolbar's relayout for the protocol's name
                    app.processEvents()
                win.screenshot().save(str(args.screenshot))
            job.cancel()
            job.wait(30)
        finally:
            win.close()
            app.processEvents()
            store.close()
    print(json.dumps({"seconds": seconds, "shown": shown}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
