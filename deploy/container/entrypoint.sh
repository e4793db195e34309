#!/usr/bin/env bash
# Container entrypoint: check what the container was given, then become TorchServe in the foreground.
#
#   TS_CONFIG_FILE     TorchServe config          (image: /home/model-server/config/config.properties)
#   MODEL_STORE        folder of .mar archives    (image: /home/model-server/model-store)
#   LOG_LOCATION       TorchServe's logs          (default: ./logs; METRICS_LOCATION defaults to it)
#   TMPDIR             TorchServe's pid file; the archives, checked and unpacked (TMPDIR/served-store),
#                      which TorchServe serves; also Java's temp dir (worker sockets) unless TEMP or the
#                      config's vmargs say otherwise (default: /tmp)
#   TRUST_POLICY       signing keys / pinned identities every archive must satisfy
#                      (default: /home/model-server/config/trust.yaml when present)
#   MODEL_PINS         the pin file (model name -> identity, written by build_mar.sh and pin.sh): an archive
#                      neither pinned there nor signed by a trusted key is refused
#                      (default: /home/model-server/config/pins.json when present)
#   SERVING_SETTINGS   workers, batching, timeouts per model for this machine
#                      (default: /home/model-server/config/models.yaml when present)
# The working directory must be writable: TorchServe writes key_file.json (its tokens) there.
# Arguments are passed on to torchserve (e.g. --log-config FILE).
#
# A wrong input stops here with one line naming the path and exit status 78 (EX_CONFIG). Then this
# process becomes Java (python -m markit.ops.launch, see markit/ops/launch.py): SIGTERM reaches Java
# directly (exit 143 once TorchServe has stopped) and a crashed server ends the container with
# Java's non-zero status. `torchserve --foreground` would instead exit 0 whatever happened to Java.
set -euo pipefail

fail() {
  echo "entrypoint: $*" >&2
  exit 78
}

writable_dir() {  # writable_dir PATH WHAT: create PATH if needed; fail unless this user can write there
  mkdir -p -- "$1" 2>/dev/null || fail "$2 $1 cannot be created by uid $(id -u)"
  [[ -d $1 && -w $1 ]] || fail "$2 $1 is not writable by uid $(id -u)"
}

config=${TS_CONFIG_FILE:-/home/model-server/config/config.properties}
store=${MODEL_STORE:-/home/model-server/model-store}
logs=${LOG_LOCATION:-$PWD/logs}
metrics=${METRICS_LOCATION:-$logs}
tmp=${TMPDIR:-/tmp}
trust=${TRUST_POLICY:-/home/model-server/config/trust.yaml}
settings=${SERVING_SETTINGS:-/home/model-server/config/models.yaml}
pins=${MODEL_PINS:-/home/model-server/config/pins.json}

[[ -f $config ]] || fail "config $config is not a file: mount a TorchServe config.properties there or set TS_CONFIG_FILE"
[[ -r $config ]] || fail "config $config is not readable by uid $(id -u)"
[[ -d $store ]] || fail "model store $store is not a directory: mount a folder of .mar archives there or set MODEL_STORE"
[[ -r $store && -x $store ]] || fail "model store $store is not readable by uid $(id -u)"
shopt -s nullglob
archives=("$store"/*.mar)
shopt -u nullglob
(( ${#archives[@]} > 0 )) || fail "model store $store holds no .mar archive: build them with scripts/build_mar.sh"
for archive in "${archives[@]}"; do
  [[ -f $archive && -r $archive ]] || fail "archive $archive is not a file readable by uid $(id -u)"
done
[[ -w $PWD ]] || fail "working directory $PWD is not writable by uid $(id -u): TorchServe writes key_file.json there"
writable_dir "$logs" "log directory"
writable_dir "$metrics" "metrics log directory"
writable_dir "$tmp" "temporary directory"
# Every archive checked from its bytes and unpacked by us (markit.archive.unpack); TorchServe serves those
# directories and never parses a zip, so what was checked is what runs.
served=$tmp/served-store
policy=() pinned=none
if [[ -n ${TRUST_POLICY:-} || -f $trust ]]; then policy=(--trust "$trust"); fi
if [[ -n ${MODEL_PINS:-} || -f $pins ]]; then
  [[ -r $pins ]] || fail "pin file $pins is not readable by uid $(id -u): write it with scripts/pin.sh, or unset MODEL_PINS"
  policy+=(--pins "$pins")
  pinned=$pins
fi
refused=$(python -m markit.archive.unpack "$store" --into "$served" "${policy[@]}" 2>&1 >/dev/null) \
  || fail "archive refused before serving (rebuild it with scripts/build_mar.sh): ${refused#unpack: }"
# this machine's serving settings: TorchServe starts from a copy of the config carrying them
if [[ -n ${SERVING_SETTINGS:-} || -f $settings ]]; then
  invalid=$(python -m markit.ops.settings "$store" --config "$config" --models "$settings" --out "$tmp/config.properties" 2>&1 >/dev/null) \
    || fail "${invalid//settings: /}"
  config=$tmp/config.properties
fi

export TS_CONFIG_FILE=$config LOG_LOCATION=$logs METRICS_LOCATION=$metrics TMPDIR=$tmp TEMP=${TEMP:-$tmp}
echo "entrypoint: torchserve with $config, ${#archives[@]} archive(s) from $store checked and unpacked in $served, pins $pinned, working dir $PWD" >&2
exec python -m markit.ops.launch --ncs --model-store "$served" --ts-config "$config" "$@"
