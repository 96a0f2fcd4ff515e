"""Held-out faces and the PSNR every report quotes: what the measuring tools (model/eval/) and the demo's training
scripts share."""
import os

import numpy as np
import torch


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
