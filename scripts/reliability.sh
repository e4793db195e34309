#!/usr/bin/env bash
# The reliability report (docs/reliability.md), against a real TorchServe and the KServe runtime, token auth
# on: on each engine the bad-input matrix over every task in real batches, what a long text and a request of
# 10^5 tensors cost, a soak with one request in ten bad; TorchServe workers and the runtime's --processes 2
# children SIGKILLed under load, seen through the client; tampered archives (hidden zip entries included) given
# to serve.sh start and serve_kserve.sh. Prints the figures and exits 1 on any miss; takes ~25 minutes.
#   ./scripts/reliability.sh [--store DIR] [--soak-seconds 300] [--fault-seconds 60] [--kills 6]
# Without --store, the example archives are built first into .run/reliability-store.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
./scripts/setup.sh
case " $* " in *" -h "*|*" --help "*) exec .venv/bin/python -m benchmarks reliability --help ;; esac  # nothing built
args=("$@")
if [[ " $* " != *" --store "* ]]; then
  MODEL_PINS="" ./scripts/build_examples.sh .run/reliability-store >&2   # its servers pin nothing: leave config/pins.json alone
  args+=(--store .run/reliability-store)
fi
exec .venv/bin/python -m benchmarks reliability "${args[@]}"
