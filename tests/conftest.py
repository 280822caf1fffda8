"""Fixtures shared by every tier: headless rendering, a demo store, an artifact folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def _die_with_parent() -> None:
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _start_virtual_screen() -> None:
    """Give the UI tests a real X screen (Xvfb) when none exists, as on CI.

    Qt's offscreen platform with VTK's OSMesa windows also renders (STACK.md), but several
    OSMesa viewports in one window crash when resized; Xvfb is what a headless site runs the
    app under anyway. Set before anything imports Qt or VTK.
    """
    if os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")
        return
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Xvfb outlives every Qt object (an X server gone first makes Qt exit 1) and dies
        # with this process, whatever way it ends.
        preexec_fn=_die_with_parent,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")
        return
    os.environ["DISPLAY"] = f":{number}"
    os.environ.pop("VTK_DEFAULT_OPENGL_WINDOW", None)


_start_virtual_screen()

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-output"


@pytest.fixture(scope="session")
def artifact_dir() -> Path:
    """test-output/ at the repository root: screenshots a person can look at after a run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo store, built once per test session through the real CLI code path."""
    from workstation.cli import build_demo

    store = tmp_path_factory.mktemp("demo") / "store"
    added, _ = build_demo(store)
    assert added > 500
    return store


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XDG folders in tmp_path, so logs and default stores never touch the real home."""
    for var, sub in (
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CONFIG_HOME", "config"),
    ):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("WORKSTATION_LOG_DIR", raising=False)
    return tmp_path


def workstation_cmd() -> list[str]:
    """The installed console script when present, else the module (same code)."""
    exe = Path(sys.executable).with_name("workstation")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("workstation")
    return [found] if found else [sys.executable, "-m", "workstation"]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.pop("DISPLAY", None)
    if env:
        full_env.update(env)
    return subprocess.run(
        [*workstation_cmd(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )


@pytest.fixture
def cli(isolated_home: Path) -> Iterator[object]:
    """Run the ``workstation`` command in a subprocess with an isolated home."""
    env = {
        "XDG_DATA_HOME": str(isolated_home / "data"),
        "XDG_STATE_HOME": str(isolated_home / "state"),
        "XDG_CONFIG_HOME": str(isolated_home / "config"),
    }

    def call(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=env, timeout=timeout)

    yield call
