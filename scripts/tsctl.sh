#!/usr/bin/env bash
# Predictions, descriptions and model management against a running TorchServe:
#   ./scripts/tsctl.sh [--config config/config.properties] [--key-file key_file.json] COMMAND ...
# COMMAND: predict MODEL FILE|- | describe MODEL | list | status MODEL | register URL | unregister MODEL
#          | scale MODEL --min N | set-default MODEL VERSION   (--help for all options; docs/serving.md)
# Exit codes: 0 success, 1 TorchServe answered with an error (its message on stderr), 2 usage or connection error.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" >&2
exec "$root/.venv/bin/python" -m markit.client "$@"
