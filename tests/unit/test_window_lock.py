"""One reading window per store (core/window_lock.py): a real flock, a real second process, a
real crash (SIGKILL) that must leave no stale lock."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from workstation.core.window_lock import (
    LOCK_FILE_NAME,
    StoreInUseError,
    WindowLock,
    window_holder,
)


def test_the_window_says_who_it_is_and_what_it_uses(tmp_path):
    assert window_holder(tmp_path) is None  # no file yet
    with WindowLock(tmp_path) as lock:
        holder = window_holder(tmp_path)
        assert holder is not None and holder.pid == os.getpid()
        assert holder.studies == frozenset()
        assert holder.since.endswith("+00:00")
        lock.publish(["1.2.3", "", "1.2.4"])
        assert window_holder(tmp_path).studies == {"1.2.3", "1.2.4"}  # type: ignore[union-attr]
        assert (tmp_path / LOCK_FILE_NAME).stat().st_mode & 0o777 == 0o600
    assert window_holder(tmp_path) is None  # released: the file says nothing any more
    assert (tmp_path / LOCK_FILE_NAME).read_bytes() == b""


def test_a_second_window_is_refused_with_the_holder_named(tmp_path):
    first = WindowLock(tmp_path)
    first.acquire()
    try:
        second = WindowLock(tmp_path)
        started = time.monotonic()
        with pytest.raises(StoreInUseError) as caught:
            second.acquire(wait_s=0.3)
        assert 0.3 <= time.monotonic() - started < 2.0
        message = str(caught.value)
        assert message.startswith(
            f"the reading window is already open on the local store {tmp_path} "
        )
        assert f"(process {os.getpid()}, since " in message
        assert message.endswith("UTC): switch to it, or close it first")
        assert not second.held
    finally:
        first.release()
    second.acquire(wait_s=0)
    second.release()


def test_a_look_from_the_command_line_does_not_refuse_a_window_starting(tmp_path):
    """``window_holder`` holds the file shared for a moment; a window starting then waits."""
    path = tmp_path / LOCK_FILE_NAME
    path.touch()
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    threading.Timer(0.3, os.close, (fd,)).start()
    lock = WindowLock(tmp_path)
    lock.acquire(wait_s=2.0)
    assert lock.held
    lock.release()


def test_a_crashed_window_leaves_no_lock(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys, time
        from workstation.core.window_lock import WindowLock
        lock = WindowLock({str(tmp_path)!r})
        lock.acquire()
        lock.publish(["1.2.840.1"])
        print("held", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        holder = window_holder(tmp_path)
        assert holder is not None and holder.pid == proc.pid
        assert holder.studies == {"1.2.840.1"}
        with pytest.raises(StoreInUseError, match=f"process {proc.pid}"):
            WindowLock(tmp_path).acquire(wait_s=0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    # The kernel dropped the lock with the process; what the file still says is not trusted.
    assert json.loads((tmp_path / LOCK_FILE_NAME).read_text())["pid"] == proc.pid
    assert window_holder(tmp_path) is None
    with WindowLock(tmp_path) as lock:
        assert lock.held


def test_an_unreadable_list_is_unknown_not_empty(tmp_path):
    lock = WindowLock(tmp_path)
    lock.acquire()
    try:
        os.truncate(tmp_path / LOCK_FILE_NAME, 0)  # as if caught between truncate and write
        holder = window_holder(tmp_path)
        assert holder is not None and holder.pid == 0 and holder.studies is None
    finally:
        lock.release()


def test_a_folder_that_cannot_hold_the_file_is_a_store_error(tmp_path):
    from workstation.core.errors import StoreError

    missing = tmp_path / "not-there"
    with pytest.raises(StoreError, match=r"cannot open .*window\.lock"):
        WindowLock(missing).acquire()
