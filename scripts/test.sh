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
# Every scratch file of the run lives in one directory: pytest's temp dirs (a passing test's removed as it
# ends), the servers' TMPDIRs, torch's compile cache, and what a killed server leaves (AOTInductor unpacks each
# compiled program to a temp dir that only a clean exit removes). A passing run removes it, leaving the disk as
# it found it; a failing one keeps it for the failures' files and says where.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/markit-test.XXXXXX")
export TMPDIR="$scratch" TORCHINDUCTOR_CACHE_DIR="$scratch/torchinductor"
status=0
.venv/bin/python -m pytest "$@" || status=$?
size=$(du -sh "$scratch" | cut -f1)
if [[ $status == 0 ]]; then
  rm -rf "$scratch"
  echo "test scratch: $size, removed"
else
  echo "test scratch kept for the failures: $scratch ($size)"
fi
exit "$status"
