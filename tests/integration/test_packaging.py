"""The wheel carries every shipped data file, and the installed package finds them.

A hospital's IT installs the workstation from a wheel, not from a source checkout: templates,
hanging protocols, presets, styles, translations and the dictation model must be inside it
(``workstation/resources``) and ``resource_path()`` must find them there. The wheel is built
offline from a copy of the tree, with the test environment's own setuptools.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("pyproject.toml", "setup.py", "README.md", "workstation", "resources")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SHIPPED:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(out),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    wheels = list(out.glob("workstation-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def _shipped_resources() -> set[str]:
    return {
        "workstation/resources/" + p.relative_to(REPO / "resources").as_posix()
        for p in (REPO / "resources").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_the_wheel_holds_every_resource_file_byte_for_byte(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        expected = _shipped_resources()
        assert expected, "resources/ is empty"
        assert expected <= names, sorted(expected - names)[:10]
        for name in sorted(expected):
            source = REPO / "resources" / name.removeprefix("workstation/resources/")
            assert z.read(name) == source.read_bytes(), name
        assert "workstation/py.typed" in names
        assert not any(n.startswith("resources/") for n in names)  # never a top-level folder
        assert not any(n.startswith("tests/") for n in names)


def test_the_installed_package_finds_its_resources_inside_itself(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    probe = (
        "import workstation, workstation.core.paths as p\n"
        "print(workstation.__file__)\n"
        "for part in ('templates/ct_head.toml', 'hanging/default.toml', "
        "'presets/windows.toml', 'styles/dark.qss', 'dictation/model'):\n"
        "    print(p.resource_path(*part.split('/')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert Path(lines[0]).resolve() == (site / "workstation" / "__init__.py").resolve()
    inside = (site / "workstation" / "resources").resolve()
    for line in lines[1:]:
        found = Path(line).resolve()
        assert found.is_relative_to(inside), line
        assert found.exists(), line
