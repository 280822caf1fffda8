#!/usr/bin/env bash
# Set up everything, then run the checks CI runs: lint, layer contracts, type checks, tests.
# Extra arguments go to pytest (e.g. -k import, -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The tests start their own virtual screen (Xvfb) when there is no display: tests/conftest.py.
echo "== ruff";          .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== import-linter"; .venv/bin/lint-imports
echo "== mypy (core)";   .venv/bin/mypy
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
