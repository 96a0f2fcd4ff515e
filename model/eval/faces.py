"""Shared helpers for the encoder / fidelity / pack-extras tools (owner: encoder + fidelity work).

Generator loading (a checkpoint through model.loaders, or a random one of the demo config for development),
Z+ -> W+ with the engine's truncation, PSNR, held-out face loading.
"""
import json
import os

import numpy as np
import torch

from model.nets.stylegan2 import Generator

# The demo generator's config (model/demo/train_gan.py DEMO_CONFIG); used only for --random development runs.
DEMO_G_CONFIG = dict(size=64, style_dim=128, n_mlp=4, channels={4: 128, 8: 128, 16: 128, 32: 64, 64: 32})


class GenBundle:
    """A frozen generator with the truncation settings the pack/engine uses."""

    def __init__(self, G, w_avg, psi=1.0, trunc_layers=None, sha256='', source=''):
        self.G = G.eval()
        for p in self.G.parameters():
            p.requires_grad_(False)
        try:  # precomputed scaled weights: faster, and what the exported graphs use
            from model.nets.stylegan2 import freeze
            freeze(self.G)
        except ImportError:
            pass
        self.w_avg = w_avg.reshape(1, 1, -1).float()
        self.psi = float(psi)
        self.num_ws = G.n_latent
        self.trunc_layers = self.num_ws if trunc_layers is None else int(trunc_layers)
        self.z_dim = G.style_dim
        self.size = G.size
        self.sha256, self.source = sha256, source

    def f_channels(self, f_res_list):
        return {int(r): int(self.G.channels[r]) for r in f_res_list}

    def zplus_to_wplus(self, zplus):
        """zplus [B, num_ws, z_dim] -> truncated wplus [B, num_ws, w_dim] (mapping has pixel-norm inside)."""
        b, n, d = zplus.shape
        w = self.G.mapping(zplus.reshape(b * n, d)).reshape(b, n, -1)
        if self.psi != 1.0 and self.trunc_layers > 0:
            k = self.trunc_layers
            wt = self.w_avg + self.psi * (w[:, :k] - self.w_avg)
            w = torch.cat([wt, w[:, k:]], 1)
        return w

    def first_ws(self, f_res):
        return self.G.first_ws(f_res)


def load_bundle(checkpoint=None, psi=1.0, trunc_layers=None, seed=0):
    """checkpoint=None or 'random': a randomly initialised generator of the demo config (development only)."""
    if checkpoint in (None, 'random'):
        torch.manual_seed(seed)
        G = Generator(DEMO_G_CONFIG['size'], DEMO_G_CONFIG['style_dim'], DEMO_G_CONFIG['n_mlp'],
                      channels=DEMO_G_CONFIG['channels']).eval()
        with torch.no_grad():
            w_avg = G.mapping(torch.randn(4096, G.style_dim)).mean(0)
        return GenBundle(G, w_avg, psi, trunc_layers, sha256='', source='random')
    from model.load.checkpoint import load_rosinality
    L = load_rosinality(checkpoint, with_discriminator=False)
    return GenBundle(L.G, L.w_avg, psi, trunc_layers, sha256=L.sha256, source=checkpoint)


def sample_zplus(b, num_ws, z_dim, mix_prob=0.5, generator=None):
    """Z+ on the sphere; with probability mix_prob two codes with a random crossover (style mixing)."""
    z1 = torch.randn(b, 1, z_dim, generator=generator)
    z2 = torch.randn(b, 1, z_dim, generator=generator)
    cut = torch.randint(1, num_ws, (b, 1, 1), generator=generator)
    mix = torch.rand(b, 1, 1, generator=generator) < mix_prob
    idx = torch.arange(num_ws).view(1, -1, 1)
    z = torch.where(mix & (idx >= cut), z2, z1)
    return z * torch.rsqrt(torch.mean(z * z, -1, keepdim=True) + 1e-8)


def psnr(x, y):
    """Per-image PSNR in dB of images in [-1, 1] (clamped), computed on the [0, 1] scale."""
    x = x.clamp(-1, 1)
    y = y.clamp(-1, 1)
    mse = ((x - y) * 0.5).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


def load_faces(data_dir, split='heldout', n=None, start=0):
    """uint8 [N, R, R, 3] -> float [N, 3, R, R] in [-1, 1]."""
    arr = np.load(os.path.join(data_dir, f'{split}_images.npy'), mmap_mode='r')
    sl = arr[start:(start + n) if n else None]
    x = torch.from_numpy(np.array(sl)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def load_label_columns(data_dir):
    with open(os.path.join(data_dir, 'labels.json')) as f:
        return json.load(f)['columns']


def to_uint8_hwc(img):
    """[3, R, R] in [-1, 1] -> uint8 [R, R, 3]."""
    return ((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
