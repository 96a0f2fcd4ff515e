"""The engine's Z+ conventions in PyTorch (docs/CONTRACTS.md): codes on the sphere of radius sqrt(zDim), edits as
sphere walks. The app does the same in src/engine/math/sphere.ts."""
import math

import torch


def normalise(z):
    """Pixel-norm: z * rsqrt(mean z^2), onto the sphere of radius sqrt(zDim)."""
    return z * torch.rsqrt(z.pow(2).mean(-1, keepdim=True) + 1e-8)


def sphere_walk(z, v, step=0.1):
    """n = ceil(|v| / step) steps of z <- normalise(z + v / n). z [B, D], v [D] or [B, D]."""
    n = max(1, int(math.ceil(float(v.norm(dim=-1).max()) / step)))
    for _ in range(n):
        z = normalise(z + v / n)
    return z


def walk_layers(zplus, v, layers):
    """zplus [B, numWs, D]: walk the given layers by v ([D]); the others stay."""
    out = zplus.clone()
    layers = list(layers)
    if layers:
        walked = sphere_walk(zplus[:, layers].reshape(-1, zplus.shape[-1]), v)
        out[:, layers] = walked.reshape(zplus.shape[0], len(layers), -1)
    return out
