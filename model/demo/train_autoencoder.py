"""Reconstruction-first training of the demo StyleGAN2 (64 px) on facesjs renders, on CPU.

Adversarial training converges slowly on two CPU cores, and a GAN that cannot represent the data makes F/Z+
editing fall apart (the F residual is most of F). This trainer makes the generator a good *decoder* first and
then gives it back a Gaussian prior:

  stage `ae`       image -> WEncoder -> one w [B, style_dim] (shared by all layers) -> Generator.synthesis with the
                   stored noise (as the app renders) -> MSE + pyramid-SSIM against the image, optional small
                   non-saturating adversarial term (a Discriminator trained alongside). Decoding also sees w + a
                   little Gaussian noise (denoising: a smooth decoder around every encoded face, which sphere walks
                   and sampled codes need). The synthesis network starts from the shipped GAN's EMA weights.
  stage `mapping`  freeze E and the synthesis network; encode the training faces to a W set; train the mapping
                   network (PixelNorm + MLP, unchanged architecture) so that mapping(z), z ~ N(0, I), matches that
                   set's distribution. `--map-objective energy` (default): the unbiased energy distance between mapped
                   samples and encoded faces, in raw W or in W whitened down to the denoising-noise level
                   (`--map-energy-space`). Measured on the step-16582 decoder: 3 min of it took the domain FID of
                   samples from 138 (sliced Wasserstein + moments + coverage) to 105. `swd` (sliced Wasserstein +
                   moments + coverage) and `gan` (an MLP critic on whitened w; measured unstable:
                   the W Frechet distance rose from 134 to 365 in 228 steps) remain selectable. Mini-batch optimal
                   transport and the nearest-neighbour coverage term are biased in 128 dimensions: a shrunken copy
                   of the data scores better on them than a second sample of the data.

The result is an ordinary rosinality-layout checkpoint (`{'g_ema', 'latent_avg', 'config'}`), exported unchanged by
`python3 -m model.export`.

Run (resumes from --state when it exists; SIGTERM/SIGINT checkpoint and exit):
    nohup nice -n 5 /usr/bin/python3 -m model.demo.train_autoencoder --stage ae --max-minutes 90 >> runs/ae/train.log 2>&1 &
    /usr/bin/python3 -m model.demo.train_autoencoder --stage mapping --max-minutes 10
    /usr/bin/python3 -m model.demo.train_autoencoder --bench 10

Outputs:
  --state (default model/checkpoints/demo64-ae-state.pt)  full state: E, G, G_ema, D, optimisers, step, stage, rng
  --export (default model/checkpoints/demo64-g_ema.pt)    the generator checkpoint the pack is built from
  runs/ae/recon-XXXXXXX.png, runs/ae/samples-XXXXXXX.png   held-out reconstructions / samples from z
"""
import argparse
import math
import os
import random
import signal
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from model.demo.train_gan import (D_CHANNELS, DEMO_CONFIG, accumulate, add_run_arguments, atomic_save, batch_from,
                                  load_data, make_models, requires_grad, save_grid, start_run)
from model.eval.fidelity import fid
from model.eval.faces import psnr
from model.load.checkpoint import load_torch_file
from model.nets.encoder import DownBlock
from model.nets.perceptual import PyramidSSIM


class WEncoder(nn.Module):
    """image [B, 3, R, R] in [-1, 1] -> w [B, w_dim]: residual conv trunk down to 4x4, then two linear layers."""

    def __init__(self, size=64, w_dim=128, width=32, max_ch=256, hidden=512):
        super().__init__()
        self.config = dict(size=size, w_dim=w_dim, width=width, max_ch=max_ch, hidden=hidden)
        ch = lambda r: min(max_ch, width * size // r)
        self.stem = nn.Conv2d(3, ch(size), 3, padding=1)
        blocks, r = [], size
        while r > 4:
            blocks.append(DownBlock(ch(r), ch(r // 2)))
            r //= 2
        self.down = nn.Sequential(*blocks)
        self.fc1 = nn.Linear(ch(4) * 16, hidden)
        self.fc2 = nn.Linear(hidden, w_dim)

    def forward(self, image):
        x = self.down(F.leaky_relu(self.stem(image), 0.2))
        return self.fc2(F.leaky_relu(self.fc1(x.flatten(1)), 0.2))


def sliced_wasserstein(a, b, n_proj=256, generator=None):
    """Squared sliced W2 between two equal-size point sets [N, D] (random unit projections, sorted matching)."""
    proj = torch.randn(a.shape[1], n_proj, generator=generator, dtype=a.dtype)
    proj = proj / proj.norm(dim=0, keepdim=True)
    pa, _ = torch.sort(a @ proj, dim=0)
    pb, _ = torch.sort(b @ proj, dim=0)
    return (pa - pb).pow(2).mean()


def coverage_distance(gen, data):
    """Mean over `data` [N, D] of the squared distance to the nearest point of `gen` [M, D], per dimension: large when
    some data points (a dropped mode) have no generated sample near them."""
    return torch.cdist(data, gen).pow(2).min(dim=1).values.mean() / data.shape[1]


def energy_distance(gen, data):
    """Unbiased (U-statistic) energy distance between two point sets [N, D] and [M, D]:
    2 E|x - y| - E|x - x'| - E|y - y'|, pairs of a point with itself left out. Its expectation is the energy
    distance of the two distributions, a metric, so its minimiser is the data distribution itself; mini-batch optimal
    transport and nearest-neighbour coverage are biased in 128 dimensions (a shrunken copy of the data scores better
    than a second sample of the data)."""
    n, m = gen.shape[0], data.shape[0]
    dist = lambda a, b: (torch.cdist(a, b).pow(2) + 1e-8).sqrt()  # finite gradient at coincident points
    xy = dist(gen, data).mean()
    xx = dist(gen, gen).sum() / (n * (n - 1))
    yy = dist(data, data).sum() / (m * (m - 1))
    return 2 * xy - xx - yy


def whitened_moments(w, mean, whiten):
    """First and second moments of w [B, D] after the encoded set's whitening, against 0 and I (scale-free)."""
    x = (w - mean) @ whiten
    d = x.shape[1]
    return x.mean(0).pow(2).sum() / d + (torch.cov(x.T) - torch.eye(d)).pow(2).sum() / d


class WCritic(nn.Module):
    """Discriminator of the mapping stage: an MLP on whitened w (zero mean, identity covariance of the encoded set), so
    its inputs are O(1) whatever the scale of W. [B, w_dim] -> [B] logits."""

    def __init__(self, w_mean, w_cov, hidden=512, depth=3):
        super().__init__()
        evals, evecs = torch.linalg.eigh(w_cov.double())
        self.register_buffer('mean', w_mean.float().clone())
        self.register_buffer('whiten', (evecs / evals.clamp_min(1e-8).sqrt()).float())  # x -> (x - mean) @ whiten
        layers, d = [], w_mean.numel()
        for _ in range(depth):
            layers += [nn.Linear(d, hidden), nn.LeakyReLU(0.2)]
            d = hidden
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def whitened(self, w):
        return (w - self.mean) @ self.whiten

    def forward(self, w):
        return self.net(self.whitened(w)).squeeze(1)


def export_generator(g_ema, cfg, path, meta):
    """rosinality-layout checkpoint; latent_avg = the mean of mapping(z) (what truncation pulls towards)."""
    with torch.no_grad():
        latent_avg = g_ema.mapping(torch.randn(16384, cfg['style_dim'], generator=torch.Generator().manual_seed(7))).mean(0)
    obj = {'g_ema': {k: v.detach().clone().float() for k, v in g_ema.state_dict().items()},
           'latent_avg': latent_avg.clone(),
           'config': {**cfg, 'channels': {int(k): int(v) for k, v in cfg['channels'].items()}},
           'data': 'facesjs renders (Apache-2.0, https://github.com/zengm-games/facesjs), scripts/faces/render.mjs',
           **meta}
    atomic_save(obj, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--stage', choices=['ae', 'mapping'], default='ae')
    ap.add_argument('--data', default='data/faces-64/train_images.npy')
    ap.add_argument('--heldout', default='data/faces-64/heldout_images.npy')
    ap.add_argument('--init', default='model/checkpoints/demo64-gan-g_ema.pt',
                    help='generator checkpoint the synthesis network starts from (fresh state only)')
    ap.add_argument('--state', default='model/checkpoints/demo64-ae-state.pt')
    ap.add_argument('--export', default='model/checkpoints/demo64-g_ema.pt')
    ap.add_argument('--run-dir', default='runs/ae')
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--lr', type=float, default=0.002, help='G and D (StyleGAN2 default)')
    ap.add_argument('--lr-e', type=float, default=0.0005, help='encoder')
    ap.add_argument('--g-beta1', type=float, default=0.0, help="Adam beta1 of the synthesis network (GAN-style 0)")
    ap.add_argument('--perceptual', type=float, default=1.0, help='weight of pyramid-SSIM (MSE has weight 1 on [-1,1])')
    ap.add_argument('--adv', type=float, default=0.0, help='weight of the adversarial term (0 = off, no D step)')
    ap.add_argument('--r1', type=float, default=0.1)
    ap.add_argument('--w-noise', type=float, default=0.1, help='denoising: std of the noise added to w, in units '
                                                                 'of the per-dimension std of encoded w')
    ap.add_argument('--ema-kimg', type=float, default=5.0)
    ap.add_argument('--map-batch', type=int, default=1024)
    ap.add_argument('--map-coverage', type=float, default=None,
                    help='weight of the coverage term (default 0.5 with swd and gan, 0 with energy, which is unbiased and already covers every face; nearest mapped sample of each encoded face; keeps rare modes: with 0.5, sampled glasses 0.000 -> 0.022, hats 0.004 -> 0.067 against 0.065 / 0.083 in held-out faces)')
    ap.add_argument('--map-objective', choices=['swd', 'energy', 'gan'], default='energy',
                    help='swd: sliced Wasserstein; energy: the unbiased energy distance in whitened W (all dimensions '
                         'at once); gan: a non-saturating GAN against an MLP critic on whitened w. Each adds moments '
                         '(--map-moments) and coverage (--map-coverage)')
    ap.add_argument('--map-faces', type=int, default=0,
                    help='encode only the first N training faces (and their mirror images) for the W set; 0 = all')
    ap.add_argument('--map-energy-space', choices=['raw', 'whitened', 'regularised'], default='regularised',
                    help='where the energy distance is measured: raw W (the large-variance directions dominate, as in '
                         'the W Frechet distance), whitened W (every direction of the encoded set weighs the same; '
                         'measured: ruins the large ones), or regularised (whitened down to the denoising noise level)')
    ap.add_argument('--map-image', type=float, default=0.0,
                    help='weight of an energy distance between rendered samples and training faces in the feature space '
                         'of a second classifier (--map-image-net; 0 = off): it sees what the W moments do not, at the '
                         'cost of rendering --map-image-batch samples per step. The evaluation classifier is not used, '
                         'so the domain FID stays an independent measure')
    ap.add_argument('--map-image-net', default='model/checkpoints/guide64.pt')
    ap.add_argument('--map-image-batch', type=int, default=48)
    ap.add_argument('--map-critic-lr', type=float, default=0.0005)
    ap.add_argument('--map-r1', type=float, default=1.0, help='R1 weight of the mapping critic (on whitened w)')
    ap.add_argument('--map-moments', type=float, default=None,
                    help='weight of whitened first/second-moment matching (default 1 with swd and gan, 0 with energy)')
    ap.add_argument('--map-lr', type=float, default=0.3,
                    help='Adam lr on the stored mapping weights (equalised lr with lr_mul 0.01 scales them by 100)')
    add_run_arguments(ap, 900, 'seconds between full-state saves', 'ignore an existing --state')
    args = ap.parse_args(argv)

    use_bf16 = start_run(args)
    cfg = dict(DEMO_CONFIG)

    g, d = make_models(cfg, D_CHANNELS)
    g_ema, _ = make_models(cfg, D_CHANNELS)
    enc = WEncoder(cfg['size'], cfg['style_dim'])
    synth_params = [p for n, p in g.named_parameters() if not n.startswith('style.')]
    g_opt = torch.optim.Adam(synth_params, lr=args.lr, betas=(args.g_beta1, 0.99))
    e_opt = torch.optim.Adam(enc.parameters(), lr=args.lr_e, betas=(0.9, 0.99))
    d_opt = torch.optim.Adam(d.parameters(), lr=args.lr, betas=(0.0, 0.99))
    map_opt = torch.optim.Adam(g.style.parameters(), lr=args.map_lr, betas=(0.9, 0.99))
    st = {'step': 0, 'seen': 0, 'map_step': 0, 'w_mean': None, 'w_std': None}
    critic = {'net': None, 'opt': None, 'saved': None}  # the mapping stage's critic (built once the W set is known)

    if os.path.exists(args.state) and not args.fresh and not args.bench:
        ck = load_torch_file(args.state)
        g.load_state_dict(ck['g']); g_ema.load_state_dict(ck['g_ema']); enc.load_state_dict(ck['enc'])
        d.load_state_dict(ck['d'])
        g_opt.load_state_dict(ck['g_opt']); e_opt.load_state_dict(ck['e_opt']); d_opt.load_state_dict(ck['d_opt'])
        if ck.get('map_opt'):
            map_opt.load_state_dict(ck['map_opt'])
        if ck.get('map_critic') is not None:
            critic['saved'] = (ck['map_critic'], ck.get('map_critic_opt'))
        st.update(ck['progress'])
        for opt, lr in ((g_opt, args.lr), (e_opt, args.lr_e), (d_opt, args.lr), (map_opt, args.map_lr)):
            for group in opt.param_groups:  # the command line's rates win over the saved ones (lr decay by resuming)
                group['lr'] = lr
        if 'rng' in ck:
            torch.set_rng_state(ck['rng'])
        print(f"resumed from {args.state}: {st['step']} ae steps, {st['map_step']} mapping steps", flush=True)
    elif not args.bench:
        init = load_torch_file(args.init)
        g.load_state_dict(init['g_ema'])
        print(f'fresh: synthesis network from {args.init} (step {init.get("step")})', flush=True)
    if st['step'] == 0:
        g_ema.load_state_dict(g.state_dict())
    g_ema.eval(); requires_grad(g_ema, False)
    perc = PyramidSSIM(cfg['size'])
    noise = g.stored_noise()

    def autocast():
        return torch.autocast('cpu', dtype=torch.bfloat16, enabled=use_bf16)

    def save_state(tag=''):
        state = {'g': g.state_dict(), 'g_ema': g_ema.state_dict(), 'enc': enc.state_dict(), 'd': d.state_dict(),
                 'g_opt': g_opt.state_dict(), 'e_opt': e_opt.state_dict(), 'd_opt': d_opt.state_dict(),
                 'map_opt': map_opt.state_dict(), 'progress': dict(st),
                 'map_critic': critic['net'].state_dict() if critic['net'] is not None else None,
                 'map_critic_opt': critic['opt'].state_dict() if critic['opt'] is not None else None, 'config': cfg, 'enc_config': enc.config,
                 'd_channels': D_CHANNELS, 'args': vars(args), 'rng': torch.get_rng_state()}
        atomic_save(state, args.state)
        print(f"[state] {tag} ae step {st['step']} mapping step {st['map_step']} -> {args.state}", flush=True)

    stop = {'flag': False}
    if not args.bench:
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, lambda *_: stop.__setitem__('flag', True))

    data = load_data(args.data) if not args.bench else torch.randint(0, 255, (64, 64, 64, 3), dtype=torch.uint8)
    held = load_data(args.heldout)[:16] if os.path.exists(args.heldout) and not args.bench else data[:16]
    held_x = batch_from(held, torch.arange(16)).contiguous()
    n_data = data.shape[0]
    rng = np.random.default_rng(args.seed + st['step'] + 7919 * st['map_step'])
    t_start = t_ckpt = t_log = time.time()
    n_log = 0

    def recon_grid(tag):
        with torch.no_grad():
            enc.eval()
            rec = g_ema.synthesis(enc(held_x).unsqueeze(1).repeat(1, g.n_latent, 1), noise)
            enc.train()
        p = psnr(rec, held_x).mean().item()
        from PIL import Image
        grid = torch.cat([held_x[:8], rec[:8], held_x[8:16], rec[8:16]], 0)
        grid = ((grid.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
        r = cfg['size']
        img = grid.reshape(4, 8, r, r, 3).transpose(0, 2, 1, 3, 4).reshape(4 * r, 8 * r, 3)
        Image.fromarray(img).save(os.path.join(args.run_dir, f'recon-{tag}.png'))
        return p

    if args.stage == 'ae':
        stats, bench_times = {}, []
        g.train(); enc.train()
        w_std = torch.ones(cfg['style_dim']) if st['w_std'] is None else st['w_std']
        while st['step'] < args.max_steps:
            t_it = time.time()
            idx = torch.from_numpy(rng.integers(0, n_data, args.batch))
            real = batch_from(data, idx).contiguous()
            if random.random() < 0.5:
                real = real.flip(3)
            requires_grad(g, True); requires_grad(g.style, False)
            with autocast():
                w = enc(real)
                half = args.batch // 2  # the second half of the batch is decoded from a noisy w (denoising)
                jitter = torch.cat([torch.zeros_like(w[:half]), torch.randn_like(w[half:])], 0)
                ws = (w + args.w_noise * w_std * jitter).unsqueeze(1).repeat(1, g.n_latent, 1)
                img = g.synthesis(ws, noise).float()
            target = real
            mse = (img - target).pow(2).mean()
            ps = perc(img, target)
            loss = mse + args.perceptual * ps
            if args.adv > 0:
                requires_grad(d, False)
                with autocast():
                    adv = F.softplus(-d(img)).float().mean()
                loss = loss + args.adv * adv
                stats['adv'] = adv.item()
            g_opt.zero_grad(set_to_none=True); e_opt.zero_grad(set_to_none=True)
            loss.backward()
            g_opt.step(); e_opt.step()
            for k, v in (('mse', mse.item()), ('ssim', ps.item())):  # means over the log window
                stats[k] = stats.get(k, 0.0) + v
            with torch.no_grad():  # running per-dimension std of encoded w (scales the denoising noise)
                w_std = 0.99 * w_std + 0.01 * w.detach().float().std(0)
            if args.adv > 0:
                requires_grad(d, True)
                with autocast():
                    fake_pred = d(img.detach())
                    real_pred = d(real)
                    d_loss = F.softplus(fake_pred.float()).mean() + F.softplus(-real_pred.float()).mean()
                d_opt.zero_grad(set_to_none=True); d_loss.backward(); d_opt.step()
                stats['d'] = d_loss.item()
                if st['step'] % 16 == 0:
                    real_r = real.detach().requires_grad_(True)
                    with autocast():
                        rp = d(real_r)
                    grad, = torch.autograd.grad(rp.float().sum(), real_r, create_graph=True)
                    r1 = grad.float().pow(2).flatten(1).sum(1).mean()
                    d_opt.zero_grad(set_to_none=True)
                    (args.r1 / 2 * r1 * 16 + 0 * rp[0].float().sum()).backward()
                    d_opt.step()
            st['seen'] += args.batch
            accumulate(g_ema, g, 0.5 ** (args.batch / (args.ema_kimg * 1000)))
            st['step'] += 1
            st['w_std'] = w_std
            n_log += 1
            if args.bench:
                bench_times.append(time.time() - t_it)
                if len(bench_times) >= args.bench + 3:
                    t = np.array(bench_times[3:])
                    print(f'bench: {t.mean():.3f} s/iter (median {np.median(t):.3f}) batch {args.batch}, bf16 {use_bf16},'
                          f' adv {args.adv}', flush=True)
                    return
                continue
            if st['step'] % args.log_every == 0:
                dt = (time.time() - t_log) / n_log
                stats = {k: v / n_log if k in ('mse', 'ssim') else v for k, v in stats.items()}
                print(f"step {st['step']} images {st['seen']} " + ' '.join(f'{k} {v:.4f}' for k, v in stats.items())
                      + f' | {dt:.3f} s/iter, {(time.time() - t_start) / 60:.1f} min', flush=True)
                t_log, n_log, stats = time.time(), 0, {}
            if st['step'] % 1000 == 0:
                print(f'held-out PSNR (EMA decoder, encoder w) {recon_grid("%07d" % st["step"]):.2f} dB', flush=True)
            if time.time() - t_ckpt > args.ckpt_every:
                save_state('periodic'); t_ckpt = time.time()
            if args.max_minutes is not None and time.time() - t_start > args.max_minutes * 60:
                break
            if stop['flag']:
                print('signal received: saving state and exiting', flush=True)
                break
        print(f'held-out PSNR (EMA decoder, encoder w) {recon_grid("%07d" % st["step"]):.2f} dB', flush=True)
        save_state('end of ae')
        return

    # ---- stage mapping: fit mapping(z) to the distribution of encoded training faces
    enc.eval()
    n_enc = n_data if args.map_faces <= 0 else min(args.map_faces, n_data)
    suffix = '' if n_enc == n_data else f'-{n_enc}'
    cache = os.path.join(args.run_dir, f"w_set-ae{st['step']}{suffix}.pt")  # the encoded set depends only on E
    if os.path.exists(cache):
        w_set = load_torch_file(cache)
    else:
        t_enc = time.time()
        with torch.no_grad():
            w_set = []
            for i in range(0, n_enc, 256):
                idx = torch.arange(i, min(i + 256, n_enc))
                x = batch_from(data, idx).contiguous()
                w_set.append(enc(x))
                w_set.append(enc(x.flip(3)))
                if stop['flag']:
                    print('signal received while encoding: exiting without a mapping step', flush=True)
                    return
            w_set = torch.cat(w_set).float()
        torch.save(w_set, cache)
        print(f'encoded {n_enc} faces (+ mirrors) in {time.time() - t_enc:.0f} s -> {cache}', flush=True)
    t_start = time.time()  # --max-minutes counts the mapping fit, not the encoding
    mu, cov = w_set.mean(0), torch.cov(w_set.T)
    evals, evecs = torch.linalg.eigh(cov.double())
    whiten = (evecs / evals.clamp_min(1e-8).sqrt()).float()
    # the energy distance's coordinates: the encoded set's principal axes, each scaled by 1 / sqrt(variance + floor).
    # raw: floor = infinity (plain W, up to scale); whitened: floor 0; regularised: floor = the variance of the
    # denoising noise the decoder was trained with, so directions in which encoded faces vary less than that noise
    # (where the decoder is equally good everywhere) weigh no more than the noise itself
    floor = {'raw': float(evals.max()) * 1e6, 'whitened': 0.0,
             'regularised': float((args.w_noise * w_set.std(0).mean()) ** 2)}[args.map_energy_space]
    energy_basis = (evecs / (evals + floor).sqrt()).float() * (1.0 if args.map_energy_space != 'raw' else math.sqrt(floor))
    print(f'W set: {w_set.shape[0]} codes; w mean norm {mu.norm():.3f}, trace cov {cov.trace():.3f}', flush=True)
    requires_grad(g, False); requires_grad(g.style, True)  # only the mapping learns here
    if args.map_moments is None:
        args.map_moments = 0.0 if args.map_objective == 'energy' else 1.0
    if args.map_coverage is None:
        args.map_coverage = 0.0 if args.map_objective == 'energy' else 0.5
    if args.map_objective == 'gan':
        critic['net'] = WCritic(mu, cov)
        critic['opt'] = torch.optim.Adam(critic['net'].parameters(), lr=args.map_critic_lr, betas=(0.5, 0.99))
        if critic['saved'] is not None and st.get('map_critic_ae') == st['step']:
            critic['net'].load_state_dict(critic['saved'][0])
            if critic['saved'][1] is not None:
                critic['opt'].load_state_dict(critic['saved'][1])
            print('mapping critic resumed', flush=True)
        st['map_critic_ae'] = st['step']  # a critic belongs to one W set (one encoder)
    gen = torch.Generator().manual_seed(args.seed + st['map_step'])
    probe_z = torch.randn(8192, cfg['style_dim'], generator=torch.Generator().manual_seed(99))
    probe_ref = w_set[torch.randperm(w_set.shape[0], generator=torch.Generator().manual_seed(98))[:8192]]

    def w_fd():
        with torch.no_grad():
            return fid(g.mapping(probe_z), probe_ref)

    if args.map_image > 0:
        from model.nets.classifier import load_classifier
        image_net, _ = load_classifier(args.map_image_net)
        requires_grad(image_net, False)
        feature_net = image_net.penultimate
        with torch.no_grad():
            image_ref = torch.cat([feature_net(batch_from(data, torch.arange(i, min(i + 256, n_enc))).contiguous())
                                   for i in range(0, n_enc, 256)])
        print(f'image term: {args.map_image_net} features of {n_enc} training faces', flush=True)

    print(f"mapping step {st['map_step']}: W Frechet distance to the encoded set {w_fd():.1f}", flush=True)
    stats, n_log = {}, 0
    while st['map_step'] < args.max_steps:
        z = torch.randn(args.map_batch, cfg['style_dim'], generator=gen)
        ref = w_set[torch.randint(0, w_set.shape[0], (args.map_batch,), generator=gen)]
        if critic['net'] is not None:  # critic step: real = encoded w, fake = mapped w
            requires_grad(critic['net'], True)
            with torch.no_grad():
                fake = g.mapping(z)
            real = critic['net'].whitened(ref).requires_grad_(True)  # R1 is taken w.r.t. whitened w
            real_pred = critic['net'].net(real).squeeze(1)
            d_loss = F.softplus(critic['net'](fake)).mean() + F.softplus(-real_pred).mean()
            grad, = torch.autograd.grad(real_pred.sum(), real, create_graph=True)
            r1 = grad.pow(2).sum(1).mean()
            critic['opt'].zero_grad(set_to_none=True)
            (d_loss + args.map_r1 / 2 * r1).backward()
            critic['opt'].step()
            requires_grad(critic['net'], False)
            stats['d'] = stats.get('d', 0.0) + d_loss.item()
            z = torch.randn(args.map_batch, cfg['style_dim'], generator=gen)
        w = g.mapping(z)
        mom = whitened_moments(w, mu, whiten)
        cov_d = coverage_distance(w, ref) if args.map_coverage > 0 else torch.zeros(())
        if critic['net'] is not None:
            fit = F.softplus(-critic['net'](w)).mean()
        elif args.map_objective == 'energy':
            fit = energy_distance((w - mu) @ energy_basis, (ref - mu) @ energy_basis)
        else:
            fit = sliced_wasserstein(w, ref, generator=gen)
        loss = fit + args.map_moments * mom + args.map_coverage * cov_d
        image = torch.zeros(())
        if args.map_image > 0:
            wi = w[:args.map_image_batch]
            img = g.synthesis(wi[:, None].repeat(1, g.n_latent, 1)).clamp(-1, 1)
            ref_i = image_ref[torch.randint(0, image_ref.shape[0], (4 * args.map_image_batch,), generator=gen)]
            image = energy_distance(feature_net(img), ref_i)
            loss = loss + args.map_image * image
        map_opt.zero_grad(set_to_none=True); loss.backward(); map_opt.step()
        st['map_step'] += 1
        n_log += 1
        for k, v in (('fit', fit.item()), ('moments', mom.item()), ('coverage', cov_d.item()), ('image', image.item())):
            stats[k] = stats.get(k, 0.0) + v
        if st['map_step'] % 100 == 0:
            print(f"mapping step {st['map_step']} ({args.map_objective}) "
                  + ' '.join(f'{k} {v / n_log:.5f}' for k, v in stats.items())
                  + (f' | W FD {w_fd():.1f}' if st['map_step'] % 500 == 0 else '')
                  + f' | {(time.time() - t_start) / 60:.1f} min', flush=True)
            stats, n_log = {}, 0
        if time.time() - t_ckpt > args.ckpt_every:
            save_state('periodic'); t_ckpt = time.time()
        if args.max_minutes is not None and time.time() - t_start > args.max_minutes * 60 or stop['flag']:
            break
    print(f"mapping step {st['map_step']}: W Frechet distance to the encoded set {w_fd():.1f}", flush=True)
    g_ema.style.load_state_dict(g.style.state_dict())
    with torch.no_grad():
        save_grid(g_ema, torch.randn(64, cfg['style_dim'], generator=torch.Generator().manual_seed(1234)),
                  os.path.join(args.run_dir, f"samples-{st['map_step']:07d}.png"))
    save_state('end of mapping')
    export_generator(g_ema, cfg, args.export,
                     {'step': st['step'], 'images_seen': st['seen'], 'mapping_steps': st['map_step'],
                      'training': 'reconstruction-first (model/demo/train_autoencoder.py)'})
    print(f'exported {args.export}', flush=True)


if __name__ == '__main__':
    main()
