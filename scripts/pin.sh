#!/usr/bin/env bash
# Pin the identity of checked archives, so that serve.sh and serve_kserve.sh serve them (docs/deployment.md):
#   ./scripts/pin.sh model_store/NAME.mar [MORE.mar | STORE ...]
# Each archive is checked (markit.archive.verify) and its model pinned to its identity in MODEL_PINS (default
# config/pins.json). Run it after deciding to serve an archive that changed; a signed archive needs no pin.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" >&2
exec "$root/.venv/bin/python" -m markit.archive.pins "$@" --pins "${MODEL_PINS:-$root/config/pins.json}"
