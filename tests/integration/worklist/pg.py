"""A PostgreSQL cluster of a test's own: initdb in a temp folder, pg_ctl on a free loopback port.

Debian's PostgreSQL 15 refuses to run as root, so the cluster belongs to the ``postgres`` user
(the folder is chown'ed to it and the server started through ``runuser``). The folder lies in
``/tmp`` itself, not under pytest's per-user temp root, which ``postgres`` cannot enter. The
cluster is stopped (fast shutdown) and its folder removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from workstation.archive.orthanc import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
ORTHANC_PG_INDEX = Path("/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so")
SYSTEM_PYTHON = "/usr/bin/python3"  # the interpreter the Orthanc Python plugin embeds
PG_USER = "postgres"


def missing_requirements(*, orthanc_plugin: bool = True) -> str | None:
    """Why PostgreSQL tests cannot run here (with the Debian package to install), or None."""
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL 15 is not installed ({PG_BIN}/initdb; Debian: postgresql)"
    if orthanc_plugin and not ORTHANC_PG_INDEX.exists():
        return f"orthanc-postgresql is not installed ({ORTHANC_PG_INDEX})"
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        return f"there is no {PG_USER!r} system user (Debian: postgresql)"
    if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != PG_USER:
        return "starting a PostgreSQL cluster of the test's own needs root or the postgres user"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import psycopg2"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        return "psycopg2 is missing from Debian's Python (Debian: python3-psycopg2)"
    return None


def require_postgres(*, orthanc_plugin: bool = True) -> None:
    """Skip the calling test with a clear reason when the PostgreSQL stack is not installed."""
    reason = missing_requirements(orthanc_plugin=orthanc_plugin)
    if reason:
        pytest.skip(reason)


class PgCluster:
    """One PostgreSQL server with one database and one password-authenticated role."""

    def __init__(
        self,
        *,
        database: str = "orthanc",
        role: str = "orthanc",
        password: str = "pg-test",
        durable: bool = False,
    ) -> None:
        self.durable = durable  # False: fsync off, for a cluster thrown away after the test
        self.database = database
        self.role = role
        self.password = password
        self.port = 0
        self.folder = Path(tempfile.mkdtemp(prefix="ws-pg-"))
        self.data = self.folder / "data"
        self.socket_dir = self.folder / "sock"
        self.log = self.folder / "postgres.log"
        self.startup_s: float | None = None
        self._running = False

    # -- running commands as the postgres user -------------------------------------------
    def _as_postgres(self, args: Sequence[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        prefix = [] if os.geteuid() != 0 else ["runuser", "-u", PG_USER, "--"]
        result = subprocess.run(
            [*prefix, *args], capture_output=True, text=True, check=False, timeout=60, **kw
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr[-800:]}")
        return result

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> PgCluster:
        """initdb (first time), start on a free port, create the role and the database."""
        started = time.perf_counter()
        first = not self.data.exists()
        if first:
            self.socket_dir.mkdir(parents=True)
            entry = pwd.getpwnam(PG_USER)
            for path in (self.folder, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            self._as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    PG_USER,
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--no-sync",  # thrown away afterwards: no need to flush the catalog
                    "-E",
                    "UTF8",
                ]
            )
        self.port = self.port or free_port()
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
            " -c max_connections=200"
        )
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log)]
        self._as_postgres([*pg_ctl, "-w", "-t", "30", "-o", options, "start"])
        self._running = True
        if first:
            self.psql_admin(
                f"CREATE ROLE {self.role} LOGIN PASSWORD '{self.password}'",
                f"CREATE DATABASE {self.database} OWNER {self.role}",
            )
        self.startup_s = time.perf_counter() - started
        return self

    def stop(self) -> None:
        """Fast shutdown (aborts open transactions, closes clients), wait for the server."""
        if self._running:
            self._as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
            )
            self._running = False

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- queries -------------------------------------------------------------------------
    def psql_admin(self, *statements: str) -> str:
        """Run SQL statements (each in its own transaction) as the superuser over the socket."""
        commands = [arg for sql in statements for arg in ("-c", sql)]
        where = ["-h", str(self.socket_dir), "-p", str(self.port), "-U", PG_USER, "-d", "postgres"]
        return self._as_postgres(
            [str(PG_BIN / "psql"), *where, "-v", "ON_ERROR_STOP=1", "-At", *commands]
        ).stdout

    def query(self, sql: str) -> list[list[str]]:
        """Rows of a query run as the database's role over TCP (psql, tab-separated)."""
        env = {**os.environ, "PGPASSWORD": self.password}
        where = ["-h", "127.0.0.1", "-p", str(self.port), "-U", self.role, "-d", self.database]
        result = subprocess.run(
            [str(PG_BIN / "psql"), *where, "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", "-c", sql],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
            env=env,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr[-800:]}")
        return [line.split("\t") for line in result.stdout.splitlines()]

    # -- configuration for the clients ---------------------------------------------------
    @property
    def dsn(self) -> str:
        return f"postgresql://{self.role}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def orthanc_section(self) -> dict[str, Any]:
        """The ``PostgreSQL`` section of orthanc-postgresql 4.0: index only, no lock (STACK.md)."""
        return {
            "EnableIndex": True,
            "EnableStorage": False,
            "Host": "127.0.0.1",
            "Port": self.port,
            "Database": self.database,
            "Username": self.role,
            "Password": self.password,
            "Lock": False,
        }


@contextlib.contextmanager
def pg_cluster(**kw: Any) -> Iterator[PgCluster]:
    """A started cluster, stopped and removed on exit (skips when PostgreSQL is missing)."""
    require_postgres(orthanc_plugin=False)
    cluster = PgCluster(**kw)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
