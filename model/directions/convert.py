"""W directions in the Z+ spaces: the fitted W->Z conversion, and its measurement.

The app edits Z+ codes by sphere walks in Z (docs/CONTRACTS.md). A direction u defined in W (GANSpace's principal
axes, e4e/pSp and InterFaceGAN `_w` boundaries) is walked in Z along a fitted d. Two fits from the W statistics
(model/directions/latent.py), both linear in the sampled (z, w):
    regression  d ~ b, the least squares of the W coordinate x = (w - mean) . u on z: the Z direction that predicts
                x best (GANSpace's map back to Z). For a principal axis of W it walks W along that axis; for other
                W directions it leans towards W's high-variance axes.
    inverse     d ~ (A^T A + r I)^-1 A^T u, with w ~ A z + c the least-squares linear model of the mapping (A is the
                mean Jacobian, by Stein's lemma): the Z direction whose modelled W displacement is u, ridge r relative
                to A's largest squared singular value.
Each candidate is walked as the engine walks (+alpha z-sigma on the sphere, `n` fresh z, mapping) and measured:
    gain    = mean(dw . u) / (alpha * wSigma)      W-sigma moved per z-sigma walked (zScale = 1 / gain)
    cosine  = cos(mean dw, u)                       how much of the mean displacement lies along u
and the one with the highest cosine is kept; its numbers, re-measured on other z, go to the manifest's
`conversion`. The slider unit of a W direction is the spread of x (`wSigma`); zScale makes a slider mean the same
in Z+ (v = alpha * zScale * d) and in W+ (w += alpha * wSigma * u).
A direction whose coordinate does not depend on z (R^2 < MIN_R2) or whose best Z walk does not move along it
(cosine < MIN_COSINE) cannot be followed in the Z+ spaces: ConversionError names it.
"""
import numpy as np
import torch

from model.directions.latent import sample_z
from model.directions.walk import sphere_walk

MIN_R2 = 0.05
MIN_COSINE = 0.3


class ConversionError(ValueError):
    pass


def unit(v):
    v = np.asarray(v, np.float64).reshape(-1)
    return v / np.linalg.norm(v)


@torch.no_grad()
def measure_z_walk(model, d, u, w_sigma, alpha=2.0, n=512, seed=1):
    """(gain, cosine) of walking Z along d as measured in W along u (module docstring)."""
    gen = torch.Generator().manual_seed(seed)
    z = sample_z(n, model.z_dim, gen)
    zw = sphere_walk(z, torch.as_tensor(alpha * d, dtype=torch.float32))
    dw = (model.mapping(zw) - model.mapping(z)).double().numpy().mean(0)
    gain = float(dw @ u) / (alpha * w_sigma) if w_sigma > 0 else 0.0
    cos = float(dw @ u / max(np.linalg.norm(dw), 1e-30))
    return gain, cos


RIDGES = (1e-3, 1e-2, 1e-1)


def candidates(stats, u):
    """{name: (unit Z direction, extra conversion fields)} for a unit W direction u."""
    b, _ = stats.regress(u)
    out = {'regression': (b, {})}
    A = stats.linear_map()
    s_max = np.linalg.norm(A, 2)
    for r in RIDGES:
        d = np.linalg.solve(A.T @ A + r * s_max ** 2 * np.eye(A.shape[1]), A.T @ u)
        out[f'inverse-{r:g}'] = (d, {'ridge': r})
    return {k: (unit(d), f) for k, (d, f) in out.items() if np.all(np.isfinite(d)) and np.linalg.norm(d) > 0}


def w_to_z(model, stats, u, w_sigma=None, what='direction', n=512):
    """Fields of a manifest direction for a W direction u: vector (Z), zScale, wVector, wSigma, conversion."""
    u = unit(u)
    _, r2 = stats.regress(u)
    sigma = float(w_sigma) if w_sigma else stats.sigma(u)
    if r2 < MIN_R2 or not sigma > 0:
        raise ConversionError(f'{what}: a W direction the Z+ spaces cannot follow (only R^2 = {r2:.3f} of its W '
                              f'coordinate is predictable from z; at least {MIN_R2} is needed, since the app edits Z+ '
                              f'codes by sphere walks in Z)')
    scored = []
    for name, (d, extra) in candidates(stats, u).items():
        gain, cos = measure_z_walk(model, d, u, sigma, n=n, seed=1)
        scored.append((cos, gain, name, d, extra))
    cos, gain, name, d, extra = max(scored, key=lambda t: t[0])
    gain, cos = measure_z_walk(model, d, u, sigma, n=n, seed=2)  # fresh z for the reported numbers
    if cos < MIN_COSINE or gain <= 0:
        raise ConversionError(f'{what}: a W direction the Z+ spaces cannot follow (its best Z walk moves W at '
                              f'cos {cos:.2f} to it, at least {MIN_COSINE} is needed)')
    return {'vector': d, 'zScale': 1.0 / gain, 'wVector': u, 'wSigma': sigma,
            'conversion': {'method': name.split('-')[0], **extra, 'r2': round(r2, 4), 'gain': round(gain, 4),
                           'cosine': round(cos, 4), 'samples': int(stats.n)}}
