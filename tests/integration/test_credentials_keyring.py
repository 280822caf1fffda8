"""``workstation credentials`` and ``workstation check`` with the password in the OS keyring.

A real Orthanc with HTTP Basic authentication (``AuthenticationEnabled`` and a registered user)
and the real ``keyring`` library, its backend chosen the library's own way
(``PYTHON_KEYRING_BACKEND``): keyrings.alt's plain-text file with its folder in tmp
(``XDG_DATA_HOME``), or the "fail" backend a machine without any keyring has. Each command runs
as IT runs it, in a subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workstation.archive.orthanc import DICOMWEB_PLUGIN, OrthancProcess

pytestmark = pytest.mark.skipif(
    shutil.which("Orthanc") is None or not DICOMWEB_PLUGIN.exists(),
    reason="Orthanc with its DICOMweb plugin is not installed (Debian: orthanc orthanc-dicomweb)",
)

USER = "reader"
PASSWORD = "c0rrect-h0rse-battery"  # the secret that must never be printed or logged
PLAINTEXT = "keyrings.alt.file.PlaintextKeyring"
FAIL = "keyring.backends.fail.Keyring"
CLI = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancProcess]:
    """Orthanc answering 401 unless the request carries reader's password."""
    proc = OrthancProcess(
        tmp_path_factory.mktemp("orthanc-auth"),
        extra_config={"AuthenticationEnabled": True, "RegisteredUsers": {USER: PASSWORD}},
    ).start()
    yield proc
    proc.stop()


@pytest.fixture
def home(tmp_path: Path, orthanc: OrthancProcess) -> Path:
    """An isolated home with a settings file whose archive takes its password from the keyring."""
    (tmp_path / "settings.toml").write_text(
        f"""
[[archives]]
name = "hub"
dicomweb_url = "{orthanc.urls.dicomweb}"
auth = "basic"
user = "{USER}"
password_keyring = true
""",
        encoding="utf-8",
    )
    return tmp_path


@pytest.fixture
def ws(home: Path) -> CLI:
    """Run ``workstation ... --settings FILE`` with the keyring backend given as ``backend``."""

    def call(*args: str, backend: str = PLAINTEXT, stdin: str = ""):
        env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
        env.update(
            XDG_DATA_HOME=str(home / "data"),
            XDG_STATE_HOME=str(home / "state"),
            XDG_CONFIG_HOME=str(home / "config"),
            PYTHON_KEYRING_BACKEND=backend,
        )
        script = Path(sys.executable).with_name("workstation")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "workstation"]
        return subprocess.run(
            [*command, *args, "--settings", str(home / "settings.toml")],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )

    return call


def _never_shown(home: Path, *runs: subprocess.CompletedProcess[str]) -> None:
    for r in runs:
        assert PASSWORD not in r.stdout + r.stderr
    for log in (home / "state").rglob("*.log*"):
        assert PASSWORD not in log.read_text(encoding="utf-8", errors="replace"), log


def test_stored_password_lets_check_log_in(ws, home, orthanc):
    stored = ws("credentials", "set", "--archive", "hub", "--stdin", stdin=PASSWORD + "\n")
    assert stored.returncode == 0, stored.stderr
    assert stored.stdout.splitlines() == [
        "stored the password of archive hub in the keyring "
        "(service 'workstation', user 'hub:reader')",
        "test it with: workstation check --archive hub",
    ]
    # the library's own file, in the isolated data folder
    keyring_file = home / "data" / "python_keyring" / "keyring_pass.cfg"
    assert "[workstation]" in keyring_file.read_text(encoding="utf-8")
    status = ws("credentials", "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines() == [
        f"keyring: {PLAINTEXT}",
        "hub\tpassword\tservice 'workstation', user 'hub:reader'\tstored",
    ]
    check = ws("check")
    assert check.returncode == 0, check.stdout + check.stderr
    lines = check.stdout.splitlines()
    assert lines[0] == "archive hub"
    assert lines[1].split() == ["credentials", "ok", "password", "from", "the", "keyring"]
    assert lines[2].split()[:3] == ["QIDO-RS", "search", "ok"]
    assert lines[2].endswith("answers (the archive holds no studies)")
    query = ws("query")  # QIDO-RS through the same resolution
    assert query.returncode == 0, query.stderr
    assert query.stderr.strip().splitlines()[-1] == "0 studies on hub"
    _never_shown(home, stored, status, check, query)


def test_wrong_stored_password_gives_the_401_advice(ws, home, orthanc):
    stored = ws("credentials", "set", "--archive", "hub", "--stdin", stdin="wrong-one\n")
    assert stored.returncode == 0, stored.stderr
    check = ws("check")
    assert check.returncode == 1
    lines = check.stdout.splitlines()
    assert lines[1].split()[:2] == ["credentials", "ok"]
    assert lines[2].split()[:3] == ["QIDO-RS", "search", "FAILED"]
    assert lines[2].endswith(": wrong user or password"), lines[2]
    assert f"401 from {orthanc.urls.dicomweb.split('://', 1)[1].split('/', 1)[0]}" in lines[2]
    assert "wrong-one" not in check.stdout + check.stderr


def test_cleared_entry_gives_the_actionable_missing_error(ws, home):
    ws("credentials", "set", "--archive", "hub", "--stdin", stdin=PASSWORD + "\n")
    cleared = ws("credentials", "clear", "--archive", "hub")
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.splitlines() == [
        "removed the password of archive hub (service 'workstation', user 'hub:reader')"
    ]
    again = ws("credentials", "clear", "--archive", "hub")
    assert again.stdout.splitlines() == ["the keyring holds no password or token for archive hub"]
    status = ws("credentials", "status")
    assert status.returncode == 1
    assert status.stdout.splitlines()[1].endswith("\tmissing")
    check = ws("check")
    assert check.returncode == 1
    assert check.stdout.splitlines()[1].split(None, 2) == [
        "credentials",
        "FAILED",
        "no password for archive 'hub' in the keyring: run "
        "`workstation credentials set --archive hub`",
    ]
    retrieve = ws("retrieve", "1.2.826.0.1.3680043.10.999.1")
    assert retrieve.returncode == 2
    assert retrieve.stderr.strip() == (
        "error: no password for archive 'hub' in the keyring: run "
        "`workstation credentials set --archive hub`"
    )
    _never_shown(home, cleared, status, check, retrieve)


def test_no_keyring_on_the_machine(ws, home):
    advice = (
        "no keyring available on this machine: use password_env, or install and unlock a "
        "Secret Service such as gnome-keyring"
    )
    check = ws("check", backend=FAIL)
    assert check.returncode == 1
    assert check.stdout.splitlines()[1].split(None, 2) == ["credentials", "FAILED", advice]
    stored = ws("credentials", "set", "--archive", "hub", "--stdin", backend=FAIL, stdin="x\n")
    assert stored.returncode == 2
    assert stored.stderr.strip() == f"error: {advice}"
    misnamed = ws("check", backend="no_such_module.Keyring")
    assert misnamed.stdout.splitlines()[1].split(None, 2)[2] == (
        "no keyring available on this machine (the configured backend cannot be loaded: "
        "ModuleNotFoundError): use password_env, or install and unlock a Secret Service such "
        "as gnome-keyring"
    )


def test_set_refuses_an_archive_that_does_not_use_the_keyring(ws, home):
    text = (home / "settings.toml").read_text(encoding="utf-8")
    (home / "settings.toml").write_text(
        text.replace("password_keyring = true", 'password = "literal"'), encoding="utf-8"
    )
    r = ws("credentials", "set", "--archive", "hub", "--stdin", stdin="x\n")
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "error: archive 'hub' takes no password or token from the keyring: set "
        "password_keyring = true (or token_keyring = true) in its [[archives]] entry of "
        f"{home / 'settings.toml'}"
    )
    status = ws("credentials", "status")
    assert status.stdout.splitlines()[1:] == ["hub\tnot in the keyring"]
