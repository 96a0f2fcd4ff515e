"""Bench: ms per graph, PyTorch CPU vs onnxruntime-node CPU, same machine, same run, same thread count.

    python3 -m model.bench [--threads 1] [--repeat 5] [--configs reference-64,random-256-cm2] [--graphs k1,k2]
    python3 -m model.bench --pack public/models/demo64 --checkpoint CK [--threads 2]   (JSON; npm run bench calls it)

With --web, onnxruntime-web WASM (the app's CPU backend, run in Node) is timed too.
reference-64: the shared rosinality-64 checkpoint. random-256-cm2: Generator(256, 512, 8, channel_multiplier=2)
with random weights. Prints one row per graph with the median ms of each runtime and torch/onnx (>1: ONNX faster).
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import torch

from model.runtime import ort_node
from model.export.cli import export_pack

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def reference_checkpoint():
    for base in (os.environ.get('FZ_SHARED'), os.path.join(os.path.dirname(REPO), 'shared')):
        p = base and os.path.join(base, 'reference', 'rosinality-64', 'checkpoint.pt')
        if p and os.path.isfile(p):
            return p
    raise SystemExit('reference checkpoint not found (../shared or $FZ_SHARED)')


def random_checkpoint(tmp, size=256, cm=2):
    from model.nets.stylegan2 import Generator
    torch.manual_seed(0)
    G = Generator(size, 512, 8, channel_multiplier=cm)
    p = os.path.join(tmp, f'random-{size}-cm{cm}.pt')
    torch.save({'g_ema': G.state_dict(), 'latent_avg': G.mean_latent(4096)}, p)
    return p


def time_torch(spec, repeat, warmup=1):
    ms = []
    for i in range(warmup + repeat):
        t = time.perf_counter()
        with torch.enable_grad() if spec.grad else torch.no_grad():
            spec.fn(*spec.inputs.values())
        if i >= warmup:
            ms.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ms)


def bench(name, ckpt, out, keys, threads, repeat, web=False, log=print):
    torch.set_num_threads(threads)
    t = time.time()
    manifest, pm = export_pack(ckpt, out, keys=keys, log=lambda *a: None)
    log(f'\n{name}: exported {len(manifest["graphs"])} graphs in {time.time() - t:.0f} s, '
        f'weights.bin {manifest["weights"]["bytes"] / 1e6:.1f} MB ({threads} thread(s), median of {repeat})')
    specs = [s for s in pm.specs(keys) if s.key in manifest['graphs']]
    runs = [{'model': os.path.join(out, manifest['graphs'][s.key]['file']), 'repeat': repeat, 'warmup': 1,
             'inputs': {k: v.numpy() for k, v in s.inputs.items()}} for s in specs]
    res = ort_node.run(runs, threads=threads)
    res_web = ort_node.run(runs, threads=threads, backend='web') if web else [None] * len(specs)
    log(f'  {"graph":18s} {"torch ms":>10s} {"onnx ms":>10s} {"torch/onnx":>10s} {"onnx load ms":>12s}'
        + (f' {"wasm ms":>10s} {"torch/wasm":>10s}' if web else ''))
    rows = []
    for s, r, rw in zip(specs, res, res_web):
        tt, to = time_torch(s, repeat), statistics.median(r['ms'])
        rows.append((s.key, tt, to))
        line = f'  {s.key:18s} {tt:10.1f} {to:10.1f} {tt / to:10.2f} {r["loadMs"]:12.0f}'
        if rw:
            tw = statistics.median(rw['ms'])
            line += f' {tw:10.1f} {tt / tw:10.2f}'
        log(line)
    return rows


def torch_step_and_frame(pack_dir, checkpoint, threads, steps, frames):
    """{stepMs, frameMs}: median ms of one F/Z+ gradient step (loss + autograd for F and Z+) and one slider frame
    (mapping + synthesis_from_f) in eager PyTorch on the CPU: what `npm run bench` puts beside onnxruntime-node."""
    from model.export.verify import pack_model
    torch.set_num_threads(threads)
    torch.set_grad_enabled(True)
    pm = pack_model(pack_dir, checkpoint)
    specs = {s.key: s for s in pm.specs(['grad_fzplus', 'mapping', 'synthesis_from_f'])}
    grad, mapping, synth = specs['grad_fzplus'], specs['mapping'], specs['synthesis_from_f']
    z = grad.inputs['zplus'][0]

    def frame():
        with torch.no_grad():
            w = pm.truncate(pm.mapping(z))  # the engine maps every z of Z+ in one run, then truncates
            synth.fn(synth.inputs['f'], w[None])

    def median_ms(fn, n):
        fn()
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t) * 1e3)
        return statistics.median(ts)
    return {'stepMs': median_ms(lambda: grad.fn(*grad.inputs.values()), steps), 'frameMs': median_ms(frame, frames)}


def main(argv=None):
    ap = argparse.ArgumentParser(prog='python3 -m model.bench')
    ap.add_argument('--pack', help='with --checkpoint: print {stepMs, frameMs} of eager PyTorch for this pack (JSON)')
    ap.add_argument('--checkpoint')
    ap.add_argument('--steps', type=int, default=40)
    ap.add_argument('--frames', type=int, default=30)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--repeat', type=int, default=5)
    ap.add_argument('--configs', default='reference-64,random-256-cm2')
    ap.add_argument('--graphs', help='subset of graph keys (the required ones are always exported)')
    ap.add_argument('--web', action='store_true', help='also time onnxruntime-web WASM (in Node)')
    a = ap.parse_args(argv)
    if a.pack:
        import json
        print(json.dumps(torch_step_and_frame(a.pack, a.checkpoint, a.threads, a.steps, a.frames)))
        return 0
    if not ort_node.available():
        raise SystemExit('needs node + onnxruntime-node (npm ci)')
    from model.export.cli import ALL, REQUIRED
    keys = sorted(set(REQUIRED) | set(a.graphs.split(',')), key=ALL.index) if a.graphs else None
    tmp = tempfile.mkdtemp(prefix='fz-bench-')
    try:
        for name in a.configs.split(','):
            ckpt = reference_checkpoint() if name == 'reference-64' else random_checkpoint(tmp)
            bench(name, ckpt, os.path.join(tmp, name), keys, a.threads, a.repeat, a.web)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
