#!/usr/bin/env bash
# The reliability report (docs/reliability.md), against a real TorchServe with token auth on: the bad-input
# matrix over every task in real batches, what a long input costs, a soak with one request in ten bad, and
# workers SIGKILLed under load seen through the client, and tampered archives given to serve.sh start.
# Prints the figures; takes ~15 minutes.
#   ./scripts/reliability.sh [--store DIR] [--soak-seconds 300] [--fault-seconds 60] [--kills 6]
# Without --store, the example archives are built first into .run/reliability-store.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
./scripts/setup.sh
args=("$@")
if [[ " $* " != *" --store "* ]]; then
  ./scripts/build_examples.sh .run/reliability-store >&2
  args+=(--store .run/reliability-store)
fi
exec .venv/bin/python -m benchmarks reliability "${args[@]}"
