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


def walk_parts(zplus, parts):
    """zplus [B, numWs, D]: each part (v [D], layers) walks its layers by v; parts touch disjoint layers."""
    out = zplus
    for v, layers in parts:
        out = walk_layers(out, v, layers)
    return out


def direction_parts(direction, every):
    """A manifest direction's walks per slider unit as [(Z vector [D] float32, layers)]: its parts (schema
    direction.parts: one vector per layer group, the longest unit length), else its vector made unit on its layers
    (default `every`), as the engine's editPlan reads it."""
    if direction.get('parts'):
        return [(torch.tensor(p['vector'], dtype=torch.float32), [int(i) for i in p['layers']]) for p in direction['parts']]
    v = torch.tensor(direction['vector'], dtype=torch.float32)
    return [(v / v.norm(), [int(i) for i in (direction.get('layers') or every)])]
