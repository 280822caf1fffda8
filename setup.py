"""Build hook: the shipped data files travel inside the wheel as ``workstation/resources``.

A source checkout keeps them in ``resources/`` beside the package (DESIGN.md layout);
``workstation.core.paths.resource_path()`` looks in both places. Everything else about the
build is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithResources(build_py):
    """Copy ``resources/`` into the built package (not in editable installs: they read it)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        source = Path(__file__).resolve().parent / "resources"
        target = Path(self.build_lib) / "workstation" / "resources"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithResources})
