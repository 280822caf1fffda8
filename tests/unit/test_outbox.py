"""The durable outbox without a server: states, retry schedule, idempotency, restarts, leases.

The destination is a real one that needs no server: a drop folder (:class:`FolderSender`), which
"is down" while the folder does not exist (an unmounted share). The archive senders (STOW-RS,
C-STORE) are tested against a real Orthanc in tests/integration/test_outbox_orthanc.py. Time
comes from a clock the test advances, so schedules are exact.
"""

from __future__ import annotations

import random
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from workstation.core.errors import StoreError
from workstation.reporting.outbox import (
    OUTBOX_FILE_NAME,
    FolderSender,
    Outbox,
    OutboxState,
    OutboxWorker,
    RetryPolicy,
    classify_failure,
)

STUDY = "1.2.826.0.1.3680043.10.999.77"
T0 = 1_800_000_000.0  # a fixed Unix time


class Clock:
    """Time the test moves forward by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    folder.mkdir()
    return folder


@pytest.fixture
def make_file(
    store: Path, image_dataset: Callable[..., pydicom.Dataset]
) -> Callable[[int], tuple[str, Path]]:
    """A small Part 10 file in the store, named by its SOP Instance UID like the real store."""

    def make(n: int) -> tuple[str, Path]:
        sop = f"1.2.826.0.1.3680043.10.999.77.1.{n}"
        ds = image_dataset(
            pixels=np.arange(16, dtype=np.uint16).reshape(4, 4),
            study_uid=STUDY,
            series_uid=STUDY + ".1",
            sop_uid=sop,
        )
        path = store / "studies" / f"{sop}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        return sop, path

    return make


def outbox_at(store: Path, clock: Clock, **kw: Any) -> Outbox:
    return Outbox(
        store, retry=RetryPolicy(base_s=2, factor=2, cap_s=60, jitter=0), clock=clock, **kw
    )


def test_retry_schedule_is_exponential_and_capped() -> None:
    policy = RetryPolicy(base_s=2.0, factor=2.0, cap_s=60.0, jitter=0.0)
    assert [policy.delay(n) for n in range(0, 9)] == [0.0, 2, 4, 8, 16, 32, 60, 60, 60]
    assert policy.delay(100_000) == 60.0  # years of failures: still the cap, no overflow


def test_retry_jitter_stays_within_its_band_and_is_repeatable() -> None:
    policy = RetryPolicy(base_s=2.0, factor=2.0, cap_s=60.0, jitter=0.25)
    a = [policy.delay(n, random.Random(7)) for n in range(1, 9)]
    b = [policy.delay(n, random.Random(7)) for n in range(1, 9)]
    assert a == b
    for n, d in enumerate(a, start=1):
        top = min(60.0, 2.0 * 2 ** (n - 1))
        assert 0.75 * top <= d <= top
    draws = [policy.delay(3, random.Random(seed)) for seed in range(50)]
    assert min(draws) < 6.6 and max(draws) > 7.4  # spread over the band [6, 8]
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(base_s=0)
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(jitter=1.0)


@pytest.mark.parametrize(
    ("reason", "state"),
    [
        ("failure reason 0x0111", OutboxState.SENT),  # duplicate SOP instance: already stored
        ("status 0x0111", OutboxState.SENT),
        ("status 0xa700", OutboxState.PENDING),  # out of resources
        ("failure reason 0xA7FF", OutboxState.PENDING),
        ("status 0x0110", OutboxState.PENDING),  # processing failure
        ("status 0x0124", OutboxState.PENDING),  # not authorised (a permission may be fixed)
        ("failure reason 0xa900", OutboxState.FAILED),  # does not match SOP class
        ("status 0xc000", OutboxState.FAILED),  # cannot understand
        ("failure reason 0x0122", OutboxState.FAILED),  # SOP class not supported
        ("", OutboxState.PENDING),
        ("the archive said no", OutboxState.PENDING),
    ],
)
def test_classify_failure(reason: str, state: OutboxState) -> None:
    assert classify_failure(reason) is state


def test_pending_then_retried_with_growing_delays_then_sent(store, clock, make_file, tmp_path):
    sop, path = make_file(1)
    drop = tmp_path / "share"  # not mounted yet
    sender = FolderSender(drop, name="site")
    acks: list[tuple[str, str]] = []
    with outbox_at(store, clock) as ob:
        entry = ob.enqueue(sop, STUDY, path, "site")
        assert (entry.state, entry.attempts, entry.path) == (
            OutboxState.PENDING,
            0,
            f"studies/{sop}.dcm",  # kept relative to the store, which may move
        )
        assert entry.describe(T0) == "waiting to be sent to site"

        def ack(study: str, sop_uid: str) -> None:
            acks.append((study, sop_uid))

        schedule = []
        for expected_attempts, delay in ((1, 2.0), (2, 4.0), (3, 8.0)):
            [d] = ob.process_once(sender, on_acknowledged=ack)
            assert d.outcome is OutboxState.PENDING
            assert d.entry.attempts == expected_attempts
            assert "is not there: is the share mounted?" in d.entry.last_error
            assert d.entry.next_attempt_at == clock.now + delay
            schedule.append(d.entry.next_attempt_at - clock.now)
            clock.now += delay - 0.5
            assert ob.process_once(sender) == []  # not due yet: nothing is sent
            clock.now += 0.5
        assert schedule == [2.0, 4.0, 8.0]
        pending = ob.entry(sop, "site")
        assert pending is not None
        assert pending.describe(clock.now).startswith(
            "not yet acknowledged by site after 3 attempts: the destination folder"
        )
        drop.mkdir()
        [d] = ob.process_once(sender, on_acknowledged=ack)
        assert (d.outcome, d.entry.state, d.entry.attempts) == (
            OutboxState.SENT,
            OutboxState.SENT,
            4,
        )
        assert d.entry.last_error == "" and d.entry.sent_at == clock.now
        assert acks == [(STUDY, sop)]
        assert (drop / f"{sop}.dcm").read_bytes() == path.read_bytes()
        assert ob.process_once(sender, on_acknowledged=ack) == []
        assert ob.counts() == {OutboxState.PENDING: 0, OutboxState.SENT: 1, OutboxState.FAILED: 0}


def test_enqueue_is_idempotent_and_a_second_send_is_harmless(store, clock, make_file, tmp_path):
    sop, path = make_file(2)
    drop = tmp_path / "share"
    drop.mkdir()
    with outbox_at(store, clock) as ob:
        ob.enqueue(sop, STUDY, path, "site")
        ob.enqueue(sop, STUDY, path, "site")
        assert len(ob.entries()) == 1
        [d] = ob.process_once(FolderSender(drop, "site"))
        assert d.outcome is OutboxState.SENT
        sent_at = d.entry.sent_at
        clock.now += 100
        again = ob.enqueue(sop, STUDY, path, "site")  # signing the same report again
        assert (again.state, again.attempts, again.sent_at) == (OutboxState.SENT, 1, sent_at)
        assert ob.process_once(FolderSender(drop, "site")) == []
        # Another workstation queued the same instance for the same folder: already there.
        other = tmp_path / "other-store"
        other.mkdir()
        copy = other / path.name
        shutil.copyfile(path, copy)
        with outbox_at(other, clock) as ob2:
            ob2.enqueue(sop, STUDY, copy, "site")
            [d2] = ob2.process_once(FolderSender(drop, "site"))
            assert d2.outcome is OutboxState.SENT
    assert sorted(p.name for p in drop.iterdir()) == [f"{sop}.dcm"]


def test_entries_survive_a_restart_with_their_schedule(store, clock, make_file, tmp_path):
    sop, path = make_file(3)
    drop = tmp_path / "share"
    ob = outbox_at(store, clock)
    ob.enqueue(sop, STUDY, path, "site")
    [d] = ob.process_once(FolderSender(drop, "site"))
    ob.close()
    with pytest.raises(StoreError, match="closed"):
        ob.entries()

    reopened = outbox_at(store, clock)
    [e] = reopened.entries()
    assert (e.sop_instance_uid, e.state, e.attempts) == (sop, OutboxState.PENDING, 1)
    assert e.next_attempt_at == d.entry.next_attempt_at == T0 + 2
    assert e.last_error == d.entry.last_error
    drop.mkdir()
    assert reopened.process_once(FolderSender(drop, "site")) == []  # still not due
    clock.now = T0 + 2
    [d2] = reopened.process_once(FolderSender(drop, "site"))
    assert (d2.outcome, d2.entry.attempts) == (OutboxState.SENT, 2)
    reopened.close()
    # SQLite settings that make a returned enqueue durable.
    import sqlite3

    con = sqlite3.connect(store / OUTBOX_FILE_NAME)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_a_lease_of_a_killed_sender_expires(store, clock, make_file, tmp_path):
    """A process that claimed an entry and died mid-send leaves a lease; another process sends
    the entry once the lease has expired, not before."""
    sop, path = make_file(4)
    drop = tmp_path / "share"
    drop.mkdir()
    dead = outbox_at(store, clock, lease_s=30)
    dead.enqueue(sop, STUDY, path, "site")
    claimed = dead._claim(["site"], 10)  # what process_once does before sending
    assert [e.sop_instance_uid for e in claimed] == [sop]
    # (the process is killed here: no outcome is recorded)
    alive = outbox_at(store, clock, lease_s=30)
    assert alive.process_once(FolderSender(drop, "site")) == []
    assert alive.next_due_at(["site"]) == T0 + 30
    clock.now = T0 + 30
    [d] = alive.process_once(FolderSender(drop, "site"))
    assert (d.outcome, d.entry.attempts) == (OutboxState.SENT, 1)
    dead.close()
    alive.close()


def test_a_refused_instance_fails_with_its_reason_until_retried(store, clock, make_file, tmp_path):
    sop, path = make_file(5)
    good = path.read_bytes()
    path.write_bytes(b"not DICOM at all")
    drop = tmp_path / "share"
    drop.mkdir()
    with outbox_at(store, clock) as ob:
        ob.enqueue(sop, STUDY, path, "site")
        [d] = ob.process_once(FolderSender(drop, "site"))
        assert d.outcome is OutboxState.FAILED
        assert d.entry.last_error == "archive answered failure reason 0xc000: not a DICOM file"
        assert d.entry.describe().startswith("refused by site: archive answered failure reason")
        clock.now += 3600
        assert ob.process_once(FolderSender(drop, "site")) == []  # failed: never retried alone
        path.write_bytes(good)
        assert ob.retry(sop) == 1
        [d2] = ob.process_once(FolderSender(drop, "site"))
        assert (d2.outcome, d2.entry.attempts) == (OutboxState.SENT, 2)


def test_a_missing_file_fails_and_bad_input_is_refused(store, clock, make_file):
    sop, path = make_file(6)
    with outbox_at(store, clock) as ob:
        ob.enqueue(sop, STUDY, path, "site")
        path.unlink()
        [d] = ob.process_once(FolderSender(store / "drop", "site"))
        assert d.outcome is OutboxState.FAILED
        assert "missing from the local store" in d.entry.last_error
        with pytest.raises(StoreError, match="valid SOP Instance UID"):
            ob.enqueue("not-a-uid", STUDY, path, "site")
        with pytest.raises(StoreError, match="not in the local store"):
            ob.enqueue("1.2.3", STUDY, store / "nothing.dcm", "site")
        with pytest.raises(StoreError, match="destination"):
            ob.enqueue("1.2.3", STUDY, path, " ")
    damaged = store.parent / "damaged"
    damaged.mkdir()
    (damaged / OUTBOX_FILE_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="damaged or not a database"):
        Outbox(damaged)


def test_only_the_senders_destinations_are_sent(store, clock, make_file, tmp_path):
    sop, path = make_file(7)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    with outbox_at(store, clock) as ob:
        ob.enqueue(sop, STUDY, path, "a")
        ob.enqueue(sop, STUDY, path, "b")
        [d] = ob.process_once([FolderSender(a, "a")])
        assert d.entry.destination == "a"
        assert [e.state for e in ob.entries()] == [OutboxState.SENT, OutboxState.PENDING]
        assert ob.next_due_at(["b"]) == T0
        assert ob.next_due_at([]) is None
        with pytest.raises(ValueError, match="two senders"):
            ob.process_once([FolderSender(a, "a"), FolderSender(b, "a")])


def test_worker_sends_when_woken_and_reports_the_acknowledgement(store, make_file, tmp_path):
    sop, path = make_file(8)
    drop = tmp_path / "share"
    drop.mkdir()
    acked = threading.Event()
    seen: list[tuple[str, str]] = []
    changes: list[int] = []

    def ack(study: str, sop_uid: str) -> None:
        seen.append((study, sop_uid))
        acked.set()

    ob = Outbox(store)
    worker = OutboxWorker(
        ob,
        FolderSender(drop, "site"),
        on_acknowledged=ack,
        on_change=lambda d: changes.append(len(d)),
        poll_s=30,
    ).start()
    try:
        ob.enqueue(sop, STUDY, path, "site")
        worker.wake()
        assert acked.wait(5.0)
        assert seen == [(STUDY, sop)]
        assert changes == [1]
        assert ob.entry(sop, "site").state is OutboxState.SENT  # type: ignore[union-attr]
    finally:
        worker.stop()
        ob.close()
    assert not worker.running
