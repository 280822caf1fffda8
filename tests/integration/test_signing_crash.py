"""A signing killed midway never loses the signed report (DESIGN.md, "What must never happen").

Signing records its intent in the outbox, writes the SR into the local store, then queues it.
A real process is killed (``os._exit``) at each step in between; the next start
(``ReadingServices.start`` → ``recover_signing``) queues the SR that made it to the store, for
the destinations it was signed for, and forgets the intent of one that did not.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pydicom
import pytest

from workstation.archive.local import LocalArchive
from workstation.core.settings import Settings
from workstation.demo import CT_HEAD
from workstation.reporting.outbox import Outbox, OutboxState
from workstation.reporting.signing import recover_signing
from workstation.reporting.sr import report_series_uid
from workstation.ui.reading_services import ReadingServices

HERE = Path(__file__).resolve().parent
STUDY = CT_HEAD.study_instance_uid
SR_SERIES = report_series_uid(STUDY)

# Runs in a process of its own, killed where argv[2] says.
SIGN_AND_DIE = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    sys.path[:0] = [sys.argv[3], str(Path(sys.argv[3]).parent)]
    from test_outbox_orthanc import SIGNER, build_store, draft
    import workstation.reporting.signing as signing
    from workstation.reporting.outbox import Outbox

    root, where = Path(sys.argv[1]), sys.argv[2]
    archive = build_store(root)
    outbox = Outbox(root)
    die = lambda *a, **k: os._exit(9)
    if where == "before-file":
        signing._store = die
    elif where == "before-index":  # the SR renamed into place, its index row not committed
        archive.commit = die
    elif where == "before-queue":  # the SR durable and indexed, no outbox entry yet
        outbox.enqueue_signed = die
    signing.sign_report(
        draft(archive), archive, outbox, final=True, signer_name=SIGNER[0],
        signer_organisation=SIGNER[1], destinations=["central", "drop"],
    )
    print("signed")
    """
)


def _sign_and_die(root: Path, where: str) -> None:
    r = subprocess.run(
        [sys.executable, "-c", SIGN_AND_DIE, str(root), where, str(HERE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 9, (r.returncode, r.stdout, r.stderr[-2000:])
    assert "signed" not in r.stdout


def _sr_files(root: Path) -> list[Path]:
    return sorted((root / "studies").rglob("*.dcm"), key=str)


def _srs_on_disk(root: Path) -> list[Path]:
    return [
        p
        for p in _sr_files(root)
        if pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID == SR_SERIES
    ]


@pytest.mark.parametrize("where", ["before-queue", "before-index"])
def test_a_report_written_before_the_crash_is_queued_at_the_next_start(tmp_path, where):
    root = tmp_path / "store"
    _sign_and_die(root, where)
    [sr] = _srs_on_disk(root)
    sop = str(pydicom.dcmread(sr, stop_before_pixels=True).SOPInstanceUID)
    digest = hashlib.sha256(sr.read_bytes()).hexdigest()
    archive = LocalArchive(root)
    outbox = Outbox(root)
    try:
        assert outbox.entries() == []
        [intent] = outbox.signing_intents()
        assert (intent.sop_instance_uid, intent.destinations) == (sop, ("central", "drop"))
        assert (archive.root / intent.path) == sr
        assert (archive.index.instance(sop) is None) == (where == "before-index")

        services = ReadingServices(Settings(), archive, outbox)
        services.start()  # what the window does when it opens
        services.stop()
        assert services.recovered == 1
        entries = outbox.entries()
        assert [(e.sop_instance_uid, e.destination, e.state) for e in entries] == [
            (sop, "central", OutboxState.PENDING),
            (sop, "drop", OutboxState.PENDING),
        ]
        assert all(outbox.resolve(e) == sr for e in entries)
        assert outbox.signing_intents() == []
        inst = archive.index.instance(sop)
        assert inst is not None and archive.path_of(inst) == sr  # indexed where it lies
        assert hashlib.sha256(sr.read_bytes()).hexdigest() == digest  # the report as signed
        assert recover_signing(archive, outbox) == 0  # once is enough
    finally:
        outbox.close()
        archive.close()


def test_a_report_never_written_leaves_nothing_behind(tmp_path):
    root = tmp_path / "store"
    _sign_and_die(root, "before-file")
    assert _srs_on_disk(root) == []
    archive = LocalArchive(root)
    outbox = Outbox(root)
    try:
        assert len(outbox.signing_intents()) == 1
        assert recover_signing(archive, outbox) == 0
        assert outbox.signing_intents() == [] and outbox.entries() == []
    finally:
        outbox.close()
        archive.close()


def test_a_signing_that_finishes_leaves_no_intent(tmp_path):
    root = tmp_path / "store"
    r = subprocess.run(
        [sys.executable, "-c", SIGN_AND_DIE, str(root), "nowhere", str(HERE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0 and r.stdout.strip() == "signed", r.stderr[-2000:]
    with Outbox(root) as outbox:
        assert outbox.signing_intents() == []
        assert sorted(e.destination for e in outbox.entries()) == ["central", "drop"]
