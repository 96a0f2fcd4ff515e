#!/usr/bin/env bash
# Build the demo model pack public/models/demo64 (what the app ships) from the latest demo generator:
#   1. (optional, TRAIN_ENC=1) retrain the inversion-start encoder on this generator (model/demo/train_encoder.py)
#   2. export the generator with the toolchain (python3 -m model.export): mapping, synthesis, features,
#      synthesis_from_f and the four gradient graphs, weights shared in weights.bin
#   3. add the extras (python3 -m model.demo.pack_extras): encoder, attribute classifier, labelled directions,
#      8 held-out sample faces, licence/provenance; re-hash, validate against the schema, check <= 30 MB,
#      run the extra graphs in onnxruntime-node.
# Settings (environment): CK, ENC, CLF, CLF_META, DIRS, OUT, F_RES, PSI, TL, WEIGHTS, TRAIN_ENC, ENC_MINUTES,
# EDIT_MODE (fixed|follow: the manifest's editing.fMode, the app's default; unset = the engine default, fixed).
# F_RES / WEIGHTS defaults come from the measurement in docs/DEMO_MODEL.md (model/eval/fidelity.py).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
CK=${CK:-model/checkpoints/demo64-g_ema.pt}
ENC=${ENC:-model/checkpoints/encoder64.pt}
CLF=${CLF:-model/checkpoints/classifier64.onnx}
CLF_META=${CLF_META:-model/checkpoints/classifier64.json}
DIRS=${DIRS:-model/checkpoints/directions64.json}
OUT=${OUT:-public/models/demo64}
F_RES=${F_RES:-16}   # measured: docs/DEMO_MODEL.md (F32 38 dB but edits invisible; F8 22 dB)
PSI=${PSI:-1.0}
TL=${TL:-8}
WEIGHTS=${WEIGHTS:-1,1,0.1}   # measured sweep in docs/DEMO_MODEL.md
TRAIN_ENC=${TRAIN_ENC:-0}
ENC_MINUTES=${ENC_MINUTES:-15}
LICENCE=${LICENCE:-"MIT (F/Z+ Studio demo weights, trained from scratch; no third-party weights)"}
SOURCE=${SOURCE:-"F/Z+ Studio demo StyleGAN2 64 px, trained from scratch on facesjs drawings (model/demo/train_gan.py, then reconstruction-first with model/demo/train_autoencoder.py)"}
export GLIBC_TUNABLES=glibc.malloc.hugetlb=1
NICE="nice -n 15"

[ -f "$CK" ] || { echo "build-demo-pack: no generator checkpoint $CK (train it: model/demo/train_gan.py)" >&2; exit 2; }
if [ "$TRAIN_ENC" = 1 ] || [ ! -f "$ENC" ]; then
  echo "== training the encoder on $CK ($ENC_MINUTES min)"
  $NICE $PY -m model.demo.train_encoder --checkpoint "$CK" --psi "$PSI" --trunc-layers "$TL" --minutes "$ENC_MINUTES" --out "$ENC"
fi

# the export empties OUT first: an input that lies inside it (rebuilding a pack from its own encoder.onnx) is read
# from a copy
KEEP=$(mktemp -d)
trap 'rm -rf "$KEEP"' EXIT
outside() {
  case "$(realpath -m "$1")" in
    "$(realpath -m "$OUT")"/*) [ -f "$1" ] && cp "$1" "$KEEP/" && echo "$KEEP/$(basename "$1")" || echo "$1" ;;
    *) echo "$1" ;;
  esac
}
ENC=$(outside "$ENC"); DIRS=$(outside "$DIRS"); CLF=$(outside "$CLF"); CLF_META=$(outside "$CLF_META")

GRAPHS=grad_fzplus,grad_fwplus,grad_wplus,grad_zplus_nof
# follow mode inverts F/Z+ with the anchored F term (small residual F - F_gen(W+); src/engine/inversion/spaces.ts)
[ "${EDIT_MODE:-}" = follow ] && GRAPHS=$GRAPHS,grad_fzplus_anchored
echo "== exporting $CK -> $OUT (F block $F_RES, psi $PSI on layers < $TL, loss weights $WEIGHTS)"
$NICE $PY -m model.export "$CK" "$OUT" --name demo64 --title "Demo faces 64 px (facesjs)" \
  --f-res "$F_RES" --psi "$PSI" --trunc-layers "$TL" --default-weights "$WEIGHTS" \
  --graphs "$GRAPHS" --licence "$LICENCE" --weights-source "$SOURCE" \
  --ganspace 0  # the demo's directions (classifier-fitted + GANSpace) come from $DIRS below

extras=(--encoder "$ENC" --samples-data data/faces-64 --samples 8 --samples-offset 0 --facesjs-credit
        --licence "$LICENCE" --weights-source "$SOURCE" --max-mb 30 --verify
        --description "Our own StyleGAN2 trained on procedurally drawn faces (facesjs), with an inversion encoder, an attribute classifier and labelled edit directions. Not a photo model: it inverts and edits facesjs-style drawings.")
GEN_INFO=$($PY -c "import sys; from model.load.checkpoint import load_torch_file; c=load_torch_file(sys.argv[1]); print(f\"step {c.get('step','?')}, {c.get('images_seen','?')} images seen ({c.get('training','model/demo/train_gan.py')})\")" "$CK")
extras+=(--doc-extra "Generator training=$GEN_INFO"
         --doc-extra "Encoder=model/demo/train_encoder.py (self-supervised on generator samples + real-face reconstruction), head for F block $F_RES"
         --doc-extra "Fidelity=measured by model/eval/fidelity.py, numbers in docs/DEMO_MODEL.md")
[ -n "${EDIT_MODE:-}" ] && extras+=(--edit-mode "$EDIT_MODE")
if [ -f "$DIRS" ]; then extras+=(--directions "$DIRS"); else echo "(no directions at $DIRS)"; fi
if [ -f "$CLF" ]; then extras+=(--classifier "$CLF" --classifier-meta "$CLF_META"); else echo "(no classifier at $CLF)"; fi
$NICE $PY -m model.demo.pack_extras "$OUT" "${extras[@]}"
chmod 755 "$OUT" "$OUT/samples"
du -sh "$OUT"
