#!/usr/bin/env bash
# Creates .venv in the repository root and installs everything the project needs, from nothing.
# Idempotent: a second run with unchanged inputs returns in about a second.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

need_java() {
  if ! command -v java >/dev/null 2>&1; then
    echo "TorchServe's frontend needs Java 17 or newer, and 'java' is not on PATH." >&2
    echo "Install it, e.g.: sudo apt-get install -y openjdk-17-jre-headless" >&2
    exit 1
  fi
  local major
  major=$(java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit}')
  if [ -z "$major" ] || [ "$major" -lt 17 ]; then
    echo "TorchServe needs Java 17+, found Java ${major:-unknown} ($(command -v java))." >&2
    echo "Install it, e.g.: sudo apt-get install -y openjdk-17-jre-headless" >&2
    exit 1
  fi
}
need_java

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "Python 3.10+ is needed; $python is $("$python" --version 2>&1)." >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv

# Re-install only when the inputs of the install change.
stamp=.venv/.setup-stamp
want=$(cat pyproject.toml scripts/setup.sh deploy/container/constraints.txt | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
pip_install() {
  # pip's notes about configured-but-absent local index folders are noise here; real errors pass.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }
}
echo "setting up .venv (torch 2.13.0 CPU first, then the project) ..."
# torch first, pinned: a bare or wider requirement resolved later would pull a multi-GB CUDA build.
pip_install "torch==2.13.0"
# The image's pins (deploy/container/constraints.txt) hold here too: the suite runs the versions the
# container ships, and a new upstream release changes nothing until the pins are edited.
pip_install --constraint deploy/container/constraints.txt -e ".[examples,export,dev,kserve]"
# timm only for its ImageNet label files; --no-deps keeps torchvision (and another torch) out.
pip_install --no-deps "timm==1.0.31"
# g2p-en only for its pretrained checkpoint and decoder source (examples/g2p_en reads them; never imported).
pip_install --no-deps "g2p-en==2.1.0"
# facenet-pytorch only for its MTCNN weights (examples/faces reads data/*net.pt; never imported: it imports torchvision).
pip_install --no-deps "facenet-pytorch==2.6.0"
echo "$want" > "$stamp"
echo ".venv ready: $(.venv/bin/python -c 'import torch, ts; print("torch", torch.__version__, "· torchserve", ts.__version__)')"
