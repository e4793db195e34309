#!/usr/bin/env bash
# Installs wrk (Debian's package), the closed-loop load generator of the benchmarks and of one
# integration test, when it is missing and this runs as root with apt-get; otherwise says how.
set -euo pipefail
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,/^set /s/^# \{0,1\}//p' "$0"; exit 0; fi
command -v wrk >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing wrk (Debian's package), the closed-loop load generator ..." >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
else
  echo "wrk is needed (the closed-loop load generator): sudo apt-get install -y wrk" >&2
  exit 1
fi
