#!/usr/bin/env bash
# Graph templates for in-browser checkpoint conversion (model/export/template.py): public/templates/<id>/ (git-ignored;
# the app fetches them on demand). They follow the exporter's op choices, so they are built here, not committed; a
# template built from other exporter sources is rebuilt, a current one skipped.
#   bash scripts/make-templates.sh              # ref64 (the shared reference layout; ~2 min on one core)
#   bash scripts/make-templates.sh all          # + r256-cm2, r512-cm2, ffhq1024-f (the 1024 one: ~10 min, ~6 GB RAM)
#   bash scripts/make-templates.sh r256-cm2 ... # the named ones
set -euo pipefail
cd "$(dirname "$0")/.."
ids=("$@")
[ ${#ids[@]} -eq 0 ] && ids=(ref64)
[ "${ids[0]}" = all ] && ids=(ref64 r256-cm2 r512-cm2 ffhq1024-f)
export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}
for id in "${ids[@]}"; do
  out=public/templates/$id
  if ! /usr/bin/python3 -m model.export.template stale "$out"; then echo "make-templates: $out is current"; continue; fi
  nice -n 10 /usr/bin/python3 -m model.export.template build "$id" "$out" 2>&1 | grep -v '^  .*traced in'
  du -sh "$out"
done
