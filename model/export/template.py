"""Graph templates and weights recipes: a model pack for any checkpoint of a known architecture without tracing.

    python3 -m model.export.template build ID OUT_DIR [--check-consts]
    python3 -m model.export.template apply TEMPLATE_DIR CHECKPOINT OUT_DIR [--name NAME] [--title T]
    python3 -m model.export.template list

A template (one per architecture in TEMPLATES) is the pack's graphs exported once from a generator whose every
weight is random (so that no two derived tensors coincide), plus `recipe.json` (schema/recipe.schema.json): for
every tensor of `weights.bin`, its offset, dtype and shape, the checkpoint key(s) it comes from and the transform
(op) that makes it; `consts.bin` holds the tensors that do not depend on the weights (blur kernels, SSIM
windows, Winograd matrices), `manifest.json` the pack's manifest less what the checkpoint decides. The graphs carry
no weights: every float initializer that depends on the weights lives in weights.bin (small ones too).

The recipe is found, not written by hand: each float initializer of the exported graphs is matched against every
transform of every generator tensor (candidates()); what matches nothing is a constant. `--check-consts` exports a
second template from other random weights and refuses any constant that changed (a transform candidates() lacks).
Small constants (< 1 KB) that match nothing stay in the graphs; larger ones go to consts.bin.

`apply` (model/export/recipe.py) writes weights.bin from a checkpoint by the recipe, as the app's in-browser
conversion does (src/engine/convert/): byte-identical results. A weights.bin from the tracing exporter
(python3 -m model.export) differs from it in layout and by float32 rounding of the sums only.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from model.export import onnx_pack as pack
from model.export.cli import ALL, WINOGRAD_GRAPHS
from model.export.graphs import PackModel, traced
from model.export.manifest import build as build_manifest
from model.export.recipe import LR_MLP, RECIPE_VERSION, W_AVG_SAMPLES, W_AVG_SEED, apply, f32, op_apply, publish
from model.load.checkpoint import CheckpointError, GeneratorCheckpoint, sha256_file
from model.nets.perceptual import NOTES, PyramidSSIM
from model.nets.stylegan2 import Generator, default_channels

F_RES, PSI, TRUNC_LAYERS, WINOGRAD = 16, 0.7, 8, 4

TEMPLATES = {
    'ref64': dict(size=64, style_dim=128, n_mlp=4, channels={4: 512, 8: 512, 16: 512, 32: 512, 64: 256},
                  title='rosinality 64 px, style_dim 128, 4-layer mapping (the shared reference layout)'),
    'r256-cm2': dict(size=256, style_dim=512, n_mlp=8, channels=default_channels(256, 2),
                     title='256 px, style_dim 512, 8-layer mapping, channel multiplier 2'),
    'r512-cm2': dict(size=512, style_dim=512, n_mlp=8, channels=default_channels(512, 2),
                     title='512 px, style_dim 512, 8-layer mapping, channel multiplier 2'),
    'ffhq1024-f': dict(size=1024, style_dim=512, n_mlp=8, channels=default_channels(1024, 2),
                       title='1024 px FFHQ config-f (style_dim 512, 8-layer mapping, channel multiplier 2)'),
}
# what the graphs of a template follow from: a template built from other versions of these is stale
SOURCES = ['model/export/graphs.py', 'model/export/autograd_trace.py', 'model/export/winograd.py',
           'model/export/onnx_pack.py', 'model/export/template.py', 'model/export/cli.py', 'model/export/manifest.py',
           'model/nets/stylegan2.py', 'model/nets/perceptual.py', 'schema/graphs.contract.json',
           'schema/manifest.schema.json']
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def source_hash():
    h = hashlib.sha256()
    for rel in SOURCES:
        with open(os.path.join(REPO, rel), 'rb') as f:
            h.update(rel.encode() + b'\0' + f.read() + b'\0')
    return h.hexdigest()


def template_arch(tid):
    t = TEMPLATES[tid]
    return {'size': t['size'], 'styleDim': t['style_dim'], 'zDim': t['style_dim'], 'nMlp': t['n_mlp'],
            'channels': {str(k): int(v) for k, v in sorted(t['channels'].items())}}


def candidates(G, w_avg):
    """Every (entry, tensor) a template's initializer may be: each transform OPS knows of each generator tensor."""
    sd = {k: v.detach().float().numpy() for k, v in G.state_dict().items() if not k.endswith('kernel')}
    sd['latent_avg'] = w_avg.detach().float().numpy().reshape(-1)
    out = []

    def add(**e):
        e.setdefault('view', list(sd[e['src'][0]].shape))
        e['shape'] = None
        arr = op_apply(e, sd) if e['op'] != 'copy' else sd[e['src'][0]]
        e['shape'] = list(arr.shape)
        if e['op'] == 'copy':
            e['op'] = 'scale'
        out.append((e, np.ascontiguousarray(arr)))

    for k, v in sd.items():
        add(op='copy', src=[k])
    for m_name, m in G.named_modules():
        p = m_name + '.' if m_name else ''
        cls = type(m).__name__
        if cls == 'EqualLinear':
            o, i = m.weight.shape
            for perm in (None, [1, 0]):
                add(op='scale', src=[p + 'weight'], scale=m.scale, view=[o, i], perm=perm)
            if m.bias is not None and m.lr_mul != 1:
                add(op='scale', src=[p + 'bias'], scale=m.lr_mul)
        elif cls == 'ModulatedConv2d':
            _, o, i, k, _ = m.weight.shape
            for perm in (None, [1, 0, 2, 3]):
                for flip in (False, True):
                    add(op='scale', src=[p + 'weight'], scale=m.scale, view=[o, i, k, k], perm=perm, flip=flip)
            for perm in (None, [1, 0]):
                add(op='sqsum', src=[p + 'weight'], scale=m.scale, view=[o, i, k * k], perm=perm)
    for i in range(G.num_layers):
        add(op='mul', src=[f'noises.noise_{i}', _noise_weight_key(G, i)])
    return out


def _noise_weight_key(G, i):
    return 'conv1.noise.weight' if i == 0 else f'convs.{i - 1}.noise.weight'


def _clean(e):
    e = {k: v for k, v in e.items() if v not in (None, False)}
    if e.get('scale') == 1.0 and e['op'] == 'scale':
        e.pop('scale')
    if e['op'] == 'mul' or e['op'] == 'scale' and 'perm' not in e and 'flip' not in e:
        e.pop('view', None)
    if 'scale' in e:
        e['scale'] = float(f32(e['scale']))  # the float32 the product uses
    return e


class Matcher:
    """Finds which candidate an initializer is: exact bytes first, else the closest within float32 rounding."""

    def __init__(self, cands):
        self.by_bytes = {}
        self.by_size = {}
        self.cands = cands
        for e, a in cands:
            self.by_bytes.setdefault(hashlib.sha256(a.tobytes()).digest(), (e, a))
            self.by_size.setdefault(a.size, []).append((e, a))

    def find_slice(self, arr):
        """A part of a candidate along axis 1 (an upsampling conv's transposed weight split by groups of output
        channels, model/nets/stylegan2.py ModulatedConv2d._upsample_conv)."""
        a = np.ascontiguousarray(arr, dtype=f32)
        if a.ndim != 4:
            return None, False
        for e, c in self.cands:
            if c.ndim != 4 or c.shape[1] <= a.shape[1] or (c.shape[0], c.shape[2], c.shape[3]) != (a.shape[0], a.shape[2], a.shape[3]):
                continue
            for start in range(c.shape[1] - a.shape[1] + 1):
                part = c[:, start:start + a.shape[1]]
                if np.array_equal(part, a):
                    return {**e, 'slice': [1, start, start + a.shape[1]]}, True
        return None, False

    def find(self, arr):
        a = np.ascontiguousarray(arr, dtype=f32)
        hit = self.by_bytes.get(hashlib.sha256(a.tobytes()).digest())
        if hit and hit[1].size == a.size:
            return hit[0], True
        flat = a.reshape(-1)
        best = None
        for e, c in self.by_size.get(a.size, ()):
            cf = c.reshape(-1)
            if not np.allclose(cf[:8], flat[:8], rtol=1e-4, atol=1e-6):
                continue
            err = float(np.max(np.abs(cf - flat))) / (float(np.max(np.abs(cf))) + 1e-30)
            if err < 1e-5 and (best is None or err < best[1]):
                best = (e, err)
        return (best[0], False) if best else (None, False)


def randomize(G, seed):
    """Every tensor random (normal; noise strengths and biases too), so that no two derived tensors coincide."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, t in G.state_dict().items():
            if not k.endswith('kernel'):
                t.copy_(torch.randn(t.shape, generator=g) * (0.5 if 'noise.weight' in k else 1.0))
        w_avg = torch.randn(G.style_dim, generator=g)
    return w_avg


def export_graphs(tid, seed, keys=None, log=print):
    """The template's graphs, as ModelProtos with their initializers in place, from random weights (seed)."""
    t = TEMPLATES[tid]
    G = Generator(t['size'], t['style_dim'], t['n_mlp'], channels=t['channels'], lr_mlp=LR_MLP).eval()
    w_avg = randomize(G, seed)
    pm = PackModel(G, w_avg, f_res=F_RES, psi=PSI, trunc_layers=min(TRUNC_LAYERS, G.n_latent),
                   perceptual=PyramidSSIM(G.size))
    models = {}
    for spec in pm.specs(keys or ALL):
        t0 = time.time()
        models[spec.key] = pack.to_onnx(traced(spec, WINOGRAD if spec.key in WINOGRAD_GRAPHS else 0), spec.inputs,
                                        spec.outputs)
        log(f'  {spec.key}: traced in {time.time() - t0:.1f} s')
    return G, w_avg, pm, models


FLOAT = onnx.TensorProto.FLOAT
# constants of the architecture (blur kernels per channel, SSIM windows) stay far below this; a weight-derived tensor
# that no candidate matches would be above it
LARGE_CONST = 256 * 1024


def float_constants_to_initializers(model):
    """Float Constant nodes of any size become initializers, so a weight-derived one can be found and moved out."""
    pack.constants_to_initializers(model, lambda t: t.data_type == FLOAT)


def classify(models, matcher):
    """name -> (entry or None, exact) for every float initializer of every graph."""
    out = {}
    for key, model in models.items():
        float_constants_to_initializers(model)
        for init in model.graph.initializer:
            if init.data_type != FLOAT:
                continue
            arr = numpy_helper.to_array(init)
            e, exact = matcher.find(arr)
            if e is None and arr.nbytes >= pack.MIN_BYTES:
                e, exact = matcher.find_slice(arr)
            if e is None and arr.nbytes >= LARGE_CONST:
                raise RuntimeError(f'{key}: initializer {init.name} {list(arr.shape)} matches no recipe op but is too large '
                                   f'to be a constant of the architecture: add its transform to candidates()')
            out[(key, init.name)] = (e, exact, arr)
    return out


def build(tid, out_dir, check_consts=False, keys=None, log=print):
    t0 = time.time()
    sources = source_hash()  # the sources this process traces with (imported just before); re-checked at the end
    G, w_avg, pm, models = export_graphs(tid, seed=0, keys=keys, log=log)
    matcher = Matcher(candidates(G, w_avg))
    found = classify(models, matcher)
    if check_consts:
        _, _, _, models_b = export_graphs(tid, seed=1, keys=keys, log=log)
        for key, model in models_b.items():
            float_constants_to_initializers(model)
            other = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer if i.data_type == FLOAT}
            for (k, name), (e, _, arr) in found.items():
                if k == key and e is None and not np.array_equal(other.get(name), arr):
                    raise RuntimeError(f'{tid}: {key} initializer {name} {list(arr.shape)} depends on the weights but '
                                       f'matches no recipe op: add its transform to candidates()')
    out_dir = os.path.abspath(out_dir)
    os.makedirs(os.path.dirname(out_dir), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{tid}.tmp-', dir=os.path.dirname(out_dir))
    try:
        weights = pack.WeightsFile(os.path.join(tmp, '.weights.bin'))  # the template's own: layout, then deleted
        consts = pack.WeightsFile(os.path.join(tmp, 'consts.bin'))
        entries, const_entries = {}, {}
        graphs = {}
        approx = 0
        for key, model in models.items():
            onnx.checker.check_model(model)
            inputs, outputs = pack.io_specs(model)
            for init in model.graph.initializer:
                if init.data_type != FLOAT:
                    continue
                e, exact, arr = found[(key, init.name)]
                if e is None and arr.nbytes < pack.MIN_BYTES:
                    continue  # a small constant: stays in the graph
                raw = np.ascontiguousarray(arr).astype('<f4').tobytes()
                offset, length = weights.add(raw)
                if e is None:
                    coff, _ = consts.add(raw)
                    const_entries[offset] = {'offset': offset, 'bytes': length, 'dtype': 'float32',
                                             'shape': list(arr.shape), 'op': 'const', 'constOffset': coff}
                elif offset not in entries:
                    approx += not exact
                    entry = _clean(dict(e))
                    entries[offset] = {'offset': offset, 'bytes': length, 'dtype': 'float32', **entry,
                                       'shape': list(arr.shape)}
                _set_external(init, offset, length)
            fname = key + '.onnx'
            path = os.path.join(tmp, fname)
            with open(path, 'wb') as f:
                f.write(model.SerializeToString())
            graphs[key] = {'file': fname, 'sha256': sha256_file(path), 'bytes': os.path.getsize(path),
                           'precision': 'fp32', 'externalData': True, 'inputs': inputs, 'outputs': outputs}
        weights.close()
        consts.close()
        os.remove(weights.path)
        table = sorted([*entries.values(), *const_entries.values()], key=lambda e: e['offset'])
        recipe = {'recipeVersion': RECIPE_VERSION, 'template': tid, 'title': TEMPLATES[tid]['title'],
                  'sourceHash': sources, 'arch': template_arch(tid), 'lrMlp': LR_MLP, 'weightsBytes': weights.size,
                  'consts': {'file': 'consts.bin', 'bytes': consts.size, 'sha256': sha256_file(consts.path)},
                  'wAvg': {'samples': W_AVG_SAMPLES, 'seed': W_AVG_SEED},
                  'sources': {**{k: list(v.shape) for k, v in G.state_dict().items() if not k.endswith('kernel')},
                              'latent_avg': [G.style_dim]},
                  'entries': table}
        m = build_manifest(pm, GeneratorCheckpoint(G=G, w_avg=w_avg, path='checkpoint'), tid, graphs,
                           {'file': 'weights.bin', 'sha256': '0' * 64, 'bytes': weights.size}, 'pyramid-ssim',
                           NOTES['pyramid-ssim'], licence='unknown',
                           notes=f'F = output of the first conv of the {F_RES}x{F_RES} block; converted from a checkpoint '
                                 f'by the {tid} template (recipe v{RECIPE_VERSION}); {", ".join(WINOGRAD_GRAPHS)}: 3x3 '
                                 f'convs of >= 64 channels up to 64x64 as Winograd F({WINOGRAD}x{WINOGRAD}, 3x3).')
        m['provenance'].pop('exportedAt', None)
        m['provenance']['exporter'] = 'fzplus-studio model/export/template.py'
        with open(os.path.join(tmp, 'recipe.json'), 'w') as f:
            json.dump(recipe, f, separators=(',', ':'))
        if source_hash() != sources:  # an edit during the build: its graphs may follow the old sources, its hash the new
            raise RuntimeError(f'template {tid}: the exporter sources (template.py SOURCES) changed during the build; '
                               'build it again')
        publish(tmp, out_dir, m)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    n_src = sum(1 for e in table if e['op'] != 'const')
    log(f'template {tid}: {len(graphs)} graphs, {n_src} weight tensors ({approx} matched within float32 rounding), '
        f'{len(const_entries)} constants ({consts.size / 1e3:.0f} kB), weights.bin {weights.size / 1e6:.1f} MB, '
        f'{time.time() - t0:.0f} s')
    return recipe


def _set_external(init, offset, length):
    name, dims = init.name, list(init.dims)
    init.Clear()
    init.name, init.data_type = name, FLOAT
    init.dims.extend(dims)
    init.data_location = onnx.TensorProto.EXTERNAL
    for k, v in (('location', 'weights.bin'), ('offset', str(offset)), ('length', str(length))):
        e = init.external_data.add()
        e.key, e.value = k, v


def main(argv=None):
    ap = argparse.ArgumentParser(prog='python3 -m model.export.template', description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    b = sub.add_parser('build', help='export a template')
    b.add_argument('id', choices=sorted(TEMPLATES))
    b.add_argument('out_dir')
    b.add_argument('--check-consts', action='store_true', help='export twice from different random weights and '
                   'refuse a constant that changed')
    a = sub.add_parser('apply', help='a pack from a checkpoint by a template')
    a.add_argument('template_dir')
    a.add_argument('checkpoint')
    a.add_argument('out_dir')
    a.add_argument('--name')
    a.add_argument('--title')
    sub.add_parser('list', help='the templates and their architectures')
    st = sub.add_parser('stale', help='exit 0 when TEMPLATE_DIR was built from other exporter sources (or is absent)')
    st.add_argument('template_dir')
    args = ap.parse_args(argv)
    torch.set_grad_enabled(True)
    if args.cmd == 'stale':
        try:
            with open(os.path.join(args.template_dir, 'recipe.json')) as f:
                return 1 if json.load(f).get('sourceHash') == source_hash() else 0
        except (OSError, ValueError):
            return 0
    if args.cmd == 'list':
        for tid in TEMPLATES:
            print(f'{tid}: {TEMPLATES[tid]["title"]}')
        return 0
    try:
        if args.cmd == 'build':
            build(args.id, args.out_dir, check_consts=args.check_consts)
        else:
            apply(args.template_dir, args.checkpoint, args.out_dir, name=args.name, title=args.title)
    except CheckpointError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
