"""The ``workstation report`` commands: export a study's signed report, look at the outbox.

- ``workstation report export --study UID --format sr|pdf --out FILE [--data-dir DIR]`` writes
  the latest signed report of a study in the local store: the SR file exactly as stored, or an
  Encapsulated PDF of it (with the reports it amends), for a referring hospital without a PACS
  and for checks by other tools (dciodvfy, dsrdump).
- ``workstation report outbox [--data-dir DIR] [--state S] [--retry]`` lists the reports waiting
  to be sent, sent and refused, with the reason, and can make them due now.

``cli.py`` registers them with :func:`add_report_commands`; ``python -m
workstation.reporting.commands report ...`` runs them on their own.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workstation.archive.audit import AuditEvent, record_event
from workstation.archive.local import LocalArchive
from workstation.core.errors import NotFoundError, StoreError, WorkstationError
from workstation.reporting.outbox import OUTBOX_FILE_NAME, Outbox, OutboxState
from workstation.reporting.pdf import pdf_instance_uid, report_pdf_dataset
from workstation.reporting.signing import (
    archive_image_describer,
    latest_signed_report,
    report_chain,
)

__all__ = ["add_report_commands", "cmd_report_export", "cmd_report_outbox", "main"]


def _store_dir(args: argparse.Namespace) -> Path:
    """The local store folder: --data-dir, else the default one; it must exist."""
    from workstation.core.paths import default_store_dir

    folder = Path(args.data_dir).expanduser() if args.data_dir else default_store_dir()
    if not (folder / "index.sqlite").is_file():
        raise NotFoundError(
            f"there is no local store at {folder}: give --data-dir the folder of the store"
        )
    return folder


def _write_atomically(out: Path, write: Any) -> None:
    """Write through a temporary file in the target folder, then rename: a reader of ``out``
    never sees half a file."""
    out = out.expanduser()
    if out.is_dir():
        raise StoreError(f"{out} is a folder: give --out a file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the folder of {out}: {exc.strerror}") from None
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex}.part"
    try:
        write(tmp)
        os.replace(tmp, out)
    except OSError as exc:
        raise StoreError(f"cannot write {out}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def cmd_report_export(args: argparse.Namespace) -> int:
    """Write the latest signed report of ``--study`` to ``--out`` as SR or Encapsulated PDF."""
    archive = LocalArchive(_store_dir(args))
    try:
        latest = latest_signed_report(archive, args.study)
        kind = "final" if latest.final else "preliminary"
        out = Path(args.out)
        if args.format == "sr":
            _write_atomically(out, lambda tmp: shutil.copyfile(latest.path, tmp))
            uid = latest.sop_instance_uid
        else:
            stored = archive.index.instance(pdf_instance_uid(latest.sop_instance_uid))
            if stored is not None:  # signed with a PDF: the very instance that was sent
                _write_atomically(out, lambda tmp: shutil.copyfile(archive.path_of(stored), tmp))
                uid = stored.sop_instance_uid
            else:
                chain = report_chain(archive, latest.dataset())
                ds = report_pdf_dataset(chain[0], chain[1:], archive_image_describer(archive))
                _write_atomically(out, lambda tmp: ds.save_as(tmp, enforce_file_format=True))
                uid = str(ds.SOPInstanceUID)
        record_event(
            archive.root,
            AuditEvent.REPORT_EXPORTED,
            study_instance_uid=args.study,
            sop_instance_uid=uid,
            detail=args.format,
        )
    finally:
        archive.close()
    when = latest.content_datetime.strftime("%Y-%m-%d %H:%M") if latest.content_datetime else "?"
    print(f"wrote {out}: {kind} report of {when} as {args.format.upper()} (SOP Instance {uid})")
    return 0


def cmd_report_outbox(args: argparse.Namespace) -> int:
    """List the outbox; with ``--retry``, make waiting and refused entries due now."""
    folder = _store_dir(args)
    if not (folder / OUTBOX_FILE_NAME).is_file():
        print("outbox: empty (no report was queued in this store)")
        return 0
    with Outbox(folder) as outbox:
        if args.retry:
            n = outbox.retry()
            print(f"{n} entr{'y' if n == 1 else 'ies'} due now; a running workstation sends them")
        counts = outbox.counts()
        print("   ".join(f"{state.value} {counts[state]}" for state in OutboxState))
        state = OutboxState(args.state) if args.state else None
        entries = outbox.entries(state)
        if entries:
            print(
                f"{'STATE':<8} {'TRIES':>5}  {'DESTINATION':<16} {'SOP INSTANCE UID':<64}  DETAIL"
            )
        now = time.time()
        for e in entries:
            print(
                f"{e.state.value:<8} {e.attempts:>5}  {e.destination:<16} "
                f"{e.sop_instance_uid:<64}  {e.describe(now)}"
            )
    return 0


def add_report_commands(sub: Any) -> None:
    """Register ``report export`` and ``report outbox`` on the main parser's subcommands."""
    report = sub.add_parser("report", help="signed reports: export one, look at the outbox")
    rsub = report.add_subparsers(dest="report_command", metavar="{export,outbox}")
    report.set_defaults(func=lambda _args: report.print_help() or 2)

    ex = rsub.add_parser("export", help="write a study's latest signed report as SR or PDF")
    ex.add_argument("--study", required=True, metavar="UID", help="Study Instance UID")
    ex.add_argument("--format", choices=("sr", "pdf"), default="sr", help="default: sr")
    ex.add_argument("--out", required=True, metavar="FILE", help="the DICOM file to write")
    ex.add_argument("--data-dir", metavar="DIR", help="local store folder to use")
    ex.set_defaults(func=cmd_report_export)

    ob = rsub.add_parser("outbox", help="list reports waiting to be sent, sent and refused")
    ob.add_argument("--data-dir", metavar="DIR", help="local store folder to use")
    ob.add_argument("--state", choices=[s.value for s in OutboxState], help="only this state")
    ob.add_argument("--retry", action="store_true", help="make waiting and refused ones due now")
    ob.set_defaults(func=cmd_report_outbox)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``report ...`` on its own (the same code ``workstation report`` runs)."""
    parser = argparse.ArgumentParser(prog="workstation")
    sub = parser.add_subparsers(dest="command", required=True)
    add_report_commands(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except WorkstationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
