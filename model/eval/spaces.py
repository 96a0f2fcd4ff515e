"""The latent spaces of the paper's comparison (W, W+, S, Z, Z+, F/W+, F/Z+) and their inversion.

    python3 -m model.fidelity --spaces W,W+,S,Z,Z+,F/W+,F/Z+ [--anchor] [--edit-mode fixed,follow] --report docs/SPACES.md

The comparison, by job: the spaces and their inversion (here), the run (model/eval/spaces_run.py), the edits
(model/eval/editor.py), the edit test and its guard (model/eval/edit_test.py), the reconstruction metrics, the W
prior and the attribute regions (model/eval/spaces_metrics.py), the Markdown section and the image grids
(model/eval/spaces_report.py).

**Inversion.** Every space inverts the same held-out faces (never trained on) for --steps Adam steps with the app's
settings (lr 0.01, betas 0.9 / 0.999, eps 1e-8, the pack's loss weights; z codes re-normalised onto the sphere after
every step, as src/engine does). The gradient of every step is computed by the exporter's own graph functions
(`PackModel.specs()` in model/export/graphs.py, one face at a time, exactly what the exported ONNX graph computes):

    space          code (per face)                 gradient graph          start
    W              one w for all layers            grad_wplus (summed)     layer mean of the encoder's W+
    W+             w_i per layer                   grad_wplus              encoder Z+ -> mapping -> truncation
    S              every affine layer's output     grad_s                  affine layers of the encoder's W+
    Z              one z for all layers (sphere)   grad_zplus_nof (summed) layer mean of the encoder's Z+, on the sphere
    Z+             z_i per layer (sphere)          grad_zplus_nof          encoder Z+
    F/W+           F + w_i                         grad_fwplus             encoder F, encoder W+
    F/Z+           F + z_i                         grad_fzplus             encoder F, encoder Z+
    F/Z+ anchored  F + z_i, F pulled to F_gen(W+)  grad_fzplus_anchored    encoder F, encoder Z+   (--anchor)

Without an encoder: W-mean (truncation.wAvg) for W / W+ / S and F = features(W-mean), random z on the sphere for
Z / Z+ (the engine's fallbacks).
"""
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from model.eval.faces import psnr

DEFAULT_SPACES = 'W,W+,S,Z,Z+,F/W+,F/Z+'


@dataclass(frozen=True)
class Space:
    name: str
    graph: str          # gradient graph key in PackModel.specs()
    code: str           # graph input of the code: 'wplus', 'zplus' or 's'
    has_f: bool = False
    shared: bool = False  # one code broadcast to every layer (W, Z)

    @property
    def sphere(self):
        return self.code == 'zplus'

    @property
    def grad(self):
        return 'grad_' + self.code


SPACES = {s.name: s for s in [
    Space('W', 'grad_wplus', 'wplus', shared=True),
    Space('W+', 'grad_wplus', 'wplus'),
    Space('S', 'grad_s', 's'),
    Space('Z', 'grad_zplus_nof', 'zplus', shared=True),
    Space('Z+', 'grad_zplus_nof', 'zplus'),
    Space('F/W+', 'grad_fwplus', 'wplus', has_f=True),
    Space('F/Z+', 'grad_fzplus', 'zplus', has_f=True),
    Space('F/Z+ anchored', 'grad_fzplus_anchored', 'zplus', has_f=True),
]}


def sphere(z):
    return z * torch.rsqrt(torch.mean(z * z, -1, keepdim=True) + 1e-8)


def adam_step(p, g, st, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """src/engine/math/adam.ts adamStep, on a tensor (in place)."""
    st['t'] += 1
    st['m'].mul_(beta1).add_(g, alpha=1 - beta1)
    st['v'].mul_(beta2).addcmul_(g, g, value=1 - beta2)
    bc1, bc2 = 1 - beta1 ** st['t'], 1 - beta2 ** st['t']
    p.sub_(lr / bc1 * st['m'] / (st['v'].sqrt() / math.sqrt(bc2) + eps))


def adam_init(p):
    return dict(m=torch.zeros_like(p), v=torch.zeros_like(p), t=0)


# ---- codes <-> generator --------------------------------------------------------------------------------------
class Codes:
    """The PackModel plus the batched views of each space's codes that rendering and editing need (no gradients:
    the gradients come from the graph functions only)."""

    def __init__(self, pm):
        self.pm = pm
        self.n, self.d = pm.num_ws, pm.w_dim
        self.psi = pm.psi_vec[:, 0]  # [numWs]
        self._pinv = None

    def zplus_to_wplus(self, z):
        return self.pm.zplus_to_wplus_batch(z)

    def graph_code(self, sp, code):
        """The graph input for a space's code (W, Z: one code broadcast to every layer)."""
        return code[:, None].expand(-1, self.n, -1).contiguous() if sp.shared else code

    def wplus(self, sp, code):
        """The W+ the generator sees (S: least-squares W+ through the affine layers)."""
        if sp.code == 's':
            return self.s_to_wplus(code)
        c = self.graph_code(sp, code)
        return self.zplus_to_wplus(c) if sp.sphere else c

    @torch.no_grad()
    def render(self, sp, f, code):
        if sp.code == 's':
            return self.pm.synthesis_s(code)
        wp = self.wplus(sp, code)
        return self.pm.synthesis_from_f(f, wp) if sp.has_f else self.pm.synthesis(wp)

    @torch.no_grad()
    def s_to_wplus(self, s):
        """W+ whose styles are closest to s: per W+ index, least squares over the affine layers that read it
        (min-norm around W-mean where they have fewer outputs than wDim)."""
        if self._pinv is None:
            layers = self.pm.style_layers()
            ends = np.cumsum([c.in_ch for c, _ in layers])
            self._pinv = []
            for i in range(self.n):
                idx = [k for k, (_, j) in enumerate(layers) if j == i]
                wt = torch.cat([layers[k][0].modulation.frozen()[0] for k in idx], 1)  # [wDim, out]
                cols = torch.cat([torch.arange(ends[k] - layers[k][0].in_ch, ends[k]) for k in idx])
                self._pinv.append((cols, torch.linalg.pinv(wt.double()).float()))
        w_avg = self.pm.w_avg.expand(s.shape[0], self.n, -1)
        ds = s - self.pm.styles(w_avg)
        return torch.stack([w_avg[:, i] + ds[:, cols] @ pinv for i, (cols, pinv) in enumerate(self._pinv)], 1)


# ---- inversion ------------------------------------------------------------------------------------------------
@torch.no_grad()
def start_codes(cd, sp, enc_f, enc_z, n, seed=1):
    """(F or None, code) for n faces: the encoder where it applies (enc_z on the sphere), else the engine's fallbacks."""
    pm = cd.pm
    if enc_z is not None:
        z = sphere(enc_z)
        wp = cd.zplus_to_wplus(z)
        f = enc_f.clone() if sp.has_f else None
        if sp.code == 'zplus':
            code = sphere(z.mean(1)) if sp.shared else z
        elif sp.code == 's':
            code = pm.styles(wp)
        else:
            code = wp.mean(1) if sp.shared else wp
        return f, code.clone()
    w_mean = pm.w_avg.expand(n, cd.n, -1).clone()
    f = pm.features(w_mean) if sp.has_f else None
    if sp.code == 'zplus':
        g = torch.Generator().manual_seed(seed)
        z = sphere(torch.randn(n, cd.n, pm.z_dim, generator=g))
        code = z[:, 0] if sp.shared else z
    elif sp.code == 's':
        code = pm.styles(w_mean)
    else:
        code = w_mean[:, 0] if sp.shared else w_mean
    return f, code.clone()


def invert_space(cd, sp, target, f0, c0, weights, steps, lr, record=(), log=print):
    """Per face: `steps` Adam steps on the space's code (and F) with the gradients of the exported graph function.
    -> f, code (batched), {step: PSNR [n]} for the steps in `record`, CPU seconds spent in steps (excl. records)."""
    spec = cd.pm.specs([sp.graph])[0]
    w = torch.tensor(weights, dtype=torch.float32)
    fs, cs, rec, t_steps = [], [], {k: [] for k in record}, 0.0
    for i in range(target.shape[0]):
        tgt = target[i:i + 1]
        code = c0[i:i + 1].clone()
        f = f0[i:i + 1].clone() if sp.has_f else None
        f_init = f.clone() if sp.has_f else None
        st_c, st_f = adam_init(code), (adam_init(f) if sp.has_f else None)
        for s in range(steps):
            t0 = time.process_time()  # CPU time: the machine's other load does not count
            feeds = dict(target=tgt, weights=w, f=f, f_init=f_init)
            feeds[sp.code] = cd.graph_code(sp, code)
            out = dict(zip(spec.outputs, spec.fn(*[feeds[k] for k in spec.inputs])))
            g = out[sp.grad].sum(1) if sp.shared else out[sp.grad]
            with torch.no_grad():
                adam_step(code, g, st_c, lr)
                if sp.sphere:
                    code.copy_(sphere(code))
                if sp.has_f:
                    adam_step(f, out['grad_f'], st_f, lr)
            t_steps += time.process_time() - t0
            if s + 1 in rec:
                rec[s + 1].append(float(psnr(cd.render(sp, f, code), tgt)))
        fs.append(f)
        cs.append(code)
        if log and (i == 0 or (i + 1) % 8 == 0 or i + 1 == target.shape[0]):
            p = float(psnr(cd.render(sp, f, code), tgt))
            log(f'    {sp.name} face {i + 1}/{target.shape[0]}: PSNR {p:.2f} dB ({t_steps / (i + 1) / max(steps, 1) * 1e3:.1f} ms/step)')
    f = torch.cat(fs) if sp.has_f else None
    return f, torch.cat(cs), {k: torch.tensor(v) for k, v in rec.items()}, t_steps
