#!/usr/bin/env bash
# Throughput/latency of an archive behind a private TorchServe; builds the example archive if needed.
#   ./scripts/benchmark.sh [--archive model_store/NAME.mar] [--requests 200] [--concurrency 8]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
./scripts/setup.sh
if [ ! -f model_store/efficientnet_lite0.mar ]; then
  .venv/bin/python examples/efficientnet_lite0/prepare_labels.py
  .venv/bin/python -m builder examples/efficientnet_lite0/spec.yaml --output model_store
fi
exec .venv/bin/python -m tsclient.benchmark "$@"
