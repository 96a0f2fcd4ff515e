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


def direction_parts(direction, num_ws, first=0):
    """A manifest direction's walks per slider unit as [(Z vector [D] float32, layers)], as the engine's editPlan
    reads it: its parts (schema direction.parts), else its vector made unit on its layers (default: every layer from
    `first`). Layers below `first` (F fixed: fBlock.firstWs) are dropped; a plain direction left with none walks every
    layer from `first`, a direction with parts walks only the parts that remain."""
    every = list(range(first, num_ws))
    if direction.get('parts'):
        raw = [(torch.tensor(p['vector'], dtype=torch.float32), [int(i) for i in p['layers']]) for p in direction['parts']]
    else:
        v = torch.tensor(direction['vector'], dtype=torch.float32)
        raw = [(v / v.norm(), [int(i) for i in (direction.get('layers') or every)])]
    kept = [(v, [i for i in ls if i >= first]) for v, ls in raw]
    kept = [(v, ls) for v, ls in kept if ls]
    return kept or ([] if direction.get('parts') else [(raw[0][0], every)])
