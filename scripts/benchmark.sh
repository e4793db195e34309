#!/usr/bin/env bash
# Benchmarks that print figures (docs/performance.md has the method):
#   ./scripts/benchmark.sh [compare] [--store DIR]   every speed goal in rounds: ours on both engines, the stock handler
#                                    and LitServe on the same graphs, the model alone; the stages of every task (default)
#   ./scripts/benchmark.sh capacity [--archive NAME.mar] --p99 MS   markit capacity against the full sweep
#   ./scripts/benchmark.sh stages ARCHIVE[=BODY] ...   where one request's time goes, stage by stage, in process
#   ./scripts/benchmark.sh sweep [--archive NAME.mar] [--workers 1,2 --threads 1,2 --batch-sizes 1,2,4,8 --delays 0,5,20]
#   ./scripts/benchmark.sh load --archive NAME.mar [--body photo.jpg --content-type image/jpeg]
#   ./scripts/benchmark.sh fault [--engine kserve --processes 2]   workers (runtime processes) SIGKILLed under load
#   ./scripts/benchmark.sh engines [--archive NAME.mar] [--rounds 3]   TorchServe and the KServe runtime, side by side
#   ./scripts/benchmark.sh g2p [--archive g2p_en.mar] [--rounds 1]       words/s of the G2P example, greedy vs beam 5
#   ./scripts/benchmark.sh pipelines [--store DIR]   a pipeline's overhead, a TorchServe workflow (.war) vs ours, a soak
# Every command builds the EfficientNet-Lite0 example unless --archive is given; --help lists the options.
# Needs: .venv (scripts/setup.sh), wrk (installed with apt-get when run as root), and for compare the
# stock TorchServe venv .bench/stock-venv and the LitServe venv .bench/litserve-venv (created by the first compare;
# several GB).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
./scripts/setup.sh
case " $* " in *" -h "*|*" --help "*) exec .venv/bin/python -m benchmarks "$@" ;; esac  # no wrk, no labels needed
.venv/bin/python examples/efficientnet_lite0/prepare_labels.py >/dev/null

./scripts/install_wrk.sh

exec .venv/bin/python -m benchmarks "$@"
