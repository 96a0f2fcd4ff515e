"""The functions behind every graph of a model pack (see docs/CONTRACTS.md), on a loaded Generator.

Forward graphs are plain functions; `grad_*` graphs return (loss[3], grads...) computed by autograd and are
traced with grad_graphs.trace. Input order = contract order = ONNX input order.
"""
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from model.export.autograd_trace import trace
from model.export.contract_generated import GRAPH_INPUTS, GRAPH_OUTPUTS
from model.nets.stylegan2 import freeze, unfreeze


@dataclass
class GraphSpec:
    key: str
    fn: object
    inputs: dict          # name -> example tensor (fixes static shapes)
    outputs: list         # names
    grad: bool = False


class PackModel:
    """Generator + truncation + F block + perceptual term: everything the graphs of one pack compute.
    Note: freezes G (and the perceptual net) in place for export and turns off their requires_grad."""

    def __init__(self, G, w_avg, f_res=16, psi=0.7, trunc_layers=8, perceptual=None):
        self.G, self.f_res = freeze(G.eval()), f_res
        for p in G.parameters():
            p.requires_grad_(False)
        self.w_avg = w_avg.detach().reshape(-1).to(next(G.parameters()).dtype)
        self.psi, self.trunc_layers = psi, trunc_layers
        self.num_ws, self.z_dim, self.w_dim = G.n_latent, G.z_dim, G.style_dim
        self.first_ws = G.first_ws(f_res)
        self.perceptual = perceptual
        self.sha256 = ''  # the checkpoint's sha256 where the loader knows it (reports and saved codes are keyed on it)
        if perceptual is not None:
            for p in perceptual.parameters():
                p.requires_grad_(False)
            freeze(perceptual.eval())
        self.psi_vec = torch.tensor([psi if i < trunc_layers else 1.0 for i in range(self.num_ws)],
                                    dtype=self.w_avg.dtype)[:, None]
        with torch.no_grad():
            self.f_shape = tuple(self.features(torch.zeros(1, self.num_ws, self.w_dim, dtype=self.w_avg.dtype)).shape)

    def to_double(self):
        """An independent float64 copy (the gradient reference)."""
        import copy
        G = unfreeze(copy.deepcopy(self.G)).double()
        perc = unfreeze(copy.deepcopy(self.perceptual)).double() if self.perceptual is not None else None
        return PackModel(G, self.w_avg.double(), self.f_res, self.psi, self.trunc_layers, perc)

    # forward graphs
    def mapping(self, z):
        return self.G.mapping(z)

    def truncate(self, w):  # w [numWs, wDim]
        return self.w_avg + self.psi_vec * (w - self.w_avg)

    def synthesis(self, wplus):
        return self.G.synthesis(wplus)

    def features(self, wplus):
        return self.G.features(wplus, self.f_res)

    def synthesis_from_f(self, f, wplus):
        return self.G.synthesis_from_f(f, wplus, self.f_res)

    def zplus_to_wplus(self, zplus):
        return self.truncate(self.G.mapping(zplus[0]))[None]

    def zplus_to_wplus_batch(self, zplus):
        """zplus [B, numWs, zDim] -> truncated wplus [B, numWs, wDim]: zplus_to_wplus for any batch (the graphs
        trace one face; the measuring and training tools render many at once)."""
        b, n, d = zplus.shape
        return self.truncate(self.G.mapping(zplus.reshape(b * n, d)).reshape(b, n, -1))

    # StyleSpace: one style vector per modulated conv (the output of its affine layer), in synthesis order
    def style_layers(self):
        """[(ModulatedConv2d, W+ index it reads)] in the order synthesis runs them (conv1, to_rgb1, then per block
        the upsampling conv, the second conv and the ToRGB); S = their affine outputs concatenated."""
        G = self.G
        layers = [(G.conv1.conv, 0), (G.to_rgb1.conv, 1)]
        for j, to_rgb in enumerate(G.to_rgbs):
            layers += [(G.convs[2 * j].conv, 2 * j + 1), (G.convs[2 * j + 1].conv, 2 * j + 2), (to_rgb.conv, 2 * j + 3)]
        return layers

    def style_dims(self):
        return [conv.in_ch for conv, _ in self.style_layers()]

    def styles(self, wplus):
        """wplus [B, numWs, wDim] -> s [B, sum(style_dims)]: every affine layer applied to the W+ entry it reads."""
        return torch.cat([conv.modulation(wplus[:, i]) for conv, i in self.style_layers()], 1)

    def synthesis_s(self, s):
        """s [B, sum(style_dims)] -> image: the generator's own synthesis with each affine output given."""
        ends = torch.tensor(self.style_dims()).cumsum(0).tolist()
        parts = [s[:, e - d:e] for d, e in zip(self.style_dims(), ends)]  # slices (Slice ops), not torch.split
        with _given_styles([conv for conv, _ in self.style_layers()], parts):
            return self.G.synthesis(s.new_zeros(s.shape[0], self.num_ws, self.w_dim))

    # losses: (loss vector [mse, perceptual, f], weighted total)
    def loss(self, image, target, weights, f=None, f_init=None, anchor=None):
        mse = ((image - target) ** 2).mean()
        perc = self.perceptual(image, target) if self.perceptual is not None else torch.zeros_like(mse)
        freg = ((f - f_init) ** 2).mean() if f is not None else torch.zeros_like(mse)
        if anchor is not None:
            freg = freg + ((f - anchor) ** 2).mean()
        loss = torch.stack([mse, perc, freg])
        return loss, (loss * weights).sum()

    def loss_fzplus(self, target, f, zplus, f_init, weights):
        return self.loss(self.synthesis_from_f(f, self.zplus_to_wplus(zplus)), target, weights, f, f_init)

    def loss_fwplus(self, target, f, wplus, f_init, weights):
        return self.loss(self.synthesis_from_f(f, wplus), target, weights, f, f_init)

    def loss_wplus(self, target, wplus, weights):
        return self.loss(self.synthesis(wplus), target, weights)

    def loss_zplus_nof(self, target, zplus, weights):
        return self.loss(self.synthesis(self.zplus_to_wplus(zplus)), target, weights)

    def loss_s(self, target, s, weights):
        return self.loss(self.synthesis_s(s), target, weights)

    def loss_fzplus_anchored(self, target, f, zplus, f_init, weights):
        """F/Z+ with the F term anchored to the generator as well: mean((F - F_init)^2) + mean((F - F_gen(W+))^2),
        where F_gen(W+) = features(current W+) keeps its gradient, so every z (also the layers below F) is pulled
        towards codes whose own features match F, and the residual F - F_gen(W+) stays small (so F can follow an edit)."""
        wplus = self.zplus_to_wplus(zplus)
        return self.loss(self.synthesis_from_f(f, wplus), target, weights, f, f_init, anchor=self.features(wplus))

    # graph table
    def examples(self, seed=0):
        """Random but plausible inputs for every graph (z on the sphere, F and target from the generator)."""
        g = torch.Generator().manual_seed(seed)
        dt = self.w_avg.dtype
        randn = lambda *shape: torch.randn(*shape, generator=g).to(dt)
        sphere = lambda z: z * torch.rsqrt((z ** 2).mean(-1, keepdim=True))
        z = sphere(randn(1, self.num_ws, self.z_dim))
        with torch.no_grad():
            wplus = self.zplus_to_wplus(z)
            f = self.features(wplus)
            target = self.synthesis(self.zplus_to_wplus(sphere(randn(1, self.num_ws, self.z_dim)))).clamp(-1, 1)
            f_init = f + 0.05 * randn(*f.shape)
            s = self.styles(wplus)
        return dict(z=z[0], zplus=z, wplus=wplus, f=f, f_init=f_init, target=target, s=s,
                    weights=torch.tensor([1.0, 1.0, 0.1], dtype=dt))

    def specs(self, keys=None):
        ex = self.examples()
        pick = lambda *names: {n: ex[n] for n in names}
        io = lambda key: (pick(*GRAPH_INPUTS[key]), list(GRAPH_OUTPUTS[key]))  # the contract's names, in order
        table = [
            GraphSpec('mapping', self.mapping, *io('mapping')),
            GraphSpec('synthesis', self.synthesis, *io('synthesis')),
            GraphSpec('features', self.features, *io('features')),
            GraphSpec('synthesis_from_f', self.synthesis_from_f, *io('synthesis_from_f')),
            GraphSpec('grad_fzplus', grad_of(self.loss_fzplus, ['f', 'zplus']), *io('grad_fzplus'), True),
            GraphSpec('grad_fwplus', grad_of(self.loss_fwplus, ['f', 'wplus']), *io('grad_fwplus'), True),
            GraphSpec('grad_wplus', grad_of(self.loss_wplus, ['wplus']), *io('grad_wplus'), True),
            GraphSpec('grad_zplus_nof', grad_of(self.loss_zplus_nof, ['zplus']), *io('grad_zplus_nof'), True),
            GraphSpec('grad_s', grad_of(self.loss_s, ['s']), *io('grad_s'), True),
            GraphSpec('grad_fzplus_anchored', grad_of(self.loss_fzplus_anchored, ['f', 'zplus']),
                      *io('grad_fzplus_anchored'), True),
        ]
        return [s for s in table if keys is None or s.key in keys]


class _Given(torch.nn.Module):
    """Stands in for an affine layer: returns the given style whatever W it is called with."""

    def __init__(self, s):
        super().__init__()
        self.s = s

    def forward(self, w):
        return self.s


@contextmanager
def _given_styles(convs, styles):
    """Within the block, each ModulatedConv2d in convs uses the given style instead of its affine layer's output."""
    saved = [c.modulation for c in convs]
    try:
        for c, s in zip(convs, styles):
            c.modulation = _Given(s)
        yield
    finally:
        for c, m in zip(convs, saved):
            c.modulation = m


def grad_of(loss_fn, diff):
    """fn(**named inputs) -> (loss, *d total / d inputs[diff]) by autograd; positional args in loss_fn's order."""
    import inspect
    names = list(inspect.signature(loss_fn).parameters)

    def fn(*inputs):
        args = dict(zip(names, inputs))
        for n in diff:
            args[n] = args[n].detach().requires_grad_(True)
        loss, total = loss_fn(**args)
        return (loss, *torch.autograd.grad(total, [args[n] for n in diff]))
    return fn


def traced(spec, winograd_m=0):
    """An FX GraphModule for torch.onnx.export: every graph (forward or gradient) is traced through make_fx.
    winograd_m 2 or 4: eligible 3x3 convs as Winograd F(m, 3) (model/export/winograd.py)."""
    def fn(*args):  # make_fx wants a plain function, not a bound method
        return spec.fn(*args)
    return trace(fn, *spec.inputs.values(), winograd_m=winograd_m)
