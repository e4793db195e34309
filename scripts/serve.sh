#!/usr/bin/env bash
# Run TorchServe on the archives in model_store/ with config/config.properties (token auth on):
#   ./scripts/serve.sh start [--timeout SECONDS] [--trust POLICY]
#                                                  start in the background, wait until every model has a READY worker
#   ./scripts/serve.sh status                      health probe with --ready; exit 0 when all models are ready
#   ./scripts/serve.sh stop                        stop the server this script started
#   ./scripts/serve.sh foreground                  run in the foreground as Java itself (SIGTERM stops it; a crash is a non-zero exit)
# TorchServe runs in TS_HOME (default: the repository root), so its key_file.json (tokens) and logs/
# land there. TS_CONFIG and MODEL_STORE override the config file and the model store (relative paths
# are taken from the repository root). Config snapshots are off (--ncs).
# Before TorchServe starts, every archive is checked from its bytes, unpacked by us into
# TS_HOME/.run/served-store and checked again there (markit.archive.unpack), against the trust policy
# TRUST_POLICY (default config/trust.yaml, when present: signing keys, pinned identities); TorchServe
# serves those directories and never parses a zip, so what was checked is what runs. MODEL_PINS (default
# config/pins.json; empty: none) pins each model's identity: written at the first start (and by build_mar.sh),
# then a changed or unpinned archive is refused unless re-pinned (./scripts/pin.sh) or signed by a key the
# trust policy names (start --trust POLICY: the stronger policy, signatures). And
# SERVING_SETTINGS (default config/models.yaml, when present: workers, batching, timeouts per model for
# this machine) is validated and applied (markit.ops.settings), without touching the archives.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
config=$(realpath -m "${TS_CONFIG:-config/config.properties}")
store=$(realpath -m "${MODEL_STORE:-model_store}")
home=$(realpath -m "${TS_HOME:-$root}")
trust=$(realpath -m "${TRUST_POLICY:-config/trust.yaml}")
settings=$(realpath -m "${SERVING_SETTINGS:-config/models.yaml}")
pins=${MODEL_PINS-config/pins.json}
[ -z "$pins" ] || pins=$(realpath -m "$pins")
# TorchServe keeps its pid file in TMPDIR: a private one lets 'torchserve --stop' find this server only.
export TMPDIR="$home/.run/tmp"
mkdir -p "$TMPDIR"
pidfile="$TMPDIR/.model_server.pid"

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
probe() { "$root/.venv/bin/python" -m markit.client.health --config "$config" --key-file "$home/key_file.json" "$@"; }
check_inputs() {
  [ -r "$config" ] || { echo "serve.sh: config $config not found (set TS_CONFIG)" >&2; exit 2; }
  [ -d "$store" ] || { echo "serve.sh: model store $store not found (set MODEL_STORE, or build archives with scripts/build_mar.sh)" >&2; exit 2; }
  compgen -G "$store/*.mar" >/dev/null || echo "serve.sh: warning: no .mar in $store; the server will start with no models" >&2
  # every archive checked from its bytes and unpacked by us: TorchServe is handed only those directories
  local refused policy=() pinning=()
  if [ -n "${TRUST_POLICY:-}" ] || [ -f "$trust" ]; then policy=(--trust "$trust"); fi
  if [ -n "$pins" ] && [ -f "$pins" ]; then pinning=(--pins "$pins"); fi
  mkdir -p "$home/.run"
  if ! refused=$("$root/.venv/bin/python" -m markit.archive.unpack "$store" --into "$served" "${policy[@]}" "${pinning[@]}" 2>&1 >/dev/null); then
    echo "serve.sh: not starting, an archive failed its checks (rebuild it with scripts/build_mar.sh):" >&2
    echo "  ${refused#unpack: }" >&2
    exit 2
  fi
  # the first start pins what it serves: from now on a changed archive needs ./scripts/pin.sh or a trusted signature
  if [ -n "$pins" ] && [ ! -f "$pins" ]; then
    "$root/.venv/bin/python" -m markit.archive.pins "$store" --pins "$pins" --first-start >/dev/null || exit 2
  fi
  # this machine's serving settings: TorchServe starts from a copy of the config carrying them
  if [ -n "${SERVING_SETTINGS:-}" ] || [ -f "$settings" ]; then
    mkdir -p "$home/.run"
    "$root/.venv/bin/python" -m markit.ops.settings "$store" --config "$config" --models "$settings" \
      --out "$home/.run/config.properties" >/dev/null || exit 2
    torchserve_args=(--start --ncs --model-store "$served" --ts-config "$home/.run/config.properties")
  fi
}
served="$home/.run/served-store"
torchserve_args=(--start --ncs --model-store "$served" --ts-config "$config")

start() {
  local timeout=300
  while [ $# -gt 0 ]; do
    case "$1" in
      --timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
      --trust) trust=$(realpath -m "${2:?--trust needs a policy file}"); TRUST_POLICY=$trust; shift 2 ;;
      *) usage ;;
    esac
  done
  if running; then echo "TorchServe is already running (pid $(cat "$pidfile"))"; return 0; fi
  check_inputs
  # workers x torch threads of every archive against this machine's CPUs (a warning, not a refusal)
  "$root/.venv/bin/python" -m markit.ops.capacity "$store" || true
  rm -f "$home/key_file.json"
  # the workers' environment default, as markit.ops.launch gives it (docs/serving.md): tensors of 2 MB and up on huge pages
  export THP_MEM_ALLOC_ENABLE="${THP_MEM_ALLOC_ENABLE-1}"
  echo "torchserve ${torchserve_args[*]}   (in $home)"
  # The Java frontend outlives this script: give it no handle on our stdout/stderr.
  # the model log grows across runs: a worker's failure counts only from this start on
  local logged=0
  [ -f "$home/logs/model_log.log" ] && logged=$(wc -c <"$home/logs/model_log.log")
  (cd "$home" && "$root/.venv/bin/torchserve" "${torchserve_args[@]}" >"$home/.run/torchserve.out" 2>&1)
  local deadline=$((SECONDS + timeout)) reason="" failed=""
  # with no archive there is no model to wait for: wait until the server itself is healthy
  local ready=(--ready)
  compgen -G "$store/*.mar" >/dev/null || ready=()
  until reason=$(probe "${ready[@]}" 2>&1); do
    if ! running; then
      echo "serve.sh: TorchServe exited; see $home/logs/ts_log.log and $home/.run/torchserve.out" >&2; exit 1
    fi
    # a model whose workers die at start never comes up by itself, while /ping keeps saying Healthy
    if ! failed=$("$root/.venv/bin/python" -m markit.ops.startup "$home/logs" --after "$logged" 2>&1); then
      echo "serve.sh: not starting: $failed" >&2
      stop >/dev/null
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then echo "serve.sh: not ready after ${timeout}s: $reason" >&2; exit 1; fi
    sleep 1
  done
  echo "$reason"
  echo "tokens: $home/key_file.json · logs: $home/logs · stop: ./scripts/serve.sh stop"
}

stop() {
  if ! running; then echo "TorchServe is not running"; return 0; fi
  # 'torchserve --stop' removes the pid file at once while Java is still shutting down: wait for the
  # process itself, so that a 'start' right after finds the ports free.
  local pid deadline=$((SECONDS + 60))
  pid=$(cat "$pidfile")
  "$root/.venv/bin/torchserve" --stop
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then echo "serve.sh: TorchServe did not stop within 60 s (pid $pid)" >&2; exit 1; fi
}

status() {
  if ! running; then echo "TorchServe is not running"; exit 3; fi
  echo "TorchServe pid $(cat "$pidfile")"
  probe --ready
}

foreground() {
  check_inputs
  cd "$home"
  # Java replaces this shell (markit.ops.launch): signals reach it and its exit status is ours.
  exec "$root/.venv/bin/python" -m markit.ops.launch "${torchserve_args[@]}"
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  start|stop|status|foreground) "$root/scripts/setup.sh" >&2; "$command" "$@" ;;
  *) usage ;;
esac
