#!/usr/bin/env python3
"""Save a StyleGAN2 generator with random weights in the rosinality layout ({'g_ema', 'latent_avg'}).

    /usr/bin/python3 scripts/make-random-checkpoint.py OUT.pt [--size 1024] [--channel-multiplier 2] [--seed 0]

Default: the FFHQ config-f shape (1024 px, style_dim 512, 8-layer mapping, channel multiplier 2, 30.4 M
parameters), so the app's large-pack path (import, storage, session creation, memory) can be tested without
the NVIDIA weights. Not a face model: its images are noise-like patterns.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from model.nets.stylegan2 import Generator  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--size', type=int, default=1024)
    ap.add_argument('--channel-multiplier', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    G = Generator(a.size, 512, 8, channel_multiplier=a.channel_multiplier)
    with torch.no_grad():
        w_avg = G.mean_latent(4096)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    torch.save({'g_ema': G.state_dict(), 'latent_avg': w_avg}, a.out)
    n = sum(p.numel() for p in G.parameters())
    print(f'{a.out}: Generator({a.size}, 512, 8, channel_multiplier={a.channel_multiplier}), {n / 1e6:.1f} M parameters')


if __name__ == '__main__':
    main()
