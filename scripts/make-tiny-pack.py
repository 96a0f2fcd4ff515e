#!/usr/bin/python3
"""Build `public/models/tiny-test/`: a tiny, fast model pack that follows docs/CONTRACTS.md exactly.

It is *not* a StyleGAN2 and not a face model: a 6-layer style-modulated conv generator (32 px, ~12 k
parameters) with random weights, whose gradient graphs are written by hand (manual backward, checked
against torch autograd here) and exported with torch.onnx.export (opset 17). It exists so that the app,
its unit tests and its e2e tests (including WebGPU on a software adapter, ~100x slower than WASM) can run
in seconds, independent of the model toolchain. Real packs come from `python3 -m model.export`.

Usage: /usr/bin/python3 scripts/make-tiny-pack.py [outdir]
Also writes e2e/fixtures/tiny-heldout.png (a generator output from a seed not used for the samples).
"""
import hashlib
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as Fn
from onnx import numpy_helper

torch.manual_seed(7)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from model.export.contract_generated import GRAPH_INPUTS, GRAPH_OUTPUTS, tensor_shape  # noqa: E402
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'public/models/tiny-test')
NAME = 'tiny-test'

Z = W = 16
NUM_WS = 6
FIRST_WS = 2          # features uses ws 0,1; synthesis_from_f uses 2..5
C = 8                 # channels
R = 32
F_RES = 8
PSI, TRUNC_LAYERS = 0.7, 4
SLOPE, GAIN = 0.2, 2 ** 0.5


def rnd(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).float()


P = {
    'A1': rnd(Z, W, scale=1 / Z ** 0.5), 'b1': rnd(W, scale=0.1),
    'A2': rnd(W, W, scale=1 / W ** 0.5), 'b2': rnd(W, scale=0.1),
    'const': rnd(1, C, 4, 4),
    'rgb_b': rnd(3, scale=0.05),
}
for i in range(NUM_WS):
    P[f'M{i}'] = rnd(W, C, scale=0.3 / W ** 0.5)
for i in range(NUM_WS - 1):
    P[f'K{i}'] = rnd(C, C, 3, 3, scale=1 / (C * 9) ** 0.5)
P['Krgb'] = rnd(3, C, 1, 1, scale=0.6 / C ** 0.5)


def lrelu(x):
    return torch.where(x >= 0, x, x * SLOPE) * GAIN


def lrelu_bwd(x, g):
    return torch.where(x >= 0, g, g * SLOPE) * GAIN


def style(wplus, i):
    return (wplus[:, i] @ P[f'M{i}'] + 1.0).reshape(1, C, 1, 1)


# ---------------- forward pieces ----------------
def pixel_norm(z):
    return z * torch.rsqrt((z * z).mean(dim=-1, keepdim=True) + 1e-8)


def mapping(z):  # [N, Z] -> [N, W]
    x = pixel_norm(z)
    h = x @ P['A1'] + P['b1']
    return lrelu(h) @ P['A2'] + P['b2']


def features(wplus):
    s0 = style(wplus, 0)
    a0 = Fn.conv2d(P['const'] * s0, P['K0'], padding=1)
    x = Fn.interpolate(lrelu(a0), scale_factor=2, mode='nearest')
    s1 = style(wplus, 1)
    a1 = Fn.conv2d(x * s1, P['K1'], padding=1)
    return lrelu(a1)


def synthesis_from_f(f, wplus):
    x = f
    for i, k in ((2, 'K2'), (3, 'K3'), (4, 'K4')):
        if i >= 3:
            x = Fn.interpolate(x, scale_factor=2, mode='nearest')
        x = lrelu(Fn.conv2d(x * style(wplus, i), P[k], padding=1))
    return Fn.conv2d(x * style(wplus, 5), P['Krgb']) + P['rgb_b'].reshape(1, 3, 1, 1)


def synthesis(wplus):
    return synthesis_from_f(features(wplus), wplus)


def truncate(w):  # w [1, NUM_WS, W]
    wavg = P['wAvg']
    mask = (torch.arange(NUM_WS) < TRUNC_LAYERS).float().reshape(1, NUM_WS, 1)
    psi = 1 + (PSI - 1) * mask
    return wavg + psi * (w - wavg), psi


def zplus_to_wplus(zplus):
    w = mapping(zplus.reshape(NUM_WS, Z)).reshape(1, NUM_WS, W)
    return truncate(w)[0]


def pyramid(img):
    return [Fn.avg_pool2d(img, 2), Fn.avg_pool2d(img, 4)]


def losses(img, target, f, f_init):
    mse = ((img - target) ** 2).mean()
    perc = sum(((a - b) ** 2).mean() for a, b in zip(pyramid(img), pyramid(target))) / 2
    ft = ((f - f_init) ** 2).mean() if f is not None else torch.zeros(())
    return torch.stack([mse, perc, ft])


# ---------------- manual backward ----------------
def style_bwd(gs, i):  # gs [1, C, 1, 1] -> grad of w_i [1, W]
    return gs.reshape(1, C) @ P[f'M{i}'].t()


def up_bwd(g):
    return Fn.avg_pool2d(g, 2) * 4


def conv_bwd(g, k):  # grad wrt input of conv2d(x, k, padding=1)
    return Fn.conv_transpose2d(g, k, padding=1)


def synthesis_from_f_bwd(f, wplus, gimg):
    """Returns (grad_f, grad_wplus) of <gimg, synthesis_from_f(f, wplus)>."""
    gw = [None] * NUM_WS
    # recompute forward, keep intermediates
    xs, ins, pre = [], [], []
    x = f
    for i, k in ((2, 'K2'), (3, 'K3'), (4, 'K4')):
        if i >= 3:
            x = Fn.interpolate(x, scale_factor=2, mode='nearest')
        xs.append(x)
        a = Fn.conv2d(x * style(wplus, i), P[k], padding=1)
        pre.append(a)
        x = lrelu(a)
    # rgb
    s5 = style(wplus, 5)
    gxs = Fn.conv_transpose2d(gimg, P['Krgb'])  # grad wrt x * s5
    gw[5] = style_bwd((gxs * x).sum(dim=(2, 3), keepdim=True), 5)
    g = gxs * s5
    for j, (i, k) in reversed(list(enumerate(((2, 'K2'), (3, 'K3'), (4, 'K4'))))):
        g = lrelu_bwd(pre[j], g)
        gin = conv_bwd(g, P[k])  # grad wrt xs[j] * s_i
        gw[i] = style_bwd((gin * xs[j]).sum(dim=(2, 3), keepdim=True), i)
        g = gin * style(wplus, i)
        if i >= 3:
            g = up_bwd(g)
    gw[0] = torch.zeros(1, W)
    gw[1] = torch.zeros(1, W)
    return g, torch.stack(gw, dim=1)


def features_bwd(wplus, gf):
    s0 = style(wplus, 0)
    a0 = Fn.conv2d(P['const'] * s0, P['K0'], padding=1)
    x = Fn.interpolate(lrelu(a0), scale_factor=2, mode='nearest')
    s1 = style(wplus, 1)
    a1 = Fn.conv2d(x * s1, P['K1'], padding=1)
    g = lrelu_bwd(a1, gf)
    gin = conv_bwd(g, P['K1'])
    gw1 = style_bwd((gin * x).sum(dim=(2, 3), keepdim=True), 1)
    g = up_bwd(gin * s1)
    g = lrelu_bwd(a0, g)
    gin = conv_bwd(g, P['K0'])
    gw0 = style_bwd((gin * P['const']).sum(dim=(2, 3), keepdim=True), 0)
    z = torch.zeros(1, W)
    return torch.stack([gw0, gw1, z, z, z, z], dim=1)


def image_grad(img, target, weights):
    n = img.numel()
    g = weights[0] * 2 * (img - target) / n
    for s, (a, b) in zip((2, 4), zip(pyramid(img), pyramid(target))):
        gp = weights[1] * 0.5 * 2 * (a - b) / a.numel()
        g = g + Fn.interpolate(gp, scale_factor=s, mode='nearest') / (s * s)
    return g


def zplus_bwd(zplus, gwplus):
    z = zplus.reshape(NUM_WS, Z)
    _, psi = truncate(torch.zeros(1, NUM_WS, W))
    gw = (gwplus * psi).reshape(NUM_WS, W)
    # mapping backward
    r = torch.rsqrt((z * z).mean(dim=-1, keepdim=True) + 1e-8)
    x = z * r
    h = x @ P['A1'] + P['b1']
    gh = lrelu_bwd(h, gw @ P['A2'].t())
    gx = gh @ P['A1'].t()
    gz = r * gx - (r ** 3) * z * (gx * z).sum(dim=-1, keepdim=True) / Z
    return gz.reshape(1, NUM_WS, Z)


# ---------------- graph modules ----------------
class Mapping(torch.nn.Module):
    def forward(self, z):
        return mapping(z)


class Synthesis(torch.nn.Module):
    def forward(self, wplus):
        return synthesis(wplus)


class Features(torch.nn.Module):
    def forward(self, wplus):
        return features(wplus)


class SynthFromF(torch.nn.Module):
    def forward(self, f, wplus):
        return synthesis_from_f(f, wplus)


class GradFZ(torch.nn.Module):
    def forward(self, target, f, zplus, f_init, weights):
        wplus = zplus_to_wplus(zplus)
        img = synthesis_from_f(f, wplus)
        loss = losses(img, target, f, f_init)
        gimg = image_grad(img, target, weights)
        gf, gw = synthesis_from_f_bwd(f, wplus, gimg)
        gf = gf + weights[2] * 2 * (f - f_init) / f.numel()
        return loss, gf, zplus_bwd(zplus, gw)


class GradFW(torch.nn.Module):
    def forward(self, target, f, wplus, f_init, weights):
        img = synthesis_from_f(f, wplus)
        loss = losses(img, target, f, f_init)
        gimg = image_grad(img, target, weights)
        gf, gw = synthesis_from_f_bwd(f, wplus, gimg)
        gf = gf + weights[2] * 2 * (f - f_init) / f.numel()
        return loss, gf, gw


class GradW(torch.nn.Module):
    def forward(self, target, wplus, weights):
        f = features(wplus)
        img = synthesis_from_f(f, wplus)
        loss = losses(img, target, None, None)
        gimg = image_grad(img, target, weights)
        gf, gw = synthesis_from_f_bwd(f, wplus, gimg)
        return loss, gw + features_bwd(wplus, gf)


class GradZ(torch.nn.Module):
    def forward(self, target, zplus, weights):
        wplus = zplus_to_wplus(zplus)
        f = features(wplus)
        img = synthesis_from_f(f, wplus)
        loss = losses(img, target, None, None)
        gimg = image_grad(img, target, weights)
        gf, gw = synthesis_from_f_bwd(f, wplus, gimg)
        return loss, zplus_bwd(zplus, gw + features_bwd(wplus, gf))


# ---------------- build ----------------
with torch.no_grad():
    P['wAvg'] = mapping(torch.randn(4096, Z)).mean(0)


def check_grads():
    """Manual backward == torch autograd (float64)."""
    global P
    P64 = {k: v.double() for k, v in P.items()}
    P32, P = P, P64
    try:
        tgt = torch.randn(1, 3, R, R, dtype=torch.float64)
        zp = pixel_norm(torch.randn(1, NUM_WS, Z, dtype=torch.float64))
        wp = zplus_to_wplus(zp)
        f0 = features(wp) + 0.1 * torch.randn(1, C, F_RES, F_RES, dtype=torch.float64)
        fi = features(wp)
        wts = torch.tensor([1.0, 0.7, 0.3], dtype=torch.float64)

        def total(l):
            return (l * wts).sum()

        for name, mod, args, req in (
            ('fz', GradFZ(), [tgt, f0, zp, fi, wts], [1, 2]),
            ('fw', GradFW(), [tgt, f0, wp, fi, wts], [1, 2]),
            ('w', GradW(), [tgt, wp, wts], [1]),
            ('z', GradZ(), [tgt, zp, wts], [1]),
        ):
            outs = mod(*args)
            a = [x.detach().clone().requires_grad_(i in req) for i, x in enumerate(args)]
            if name == 'fz':
                img = synthesis_from_f(a[1], zplus_to_wplus(a[2])); l = losses(img, a[0], a[1], a[3])
            elif name == 'fw':
                img = synthesis_from_f(a[1], a[2]); l = losses(img, a[0], a[1], a[3])
            elif name == 'w':
                img = synthesis(a[1]); l = losses(img, a[0], None, None)
            else:
                img = synthesis(zplus_to_wplus(a[1])); l = losses(img, a[0], None, None)
            grads = torch.autograd.grad(total(l), [a[i] for i in req])
            assert torch.allclose(outs[0], l.detach(), atol=1e-10), name
            for g_man, g_ref in zip(outs[1:], grads):
                err = (g_man - g_ref).abs().max().item() / (g_ref.abs().max().item() + 1e-12)
                assert err < 1e-8, (name, err)
            print(f'grad check {name}: ok')
    finally:
        P = P32


check_grads()

os.makedirs(OUT, exist_ok=True)
f_spec = [1, C, F_RES, F_RES]
MODULES = {'mapping': Mapping(), 'synthesis': Synthesis(), 'features': Features(), 'synthesis_from_f': SynthFromF(),
           'grad_fzplus': GradFZ(), 'grad_fwplus': GradFW(), 'grad_wplus': GradW(), 'grad_zplus_nof': GradZ()}
# input and output names, order and shapes from the graph contract (schema/graphs.contract.json)
spec = lambda names: [(n, tensor_shape(n, numWs=NUM_WS, zDim=Z, wDim=W, R=R, F=f_spec)) for n in names]
GRAPHS = {key: (mod, spec(GRAPH_INPUTS[key]), spec(GRAPH_OUTPUTS[key])) for key, mod in MODULES.items()}

weights_blob = bytearray()
blob_index = {}  # sha -> (offset, length)
EXT_MIN = 256  # bytes: initializers this large go to weights.bin


def sha(b):
    return hashlib.sha256(b).hexdigest()


graphs_manifest = {}
for key, (mod, ins, outs) in GRAPHS.items():
    path = os.path.join(OUT, f'{key}.onnx')
    dummies = tuple(torch.randn(*s) if n != 'weights' else torch.tensor([1.0, 0.5, 0.1]) for n, s in ins)
    torch.onnx.export(mod, dummies, path, opset_version=17, input_names=[n for n, _ in ins],
                      output_names=[n for n, _ in outs], do_constant_folding=True)
    m = onnx.load(path)
    # weights are traced as Constant nodes: turn the large ones into initializers
    keep = []
    for node in m.graph.node:
        if node.op_type == 'Constant' and len(node.attribute) == 1 and node.attribute[0].name == 'value':
            t = node.attribute[0].t
            if len(numpy_helper.to_array(t).tobytes()) >= EXT_MIN:
                t2 = numpy_helper.from_array(numpy_helper.to_array(t), node.output[0])
                m.graph.initializer.append(t2)
                continue
        keep.append(node)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    external = False
    for t in m.graph.initializer:
        arr = numpy_helper.to_array(t)
        raw = arr.tobytes()
        if len(raw) < EXT_MIN:
            continue
        h = sha(raw)
        if h not in blob_index:
            while len(weights_blob) % 64:
                weights_blob.append(0)
            blob_index[h] = (len(weights_blob), len(raw))
            weights_blob.extend(raw)
        off, ln = blob_index[h]
        t.ClearField('raw_data')
        t.data_location = onnx.TensorProto.EXTERNAL
        for k, v in (('location', 'weights.bin'), ('offset', str(off)), ('length', str(ln))):
            e = t.external_data.add(); e.key = k; e.value = v
        external = True
    data = m.SerializeToString()
    with open(path, 'wb') as fh:
        fh.write(data)
    graphs_manifest[key] = {
        'file': f'{key}.onnx', 'sha256': sha(data), 'bytes': len(data), 'precision': 'fp32', 'externalData': external,
        'inputs': [{'name': n, 'shape': s, 'dtype': 'float32'} for n, s in ins],
        'outputs': [{'name': n, 'shape': s, 'dtype': 'float32'} for n, s in outs],
    }
with open(os.path.join(OUT, 'weights.bin'), 'wb') as fh:
    fh.write(weights_blob)

# samples and a held-out face (generator outputs)
from PIL import Image  # noqa: E402


def render(seed):
    g = torch.Generator().manual_seed(seed)
    zp = torch.randn(1, NUM_WS, Z, generator=g)
    with torch.no_grad():
        img = synthesis(zplus_to_wplus(pixel_norm(zp)))[0]
    a = ((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(a, 'RGB')


os.makedirs(os.path.join(OUT, 'samples'), exist_ok=True)
samples = []
for i, seed in enumerate((101, 102, 103)):
    p = f'samples/sample{i}.png'
    render(seed).save(os.path.join(OUT, p))
    samples.append(p)
fixtures = os.path.join(ROOT, 'e2e/fixtures')
os.makedirs(fixtures, exist_ok=True)
render(999).resize((128, 128), Image.NEAREST).save(os.path.join(fixtures, 'tiny-heldout.png'))

# directions: two orthogonal random unit vectors
g = torch.Generator().manual_seed(5)
d = torch.randn(2, Z, generator=g)
d[1] -= (d[1] @ d[0]) / (d[0] @ d[0]) * d[0]
d = d / d.norm(dim=1, keepdim=True)
directions = [
    {'id': 'tone', 'label': 'Tone (test)', 'kind': 'ganspace', 'vector': [round(float(x), 7) for x in d[0]], 'range': [-3, 3],
     'explainedVariance': 0.0},
    {'id': 'texture', 'label': 'Texture (test)', 'kind': 'ganspace', 'vector': [round(float(x), 7) for x in d[1]], 'range': [-3, 3],
     'layers': [4, 5], 'explainedVariance': 0.0},
]

manifest = {
    'schemaVersion': 1,
    'name': NAME,
    'title': 'Tiny test pack (random weights)',
    'description': 'A 32 px, 6-layer style-modulated toy generator with random weights and hand-written gradient graphs. '
                   'For tests and development only: it does not generate faces.',
    'generator': {'architecture': 'stylegan2', 'source': 'fzplus-studio', 'nMlp': 2,
                  'channels': {'4': C, '8': C, '16': C, '32': C}},
    'resolution': R, 'zDim': Z, 'wDim': W, 'numWs': NUM_WS,
    'fBlock': {'resolution': F_RES, 'shape': f_spec, 'firstWs': FIRST_WS},
    'truncation': {'psi': PSI, 'layers': TRUNC_LAYERS, 'wAvg': [round(float(x), 7) for x in P['wAvg']]},
    'imageRange': [-1, 1],
    'alignment': 'none',
    'loss': {'perceptual': 'pyramid-ssim', 'defaultWeights': [1.0, 0.5, 0.1],
             'perceptualNote': 'Tiny test pack: the perceptual term is a 2-level average-pooled MSE pyramid, a stand-in.'},
    'weights': {'file': 'weights.bin', 'sha256': sha(bytes(weights_blob)), 'bytes': len(weights_blob)},
    'graphs': graphs_manifest,
    'directions': directions,
    'samples': samples,
    'provenance': {'weightsSource': 'random (torch seed 7), scripts/make-tiny-pack.py', 'licence': 'MIT',
                   'exporter': 'scripts/make-tiny-pack.py', 'notes': 'Not a face model.'},
}
with open(os.path.join(OUT, 'manifest.json'), 'w') as fh:
    json.dump(manifest, fh, indent=1)
print('wrote', OUT, 'weights.bin', len(weights_blob), 'bytes;', len(graphs_manifest), 'graphs')
