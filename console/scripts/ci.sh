#!/usr/bin/env bash
# CI for the web console. Run from the repository root:
#   bash console/scripts/ci.sh
# Installs Debian's Chromium when /usr/bin/chromium is missing, then: npm ci, build (generates
# the clients from ../proto), unit tests, end-to-end tests against the launcher binary
# (PS_LAUNCHER_BIN, default target/debug/practice-staff, built by cargo beforehand).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

# Paths given relative to the repository root stay right when npm runs inside console/.
export PS_LAUNCHER_BIN="$(realpath -m "${PS_LAUNCHER_BIN:-target/debug/practice-staff}")"
if [ -n "${SCREENSHOT_DIR:-}" ]; then
  export SCREENSHOT_DIR="$(realpath -m "$SCREENSHOT_DIR")"
fi

step() {
  local name="$1"
  shift
  local start=$SECONDS
  echo "==> $name"
  "$@"
  echo "<== $name: $((SECONDS - start)) s"
}

install_chromium() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update
  $sudo apt-get install -y chromium
}

if [ ! -x /usr/bin/chromium ]; then
  step "install Chromium (Debian)" install_chromium
fi
if [ ! -x "$PS_LAUNCHER_BIN" ]; then
  echo "The launcher binary is missing at $PS_LAUNCHER_BIN: run 'cargo build -p practice-staff' first, or set PS_LAUNCHER_BIN." >&2
  exit 1
fi

step "npm ci" npm --prefix console ci --no-audit --no-fund
step "build" npm --prefix console run build
step "unit tests" npm --prefix console test
step "end-to-end tests" npm --prefix console run e2e
