"""Train the demo StyleGAN2 (64 px, ~1.5 M generator parameters) on facesjs renders, on CPU.

Losses as StyleGAN2 (rosinality/stylegan2-pytorch, MIT): non-saturating logistic, lazy R1 on reals every
`--d-reg-every` steps, style mixing, EMA generator (StyleGAN2-ADA's half-life in images with ramp-up), optional
lazy path-length regularisation and DiffAugment-style translation/colour augmentation (both off by default).

Data: `node scripts/faces/render.mjs` -> data/faces-64/train_images.npy ([N, 64, 64, 3] uint8).

Run (background, survives the shell; resumes from runs/demo/ckpt.pt when it exists):
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 nohup nice -n 5 /usr/bin/python3 -m model.demo.train_gan \
        >> runs/demo/train.log 2>&1 &
Measure speed only:  /usr/bin/python3 -m model.demo.train_gan --bench 20

Outputs:
  runs/demo/ckpt.pt                       full state (G, D, G_ema, optimisers, step, images seen), every --ckpt-every s
  model/checkpoints/demo64-g_ema.pt       {'g_ema': state_dict, 'latent_avg': [1, D], 'config': {...}, ...}
  model/checkpoints/demo64-samples.png    8x8 grid of EMA samples from fixed z (truncation 1)
  runs/demo/samples/step-XXXXXX.png       grid history
"""
import argparse
import json
import math
import os
import random
import signal
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from model.load.checkpoint import load_torch_file
from model.nets.stylegan2 import Discriminator, Generator

DEMO_CONFIG = dict(size=64, style_dim=128, n_mlp=4, channel_multiplier=1,
                   channels={4: 128, 8: 128, 16: 128, 32: 64, 64: 32}, lr_mlp=0.01)
D_CHANNELS = {4: 128, 8: 128, 16: 128, 32: 64, 64: 32}


def has_avx512_bf16():
    try:
        with open('/proc/cpuinfo') as f:
            return 'avx512_bf16' in f.read()
    except OSError:
        return False


def make_models(cfg, d_channels):
    g = Generator(cfg['size'], cfg['style_dim'], cfg['n_mlp'], cfg['channel_multiplier'], channels=cfg['channels'],
                  lr_mlp=cfg['lr_mlp'])
    d = Discriminator(cfg['size'], cfg['channel_multiplier'], channels=d_channels)
    return g, d


# ---- augmentation (DiffAugment: translation + colour, differentiable, applied to reals and fakes) -----------
def diff_augment(x, translation=0.125, colour=True):
    if colour:
        b = x.shape[0]
        x = x + (torch.rand(b, 1, 1, 1, dtype=x.dtype) - 0.5)                     # brightness
        m = x.mean(dim=1, keepdim=True)
        x = (x - m) * (torch.rand(b, 1, 1, 1, dtype=x.dtype) * 2) + m             # saturation
        m = x.mean(dim=[1, 2, 3], keepdim=True)
        x = (x - m) * (torch.rand(b, 1, 1, 1, dtype=x.dtype) + 0.5) + m           # contrast
    if translation > 0:
        b, _, h, w = x.shape
        sh, sw = int(h * translation + 0.5), int(w * translation + 0.5)
        tx = torch.randint(-sh, sh + 1, (b, 1, 1))
        ty = torch.randint(-sw, sw + 1, (b, 1, 1))
        gb, gx, gy = torch.meshgrid(torch.arange(b), torch.arange(h), torch.arange(w), indexing='ij')
        gx = torch.clamp(gx + tx + 1, 0, h + 1)
        gy = torch.clamp(gy + ty + 1, 0, w + 1)
        xp = F.pad(x, [1, 1, 1, 1])
        x = xp.permute(0, 2, 3, 1)[gb, gx, gy].permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    return x


# ---- helpers --------------------------------------------------------------------------------------------------
def requires_grad(m, flag):
    for p in m.parameters():
        p.requires_grad_(flag)


@torch.no_grad()
def accumulate(ema, model, beta):
    pe = dict(ema.named_parameters())
    for k, p in model.named_parameters():
        pe[k].mul_(beta).add_(p.detach(), alpha=1 - beta)
    be = dict(ema.named_buffers())
    for k, b in model.named_buffers():
        be[k].copy_(b)


def make_noise_z(batch, dim, mixing):
    if mixing > 0 and random.random() < mixing:
        return list(torch.randn(2, batch, dim).unbind(0))
    return [torch.randn(batch, dim)]


def atomic_save(obj, path):
    tmp = path + '.tmp'
    torch.save(obj, tmp)
    os.replace(tmp, path)


@torch.no_grad()
def save_grid(g, z, path, nrow=8):
    from PIL import Image
    g.eval()
    img, _ = g([z], randomize_noise=False)
    img = ((img.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    n, h, w, _ = img.shape
    rows = math.ceil(n / nrow)
    grid = np.full((rows * h, nrow * w, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, nrow)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = img[i]
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    Image.fromarray(grid).save(path)


def export_g_ema(g_ema, cfg, path, step, seen, n_mean=8192):
    with torch.no_grad():
        latent_avg = g_ema.mean_latent(n_mean)
    obj = {'g_ema': {k: v.detach().clone().float() for k, v in g_ema.state_dict().items()},
           'latent_avg': latent_avg[0].clone(),
           'config': {**cfg, 'channels': {int(k): int(v) for k, v in cfg['channels'].items()}},
           'step': step, 'images_seen': seen,
           'data': 'facesjs renders (Apache-2.0, https://github.com/zengm-games/facesjs), scripts/faces/render.mjs'}
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    atomic_save(obj, path)


def load_data(path):
    x = np.load(path, mmap_mode='r')
    x = torch.from_numpy(np.ascontiguousarray(x))  # [N, H, W, 3] uint8, in memory (614 MB for 50k at 64 px)
    return x


def batch_from(data, idx):
    x = data[idx].permute(0, 3, 1, 2).float().div_(127.5).sub_(1)
    return x.contiguous(memory_format=torch.channels_last)


def add_run_arguments(ap, ckpt_every, ckpt_help, fresh_help):
    """The options every demo trainer shares: threads, precision, run length, logging, seed, bench, resume."""
    ap.add_argument('--threads', type=int, default=1,
                    help='1 is robust on a shared 2-core machine (2 threads stall badly when anything else runs)')
    ap.add_argument('--bf16', choices=['auto', 'on', 'off'], default='auto')
    ap.add_argument('--max-steps', type=int, default=10 ** 9)
    ap.add_argument('--max-minutes', type=float, default=None)
    ap.add_argument('--ckpt-every', type=float, default=ckpt_every, help=ckpt_help)
    ap.add_argument('--log-every', type=int, default=50)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--bench', type=int, default=0, help='time this many iterations (after 3 warm-up) and exit')
    ap.add_argument('--fresh', action='store_true', help=fresh_help)


def start_run(args):
    """Threads, seeds and the run folder for add_run_arguments' options; returns whether to autocast to bf16."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    os.makedirs(args.run_dir, exist_ok=True)
    return args.bf16 == 'on' or (args.bf16 == 'auto' and has_avx512_bf16())


# ---- main -----------------------------------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default='data/faces-64/train_images.npy')
    ap.add_argument('--run-dir', default='runs/demo')
    ap.add_argument('--export', default='model/checkpoints/demo64-gan-g_ema.pt')
    ap.add_argument('--grid', default='model/checkpoints/demo64-gan-samples.png')
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--lr', type=float, default=0.002)
    ap.add_argument('--r1', type=float, default=0.1, help='R1 gamma (StyleGAN2-ADA heuristic at 64 px, batch 16: ~0.05)')
    ap.add_argument('--d-reg-every', type=int, default=16)
    ap.add_argument('--path-reg', type=float, default=0.0, help='path-length weight (0 = off; StyleGAN2 uses 2)')
    ap.add_argument('--g-reg-every', type=int, default=4)
    ap.add_argument('--mixing', type=float, default=0.9)
    ap.add_argument('--ema-kimg', type=float, default=None, help='EMA half-life in k images (default batch*10/32)')
    ap.add_argument('--ema-rampup', type=float, default=0.05)
    ap.add_argument('--augment', default='', help="'', 'translation', 'colour', or 'translation,colour'")
    ap.add_argument('--channels-last', type=int, default=0, help='D in channels_last (measured 2x slower here)')
    add_run_arguments(ap, 600, 'seconds between full checkpoints + g_ema export', 'ignore an existing runs/demo/ckpt.pt')
    args = ap.parse_args(argv)

    use_bf16 = start_run(args)
    cfg = dict(DEMO_CONFIG)
    ckpt_path = os.path.join(args.run_dir, 'ckpt.pt')

    g, d = make_models(cfg, D_CHANNELS)
    g_ema, _ = make_models(cfg, D_CHANNELS)
    g_ema.load_state_dict(g.state_dict())
    g_ema.eval()
    requires_grad(g_ema, False)
    # channels_last: D only (G's modulated-conv weights are 5-D; G's activations follow the conv input layout)
    if args.channels_last:
        d = d.to(memory_format=torch.channels_last)
    g_ratio = args.g_reg_every / (args.g_reg_every + 1) if args.path_reg > 0 else 1.0
    d_ratio = args.d_reg_every / (args.d_reg_every + 1)
    g_opt = torch.optim.Adam(g.parameters(), lr=args.lr * g_ratio, betas=(0, 0.99 ** g_ratio))
    d_opt = torch.optim.Adam(d.parameters(), lr=args.lr * d_ratio, betas=(0, 0.99 ** d_ratio))

    step, seen, mean_path = 0, 0, torch.zeros(())
    fixed_z = torch.randn(64, cfg['style_dim'], generator=torch.Generator().manual_seed(1234))
    if os.path.exists(ckpt_path) and not args.fresh and not args.bench:
        ck = load_torch_file(ckpt_path)
        g.load_state_dict(ck['g']); d.load_state_dict(ck['d']); g_ema.load_state_dict(ck['g_ema'])
        g_opt.load_state_dict(ck['g_opt']); d_opt.load_state_dict(ck['d_opt'])
        step, seen = ck['step'], ck['images_seen']
        mean_path = ck.get('mean_path_length', mean_path)
        if 'rng' in ck:
            torch.set_rng_state(ck['rng'])
        print(f'resumed from {ckpt_path}: step {step}, {seen} images seen', flush=True)

    n_g = sum(p.numel() for p in g.parameters())
    n_d = sum(p.numel() for p in d.parameters())
    data = load_data(args.data) if not args.bench else None
    n_data = data.shape[0] if data is not None else 0
    print(f'G {n_g / 1e6:.2f} M params, D {n_d / 1e6:.2f} M, data {n_data}, batch {args.batch}, bf16 {use_bf16}, '
          f'threads {torch.get_num_threads()}, args {vars(args)}', flush=True)
    aug = [a for a in args.augment.split(',') if a]
    ema_kimg = args.ema_kimg if args.ema_kimg is not None else args.batch * 10 / 32

    def augment(x):
        if not aug:
            return x
        return diff_augment(x, translation=0.125 if 'translation' in aug else 0, colour='colour' in aug)

    def autocast():
        return torch.autocast('cpu', dtype=torch.bfloat16, enabled=use_bf16)

    def save_all(final=False):
        state = {'g': g.state_dict(), 'd': d.state_dict(), 'g_ema': g_ema.state_dict(), 'g_opt': g_opt.state_dict(),
                 'd_opt': d_opt.state_dict(), 'step': step, 'images_seen': seen, 'mean_path_length': mean_path,
                 'config': cfg, 'd_channels': D_CHANNELS, 'args': vars(args), 'rng': torch.get_rng_state()}
        atomic_save(state, ckpt_path)
        export_g_ema(g_ema, cfg, args.export, step, seen)
        save_grid(g_ema, fixed_z, args.grid)
        save_grid(g_ema, fixed_z, os.path.join(args.run_dir, 'samples', f'step-{step:07d}.png'))
        print(f'[ckpt] step {step} images {seen} -> {ckpt_path}, {args.export}, {args.grid}', flush=True)

    stop = {'flag': False}

    def on_term(signum, frame):  # SIGTERM / SIGINT: checkpoint at the end of the current iteration, then exit
        stop['flag'] = True

    if not args.bench:
        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
    t_start = time.time()
    t_ckpt = time.time()
    t_log, seen_log = time.time(), seen
    stats = {}
    bench_times = []
    rng = np.random.default_rng(args.seed + step)
    g.train(); d.train()
    while step < args.max_steps:
        t_it = time.time()
        if args.bench:
            real = torch.randn(args.batch, 3, cfg['size'], cfg['size']).contiguous(memory_format=torch.channels_last)
        else:
            real = batch_from(data, torch.from_numpy(rng.integers(0, n_data, args.batch)))
            if random.random() < 0.5:  # x-flip (faces are near-symmetric; facesjs flips features at random)
                real = real.flip(3)

        # ---- D step
        requires_grad(g, False); requires_grad(d, True)
        with autocast():
            fake, _ = g(make_noise_z(args.batch, cfg['style_dim'], args.mixing))
            fake_pred = d(augment(fake.detach()))
            real_pred = d(augment(real))
            d_loss = F.softplus(fake_pred.float()).mean() + F.softplus(-real_pred.float()).mean()
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        stats['d'] = d_loss.item()
        stats['real'] = real_pred.float().mean().item()
        stats['fake'] = fake_pred.float().mean().item()

        if step % args.d_reg_every == 0 and args.r1 > 0:
            real_r = real.detach().requires_grad_(True)
            with autocast():
                rp = d(augment(real_r))
            grad, = torch.autograd.grad(rp.float().sum(), real_r, create_graph=True)
            r1 = grad.float().pow(2).reshape(grad.shape[0], -1).sum(1).mean()
            d_opt.zero_grad(set_to_none=True)
            (args.r1 / 2 * r1 * args.d_reg_every + 0 * rp[0].float().sum()).backward()
            d_opt.step()
            stats['r1'] = r1.item()

        # ---- G step
        requires_grad(g, True); requires_grad(d, False)
        with autocast():
            fake, _ = g(make_noise_z(args.batch, cfg['style_dim'], args.mixing))
            g_loss = F.softplus(-d(augment(fake)).float()).mean()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        stats['g'] = g_loss.item()

        if args.path_reg > 0 and step % args.g_reg_every == 0:
            pb = max(1, args.batch // 2)
            with autocast():
                fake, latents = g(make_noise_z(pb, cfg['style_dim'], args.mixing), return_latents=True)
            noise = torch.randn_like(fake.float()) / math.sqrt(fake.shape[2] * fake.shape[3])
            grad, = torch.autograd.grad((fake.float() * noise).sum(), latents, create_graph=True)
            lengths = grad.float().pow(2).sum(2).mean(1).sqrt()
            mean_path = mean_path + 0.01 * (lengths.mean().detach() - mean_path)
            pl = (lengths - mean_path).pow(2).mean()
            g_opt.zero_grad(set_to_none=True)
            (args.path_reg * args.g_reg_every * pl + 0 * fake[0, 0, 0, 0].float()).backward()
            g_opt.step()
            stats['pl'] = pl.item()

        # ---- EMA
        seen += args.batch
        half = ema_kimg * 1000
        if args.ema_rampup:
            half = min(half, seen * args.ema_rampup)
        accumulate(g_ema, g, 0.5 ** (args.batch / max(half, 1e-8)))
        step += 1

        if args.bench:
            bench_times.append(time.time() - t_it)
            if len(bench_times) >= args.bench + 3:
                t = np.array(bench_times[3:])
                print(f'bench: {t.mean():.3f} s/iter (median {np.median(t):.3f}, min {t.min():.3f}) batch {args.batch}, '
                      f'bf16 {use_bf16}, augment {aug}, path_reg {args.path_reg}', flush=True)
                return
            continue

        if step % args.log_every == 0:
            dt = time.time() - t_log
            sp = dt / ((seen - seen_log) / args.batch)
            print(f'step {step} images {seen} ' + ' '.join(f'{k} {v:.3f}' for k, v in stats.items()) +
                  f' | {sp:.3f} s/iter, {(time.time() - t_start) / 60:.1f} min', flush=True)
            t_log, seen_log = time.time(), seen
        if time.time() - t_ckpt > args.ckpt_every:
            save_all()
            t_ckpt = time.time()
        if args.max_minutes is not None and time.time() - t_start > args.max_minutes * 60:
            break
        if stop['flag']:
            print(f'signal received at step {step}: checkpointing and exiting', flush=True)
            break
    if not args.bench:
        save_all(final=True)


if __name__ == '__main__':
    main()
