"""Edit directions in Z for the demo generator: InterFaceGAN (per attribute) + GANSpace (top PCA components).

What it does
1. Samples `--n` z ~ N(0, I), pixel-normalised onto the sphere of radius sqrt(zDim) (as the engine's Z+ codes),
   renders them with the EMA generator (stored noise, no truncation) and labels them with the attribute
   classifier (model/checkpoints/classifier64.pt).
2. InterFaceGAN: for each chosen attribute, a linear classifier in Z (L2-regularised logistic regression, class
   balanced; binary attributes use the classifier's sign, regression attributes the top vs. bottom `--reg-frac`
   of the predicted value). The direction is the unit normal w / |w|. `classifierAccuracy` in the output is the
   *attribute classifier's* held-out accuracy (R^2 for regression); the linear boundary's own validation
   accuracy on 20 % of the samples is in `stats`.
3. GANSpace: PCA of w = mapping(z) over the samples. Each of the top `--pca` W components u_k is expressed as a
   Z direction by least squares: the Z vector d_k that best predicts the coordinate (w - mean) . u_k from z
   (then normalised). `explainedVariance` is the component's share of W's total variance.
4. Checks every direction as the engine applies it (CONTRACTS.md: sphere walk with steps of 0.1, on the layers
   >= `--first-ws`): on `--n-eval` fresh samples, +`--eval-alpha` sigma must raise the target attribute's score
   for most faces while the other attributes move less. Numbers go to `stats`.

Slider units: alpha in sigma units of z (a unit direction's projection of z ~ N(0, I) has sigma 1), v = alpha d,
as CONTRACTS.md "Edit" describes; ranges are [-3, 3] (InterFaceGAN's usual span) unless `--range` says otherwise.

Run (while the GAN trains, at low priority):
    nice -n 15 /usr/bin/python3 -m model.directions          # -> model/checkpoints/directions64.json
Output: {"directions": [manifest direction objects], "classifier": {"attributes": [...]}, "stats": {...}}
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
from torch.nn import functional as F

from model.classifier import load_classifier
from model.stylegan2 import Generator

# attribute id -> label shown in the app (the InterFaceGAN directions we fit)
DIRECTION_ATTRIBUTES = [
    ('male', 'Gender (male)'),
    ('smile', 'Smile'),
    ('mouth_open', 'Mouth open'),
    ('glasses', 'Glasses'),
    ('facial_hair', 'Facial hair'),
    ('hat', 'Hat'),
    ('light_hair', 'Hair colour (light)'),
    ('long_hair', 'Long hair'),
    ('dark_skin', 'Skin tone (dark)'),
    ('fatness', 'Head shape (wide)'),
    ('bald', 'Bald'),
    ('eyebrow_angle', 'Eyebrow angle'),
]


def normalise(z):
    return z * torch.rsqrt(z.pow(2).mean(-1, keepdim=True) + 1e-8)


def sphere_walk(z, v, step=0.1):
    """CONTRACTS.md edit: n = ceil(|v| / step) steps of z <- normalise(z + v / n). z [B, D], v [D] or [B, D]."""
    n = max(1, int(math.ceil(float(v.norm(dim=-1).max()) / step)))
    for _ in range(n):
        z = normalise(z + v / n)
    return z


def load_generator(path):
    ck = torch.load(path, map_location='cpu')
    cfg = ck['config']
    g = Generator(cfg['size'], cfg['style_dim'], cfg['n_mlp'], cfg['channel_multiplier'],
                  channels={int(k): v for k, v in cfg['channels'].items()}, lr_mlp=cfg['lr_mlp'])
    g.load_state_dict(ck['g_ema'])
    g.eval()
    return g, ck


@torch.no_grad()
def render(g, zplus, batch=64):
    """zplus [B, numWs, D] (already normalised) -> images [B, 3, R, R] with the stored noise."""
    out = []
    for i in range(0, zplus.shape[0], batch):
        zb = zplus[i:i + batch]
        w = g.mapping(zb.reshape(-1, zb.shape[-1])).reshape(zb.shape)
        out.append(g.synthesis(w).clamp(-1, 1))
    return torch.cat(out)


def fit_logistic(x, y, weight, l2=1e-3, iters=200):
    """Weighted L2-regularised logistic regression (LBFGS). x [N, D], y in {0, 1}. Returns (w, b)."""
    x, y, weight = (torch.as_tensor(a, dtype=torch.float64) for a in (x, y, weight))
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=iters, line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = (weight * F.binary_cross_entropy_with_logits(x @ w + b, y, reduction='none')).sum() / weight.sum()
        loss = loss + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), float(b)


def boundary(z, score, kind, reg_frac, seed=0, min_class=20):
    """InterFaceGAN-style boundary in Z: returns (unit normal, stats)."""
    n = len(z)
    if kind == 'binary':
        idx = np.arange(n)
        y = (score > 0).astype(np.float64)
    else:
        order = np.argsort(score)
        k = int(n * reg_frac)
        idx = np.concatenate([order[:k], order[-k:]])
        y = np.zeros(n)
        y[order[-k:]] = 1
    rng = np.random.default_rng(seed)
    idx = rng.permutation(idx)
    n_val = max(1, len(idx) // 5)
    val, tr = idx[:n_val], idx[n_val:]
    pos = y[tr].mean()
    if min(y[tr].sum(), (1 - y[tr]).sum()) < min_class:
        return None, {'error': f'fewer than {min_class} samples in a class', 'positiveRate': float(y[idx].mean())}
    if pos == 0 or pos == 1:
        return None, {'error': f'no {"positive" if pos == 0 else "negative"} samples', 'positiveRate': float(pos)}
    wts = np.where(y[tr] > 0.5, 0.5 / pos, 0.5 / (1 - pos))
    w, b = fit_logistic(z[tr], y[tr], wts)
    pred = z[val] @ w + b > 0
    yv = y[val] > 0.5
    acc = float((pred == yv).mean())
    bal = float(0.5 * ((pred & yv).sum() / max(yv.sum(), 1) + (~pred & ~yv).sum() / max((~yv).sum(), 1)))
    d = w / np.linalg.norm(w)
    return d, {'boundaryValAccuracy': round(acc, 4), 'boundaryValBalancedAccuracy': round(bal, 4),
               'positiveRate': round(float(y[idx].mean()), 4), 'nFit': int(len(tr))}


def ganspace(g, z, k):
    """Top-k PCA components of w = mapping(z), each expressed as a unit Z direction by least squares."""
    with torch.no_grad():
        w = g.mapping(torch.as_tensor(z, dtype=torch.float32)).double().numpy()
    mu = w.mean(0)
    wc = w - mu
    u, s, vt = np.linalg.svd(wc, full_matrices=False)
    var = s ** 2 / (len(w) - 1)
    explained = var / var.sum()
    coords = wc @ vt[:k].T                                   # [N, k]
    zc = z - z.mean(0)
    coef, *_ = np.linalg.lstsq(zc, coords, rcond=None)       # [D, k]
    out = []
    for j in range(k):
        d = coef[:, j] / np.linalg.norm(coef[:, j])
        pred = zc @ coef[:, j]
        r2 = 1 - ((coords[:, j] - pred) ** 2).mean() / coords[:, j].var()
        out.append((d, float(explained[j]), float(r2), float(np.sqrt(var[j]))))
    return out


@torch.no_grad()
def edit_effect(g, clf, z, d, alpha, num_ws, first_ws):
    """Apply +alpha d (sphere walk) on layers >= first_ws; return classifier logits before/after."""
    zt = torch.as_tensor(z, dtype=torch.float32)
    zplus = zt[:, None].repeat(1, num_ws, 1)
    edited = sphere_walk(zt, torch.as_tensor(alpha * d, dtype=torch.float32))
    zplus_e = zplus.clone()
    zplus_e[:, first_ws:] = edited[:, None]
    before = clf(render(g, zplus)).numpy()
    after = clf(render(g, zplus_e)).numpy()
    return before, after


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--generator', default='model/checkpoints/demo64-g_ema.pt')
    ap.add_argument('--classifier', default='model/checkpoints/classifier64')
    ap.add_argument('--out', default='model/checkpoints/directions64.json')
    ap.add_argument('--n', type=int, default=4000, help='samples for fitting')
    ap.add_argument('--n-eval', type=int, default=200, help='samples for the edit check')
    ap.add_argument('--pca', type=int, default=5)
    ap.add_argument('--reg-frac', type=float, default=0.3)
    ap.add_argument('--range', type=float, default=3.0)
    ap.add_argument('--eval-alpha', type=float, default=2.0)
    ap.add_argument('--first-ws', type=int, default=0, help='edit layers >= this W+ index in the check')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()

    g, gck = load_generator(args.generator)
    clf_net, cck = load_classifier(args.classifier + '.pt')
    cinfo = json.load(open(args.classifier + '.json'))
    cacc = {a['id']: a['accuracy'] for a in cinfo['attributes']}
    attrs, kinds = cck['attributes'], cck['kinds']
    num_ws, dim = g.n_latent, g.style_dim

    def clf(x):
        return torch.cat([clf_net(x[i:i + 256]) for i in range(0, len(x), 256)])

    gen = torch.Generator().manual_seed(args.seed)
    z = normalise(torch.randn(args.n, dim, generator=gen))
    imgs = render(g, z[:, None].repeat(1, num_ws, 1))
    with torch.no_grad():
        scores = clf(imgs).numpy()
    print(f'rendered + labelled {args.n} samples in {time.time() - t0:.0f} s', flush=True)
    zn = z.numpy().astype(np.float64)
    sample_stats = {a: (float((scores[:, j] > 0).mean()) if kinds[j] == 'binary' else float(scores[:, j].std()))
                    for j, a in enumerate(attrs)}

    directions, stats = [], {}
    for a, label in DIRECTION_ATTRIBUTES:
        if a not in attrs:
            continue
        j = attrs.index(a)
        d, st = boundary(zn, scores[:, j], kinds[j], args.reg_frac, args.seed)
        stats[a] = st
        if d is None:
            print(f'{a}: skipped ({st["error"]})', flush=True)
            continue
        directions.append({'id': a, 'label': label, 'kind': 'interfacegan', 'vector': [round(float(v), 6) for v in d],
                           'range': [-args.range, args.range], 'attribute': a,
                           'classifierAccuracy': round(float(cacc[a]), 4)})
        print(f'{a}: {st}', flush=True)
    for k, (d, ev, r2, sd) in enumerate(ganspace(g, zn, args.pca)):
        pid = f'pc{k}'
        directions.append({'id': pid, 'label': f'GANSpace PC{k + 1}', 'kind': 'ganspace',
                           'vector': [round(float(v), 6) for v in d], 'range': [-args.range, args.range],
                           'explainedVariance': round(ev, 4)})
        stats[pid] = {'zRegressionR2': round(r2, 4), 'wSigma': round(sd, 4)}
        print(f'{pid}: explained {ev:.3f}, z->pc R2 {r2:.3f}', flush=True)

    # edit check, the engine's way
    ze = normalise(torch.randn(args.n_eval, dim, generator=gen)).numpy()
    for dobj in directions:
        d = np.array(dobj['vector'])
        before, after = edit_effect(g, clf, ze, d, args.eval_alpha, num_ws, args.first_ws)
        delta = after - before
        st = stats[dobj['id']]
        # for every classifier output: mean shift in units of that output's spread over samples
        spread = scores.std(0) + 1e-6
        shift = np.abs(delta).mean(0) / spread
        mshift = np.abs(delta.mean(0)) / spread
        if dobj['kind'] == 'interfacegan':
            j = attrs.index(dobj['attribute'])
            others = [i for i in range(len(attrs)) if i != j]
            st['edit'] = {
                'alpha': args.eval_alpha, 'firstWs': args.first_ws,
                'fracTargetUp': round(float((delta[:, j] > 0).mean()), 4),
                'fracFlippedToPositive': (round(float(((before[:, j] <= 0) & (after[:, j] > 0)).sum()
                                                      / max((before[:, j] <= 0).sum(), 1)), 4)
                                          if kinds[j] == 'binary' else None),
                'targetShiftSigma': round(float(delta[:, j].mean() / spread[j]), 4),
                'maxOtherShiftSigma': round(float(shift[others].max()), 4),
                'maxOtherAttribute': attrs[others[int(np.argmax(shift[others]))]],
                'maxOtherOverTarget': round(float(shift[others].max() / max(abs(delta[:, j].mean() / spread[j]), 1e-6)), 4),
                # systematic (signed mean) shifts, without the per-face jitter that any z change causes
                'maxOtherMeanShiftSigma': round(float(mshift[others].max()), 4),
                'maxOtherMeanAttribute': attrs[others[int(np.argmax(mshift[others]))]],
                'maxOtherMeanOverTarget': round(float(mshift[others].max() / max(mshift[j], 1e-6)), 4),
            }
        else:
            top = np.argsort(-shift)[:3]
            st['edit'] = {'alpha': args.eval_alpha, 'firstWs': args.first_ws,
                          'topAttributes': {attrs[i]: round(float(shift[i]), 4) for i in top}}
        print(f"{dobj['id']}: {st['edit']}", flush=True)

    # pairwise cosines between InterFaceGAN directions (entanglement in Z)
    ids = [d['id'] for d in directions if d['kind'] == 'interfacegan']
    V = np.array([d['vector'] for d in directions if d['kind'] == 'interfacegan'])
    cos = V @ V.T if len(V) else np.zeros((0, 0))
    out = {
        'directions': directions,
        'classifier': {'attributes': cinfo['manifestAttributes']},
        'stats': stats,
        'meta': {
            'generator': args.generator, 'generatorStep': gck.get('step'), 'imagesSeen': gck.get('images_seen'),
            'classifier': args.classifier, 'nSamples': args.n, 'nEval': args.n_eval, 'zDim': dim, 'numWs': num_ws,
            'sampleStats': {'binaryPositiveRate/regressionStd': sample_stats},
            'cosines': {'ids': ids, 'matrix': np.round(cos, 3).tolist()},
            'units': 'alpha in sigma units of z (v = alpha * d, sphere walk as CONTRACTS.md); range [-r, r]',
            'method': __doc__.split('Run (')[0].strip(),
            'seconds': round(time.time() - t0, 1),
        },
    }
    os.makedirs(os.path.dirname(args.out) or '.', exist_ok=True)
    json.dump(out, open(args.out, 'w'), indent=1)
    print(f'wrote {args.out} ({len(directions)} directions) in {time.time() - t0:.0f} s', flush=True)


if __name__ == '__main__':
    main()
