"""Inversion-start encoder for F/Z+ Studio: image -> (F, Z+).

A small conv encoder (pSp-like, much smaller) that predicts, from an image [B, 3, R, R] in [-1, 1],
  * F at one or more generator blocks (the output of the first conv of block r, shape [B, C_r, r, r]), and
  * Z+ directly: [B, num_ws, z_dim], each z pixel-normalised onto the sphere of radius sqrt(z_dim)
    (z * rsqrt(mean z^2 + 1e-8), the same normalisation as the mapping network and the engine's optimiser).

Why Z+ directly (and not W+ then a map to Z+): the mapping network is not invertible in closed form and a learned
W->Z map would be a second network to keep consistent. Predicting z and normalising it keeps every code exactly on
the sphere by construction; the training loss still compares the *mapped and truncated* codes in W (what the image
depends on), so the encoder learns z's that map to the right w's.

One network carries F heads for several blocks (default 8, 16 and 32 px at 64 px output), so the F-block choice can
be measured with a single training run; `ExportEncoder` picks the head the pack uses and exports
`image` -> `f`, `zplus` (graph key `encoder`).

Ops: Conv, LeakyRelu, AveragePool, Resize(nearest), Gemm, Reshape, ReduceMean, Sqrt/Div -- all run on
onnxruntime-web (WASM and WebGPU) with static shapes.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F


def pixel_norm(z, dim=-1):
    return z * torch.rsqrt(torch.mean(z * z, dim=dim, keepdim=True) + 1e-8)


class DownBlock(nn.Module):
    """conv3x3 -> lrelu -> avgpool2 -> conv3x3 -> lrelu, plus an avgpool + 1x1 skip (scaled residual)."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, in_ch, 3, padding=1)
        self.conv2 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x):
        y = F.leaky_relu(self.conv1(x), 0.2)
        y = F.avg_pool2d(y, 2)
        y = F.leaky_relu(self.conv2(y), 0.2)
        return (y + self.skip(F.avg_pool2d(x, 2))) * (1 / math.sqrt(2))


DEFAULT_F_CHANNELS = {8: 128, 16: 128, 32: 64}  # F heads of one training run: the F-block choice is measured with it


class Encoder(nn.Module):
    def __init__(self, size=64, z_dim=128, num_ws=10, f_channels=None, width=32, max_ch=192, fpn_ch=64,
                 z_hidden=512):
        super().__init__()
        f_channels = {int(k): int(v) for k, v in (f_channels or DEFAULT_F_CHANNELS).items()}
        self.config = dict(size=size, z_dim=z_dim, num_ws=num_ws, f_channels=f_channels, width=width,
                           max_ch=max_ch, fpn_ch=fpn_ch, z_hidden=z_hidden)
        self.size, self.z_dim, self.num_ws, self.f_channels = size, z_dim, num_ws, f_channels
        ch = lambda r: min(max_ch, width * size // r)
        self.stem = nn.Conv2d(3, ch(size), 3, padding=1)
        self.down = nn.ModuleList()
        self.res = []  # resolution after each down block
        r = size
        while r > 4:
            self.down.append(DownBlock(ch(r), ch(r // 2)))
            r //= 2
            self.res.append(r)
        # top-down pathway (FPN) down to the finest F resolution requested
        finest = min(f_channels) if f_channels else 4
        for fr in f_channels:
            assert fr in self.res, f'F resolution {fr} is not produced by this encoder (has {self.res})'
        self.fpn_res = [q for q in self.res if q >= finest]  # e.g. [32, 16, 8, 4]
        self.lateral = nn.ModuleDict({str(q): nn.Conv2d(ch(q), fpn_ch, 1) for q in self.fpn_res})
        self.f_heads = nn.ModuleDict({
            str(fr): nn.Sequential(nn.Conv2d(fpn_ch, fpn_ch, 3, padding=1), nn.LeakyReLU(0.2),
                                   nn.Conv2d(fpn_ch, c, 3, padding=1))
            for fr, c in f_channels.items()})
        self.z_reduce = nn.Conv2d(ch(4), 64, 1)
        self.z_fc1 = nn.Linear(64 * 16 + ch(4), z_hidden)
        self.z_fc2 = nn.Linear(z_hidden, num_ws * z_dim)

    def trunk(self, image):
        x = F.leaky_relu(self.stem(image), 0.2)
        feats = {}
        for blk, r in zip(self.down, self.res):
            x = blk(x)
            feats[r] = x
        return feats

    def forward(self, image, f_res=None):
        """Returns ({r: F_r} for the requested block(s) (all heads if f_res is None), zplus [B, num_ws, z_dim])."""
        feats = self.trunk(image)
        wanted = list(self.f_channels) if f_res is None else ([f_res] if isinstance(f_res, int) else list(f_res))
        fs = {}
        if wanted:
            p = None
            for q in sorted(self.fpn_res):  # 4, 8, 16, 32
                lat = self.lateral[str(q)](feats[q])
                p = lat if p is None else lat + F.interpolate(p, scale_factor=2.0, mode='nearest')
                if q in wanted:
                    fs[q] = self.f_heads[str(q)](p)
                if q >= max(wanted):
                    break
        x4 = feats[4]
        h = torch.cat([F.leaky_relu(self.z_reduce(x4), 0.2).flatten(1), x4.mean([2, 3])], 1)
        h = F.leaky_relu(self.z_fc1(h), 0.2)
        z = self.z_fc2(h).view(-1, self.num_ws, self.z_dim)
        return fs, pixel_norm(z)


class ExportEncoder(nn.Module):
    """The pack's `encoder` graph: image -> (f at one block, zplus)."""

    def __init__(self, encoder, f_res):
        super().__init__()
        self.encoder, self.f_res = encoder, int(f_res)

    def forward(self, image):
        fs, z = self.encoder(image, self.f_res)
        return fs[self.f_res], z


def save_encoder(path, encoder, meta=None):
    torch.save({'config': encoder.config, 'state_dict': encoder.state_dict(), 'meta': meta or {}}, path)


def load_encoder(path):
    """A checkpoint of save_encoder(), or a pack's encoder.onnx (its weights keep the module's parameter names; it
    has the one F head the pack uses), so a shipped pack's encoder can be fine-tuned without the training checkpoint."""
    if str(path).endswith('.onnx'):
        return encoder_from_onnx(path), {'from': str(path)}
    from model.load.checkpoint import load_torch_file
    ck = load_torch_file(path)  # restricted unpickler: no pickled code runs
    enc = Encoder(**ck['config'])
    enc.load_state_dict(ck['state_dict'])
    enc.eval()
    return enc, ck.get('meta', {})


def encoder_from_onnx(path):
    import onnx
    from onnx import numpy_helper
    m = onnx.load(str(path))
    sd = {t.name[len('encoder.'):]: torch.from_numpy(numpy_helper.to_array(t).copy())
          for t in m.graph.initializer if t.name.startswith('encoder.')}
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in list(m.graph.input) + list(m.graph.output)}
    heads = {int(k.split('.')[1]): v.shape[0] for k, v in sd.items() if k.startswith('f_heads.') and k.endswith('.2.weight')}
    if 'stem.weight' not in sd or not heads or 'z_fc2.weight' not in sd:
        raise ValueError(f'{path}: not an F/Z+ Studio encoder graph (model/nets/encoder.py parameter names missing)')
    from model.export.contract_generated import GRAPH_INPUTS, GRAPH_OUTPUTS
    (image,), (_, zplus) = GRAPH_INPUTS['encoder'], GRAPH_OUTPUTS['encoder']
    _, num_ws, z_dim = dims[zplus]
    size = dims[image][-1]
    # the training run's heads, so the FPN laterals the kept head was trained with exist; the export dropped the
    # other heads and the laterals only they use: those start fresh (fine-tuning trains them)
    f_channels = {**DEFAULT_F_CHANNELS, **heads}
    enc = Encoder(size=size, z_dim=z_dim, num_ws=num_ws, f_channels=f_channels, width=sd['stem.weight'].shape[0],
                  max_ch=sd['z_reduce.weight'].shape[1], fpn_ch=next(v.shape[0] for k, v in sd.items() if k.startswith('lateral.')),
                  z_hidden=sd['z_fc1.weight'].shape[0])
    missing, unexpected = enc.load_state_dict(sd, strict=False)
    kept = tuple(f'f_heads.{r}.' for r in heads)
    if unexpected or any(k.startswith(kept) or not k.startswith(('lateral.', 'f_heads.')) for k in missing):
        raise ValueError(f'{path}: encoder weights do not fit (missing {missing}, unexpected {unexpected})')
    return enc.eval()


def export_encoder_onnx(encoder, f_res, path, opset=17):
    """Writes a self-contained ONNX file (weights inside: a few MB) with the graph contract's `encoder` input and
    output names. Returns (inputs, outputs) tensor specs."""
    from model.export.contract_generated import GRAPH_INPUTS, GRAPH_OUTPUTS
    (image,), (f_name, z_name) = GRAPH_INPUTS['encoder'], GRAPH_OUTPUTS['encoder']
    enc = ExportEncoder(encoder, f_res).eval()
    r = encoder.size
    x = torch.zeros(1, 3, r, r)
    with torch.no_grad():
        f, z = enc(x)
        torch.onnx.export(enc, (x,), path, input_names=[image], output_names=[f_name, z_name],
                          opset_version=opset, do_constant_folding=True)
    inputs = [dict(name=image, shape=[1, 3, r, r], dtype='float32')]
    outputs = [dict(name=f_name, shape=list(f.shape), dtype='float32'),
               dict(name=z_name, shape=list(z.shape), dtype='float32')]
    return inputs, outputs
