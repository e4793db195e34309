#!/usr/bin/env bash
# Benchmarks that print figures (docs/performance.md has the method):
#   ./scripts/benchmark.sh [compare]   every ratio of the speed goals, side by side in one run (default)
#   ./scripts/benchmark.sh sweep [--archive NAME.mar] [--workers 1,2 --threads 1,2 --batch-sizes 1,2,4,8 --delays 0,5,20]
#   ./scripts/benchmark.sh load --archive NAME.mar [--body photo.jpg --content-type image/jpeg]
# Every command builds the EfficientNet-Lite0 example unless --archive is given; --help lists the options.
# Needs: .venv (scripts/setup.sh), wrk (installed with apt-get when run as root), and for compare the
# stock TorchServe venv .bench/stock-venv (created by the first compare; several GB).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
./scripts/setup.sh
.venv/bin/python examples/efficientnet_lite0/prepare_labels.py >/dev/null

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing wrk (Debian's package), the closed-loop load generator ..." >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "wrk is needed (the closed-loop load generator): sudo apt-get install -y wrk" >&2
    exit 1
  fi
fi

exec .venv/bin/python -m tsclient.bench "$@"
