"""Logging to a rotating file in the user's log directory.

Patient data never goes to the log: code logs UIDs' counts, timings and error kinds, not
names, IDs or paths chosen by users. The formatter also refuses to print the arguments of
records that a module marks as carrying patient data (``extra={"phi": True}``).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from workstation.core.paths import user_log_dir

LOG_FILE_NAME = "workstation.log"


class _NoPhiFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "phi", False):
            record.msg = str(record.msg).split(":")[0] + ": [redacted]"
            record.args = ()
        return super().format(record)


def configure_logging(level: str = "INFO", log_dir: Path | None = None) -> Path:
    """Attach a rotating file handler (5 files of 5 MB) to the root logger; return its path."""
    directory = log_dir or Path(os.environ.get("WORKSTATION_LOG_DIR", "") or user_log_dir())
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOG_FILE_NAME
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_workstation", False):
            root.removeHandler(h)
            h.close()
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8"
    )
    handler._workstation = True  # type: ignore[attr-defined]
    handler.setFormatter(
        _NoPhiFormatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # Library messages can quote attribute values (names among them): keep them out.
    for name in ("pydicom", "pynetdicom"):
        lib = logging.getLogger(name)
        lib.setLevel(logging.ERROR)
        lib.propagate = False
    return path
