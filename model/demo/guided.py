"""Classifier-guided edit directions: a unit Z direction optimised through the generator and a *guide* classifier.

InterFaceGAN's normals (and their conditional and effect-matched combinations) are linear fits in Z; on the demo
generator they inherit the correlations facesjs draws (female faces narrower, light hair with light skin), and no
combination of them separates those (docs/DEMO_MODEL.md). This candidate searches the whole Z sphere instead:

    d* = argmin_d  log softmax_k mean_b |other_bk(d)| - log mean_b own_b(d)
                   + hinge * mean_b relu(margin - own_b(d)) + held * relu(floor - mean_b own_b(d))

where own and other are the guide classifier's changes (sigma units over generator samples) when every W+ layer of
each context walks +alpha along d (the engine's sphere walk, CONTRACTS.md), the edit the app makes with F
following. With `binary` given, the ratio and the floor are taken on probabilities for binary heads (sigmoid of the
logit; regression heads as they are), as the edit test's verdict is: a rare head's saturated logit jitters by whole
sigmas under any change of the image, a perfect drawn edit included (model/eval/counterfactual.py), and a loss on
logits spends its effort on that invisible jitter. The hinge stays on the logits, where every face has a gradient.
`softmax_k` is a smooth maximum (temperature `tau`) over the counted other heads: the edit test compares the worst
of them with the own change, so the loss is that ratio, in logs. `floor` is `keep` times the first step's
own change (without it the cheapest small ratio is a direction the classifier cannot see). d = u / |u| with u
trained by Adam.

Contexts: z samples of the whole generator and, when an encoder is given, training faces encoded to (F, Z+) whose
F keeps its residual F_enc - F_gen(W(z)) through the edit (F_edit = F_gen(W_edit) + residual): the edited photos
carry such a residual, and a direction that ghosts on them should lose.

Per-group directions (`groups=`): Z+ walks every W+ layer's own z, so the direction may be one vector per group of
layers (schema direction.parts), d [G, D] scaled by `parts_unit` to a unit direction's energy. The coarse groups can
then carry an edit's structure while the others hold what the shared vector would drag along (mouth-open with a
smile, face width with a beard).

The guide is a second attribute classifier (another seed and width, model/checkpoints/guide64.pt) so that the
direction is chosen, checked and reported by the judge classifier it was not optimised against: a direction that only
fools its guide does not move the judge.
"""
import math
import os
import time

import torch

from model.directions.walk import normalise, sphere_walk, walk_parts


class GuideContexts:
    """Fixed optimisation contexts: z [N, D] (whole generator) and optionally encoded faces (z+ [M, numWs, D], F residual)."""

    def __init__(self, g, z, enc_zplus=None, enc_f=None, f_res=16):
        self.g, self.z, self.f_res = g, z, f_res
        self.enc_zplus, self.res = enc_zplus, None
        if enc_zplus is not None:
            with torch.no_grad():
                self.res = enc_f - g.features(self.wplus(enc_zplus), f_res)

    @property
    def n_z(self):
        return len(self.z)

    @property
    def n_e(self):
        return 0 if self.enc_zplus is None else len(self.enc_zplus)

    def wplus(self, zplus):
        b, n, d = zplus.shape
        return self.g.mapping(zplus.reshape(-1, d)).reshape(b, n, d)

    def render(self, d=None, alpha=0.0, idx=None, idx_enc=None, layers=None):
        """Images of the contexts, edited by +alpha d (F following) on `layers` (W+ indices; None: every layer, the
        app's default); differentiable in d. A per-group direction: d [G, D] with `layers` a list of G disjoint
        layer lists, group g walking its layers along d[g]."""
        parts = None
        if d is not None and d.dim() == 2:
            parts = [(alpha * d[k], ls) for k, ls in enumerate(layers)]
        elif d is not None and layers is not None:
            parts = [(alpha * d, layers)]
        g, num_ws = self.g, self.g.n_latent
        out = []
        z = self.z if idx is None else self.z[idx]
        if len(z):
            if parts is None:  # one walk for every layer: one w per sample
                ze = z if d is None else sphere_walk(z, alpha * d)
                out.append(g.synthesis(g.mapping(ze)[:, None].repeat(1, num_ws, 1)).clamp(-1, 1))
            else:
                out.append(g.synthesis(self.wplus(walk_parts(z[:, None].repeat(1, num_ws, 1), parts))).clamp(-1, 1))
        if self.enc_zplus is not None:
            zp = self.enc_zplus if idx_enc is None else self.enc_zplus[idx_enc]
            res = self.res if idx_enc is None else self.res[idx_enc]
            if len(zp):
                if d is None:
                    zpe = zp
                elif parts is None:
                    zpe = sphere_walk(zp.reshape(-1, zp.shape[-1]), alpha * d).reshape(zp.shape)
                else:
                    zpe = walk_parts(zp, parts)
                w = self.wplus(zpe)
                out.append(g.synthesis_from_f(g.features(w, self.f_res) + res, w, self.f_res).clamp(-1, 1))
        return torch.cat(out)


@torch.no_grad()
def context_scores(ctx, net, batch=64):
    """`net`'s scores of every unedited context: the generator samples [n_z], then the encoded faces [n_e]."""
    n_z, n_e, none = ctx.n_z, ctx.n_e, torch.arange(0)
    return torch.cat([net(ctx.render(idx=torch.arange(i, min(i + batch, n_z)), idx_enc=none)) for i in range(0, n_z, batch)] +
                     [net(ctx.render(idx=none, idx_enc=torch.arange(i, min(i + batch, n_e)))) for i in range(0, n_e, batch)])


def parts_unit(u, sizes):
    """u [G, D] scaled so that the squared norms averaged over the layers (group k counting sizes[k] times) are 1:
    the scale of a direction with parts (schema direction.parts)."""
    w = torch.as_tensor(sizes, dtype=u.dtype)
    return u / ((u.pow(2).sum(-1) * w).sum() / w.sum()).sqrt()


def _entropy(logits):
    p = torch.sigmoid(logits).clamp(1e-7, 1 - 1e-7)
    return -(p * p.log() + (1 - p) * (1 - p).log())


def smooth_abs(x, eps=1e-2):
    return torch.sqrt(x * x + eps * eps) - eps


def guided_direction(ctx, guide, spread, j, others, init, alpha=2.0, steps=120, batch=32, lr=0.01, hinge=1.0,
                     margin=0.3, keep=0.8, held=4.0, tau=8.0, gen=None, log=print, base=None, binary=None, spread_p=None,
                     layers=None, groups=None, calm=0.0, calm_at=1.2, calm_skip=(), pick=0):
    """Adam on u (d = u / |u|) from `init`; `others`: head indices counted as other attributes; spread [A] the guide's
    sigma per head; the own change is held above `keep` times the initial direction's. `base`: the guide's scores of
    the unedited contexts (context_scores; computed here when not given). `binary` (bool [A]) and `spread_p` (sigma
    of the probabilities): the ratio on probabilities (module docstring). `layers`: the W+ layers walked (None: every
    layer). `groups` (a list of disjoint layer lists): one direction per group instead, d [G, D] scaled by parts_unit
    (the walk's energy is a unit direction's on every layer of the groups, shared out as the fit finds best). Returns
    (unit direction, or the parts [G, D], as numpy float64; the last step's terms). `calm` > 0 (needs `binary`): a hinge on the guide's uncertainty
    (mean binary entropy of the binary heads but j and `calm_skip`, as model.eval.edit_test.uncertainty) of the
    edited images over the unedited ones above `calm_at`: the image-quality guard, where ghosted and smeared faces
    fail. `pick` > 0: every `pick` steps of the second half the iterate is scored on fixed contexts and the best is
    returned instead of the last."""
    for p in list(ctx.g.parameters()) + list(guide.parameters()):
        p.requires_grad_(False)
    u = torch.tensor(init, dtype=torch.float32).clone()
    if groups is not None:
        layers = groups
        u = (u if u.dim() == 2 else u[None].repeat(len(groups), 1)).clone()
    u.requires_grad_(True)
    if groups is None:
        unit = lambda u: u / u.norm()
    else:
        unit = lambda u: parts_unit(u, [len(g) for g in groups])
    opt = torch.optim.Adam([u], lr=lr)
    n_z, n_e = ctx.n_z, ctx.n_e
    if base is None:
        base = context_scores(ctx, guide)
    oth = torch.as_tensor(others, dtype=torch.long)
    if binary is None:
        ratio_scale = lambda after, before: (after - before) / spread
    else:
        binary = torch.as_tensor(binary, dtype=torch.bool)
        prob = lambda s: torch.where(binary, torch.sigmoid(s), s)
        ratio_scale = lambda after, before: (prob(after) - prob(before)) / spread_p
    if calm:
        unsure = [k for k in range(base.shape[1]) if binary[k] and k != j and k not in calm_skip]
        entropy = lambda s: _entropy(s[:, unsure]).mean()
    floor = None

    def objective(d, idx, idx_e):
        """The loss of direction d on these contexts (and the own/other terms for the log)."""
        nonlocal floor
        img = ctx.render(d, alpha, idx=idx, idx_enc=idx_e, layers=layers)
        before = torch.cat([base[idx], base[n_z + idx_e]]) if len(idx_e) else base[idx]
        after = guide(img)
        own = (after[:, j] - before[:, j]) / spread[j]
        delta = ratio_scale(after, before)
        other = smooth_abs(delta[:, oth]).mean(0)
        worst = torch.logsumexp(tau * other, 0) / tau
        # the edit test's ratio (worst other over own), in logs; a floor on the own change, or the cheapest way to a
        # small ratio is a direction the classifier cannot see at all; a hinge so that every face moves
        own_m = delta[:, j].mean()
        if floor is None:
            floor = keep * float(own_m.detach())
        loss = (torch.log(worst + 1e-3) - torch.log(torch.relu(own_m) + 1e-2) + hinge * torch.relu(margin - own).mean()
                + held * torch.relu(floor - own_m))
        if calm:
            loss = loss + calm * torch.relu(torch.log(entropy(after) / entropy(before)) - math.log(calm_at))
        return loss, own, own_m, other

    b_e = batch // 2 if n_e else 0  # half of each batch from the generator's samples, half from the encoded faces
    if pick:
        # fixed contexts on which the iterates of the second half are compared: with a batch of 32 the last iterate
        # is one noisy step among many, and the best of them on 4x as many contexts is a steadier answer
        fixed = (torch.randperm(n_z, generator=gen)[:2 * (batch - b_e)], torch.randperm(max(n_e, 1), generator=gen)[:2 * b_e] if b_e else torch.zeros(0, dtype=torch.long))
        snaps = []
    t0, terms = time.time(), {}
    for step in range(steps):
        idx = torch.randint(n_z, (batch - b_e,), generator=gen)
        idx_e = torch.randint(max(n_e, 1), (b_e,), generator=gen)
        loss, own, own_m, other = objective(unit(u), idx, idx_e)
        opt.zero_grad()
        loss.backward()
        opt.step()
        terms = {'step': step + 1, 'own': round(float(own.mean()), 3), 'own_ratio_scale': round(float(own_m), 3),
                 'frac': round(float((own > 0).float().mean()), 3), 'worst': round(float(other.max()), 3),
                 'loss': round(float(loss), 3), 's': round(time.time() - t0, 1)}
        if step % 20 == 0 or step == steps - 1:
            log(f'    guided {terms}')
        if pick and step + 1 >= steps // 2 and ((step + 1) % pick == 0 or step == steps - 1):
            with torch.no_grad():
                snaps.append((float(objective(unit(u), *fixed)[0]), step + 1, unit(u).clone()))
    with torch.no_grad():
        d = unit(u)
        if pick:
            best = min(snaps, key=lambda t: t[0])
            d = best[2]
            terms = {**terms, 'picked_step': best[1], 'picked_loss': round(best[0], 3)}
            log(f'    guided: picked the step-{best[1]} iterate (loss {best[0]:.3f} on the fixed contexts; last {snaps[-1][0]:.3f})')
    return d.double().numpy(), terms


def encode_faces(encoder_path, data_dir, n, f_res=16, start=0):
    """(z+ on the sphere [n, numWs, D], F [n, C, f_res, f_res]) of the first n training faces, by the torch encoder."""
    from model.eval.faces import load_faces
    from model.nets.encoder import load_encoder
    enc, _ = load_encoder(encoder_path)
    x = load_faces(data_dir, split='train', n=n, start=start)
    fs, zs = [], []
    with torch.no_grad():
        for i in range(0, n, 64):
            f, z = enc(x[i:i + 64], f_res)
            fs.append(f[f_res])
            zs.append(normalise(z))
    return torch.cat(zs), torch.cat(fs)


def invert_faces(checkpoint, data_dir, zplus, f, steps, weights=(1.0, 1.0, 0.1), lr=0.01, f_res=16, start=0,
                 cache=None, log=print):
    """(z+, F) of the training faces `start`.. after the app's inversion in follow mode (F/Z+ anchored, the gradient
    graph's own loss, Adam with the engine's settings, every z re-normalised after each step) from the encoder's
    (z+, F): the codes the app edits, which differ from the encoder's (a smaller residual, z fitted to the photo).
    `cache` (.pt path): loaded when it holds this very inversion, else written."""
    from model.eval.faces import load_faces
    from model.eval.spaces import SPACES, Codes, invert_space
    from model.export.graphs import PackModel
    from model.load.checkpoint import load_checkpoint, load_torch_file, sha256_file
    from model.nets.perceptual import PyramidSSIM
    key = dict(generator=sha256_file(checkpoint), n=len(zplus), start=start, steps=steps, weights=list(weights), lr=lr,
               f_res=f_res)
    if cache and os.path.exists(cache):
        c = load_torch_file(cache)
        # the encoder's codes differ in the last bits with the thread count
        if c.get('key') == key and torch.allclose(c['zplus0'], zplus, atol=1e-4) and torch.allclose(c['f0'], f, atol=1e-4):
            log(f'inverted selection faces from {cache}')
            return c['zplus'], c['f']
    L = load_checkpoint(checkpoint)
    pm = PackModel(L.G, L.w_avg, f_res, 1.0, L.G.n_latent, PyramidSSIM(L.G.size))
    target = load_faces(data_dir, split='train', n=len(zplus), start=start)
    t0 = time.time()
    f_inv, z_inv, _, _ = invert_space(Codes(pm), SPACES['F/Z+ anchored'], target, f, zplus, list(weights), steps, lr,
                                      log=log)
    log(f'inverted {len(zplus)} selection faces, {steps} steps ({time.time() - t0:.0f} s)')
    if cache:
        torch.save(dict(key=key, zplus0=zplus, f0=f, zplus=z_inv, f=f_inv), cache)
    return z_inv, f_inv
