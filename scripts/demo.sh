#!/usr/bin/env bash
# The main job, end to end on the bundled real examples:
#   set up .venv -> build model_store/efficientnet_lite0.mar from its YAML spec (verified on golden
#   photos) -> train the digits model and build digits.mar (torch.export) + digits_eager.mar ->
#   start TorchServe with config/config.properties (token auth on) -> real requests -> readable
#   answers -> offline predict.sh compared with the server -> stop TorchServe.
#   ./scripts/demo.sh [--keep-running]     (--keep-running leaves TorchServe up and prints curl commands)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
keep=false
case "${1:-}" in
  --keep-running) keep=true ;;
  -h|--help) sed -n '2,/^set /s/^# \{0,1\}//p' "$0"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--keep-running]" >&2; exit 2 ;;
esac

./scripts/setup.sh
export PATH="$root/.venv/bin:$PATH"

./scripts/build_examples.sh model_store

# a server an earlier 'demo.sh --keep-running' left up would still serve the old archives
./scripts/serve.sh stop >/dev/null
echo
echo "== ./scripts/serve.sh start   (torchserve --start --ncs --model-store model_store --ts-config config/config.properties)"
$keep || trap './scripts/serve.sh stop' EXIT
./scripts/serve.sh start

python -m demo --key-file key_file.json --archive model_store/efficientnet_lite0.mar

echo
echo "== operating it: the health probe, the management CLI, a KServe v1 request"
echo "\$ ./scripts/serve.sh status"
./scripts/serve.sh status
echo "\$ ./scripts/tsctl.sh list"
./scripts/tsctl.sh list
echo "\$ ./scripts/tsctl.sh status digits   (workers)"
./scripts/tsctl.sh status digits | python -c "import json, sys
for m in json.load(sys.stdin):
    print(f'  {m[\"modelName\"]} {m[\"modelVersion\"]}:', ', '.join(f'worker {w[\"id\"]} {w[\"status\"]}' for w in m['workers']))"
photos=$(python -c 'import skimage, pathlib; print(pathlib.Path(skimage.__file__).parent / "data")')
python - "$photos" >.run/kserve_v1.json <<'PY'
import base64, json, pathlib, sys
photos = pathlib.Path(sys.argv[1])
print(json.dumps({"instances": [{"b64": base64.b64encode((photos / name).read_bytes()).decode()} for name in ("chelsea.png", "coffee.png")]}))
PY
echo "\$ ./scripts/tsctl.sh predict efficientnet_lite0 --json-file .run/kserve_v1.json   ({\"instances\": [chelsea, coffee]})"
./scripts/tsctl.sh predict efficientnet_lite0 --json-file .run/kserve_v1.json \
  | python -c "import json, sys
for i, answer in enumerate(json.load(sys.stdin)['predictions']):
    top = answer['predictions'][0]
    print(f'  instance {i}: {top[\"label\"]} {top[\"probability\"]:.1%}')"

echo
echo "== what is verified is what runs: tampered copies of efficientnet_lite0.mar given to ./scripts/serve.sh start"
rm -rf .run/demo-tamper
python -m demo.tampering model_store/efficientnet_lite0.mar .run/demo-tamper

if $keep; then
  key=$(python -c 'import json; print(json.load(open("key_file.json"))["inference"]["key"])')
  mkey=$(python -c 'import json; print(json.load(open("key_file.json"))["management"]["key"])')
  photo=$(python -c 'import skimage, pathlib; print(pathlib.Path(skimage.__file__).parent / "data" / "chelsea.png")')
  cat <<EOT

TorchServe keeps running (tokens in key_file.json; logs in logs/). Try:
  curl -H "Authorization: Bearer $key" http://127.0.0.1:8080/predictions/efficientnet_lite0 -T $photo
  curl -H "Authorization: Bearer $key" http://127.0.0.1:8080/predictions/efficientnet_lite0 -F image=@$photo -F top_k=2
  curl -H "Authorization: Bearer $mkey" "http://127.0.0.1:8081/models/efficientnet_lite0?customized=true"
  curl -H "Authorization: Bearer $key" http://127.0.0.1:8082/metrics
Status and stop:
  ./scripts/serve.sh status
  ./scripts/serve.sh stop
EOT
else
  echo
  echo "== ./scripts/serve.sh stop"
fi
