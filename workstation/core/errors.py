"""The project's own exceptions: messages a user can act on, never patient data."""

from __future__ import annotations

import errno


class WorkstationError(Exception):
    """Base of every error the workstation raises on purpose."""


class ConfigError(WorkstationError):
    """A settings file or command-line value is wrong; the message names the file and key."""


class InvalidDicomError(WorkstationError):
    """A file is not DICOM, is truncated, or lacks an identifier the store needs."""


class StoreError(WorkstationError):
    """The local store cannot be read or written (permissions, full disk, corrupt index)."""


def store_write_error(reason: str, full: bool) -> StoreError:
    """The error for a failed write into the local store; ``full``: the disk is full."""
    if full:
        return StoreError(
            f"the disk of the local store is full ({reason}): free space on it, or lower the "
            "cache limit so that older studies are evicted"
        )
    return StoreError(f"cannot write into the local store: {reason}")


def store_os_error(exc: OSError) -> StoreError:
    """:func:`store_write_error` for a file the store could not write (ENOSPC, EDQUOT: full)."""
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return store_write_error(exc.strerror or str(exc), full)


class NotFoundError(WorkstationError):
    """A study, series or instance asked for is not in the store."""


class DecodeError(WorkstationError):
    """Pixel data cannot be decoded (unsupported transfer syntax, damaged data)."""


class GeometryError(WorkstationError):
    """A series cannot be stacked into a volume (missing slices, uneven spacing, tilt)."""
