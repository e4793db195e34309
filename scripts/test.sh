#!/usr/bin/env bash
# The whole suite from a fresh clone: set up .venv, lint, then unit and integration tests
# (integration tests start real TorchServe processes on free loopback ports).
#   ./scripts/test.sh [pytest arguments]     e.g. ./scripts/test.sh tests/unit (the fast tier)
set -euo pipefail
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^set /s/^# \{0,1\}//p' "$0"; exit 0; fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
./scripts/setup.sh
# wrk for the load-generator integration test (skipped, and said so, where it cannot be installed)
./scripts/install_wrk.sh || true
.venv/bin/python examples/efficientnet_lite0/prepare_labels.py >/dev/null
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
