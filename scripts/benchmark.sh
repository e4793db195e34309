#!/usr/bin/env bash
# Throughput/latency of an archive behind a private TorchServe (built from the example spec unless
# --archive is given):
#   ./scripts/benchmark.sh [--set serving.workers=1] [--requests 200] [--concurrency 8]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
./scripts/setup.sh
.venv/bin/python examples/efficientnet_lite0/prepare_labels.py >/dev/null
exec .venv/bin/python -m tsclient.benchmark "$@"
