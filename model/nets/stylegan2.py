"""Compact StyleGAN2 in the rosinality/stylegan2-pytorch state-dict layout.

Same parameter names, shapes and maths as rosinality's `model.py` (MIT), written so that every op has
static weights: modulated convs modulate the *activations* (x * s -> fixed-weight conv -> * demod) instead of
building per-sample weights. The result exports cleanly to ONNX (onnxruntime-web WebGPU / WASM) and trains
fast with batches (one ordinary conv per layer instead of a grouped conv).

Noise: `forward(..., randomize_noise=True)` draws fresh noise (training); `randomize_noise=False` or the
helpers `synthesis`, `features`, `synthesis_from_f` use the stored buffers `noises.noise_N`.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

SQRT2 = math.sqrt(2.0)
# WebGPU's default maxStorageBufferBindingSize: one tensor is one storage buffer there. The upsampling conv's output
# before its blur is (2H+1)^2 per channel, 128.25 MiB at 1024 px with 32 channels: ModulatedConv2d splits it.
BINDING_BYTES = 128 * 2 ** 20


def default_channels(size, channel_multiplier=2):
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
             256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    return {r: c for r, c in table.items() if r <= size}


def make_kernel(k):
    k = torch.tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def fused_leaky_relu(x, bias, negative_slope=0.2, scale=SQRT2):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape), negative_slope) * scale


def blur(x, kernel, pad, flip=True):
    """upfirdn2d(x, kernel, up=1, down=1, pad) as a depthwise conv (kernel flipped as upfirdn2d does;
    flip=False for symmetric kernels keeps the graph free of Flip ops)."""
    c = x.shape[1]
    if flip:
        kernel = kernel.flip([0, 1])
    w = kernel[None, None].expand(c, 1, *kernel.shape)
    if pad[0] == pad[1]:
        return F.conv2d(x, w, padding=pad[0], groups=c)
    return F.conv2d(F.pad(x, (pad[0], pad[1], pad[0], pad[1])), w, groups=c)


def upsample2x(x, kernel):
    """upfirdn2d(x, kernel * 4, up=2, pad=(2, 1)) == depthwise stride-2 transposed conv, padding 1."""
    c = x.shape[1]
    w = kernel[None, None].expand(c, 1, *kernel.shape)
    return F.conv_transpose2d(x, w, stride=2, padding=1, groups=c)


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(torch.mean(x ** 2, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    def __init__(self, in_dim, out_dim, bias=True, bias_init=0, lr_mul=1, activation=None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.zeros(out_dim).fill_(bias_init)) if bias else None
        self.activation = activation
        self.scale = (1 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul

    def frozen(self):
        """(weight, bias) as used: precomputed once by freeze() for export, else from the parameters."""
        if getattr(self, '_frozen', None) is not None:
            return self._frozen
        return (self.weight * self.scale).t(), (self.bias * self.lr_mul if self.bias is not None else None)

    def forward(self, x):  # x @ W^T kept as a matmul with one [in, out] constant in forward and backward graphs
        wt, b = self.frozen()
        if self.activation:
            return fused_leaky_relu(x @ wt, b)
        return x @ wt + b if b is not None else x @ wt


class EqualConv2d(nn.Module):
    def __init__(self, in_ch, out_ch, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_ch * kernel_size ** 2)
        self.stride, self.padding = stride, padding
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None

    def frozen(self):
        if getattr(self, '_frozen', None) is not None:
            return self._frozen
        return self.weight * self.scale, self.bias

    def forward(self, x):
        w, b = self.frozen()
        return F.conv2d(x, w, b, stride=self.stride, padding=self.padding)


class FusedLeakyReLU(nn.Module):
    def __init__(self, channel, bias=True):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel)) if bias else None

    def forward(self, x):
        if self.bias is None:
            return F.leaky_relu(x, 0.2) * SQRT2
        return fused_leaky_relu(x, self.bias)


class Blur(nn.Module):
    def __init__(self, kernel, pad, upsample_factor=1):
        super().__init__()
        self.register_buffer('kernel', make_kernel(kernel) * upsample_factor ** 2)
        self.pad = pad
        self.flip = not torch.equal(self.kernel, self.kernel.flip([0, 1]))

    def forward(self, x):
        return blur(x, self.kernel, self.pad, self.flip)


class Upsample(nn.Module):
    def __init__(self, kernel, factor=2):
        super().__init__()
        assert factor == 2 and len(kernel) == 4, 'only 2x upsampling with a 4-tap kernel'
        self.register_buffer('kernel', make_kernel(kernel) * factor ** 2)

    def forward(self, x):
        return upsample2x(x, self.kernel)


class ModulatedConv2d(nn.Module):
    """y = demod * conv(x * s, W * scale); upsample: stride-2 transposed conv then the [1,3,3,1] blur."""

    def __init__(self, in_ch, out_ch, kernel_size, style_dim, demodulate=True, upsample=False,
                 blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.in_ch, self.out_ch, self.kernel_size = in_ch, out_ch, kernel_size
        self.upsample, self.demodulate = upsample, demodulate
        if upsample:
            p = (len(blur_kernel) - 2) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)
        self.scale = 1 / math.sqrt(in_ch * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1)

    def frozen(self):
        """(conv weight as the conv takes it, (sum_k W^2)^T [in, out]); precomputed once by freeze() for export."""
        if getattr(self, '_frozen', None) is not None:
            return self._frozen
        w = self.weight[0] * self.scale                  # [out, in, k, k]
        return (w.transpose(0, 1) if self.upsample else w), w.pow(2).sum([2, 3]).t()

    def forward(self, x, style):
        s = self.modulation(style)                       # [B, in]
        w, wsq_t = self.frozen()
        x = x * s[:, :, None, None]
        if self.upsample:
            x = self._upsample_conv(x, w)
        else:
            x = F.conv2d(x, w, padding=self.padding)
        if self.demodulate:
            demod = torch.rsqrt((s * s) @ wsq_t + 1e-8)  # [B, out]
            x = x * demod[:, :, None, None]
        return x


    def _upsample_conv(self, x, w):
        """blur(conv_transpose2d(x, w, stride 2)), by groups of output channels where the transposed conv's output
        would exceed BINDING_BYTES as float32 (the blur is depthwise: each group is blurred on its own, and every
        output channel is the same sum as unsplit)."""
        n, _, h, wd = x.shape
        k = w.shape[-1]
        per_channel = 4 * n * (2 * (h - 1) + k) * (2 * (wd - 1) + k)
        parts = -(-self.out_ch * per_channel // BINDING_BYTES)
        if parts <= 1:
            return self.blur(F.conv_transpose2d(x, w, stride=2))
        size = -(-self.out_ch // parts)
        return torch.cat([self.blur(F.conv_transpose2d(x, w[:, i:i + size], stride=2))
                          for i in range(0, self.out_ch, size)], 1)


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, noise=None):
        if noise is None:
            b, _, h, w = x.shape
            noise = x.new_empty(b, 1, h, w).normal_()
        return x + self.weight * noise


class ConstantInput(nn.Module):
    def __init__(self, channel, size=4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch):
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    def __init__(self, in_ch, out_ch, kernel_size, style_dim, upsample=False, blur_kernel=(1, 3, 3, 1), conv_clamp=None):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, kernel_size, style_dim, upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)
        self.conv_clamp = conv_clamp  # stylegan2-ada-pytorch: clamp activations to +-conv_clamp * sqrt(2)

    def forward(self, x, style, noise=None):
        x = self.activate(self.noise(self.conv(x, style), noise=noise))
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp * SQRT2, self.conv_clamp * SQRT2)
        return x


class ToRGB(nn.Module):
    def __init__(self, in_ch, style_dim, upsample=True, blur_kernel=(1, 3, 3, 1), conv_clamp=None):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.conv_clamp = conv_clamp

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        if self.conv_clamp is not None:
            out = out.clamp(-self.conv_clamp, self.conv_clamp)
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class Generator(nn.Module):
    def __init__(self, size, style_dim=512, n_mlp=8, channel_multiplier=2, channels=None, lr_mlp=0.01,
                 blur_kernel=(1, 3, 3, 1), z_dim=None, conv_clamp=None):
        """channels overrides rosinality's table ({4: 512, ..., 64: 256 * cm, ...}); z_dim (default style_dim) and
        conv_clamp (default off) exist for stylegan2-ada-pytorch networks."""
        super().__init__()
        self.size, self.style_dim, self.n_mlp, self.lr_mlp = size, style_dim, n_mlp, lr_mlp
        self.z_dim, self.conv_clamp = z_dim or style_dim, conv_clamp
        self.log_size = int(math.log2(size))
        assert 2 ** self.log_size == size and size >= 4, f'size must be a power of two >= 4, got {size}'
        self.channels = {int(k): int(v) for k, v in (channels or default_channels(size, channel_multiplier)).items()}
        missing = [2 ** i for i in range(2, self.log_size + 1) if 2 ** i not in self.channels]
        assert not missing, f'channels table lacks resolutions {missing}'
        ch = self.channels
        blur_kernel = list(blur_kernel)

        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(self.z_dim if i == 0 else style_dim, style_dim, lr_mul=lr_mlp,
                                                              activation='fused_lrelu') for i in range(n_mlp)])
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], 3, style_dim, blur_kernel=blur_kernel, conv_clamp=conv_clamp)
        self.to_rgb1 = ToRGB(ch[4], style_dim, upsample=False, conv_clamp=conv_clamp)
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.convs, self.upsamples, self.to_rgbs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            r = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f'noise_{i}', torch.randn(1, 1, r, r))
        in_ch = ch[4]
        for i in range(3, self.log_size + 1):
            out_ch = ch[2 ** i]
            self.convs.append(StyledConv(in_ch, out_ch, 3, style_dim, True, blur_kernel, conv_clamp))
            self.convs.append(StyledConv(out_ch, out_ch, 3, style_dim, False, blur_kernel, conv_clamp))
            self.to_rgbs.append(ToRGB(out_ch, style_dim, blur_kernel=blur_kernel, conv_clamp=conv_clamp))
            in_ch = out_ch
        self.n_latent = self.log_size * 2 - 2

    # ---- helpers -------------------------------------------------------------------------------
    def stored_noise(self):
        return [getattr(self.noises, f'noise_{i}') for i in range(self.num_layers)]

    def make_noise(self):
        dev = self.input.input.device
        return [torch.randn(1, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2), device=dev) for i in range(self.num_layers)]

    def mapping(self, z):
        """z [N, style_dim] -> w [N, style_dim] (pixel-norm + MLP, no truncation)."""
        return self.style(z)

    get_latent = mapping

    @torch.no_grad()
    def mean_latent(self, n_latent):
        z = torch.randn(n_latent, self.z_dim, device=self.input.input.device)
        return self.style(z).mean(0, keepdim=True)

    def f_index(self, f_res):
        """Index into self.convs of the first (upsampling) conv of block f_res; -1 means conv1 (4x4)."""
        if f_res == 4:
            return -1
        j = int(math.log2(f_res)) - 3
        assert 2 ** (j + 3) == f_res and 0 <= j < len(self.to_rgbs), f'f_res {f_res} is not a block of this generator'
        return 2 * j

    def first_ws(self, f_res):
        """First W+ index that synthesis_from_f(f_res) still uses."""
        return self.f_index(f_res) + 2

    # ---- synthesis -----------------------------------------------------------------------------
    def _run(self, latent, noise, f=None, f_res=None, stop_at_f=False, window=None):
        """Shared synthesis loop. latent [B, n_latent, D]. With f given, start right after F (skip restarts).
        window (res, y0, x0, size): once the block of resolution res is done, continue on that square of it only
        (features, RGB skip and noise cropped): the output is the matching region of the image, at a fraction of the
        cost, exact away from the region's border (which sees zero padding instead of its neighbours)."""
        if window is not None:
            wres, y0, x0, size = window
            noise = [n if n.shape[-1] <= wres else
                     n[..., y0 * (n.shape[-1] // wres):(y0 + size) * (n.shape[-1] // wres),
                       x0 * (n.shape[-1] // wres):(x0 + size) * (n.shape[-1] // wres)] for n in noise]
        fi = self.f_index(f_res) if f_res is not None else None
        if f is None:
            out = self.conv1(self.input(latent.shape[0]), latent[:, 0], noise=noise[0])
            if fi == -1 and stop_at_f:
                return out
            skip = self.to_rgb1(out, latent[:, 1])
        else:
            out = f
            skip = self.to_rgb1(out, latent[:, 1]) if fi == -1 else None
        for j, to_rgb in enumerate(self.to_rgbs):
            k = 2 * j
            if f is not None and k + 1 <= fi:
                continue
            if not (f is not None and k == fi):
                out = self.convs[k](out, latent[:, k + 1], noise=noise[k + 1])
                if stop_at_f and k == fi:
                    return out
            out = self.convs[k + 1](out, latent[:, k + 2], noise=noise[k + 2])
            skip = to_rgb(out, latent[:, k + 3], skip)
            if window is not None and 2 ** (j + 3) == wres:
                out = out[..., y0:y0 + size, x0:x0 + size]
                skip = skip[..., y0:y0 + size, x0:x0 + size]
        return skip

    def synthesis(self, wplus, noise=None, window=None):
        """wplus [B, n_latent, D] -> image [B, 3, size, size] (stored noise unless given; window: see _run)."""
        return self._run(wplus, noise or self.stored_noise(), window=window)

    def features(self, wplus, f_res=16, noise=None):
        """Output of the first conv of block f_res (after noise + activation)."""
        return self._run(wplus, noise or self.stored_noise(), f_res=f_res, stop_at_f=True)

    def synthesis_from_f(self, f, wplus, f_res=16, noise=None, window=None):
        """Synthesis continuing from F; the ToRGBs of blocks before f_res are dropped (skip restarts)."""
        return self._run(wplus, noise or self.stored_noise(), f=f, f_res=f_res, window=window)

    def forward(self, styles, return_latents=False, inject_index=None, truncation=1, truncation_latent=None,
                input_is_latent=False, noise=None, randomize_noise=True):
        """rosinality-compatible: styles is a tensor or a list of 1 or 2 tensors ([B, D] or a W+ [B, n_latent, D]).
        Returns (image, latent or None)."""
        if torch.is_tensor(styles):
            styles = [styles]
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        if noise is None:
            noise = [None] * self.num_layers if randomize_noise else self.stored_noise()
        if truncation < 1:
            styles = [truncation_latent + truncation * (s - truncation_latent) for s in styles]
        if len(styles) < 2:
            inject_index = self.n_latent
            s = styles[0]
            latent = s if s.ndim == 3 else s.unsqueeze(1).repeat(1, inject_index, 1)
        else:
            if inject_index is None:
                inject_index = torch.randint(1, self.n_latent - 1, ()).item()
            latent = torch.cat([styles[0].unsqueeze(1).repeat(1, inject_index, 1),
                                styles[1].unsqueeze(1).repeat(1, self.n_latent - inject_index, 1)], 1)
        image = self._run(latent, noise)
        return image, (latent if return_latents else None)


def freeze(module):
    """Precompute every scaled / transposed / squared weight once (plain tensors, not state), so that exported
    graphs hold each constant exactly once and share it between forward and backward. For export only:
    parameters changed afterwards are ignored until unfreeze()."""
    with torch.no_grad():
        for m in module.modules():
            if hasattr(m, 'frozen'):
                m._frozen = None
                m._frozen = tuple(t.detach().clone().contiguous() if t is not None else None for t in m.frozen())
    return module


def unfreeze(module):
    for m in module.modules():
        m._frozen = None
    return module


# ---- Discriminator (rosinality layout) ---------------------------------------------------------------
class ConvLayer(nn.Sequential):
    def __init__(self, in_ch, out_ch, kernel_size, downsample=False, blur_kernel=(1, 3, 3, 1), bias=True, activate=True):
        layers = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(list(blur_kernel), pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_ch, out_ch, kernel_size, padding=padding, stride=stride, bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_ch, bias=bias))
        super().__init__(*layers)


class ResBlock(nn.Module):
    def __init__(self, in_ch, out_ch, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, activate=False, bias=False, blur_kernel=blur_kernel)

    def forward(self, x):
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


class Discriminator(nn.Module):
    def __init__(self, size, channel_multiplier=2, channels=None, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        ch = {int(k): int(v) for k, v in (channels or default_channels(size, channel_multiplier)).items()}
        self.channels = ch
        log_size = int(math.log2(size))
        convs = [ConvLayer(3, ch[size], 1)]
        in_ch = ch[size]
        for i in range(log_size, 2, -1):
            out_ch = ch[2 ** (i - 1)]
            convs.append(ResBlock(in_ch, out_ch, blur_kernel))
            in_ch = out_ch
        self.convs = nn.Sequential(*convs)
        self.stddev_group, self.stddev_feat = 4, 1
        self.final_conv = ConvLayer(in_ch + 1, ch[4], 3)
        self.final_linear = nn.Sequential(EqualLinear(ch[4] * 4 * 4, ch[4], activation='fused_lrelu'),
                                          EqualLinear(ch[4], 1))

    def features(self, x):
        """Per-block activations (input resolution, then each ResBlock output), e.g. for a perceptual term."""
        feats = []
        for m in self.convs:
            x = m(x)
            feats.append(x)
        return feats

    def forward(self, x):
        out = self.convs(x)
        b, c, h, w = out.shape
        group = min(b, self.stddev_group)
        while b % group:
            group -= 1
        # reshape, not view: the demo trainer feeds channels_last activations
        std = out.reshape(group, -1, self.stddev_feat, c // self.stddev_feat, h, w)
        std = torch.sqrt(std.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
        out = torch.cat([out, std.repeat(group, 1, h, w)], 1)
        out = self.final_conv(out)
        return self.final_linear(out.reshape(b, -1))
