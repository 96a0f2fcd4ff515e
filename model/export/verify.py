"""Check an exported pack: every graph in onnxruntime-node vs PyTorch, and the gradient graphs vs float64 autograd.

    python3 -m model.verify PACK_DIR CHECKPOINT     (prints the errors; exit 1 when a check fails)
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
    """Returns {key: {output: error}}; raises AssertionError listing failures."""
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
    ap.add_argument('checkpoint')
    ap.add_argument('--lpips-weights')
    ap.add_argument('--vgg-weights')
    a = ap.parse_args(argv)
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
