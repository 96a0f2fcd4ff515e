#!/usr/bin/env bash
# Start F/Z+ Studio with the bundled demo model: set up, build, serve on http://127.0.0.1:4173
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx vite build
exec npx vite preview --host 127.0.0.1 --port "${PORT:-4173}" --strictPort
