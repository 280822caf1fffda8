#!/usr/bin/env bash
# Set up everything, build the demo store and open the workstation on it.
# Without a display (a server, a container) it runs on a virtual screen under Xvfb.
# Extra arguments go to `workstation demo`, e.g. --screenshot demo.png to save one and quit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "demo: no display found; running on a virtual screen (xvfb-run)"
  exec xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/workstation demo "$@"
fi
exec .venv/bin/workstation demo "$@"
