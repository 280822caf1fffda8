"""One reading window per local store, and what it has open.

Two windows on one store would each autosave the same study's draft over the other's text, and
both would bind the storage SCP's port. So the window takes an exclusive ``flock`` on
``<store>/window.lock`` while it is open; the kernel drops it when the process ends, so a crash
leaves no stale lock. A second window is refused with who holds the store (its process number
and since when).

The file also says which studies the window is using (on screen, its priors, being retrieved):
a command-line eviction (``workstation cache limit|clear``) run meanwhile keeps them. Its content
is trusted only while the lock is held: a window that ended leaves a file that says nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from workstation.core.errors import StoreError, WorkstationError

LOCK_FILE_NAME = "window.lock"
_POLL_S = 0.05


class StoreInUseError(WorkstationError):
    """Another reading window has the local store open."""


@dataclass(frozen=True, slots=True)
class WindowHolder:
    """The window that holds a store: its process, since when (UTC, ISO 8601) and the studies
    it uses; ``studies`` is None when its file could not be read (then nothing is known)."""

    pid: int
    since: str
    studies: frozenset[str] | None


class WindowLock:
    """The store's window lock, for the window's own process (:meth:`acquire`, then
    :meth:`publish` as studies open and close, :meth:`release` at the end)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder) / LOCK_FILE_NAME
        self._fd: int | None = None
        self._since = ""
        self._studies: frozenset[str] = frozenset()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait_s: float = 2.0) -> None:
        """Take the lock; raises :class:`StoreInUseError` when another window holds it past
        ``wait_s`` (a command line looking at the file holds it shared for a moment), and
        :class:`StoreError` when the file cannot be made."""
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open {self.path}: {exc.strerror}") from None
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    os.close(fd)
                    raise StoreError(f"cannot lock {self.path}: {exc.strerror}") from None
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise StoreInUseError(_in_use_message(self.path.parent, holder)) from None
                time.sleep(_POLL_S)
        self._fd = fd
        self._since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        os.fchmod(fd, 0o600)
        self._write()

    def publish(self, studies: Iterable[str]) -> None:
        """Say which studies the window uses now (written only when they changed)."""
        wanted = frozenset(s for s in studies if s)
        if self._fd is None or wanted == self._studies:
            return
        self._studies = wanted
        self._write()

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # an ended window uses nothing
        os.close(fd)  # closing drops the lock

    def _write(self) -> None:
        assert self._fd is not None
        data = json.dumps(
            {"pid": os.getpid(), "since": self._since, "studies": sorted(self._studies)}
        ).encode()
        # Rewritten in place (a new file would be a new inode, not the locked one). A reader
        # between the truncate and the write sees a short file and reads again.
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)
        except OSError as exc:  # a full disk: the lock still holds; the list is stale
            raise StoreError(f"cannot write {self.path}: {exc.strerror}") from None

    def __enter__(self) -> WindowLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def window_holder(folder: str | os.PathLike[str]) -> WindowHolder | None:
    """The window that has the store at ``folder`` open, or None when none has."""
    path = Path(folder) / LOCK_FILE_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise StoreError(f"cannot lock {path}: {exc.strerror}") from None
            return _read_holder(fd)
        return None  # nobody holds it (the shared lock goes with the descriptor)
    finally:
        os.close(fd)


def _read_holder(fd: int, tries: int = 10) -> WindowHolder:
    """What the holder wrote; read again while it is between its truncate and its write."""
    for _ in range(tries):
        try:
            size = os.fstat(fd).st_size
            raw = json.loads(os.pread(fd, max(size, 1), 0))
            return WindowHolder(
                pid=int(raw["pid"]),
                since=str(raw["since"]),
                studies=frozenset(str(s) for s in raw["studies"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            time.sleep(_POLL_S / 5)
    return WindowHolder(pid=0, since="", studies=None)


def _in_use_message(folder: Path, holder: WindowHolder) -> str:
    who = f" (process {holder.pid}, since {holder.since} UTC)" if holder.pid else ""
    return (
        f"the reading window is already open on the local store {folder}{who}: "
        "switch to it, or close it first"
    )
