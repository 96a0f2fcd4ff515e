"""Weights recipes (schema/recipe.schema.json): the ops, and a pack from a checkpoint by a template's recipe.

The ops are defined here once; the app's in-browser conversion (src/engine/convert/recipe.ts) follows them step by
step in float32 (each product and each partial sum rounded to float32, sums in index order), so both write the same
weights.bin bytes. Templates are built by model/export/template.py.
"""
import hashlib
import json
import math
import os
import shutil
import tempfile
import time

import numpy as np
import torch

from model.export.manifest import validate as validate_manifest
from model.load.checkpoint import CheckpointError, load_checkpoint, load_torch_file

RECIPE_VERSION = 1
W_AVG_SAMPLES = 10_000
W_AVG_SEED = 1
LR_MLP = 0.01


def arch_of(G):
    """The architecture key a checkpoint must match: what shapes the graphs."""
    return {'size': G.size, 'styleDim': G.style_dim, 'zDim': G.z_dim, 'nMlp': G.n_mlp,
            'channels': {str(k): int(v) for k, v in sorted(G.channels.items())}}


# ---- ops: the one definition both appliers follow --------------------------------------------------------------
f32 = np.float32


def op_apply(entry, src):
    """One recipe entry -> float32 array (C order, entry['shape']). src: key -> float32 array (C order).
    scale:  x * scale (float32 product), viewed as `view`, axes permuted by `perm`, taps reversed (`flip`: the last
            two axes), then `slice` [axis, start, end] taken.
    sqsum:  sum over the last axis of `view` of (x * scale)^2, each square and each partial sum rounded to float32,
            in index order; then `perm`.
    mul:    src[0] * src[1][0] (a noise buffer times its scalar strength).
    """
    op = entry['op']
    if op == 'scale':
        x = src[entry['src'][0]].reshape(entry.get('view', [-1])) * f32(entry.get('scale', 1.0))
        if entry.get('perm'):
            x = x.transpose(entry['perm'])
        if entry.get('flip'):
            x = x[..., ::-1, ::-1]
        if entry.get('slice'):
            axis, start, end = entry['slice']
            x = x[(slice(None),) * axis + (slice(start, end),)]
    elif op == 'sqsum':
        w = src[entry['src'][0]].reshape(entry['view'])
        s = f32(entry.get('scale', 1.0))
        acc = np.zeros(w.shape[:-1], f32)
        for k in range(w.shape[-1]):
            v = w[..., k] * s
            acc = acc + v * v
        x = acc.transpose(entry['perm']) if entry.get('perm') else acc
    elif op == 'mul':
        x = src[entry['src'][0]] * src[entry['src'][1]].reshape(-1)[0]
    else:
        raise ValueError(f'unknown recipe op {op!r}')
    x = np.ascontiguousarray(x, dtype=f32)
    return x.reshape(entry['shape']) if entry.get('shape') is not None else x


# ---- w_avg when the checkpoint has none: the app's algorithm (src/engine/convert/wavg.ts) ------------------------
def mulberry32_randn(n, seed):
    """src/engine/math/rng.ts randn(n, seed): mulberry32 uniforms, Box-Muller pairs, rounded to float32."""
    m = (n + 1) // 2 * 2
    idx = np.arange(1, m + 1, dtype=np.uint64)
    a = ((np.uint64(seed) + idx * np.uint64(0x6D2B79F5)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    with np.errstate(over='ignore'):
        t = (a ^ (a >> np.uint32(15))) * (a | np.uint32(1))
        t = t ^ (t + (t ^ (t >> np.uint32(7))) * (t | np.uint32(61)))
        u = (t ^ (t >> np.uint32(14))).astype(np.float64) / 4294967296.0
    u1, u2 = np.maximum(u[0::2], 1e-12), u[1::2]
    r = np.sqrt(-2 * np.log(u1))
    out = np.empty(m, np.float64)
    out[0::2], out[1::2] = r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)
    return out[:n].astype(f32)


def mapped_w_avg(sd, n_mlp, z_dim, samples=W_AVG_SAMPLES, seed=W_AVG_SEED, lr_mlp=LR_MLP):
    """Mean of the mapping network over `samples` normal z (float64 math, rounded to float32 at the end)."""
    z = mulberry32_randn(samples * z_dim, seed).reshape(samples, z_dim).astype(np.float64)
    x = z / np.sqrt((z * z).mean(1, keepdims=True) + 1e-8)
    for i in range(1, n_mlp + 1):
        w = sd[f'style.{i}.weight'].astype(np.float64)
        x = x @ (w * (lr_mlp / math.sqrt(w.shape[1]))).T + sd[f'style.{i}.bias'].astype(np.float64) * lr_mlp
        x = np.where(x >= 0, x, 0.2 * x) * math.sqrt(2)
    return x.mean(0).astype(f32)


# ---- apply ---------------------------------------------------------------------------------------------------
def has_latent_avg(path):
    """Whether a rosinality checkpoint stores latent_avg (NVIDIA pickles always carry mapping.w_avg)."""
    with open(path, 'rb') as f:
        head = f.read(2)
    if head != b'PK' and path.endswith('.pkl'):
        return True
    ck = load_torch_file(path)
    return isinstance(ck, dict) and torch.is_tensor(ck.get('latent_avg'))


def load_template(tdir):
    with open(os.path.join(tdir, 'recipe.json')) as f:
        recipe = json.load(f)
    if recipe.get('recipeVersion') != RECIPE_VERSION:
        raise CheckpointError(f"{tdir}: recipe version {recipe.get('recipeVersion')}, this exporter reads {RECIPE_VERSION}")
    return recipe


def publish(tmp, out_dir, manifest):
    """Write manifest.json into the staging folder `tmp` and move it into place as `out_dir` (replacing one)."""
    with open(os.path.join(tmp, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    os.rename(tmp, out_dir)


def apply(tdir, checkpoint, out_dir, name=None, title=None, log=print):
    """A pack from CHECKPOINT by the template in TDIR (no tracing): weights.bin by the recipe, the template's graphs,
    its manifest with this checkpoint's wAvg, weights sha256 and provenance."""
    t0 = time.time()
    recipe = load_template(tdir)
    loaded = load_checkpoint(checkpoint, with_discriminator=False)
    if arch_of(loaded.G) != recipe['arch']:
        raise CheckpointError(f"{checkpoint}: architecture {arch_of(loaded.G)} is not the template's {recipe['arch']}")
    src = {k: v.detach().float().contiguous().numpy() for k, v in loaded.G.state_dict().items()}
    if has_latent_avg(checkpoint):
        src['latent_avg'] = loaded.w_avg.float().numpy().reshape(-1)
    else:
        src['latent_avg'] = mapped_w_avg(src, loaded.G.n_mlp, loaded.G.z_dim, recipe['wAvg']['samples'],
                                         recipe['wAvg']['seed'], recipe['lrMlp'])
    with open(os.path.join(tdir, 'consts.bin'), 'rb') as f:
        consts = f.read()
    out_dir = os.path.abspath(out_dir)
    os.makedirs(os.path.dirname(out_dir), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.apply-tmp-', dir=os.path.dirname(out_dir))
    try:
        h = hashlib.sha256()
        with open(os.path.join(tmp, 'weights.bin'), 'wb') as f:
            pos = 0
            for e in recipe['entries']:
                if e['op'] == 'const':
                    raw = consts[e['constOffset']:e['constOffset'] + e['bytes']]
                else:
                    arr = op_apply(e, src)
                    if not np.isfinite(arr).all():
                        raise CheckpointError(f"{checkpoint}: {e['src'][0]} holds NaN or infinite values")
                    raw = arr.astype('<f4').tobytes()
                pad = b'\0' * (e['offset'] - pos)
                for b in (pad, raw):
                    f.write(b)
                    h.update(b)
                pos = e['offset'] + len(raw)
        with open(os.path.join(tdir, 'manifest.json')) as f:
            m = json.load(f)
        for g in m['graphs'].values():
            shutil.copyfile(os.path.join(tdir, g['file']), os.path.join(tmp, g['file']))
        m['name'] = name or recipe['template']
        m['title'] = title or m['name']
        m['weights'] = {'file': 'weights.bin', 'sha256': h.hexdigest(), 'bytes': pos}
        m['truncation']['wAvg'] = [float(x) for x in src['latent_avg']]
        m['generator']['source'] = loaded.source
        m['provenance']['weightsSource'] = os.path.basename(checkpoint)
        m['provenance']['checkpointSha256'] = loaded.sha256
        validate_manifest(m)
        publish(tmp, out_dir, m)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f'pack {out_dir}: weights.bin {pos / 1e6:.1f} MB by the {recipe["template"]} recipe, {time.time() - t0:.1f} s')
    return m


