#!/usr/bin/env bash
# Offline batch prediction with an archive's own handler code, no server:
#   ./scripts/predict.sh ARCHIVE INPUT... [--batch-size N] [--workers N] [--output FILE.jsonl]
# INPUT: files, directories, or .jsonl files (one JSON request body per line). One JSON line per input.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" >&2
exec "$root/.venv/bin/python" -m markit.offline "$@"
