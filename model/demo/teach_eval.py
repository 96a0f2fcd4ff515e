"""How well "Teach a slider" (the app's src/engine/edit/teach.ts) works on the demo generator, measured with the
attribute classifier: teach an attribute from 4 faces with it + 4 without, apply the slider to 16 other faces, and
count how often the classifier's score for that attribute rises.

Faces are the generator's own (z on the sphere, the same z on every layer, i.e. a perfect Z+ inversion), rendered as
the app edits: with `--edit-mode follow` (the demo pack's default) every layer walks and F follows
(F = features(W+_edit), the residual of a generated face being 0); with `fixed` F = features(W+(z)) stays and the
layers >= firstWs walk (the paper's edit). synthesis_from_f either way. Labels come from
the classifier (binary attributes: logit > 0). The fit mirrors teach.ts: per layer, the difference of the class means
of the z's projected onto the tangent space at their midpoint, summed over layers, made unit; zScale = half the mean
class gap along it (clamped to [0.25, 4]). The edit is +2 on the slider (a walk of 2 * zScale).
Each attribute is taught `--draws` times from different random examples and test faces; the report gives the
success rate (share of the 16 test faces whose score rose) over the draws.

    taskset -c 1 nice -n 10 /usr/bin/python3 -m model.demo.teach_eval [--attributes glasses smile hat] [--draws 10]
"""
import argparse
import json

import numpy as np
import torch

from model.demo.directions import load_generator
from model.directions.walk import normalise, sphere_walk
from model.nets.classifier import load_classifier


def fit_taught(z_with, z_without):
    """z_* [n, numWs, D] -> (unit direction [D], mean class gap along it), as src/engine/edit/teach.ts."""
    a, b = z_with.mean(0), z_without.mean(0)
    d, p = a - b, a + b
    p_hat = p / p.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    tangent = d - (d * p_hat).sum(-1, keepdim=True) * p_hat
    u = tangent.sum(0)
    u = u / u.norm()
    gap = float((d @ u).mean())
    return u, gap


@torch.no_grad()
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--generator', default='model/checkpoints/demo64-g_ema.pt')
    ap.add_argument('--classifier', default='model/checkpoints/classifier64.pt')
    ap.add_argument('--attributes', nargs='+', default=['glasses', 'smile', 'hat'])
    ap.add_argument('--pool', type=int, default=1500, help='random faces to draw examples and test faces from')
    ap.add_argument('--examples', type=int, default=4, help='faces with, and faces without, per slider')
    ap.add_argument('--test', type=int, default=16)
    ap.add_argument('--draws', type=int, default=10)
    ap.add_argument('--f-res', type=int, default=16)
    ap.add_argument('--edit-mode', choices=['follow', 'fixed'], default='follow')
    ap.add_argument('--alpha', type=float, default=2.0)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    g, _ = load_generator(args.generator)
    clf, cck = load_classifier(args.classifier)
    attrs, kinds = cck['attributes'], cck['kinds']
    num_ws, dim, first = g.n_latent, g.style_dim, g.first_ws(args.f_res)
    gen = torch.Generator().manual_seed(args.seed)

    z = normalise(torch.randn(args.pool, dim, generator=gen))
    zplus = z[:, None].repeat(1, num_ws, 1)
    wplus = g.mapping(z)[:, None].repeat(1, num_ws, 1)
    f = torch.cat([g.features(wplus[i:i + 64], args.f_res) for i in range(0, args.pool, 64)])
    render = lambda ff, wp: torch.cat([g.synthesis_from_f(ff[i:i + 64], wp[i:i + 64], args.f_res).clamp(-1, 1) for i in range(0, len(wp), 64)])
    score = lambda img: torch.cat([clf(img[i:i + 256]) for i in range(0, len(img), 256)])
    base = score(render(f, wplus))
    rng = np.random.default_rng(args.seed)
    report = {}
    for a in args.attributes:
        j = attrs.index(a)
        binary = kinds[j] == 'binary'
        has = (base[:, j] > 0).numpy() if binary else (base[:, j] > base[:, j].median()).numpy()
        rates = []
        for _ in range(args.draws):
            pos = rng.choice(np.flatnonzero(has), args.examples, replace=False)
            neg = rng.choice(np.flatnonzero(~has), args.examples, replace=False)
            rest = np.setdiff1d(np.arange(args.pool), np.concatenate([pos, neg]))
            test = rng.choice(rest, args.test, replace=False)
            u, gap = fit_taught(zplus[pos], zplus[neg])
            z_scale = min(4.0, max(0.25, gap / 2))
            edited = zplus[test].clone()
            walked_from = 0 if args.edit_mode == 'follow' else first
            edited[:, walked_from:] = sphere_walk(z[test], args.alpha * z_scale * u)[:, None]
            w_e = g.mapping(edited.reshape(-1, dim)).reshape(len(test), num_ws, dim)
            f_e = g.features(w_e, args.f_res) if args.edit_mode == 'follow' else f[test]
            after = score(render(f_e, w_e))[:, j]
            rates.append(float((after > base[test, j]).float().mean()))
        report[a] = {'meanRate': round(float(np.mean(rates)), 3), 'minRate': round(float(np.min(rates)), 3),
                     'maxRate': round(float(np.max(rates)), 3), 'draws': args.draws, 'examples': args.examples,
                     'test': args.test, 'share_with_in_pool': round(float(has.mean()), 3), 'editMode': args.edit_mode}
        print(f'{a}: score rose on {np.mean(rates):.0%} of {args.test} test faces on average '
              f'(min {np.min(rates):.0%}, max {np.max(rates):.0%} over {args.draws} draws of {args.examples} + {args.examples} examples)',
              flush=True)
    print(json.dumps(report))


if __name__ == '__main__':
    main()
