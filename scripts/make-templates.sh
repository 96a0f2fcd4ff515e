#!/usr/bin/env bash
# Graph templates for in-browser checkpoint conversion (model/export/template.py): public/templates/<id>/, committed
# (the app ships them: ~0.8-1.3 MB each, no weights; fetched on demand when a checkpoint is converted, never
# precached). They follow the exporter's op choices: each recipe.json records the hash of the exporter sources it was
# built from (template.py SOURCES), and a template built from other sources is stale. After changing one of those
# files, rebuild them all and commit them with the change; scripts/test-all.sh fails while any is stale.
#   bash scripts/make-templates.sh all          # rebuild the stale ones of ref64, r256-cm2, r512-cm2, ffhq1024-f
#                                               # (one core: ref64 ~1 min, 256 / 512 px ~2-3 min, 1024 px ~10-15 min
#                                               # and ~6 GB RAM)
#   bash scripts/make-templates.sh r256-cm2 ... # the named ones
#   bash scripts/make-templates.sh --check      # exit 1 (naming them) when any of the four is stale or missing
set -euo pipefail
cd "$(dirname "$0")/.."
check=
[ "${1:-}" = --check ] && { check=1; shift; }
ids=("$@")
[ ${#ids[@]} -eq 0 ] && ids=(all)
[ "${ids[0]}" = all ] && ids=(ref64 r256-cm2 r512-cm2 ffhq1024-f)
export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}
stale=()
for id in "${ids[@]}"; do
  out=public/templates/$id
  if ! /usr/bin/python3 -m model.export.template stale "$out"; then echo "make-templates: $out is current"; continue; fi
  if [ -n "$check" ]; then stale+=("$id"); continue; fi
  nice -n 10 /usr/bin/python3 -m model.export.template build "$id" "$out" 2>&1 | grep -v '^  .*traced in'
  du -sh "$out"
done
if [ ${#stale[@]} -gt 0 ]; then
  echo "make-templates: stale or missing (built from other exporter sources than model/export/template.py SOURCES now hold): ${stale[*]}"
  echo "  rebuild and commit them: nice -n 19 bash scripts/make-templates.sh ${stale[*]} && git add public/templates"
  exit 1
fi
