"""Quick quality check of a demo generator checkpoint against the demo-model bars (docs/DEMO_MODEL.md):

  * domain FID of samples from z (classifier features, model.eval.fidelity.domain_fid) vs held-out faces;
  * Z+ inversion with no F (the exported grad_zplus_nof graph function: MSE + pyramid-SSIM, Adam at --lr, default
    0.01, every z re-normalised onto the sphere, as model.fidelity --spaces), on held-out faces: mean PSNR after
    --steps. The start: random z on the sphere, or with --encoder the encoder's Z+ of each face (the app's start).

    python3 -m model.demo.eval_generator model/checkpoints/demo64-ae-g_ema.pt --n 8 --steps 300 [--out runs/eval.json]
"""
import argparse
import json
import time

import torch

from model.eval.fidelity import Classifier, domain_fid, load_faces, load_pack_model
from model.eval.spaces import SPACES, Codes, invert_space, start_codes
from model.export.graphs import PackModel
from model.load.checkpoint import load_checkpoint
from model.nets.perceptual import PyramidSSIM


def invert_zplus_nof(checkpoint, target, steps=300, lr=0.01, weights=(1.0, 1.0, 0.1), f_res=16, encoder=None):
    """PSNR [n] of Z+ inversion with no F through the exported grad_zplus_nof graph function (model.eval.spaces:
    the same per-face Adam as the engine), no truncation, from random z on the sphere or from `encoder`'s Z+."""
    L = load_checkpoint(checkpoint)
    pm = PackModel(L.G, L.w_avg, f_res, 1.0, 0, PyramidSSIM(L.G.size))
    cd, sp = Codes(pm), SPACES['Z+']
    enc_z = None
    if encoder:
        from model.nets.encoder import load_encoder
        enc, _ = load_encoder(encoder)
        with torch.no_grad():
            enc_z = enc(target, f_res)[1]
    f0, c0 = start_codes(cd, sp, None, enc_z, target.shape[0])
    _, _, rec, _ = invert_space(cd, sp, target, f0, c0, weights, steps, lr, record=(steps,), log=None)
    return rec[steps]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('checkpoint')
    ap.add_argument('--data', default='data/faces-64')
    ap.add_argument('--classifier', default='model/checkpoints/classifier64.onnx')
    ap.add_argument('--classifier-meta', default='model/checkpoints/classifier64.json')
    ap.add_argument('--n', type=int, default=8)
    ap.add_argument('--offset', type=int, default=8)
    ap.add_argument('--steps', type=int, default=300)
    ap.add_argument('--lr', type=float, default=0.01, help="the Z+ inversion's Adam rate")
    ap.add_argument('--encoder', default=None, help="start the Z+ inversion from this encoder's Z+ (else random z)")
    ap.add_argument('--no-fid', action='store_true', help='only the inversion')
    ap.add_argument('--fid-n', type=int, default=1000)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--out')
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    bundle = load_pack_model(args.checkpoint)
    with open(args.classifier_meta) as f:
        attrs = json.load(f)['attributes']
    report = {'checkpoint': args.checkpoint}
    t0 = time.time()
    if not args.no_fid:
        report['fid'] = domain_fid(bundle, Classifier(args.classifier, attrs), args.data, args.fid_n)
    target = load_faces(args.data, 'heldout', n=args.n, start=args.offset)
    p = invert_zplus_nof(args.checkpoint, target, args.steps, lr=args.lr, encoder=args.encoder)
    report['zplus_nof'] = dict(n=args.n, offset=args.offset, steps=args.steps, lr=args.lr, start=args.encoder or 'random',
                               psnr_mean=round(p.mean().item(), 2),
                               psnr_min=round(p.min().item(), 2))
    report['seconds'] = round(time.time() - t0, 1)
    print(json.dumps(report, indent=1))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=1)


if __name__ == '__main__':
    main()
