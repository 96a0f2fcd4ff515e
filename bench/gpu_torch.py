"""GPU bench, PyTorch side: the pack's functions (the same code the graphs are exported from) timed on CUDA.

    python3 bench/gpu_torch.py [--sizes 64,256,1024] [--device cuda] [--steps 20] [--frames 20] [--json FILE]

Per size (random config-f-shaped generator: 512-d styles, 8-layer mapping, channel multiplier 2, F at 16 px,
pyramid-SSIM perceptual term, as model.export builds them):
    mapping           z [numWs, 512] -> w
    frame             mapping + truncation + synthesis_from_f (one slider frame)
    grad step         loss and d loss / d (F, Z+) of F/Z+ (what grad_fzplus computes), by autograd
ms = median over the runs after 3 warm-up runs, with the device synchronised around each run; peak = the largest
GPU memory PyTorch held during that function (torch.cuda.max_memory_allocated); TFLOP/s from the GFLOP of the
exported graph of the same function (bench/graph_stats.py; 2 x multiply-adds). It bounds what onnxruntime on the
same GPU could do: cuDNN kernels, no browser, no WebGPU. --device cpu runs the same code on the CPU (a smoke test).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from model.export.graphs import PackModel  # noqa: E402
from model.nets.perceptual import PyramidSSIM  # noqa: E402
from model.nets.stylegan2 import Generator  # noqa: E402

# GFLOP per run of the exported fp32 graphs (bench/graph_stats.py on random config-f packs, docs/WEBGPU.md):
# mapping, synthesis_from_f (+ mapping for a frame), grad_fzplus
GFLOP = {64: None, 256: (0.06, 90.17, 180.85), 1024: (0.08, 150.77, 305.99)}


def default_device(dev):
    if hasattr(torch, 'set_default_device'):
        torch.set_default_device(dev)
    elif dev.type == 'cuda':
        torch.set_default_tensor_type(torch.cuda.FloatTensor)
    else:
        torch.set_default_tensor_type(torch.FloatTensor)


def build(size, dev, seed=0):
    default_device(dev)  # PackModel makes its constants with the default device
    try:
        torch.manual_seed(seed)
        G = Generator(size, 512, 8, channel_multiplier=2)
        with torch.no_grad():
            w_avg = G.mean_latent(4096)
        return PackModel(G, w_avg, f_res=16, psi=0.7, trunc_layers=8, perceptual=PyramidSSIM(size))
    finally:
        default_device(torch.device('cpu'))


def timed(fn, runs, dev):
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    for _ in range(3):
        fn()
    sync()
    if dev.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        sync()
        ts.append((time.perf_counter() - t) * 1000)
    peak = torch.cuda.max_memory_allocated() if dev.type == 'cuda' else None
    return statistics.median(ts), peak


def bench_size(size, dev, steps, frames):
    pm = build(size, dev)
    ex = {k: v.to(dev) for k, v in pm.examples().items()}
    weights = torch.tensor([1.0, 1.0, 0.1], device=dev)

    def mapping():
        with torch.no_grad():
            return pm.mapping(ex['zplus'][0])

    def frame():
        with torch.no_grad():
            return pm.synthesis_from_f(ex['f'], pm.zplus_to_wplus(ex['zplus']))

    def grad_step():
        f = ex['f'].detach().requires_grad_(True)
        z = ex['zplus'].detach().requires_grad_(True)
        _, total = pm.loss_fzplus(ex['target'], f, z, ex['f_init'], weights)
        return torch.autograd.grad(total, [f, z])

    out = {'size': size, 'device': str(dev)}
    for name, fn, runs in (('mapping', mapping, frames), ('frame', frame, frames), ('grad_step', grad_step, steps)):
        ms, peak = timed(fn, runs, dev)
        out[name] = {'ms': ms, 'peak_bytes': peak}
    g = GFLOP.get(size)
    if g:
        out['mapping']['gflop'], out['frame']['gflop'], out['grad_step']['gflop'] = g[0], g[0] + g[1], g[2]
        for k in ('mapping', 'frame', 'grad_step'):
            out[k]['tflops'] = out[k]['gflop'] / out[k]['ms']  # GFLOP / ms = TFLOP/s
    del pm
    if dev.type == 'cuda':
        torch.cuda.empty_cache()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sizes', default='64,256,1024')
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--frames', type=int, default=20)
    ap.add_argument('--json', default='')
    a = ap.parse_args(argv)
    dev = torch.device(a.device)
    if dev.type == 'cuda':
        torch.backends.cudnn.benchmark = True
        print(f'{torch.cuda.get_device_name(dev)}, torch {torch.__version__}, CUDA {torch.version.cuda}', flush=True)
    else:
        print(f'CPU ({torch.get_num_threads()} threads), torch {torch.__version__}: a smoke test, not a GPU number', flush=True)
    rows = []
    for size in [int(s) for s in a.sizes.split(',') if s]:
        r = bench_size(size, dev, a.steps, a.frames)
        rows.append(r)
        cells = []
        for k in ('mapping', 'frame', 'grad_step'):
            v = r[k]
            cells.append(f"{k} {v['ms']:.2f} ms" + (f" ({v['tflops']:.1f} TFLOP/s)" if 'tflops' in v else '') +
                         (f", peak {v['peak_bytes'] / 2 ** 20:.0f} MiB" if v['peak_bytes'] else ''))
        print(f'{size} px: ' + '; '.join(cells), flush=True)
    if a.json:
        with open(a.json, 'w') as fh:
            json.dump(rows, fh, indent=1)


if __name__ == '__main__':
    main()
