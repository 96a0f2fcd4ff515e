"""Export a StyleGAN2 checkpoint to an F/Z+ Studio model pack.

    python3 -m model.export CHECKPOINT OUT_DIR [--f-res 16] [--psi 0.7] [--trunc-layers 8]
        [--perceptual pyramid-ssim|lpips-vgg|discriminator] [--lpips-weights LPIPS.pth --vgg-weights VGG16.pth]
        [--name NAME] [--title T] [--licence L] [--weights-source S] [--fp16] [--graphs k1,k2]
        [--ganspace K] [--directions FILE|SET ...]

CHECKPOINT: a rosinality/stylegan2-pytorch .pt ({'g_ema', 'latent_avg'} or train.py's dict) or an NVIDIA
stylegan2-ada-pytorch network pickle (.pkl, read with a restricted unpickler that never runs pickled code).
The pack is built in a temporary folder beside OUT_DIR and renamed into place at the end: a failed export
leaves no partial pack (an existing OUT_DIR is only replaced by a complete new one).
Edit directions (model/directions/): K GANSpace components (default 12; --ganspace 0: none) and any direction
files or shipped sets (--directions interfacegan-ffhq for FFHQ config-f), fitted and checked before the graphs
are exported, so a bad direction file costs seconds, not the export.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import torch

from model.export import onnx_pack as pack
from model.export.contract_generated import EXPORTED_GRAPHS, REQUIRED_GRAPHS
from model.export.graphs import PackModel, traced
from model.load.checkpoint import CheckpointError, load_checkpoint
from model.directions.files import DirectionError
from model.export.manifest import ManifestError, build, pack_name
from model.nets.perceptual import NOTES, DiscriminatorFeatures, PyramidSSIM, load_lpips

# The editor's hot graphs (every inversion step, every slider frame) start from F: their eligible convs run as Winograd
# (model/export/winograd.py). Each session holds its own transformed weights (4x the weights, in memory only), so the graphs
# that run rarely keep direct convs.
WINOGRAD_GRAPHS = ('synthesis_from_f', 'grad_fzplus', 'grad_fwplus', 'grad_fzplus_anchored')
REQUIRED = list(REQUIRED_GRAPHS)
OPT_IN = ['grad_s', 'grad_fzplus_anchored']  # exported only when named (--graphs): model.fidelity's S and anchored F/Z+
ALL = [k for k in EXPORTED_GRAPHS if k not in OPT_IN]


def make_perceptual(kind, loaded, lpips_weights=None, vgg_weights=None):
    if kind == 'lpips-vgg':
        if not (lpips_weights and vgg_weights):
            raise SystemExit('--perceptual lpips-vgg needs --lpips-weights and --vgg-weights (local files)')
        return load_lpips(vgg_weights, lpips_weights)
    if kind == 'discriminator':
        if loaded.D is None:
            raise SystemExit('--perceptual discriminator: the checkpoint has no discriminator')
        return DiscriminatorFeatures(loaded.D)
    return PyramidSSIM(loaded.G.size)


def export_pack(checkpoint, out_dir, name=None, title=None, f_res=16, psi=0.7, trunc_layers=8,
                perceptual='pyramid-ssim', lpips_weights=None, vgg_weights=None, fp16=False, keys=None,
                licence='unknown', weights_source=None, default_weights=(1.0, 1.0, 0.1), alignment='none',
                winograd=4, ganspace=0, directions=(), directions_space=None, ganspace_samples=None, log=print):
    t0 = time.time()
    out_dir = os.path.abspath(out_dir)
    name = pack_name(out_dir, name)
    loaded = load_checkpoint(checkpoint)
    G = loaded.G
    if f_res not in G.channels:
        raise SystemExit(f'--f-res {f_res}: the generator has blocks {sorted(G.channels)}')
    pm = PackModel(G, loaded.w_avg, f_res=f_res, psi=psi, trunc_layers=min(trunc_layers, G.n_latent),
                   perceptual=make_perceptual(perceptual, loaded, lpips_weights, vgg_weights))
    from model.directions.pack import export_directions
    direction_entries, _ = export_directions(pm, ganspace, directions, directions_space, ganspace_samples, log)
    keys = keys or ALL
    missing = [k for k in REQUIRED if k not in keys]
    if missing:
        raise SystemExit(f'--graphs must include {missing}')

    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{name}.tmp-', dir=parent)
    try:
        weights = pack.WeightsFile(os.path.join(tmp, 'weights.bin'))
        graphs = {}
        for spec in pm.specs(keys):
            t = time.time()
            m = winograd if spec.key in WINOGRAD_GRAPHS else 0
            model = pack.to_onnx(traced(spec, m), spec.inputs, spec.outputs)
            if fp16:
                from model.export.fp16 import to_fp16, weights_to_fp16
                if spec.grad:
                    model16 = weights_to_fp16(model)  # fp32 math: Winograd is as accurate as in the fp32 graph
                else:  # fp16 math: Winograd's transforms (entries up to 8) would cost too much precision
                    model16 = to_fp16(pack.to_onnx(traced(spec, 0), spec.inputs, spec.outputs) if m else model)
            graphs[spec.key] = pack.save_graph(model, tmp, spec.key, weights)
            if fp16:
                graphs[spec.key + '@fp16'] = pack.save_graph(model16, tmp, spec.key + '@fp16', weights, 'fp16')
            log(f'  {spec.key}: {graphs[spec.key]["bytes"] / 1e3:.0f} kB graph, {time.time() - t:.1f} s')
        weights.close()
        wentry = {'file': 'weights.bin', 'sha256': pack.sha256_file(weights.path), 'bytes': weights.size}
        manifest = build(pm, loaded, name, graphs, wentry, perceptual, NOTES[perceptual], title=title,
                         default_weights=default_weights, licence=licence, weights_source=weights_source,
                         alignment=alignment, directions=direction_entries,
                         notes=f'F = output of the first conv of the {f_res}x{f_res} block; exported with '
                               f'torch {torch.__version__}, opset {pack.OPSET}'
                               + (f'; {", ".join(WINOGRAD_GRAPHS)}: 3x3 convs of >= 64 channels up to 64x64 as '
                                  f'Winograd F({winograd}x{winograd}, 3x3).' if winograd else '.'))
        with open(os.path.join(tmp, 'manifest.json'), 'w') as f:
            json.dump(manifest, f, indent=1)
        old = None
        if os.path.exists(out_dir):
            old = tempfile.mkdtemp(prefix=f'.{name}.old-', dir=parent)
            os.rename(out_dir, os.path.join(old, 'pack'))
        os.rename(tmp, out_dir)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    log(f'pack {out_dir}: {len(graphs)} graphs, weights.bin {weights.size / 1e6:.1f} MB '
        f'(dedup saved {weights.dedup_saved / 1e6:.1f} MB), total {total / 1e6:.1f} MB, {time.time() - t0:.0f} s')
    return manifest, pm


def main(argv=None):
    ap = argparse.ArgumentParser(prog='python3 -m model.export', description=__doc__.split('\n')[0])
    ap.add_argument('checkpoint')
    ap.add_argument('out_dir')
    ap.add_argument('--name', help="pack id: a-z, 0-9, '.', '_', '-' (default: OUT_DIR's folder name made safe, "
                    "'My FFHQ' -> 'my-ffhq')")
    ap.add_argument('--title')
    ap.add_argument('--f-res', type=int, default=16, help='block whose first conv output is F (default 16)')
    ap.add_argument('--psi', type=float, default=0.7)
    ap.add_argument('--trunc-layers', type=int, default=8)
    ap.add_argument('--perceptual', choices=['pyramid-ssim', 'lpips-vgg', 'discriminator'])
    ap.add_argument('--lpips-weights', help='LPIPS v0.1 heads (vgg.pth of richzhang/PerceptualSimilarity)')
    ap.add_argument('--vgg-weights', help='torchvision vgg16 state dict (features.N.weight ...)')
    ap.add_argument('--fp16', action='store_true', help='also write <key>@fp16 copies (fp32 I/O; forward graphs '
                    'in fp16 math, gradient graphs with fp16 weights and fp32 math: see model/export/fp16.py)')
    ap.add_argument('--graphs', help=f'comma-separated subset of {",".join(ALL + OPT_IN)} (required ones always; '
                    f'default: {",".join(ALL)})')
    ap.add_argument('--licence', default='unknown')
    ap.add_argument('--weights-source')
    ap.add_argument('--default-weights', default='1,1,0.1', help='lambda_mse,lambda_perc,lambda_f')
    ap.add_argument('--alignment', choices=['none', 'ffhq-landmarks'], default='none',
                    help="how the app crops photos for this model: 'ffhq-landmarks' for FFHQ-trained generators")
    ap.add_argument('--winograd', type=int, choices=[0, 2, 4], default=4,
                    help='3x3 convs of 64-128 channels at <= 64x64 px as Winograd F(m, 3): 4 (default; ~1e-5 relative '
                         'error, WASM convs 1.7-2.6x faster), 2 (closer to direct, less gain) or 0 (direct convs)')
    ap.add_argument('--ganspace', type=int, default=12, metavar='K',
                    help='GANSpace components to compute as edit directions (default 12, 0: none)')
    ap.add_argument('--ganspace-samples', type=int, default=100_000, help='z samples for the PCA of W')
    ap.add_argument('--directions', nargs='+', default=[], metavar='FILE|SET',
                    help='direction files (InterFaceGAN .npy, GANSpace .npz, e4e/pSp .pt, manifest JSON) or '
                         'interfacegan-ffhq (FFHQ config-f: 1024 px, zDim 512, 18 ws)')
    ap.add_argument('--directions-space', choices=['z', 'w'], help='space of the --directions files, whatever their '
                    'names say (default: W for _w names and .pt, else Z)')
    ap.add_argument('--check', action='store_true', help='run every graph in onnxruntime-node vs PyTorch / float64')
    a = ap.parse_args(argv)
    perceptual = a.perceptual or ('lpips-vgg' if a.lpips_weights else 'pyramid-ssim')
    known = ALL + OPT_IN
    if a.graphs and any(k not in known for k in a.graphs.split(',')):
        ap.error(f'unknown graph keys {[k for k in a.graphs.split(",") if k not in known]}')
    keys = sorted(set(REQUIRED) | set(a.graphs.split(',')), key=known.index) if a.graphs else None
    torch.set_grad_enabled(True)
    try:
        _, pm = export_pack(a.checkpoint, a.out_dir, name=a.name, title=a.title, f_res=a.f_res, psi=a.psi,
                    trunc_layers=a.trunc_layers, perceptual=perceptual, lpips_weights=a.lpips_weights,
                    vgg_weights=a.vgg_weights, fp16=a.fp16, keys=keys, licence=a.licence,
                    weights_source=a.weights_source,
                    default_weights=tuple(float(x) for x in a.default_weights.split(',')),
                    alignment=a.alignment, winograd=a.winograd, ganspace=a.ganspace, directions=a.directions,
                    directions_space=a.directions_space, ganspace_samples=a.ganspace_samples)
    except (CheckpointError, ManifestError, DirectionError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if a.check:
        from model.export.verify import check_pack
        try:
            check_pack(a.out_dir, pm, winograd=bool(a.winograd))
        except AssertionError as e:
            print(f'error: {e}', file=sys.stderr)
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
