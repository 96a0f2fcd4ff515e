"""Train the inversion-start encoder (model/nets/encoder.py) self-supervised on samples of a frozen generator.

Each step: sample Z+ (on the sphere, half of them style-mixed), map + truncate as the engine does, render with
the stored noise, take F at every requested block; the encoder sees the image and regresses
  * z (1 - cosine per layer) and the mapped, truncated w (MSE, normalised by Var w),
  * F at each block (MSE normalised by the block's mean F^2),
  * the image itself through `synthesis_from_f(F_pred, W_pred)` (MSE; one F block per step, cycled),
and optionally (--real-weight > 0) a reconstruction term on real training faces (data/faces-64/train_images.npy),
which closes the gap between generated and drawn faces (the held-out faces the fidelity bench inverts).

The learning rate follows a cosine over the time budget (--minutes), so a run ends on schedule whatever the load.

    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 nice -n 15 /usr/bin/python3 -m model.demo.train_encoder \
        --checkpoint model/checkpoints/demo64-g_ema.pt --minutes 15 --out model/checkpoints/encoder64.pt
    (--checkpoint random: a random generator of the demo config, for development)
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
from torch.nn import functional as F

from model.demo.train_gan import has_avx512_bf16
from model.eval.faces import load_faces, psnr
from model.eval.fidelity import load_pack_model
from model.nets.encoder import Encoder, save_encoder


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--checkpoint', default='model/checkpoints/demo64-g_ema.pt', help="generator checkpoint or 'random'")
    p.add_argument('--out', default='model/checkpoints/encoder64.pt')
    p.add_argument('--f-res', default='8,16,32', help='F blocks to give heads to')
    p.add_argument('--psi', type=float, default=1.0, help='truncation psi the pack uses')
    p.add_argument('--trunc-layers', type=int, default=None)
    p.add_argument('--minutes', type=float, default=15.0)
    p.add_argument('--steps', type=int, default=100000)
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--mix-prob', type=float, default=0.5)
    p.add_argument('--w-z', type=float, default=1.0)
    p.add_argument('--w-w', type=float, default=1.0)
    p.add_argument('--w-f', type=float, default=1.0)
    p.add_argument('--w-rec', type=float, default=10.0)
    p.add_argument('--data', default='data/faces-64')
    p.add_argument('--real-weight', type=float, default=10.0, help='weight of the real-face reconstruction term (0: off)')
    p.add_argument('--real-batch', type=int, default=8)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--eval-every', type=int, default=100)
    p.add_argument('--width', type=int, default=24)
    p.add_argument('--bf16', default='auto', choices=['auto', 'on', 'off'],
                   help='bf16 autocast (auto: on when the CPU has avx512_bf16)')
    p.add_argument('--save-every', type=float, default=0, help='seconds; also save the encoder on the way')
    p.add_argument('--reload-every', type=float, default=0,
                   help='seconds; reload --checkpoint when the file changed (follow a GAN that is still training)')
    p.add_argument('--init', default=None, help='start from this encoder checkpoint (fine-tune)')
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args(argv)


def sample_zplus(b, num_ws, z_dim, mix_prob=0.5, generator=None):
    """Z+ on the sphere; with probability mix_prob two codes with a random crossover (style mixing)."""
    z1 = torch.randn(b, 1, z_dim, generator=generator)
    z2 = torch.randn(b, 1, z_dim, generator=generator)
    cut = torch.randint(1, num_ws, (b, 1, 1), generator=generator)
    mix = torch.rand(b, 1, 1, generator=generator) < mix_prob
    idx = torch.arange(num_ws).view(1, -1, 1)
    z = torch.where(mix & (idx >= cut), z2, z1)
    return z * torch.rsqrt(torch.mean(z * z, -1, keepdim=True) + 1e-8)


@torch.no_grad()
def render(bundle, zplus, f_res_list):
    w = bundle.zplus_to_wplus_batch(zplus)
    img = bundle.G.synthesis(w)
    fs = {r: bundle.G.features(w, r) for r in f_res_list}
    return w, img, fs


@torch.no_grad()
def evaluate(enc, bundle, f_res_list, gen_batch, real_imgs):
    enc.eval()
    zt, wt, img, fst = gen_batch
    fs, zp = enc(img)
    wp = bundle.zplus_to_wplus_batch(zp)
    out = {'z_cos': float((zp * zt).sum(-1).div(bundle.z_dim).mean())}
    for r in f_res_list:
        out[f'gen_psnr_f{r}'] = float(psnr(bundle.G.synthesis_from_f(fs[r], wp, r), img).mean())
    if real_imgs is not None:
        fs, zp = enc(real_imgs)
        wp = bundle.zplus_to_wplus_batch(zp)
        for r in f_res_list:
            out[f'real_psnr_f{r}'] = float(psnr(bundle.G.synthesis_from_f(fs[r], wp, r), real_imgs).mean())
    enc.train()
    return out


def _losses(args, enc, bundle, G, zt, wt, img, fst, f_res_list, w_var, f_scale, step, real, rng):
    fs, zp = enc(img)
    fs = {r: v.float() for r, v in fs.items()}
    zp = zp.float()
    wp = bundle.zplus_to_wplus_batch(zp).float()
    l_z = (1 - (zp * zt).sum(-1) / bundle.z_dim).mean()
    l_w = F.mse_loss(wp, wt) / w_var
    l_f = sum(F.mse_loss(fs[r], fst[r]) / f_scale[r] for r in f_res_list) / len(f_res_list)
    r = f_res_list[step % len(f_res_list)]
    l_rec = F.mse_loss(G.synthesis_from_f(fs[r], wp, r).float(), img)
    loss = args.w_z * l_z + args.w_w * l_w + args.w_f * l_f + args.w_rec * l_rec
    l_real = torch.zeros(())
    if real is not None:
        idx = np.sort(rng.choice(real.shape[0], args.real_batch, replace=False))
        x = torch.from_numpy(np.ascontiguousarray(real[idx])).permute(0, 3, 1, 2).float() / 127.5 - 1
        fsr, zpr = enc(x, r)
        l_real = F.mse_loss(G.synthesis_from_f(fsr[r].float(), bundle.zplus_to_wplus_batch(zpr.float()), r).float(), x)
        loss = loss + args.real_weight * l_real
    return loss, l_z, l_w, l_f, l_rec, l_real


@torch.no_grad()
def _normalisers(bundle, f_res_list, fs_eval):
    zz = sample_zplus(256, bundle.num_ws, bundle.z_dim, generator=torch.Generator().manual_seed(99))
    w_var = float(bundle.zplus_to_wplus_batch(zz).var(0).mean()) + 1e-8
    return w_var, {r: float(fs_eval[r].pow(2).mean()) + 1e-8 for r in f_res_list}


def _save(out, enc, meta):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_encoder(out + '.tmp', enc.eval(), meta)
    os.replace(out + '.tmp', out)


def train(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    f_res_list = [int(r) for r in str(args.f_res).split(',') if r]
    bundle = load_pack_model(args.checkpoint, args.psi, args.trunc_layers)
    G = bundle.G
    if args.init:
        from model.nets.encoder import load_encoder
        enc, _ = load_encoder(args.init)
        assert set(enc.f_channels) >= set(f_res_list)
    else:
        enc = Encoder(G.size, bundle.z_dim, bundle.num_ws, {r: G.channels[r] for r in f_res_list}, width=args.width)
    enc.train()
    opt = torch.optim.Adam(enc.parameters(), lr=args.lr, betas=(0.9, 0.99))

    # normalisers and a fixed eval set
    g = torch.Generator().manual_seed(1234)
    z_eval = sample_zplus(32, bundle.num_ws, bundle.z_dim, mix_prob=args.mix_prob, generator=g)
    w_eval, img_eval, fs_eval = render(bundle, z_eval, f_res_list)
    w_var, f_scale = _normalisers(bundle, f_res_list, fs_eval)

    real = None
    real_eval = None
    if args.real_weight > 0 and os.path.exists(os.path.join(args.data, 'train_images.npy')):
        real = np.load(os.path.join(args.data, 'train_images.npy'), mmap_mode='r')
        real_eval = load_faces(args.data, 'heldout', n=32, start=900)  # fidelity/samples use the first ones
    print(json.dumps({'event': 'start', 'params': sum(p.numel() for p in enc.parameters()), 'f_res': f_res_list,
                      'w_var': w_var, 'f_scale': f_scale, 'real': real is not None, 'checkpoint': args.checkpoint}),
          flush=True)

    use_bf16 = args.bf16 == 'on' or (args.bf16 == 'auto' and has_avx512_bf16())
    ck_mtime = os.path.getmtime(args.checkpoint) if os.path.isfile(str(args.checkpoint)) else None
    last_reload = last_save = time.time()
    reloads = 0
    t0 = time.time()
    budget = args.minutes * 60
    step = 0
    rng = np.random.default_rng(args.seed)
    hist = []
    while step < args.steps:
        frac = min(1.0, (time.time() - t0) / budget)
        if frac >= 1.0:
            break
        lr = args.lr * (0.5 * (1 + math.cos(math.pi * frac))) * min(1.0, (step + 1) / 50)
        for gr in opt.param_groups:
            gr['lr'] = lr
        if args.reload_every and ck_mtime and time.time() - last_reload > args.reload_every:
            last_reload = time.time()
            m = os.path.getmtime(args.checkpoint)
            if m != ck_mtime:
                try:
                    nb = load_pack_model(args.checkpoint, args.psi, args.trunc_layers)
                    bundle, G, ck_mtime = nb, nb.G, m
                    w_eval, img_eval, fs_eval = render(bundle, z_eval, f_res_list)
                    w_var, f_scale = _normalisers(bundle, f_res_list, fs_eval)
                    reloads += 1
                    print(json.dumps({'event': 'reload', 'step': step, 'sha256': bundle.sha256[:12]}), flush=True)
                except Exception as e:  # a half-written file: try again next time
                    print(json.dumps({'event': 'reload-failed', 'error': str(e)[:200]}), flush=True)
        zt = sample_zplus(args.batch, bundle.num_ws, bundle.z_dim, mix_prob=args.mix_prob)
        wt, img, fst = render(bundle, zt, f_res_list)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=use_bf16):
            loss, l_z, l_w, l_f, l_rec, l_real = _losses(args, enc, bundle, G, zt, wt, img, fst, f_res_list, w_var,
                                                         f_scale, step, real, rng)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 20 == 0:
            print(json.dumps({'step': step, 't': round(time.time() - t0, 1), 'lr': round(lr, 6),
                              'l_z': round(float(l_z), 4), 'l_w': round(float(l_w), 4), 'l_f': round(float(l_f), 4),
                              'l_rec': round(float(l_rec), 5), 'l_real': round(float(l_real), 5)}), flush=True)
        if args.save_every and time.time() - last_save > args.save_every:
            last_save = time.time()
            _save(args.out, enc, dict(reloads=reloads, bf16=use_bf16, generator_sha256=bundle.sha256, psi=bundle.psi,
                                      trunc_layers=bundle.trunc_layers, steps=step, partial=True, args=vars(args)))
            enc.train()
        if step % args.eval_every == 0:
            ev = evaluate(enc, bundle, f_res_list, (z_eval, w_eval, img_eval, fs_eval), real_eval)
            ev.update(step=step, t=round(time.time() - t0, 1))
            hist.append(ev)
            print(json.dumps({'event': 'eval', **{k: round(v, 3) if isinstance(v, float) else v for k, v in ev.items()}}),
                  flush=True)
    ev = evaluate(enc, bundle, f_res_list, (z_eval, w_eval, img_eval, fs_eval), real_eval)
    ev.update(step=step, t=round(time.time() - t0, 1))
    print(json.dumps({'event': 'final', **ev}), flush=True)
    meta = dict(reloads=reloads, bf16=use_bf16, generator_sha256=bundle.sha256, generator=str(args.checkpoint), psi=bundle.psi,
                trunc_layers=bundle.trunc_layers, steps=step, seconds=round(time.time() - t0, 1), final_eval=ev,
                args=vars(args))
    _save(args.out, enc, meta)
    print(json.dumps({'event': 'saved', 'out': args.out}), flush=True)
    return enc, meta


if __name__ == '__main__':
    train(parse_args())
