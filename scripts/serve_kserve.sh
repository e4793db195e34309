#!/usr/bin/env bash
# Serve the archives in model_store/ on the KServe runtime (the kserve package, in process, no Java), in the
# foreground until Ctrl-C or SIGTERM:
#   ./scripts/serve_kserve.sh [extra options of python -m markit.engines.kserve]
# REST (v2, v1, /predictions) on 127.0.0.1:8090 and gRPC on 127.0.0.1:8091 by default, beside serve.sh's
# TorchServe on 8080-8082 (KSERVE_HOST, KSERVE_HTTP_PORT, KSERVE_GRPC_PORT change them). Token authorization
# is on: the token is in KSERVE_HOME/key_file.json (default: .run/kserve/), TorchServe's format, written at the
# first start. MODEL_STORE, TRUST_POLICY (default config/trust.yaml), MODEL_PINS (default config/pins.json,
# written at the first start; empty: none) and SERVING_SETTINGS (default config/models.yaml) are read as
# serve.sh reads them. An archive that fails its checks or golden examples
# is named and nothing is served (exit 2).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
./scripts/setup.sh >&2
store=$(realpath -m "${MODEL_STORE:-model_store}")
home=$(realpath -m "${KSERVE_HOME:-.run/kserve}")
trust=$(realpath -m "${TRUST_POLICY:-config/trust.yaml}")
settings=$(realpath -m "${SERVING_SETTINGS:-config/models.yaml}")
pins=${MODEL_PINS-config/pins.json}
[ -z "$pins" ] || pins=$(realpath -m "$pins")
[ -d "$store" ] || { echo "serve_kserve.sh: model store $store not found (set MODEL_STORE, or build archives with scripts/build_mar.sh)" >&2; exit 2; }
mkdir -p "$home"
options=(--model-store "$store" --host "${KSERVE_HOST:-127.0.0.1}" --http-port "${KSERVE_HTTP_PORT:-8090}"
         --grpc-port "${KSERVE_GRPC_PORT:-8091}" --key-file "$home/key_file.json")
if [ -n "${TRUST_POLICY:-}" ] || [ -f "$trust" ]; then options+=(--trust "$trust"); fi
if [ -n "${SERVING_SETTINGS:-}" ] || [ -f "$settings" ]; then options+=(--settings "$settings"); fi
if [ -n "$pins" ]; then
  # the first start pins what it serves (as serve.sh): from then on a changed archive is refused
  "$root/.venv/bin/python" -m markit.archive.pins "$store" --pins "$pins" --first-start >/dev/null || exit 2
  options+=(--pins "$pins")
fi
cd "$home"
exec "$root/.venv/bin/python" -m markit.engines.kserve "${options[@]}" "$@"
