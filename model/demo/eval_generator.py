"""Quick quality check of a demo generator checkpoint against the demo-model bars (docs/DEMO_MODEL.md):

  * domain FID of samples from z (classifier features, model.eval.fidelity.domain_fid) vs held-out faces;
  * Z+ inversion with no F (the grad_zplus_nof loss: MSE + pyramid-SSIM, Adam lr 0.01, every z re-normalised onto
    the sphere), from z = the layer-wise mean start, on held-out faces: mean PSNR after --steps;
  * the reconstruction of the same faces by the autoencoder's encoder when a training state is given.

    python3 -m model.demo.eval_generator model/checkpoints/demo64-ae-g_ema.pt --n 8 --steps 300 [--out runs/eval.json]
"""
import argparse
import json
import time

import torch

from model.eval.fidelity import Classifier, domain_fid, load_faces
from model.eval.inversion_common import load_bundle, psnr
from model.nets.perceptual import PyramidSSIM


def invert_zplus_nof(bundle, target, steps=300, lr=0.01, weights=(1.0, 1.0), seed=0):
    """Batch of faces, each with its own loss: Z+ through mapping + truncation + synthesis (no F)."""
    perc = PyramidSSIM(bundle.size)
    b = target.shape[0]
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(b, 1, bundle.z_dim, generator=g).repeat(1, bundle.num_ws, 1)
    z = z * torch.rsqrt(z.pow(2).mean(-1, keepdim=True) + 1e-8)
    z.requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr, betas=(0.9, 0.999))
    for _ in range(steps):
        img = bundle.G.synthesis(bundle.zplus_to_wplus(z))
        loss = sum(weights[0] * (img[i] - target[i]).pow(2).mean() + weights[1] * perc(img[i:i + 1], target[i:i + 1])
                   for i in range(b))
        opt.zero_grad(); loss.backward(); opt.step()
        with torch.no_grad():
            z.mul_(torch.rsqrt(z.pow(2).mean(-1, keepdim=True) + 1e-8))
    with torch.no_grad():
        return psnr(bundle.G.synthesis(bundle.zplus_to_wplus(z)), target)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('checkpoint')
    ap.add_argument('--data', default='data/faces-64')
    ap.add_argument('--classifier', default='model/checkpoints/classifier64.onnx')
    ap.add_argument('--classifier-meta', default='model/checkpoints/classifier64.json')
    ap.add_argument('--n', type=int, default=8)
    ap.add_argument('--offset', type=int, default=8)
    ap.add_argument('--steps', type=int, default=300)
    ap.add_argument('--fid-n', type=int, default=1000)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--out')
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    bundle = load_bundle(args.checkpoint)
    with open(args.classifier_meta) as f:
        attrs = json.load(f)['attributes']
    report = {'checkpoint': args.checkpoint}
    t0 = time.time()
    report['fid'] = domain_fid(bundle, Classifier(args.classifier, attrs), args.data, args.fid_n)
    target = load_faces(args.data, 'heldout', n=args.n, start=args.offset)
    p = invert_zplus_nof(bundle, target, args.steps)
    report['zplus_nof'] = dict(n=args.n, offset=args.offset, steps=args.steps, psnr_mean=round(p.mean().item(), 2),
                               psnr_min=round(p.min().item(), 2))
    report['seconds'] = round(time.time() - t0, 1)
    print(json.dumps(report, indent=1))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=1)


if __name__ == '__main__':
    main()
