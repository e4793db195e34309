#!/usr/bin/env bash
# Build every bundled example archive into DIR (default model_store), as demo.sh and reliability.sh do:
#   ./scripts/build_examples.sh [DIR]
# EfficientNet-Lite0 (ONNX), digits (trained here, torch.export + eager), weather forecasters for Seattle
# and San Francisco (trained here), English G2P (g2p-en's weights ported, TorchScript), faces (MTCNN ported,
# object detection), a digit detector and a digit segmenter (trained here, torch.export), MiniLM embeddings and
# topics (AOTInductor; transformers at build only); three pipelines of those archives (read_number, phonemes, forecast).
set -euo pipefail
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^set /s/^# \{0,1\}//p' "$0"; exit 0; fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${1:-model_store}
./scripts/setup.sh
export PATH="$root/.venv/bin:$PATH"

echo "== building the archive from examples/efficientnet_lite0/spec.yaml"
python examples/efficientnet_lite0/prepare_labels.py
python -m markit.builder examples/efficientnet_lite0/spec.yaml --output "$out"
echo
echo "== training digits on scikit-learn's digits, then building its archives (examples/digits/train.py)"
python examples/digits/train.py --output "$out"
echo
echo
echo "== training weather forecasters for Seattle and San Francisco, then building their archives"
python examples/weather/train.py --output "$out"
echo "== porting g2p-en's pretrained G2P model, checking it against the original, measuring it, building its archive"
python examples/g2p_en/port.py --output "$out"
echo "== faces: facenet-pytorch's MTCNN ported to torch (its weight files read, never imported), then its archive"
python examples/faces/weights.py --output examples/faces/build
python -m markit.builder examples/faces/spec.yaml --output "$out"
echo "== digits on a page: a detector and a segmenter trained here on canvases of scikit-learn's digits"
python examples/digit_boxes/train.py --store "$out"
python examples/digit_segments/train.py --store "$out"
echo "== pipelines: read a number (digit_boxes -> crop -> digits), text to phonemes (CMU dictionary, else g2p_en),"
echo "   a forecast by the area's forecaster (a switch on the weather archives' capabilities)"
python examples/read_number/build.py --store "$out"
python examples/phonemes/build.py --store "$out"
python examples/forecast/build.py --store "$out"
for text_model in minilm_embeddings minilm_topics; do
  echo "== building $text_model from examples/$text_model/spec.yaml (transformers at build only)"
  python -m markit.builder "examples/$text_model/spec.yaml" --output "$out"
done
# what was built here is what serve.sh and serve_kserve.sh will accept: pinned in MODEL_PINS
# (default config/pins.json; empty: not pinned), as build_mar.sh pins what it builds
pins=${MODEL_PINS-$root/config/pins.json}
if [ -n "$pins" ]; then
  echo "== pinning the built archives' identities in $pins"
  python -m markit.archive.pins "$out" --pins "$pins"
fi
