#!/usr/bin/env bash
# Every test of the project: Python toolchain (pytest), TypeScript unit tests (vitest),
# type check, and end-to-end (the e2e web server makes the production build) tests in real Chromium (Playwright).
# Prints a summary line at the end; exits non-zero if any suite failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export GLIBC_TUNABLES=glibc.malloc.hugetlb=1
mkdir -p test-results
failed=()
suite() { local name=$1; shift; echo; echo "=== $name: $*"; local t0=$SECONDS
  if "$@"; then echo "=== $name: ok ($((SECONDS - t0)) s)"; else echo "=== $name: FAILED ($((SECONDS - t0)) s)"; failed+=("$name"); fi; }

suite refpack  bash scripts/make-reference-pack.sh
# graph templates for in-browser checkpoint conversion: committed (public/templates/); fails when one was built from
# other exporter sources than model/export/template.py SOURCES now hold (rebuild: bash scripts/make-templates.sh all).
# A check only (~10 s): nothing is rebuilt here
suite templates bash scripts/make-templates.sh --check
# reference checkpoints in each layout, random cm-2 checkpoints for the 256, 512 and 1024 px templates, and the
# Python recipe path's weights.bin hashes (~30 s, 0.8 GB; skipped when current): src/engine/convert/convert.test.ts
suite convfix  /usr/bin/python3 scripts/make-convert-fixtures.py --random 256 512 1024
# 1024 px config-f-shaped pack, random weights (~1.5-3 min; skipped when data/packs/ffhq-random-1024 exists):
# e2e/large-pack.spec.ts, and tests/test_template.py compares a template-converted copy of its checkpoint with it
suite largepack bash scripts/make-large-pack.sh
# after the builds above (pytest uses the templates and the large pack where present)
suite python   /usr/bin/python3 -m pytest tests -q -p no:cacheprovider --junitxml=test-results/pytest.xml
suite types    npx tsc --noEmit -p .
suite unit     npx vitest run --reporter=default --reporter=junit --outputFile.junit=test-results/vitest.xml
suite e2e      env PLAYWRIGHT_JUNIT_OUTPUT_FILE=test-results/e2e.xml npx playwright test --reporter=list,junit

node scripts/test-summary.mjs test-results || true
if [ ${#failed[@]} -gt 0 ]; then echo "FAILED suites: ${failed[*]}"; exit 1; fi
