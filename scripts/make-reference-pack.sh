#!/usr/bin/env bash
# Export the shared 64 px reference checkpoint (rosinality layout, random perturbed weights; not a face model) to
# public/models/reference-64/ (git-ignored) and check every graph in onnxruntime-node against PyTorch and the
# gradient graphs against float64 autograd. The web tests may use this pack.
# The shared folder is ../shared next to the repository (CI clone) unless FZ_SHARED says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${FZ_SHARED:-../shared}
CK="$SHARED/reference/rosinality-64/checkpoint.pt"
OUT=${OUT:-public/models/reference-64}
[ -f "$CK" ] || { echo "make-reference-pack: $CK not found (set FZ_SHARED)" >&2; exit 2; }
export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}
nice -n 10 /usr/bin/python3 -m model.export "$CK" "$OUT" --name reference-64 \
  --title "Reference 64 px (random weights, rosinality layout)" \
  --licence "MIT (random weights generated for the shared rosinality-64 fixture)" \
  --weights-source "../shared/reference/rosinality-64/checkpoint.pt (outputs of rosinality/stylegan2-pytorch, MIT)" \
  --check
du -sh "$OUT"
