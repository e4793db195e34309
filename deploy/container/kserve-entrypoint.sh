#!/usr/bin/env bash
# The KServe runtime image's entrypoint: check what the container was given, then become the runtime.
#
#   MODEL_STORE        folder of .mar archives    (image: /home/model-server/model-store;
#                      under KServe: /mnt/models/model-store, where the storage initializer copies storageUri)
#   KEY_FILE           the token file, TorchServe's format (default: ./key_file.json, written with a new
#                      token when absent; mount a Secret there to choose it)
#   AUTH               "token" (default) or "off": off only behind a mesh or proxy that authenticates
#   METRICS            "token" (default: GET /metrics asks for the token) or "open" (a scraper without it)
#   HTTP_PORT, GRPC_PORT   REST and gRPC ports (default 8080, 8081: KServe's)
#   HOST               the address both listeners bind (default 0.0.0.0: the container's network is the boundary)
#   PROCESSES          processes serving the store on the same ports (default 1; each archive's workers are
#                      shared among them; docs/migration.md#speed measures 1 and 2)
#   TRUST_POLICY       signing keys / pinned identities every archive must satisfy
#                      (default: /home/model-server/config/trust.yaml when present)
#   MODEL_PINS         the pin file (model name -> identity, written by build_mar.sh and pin.sh): an archive
#                      neither pinned there nor signed by a trusted key is refused
#                      (default: /home/model-server/config/pins.json when present)
#   SERVING_SETTINGS   workers, batching per model for this machine
#                      (default: /home/model-server/config/models.yaml when present)
# Arguments are passed on to python -m markit.engines.kserve.
#
# A wrong input stops here with one line naming the path and exit status 78 (EX_CONFIG). Then this process
# becomes the runtime: SIGTERM stops it gracefully (exit 0); an archive that fails its checks or golden
# examples ends it with exit 2, naming the archive. With PROCESSES > 1 a process that dies is replaced;
# five in a row dying within 10 s of their start end it with exit 3.
set -euo pipefail

fail() {
  echo "entrypoint: $*" >&2
  exit 78
}

store=${MODEL_STORE:-/home/model-server/model-store}
key_file=${KEY_FILE:-$PWD/key_file.json}
trust=${TRUST_POLICY:-/home/model-server/config/trust.yaml}
settings=${SERVING_SETTINGS:-/home/model-server/config/models.yaml}
pins=${MODEL_PINS:-/home/model-server/config/pins.json}

[[ -d $store ]] || fail "model store $store is not a directory: mount a folder of .mar archives there or set MODEL_STORE"
[[ -r $store && -x $store ]] || fail "model store $store is not readable by uid $(id -u)"
shopt -s nullglob
archives=("$store"/*.mar)
shopt -u nullglob
(( ${#archives[@]} > 0 )) || fail "model store $store holds no .mar archive: build them with scripts/build_mar.sh"
[[ ${PROCESSES:-1} =~ ^[1-9][0-9]*$ ]] || fail "PROCESSES=${PROCESSES} is not a whole number of processes of at least 1"
options=(--model-store "$store" --host "${HOST:-0.0.0.0}" --http-port "${HTTP_PORT:-8080}" --grpc-port "${GRPC_PORT:-8081}"
         --processes "${PROCESSES:-1}")
case ${AUTH:-token} in
  token)
    if [[ -e $key_file ]]; then
      [[ -r $key_file ]] || fail "key file $key_file is not readable by uid $(id -u)"
    else
      [[ -w $(dirname "$key_file") ]] || fail "key file $key_file is absent and its folder is not writable by uid $(id -u) to create it"
    fi
    options+=(--key-file "$key_file") ;;
  off) options+=(--no-auth) ;;
  *) fail "AUTH=${AUTH} is not one of: token, off" ;;
esac
case ${METRICS:-token} in
  token) ;;
  open) options+=(--open-metrics) ;;
  *) fail "METRICS=${METRICS} is not one of: token, open" ;;
esac
if [[ -n ${TRUST_POLICY:-} || -f $trust ]]; then
  [[ -r $trust ]] || fail "trust policy $trust is not readable by uid $(id -u)"
  options+=(--trust "$trust")
fi
pinned=none
if [[ -n ${MODEL_PINS:-} || -f $pins ]]; then
  [[ -r $pins ]] || fail "pin file $pins is not readable by uid $(id -u): write it with scripts/pin.sh, or unset MODEL_PINS"
  options+=(--pins "$pins")
  pinned=$pins
fi
if [[ -n ${SERVING_SETTINGS:-} || -f $settings ]]; then
  [[ -r $settings ]] || fail "serving settings $settings are not readable by uid $(id -u)"
  options+=(--settings "$settings")
fi
echo "entrypoint: KServe runtime with ${#archives[@]} archive(s) in $store, auth ${AUTH:-token}, pins $pinned" >&2
exec python -m markit.engines.kserve "${options[@]}" "$@"
