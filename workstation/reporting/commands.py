"""The ``workstation report`` commands: export a study's signed report, look at the outbox.

- ``workstation report export --study UID --format sr|pdf|pdf-document --out FILE
  [--data-dir DIR]`` writes the latest signed report of a study in the local store: the SR
  file exactly as stored, an Encapsulated PDF of it (with the reports it amends; a DICOM
  file, for an EHR or a PACS that cannot show SR), or that PDF document alone, for a
  referring hospital without a PACS (e-mail, printer); and for checks by other tools
  (dciodvfy, dsrdump).
- ``workstation report outbox [--data-dir DIR] [--state S] [--retry]`` lists the reports waiting
  to be sent, sent and refused, with the reason, and can make them due now.
- ``workstation report drafts [--data-dir DIR] [--set-aside STUDY_UID --reader NAME]`` lists the
  report drafts (each keeps its study in the cache) and can move one into a file of its own
  (``set-aside-drafts/``, owner-only, audited), so a stale draft no longer keeps its study.

``cli.py`` registers them with :func:`add_report_commands`; ``python -m
workstation.reporting.commands report ...`` runs them on their own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pydicom

from workstation.archive.audit import AuditEvent, record_event
from workstation.archive.cache import StoreCache
from workstation.archive.local import LocalArchive
from workstation.core.errors import ConfigError, NotFoundError, StoreError, WorkstationError
from workstation.core.sizes import format_size
from workstation.core.text import counted
from workstation.core.window_lock import StoreInUseError, window_holder
from workstation.reporting.drafts import DraftContent, DraftStore
from workstation.reporting.outbox import OUTBOX_FILE_NAME, Outbox, OutboxState
from workstation.reporting.pdf import pdf_instance_uid, report_pdf_dataset
from workstation.reporting.signing import (
    archive_image_describer,
    latest_signed_report,
    make_durable,
    report_chain,
)

__all__ = [
    "add_report_commands",
    "cmd_report_drafts",
    "cmd_report_export",
    "cmd_report_outbox",
    "main",
]


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


_FORMAT_WORDS = {
    "sr": "SR",
    "pdf": "Encapsulated PDF (DICOM)",
    "pdf-document": "PDF document",
}


def cmd_report_export(args: argparse.Namespace) -> int:
    """Write the latest signed report of ``--study`` to ``--out``: the SR, an Encapsulated
    PDF (DICOM), or the PDF document alone (for e-mail, a printer, a hospital without PACS)."""
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
                source = archive.path_of(stored)
                uid = stored.sop_instance_uid
                if args.format == "pdf":
                    _write_atomically(out, lambda tmp: shutil.copyfile(source, tmp))
                else:
                    ds = pydicom.dcmread(source)
            else:
                chain = report_chain(archive, latest.dataset())
                ds = report_pdf_dataset(chain[0], chain[1:], archive_image_describer(archive))
                uid = str(ds.SOPInstanceUID)
                if args.format == "pdf":
                    _write_atomically(out, lambda tmp: ds.save_as(tmp, enforce_file_format=True))
            if args.format == "pdf-document":
                document = bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)]
                _write_atomically(out, lambda tmp: Path(tmp).write_bytes(document))
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
    what = _FORMAT_WORDS[args.format]
    print(f"wrote {out}: {kind} report of {when} as {what} (SOP Instance {uid})")
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
            print(f"{counted(n, 'entry', 'entries')} due now; a running workstation sends them")
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


SET_ASIDE_FOLDER = "set-aside-drafts"


def _draft_words(content: DraftContent) -> int:
    """Words of a draft's texts, plus its filled fields: what a reader would lose."""
    words = sum(len(t.split()) for t in content.section_texts.values())
    return words + sum(1 for v in content.values.values() if v != "")


def cmd_report_drafts(args: argparse.Namespace) -> int:
    """List the store's report drafts (each keeps its study in the cache); ``--set-aside``
    takes one out into a file of its own, so its study may be evicted."""
    folder = _store_dir(args)
    if args.set_aside:
        if not args.reader:
            raise ConfigError("--set-aside needs --reader: whose draft (as the list shows)")
        holder = window_holder(folder)
        if holder is not None:
            raise StoreInUseError(
                f"the reading window (process {holder.pid}) has the store open and saves "
                "drafts as readers type: close it first"
            )
    archive = LocalArchive(folder)
    try:
        with DraftStore(folder) as drafts:
            if args.set_aside:
                return _set_aside(archive, drafts, args.set_aside, args.reader)
            listed = drafts.list_drafts()
            if not listed:
                print("no report drafts")
                return 0
            cache = StoreCache(archive)
            print(f"{'SAVED (UTC)':<20} {'READER':<20} {'WORDS':>5}  {'KEEPS':>9}  STUDY UID")
            for d in listed:
                try:
                    keeps = format_size(cache.study_usage(d.study_instance_uid).size_bytes)
                except NotFoundError:
                    keeps = "-"
                print(
                    f"{d.saved_at.strftime('%Y-%m-%d %H:%M:%S'):<20} {d.reader:<20} "
                    f"{_draft_words(d.content):>5}  {keeps:>9}  {d.study_instance_uid}"
                )
    finally:
        archive.close()
    return 0


def _set_aside(archive: LocalArchive, drafts: DraftStore, study_uid: str, reader: str) -> int:
    draft = drafts.load(study_uid, reader)
    if draft is None:
        raise NotFoundError(
            f"no draft of study {study_uid} by {reader!r}: `workstation report drafts` lists them"
        )
    stamp = draft.saved_at.strftime("%Y%m%dT%H%M%SZ")
    out = archive.root / SET_ASIDE_FOLDER / f"{study_uid}--{uuid.uuid4().hex[:8]}--{stamp}.json"
    text = json.dumps(
        {
            "study_instance_uid": study_uid,
            "reader": reader,
            "saved_at": draft.saved_at.isoformat(),
            "revision": draft.revision,
            "content": json.loads(draft.content.to_json()),
        },
        ensure_ascii=False,
        indent=2,
    )

    def write(tmp: Path) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "w", encoding="utf-8") as fp:
            fp.write(text)

    (archive.root / SET_ASIDE_FOLDER).mkdir(mode=0o700, exist_ok=True)
    _write_atomically(out, write)
    try:
        make_durable(out)  # the file and its name are on disk before the draft goes
    except OSError as exc:
        raise StoreError(f"cannot flush {out}: {exc.strerror}") from None
    drafts.delete(study_uid, reader)
    record_event(
        archive.root,
        AuditEvent.DRAFT_SET_ASIDE,
        study_instance_uid=study_uid,
        detail=f"{reader}: {out.name}",
    )
    n = _draft_words(draft.content)
    print(
        f"set aside: {counted(n, 'word', 'words')} of {reader} in {out}; "
        "the study is no longer kept in the cache for this draft"
    )
    return 0


def add_report_commands(sub: Any) -> None:
    """Register ``report export``, ``report outbox`` and ``report drafts`` on the main
    parser's subcommands."""
    report = sub.add_parser(
        "report", help="signed reports: export one, look at the outbox; report drafts"
    )
    rsub = report.add_subparsers(dest="report_command", metavar="{export,outbox,drafts}")
    report.set_defaults(func=lambda _args: report.print_help() or 2)

    ex = rsub.add_parser(
        "export", help="write a study's latest signed report as SR, Encapsulated PDF or PDF"
    )
    ex.add_argument("--study", required=True, metavar="UID", help="Study Instance UID")
    ex.add_argument(
        "--format",
        choices=tuple(_FORMAT_WORDS),
        default="sr",
        help="sr: the DICOM SR as stored (default); pdf: an Encapsulated PDF (a DICOM file); "
        "pdf-document: the PDF alone, to open, e-mail or print",
    )
    ex.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    ex.add_argument("--data-dir", metavar="DIR", help="local store folder to use")
    ex.set_defaults(func=cmd_report_export)

    ob = rsub.add_parser("outbox", help="list reports waiting to be sent, sent and refused")
    ob.add_argument("--data-dir", metavar="DIR", help="local store folder to use")
    ob.add_argument("--state", choices=[s.value for s in OutboxState], help="only this state")
    ob.add_argument("--retry", action="store_true", help="make waiting and refused ones due now")
    ob.set_defaults(func=cmd_report_outbox)

    dr = rsub.add_parser(
        "drafts", help="list report drafts (each keeps its study in the cache); set one aside"
    )
    dr.add_argument("--data-dir", metavar="DIR", help="local store folder to use")
    dr.add_argument(
        "--set-aside",
        metavar="STUDY_UID",
        help="move this study's draft into a file under set-aside-drafts/ (needs --reader)",
    )
    dr.add_argument("--reader", metavar="NAME", help="whose draft, as the list shows")
    dr.set_defaults(func=cmd_report_drafts)


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
