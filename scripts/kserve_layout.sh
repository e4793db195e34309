#!/usr/bin/env bash
# Lay out archives for KServe's TorchServe runtime (an InferenceService's storageUri):
#   ./scripts/kserve_layout.sh MODEL_STORE OUT_DIR
# writes OUT_DIR/config/config.properties (addresses, token auth off, model_snapshot with each
# archive's workers and batching) and each MODEL_STORE/NAME.mar, checked and unpacked (markit.archive.unpack),
# to the directory OUT_DIR/model-store/NAME.mar/: KServe's TorchServe never parses a zip.
# Upload OUT_DIR to the storage deploy/kserve/inferenceservice.yaml names (docs/deployment.md).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" >&2
exec "$root/.venv/bin/python" -m markit.ops.torchserve_on_kserve "$@"
