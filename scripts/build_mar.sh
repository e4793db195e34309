#!/usr/bin/env bash
# Build a verified, self-describing NAME.mar from a YAML spec:
#   ./scripts/build_mar.sh SPEC.yaml [--output DIR] [--sign KEY.pem]   (default DIR: model_store)
# --sign: an ECDSA private key (PEM) signing every member; servers check it with config/trust.yaml
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
# the new archive's identity is pinned in MODEL_PINS (default config/pins.json; empty: not pinned), which
# serve.sh and serve_kserve.sh honour (markit.archive.pins)
pins=${MODEL_PINS-$root/config/pins.json}
exec "$root/.venv/bin/python" -m markit.builder "$@" ${pins:+--pins "$pins"}
