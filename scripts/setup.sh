#!/usr/bin/env bash
# One-time setup on a fresh Debian 12 machine: system packages (Python model side, Chromium for tests)
# and npm dependencies. Safe to re-run; skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(python3-torch python3-onnx python3-numpy python3-pytest python3-jsonschema python3-pil
              libopenblas0-pthread chromium)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # onnxruntime-node's postinstall downloads CUDA files; its CPU binary ships in the package.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi
