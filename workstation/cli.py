"""The ``workstation`` command: run the app, the demo, import, export images."""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workstation import __version__
from workstation.core.errors import StoreError, WorkstationError
from workstation.core.text import counted

if TYPE_CHECKING:
    from workstation.core.model import Study

log = logging.getLogger("workstation.cli")

DEMO_MARKER = "demo-complete-v1"


class TerminalProgress:
    """A one-line progress bar on stderr when it is a terminal, silent otherwise."""

    def __init__(self, label: str, stream=None) -> None:  # type: ignore[no-untyped-def]
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        frac = done / total if total else 1.0
        bar = "#" * int(frac * width)
        self.stream.write(f"\r{self.label} [{bar:<{width}}] {done}/{total}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _data_dir(args: argparse.Namespace, demo: bool = False) -> Path:
    from workstation.core.paths import default_store_dir, demo_store_dir

    if getattr(args, "data_dir", None):
        return Path(args.data_dir).expanduser()
    return demo_store_dir() if demo else default_store_dir()


def _open_archive(path: Path):  # type: ignore[no-untyped-def]
    from workstation.archive.local import LocalArchive

    return LocalArchive(path)


def cmd_import(args: argparse.Namespace) -> int:
    archive = _open_archive(_data_dir(args))
    report = archive.import_paths(args.paths, progress=TerminalProgress("Importing"))
    for label, reason in report.rejected:
        print(f"rejected: {label}: {reason}", file=sys.stderr)
    print(report.summary())
    archive.close()
    return 0 if report.imported or report.duplicates else 1


def build_demo(store: Path, progress=None, force: bool = False) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Fill ``store`` with the demo studies once; returns (instances added, seconds)."""
    from workstation.demo import iter_demo_datasets, iter_sample_datasets

    archive = _open_archive(store)
    marker = store / DEMO_MARKER
    if marker.exists() and not force:
        archive.close()
        return 0, 0.0
    start = time.perf_counter()
    added = 0
    for n, ds in enumerate(_chain(iter_demo_datasets(progress), iter_sample_datasets()), 1):
        if archive.add_dataset(ds):
            added += 1
        if n % 100 == 0:
            archive.commit()
    archive.commit()
    archive.close()
    with open(os.open(marker, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "w") as fp:
        fp.write(f"{__version__}\n")  # owner-only, as everything in the store
    elapsed = time.perf_counter() - start
    log.info("demo store built: %d instances in %.1f s", added, elapsed)
    return added, elapsed


def _chain(*iterables):  # type: ignore[no-untyped-def]
    for it in iterables:
        yield from it


def cmd_demo(args: argparse.Namespace) -> int:
    import dataclasses

    from workstation.core.settings import WorklistConfig, load_settings

    # The demo keeps the reader's own settings (name, dictation engine, language) but never
    # talks to a configured archive: demo reports must not reach a hospital's PACS.
    settings = load_settings(user_path=args.settings)
    settings = dataclasses.replace(
        settings, archives=(), default_archive="", worklist=WorklistConfig()
    )
    store = _data_dir(args, demo=True)
    added, secs = build_demo(store, TerminalProgress("Generating demo"), force=args.force)
    if added:
        print(f"demo store ready at {store}: {added} instances in {secs:.1f} s")
    else:
        print(f"demo store at {store}")
    if args.no_gui:
        return 0
    return _run_gui(store, args, settings)


def cmd_run(args: argparse.Namespace) -> int:
    from workstation.core.settings import load_settings

    settings = load_settings(user_path=args.settings)
    if getattr(args, "data_dir", None) or not settings.data_dir:
        store = _data_dir(args)
    else:
        store = Path(settings.data_dir)
    return _run_gui(store, args, settings)


def _run_gui(store: Path, args: argparse.Namespace, settings: Any = None) -> int:
    from workstation.ui.app import run_app

    language = getattr(args, "language", None) or (
        settings.ui.language if settings is not None else "system"
    )
    return run_app(
        store,
        open_first=getattr(args, "open_first", False),
        open_study=getattr(args, "open", None),
        screenshot=Path(args.screenshot) if getattr(args, "screenshot", None) else None,
        quit_after_s=getattr(args, "quit_after", None),
        language=language,
        settings=settings,
    )


def _study_line(s: Study) -> str:
    """One study as ``studies`` and ``query`` print it: tab-separated, UID first."""
    from workstation.core.model import format_da, format_person_name

    return "\t".join(
        [
            s.study_instance_uid,
            format_da(s.study_date),
            "/".join(s.modalities),
            format_person_name(s.patient.patient_name),
            s.patient.patient_id,
            s.accession_number,
            s.study_description,
            counted(s.number_of_series, "series", "series"),
            counted(s.number_of_instances, "image", "images"),
        ]
    )


def cmd_studies(args: argparse.Namespace) -> int:
    archive = _open_archive(_data_dir(args))
    for s in archive.studies(args.search or ""):
        print(_study_line(s))
    archive.close()
    return 0


def _parse_window(text: str):  # type: ignore[no-untyped-def]
    from workstation.viewer.pixels import Window

    try:
        c, w = (float(v) for v in text.split("/"))
        return Window(c, w)
    except ValueError as exc:
        raise WorkstationError(
            f"--window must be CENTER/WIDTH with width ≥ 1, e.g. 40/400 (got {text!r})"
        ) from exc


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        return w, h
    except ValueError as exc:
        raise WorkstationError(f"--size must be WIDTHxHEIGHT, e.g. 512x512 (got {text!r})") from exc


def _parse_vector(text: str | None, option: str) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        x, y, z = (float(v) for v in text.split(","))
    except ValueError:
        raise WorkstationError(f"{option} must be X,Y,Z in mm (LPS), e.g. 0,-20,35") from None
    return (x, y, z)


def cmd_export_image(args: argparse.Namespace) -> int:
    from workstation.viewer.export import render_png
    from workstation.viewer.stack import ImageStack

    window = _parse_window(args.window) if args.window else None
    size = _parse_size(args.size) if args.size else None
    if args.view:
        from workstation.viewer.mpr_export import export_view

        if not args.study:
            raise WorkstationError("--view needs --study UID (a volume from the local store)")
        archive = _open_archive(_data_dir(args))
        try:
            result = export_view(
                archive,
                args.study,
                args.series,
                args.view,
                Path(args.out),
                position=_parse_vector(args.position, "--position"),
                normal=_parse_vector(args.normal, "--normal"),
                slab_mm=args.slab,
                mode=args.mode,
                size=size,
                window=window,
            )
            _audit_export(archive.root, args.study, f"{args.view} view")
        finally:
            archive.close()
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if result.notice:
            print(f"note: {result.notice}", file=sys.stderr)
        print(f"wrote {result.path} ({result.width}x{result.height})")
        return 0
    if args.file:
        stack = ImageStack.from_file(args.file)
        index = 0
    else:
        if not args.study:
            raise WorkstationError("give a FILE or --study UID")
        archive = _open_archive(_data_dir(args))
        study = archive.study(args.study)
        series_list = [s for s in archive.series(study.study_instance_uid)]
        if args.series is not None:
            series_list = [s for s in series_list if s.series_number == args.series]
            if not series_list:
                raise WorkstationError(f"the study has no series number {args.series}")
        series = next((s for s in series_list if s.number_of_instances), None)
        if series is None:
            raise WorkstationError("the study has no images in the local store")
        stack = ImageStack.open(archive, series.series_instance_uid)
        index = len(stack) // 2
        if args.instance is not None:
            matches = [
                k
                for k, f in enumerate(stack.frames)
                if f.instance.instance_number == args.instance and f.frame == 0
            ]
            if not matches:
                raise WorkstationError(f"the series has no instance number {args.instance}")
            index = matches[0]
    if args.frame is not None:
        index = args.frame - 1
    stack.load_volume()
    result = render_png(
        stack, index, Path(args.out), window=window, size=size, annotations=args.annotations
    )
    if not args.file:
        _audit_export(_data_dir(args), args.study, f"image {index + 1}")
    print(f"wrote {result.path} ({result.width}x{result.height})")
    return 0


def _audit_export(store: Path, study_uid: str, what: str) -> None:
    from workstation.archive.audit import AuditEvent, record_event

    record_event(store, AuditEvent.IMAGE_EXPORTED, study_instance_uid=study_uid, detail=what)


def cmd_audit(args: argparse.Namespace) -> int:
    """Print the local audit trail (who opened, signed, sent, exported what); --verify checks
    its hash chain and exits 1 when a row was changed or removed."""
    from workstation.archive.audit import AUDIT_FILE_NAME, AuditTrail

    store = _data_dir(args)
    if not (store / AUDIT_FILE_NAME).is_file():
        print(f"audit: no events recorded in {store}")
        return 0
    with AuditTrail(store) as trail:
        if args.verify:
            problems = trail.verify()
            for p in problems:
                print(f"audit: {p}", file=sys.stderr)
            count = len(trail.entries())
            print(f"audit: {count} events, " + ("chain intact" if not problems else "TAMPERED"))
            return 1 if problems else 0
        for entry in trail.entries(study_instance_uid=args.study, since=args.since):
            print(entry.line())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="workstation", description="Teleradiology reading workstation."
    )
    p.add_argument("--version", action="version", version=f"workstation {__version__}")
    p.add_argument("--log-level", default=os.environ.get("WORKSTATION_LOG_LEVEL", "INFO"))
    sub = p.add_subparsers(dest="command")

    def data_dir(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--data-dir", metavar="DIR", help="local store folder to use")

    def gui_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--open-first", action="store_true", help="open the first study")
        sp.add_argument("--open", metavar="STUDY_UID", help="open this study")
        sp.add_argument("--screenshot", metavar="PNG", help="save a screenshot, then quit")
        sp.add_argument("--quit-after", type=float, metavar="S", help=argparse.SUPPRESS)
        sp.add_argument("--settings", metavar="TOML", help="use this file instead of the user's")
        sp.add_argument(
            "--language",
            choices=("system", "en", "ar"),
            help="the user interface's language (default: [ui] language of the settings)",
        )

    run = sub.add_parser("run", help="run the app on the local store (the default)")
    data_dir(run)
    gui_opts(run)
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="fill the demo store and open the app on it")
    data_dir(demo)
    gui_opts(demo)
    demo.add_argument("--no-gui", action="store_true", help="only build the demo store")
    demo.add_argument("--force", action="store_true", help="rebuild even if already built")
    demo.set_defaults(func=cmd_demo)

    au = sub.add_parser("audit", help="who opened, signed, sent or exported what (local trail)")
    data_dir(au)
    au.add_argument("--study", metavar="UID", help="only this study's events")
    au.add_argument("--since", metavar="DATE", help="from this UTC date or date-time (ISO 8601)")
    au.add_argument("--verify", action="store_true", help="check the trail's hash chain")
    au.set_defaults(func=cmd_audit)

    imp = sub.add_parser("import", help="import files, folders, DICOMDIR media, zip files")
    data_dir(imp)
    imp.add_argument("paths", nargs="+", metavar="PATH")
    imp.set_defaults(func=cmd_import)

    st = sub.add_parser("studies", help="list the studies of the local store")
    data_dir(st)
    st.add_argument("--search", metavar="TEXT", help="name, patient ID or accession")
    st.set_defaults(func=cmd_studies)

    ex = sub.add_parser("export-image", help="render an image to PNG through the viewer")
    data_dir(ex)
    ex.add_argument("file", nargs="?", metavar="FILE", help="a DICOM file (outside the store)")
    ex.add_argument("--study", metavar="UID")
    ex.add_argument("--series", type=int, metavar="NUMBER")
    ex.add_argument("--instance", type=int, metavar="NUMBER")
    ex.add_argument("--frame", type=int, metavar="N", help="1-based image index in the series")
    ex.add_argument("--out", required=True, metavar="PNG")
    ex.add_argument("--window", metavar="CENTER/WIDTH")
    ex.add_argument("--size", metavar="WxH")
    ex.add_argument("--annotations", action="store_true", help="draw the corner text")
    ex.add_argument(
        "--view",
        choices=("axial", "coronal", "sagittal", "oblique", "3d"),
        help="a plane through the series' volume (MPR) or a 3D rendering",
    )
    ex.add_argument("--position", metavar="X,Y,Z", help="centre of the view, LPS mm")
    ex.add_argument("--normal", metavar="X,Y,Z", help="plane normal (oblique) or 3D view direction")
    ex.add_argument("--slab", type=float, metavar="MM", help="slab thickness in mm")
    ex.add_argument("--mode", choices=("mip", "minip", "avg"), help="slab mode (default mip)")
    ex.set_defaults(func=cmd_export_image)
    add_archive_commands(sub)
    add_credentials_commands(sub)
    from workstation.archive.serve import add_serve_commands

    archive = sub.add_parser("archive", help="run a small archive (Orthanc + worklist) here")
    add_serve_commands(archive.add_subparsers(dest="archive_command", required=True))
    from workstation.reporting.commands import add_report_commands

    add_report_commands(sub)
    from workstation.reporting.dictation.cli import add_dictation_commands

    add_dictation_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        args = parser.parse_args(["run", *(argv or sys.argv[1:])])
    from workstation.core.logsetup import configure_logging

    try:
        configure_logging(args.log_level)
    except OSError as exc:
        print(f"warning: cannot write the log file: {exc}", file=sys.stderr)
    log.info("workstation %s: command %s", __version__, args.command)
    try:
        return int(args.func(args) or 0)
    except WorkstationError as exc:
        log.error("%s failed: %s", args.command, type(exc).__name__)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


# =============================================================================================
# Central archive: query, retrieve, check (DICOMweb and DIMSE; workstation.archive.dicomweb,
# workstation.archive.dimse). Archives come from the settings files (workstation.core.settings)
# or, ad hoc, from --dicomweb-url / --dimse.
# =============================================================================================


def _archive_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--archive", metavar="NAME", help="a configured archive (default: the default)")
    sp.add_argument("--dicomweb-url", metavar="URL", help="DICOMweb root of an ad-hoc archive")
    sp.add_argument("--dimse", metavar="HOST:PORT:AET", help="DIMSE peer of an ad-hoc archive")
    sp.add_argument("--settings", metavar="TOML", help="use this file instead of the user's")


def _archive_config(args: argparse.Namespace, pick: bool = True):  # type: ignore[no-untyped-def]
    """(settings, the archive to use) from the settings files and the command line."""
    from workstation.core.errors import ConfigError
    from workstation.core.settings import load_settings

    overrides: dict[str, object] = {}
    if args.dicomweb_url or args.dimse:
        entry: dict[str, object] = {"name": "command-line"}
        if args.dicomweb_url:
            entry["dicomweb_url"] = args.dicomweb_url
        if args.dimse:
            host, _, rest = args.dimse.partition(":")
            port, _, aet = rest.partition(":")
            if not host or not port.isdigit() or not aet:
                raise ConfigError(
                    "--dimse must be HOST:PORT:AET, e.g. 127.0.0.1:4242:ORTHANC "
                    f"(got {args.dimse!r})"
                )
            entry["dimse"] = {"host": host, "port": int(port), "ae_title": aet}
        overrides = {"archives": [entry], "default_archive": "command-line"}
    settings = load_settings(user_path=args.settings, overrides=overrides)
    if not pick:
        return settings, None
    return settings, settings.archive(None if overrides else args.archive)


def cmd_query(args: argparse.Namespace) -> int:

    _, config = _archive_config(args)
    filters = {
        "PatientID": args.patient_id,
        "PatientName": args.name,
        "AccessionNumber": args.accession,
        "StudyDate": args.date,
        "ModalitiesInStudy": args.modality,
        "InstitutionName": args.institution,
    }

    def c_find() -> list[Any]:
        from workstation.archive.dimse import DimseClient  # pynetdicom: only when asked

        return DimseClient(config).find_studies(limit=args.limit, **filters)

    try:
        if config.dicomweb_url and args.via != "cfind":
            from workstation.archive.credentials import resolve_credentials
            from workstation.archive.dicomweb import DicomWebClient, name_needs_cfind

            with DicomWebClient(resolve_credentials(config)) as client:
                studies = client.search_studies(limit=args.limit, **filters)
            if (
                not studies
                and args.via is None
                and config.dimse is not None
                and name_needs_cfind(filters)
            ):
                studies = c_find()  # a name QIDO-RS may not match (Orthanc 1.10 cannot)
        else:
            studies = c_find()
    except ValueError as exc:
        raise WorkstationError(str(exc)) from None
    for s in studies:
        print(_study_line(s))
    print(f"{counted(len(studies), 'study', 'studies')} on {config.name}", file=sys.stderr)
    return 0


def _retrieve_series(  # type: ignore[no-untyped-def]
    one, study_uid: str, series_uids: list[str], store, parallel: int
) -> list[tuple[str, Any, str | None]]:
    """Each series by ``one(study, series, store, progress)``, ``parallel`` at once, under one
    progress bar for the study; (series UID, result or None, error text or None) in the given
    order. A failed series keeps what arrived whole (RetrieveError's result) and the others go
    on."""
    from workstation.archive.remote import RemoteError, RetrieveError, at_once

    bar = TerminalProgress(f"{len(series_uids)} series")
    seen: dict[str, tuple[int, int]] = {}
    lock = threading.Lock()

    def run(series_uid: str) -> tuple[str, Any, str | None]:
        def progress(done: int, total: int) -> None:
            with lock:
                seen[series_uid] = (done, total)
                bar(sum(d for d, _ in seen.values()), sum(t for _, t in seen.values()))

        try:
            return series_uid, one(study_uid, series_uid, store, progress), None
        except RetrieveError as exc:
            return series_uid, exc.result, str(exc)
        except RemoteError as exc:
            return series_uid, None, str(exc)

    if parallel <= 1 or len(series_uids) <= 1:
        return [run(uid) for uid in series_uids]
    outcomes = at_once([functools.partial(run, uid) for uid in series_uids], parallel)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome  # not an archive's failure: a bug or the disk
    return outcomes  # type: ignore[return-value]


def cmd_retrieve(args: argparse.Namespace) -> int:
    from workstation.archive.dicomweb import SERIES_IN_PARALLEL
    from workstation.archive.remote import RemoteError, in_series_order

    settings, config = _archive_config(args)
    via = args.via or ("wado" if config.dicomweb_url else "cget")
    if via == "wado" and not config.dicomweb_url:
        raise WorkstationError(f"archive {config.name!r} has no dicomweb_url: use --via cget")
    if via in ("cget", "cmove") and config.dimse is None:
        raise WorkstationError(f"archive {config.name!r} has no [dimse] settings: use --via wado")
    listen: tuple[str, int] | None = None
    if via == "cmove":
        listen = _listen_address(args.listen, config.dimse)  # type: ignore[arg-type]
    if args.series and len(args.study_uids) != 1:
        raise WorkstationError("--series needs exactly one STUDY_UID")
    if via == "wado":  # the keyring's password, before anything is opened
        from workstation.archive.credentials import resolve_credentials

        config = resolve_credentials(config)
    store_dir = (
        Path(args.data_dir).expanduser()
        if args.data_dir
        else Path(settings.data_dir)
        if settings.data_dir
        else _data_dir(args)
    )
    store = _open_archive(store_dir)
    if via == "wado":
        from workstation.archive.dicomweb import DicomWebClient

        client = DicomWebClient(config)
        one, listing = client.retrieve_series, client.search_series
    else:
        from workstation.archive.dimse import DimseClient

        dimse = DimseClient(config)
        one = dimse.move_series if via == "cmove" else dimse.get_series
        listing = dimse.find_series
    receiver: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if listen is not None:
        from workstation.archive.scp import receiving

        receiver = receiving(store, config, port=listen[1], host=listen[0])
    all_complete = True
    try:
        with receiver:
            for study_uid in args.study_uids:
                try:
                    if args.series:
                        series_uids = list(args.series)
                    else:
                        found = listing(study_uid)
                        if not found:
                            raise RemoteError(f"the archive has no study {study_uid}")
                        series_uids = [s.series_instance_uid for s in in_series_order(found)]
                except RemoteError as exc:
                    print(f"error: {study_uid}: {exc}", file=sys.stderr)
                    all_complete = False
                    continue
                # WADO-RS: several series at once; DIMSE: one association at a time.
                parallel = SERIES_IN_PARALLEL if via == "wado" else 1
                outcomes = _retrieve_series(one, study_uid, series_uids, store, parallel)
                for series_uid, result, error in outcomes:
                    if error is not None:
                        print(f"error: {series_uid}: {error}", file=sys.stderr)
                        all_complete = False
                    if result is None:
                        continue
                    print(f"{series_uid}\t{result.summary()}")
                    if not result.complete:
                        all_complete = False
                        shown = ", ".join(result.missing[:5])
                        more = (
                            f" and {len(result.missing) - 5} more"
                            if len(result.missing) > 5
                            else ""
                        )
                        n_missing = len(result.missing)
                        print(
                            f"incomplete: {series_uid}: {n_missing} missing: {shown}{more}",
                            file=sys.stderr,
                        )
                    for label, reason in result.rejected:
                        print(f"rejected: {label}: {reason}", file=sys.stderr)
    finally:
        if via == "wado":
            client.close()
        store.close()
    return 0 if all_complete else 1


def _listen_address(text: str | None, dimse) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    """Where our storage SCP listens for a C-MOVE: --listen HOST:PORT, else [dimse] our_port."""
    if text:
        host, _, port = text.rpartition(":")
        try:
            return (host or "0.0.0.0", int(port))
        except ValueError:
            raise WorkstationError(f"--listen must be HOST:PORT or :PORT (got {text!r})") from None
    if dimse.our_port is None:
        raise WorkstationError(
            "C-MOVE needs the port the archive sends to: set [dimse] our_port in the settings "
            "(the archive must know our AE title at that port) or give --listen HOST:PORT"
        )
    return ("0.0.0.0", int(dimse.our_port))


def cmd_cache(args: argparse.Namespace) -> int:
    from workstation.archive.cache import cache_command
    from workstation.core.window_lock import window_holder
    from workstation.reporting.retention import ReportHolds

    archive = _open_archive(_data_dir(args))
    try:
        keep = set(args.keep or ())
        window = window_holder(archive.root)
        if window is not None and args.action in ("limit", "clear"):
            if window.studies is None:
                raise StoreError(
                    f"the reading window is open on this store (process {window.pid or '?'}) and "
                    "what it uses cannot be read: close it first"
                )
            keep |= window.studies  # on screen, its priors, being retrieved
            print(
                f"the reading window is open (process {window.pid}): the "
                f"{counted(len(window.studies), 'study', 'studies')} it uses are kept",
                file=sys.stderr,
            )
        # Studies with a draft or an undelivered report are never evicted (reporting/retention).
        with ReportHolds(archive.root) as holds:
            return cache_command(
                archive,
                args.action,
                limit=args.limit,
                protected=tuple(sorted(keep)),
                is_protected=holds,
                fix=args.fix,
            )
    finally:
        archive.close()


def cmd_check(args: argparse.Namespace) -> int:
    from workstation.archive.credentials import needed_entry, resolve_credentials
    from workstation.archive.remote import CheckStep, check_archive

    explicit = bool(args.archive or args.dicomweb_url or args.dimse)
    settings, config = _archive_config(args, pick=explicit)
    archives = [config] if explicit else list(settings.archives)
    if not archives:
        settings.archive()  # raises the "no archive is configured" error with its advice
    all_ok = True
    for a in archives:
        print(f"archive {a.name}")
        entry = needed_entry(a)
        if entry is not None:  # the keyring's answer is the first thing that can fail
            try:
                a = resolve_credentials(a)
            except WorkstationError as exc:
                print(f"  {CheckStep('credentials', False, None, str(exc)).line()}")
                all_ok = False
                continue
            found = CheckStep("credentials", True, None, f"{entry.kind} from the keyring")
            print(f"  {found.line()}")
        for step in check_archive(a):
            print(f"  {step.line()}")
            all_ok = all_ok and step.ok
        try:
            wl_archive = None if explicit else settings.worklist_archive()
        except WorkstationError:
            wl_archive = None
        if wl_archive is not None and wl_archive.name == a.name:
            step = _check_worklist(a, settings.worklist.site_file)
            print(f"  {step.line()}")
            all_ok = all_ok and step.ok
    return 0 if all_ok else 1


def _check_worklist(config: Any, site_file: str) -> Any:
    """One page of the UPS-RS worklist as the archive's user: the role and pools the network's
    worklist.json gives that user, and that the archive lets it search (PS3.18 11.9)."""
    import tempfile

    from workstation.archive.remote import timed_step
    from workstation.core import ups
    from workstation.worklist.upsrs import UpsRsClient

    def search() -> str:
        site = ups.read_worklist_config(site_file)
        user = ups.archive_user(site, config.user, site_file=site_file, archive=config.name)
        with tempfile.TemporaryDirectory() as tmp:  # a check claims nothing: throwaway claims
            client = UpsRsClient(config, user, site=site, claims=Path(tmp) / "claims.sqlite")
            try:
                page = client.search(limit=1)
            finally:
                client.close()
        pools = ", ".join(sorted(user.pools)) or "none"
        seen = "work items visible" if page.items else "no open work item visible"
        return f"as {user.name} ({user.role.value}; pools {pools}): {seen}"

    return timed_step("UPS-RS worklist", search)


def _read_secret(args: argparse.Namespace, prompt: str) -> str:
    """One line from standard input (--stdin, for scripts) or a prompt that does not echo."""
    if args.stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    try:
        return getpass.getpass(prompt)
    except EOFError:
        return ""


def cmd_credentials(args: argparse.Namespace) -> int:
    """Store, remove or list the archive passwords and tokens kept in the OS keyring."""
    from workstation.archive import credentials as cr
    from workstation.core.errors import ConfigError
    from workstation.core.settings import load_settings

    settings = load_settings(user_path=args.settings)
    if args.credentials_command == "status":
        return _credentials_status(settings)
    config = settings.archive(args.archive)
    if args.credentials_command == "clear":
        # both names, whatever the settings say now: a password left behind by an earlier
        # configuration is removed too
        removed = 0
        for kind in cr.KINDS:
            stored = cr.entry_for(config, kind)
            if cr.delete_secret(stored):
                removed += 1
                print(f"removed the {kind} of archive {config.name} ({stored.label()})")
        if not removed:
            print(f"the keyring holds no password or token for archive {config.name}")
        return 0
    entries = cr.keyring_entries(config)
    entry = cr.needed_entry(config) or (entries[0] if entries else None)
    if entry is None:
        where = settings.sources[-1] if settings.sources else "the settings file"
        raise ConfigError(
            f"archive {config.name!r} takes no password or token from the keyring: set "
            f"password_keyring = true (or token_keyring = true) in its [[archives]] entry "
            f"of {where}"
        )
    cr.backend(entry.kind)  # no keyring: say so before asking for the secret
    who = f" ({config.user})" if config.user else ""
    secret = _read_secret(args, f"{entry.kind.capitalize()} for archive {config.name}{who}: ")
    cr.set_secret(entry, secret)
    print(f"stored the {entry.kind} of archive {config.name} in the keyring ({entry.label()})")
    print(f"test it with: workstation check --archive {config.name}")
    return 0


def _credentials_status(settings: Any) -> int:
    """Which archives take a secret from the keyring and whether the entry is there."""
    from workstation.archive import credentials as cr

    if not settings.archives:
        settings.archive()  # raises the "no archive is configured" error with its advice
    try:
        print(f"keyring: {cr.backend_name(cr.backend())}")
        available = True
    except cr.KeyringUnavailableError as exc:
        print(f"keyring: {exc}")
        available = False
    all_ok = True
    for a in settings.archives:
        entries = cr.keyring_entries(a)
        if not entries:
            print(f"{a.name}\tnot in the keyring")
            continue
        for e in entries:
            used = "" if e == cr.needed_entry(a) else " (not used: auth is " + a.auth + ")"
            if not available:
                state = "unknown (no keyring)"
                all_ok = False
            else:
                try:
                    state = "stored" if cr.get_secret(e) else "missing"
                except cr.KeyringUnavailableError as exc:
                    state = f"unreadable: {exc}"
            if state != "stored" and not used:
                all_ok = False
            print(f"{a.name}\t{e.kind}\t{e.label()}\t{state}{used}")
    return 0 if all_ok else 1


def add_credentials_commands(sub) -> None:  # type: ignore[no-untyped-def]
    """Register ``credentials set|clear|status`` (archive secrets in the OS keyring)."""
    c = sub.add_parser("credentials", help="archive passwords and tokens in the OS keyring")
    cs = c.add_subparsers(dest="credentials_command", required=True)
    for name, text in (
        ("set", "store an archive's password or token (asks for it)"),
        ("clear", "remove an archive's password and token"),
        ("status", "which archives use the keyring, and whether their entry is there"),
    ):
        sp = cs.add_parser(name, help=text)
        if name != "status":
            sp.add_argument("--archive", metavar="NAME", help="default: the default archive")
        if name == "set":
            sp.add_argument(
                "--stdin", action="store_true", help="read the secret as one line of stdin"
            )
        sp.add_argument("--settings", metavar="TOML", help="use this file instead of the user's")
        sp.set_defaults(func=cmd_credentials)


def add_archive_commands(sub) -> None:  # type: ignore[no-untyped-def]
    """Register ``query``, ``retrieve`` and ``check`` on the main parser's subcommands."""
    q = sub.add_parser("query", help="search a central archive's studies (QIDO-RS or C-FIND)")
    _archive_options(q)
    q.add_argument("--patient-id", metavar="ID")
    q.add_argument("--name", metavar="NAME", help="patient name; * and ? are wildcards")
    q.add_argument("--accession", metavar="NUMBER")
    q.add_argument("--date", metavar="FROM-TO", help="YYYYMMDD, or a range YYYYMMDD-YYYYMMDD")
    q.add_argument("--modality", metavar="MOD", help="a modality in the study, e.g. CT")
    q.add_argument(
        "--institution", metavar="NAME", help="the sending hospital; * and ? are wildcards"
    )
    q.add_argument("--limit", type=int, metavar="N")
    q.add_argument(
        "--via",
        choices=("qido", "cfind"),
        help="default: qido when configured, and cfind again for a name in letters other than "
        "A-Z that qido found nothing for, when the archive has DIMSE settings too",
    )
    q.set_defaults(func=cmd_query)

    r = sub.add_parser("retrieve", help="retrieve studies from a central archive")
    _archive_options(r)
    r.add_argument("--data-dir", metavar="DIR", help="local store folder to retrieve into")
    r.add_argument("--via", choices=("wado", "cget", "cmove"), help="default: wado when configured")
    r.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="for cmove: where our storage SCP listens (default: [dimse] our_port)",
    )
    r.add_argument("--series", action="append", metavar="UID", help="only this series")
    r.add_argument("study_uids", nargs="+", metavar="STUDY_UID")
    r.set_defaults(func=cmd_retrieve)

    c = sub.add_parser("check", help="test the connection to each configured archive")
    _archive_options(c)
    c.set_defaults(func=cmd_check)

    k = sub.add_parser("cache", help="local store usage, size limit, clear, verify")
    k.add_argument("action", choices=("usage", "limit", "clear", "verify"))
    k.add_argument("--data-dir", metavar="DIR", help="local store folder")
    k.add_argument("--limit", metavar="SIZE", help="for limit: e.g. 200G or 20GiB")
    k.add_argument("--keep", action="append", metavar="STUDY_UID", help="never evict this study")
    k.add_argument(
        "--fix",
        action="store_true",
        help="for verify: forget index rows whose file is gone, index files the index lost, "
        "correct file modes",
    )
    k.set_defaults(func=cmd_cache)


if __name__ == "__main__":
    sys.exit(main())
