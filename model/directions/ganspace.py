"""GANSpace (Härkönen et al. 2020) for any StyleGAN2 checkpoint: unsupervised edit directions.

Recipe (GANSpace's StyleGAN one): PCA of w = mapping(z) over `n` (default 1e5) z on the sphere, accumulated in
chunks (model/directions/latent.py: memory does not grow with n). Each principal axis u_k of W is an edit in W
(W+ spaces: w += alpha * wSigma * u_k, wSigma = the axis's spread, sqrt of its eigenvalue, so alpha is in sigma of
that component on every model). For the Z+ spaces it is mapped back to Z by regression (model/directions/convert.py:
d_k = the Z direction that predicts the coordinate best, zScale = the measured Z walk per W-sigma).

Layer range, measured: W+ layers are taken in groups (pairs; fours above 128 px; split at fBlock.firstWs). For
each component, +EDIT_ALPHA sigma is applied to one group at a time, as the engine edits (sphere walk on those
layers, mapping, truncation, synthesis), on random faces (4 up to 128 px, 2 at 256, 1 above; from 256 px on the
central half of the image: LatentModel.window), and the mean |pixel change| (0-255) is measured.
Every group changes the image for any edit (coarse groups most), so each group's change is divided by what
BASELINE random Z directions (+EDIT_ALPHA z-sigma) change on that group: the profile says where the component acts
more than a typical edit. The range is the run of groups around the profile's peak that stay >= GROUP_SHARE of
it: "PC1 (layers 0-3)". Then the whole effect on that range is measured, and the effect with F fixed (synthesis_from_f
from the faces' own F, only the layers >= fBlock.firstWs walked): a component whose change from F is under VISIBLE
gets `offerInF: false`, so the F/Z+ and F/W+ editors do not list it.
"""
import time

import numpy as np
import torch

from model.directions.convert import w_to_z
from model.directions.entries import entry_errors, finalise
from model.directions.latent import LatentStats, sample_z
from model.directions.walk import walk_layers

EDIT_ALPHA = 2.0
GROUP_SHARE = 0.5
BASELINE = 3
VISIBLE = 0.5       # mean |pixel change| in 0-255 levels at +2 sigma that counts as a visible edit
DEFAULT_K = 12
DEFAULT_N = 100_000


def layer_groups(num_ws, first_ws):
    """[[0, 1], [2, 3], ...]: the W+ codes in pairs (fours above 12 codes, i.e. above 128 px: each measurement is a
    render), never straddling first_ws (F fixes the layers below it)."""
    size = 2 if num_ws <= 12 else 4
    groups, cur = [], []
    for i in range(num_ws):
        if cur and (len(cur) == size or i == first_ws):
            groups.append(cur)
            cur = []
        cur.append(i)
    groups.append(cur)
    return groups


def faces_for(resolution):
    """Faces per effect measurement: fewer at large sizes, where each render costs seconds on a CPU."""
    return 4 if resolution <= 128 else 2 if resolution <= 256 else 1


def pixel_change(a, b):
    """Mean |a - b| over pixels and faces, images in [-1, 1] clamped as displayed, in 0-255 levels."""
    return float((a.clamp(-1, 1) - b.clamp(-1, 1)).abs().mean() * 127.5)



class Faces:
    """Random faces (one z per face on every layer) with their renders and F: the base of every effect measurement."""

    @torch.no_grad()
    def __init__(self, model, n, seed=7):
        self.model = model
        gen = torch.Generator().manual_seed(seed)
        self.zplus = sample_z(n, model.z_dim, gen)[:, None].repeat(1, model.num_ws, 1)
        wplus = model.wplus(self.zplus)
        self.image = model.render(wplus)
        self.f = model.features(wplus)
        self.image_f = model.render_from_f(self.f, wplus)

    @torch.no_grad()
    def effect(self, v, layers, from_f=False):
        """Mean |pixel change| when every face's z walks by v (a Z vector) on `layers`."""
        m = self.model
        if from_f:
            layers = [i for i in layers if i >= m.first_ws]
            if not layers:
                return 0.0
        zp = walk_layers(self.zplus, torch.as_tensor(v, dtype=torch.float32), layers)
        wplus = m.wplus(zp)
        if from_f:
            return pixel_change(m.interior(m.render_from_f(self.f, wplus)), m.interior(self.image_f))
        return pixel_change(m.interior(m.render(wplus)), m.interior(self.image))


def baseline(faces, groups, n=BASELINE, seed=11):
    """Mean |pixel change| per group of n random unit Z directions walked +EDIT_ALPHA: a typical edit's change."""
    gen = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(torch.randn(n, faces.model.z_dim, generator=gen), dim=1)
    return [float(np.mean([faces.effect(EDIT_ALPHA * d, g) for d in dirs])) for g in groups]


def choose_layers(effects, base, groups, share=GROUP_SHARE):
    """The run of groups around the peak of the component's change relative to a typical edit's, where that
    ratio stays >= share of the peak."""
    profile = [e / max(b, 1e-9) for e, b in zip(effects, base)]
    top = max(profile)
    if top <= 0:
        return [i for g in groups for i in g], profile
    a = b = int(np.argmax(profile))
    while a > 0 and profile[a - 1] >= share * top:
        a -= 1
    while b + 1 < len(profile) and profile[b + 1] >= share * top:
        b += 1
    return [i for g in groups[a:b + 1] for i in g], profile


def layer_label(layers):
    return f'layers {layers[0]}\u2013{layers[-1]}' if len(layers) > 1 else f'layer {layers[0]}'


def ganspace_directions(model, k=DEFAULT_K, n=DEFAULT_N, seed=0, faces=None, stats=None, log=print):
    """-> (manifest direction entries, report). model: a LatentModel that can render (export time)."""
    t0 = time.time()
    stats = stats or LatentStats.sample(model, n=n, seed=seed, log=log)
    t_stats = time.time() - t0
    U, var, total = stats.pca(k)
    base = Faces(model, faces or faces_for(model.resolution))
    groups = layer_groups(model.num_ws, model.first_ws)
    base_effect = baseline(base, groups)
    entries, rows = [], []
    for j, (u, lam) in enumerate(zip(U, var)):
        conv = w_to_z(model, stats, u, float(np.sqrt(lam)), what=f'PC{j + 1}')
        v = EDIT_ALPHA * conv['zScale'] * conv['vector']
        per_group = [base.effect(v, g) for g in groups]
        layers, profile = choose_layers(per_group, base_effect, groups)
        whole, from_f = base.effect(v, layers), base.effect(v, layers, from_f=True)
        label = f'PC{j + 1} ({layer_label(layers)})'
        e = {'id': f'pc{j + 1}', 'label': label, 'kind': 'ganspace', 'space': 'w',
             'vector': conv['vector'], 'range': [-3.0, 3.0], 'layers': layers,
             'explainedVariance': round(float(lam / total), 5),
             'wVector': conv['wVector'], 'wSigma': round(conv['wSigma'], 6), 'zScale': round(conv['zScale'], 4),
             'conversion': conv['conversion'],
             'effect': {'whole': round(whole, 3), 'fromF': round(from_f, 3)},
             'offerInF': bool(from_f >= VISIBLE),
             'source': f'GANSpace: PCA of W over {stats.n} samples (model/directions/ganspace.py)'}
        e = finalise(e)
        assert not entry_errors(e), entry_errors(e)
        entries.append(e)
        rows.append({'id': e['id'], 'layers': [layers[0], layers[-1]], 'perGroup': [round(x, 3) for x in per_group],
                     'profile': [round(x, 3) for x in profile],
                     'whole': e['effect']['whole'], 'fromF': e['effect']['fromF'], 'offerInF': e['offerInF'],
                     'explained': e['explainedVariance'], **conv['conversion']})
        log(f'  {label}: explained {lam / total:.3f}, z R^2 {conv["conversion"]["r2"]:.2f}, gain '
            f'{conv["conversion"]["gain"]:.2f}, cos {conv["conversion"]["cosine"]:.2f} ({conv["conversion"]["method"]}); '
            f'pixel change per group {[round(x, 1) for x in per_group]} (x typical {[round(x, 2) for x in profile]}), '
            f'on its layers {whole:.1f}, from F {from_f:.1f}'
            + ('' if e['offerInF'] else ' (not offered with F fixed)'))
    log(f'  typical edit (+{EDIT_ALPHA} z-sigma, {BASELINE} random directions) per group: '
        f'{[round(x, 1) for x in base_effect]}')
    report = {'samples': stats.n, 'k': k, 'faces': len(base.zplus), 'groups': groups, 'statsSeconds': round(t_stats, 1),
              'baseline': [round(x, 3) for x in base_effect],
              'seconds': round(time.time() - t0, 1), 'components': rows}
    log(f'  GANSpace: {k} components in {report["seconds"]:.0f} s (W statistics {t_stats:.0f} s)')
    return entries, report
