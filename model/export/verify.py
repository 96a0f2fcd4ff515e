"""Check an exported pack: every graph against the graph contract (schema/graphs.contract.json: input and output
names in order, shapes; each ONNX file's I/O equal to what the manifest says), then, given the checkpoint, every
graph in onnxruntime-node vs PyTorch, and the gradient graphs vs float64 autograd.

    python3 -m model.verify PACK_DIR [CHECKPOINT]   (prints the problems; exit 1 when a check fails)
"""
import json
import os
import sys

import numpy as np
import torch

from model.runtime import ort_node

FWD_TOL = 1e-4       # max |onnx - torch| / max |torch| for forward graphs and loss
ZGRAD_TOL = 1e-4     # dz+ / dw+ / ds relative error vs float64
GRAD_SLACK = 2.0     # ONNX may be at most this many times further from float64 than PyTorch float32 is (+1e-6)
WINOGRAD_SLACK = 5e-5  # + this for packs with Winograd convs: F(4,3) in float32 is ~1e-5 relative (tests/test_winograd.py)


def check_contract(pack_dir):
    """The problems of the pack's graphs against the graph contract, as messages ([] when it keeps it).

    Every required graph is there; each graph under a contract key (or its '<key>@fp16' copy) has the contract's
    input and output names in that order and the contract's shapes for this model's sizes; and each ONNX file's
    inputs and outputs (names, shapes, dtypes) are the ones the manifest lists. Keys outside the contract are
    allowed (the engine ignores them) and only their file I/O is checked.
    """
    import onnx
    from model.export.contract_generated import GRAPH_INPUTS, GRAPH_OUTPUTS, REQUIRED_GRAPHS, TENSOR_SHAPES, tensor_shape
    from model.export.onnx_pack import io_specs
    with open(os.path.join(pack_dir, 'manifest.json')) as f:
        m = json.load(f)
    graphs = m.get('graphs', {})
    problems = [f'required graph {k!r} is missing' for k in REQUIRED_GRAPHS if k not in graphs]
    sizes = dict(numWs=m['numWs'], zDim=m['zDim'], wDim=m['wDim'], R=m['resolution'], F=m['fBlock']['shape'])
    for key, g in graphs.items():
        base = key.split('@')[0]
        names = lambda side: [t['name'] for t in g.get(side, [])]
        if base in GRAPH_INPUTS:
            for side, want in (('inputs', GRAPH_INPUTS[base]), ('outputs', GRAPH_OUTPUTS[base])):
                if names(side) != list(want):
                    problems.append(f'{key}: {side} {names(side)} in the manifest, the contract says {list(want)}')
            for t in g.get('inputs', []) + g.get('outputs', []):
                if t['name'] in TENSOR_SHAPES and t['shape'] != tensor_shape(t['name'], **sizes):
                    problems.append(f"{key}: {t['name']} has shape {t['shape']}, the contract says {tensor_shape(t['name'], **sizes)}")
        path = os.path.join(pack_dir, g.get('file', ''))
        if not g.get('file') or not os.path.isfile(path):
            problems.append(f"{key}: file {g.get('file')!r} is missing")
            continue
        ins, outs = io_specs(onnx.load(path, load_external_data=False))
        for side, have in (('inputs', ins), ('outputs', outs)):
            if have != g.get(side):
                problems.append(f'{key}: the file {g["file"]} has {side} {have}, the manifest says {g.get(side)}')
    return problems


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def run_pack(pack_dir, pm, keys=None, seed=0):
    """-> {key: (spec, {output: onnx array})} using pm.examples(seed) as inputs."""
    with open(os.path.join(pack_dir, 'manifest.json')) as f:
        manifest = json.load(f)
    specs = [s for s in pm.specs(keys) if s.key in manifest['graphs']]
    if seed:
        ex = pm.examples(seed)
        for s in specs:
            s.inputs = {k: ex[k] for k in s.inputs}
    res = ort_node.run([(os.path.join(pack_dir, manifest['graphs'][s.key]['file']),
                         {k: v.numpy() for k, v in s.inputs.items()}) for s in specs])
    return {s.key: (s, r['outputs']) for s, r in zip(specs, res)}


def torch_outputs(spec):
    with torch.enable_grad():
        out = spec.fn(*spec.inputs.values())
    out = out if isinstance(out, tuple) else (out,)
    return {n: o.detach().numpy() for n, o in zip(spec.outputs, out)}


def check_pack(pack_dir, pm, keys=None, log=print, winograd=None):
    """Returns {key: {output: error}}; raises AssertionError listing failures (first those against the contract)."""
    problems = check_contract(pack_dir)
    if problems:
        raise AssertionError('pack breaks the graph contract: ' + '; '.join(problems))
    runs = run_pack(pack_dir, pm, keys)
    if winograd is None:
        with open(os.path.join(pack_dir, 'manifest.json')) as f:
            winograd = 'Winograd' in json.load(f).get('provenance', {}).get('notes', '')  # export.py writes it there
    slack = 1e-6 + (WINOGRAD_SLACK if winograd else 0)
    pm64, errors, failures = None, {}, []
    for key, (spec, onnx_out) in runs.items():
        ref = torch_outputs(spec)
        errs = {n: rel(onnx_out[n], ref[n]) for n in spec.outputs}
        errors[key] = errs
        if not spec.grad:
            failures += [f'{key}.{n}: {e:.2e}' for n, e in errs.items() if e > FWD_TOL]
            continue
        pm64 = pm64 or pm.to_double()
        spec64 = next(s for s in pm64.specs([key]))
        spec64.inputs = {k: v.double() for k, v in spec.inputs.items()}
        ref64 = torch_outputs(spec64)
        for n in spec.outputs:
            e_onnx, e_torch = rel(onnx_out[n], ref64[n]), rel(ref[n], ref64[n])
            errs[f'{n}_vs_f64'], errs[f'{n}_torch32_vs_f64'] = e_onnx, e_torch
            if n == 'loss' and e_onnx > FWD_TOL:
                failures.append(f'{key}.loss vs f64: {e_onnx:.2e}')
            elif n in ('grad_zplus', 'grad_wplus', 'grad_s') and e_onnx > ZGRAD_TOL:
                failures.append(f'{key}.{n} vs f64: {e_onnx:.2e} > {ZGRAD_TOL}')
            elif n == 'grad_f' and e_onnx > GRAD_SLACK * e_torch + slack:
                failures.append(f'{key}.grad_f vs f64: {e_onnx:.2e} (torch f32: {e_torch:.2e})')
    for key, errs in errors.items():
        log(f'  {key}: ' + ', '.join(f'{n} {e:.1e}' for n, e in errs.items()))
    if failures:
        raise AssertionError('pack check failed: ' + '; '.join(failures))
    return errors


def pack_model(pack_dir, checkpoint, lpips_weights=None, vgg_weights=None):
    """The PackModel behind an exported pack: its checkpoint with the settings its manifest records."""
    from model.export.cli import make_perceptual
    from model.export.graphs import PackModel
    from model.load.checkpoint import load_checkpoint
    with open(os.path.join(pack_dir, 'manifest.json')) as f:
        m = json.load(f)
    loaded = load_checkpoint(checkpoint)
    return PackModel(loaded.G, loaded.w_avg, m['fBlock']['resolution'], m['truncation']['psi'], m['truncation']['layers'],
                     make_perceptual(m['loss']['perceptual'], loaded, lpips_weights, vgg_weights))


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(prog='python3 -m model.verify')
    ap.add_argument('pack_dir')
    ap.add_argument('checkpoint', nargs='?', help='the checkpoint the pack was exported from (without it: the contract check only)')
    ap.add_argument('--lpips-weights')
    ap.add_argument('--vgg-weights')
    a = ap.parse_args(argv)
    if a.checkpoint is None:
        problems = check_contract(a.pack_dir)
        print('pack breaks the graph contract: ' + '; '.join(problems) if problems else 'graph contract ok', file=sys.stderr if problems else sys.stdout)
        return 1 if problems else 0
    pm = pack_model(a.pack_dir, a.checkpoint, a.lpips_weights, a.vgg_weights)
    try:
        check_pack(a.pack_dir, pm)
    except AssertionError as e:
        print(e, file=sys.stderr)
        return 1
    print('pack ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
