"""``workstation cache clear|limit`` never evicts a study that reporting still needs.

A real signed SR waits in the outbox (no archive acknowledged it yet) and a real draft is saved
for another study: the command-line eviction keeps both studies, the SR byte for byte, and
evicts the third. Once the SR is delivered (to a drop folder, a real sender) and the draft is
gone, the same command evicts them. A damaged drafts database stops the eviction instead of
letting it guess.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from support import stored_study_uids
from test_outbox_orthanc import SIGNER, build_store, draft

from workstation.archive.local import LocalArchive
from workstation.core.sizes import format_size
from workstation.core.window_lock import WindowLock
from workstation.demo import CT_CHEST_ABDOMEN, CT_HEAD, CT_HEAD_PRIOR, generate_slice
from workstation.reporting.drafts import DraftContent, DraftStore
from workstation.reporting.outbox import FolderSender, Outbox, OutboxState
from workstation.reporting.signing import sign_report

SIGNED = CT_HEAD.study_instance_uid  # a final report signed, not yet delivered
DRAFTED = CT_HEAD_PRIOR.study_instance_uid  # a draft, nothing signed
PLAIN = CT_CHEST_ABDOMEN.study_instance_uid  # no report at all


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> dict[str, object]:
    root = tmp_path / "store"
    archive = build_store(root)
    archive.add_dataset(generate_slice(CT_HEAD_PRIOR.series[0], 10))
    archive.add_dataset(generate_slice(CT_CHEST_ABDOMEN.series[0], 150))
    archive.commit()
    with Outbox(root) as outbox:
        signed = sign_report(
            draft(archive),
            archive,
            outbox,
            final=True,
            signer_name=SIGNER[0],
            signer_organisation=SIGNER[1],
            destinations=["central"],
        )
        assert [e.state for e in outbox.entries()] == [OutboxState.PENDING]
    archive.close()
    with DraftStore(root) as drafts:
        drafts.save(DRAFTED, "Smith^Anna", DraftContent("ct-head", {"findings": "Stable."}))
    return {"root": root, "sr": signed.path, "sr_sha256": _sha256(signed.path)}


def test_clear_keeps_an_undelivered_report_and_a_draft_until_they_are_done(store, tmp_path, cli):
    root: Path = store["root"]  # type: ignore[assignment]
    sr: Path = store["sr"]  # type: ignore[assignment]
    assert stored_study_uids(root) == {SIGNED, DRAFTED, PLAIN}

    usage = cli("cache", "usage", "--data-dir", str(root))
    assert usage.returncode == 0, usage.stderr
    flags = {
        line.split("\t")[0]: line.endswith(", protected)")
        for line in usage.stdout.splitlines()[:-1]
    }
    assert flags == {SIGNED: True, DRAFTED: True, PLAIN: False}

    # A limit the two protected studies alone exceed: the plain one goes, exit 1 says so.
    limited = cli("cache", "limit", "--limit", "1", "--data-dir", str(root))
    assert limited.returncode == 1, limited.stderr
    out = limited.stdout
    assert out.startswith("1 study evicted, ") and "still over the limit" in out
    assert stored_study_uids(root) == {SIGNED, DRAFTED}
    cleared = cli("cache", "clear", "--data-dir", str(root))
    assert cleared.returncode == 0, cleared.stderr
    out = cleared.stdout
    kept = (
        r"0 studies evicted, 0 B freed, (\S+ \S+) in the store; 2 protected studies kept \(\1\)\n"
    )
    assert re.fullmatch(kept, out), out
    assert stored_study_uids(root) == {SIGNED, DRAFTED}
    assert _sha256(sr) == store["sr_sha256"]  # the only copy of the report, untouched

    # Delivered (a drop folder acknowledges it) and the draft signed away: nothing holds them.
    drop = tmp_path / "drop"
    drop.mkdir()
    with Outbox(root) as outbox:
        [delivery] = outbox.process_once(FolderSender(drop, name="central"))
        assert delivery.outcome is OutboxState.SENT
    assert _sha256(drop / f"{sr.stem}.dcm") == store["sr_sha256"]
    with DraftStore(root) as drafts:
        assert drafts.delete(DRAFTED, "Smith^Anna")
    cleared = cli("cache", "clear", "--data-dir", str(root))
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.startswith("2 studies evicted, ")
    assert stored_study_uids(root) == set()
    assert not sr.exists()


def test_a_damaged_drafts_database_stops_the_eviction(store, cli):
    root: Path = store["root"]  # type: ignore[assignment]
    (root / "drafts.sqlite").write_bytes(b"not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (root / f"drafts.sqlite{suffix}").unlink(missing_ok=True)
    refused = cli("cache", "clear", "--data-dir", str(root))
    assert refused.returncode == 2
    err = refused.stderr
    assert err.startswith("error: ") and "drafts" in err
    assert stored_study_uids(root) == {SIGNED, DRAFTED, PLAIN}


def test_a_stale_draft_is_listed_and_set_aside_then_its_study_may_go(store, cli):
    """IT sees what a draft keeps and moves a stale one into a file (nothing deleted): the
    study is then evicted like any other; the words stay readable, owner-only, audited."""
    root: Path = store["root"]  # type: ignore[assignment]
    with DraftStore(root) as drafts:  # a reader's words in Arabic too, kept as UTF-8
        drafts.save(DRAFTED, "Smith^Anna", DraftContent("ct-head", {"findings": "Stable. مستقر"}))
    listed = cli("report", "drafts", "--data-dir", str(root))
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["SAVED", "(UTC)", "READER", "WORDS", "KEEPS", "STUDY", "UID"]
    _date, _time, reader, words, size, unit, uid = row.split()
    archive = LocalArchive(root)
    series = [s.series_instance_uid for s in archive.series(DRAFTED)]
    files = [archive.path_of(i) for s in series for i in archive.instances(s)]
    archive.close()
    assert (reader, words, uid) == ("Smith^Anna", "2", DRAFTED)
    assert f"{size} {unit}" == format_size(sum(p.stat().st_size for p in files))  # it keeps

    # Not while a reading window has the store (it saves drafts as readers type).
    with WindowLock(root):
        refused = cli(
            "report", "drafts", "--data-dir", str(root), "--set-aside", DRAFTED,
            "--reader", "Smith^Anna",
        )  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: the reading window (process ")
    missing = cli("report", "drafts", "--data-dir", str(root), "--set-aside", DRAFTED)
    assert (missing.returncode, missing.stderr) == (
        2, "error: --set-aside needs --reader: whose draft (as the list shows)\n"
    )  # fmt: skip

    moved = cli(
        "report", "drafts", "--data-dir", str(root), "--set-aside", DRAFTED,
        "--reader", "Smith^Anna",
    )  # fmt: skip
    assert moved.returncode == 0, moved.stderr
    [kept] = (root / "set-aside-drafts").iterdir()
    assert moved.stdout == (
        f"set aside: 2 words of Smith^Anna in {kept}; the study is no longer kept in the cache "
        "for this draft\n"
    )
    assert kept.stat().st_mode & 0o777 == 0o600
    saved_json = json.loads(kept.read_text(encoding="utf-8"))
    assert (saved_json["study_instance_uid"], saved_json["reader"]) == (DRAFTED, "Smith^Anna")
    assert saved_json["content"]["section_texts"] == {"findings": "Stable. مستقر"}
    assert "مستقر" in kept.read_bytes().decode("utf-8")  # as text, not \u escapes
    with DraftStore(root) as drafts:
        assert drafts.list_drafts() == []
    trail = cli("audit", "--data-dir", str(root), "--study", DRAFTED)
    assert f"draft-set-aside\t{DRAFTED}\t-\tSmith^Anna: {kept.name}" in trail.stdout
    assert cli("report", "drafts", "--data-dir", str(root)).stdout == "no report drafts\n"

    cleared = cli("cache", "clear", "--data-dir", str(root))
    assert cleared.returncode == 0, cleared.stderr
    assert stored_study_uids(root) == {SIGNED}  # the undelivered report still holds its study
    assert kept.exists()
