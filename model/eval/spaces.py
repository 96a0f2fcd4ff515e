"""The paper's comparison on our model: W, W+, S, Z, Z+, F/W+, F/Z+ side by side.

    python3 -m model.fidelity --spaces W,W+,S,Z,Z+,F/W+,F/Z+ [--anchor] [--edit-mode fixed,follow] --report docs/SPACES.md

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

**Reconstruction** (per face, then the mean): PSNR (dB, on the [0, 1] scale), SSIM (model/nets/perceptual.PyramidSSIM's
level-0 SSIM: 7x7 Gaussian window), the pyramid-SSIM distance (PyramidSSIM itself), LPIPS-VGG when local weights
are given, ms per step (one face, one thread: graph + Adam), PSNR after the app's default step count, and for F
spaces the residual |F_inv - F_gen(W+_inv)| / |F_inv|.

**Edits.** Each labelled direction d (a unit vector in Z) at +-alpha sigma (default 2), in each space's natural way:
Z / Z+ / F/Z+: the engine's sphere walk of z along d; W / W+ / F/W+: w_i += psi_i dW with dW the *mapped difference*
E_z[mapping(walk(z, alpha d)) - mapping(z)] over --dir-samples prior samples; S: s += A(w_avg + dW) - A(w_avg)
for each affine layer A (exact: A is affine). Layers: the direction's own, else every layer for spaces without F and
layers >= fBlock.firstWs for F spaces (the paper's edit, F fixed). `--edit-mode follow` adds the edit with F following for
F spaces: every layer walked and F_edit = F_gen(W+_edit) + (F_inv - F_gen(W+_inv)).

- **Edit test**: classifier scores in sigma units (each score's std over held-out faces; probabilities for binary
  heads, standardised values for regression heads; the logit variant is reported beside it, because on logits a
  saturated rare head fails perfect drawn edits: model/eval/counterfactual.py); passes when >= 90 % of faces move the intended way and every *other reliable* head (binary
  accuracy >= 0.95 or regression R^2 >= 0.9 on held-out faces, from the classifier's metadata; attributes that are one
  property by definition exempt, fidelity.LINKED, and for the + edit the attributes its own attribute implies in the
  training labels, fidelity.implied_attributes: facial hair -> male) moves < 1/3 as much on average, **and** the
  image-quality guard holds: the classifier's uncertainty (mean binary entropy of its binary heads but the
  edit's own, `uncertainty`) on the edited images <= 1.5 x on the same space's unedited reconstructions. The quality
  bar is "the edited images stay as recognisable as the reconstructions", by classifier uncertainty or by domain FID;
  uncertainty decides and the FID guard (edited images' domain FID <= 1.5 x the reconstructions') is reported
  beside it, because it fails perfect drawn hats and glasses (docs/DECISIONS.md). The strict variant counts every
  head, implications included.
- **Distortion**: domain FID of edited images vs held-out faces (classifier penultimate features, the same n as the
  reconstructions), and for localised attributes the mean |change| (0-255) outside the attribute's region: mouth
  for smile / mouth open, hair for hair colour. Regions come from the training labels: where the mean image of faces
  with the attribute differs from the mean of faces without it (within each skin-colour group), dilated by 2 px.
- **Prior**: Mahalanobis distance of every w_i the generator sees from the mapping's output distribution (mean and
  covariance of mapping(z) over --prior-n samples; per layer with its truncation), for the reconstructions and the
  edited codes; S codes are mapped back to W+ by least squares through the affine layers (their misfit is reported).
  Z codes are on the sphere by construction (their w are mapping outputs).
"""
import json
import math
import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from model.eval.faces import load_faces, psnr

RELIABLE_BINARY, RELIABLE_R2 = 0.95, 0.9
GUARD = 1.5
DEFAULT_SPACES = 'W,W+,S,Z,Z+,F/W+,F/Z+'
REGIONS = {'smile': 'smile', 'mouth_open': 'smile', 'light_hair': 'light_hair'}  # direction attribute -> mask label
REGION_NAMES = {'smile': 'mouth', 'light_hair': 'hair'}
# report key of each edit mode's rows, and its name in tables
MODE_KEYS = {'fixed': 'edits', 'follow': 'edits_follow', 'gated': 'edits_gated'}
MODE_NAMES = {'fixed': 'F fixed', 'follow': 'F follows', 'gated': 'F follows, residual gated'}


def edit_keys(name):
    """(report key, table name) of every edit mode a space can have; spaces without F have one, the walk."""
    if not SPACES[name].has_f:
        return [('edits', 'walk')]
    return [(MODE_KEYS[m], MODE_NAMES[m]) for m in MODE_KEYS]


MARKER_BEGIN, MARKER_END = '<!-- BEGIN GENERATED by model.fidelity --spaces -->', '<!-- END GENERATED -->'


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


# ---- metrics --------------------------------------------------------------------------------------------------
class Metrics:
    def __init__(self, resolution, lpips=None):
        from model.nets.perceptual import PyramidSSIM
        self.pyr = PyramidSSIM(resolution).eval()
        self.lpips = lpips

    @torch.no_grad()
    def __call__(self, img, target):
        img = img.clamp(-1, 1)
        per = lambda fn: np.array([float(fn(img[i:i + 1], target[i:i + 1])) for i in range(img.shape[0])])
        out = dict(psnr=psnr(img, target).numpy(),
                   ssim=per(lambda x, y: self.pyr.ssim((x + 1) * 0.5, (y + 1) * 0.5)),
                   pyramid_ssim=per(self.pyr))
        if self.lpips is not None:
            out['lpips'] = per(self.lpips)
        return out


class Prior:
    """Mahalanobis distance of w_i from the mapping's output distribution (per layer with its truncation)."""

    def __init__(self, pm, n=20000, seed=0):
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            w = torch.cat([pm.G.mapping(torch.randn(min(4096, n - i), pm.z_dim, generator=g)) for i in range(0, n, 4096)])
            ref = pm.G.mapping(torch.randn(2000, pm.z_dim, generator=g))
        w = w.double()
        self.mu = w.mean(0)
        self.prec = torch.linalg.inv(torch.cov(w.T))
        self.w_avg, self.psi = pm.w_avg.double(), pm.psi_vec[:, 0].double()
        d = self._raw(ref.double())
        self.ref_mean, self.ref_p99 = float(d.mean()), float(torch.quantile(d, 0.99))

    def _raw(self, w):
        x = w - self.mu
        return ((x @ self.prec) * x).sum(-1).clamp_min(0).sqrt()

    def __call__(self, wplus):
        """[B, numWs, wDim] -> [B, numWs] distances (a truncated layer's w is mapped back before measuring)."""
        psi = self.psi.clamp_min(1e-6)[None, :, None]
        return self._raw(self.w_avg + (wplus.double() - self.w_avg) / psi).float()

    def summary(self, wplus):
        d = self(wplus)
        return dict(mean=round(float(d.mean()), 3), frac_beyond_p99=round(float((d > self.ref_p99).float().mean()), 4))


def _mean_image(imgs, idx, chunk=2000):
    total = np.zeros(imgs.shape[1:], np.float64)
    for i in range(0, len(idx), chunk):
        total += imgs[idx[i:i + chunk]].astype(np.float64).sum(0)
    return total / max(len(idx), 1)


@torch.no_grad()
def region_masks(data_dir, labels=('smile', 'light_hair'), n=20000, threshold=0.15, dilate=2, min_count=20):
    """{label: bool [R, R]}: pixels where the mean training image with the label differs from the mean without it
    (averaged over the skin-colour groups, so that correlated colours do not leak in), > threshold x max, dilated.
    Too few faces per group: one group; none with and without the label: an empty region."""
    from torch.nn import functional as F
    cols = [c['name'] for c in json.load(open(os.path.join(data_dir, 'labels.json')))['columns']]
    lab = np.load(os.path.join(data_dir, 'train_labels.npy'), mmap_mode='r')[:n]
    imgs = np.load(os.path.join(data_dir, 'train_images.npy'), mmap_mode='r')[:n]
    race = lab[:, cols.index('race')] if 'race' in cols else np.zeros(len(lab))
    out = {}
    for a in labels:
        y = lab[:, cols.index(a)] > 0.5
        diffs, wts = [], []
        for group in (race, np.zeros(len(lab))):
            for r in np.unique(group):
                m = group == r
                k = min((y & m).sum(), (~y & m).sum())
                if k >= min_count:
                    pos, neg = _mean_image(imgs, np.flatnonzero(y & m)), _mean_image(imgs, np.flatnonzero(~y & m))
                    diffs.append(np.abs(pos - neg).mean(-1))
                    wts.append(k)
            if diffs or min_count <= 1:
                break
            min_count = 1
        if not diffs:
            out[a] = torch.zeros(imgs.shape[1:3], dtype=torch.bool)
            continue
        d = torch.from_numpy(np.average(diffs, axis=0, weights=wts))
        mask = (d > threshold * d.max()).float()[None, None]
        out[a] = F.max_pool2d(mask, 2 * dilate + 1, 1, dilate)[0, 0] > 0
    return out


# ---- edits ----------------------------------------------------------------------------------------------------
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

    def layers(self, sp, direction, mode):
        """The direction's own layers, else all; F fixed: only those >= firstWs (as the engine's editPlan)."""
        first, every = self.pm.first_ws, list(range(self.cd.n))
        own = list(direction.get('layers') or every)
        if sp.has_f and mode not in ('follow', 'gated'):
            return [i for i in own if i >= first] or every[first:]
        return own

    @torch.no_grad()
    def apply(self, sp, f, code, direction, d, alpha, mode='fixed'):
        """-> (edited images, the W+ the generator sees for the edited code)."""
        from model.eval.fidelity import sphere_walk
        cd, pm = self.cd, self.pm
        L = self.layers(sp, direction, mode)
        if sp.code == 'zplus':
            ce = sphere_walk(code[:, None], d, alpha, [0])[:, 0] if sp.shared else sphere_walk(code, d, alpha, L)
        else:
            dw = torch.zeros(cd.n, cd.d)
            dw[L] = cd.psi[L, None] * self.dw(direction['id'], d, alpha)
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


def reliable_heads(attributes):
    """Heads counted as 'other attributes': binary accuracy >= 0.95 or regression R^2 >= 0.9 (missing: unreliable)."""
    ok = []
    for a in attributes:
        acc = a.get('accuracy', a.get('r2'))
        if acc is not None and acc >= (RELIABLE_BINARY if a.get('kind', 'binary') == 'binary' else RELIABLE_R2):
            ok.append(a['id'])
    return ok


def uncertainty(scores, attributes, skip=()):
    """Per image, the mean binary entropy (nats) of every binary head's probability except `skip` (an edit's own
    attribute and those linked to it, which a partial edit rightly leaves near 0.5): how unsure the classifier is of
    what it sees. On the counterfactual pairs (model/eval/counterfactual.py) perfect drawn edits raise it by at most
    1.35x, ghosts of another face by 1.7-2.0x, a 5x5 blur by 1.5x. Every binary head counts, the less reliable ones
    too: over the reliable heads alone, unusual but correct combinations (dark skin with light hair, a beard on a
    shaved head) raise it as much as a ghost does."""
    cols = [k for k, a in enumerate(attributes) if a['id'] not in skip and a.get('kind', 'binary') == 'binary']
    p = torch.sigmoid(torch.as_tensor(scores)[:, cols]).clamp(1e-7, 1 - 1e-7)
    return -(p * p.log() + (1 - p) * (1 - p).log()).mean(1)


def edit_rows(delta, j, attrs, reliable, fid_edit, fid_recon, delta_prob, linked=None, unc_edit=None, unc_recon=None):
    """The edit test with the image-quality guard on per-face changes (sigma units, already signed so that + is
    intended). The verdict is taken on `delta_prob` (binary heads as sigmoid(logit), regression heads as they are):
    on logits (`delta`) a saturated rare head jitters by whole sigmas with no visible change, enough to fail perfect
    drawn edits (model/eval/counterfactual.py, docs/DECISIONS.md); the logit variant is reported beside it, and the
    strict variant counts every head, linked and implied ones included.
    The guard is the classifier's confidence: the mean uncertainty() of the edited images <= GUARD x the
    reconstructions' (unc_edit, unc_recon). The domain-FID guard (fid_edit <= GUARD x fid_recon) is reported beside
    it: it fails perfect drawn hats (2.1x) and glasses (1.6x), because adding a rare attribute to every face moves the
    set away from the held-out faces whatever the image quality; without uncertainties it is the guard."""
    from model.eval.fidelity import LINKED, edit_test, passes
    linked = LINKED if linked is None else linked
    frac, own, worst, ratio = edit_test(delta_prob, j, attrs, linked, heads=reliable)
    _, _, worst_s, ratio_s = edit_test(delta_prob, j, attrs)
    frac_l, own_l, worst_l, ratio_l = edit_test(delta, j, attrs, linked, heads=reliable)
    guard_fid = fid_edit <= GUARD * fid_recon
    unc_ratio = None if unc_edit is None else float(unc_edit) / max(float(unc_recon), 1e-9)
    guard = guard_fid if unc_ratio is None else unc_ratio <= GUARD
    moved = passes(frac, ratio)
    return dict(frac_intended=round(frac, 3), own_mean_delta_sigma=round(own_l, 3), own_mean_delta_prob=round(own, 3),
                worst_other=worst, worst_other_ratio=round(ratio, 3), strict_worst_other=worst_s,
                strict_worst_other_ratio=round(ratio_s, 3), logit_frac_intended=round(frac_l, 3),
                logit_worst_other=worst_l, logit_worst_other_ratio=round(ratio_l, 3),
                fid=round(fid_edit, 2), fid_ratio=round(fid_edit / max(fid_recon, 1e-9), 3), guard_fid=bool(guard_fid),
                uncertainty_ratio=None if unc_ratio is None else round(unc_ratio, 3), guard=bool(guard),
                success=bool(moved and guard), success_strict=passes(frac, ratio_s) and bool(guard),
                success_no_guard=bool(moved), success_fid_guard=bool(moved and guard_fid),
                logit_success=passes(frac_l, ratio_l) and bool(guard))


# ---- the run --------------------------------------------------------------------------------------------------
def run(args, log=print):
    from model.eval.fidelity import Classifier, EncoderRunner, fid, implied_attributes, linked_with_implications, load_attributes
    torch.set_num_threads(args.threads)
    t_start = time.time()
    names = [s.strip() for s in args.spaces.split(',') if s.strip()]
    bad = [s for s in names if s not in SPACES]
    if bad:
        raise SystemExit(f'fidelity: unknown spaces {bad} (known: {", ".join(SPACES)})')
    if args.anchor and 'F/Z+ anchored' not in names:
        names.append('F/Z+ anchored')
    modes = [m.strip() for m in args.edit_mode.split(',')]
    if any(m not in ('fixed', 'follow', 'gated') for m in modes):
        raise SystemExit('fidelity: --edit-mode takes fixed, follow, gated or a comma list of them')

    pm, man = load_model(args)
    cd = Codes(pm)
    weights = [float(x) for x in args.weights.split(',')] if args.weights else \
        [float(x) for x in (man or {}).get('loss', {}).get('defaultWeights', [1.0, 1.0, 0.1])]
    lpips = None
    if args.lpips_weights and args.vgg_weights:
        from model.nets.perceptual import load_lpips
        lpips = load_lpips(args.vgg_weights, args.lpips_weights).eval()
    metrics = Metrics(pm.G.size, lpips)
    target = load_faces(args.data, 'heldout', n=args.n, start=args.offset)
    n = target.shape[0]
    enc_f = enc_z = None
    if args.encoder and os.path.exists(args.encoder):
        enc_f, enc_z = EncoderRunner(args.encoder)(target, pm.f_res)
    else:
        log(f'  (no encoder at {args.encoder}: W-mean / random-z starts)')
    app_steps = min(args.app_steps, args.steps)
    record = sorted({app_steps, args.steps} - {0})
    report = dict(kind='spaces', checkpoint=args.checkpoint, generator_sha256=getattr(pm, 'sha256', ''),
                  pack=args.pack, encoder=args.encoder if enc_z is not None else None, n=n, offset=args.offset,
                  steps=args.steps, app_steps=app_steps, lr=args.lr, weights=weights, psi=pm.psi,
                  trunc_layers=pm.trunc_layers, f_res=pm.f_res, first_ws=pm.first_ws, alpha=args.alpha,
                  edit_modes=modes, threads=args.threads, spaces={})

    # ---- invert (or load cached codes) ----
    from model.load.checkpoint import load_torch_file
    cache = load_torch_file(args.codes) if args.codes and os.path.exists(args.codes) else {}
    inv = {}
    for name in names:
        sp = SPACES[name]
        key = f'{report["generator_sha256"]}|{name}|{n}|{args.offset}|{args.steps}|{args.lr}|{weights}|{pm.f_res}|{report["encoder"]}'
        f0, c0 = start_codes(cd, sp, enc_f, enc_z, n)
        if key in cache:
            f, code, rec, secs = (cache[key][k] for k in ('f', 'code', 'rec', 'secs'))
            log(f'  {name}: codes from {args.codes}')
        else:
            log(f'  {name}: inverting {n} faces, {args.steps} steps ({sp.graph})')
            f, code, rec, secs = invert_space(cd, sp, target, f0, c0, weights, args.steps, args.lr, record, log=log)
            if args.codes:
                cache[key] = dict(f=f, code=code, rec=rec, secs=secs)
                os.makedirs(os.path.dirname(os.path.abspath(args.codes)), exist_ok=True)
                torch.save(cache, args.codes)
        inv[name] = (f, code)
        report['inversion_cpu_s'] = round(report.get('inversion_cpu_s', 0) + secs, 1)
        img0, img = cd.render(sp, f0, c0), cd.render(sp, f, code)
        m0, m = metrics(img0, target), metrics(img, target)
        row = dict(graph=sp.graph, start=start_label(sp, enc_z is not None),
                   psnr_start=_r(m0['psnr'].mean()), psnr=_r(m['psnr'].mean()), psnr_min=_r(m['psnr'].min()),
                   frac_ge_30=_r((m['psnr'] >= 30).mean()), ssim=_r(m['ssim'].mean(), 4),
                   pyramid_ssim=_r(m['pyramid_ssim'].mean(), 4), ms_per_step=_r(secs / max(n * args.steps, 1) * 1e3, 2),
                   psnr_at={str(k): _r(v.float().mean()) for k, v in rec.items()},
                   psnr_per_face=[_r(x) for x in m['psnr']])
        if 'lpips' in m:
            row['lpips'] = _r(m['lpips'].mean(), 4)
        if sp.has_f:
            with torch.no_grad():
                fg = pm.features(cd.wplus(sp, code))
                row['residual'] = _r(float(((f - fg).flatten(1).norm(dim=1) / f.flatten(1).norm(dim=1)).mean()), 4)
                fg0 = pm.features(cd.wplus(sp, c0))
                row['residual_start'] = _r(float(((f0 - fg0).flatten(1).norm(dim=1) / f0.flatten(1).norm(dim=1)).mean()), 4)
        report['spaces'][name] = row
        log(f'  {name}: PSNR {row["psnr_start"]:.2f} -> {row["psnr"]:.2f} dB, SSIM {row["ssim"]:.3f}, '
            f'{row["ms_per_step"]:.1f} ms/step' + (f', residual {row["residual"]:.2f}' if 'residual' in row else ''))

    # ---- edits ----
    clf = None
    clf_path = args.classifier
    if man and 'classifier' in man.get('graphs', {}):
        clf_path = os.path.join(args.pack, man['graphs']['classifier']['file'])
    directions = _directions(args, man)
    if not args.no_edits and directions and clf_path and os.path.exists(clf_path):
        attributes = [a if isinstance(a, dict) else {'id': a, 'kind': 'binary'} for a in
                      (_clf_attributes(args, man) or load_attributes(args, None))]
        clf = Classifier(clf_path, attributes)
        attrs = [a['id'] for a in attributes]
        reliable = reliable_heads(attributes)
        report['reliable_heads'] = reliable
        report['unreliable_heads'] = [a for a in attrs if a not in reliable]
        # adding a implies b in the data (facial hair -> male): b is not an 'other attribute' of the + edit
        linked_plus = linked_with_implications(args.data, attrs)
        report['implied_heads'] = {a: sorted(b) for a, b in implied_attributes(args.data, attrs).items()}
        held_all = load_faces(args.data, 'heldout', n=args.fid_n)
        keep = [i for i in range(held_all.shape[0]) if not args.offset <= i < args.offset + n]
        ref_scores, ref_feats = clf(held_all[keep], features=True)
        sd = ref_scores.std(0).clamp_min(1e-6)
        sd_p = clf.probs(ref_scores).std(0).clamp_min(1e-6)
        report['fid_targets'] = _r(fid(clf(target, features=True)[1], ref_feats), 2)
        report['fid_ref_n'] = len(keep)
        masks = region_masks(args.data, sorted(set(REGIONS.values())))
        prior = Prior(pm, args.prior_n)
        report['prior'] = dict(n=args.prior_n, ref_mean=_r(prior.ref_mean), ref_p99=_r(prior.ref_p99))
        editor = Editor(cd, args.dir_samples, gate_tau=args.gate_tau)
        report['directions'] = [d['id'] for d in directions]
        for name in names:
            sp = SPACES[name]
            f, code = inv[name]
            with torch.no_grad():
                recon = cd.render(sp, f, code).clamp(-1, 1)
                base, feats = clf(recon, features=True)
                wp = cd.wplus(sp, code)
            fid_recon = fid(feats, ref_feats)
            unc_recon = uncertainty(base, attributes).mean()
            row = report['spaces'][name]
            row['fid_recon'] = _r(fid_recon, 2)
            row['uncertainty_recon'] = _r(float(unc_recon), 4)
            row['prior_recon'] = prior.summary(wp)
            if sp.code == 's':
                with torch.no_grad():
                    row['s_misfit'] = _r(float(((pm.styles(wp) - code).norm(dim=1) / code.norm(dim=1)).mean()), 4)
            for mode in (modes if sp.has_f else ['fixed']):
                rows, wps = [], []
                t0 = time.time()
                for d in directions:
                    vec = torch.tensor(d['vector'], dtype=torch.float32)
                    vec = vec / vec.norm()
                    j = attrs.index(d['attribute'])
                    entry = dict(id=d['id'], attribute=d['attribute'])
                    skip = {d['attribute']} | set(linked_plus.get(d['attribute'], ()))
                    unc_base = uncertainty(base, attributes, skip).mean()
                    for sign in (1, -1):
                        img, wpe = editor.apply(sp, f, code, d, vec, sign * args.alpha, mode)
                        img = img.clamp(-1, 1)
                        wps.append(wpe)
                        scores, feats = clf(img, features=True)
                        delta = (sign * (scores - base) / sd).numpy()
                        delta_p = (sign * (clf.probs(scores) - clf.probs(base)) / sd_p).numpy()
                        r = edit_rows(delta, j, attrs, reliable, fid(feats, ref_feats), fid_recon, delta_p,
                                      linked=linked_plus if sign > 0 else None,
                                      unc_edit=uncertainty(scores, attributes, skip).mean(), unc_recon=unc_base)
                        r['pixel_change'] = _r(float((img - recon).abs().mean() * 127.5), 2)
                        region = REGIONS.get(d['attribute'])
                        if region:
                            diff = (img - recon).abs().mean(1) * 127.5  # [n, R, R], 0-255 units
                            r['region'] = REGION_NAMES[region]
                            r['change_outside_region'] = _r(float(diff[:, ~masks[region]].mean()), 2)
                            r['change_inside_region'] = _r(float(diff[:, masks[region]].mean()), 2)
                        entry['plus' if sign > 0 else 'minus'] = r
                    rows.append(entry)
                key = MODE_KEYS[mode]
                row[key] = rows
                row[key + '_summary'] = edit_summary(rows, prior.summary(torch.cat(wps)))
                s = row[key + '_summary']
                log(f'  {name} edits ({mode}): {s["pass_plus"]}/{s["n"]} pass at +{args.alpha} sigma '
                    f'({s["pass_minus"]} at -{args.alpha}; strict {s["pass_plus_strict"]}), mean own '
                    f'{s["own_plus"]:+.2f} sd, FID {s["fid_mean"]:.1f} vs recon {fid_recon:.1f}, {time.time() - t0:.0f} s')
        if args.grid and not args.no_grid:
            grid_dirs = [d for g in args.grid_directions.split(',') for d in directions if d['id'] == g.strip()]
            make_grid(args.grid, cd, editor, names, inv, target, grid_dirs, args.alpha, args.grid_faces, 'fixed')
            report['grid'] = args.grid
            log(f'  grid: {args.grid}')
            fz = [s for s in names if SPACES[s].has_f]
            if args.grid_modes and len(modes) > 1 and fz:
                make_mode_grid(args.grid_modes, cd, editor, fz, inv, target, grid_dirs, args.alpha, args.grid_faces, modes)
                report['grid_modes'] = args.grid_modes
                log(f'  edit-mode grid: {args.grid_modes}')
    elif not args.no_edits:
        log('  (no classifier or no labelled directions: edits skipped)')
    report['seconds'] = round(time.time() - t_start, 1)
    _write_json(args.out, report)
    md = markdown(report, os.path.dirname(os.path.abspath(args.report or args.out)))
    if args.report:
        write_report(args.report, md, command=getattr(args, 'command_line', None))
        summary = os.path.join(os.path.dirname(os.path.abspath(args.report)), 'spaces-summary.json')
        _write_json(summary, app_summary(report))
        log(f'wrote {args.out}, {summary} and the generated section of {args.report}')
    else:
        with open(os.path.splitext(args.out)[0] + '.md', 'w') as fh:
            fh.write(md)
        log(f'wrote {args.out} and .md')
    return report


def edit_summary(rows, prior_edit):
    both = lambda k, sign: [e[sign][k] for e in rows]
    outs = lambda region: [e[s]['change_outside_region'] for e in rows for s in ('plus', 'minus')
                           if e[s].get('region') == region]
    return dict(n=len(rows), pass_plus=sum(both('success', 'plus')), pass_minus=sum(both('success', 'minus')),
                pass_plus_strict=sum(both('success_strict', 'plus')),
                pass_plus_logit=sum(both('logit_success', 'plus')), pass_minus_logit=sum(both('logit_success', 'minus')),
                pass_plus_no_guard=sum(both('success_no_guard', 'plus')),
                pass_plus_fid_guard=sum(both('success_fid_guard', 'plus')),
                guard_fail=sum(not g for g in both('guard', 'plus') + both('guard', 'minus')),
                frac_intended_plus=_r(np.mean(both('frac_intended', 'plus')), 3),
                own_plus=_r(np.mean(both('own_mean_delta_sigma', 'plus')), 3),
                own_minus=_r(np.mean(both('own_mean_delta_sigma', 'minus')), 3),
                fid_mean=_r(np.mean(both('fid', 'plus') + both('fid', 'minus')), 2),
                outside_mouth=_r(np.mean(outs('mouth')), 2) if outs('mouth') else None,
                outside_hair=_r(np.mean(outs('hair')), 2) if outs('hair') else None,
                prior_edit=prior_edit)


def app_summary(rep):
    """One line per space for the app's space picker (src/app/AdvancedCard.tsx shows it for the measured generator)."""
    lines = {}
    for name, r in rep['spaces'].items():
        app = r['psnr_at'].get(str(rep['app_steps']), r['psnr'])
        line = f"PSNR {r['psnr']:.1f} dB after {rep['steps']} steps ({app:.1f} at {rep['app_steps']}), {r['ms_per_step']:.0f} ms/step"
        for key, mode in edit_keys(name):
            key += '_summary'
            mode = '' if mode == 'walk' else mode
            if key in r:
                line += f"; {r[key]['pass_plus']}/{r[key]['n']} edits pass at +{rep['alpha']:g}σ" + (f' ({mode})' if mode else '')
        lines[name] = line
    return dict(generator_sha256=rep['generator_sha256'], faces=rep['n'], doc='docs/SPACES.md', spaces=lines)


def start_label(sp, encoder):
    if encoder:
        return {'W': 'encoder W+ (layer mean)', 'Z': 'encoder Z+ (layer mean)', 'S': 'encoder W+ -> affine'}.get(
            sp.name, 'encoder')
    return 'random z' if sp.sphere else 'W-mean'


def load_model(args):
    """(PackModel, manifest or None): the pack's settings (truncation, F block, perceptual) or the CLI's."""
    from model.export.graphs import PackModel
    from model.export.verify import pack_model
    from model.load.checkpoint import load_checkpoint, sha256_file
    if args.pack:
        with open(os.path.join(args.pack, 'manifest.json')) as fh:
            man = json.load(fh)
        pm = pack_model(args.pack, args.checkpoint)
    else:
        from model.nets.perceptual import PyramidSSIM
        man = None
        L = load_checkpoint(args.checkpoint)
        f_res = int(args.f_res.split(',')[0]) if args.f_res else 16
        pm = PackModel(L.G, L.w_avg, f_res, 0.7 if args.psi is None else args.psi,
                       8 if args.trunc_layers is None else args.trunc_layers, PyramidSSIM(L.G.size))
    pm.sha256 = sha256_file(args.checkpoint)
    return pm, man


def _directions(args, man):
    dirs = (man or {}).get('directions')
    if not dirs and args.directions and os.path.exists(args.directions):
        with open(args.directions) as fh:
            doc = json.load(fh)
        dirs = doc['directions'] if isinstance(doc, dict) else doc
    dirs = [d for d in (dirs or []) if d.get('attribute')]
    if args.edit_directions:
        want = [s.strip() for s in args.edit_directions.split(',')]
        dirs = [d for w in want for d in dirs if d['id'] == w]
    return dirs


def _clf_attributes(args, man):
    """The classifier's heads with their held-out accuracy: the classifier metadata JSON, else the pack manifest."""
    if args.classifier_meta and os.path.exists(args.classifier_meta):
        with open(args.classifier_meta) as fh:
            d = json.load(fh)
        return d.get('manifestAttributes', d.get('attributes')) if isinstance(d, dict) else d
    return (man or {}).get('classifier', {}).get('attributes')


def _r(x, k=3):
    return round(float(x), k)


def _write_json(path, report):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + '.tmp', 'w') as fh:
        json.dump(report, fh, indent=1)
    os.replace(path + '.tmp', path)


# ---- figures --------------------------------------------------------------------------------------------------
def _tile(img):
    return ((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def _draw_grid(path, rows, header, groups, res, gap=6):
    """rows: [[uint8 HxWx3 tiles]]; header: one label per column; groups: column indices that start a group."""
    from PIL import Image, ImageDraw
    ncol = len(header)
    xs, x = [], 0
    for c in range(ncol):
        if c in groups:
            x += gap
        xs.append(x)
        x += res
    head = 26
    W, H = x, head + len(rows) * res
    canvas = Image.new('RGB', (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for c, label in enumerate(header):
        for k, line in enumerate(label.split('\n')[:2]):
            draw.text((xs[c] + 2, 1 + 12 * k), line, fill=(0, 0, 0))
    for r, tiles in enumerate(rows):
        for c, t in enumerate(tiles):
            canvas.paste(Image.fromarray(t), (xs[c], head + r * res))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    canvas.save(path)


@torch.no_grad()
def make_grid(path, cd, editor, names, inv, target, dirs, alpha, faces, mode='fixed'):
    """Rows: faces; columns: target, then for each space its reconstruction and the +alpha edits (F fixed)."""
    k = min(faces, target.shape[0])
    cols, header, groups = [[_tile(target[i]) for i in range(k)]], ['target'], set()
    for name in names:
        sp = SPACES[name]
        f, code = inv[name]
        f, code = (f[:k] if f is not None else None), code[:k]
        groups.add(len(header))
        cols.append([_tile(x) for x in cd.render(sp, f, code)])
        header.append(f'{name.replace(" anchored", " anch.")}\nrecon')
        for d in dirs:
            vec = torch.tensor(d['vector'], dtype=torch.float32)
            img, _ = editor.apply(sp, f, code, d, vec / vec.norm(), alpha, mode)
            cols.append([_tile(x) for x in img])
            header.append(f'\n+{alpha:g} {d["id"][:6]}')
    _draw_grid(path, [[c[i] for c in cols] for i in range(k)], header, groups, target.shape[-1])


@torch.no_grad()
def make_mode_grid(path, cd, editor, names, inv, target, dirs, alpha, faces, modes=('fixed', 'follow')):
    """The F edit modes side by side: per F space, its reconstruction and each +alpha edit in each of `modes`."""
    k = min(faces, target.shape[0])
    cols, header, groups = [[_tile(target[i]) for i in range(k)]], ['target'], set()
    for name in names:
        sp = SPACES[name]
        f, code = inv[name]
        f, code = f[:k], code[:k]
        groups.add(len(header))
        cols.append([_tile(x) for x in cd.render(sp, f, code)])
        header.append(f'{name.replace(" anchored", " anch.")}\nrecon')
        for d in dirs:
            vec = torch.tensor(d['vector'], dtype=torch.float32)
            for mode in modes:
                img, _ = editor.apply(sp, f, code, d, vec / vec.norm(), alpha, mode)
                cols.append([_tile(x) for x in img])
                header.append(f'{d["id"][:9]}\n{mode}')
    _draw_grid(path, [[c[i] for c in cols] for i in range(k)], header, groups, target.shape[-1])


# ---- Markdown -------------------------------------------------------------------------------------------------
def _fmt(x, spec='.2f', none='n/a'):
    return none if x is None else format(x, spec)


def markdown(rep, base='docs'):
    """The generated section of docs/SPACES.md; image links relative to `base` (the report's folder)."""
    sp = rep['spaces']
    L = [f"Generator sha256 `{rep['generator_sha256'][:12]}` (`{rep['checkpoint']}`), pack `{rep['pack']}`, encoder "
         f"`{rep['encoder']}`; {rep['n']} held-out faces (indices {rep['offset']}..{rep['offset'] + rep['n'] - 1}), "
         f"{rep['steps']} Adam steps per face, lr {rep['lr']}, loss weights {rep['weights']} (MSE, pyramid-SSIM, F), "
         f"truncation psi {rep['psi']}, F block {rep['f_res']}x{rep['f_res']} (firstWs {rep['first_ws']}); "
         f"{rep['threads']} thread(s). Inversions: {rep.get('inversion_cpu_s', 0) / 60:.0f} min of CPU time; this run "
         f"(inversions cached or not) {rep['seconds'] / 60:.0f} min.", '',
         '**Reconstruction**', '',
         f"| space | start | PSNR start | PSNR @{rep['app_steps']} | PSNR @{rep['steps']} | min | faces >= 30 dB | SSIM | "
         f"pyramid-SSIM dist. | LPIPS | ms/step | residual F | domain FID |",
         '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for name, r in sp.items():
        res = f"{r['residual']:.2f} (start {r['residual_start']:.2f})" if 'residual' in r else '-'
        L.append(f"| {name} | {r['start']} | {r['psnr_start']:.2f} | {r['psnr_at'].get(str(rep['app_steps']), r['psnr']):.2f} | "
                 f"**{r['psnr']:.2f}** | {r['psnr_min']:.2f} | {r['frac_ge_30'] * 100:.0f}% | {r['ssim']:.3f} | "
                 f"{r['pyramid_ssim']:.4f} | {_fmt(r.get('lpips'), '.4f', '-')} | {r['ms_per_step']:.1f} | {res} | "
                 f"{_fmt(r.get('fid_recon'), '.1f', '-')} |")
    if rep.get('fid_targets') is not None:
        L += ['', f"Domain FID: classifier penultimate features of {rep['n']} images vs {rep['fid_ref_n']} other held-out "
                  f"faces; the {rep['n']} targets themselves score {rep['fid_targets']:.1f} (the floor at this n). "
                  "Residual F: mean |F_inv - F_gen(W+_inv)| / |F_inv|."]
    if any('edits' in r for r in sp.values()):
        L += ['', f"**Editing** ({len(rep['directions'])} labelled directions at +-{rep['alpha']:g} sigma; pass = >= 90 % of "
                  f"faces move the intended way, every other reliable head < 1/3 as much, and the classifier's uncertainty on "
                  f"the edited images <= {GUARD}x on the reconstructions; FID guard = the same with the domain FID; "
                  "scores are probabilities for binary heads, standardised values for "
                  "regression heads; strict = every head counts; on logits = the same test on the binary heads' logits, "
                  "where a saturated rare head such as facemask jitters by whole sigmas under any change, enough to "
                  "fail perfect drawn edits: docs/DECISIONS.md)", '',
              f"| space | edit | pass +{rep['alpha']:g}σ | pass -{rep['alpha']:g}σ | on logits +/- | strict +{rep['alpha']:g}σ | "
              f"pass w/o guard | pass with the FID guard | guard fails (of {2 * len(rep['directions'])}) | intended (+) | own Δ (+, σ) | own Δ (-, σ) | "
              "edit FID (mean) | change outside mouth (smile, mouth) | change outside hair (hair colour) | "
              "Mahalanobis recon / edited (frac > prior p99) |",
              '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
        for name, r in sp.items():
            for key, mode in edit_keys(name):
                if key + '_summary' not in r:
                    continue
                s, pr = r[key + '_summary'], r['prior_recon']
                pe = s['prior_edit']
                L.append(f"| {name} | {mode} | **{s['pass_plus']}/{s['n']}** | {s['pass_minus']}/{s['n']} | "
                         f"{s['pass_plus_logit']}/{s['n']}, {s['pass_minus_logit']}/{s['n']} | "
                         f"{s['pass_plus_strict']}/{s['n']} | {s['pass_plus_no_guard']}/{s['n']} | "
                         f"{s.get('pass_plus_fid_guard', 0)}/{s['n']} | {s['guard_fail']} | "
                         f"{s['frac_intended_plus'] * 100:.0f}% | {s['own_plus']:+.2f} | {s['own_minus']:+.2f} | "
                         f"{s['fid_mean']:.1f} (recon {r['fid_recon']:.1f}) | {_fmt(s['outside_mouth'])} | "
                         f"{_fmt(s['outside_hair'])} | {pr['mean']:.1f} ({pr['frac_beyond_p99'] * 100:.0f}%) / "
                         f"{pe['mean']:.1f} ({pe['frac_beyond_p99'] * 100:.0f}%) |")
        pri = rep['prior']
        L += ['', f"Mahalanobis distance in W of every w_i the generator sees (prior: mapping(z) over {pri['n']} samples; "
                  f"fresh samples score {pri['ref_mean']:.1f} on average, p99 {pri['ref_p99']:.1f}). Changes outside a "
                  "region: mean |edited - reconstruction| in 0-255 units over the pixels outside the attribute's region, "
                  f"mean over faces and both signs. Reliable heads: {', '.join(rep['reliable_heads'])}; not counted as "
                  f"'other attributes': {', '.join(rep['unreliable_heads']) or 'none'}."]
        if any('s_misfit' in r for r in sp.values()):
            L += ['', f"S codes mapped back to W+ by least squares (for the Mahalanobis column) miss their styles by "
                      f"{sp['S']['s_misfit'] * 100:.1f} % (relative; 0 % = still inside the affine layers' image of W)."]
        # per-direction table
        cols = [(name, key) for name, r in sp.items() for key, _ in edit_keys(name) if key in r]
        L += ['', f"**Per direction** (+{rep['alpha']:g}σ: own Δ in σ, share of faces moved the intended way; ✓ = passes "
                  "with the guard, ✓l = passes on logits only, ✗g = fails only the guard)", '',
              '| direction | ' + ' | '.join(f"{n}{ {'edits_follow': ' follow', 'edits_gated': ' gated'}.get(k, '')}" for n, k in cols) + ' |',
              '|---' * (len(cols) + 1) + '|']
        for i, did in enumerate(rep['directions']):
            cells = []
            for name, key in cols:
                e = sp[name][key][i]['plus']
                mark = '✓' if e['success'] else '✓l' if e.get('logit_success') else ('✗g' if e['success_no_guard'] else '')
                cells.append(f"{e['own_mean_delta_sigma']:+.2f} {e['frac_intended'] * 100:.0f}% {mark}".strip())
            L.append(f'| {did} | ' + ' | '.join(cells) + ' |')
    if rep.get('grid'):
        L += ['', f"![faces x spaces: target, each space's reconstruction and +{rep['alpha']:g}σ edits]"
                  f"({os.path.relpath(rep['grid'], base)})"]
    if rep.get('grid_modes'):
        L += ['', f"![F spaces: each edit with F fixed and with F following]({os.path.relpath(rep['grid_modes'], base)})"]
    return '\n'.join(L) + '\n'


def write_report(path, md, command=None):
    """Replace the generated section of path (between the markers), keeping the hand-written text around it."""
    block = f'{MARKER_BEGIN}\n{md}{MARKER_END}\n'
    if os.path.exists(path):
        with open(path) as fh:
            text = fh.read()
        if MARKER_BEGIN in text and MARKER_END in text:
            a, b = text.index(MARKER_BEGIN), text.index(MARKER_END) + len(MARKER_END)
            text = text[:a] + block.rstrip('\n') + text[b:]
        else:
            text = text.rstrip('\n') + '\n\n' + block
    else:
        text = '# Latent spaces compared\n\n' + (f'```sh\n{command}\n```\n\n' if command else '') + block
    with open(path, 'w') as fh:
        fh.write(text)
