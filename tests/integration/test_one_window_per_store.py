"""A second reading window on the same store is refused, and a command-line eviction keeps
what the open window uses.

The real app (``workstation run``, Qt offscreen) opens the CT head; its prior and an unrelated
study are in the store too. A second ``workstation run`` on the store exits 2 naming the first
window's process. ``workstation cache clear`` meanwhile evicts only the unrelated study: the one
on screen and its prior stay. Once the window is gone (killed: the kernel drops the lock), a new
window opens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import stored_study_uids, wait_for

from workstation.archive.local import LocalArchive
from workstation.core.window_lock import window_holder
from workstation.demo import CT_CHEST_ABDOMEN, CT_HEAD, CT_HEAD_PRIOR, generate_slice

OPEN = CT_HEAD.study_instance_uid
PRIOR = CT_HEAD_PRIOR.study_instance_uid
OTHER = CT_CHEST_ABDOMEN.study_instance_uid


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.update(
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CONFIG_HOME=str(home / "config"),
    )
    return env


def _workstation(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workstation", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    archive = LocalArchive(root)
    for series, index in (
        (CT_HEAD.series[0], 75),
        (CT_HEAD_PRIOR.series[0], 15),
        (CT_CHEST_ABDOMEN.series[0], 150),
    ):
        assert archive.add_dataset(generate_slice(series, index))
    archive.commit()
    archive.close()
    return root


def test_second_window_refused_and_eviction_keeps_what_the_window_uses(store, tmp_path):
    env = _env(tmp_path / "home")
    settings = tmp_path / "settings.toml"
    settings.write_text("")
    first = subprocess.Popen(
        [sys.executable, "-m", "workstation", "run", "--data-dir", str(store), "--open", OPEN,
         "--settings", str(settings), "--quit-after", "90"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    try:
        holder = wait_for(
            lambda: (h := window_holder(store)) is not None and OPEN in (h.studies or ()) and h,
            timeout_s=60,
            what="the first window to open the CT head",
        )
        assert holder.pid == first.pid
        assert holder.studies == {OPEN, PRIOR}  # on screen, and its prior in the browser

        second = _workstation(
            "run", "--data-dir", str(store), "--settings", str(settings), "--quit-after", "5",
            env=env,
        )  # fmt: skip
        assert second.returncode == 2, second.stderr
        assert (
            f"error: the reading window is already open on the local store {store} "
            f"(process {first.pid}, since {holder.since} UTC): switch to it, or close it first"
        ) in second.stderr

        cleared = _workstation("cache", "clear", "--data-dir", str(store), env=env)
        assert cleared.returncode == 0, cleared.stderr
        assert (
            f"the reading window is open (process {first.pid}): the 2 studies it uses are kept"
            in cleared.stderr
        )
        assert cleared.stdout.startswith("1 study evicted, ")
        assert stored_study_uids(store) == {OPEN, PRIOR}
        assert first.poll() is None  # the window lives on
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    assert window_holder(store) is None  # the kernel dropped the lock with the process
    again = _workstation(
        "run", "--data-dir", str(store), "--settings", str(settings), "--quit-after", "1",
        env=env,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
