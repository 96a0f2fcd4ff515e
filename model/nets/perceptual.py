"""Perceptual terms for the gradient graphs. All take images in [-1, 1] (NCHW) and return a scalar.

Default: `PyramidSSIM` (manifest `loss.perceptual = "pyramid-ssim"`): mean over a Gaussian pyramid of (1 - SSIM).
Why: it needs no pretrained network (LPIPS-VGG weights are ~58 MB and under their own licence, so they cannot
ship in every pack), it compares local structure and contrast rather than raw pixels at several scales (what
LPIPS buys over MSE for inversion, in a cheaper form), and it is a handful of depthwise convolutions: small,
static-weight and fast on onnxruntime-web. `LPIPSVGG` is used when the user passes local VGG16 + LPIPS weights;
`DiscriminatorFeatures` when the checkpoint has a discriminator and `--perceptual discriminator` is asked for.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

NOTES = {
    'pyramid-ssim': 'mean over a 2x Gaussian pyramid (down to 16 px, at most 5 levels) of 1 - SSIM (7x7 Gaussian '
                    'window, sigma 1.5, valid borders, images mapped to [0, 1]); no pretrained network.',
    'lpips-vgg': 'LPIPS v0.1 (VGG16 features + learned linear heads) from user-supplied local weights.',
    'discriminator': 'mean squared difference of channel-normalised discriminator block features.',
}


DIRECT_ATTR = '_fzplus_direct_conv'


def keep_direct_convs(module):
    """Mark every conv weight of `module` so that the exporter keeps its convs direct (never Winograd), forward and
    input gradient. Used for LPIPS-VGG: in a ReLU + max-pool network Winograd's float32 error flips ReLU/max-pool kinks
    and reroutes gradients (model/export/winograd.py)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            setattr(m.weight, DIRECT_ATTR, True)
    return module


def marked_direct(weight):
    return bool(getattr(weight, DIRECT_ATTR, False))


def gaussian(size=7, sigma=1.5):
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


class PyramidSSIM(nn.Module):
    def __init__(self, resolution, min_res=16, max_levels=5, window=7, sigma=1.5):
        super().__init__()
        self.levels = max(1, min(max_levels, int(math.log2(max(resolution // min_res, 1))) + 1))
        self.register_buffer('window', gaussian(window, sigma)[None, None].repeat(3, 1, 1, 1))
        self.register_buffer('down', torch.full((3, 1, 2, 2), 0.25))
        self.c1, self.c2 = 0.01 ** 2, 0.03 ** 2

    def ssim(self, x, y):
        g = lambda t: F.conv2d(t, self.window, groups=3)
        mx, my = g(x), g(y)
        sxx, syy, sxy = g(x * x) - mx * mx, g(y * y) - my * my, g(x * y) - mx * my
        s = ((2 * mx * my + self.c1) * (2 * sxy + self.c2)) / ((mx * mx + my * my + self.c1) * (sxx + syy + self.c2))
        return s.mean()

    def forward(self, x, y):
        x, y = (x + 1) * 0.5, (y + 1) * 0.5
        total = 0
        for level in range(self.levels):
            if level:
                x, y = F.conv2d(x, self.down, stride=2, groups=3), F.conv2d(y, self.down, stride=2, groups=3)
            total = total + (1 - self.ssim(x, y))
        return total / self.levels


def max_pool2(x):
    """2x2 max pool as reshape + amax: autograd of amax uses only exportable ops."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h // 2, 2, w // 2, 2).amax(dim=(3, 5))


VGG16_CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]   # torchvision vgg16.features indices
VGG16_CFG = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512]
LPIPS_TAPS = {3, 8, 15, 22, 29}                                   # relu1_2 .. relu5_3


class LPIPSVGG(nn.Module):
    """LPIPS v0.1 VGG. vgg_sd: torchvision vgg16 state dict (`features.N.weight`); lin_sd: LPIPS heads
    (`linK.model.1.weight` [1, C, 1, 1]), as in richzhang/PerceptualSimilarity weights/v0.1/vgg.pth."""

    def __init__(self, vgg_sd, lin_sd, max_res=256):
        super().__init__()
        self.convs = nn.ModuleList()
        in_ch = 3
        for c in VGG16_CFG:
            if c != 'M':
                self.convs.append(nn.Conv2d(in_ch, c, 3, padding=1))
                in_ch = c
        for conv, idx in zip(self.convs, VGG16_CONVS):
            for name in ('weight', 'bias'):
                key = f'features.{idx}.{name}'
                if key not in vgg_sd:
                    raise ValueError(f'VGG16 weights: missing key {key!r}')
                getattr(conv, name).data.copy_(vgg_sd[key])
        self.lins = nn.ParameterList()
        for k in range(5):
            key = f'lin{k}.model.1.weight'
            if key not in lin_sd:
                raise ValueError(f'LPIPS weights: missing key {key!r}')
            self.lins.append(nn.Parameter(lin_sd[key].float().reshape(1, -1, 1, 1)))
        self.register_buffer('shift', torch.tensor([-.030, -.088, -.188]).view(1, 3, 1, 1))
        self.register_buffer('scale', torch.tensor([.458, .448, .450]).view(1, 3, 1, 1))
        self.max_res = max_res
        keep_direct_convs(self)

    def feats(self, x):
        if x.shape[-1] > self.max_res:  # LPIPS is used at <= 256 px (as in the F/Z+ reference code)
            f = x.shape[-1] // self.max_res
            x = F.conv2d(x, torch.full((3, 1, f, f), 1 / f / f), stride=f, groups=3)
        x = (x - self.shift) / self.scale
        out, ci, idx = [], 0, 0
        for c in VGG16_CFG:
            if c == 'M':
                x = max_pool2(x)
                idx += 1
                continue
            x = F.relu(self.convs[ci](x))
            ci += 1
            idx += 2
            if idx - 1 in LPIPS_TAPS:  # index of the ReLU after this conv
                out.append(x)
        return out

    def forward(self, x, y):
        total = 0
        for fx, fy, lin in zip(self.feats(x), self.feats(y), self.lins):
            nx = fx / (torch.sqrt((fx * fx).sum(1, keepdim=True)) + 1e-10)
            ny = fy / (torch.sqrt((fy * fy).sum(1, keepdim=True)) + 1e-10)
            total = total + ((nx - ny) ** 2 * lin).sum(1).mean()
        return total


class DiscriminatorFeatures(nn.Module):
    def __init__(self, D, n_blocks=4):
        super().__init__()
        self.D, self.n_blocks = D, n_blocks

    def forward(self, x, y):
        fx, fy = self.D.features(x)[:self.n_blocks], self.D.features(y)[:self.n_blocks]
        total = 0
        for a, b in zip(fx, fy):
            a = a * torch.rsqrt((a * a).mean(1, keepdim=True) + 1e-8)
            b = b * torch.rsqrt((b * b).mean(1, keepdim=True) + 1e-8)
            total = total + ((a - b) ** 2).mean()
        return total / len(fx)


def load_lpips(vgg_path, lpips_path, max_res=256):
    """User-supplied weight files, read by the restricted unpickler (model/load/checkpoint.py): a file that asks for
    anything but tensors and plain containers raises CheckpointError, and no pickled code runs."""
    from model.load.checkpoint import CheckpointError, load_torch_file

    def load(p):
        sd = load_torch_file(p)
        sd = sd.get('state_dict', sd) if isinstance(sd, dict) else sd
        if not isinstance(sd, dict):
            raise CheckpointError(f'{p}: expected a state dict, got {type(sd).__name__}')
        return sd
    vgg, lin = load(vgg_path), load(lpips_path)
    try:
        return LPIPSVGG(vgg, lin, max_res)
    except (ValueError, RuntimeError) as e:  # a missing key, a tensor of the wrong shape
        raise CheckpointError(f'--vgg-weights {vgg_path} / --lpips-weights {lpips_path}: {e}') from None
