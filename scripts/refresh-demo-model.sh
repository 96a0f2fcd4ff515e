#!/usr/bin/env bash
# Refresh the demo model from a (newer) EMA snapshot of the demo GAN, in the order the parts depend on each other:
#   1. edit directions fitted in context (model/demo/directions.py --f-res: F fixed, as the app edits)   } in parallel,
#   2. the inversion-start encoder fine-tuned on this generator (model/demo/train_encoder.py --init)      } 1 thread each
#   3. the pack (scripts/build-demo-pack.sh), 4. the fidelity bench (model/eval/fidelity.py, 32 held-out faces).
# Settings (environment): CK (generator, default model/checkpoints/demo64-g_ema.pt), ENC_INIT (encoder to fine-tune,
# default model/checkpoints/encoder64.pt when present, else the shipped pack's encoder.onnx), ENC_MINUTES (7), F_RES (16), N_DIR (3000 fitting samples),
# EDIT_MODE (fixed: directions fitted in context with F fixed; follow: fitted on whole-generator samples, --f-res 0,
# because the app then walks every layer and moves F with the edit), OUT (public/models/demo64), DIRS
# (model/checkpoints/directions64.json), ENC_OUT (model/checkpoints/encoder64.pt), RUN (runs/refresh), FIDELITY (1; 0 skips step 4),
# GUIDE (model/checkpoints/guide64: with EDIT_MODE=follow, classifier-guided direction candidates, model/demo/guided.py;
# they encode training faces, so the encoder is fine-tuned first and the directions follow on 2 threads, chosen on
# 160 other training faces inverted and edited as the app does with a photo, each with its range of W+ layers; empty: none).
# Takes ~15 min on 2 idle cores (~60 min with the guided candidates). Stop the GAN trainer first (or snapshot CK):
# the directions, encoder and pack must all come from the same generator.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
export GLIBC_TUNABLES=glibc.malloc.hugetlb=1
CK=${CK:-model/checkpoints/demo64-g_ema.pt}
F_RES=${F_RES:-16}
ENC_MINUTES=${ENC_MINUTES:-7}
N_DIR=${N_DIR:-3000}
WEIGHTS=${WEIGHTS:-1,1,0.1}   # measured: docs/DEMO_MODEL.md (30.0 dB vs 28.6 dB for 1,10,10 at lr 0.01)
ENC_INIT=${ENC_INIT:-model/checkpoints/encoder64.pt}
# no training checkpoint on this machine: fine-tune the shipped pack's encoder (model/nets/encoder.py reads its ONNX)
[ -f "$ENC_INIT" ] || ENC_INIT=public/models/demo64/encoder.onnx
EDIT_MODE=${EDIT_MODE:-fixed}
OUT=${OUT:-public/models/demo64}
DIRS=${DIRS:-model/checkpoints/directions64.json}
ENC_OUT=${ENC_OUT:-model/checkpoints/encoder64.pt}
RUN=${RUN:-runs/refresh}
GUIDE=${GUIDE:-model/checkpoints/guide64}   # the classifier-guided candidate's classifier (F follows only; GUIDE= none)
DIR_F_RES=$F_RES
guided=0
if [ "$EDIT_MODE" = follow ]; then
  DIR_F_RES=0
  [ -n "$GUIDE" ] && [ -f "$GUIDE.pt" ] && guided=1
fi
mkdir -p "$RUN"
init=()
[ -f "$ENC_INIT" ] && init=(--init "$ENC_INIT")

directions() {
  $PY -m model.demo.directions --generator "$CK" --f-res "$DIR_F_RES" --n "$N_DIR" --threads "$1" "${@:2}" \
    --out "$DIRS" > "$RUN/directions.log" 2>&1 || { tail -20 "$RUN/directions.log"; exit 1; }
}
encoder() {
  $PY -m model.demo.train_encoder --checkpoint "$CK" --psi 1.0 --minutes "$ENC_MINUTES" --threads 1 "${init[@]}" \
    --out "$RUN/encoder64.pt" > "$RUN/encoder.log" 2>&1
  [ "$RUN/encoder64.pt" -ef "$ENC_OUT" ] || cp "$RUN/encoder64.pt" "$ENC_OUT"
  tail -3 "$RUN/encoder.log"
}
if [ "$guided" = 1 ]; then
  # the guided fit encodes training faces, so it waits for the encoder of this generator
  echo "== encoder fine-tune ($ENC_MINUTES min), then directions (F follows, classifier-guided candidates) on $CK"
  encoder
  directions 2 --guide "$GUIDE" --encoder "$ENC_OUT" --select-faces 160 --select-invert 300 \
    --select-codes "$RUN/select-codes.pt" --layer-search 1 --layer-search-top 3 --refine-layers 1 --parts 1 \
    --guided-out "$RUN/guided.json"
else
  echo "== directions (F at $DIR_F_RES, edit mode $EDIT_MODE) and encoder fine-tune ($ENC_MINUTES min) on $CK"
  directions 1 &
  dir_pid=$!
  encoder
  wait "$dir_pid" || exit 1
fi
grep -E '^[a-z_]+: ' "$RUN/directions.log" | cut -c1-160 || true

echo "== pack"
CK="$CK" F_RES="$F_RES" WEIGHTS="$WEIGHTS" ENC="$ENC_OUT" DIRS="$DIRS" OUT="$OUT" EDIT_MODE="$EDIT_MODE" \
  bash scripts/build-demo-pack.sh

[ "${FIDELITY:-1}" = 1 ] || exit 0
echo "== fidelity"
$PY -m model.fidelity --pack "$OUT" --checkpoint "$CK" --encoder "$OUT/encoder.onnx" \
  --n 32 --threads 2 --out "$RUN/fidelity.json"
cat "$RUN/fidelity.md"
