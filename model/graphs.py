"""The functions behind every graph of a model pack (see docs/CONTRACTS.md), on a loaded Generator.

Forward graphs are plain functions; `grad_*` graphs return (loss[3], grads...) computed by autograd and are
traced with grad_graphs.trace. Input order = contract order = ONNX input order.
"""
from dataclasses import dataclass

import torch

from .grad_graphs import trace
from .stylegan2 import freeze


@dataclass
class GraphSpec:
    key: str
    fn: object
    inputs: dict          # name -> example tensor (fixes static shapes)
    outputs: list         # names
    grad: bool = False


class PackModel:
    """Generator + truncation + F block + perceptual term: everything the graphs of one pack compute."""

    def __init__(self, G, w_avg, f_res=16, psi=0.7, trunc_layers=8, perceptual=None):
        self.G, self.f_res = freeze(G.eval()), f_res
        for p in G.parameters():
            p.requires_grad_(False)
        self.w_avg = w_avg.detach().float().reshape(-1)
        self.psi, self.trunc_layers = psi, trunc_layers
        self.num_ws, self.z_dim, self.w_dim = G.n_latent, G.z_dim, G.style_dim
        self.first_ws = G.first_ws(f_res)
        self.perceptual = perceptual
        if perceptual is not None:
            for p in perceptual.parameters():
                p.requires_grad_(False)
            freeze(perceptual.eval())
        self.psi_vec = torch.tensor([psi if i < trunc_layers else 1.0 for i in range(self.num_ws)])[:, None]
        with torch.no_grad():
            self.f_shape = tuple(self.features(torch.zeros(1, self.num_ws, self.w_dim)).shape)

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

    # losses: (loss vector [mse, perceptual, f], weighted total)
    def loss(self, image, target, weights, f=None, f_init=None):
        mse = ((image - target) ** 2).mean()
        perc = self.perceptual(image, target) if self.perceptual is not None else torch.zeros_like(mse)
        freg = ((f - f_init) ** 2).mean() if f is not None else torch.zeros_like(mse)
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

    # graph table
    def examples(self, seed=0):
        g = torch.Generator().manual_seed(seed)
        R = self.G.size
        z = torch.randn(1, self.num_ws, self.z_dim, generator=g)
        z = z * torch.rsqrt((z ** 2).mean(-1, keepdim=True)) 
        with torch.no_grad():
            wplus = self.zplus_to_wplus(z)
            f = self.features(wplus)
            target = self.synthesis(self.zplus_to_wplus(torch.randn(1, self.num_ws, self.z_dim, generator=g)))
        return dict(z=z[0], zplus=z, wplus=wplus, f=f, f_init=f + 0.05 * torch.randn(f.shape, generator=g),
                    target=target.clamp(-1, 1), weights=torch.tensor([1.0, 1.0, 0.1]), image_shape=(1, 3, R, R))

    def specs(self, keys=None):
        ex = self.examples()
        pick = lambda *names: {n: ex[n] for n in names}
        table = [
            GraphSpec('mapping', self.mapping, {'z': ex['z']}, ['w']),
            GraphSpec('synthesis', self.synthesis, pick('wplus'), ['image']),
            GraphSpec('features', self.features, pick('wplus'), ['f']),
            GraphSpec('synthesis_from_f', self.synthesis_from_f, pick('f', 'wplus'), ['image']),
            GraphSpec('grad_fzplus', grad_of(self.loss_fzplus, ['f', 'zplus']),
                      pick('target', 'f', 'zplus', 'f_init', 'weights'), ['loss', 'grad_f', 'grad_zplus'], True),
            GraphSpec('grad_fwplus', grad_of(self.loss_fwplus, ['f', 'wplus']),
                      pick('target', 'f', 'wplus', 'f_init', 'weights'), ['loss', 'grad_f', 'grad_wplus'], True),
            GraphSpec('grad_wplus', grad_of(self.loss_wplus, ['wplus']),
                      pick('target', 'wplus', 'weights'), ['loss', 'grad_wplus'], True),
            GraphSpec('grad_zplus_nof', grad_of(self.loss_zplus_nof, ['zplus']),
                      pick('target', 'zplus', 'weights'), ['loss', 'grad_zplus'], True),
        ]
        return [s for s in table if keys is None or s.key in keys]


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


def traced(spec):
    """An nn.Module for torch.onnx.export: grad graphs traced through make_fx, forward graphs wrapped."""
    if spec.grad:
        return trace(spec.fn, *spec.inputs.values())

    class Wrap(torch.nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, *x):
            return self.fn(*x)
    return Wrap(spec.fn)
