"""The edits of the latent-space comparison: a labelled direction applied in each space's natural way.

Each labelled direction d (a unit vector in Z) at +-alpha sigma (default 2), in each space's natural way:
Z / Z+ / F/Z+: the engine's sphere walk of z along d; W / W+ / F/W+: w_i += psi_i dW with dW the *mapped difference*
E_z[mapping(walk(z, alpha d)) - mapping(z)] over --dir-samples prior samples; S: s += A(w_avg + dW) - A(w_avg)
for each affine layer A (exact: A is affine). Layers: the direction's own, else every layer for spaces without F and
layers >= fBlock.firstWs for F spaces (the paper's edit, F fixed). A direction with parts (one Z vector per layer
group) walks each part on its own layers, dW per part in the W spaces; Z (one z) walks its vector. `--edit-mode follow` adds the edit with F following for
F spaces: every layer walked and F_edit = F_gen(W+_edit) + (F_inv - F_gen(W+_inv)); `--edit-mode gated` damps that
residual where the edit redraws the features (`residual_gate`).
"""
import torch

from model.directions.walk import direction_parts, walk_parts
from model.eval.spaces import sphere


class Editor:
    def __init__(self, cd, dir_samples=2048, seed=0, gate_tau=0.5):
        self.cd, self.pm, self.gate_tau = cd, cd.pm, gate_tau
        g = torch.Generator().manual_seed(seed)
        self.z = sphere(torch.randn(dir_samples, 1, self.pm.z_dim, generator=g))
        self._dw = {}

    def dw(self, key, d, alpha):
        """The mapped difference of a Z direction: E_z[mapping(walk(z, alpha d)) - mapping(z)] (raw W)."""
        from model.eval.fidelity import sphere_walk
        key = (key, float(alpha))
        if key not in self._dw:
            with torch.no_grad():
                ze = sphere_walk(self.z, d, alpha, [0])
                self._dw[key] = (self.pm.G.mapping(ze[:, 0]) - self.pm.G.mapping(self.z[:, 0])).mean(0)
        return self._dw[key]

    def parts(self, sp, direction, mode):
        """[(Z vector, layers)] walked per slider unit (direction_parts): F fixed only from firstWs."""
        fixed = sp.has_f and mode not in ('follow', 'gated')
        return direction_parts(direction, self.cd.n, self.pm.first_ws if fixed else 0)

    @torch.no_grad()
    def apply(self, sp, f, code, direction, d, alpha, mode='fixed'):
        """-> (edited images, the W+ the generator sees for the edited code)."""
        from model.eval.fidelity import sphere_walk
        cd, pm = self.cd, self.pm
        parts = self.parts(sp, direction, mode)
        if sp.code == 'zplus':
            # one z for every layer (Z): the direction's vector alone, as for a direction without parts
            ce = sphere_walk(code[:, None], d, alpha, [0])[:, 0] if sp.shared else walk_parts(code, [(alpha * v, ls) for v, ls in parts])
        else:
            dw = torch.zeros(cd.n, cd.d)
            for k, (v, ls) in enumerate(parts):
                dw[ls] = cd.psi[ls, None] * self.dw((direction['id'], k), v, alpha)
            if sp.code == 's':
                base = pm.w_avg.expand(1, cd.n, -1)
                ce = code + (pm.styles(base + dw[None]) - pm.styles(base))
            else:
                ce = code + (self.dw(direction['id'], d, alpha) if sp.shared else dw[None])
        wp_e = cd.wplus(sp, ce)
        if sp.code == 's':
            return pm.synthesis_s(ce), wp_e
        if not sp.has_f:
            return pm.synthesis(wp_e), wp_e
        if mode in ('follow', 'gated'):
            f_gen = pm.features(cd.wplus(sp, code))
            f_edit = pm.features(wp_e)
            res = f - f_gen
            if mode == 'gated':
                res = res * residual_gate(f_edit - f_gen, f_gen, self.gate_tau)
            f = f_edit + res
        return pm.synthesis_from_f(f, wp_e), wp_e


def residual_gate(df, f_gen, tau):
    """[B, 1, H, W] weights in (0, 1] for the inverted F's residual: 1 where the edit leaves the generator's own
    features alone, falling where it redraws them (exp(-(|dF| / (tau * mean |F_gen|))^2), norms over channels): there
    the residual describes structure the edit replaces, and keeping it draws the old face through the new one."""
    m = df.norm(dim=1, keepdim=True)
    s = f_gen.norm(dim=1, keepdim=True).mean((2, 3), keepdim=True).clamp_min(1e-8)
    return torch.exp(-(m / (tau * s)) ** 2)
