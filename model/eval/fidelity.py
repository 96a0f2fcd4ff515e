"""Fidelity bench of a demo model (the numbers the README quotes).

With --spaces: the paper's comparison of latent spaces (W, W+, S, Z, Z+, F/W+, F/Z+; model/eval/spaces_run.py,
whose docstring says what is measured), written to docs/SPACES.md with --report. The one command (docs/SPACES.md):

    taskset -c 1 nice -n 10 /usr/bin/python3 -m model.fidelity --pack public/models/demo64 \
        --checkpoint model/checkpoints/demo64-g_ema.pt --encoder public/models/demo64/encoder.onnx \
        --spaces W,W+,S,Z,Z+,F/W+,F/Z+ --anchor --edit-mode fixed,follow --n 16 --report docs/SPACES.md

Without --spaces, the F/Z+ bench below (F-block sweep):

1. **Inversion**: F/Z+ inversion of held-out faces (never trained on), started from the encoder, Adam for
   --steps (default 300) steps with the engine's settings (one lr for F and Z+, default 0.01, betas 0.9/0.999;
   every z re-normalised onto the sphere after each step). The loss is the gradient graphs' loss, computed by the
   exporter's own PackModel pieces (model/export/graphs.py truncation, model/nets/perceptual.py perceptual term):
   weights . [MSE, perceptual, mean((F - F_init)^2)] with --weights (default: the pack's loss.defaultWeights, else 1,10,10). Faces are optimised in a
   batch; each face's loss is its own (the sum over faces gives every face exactly its single-image gradient).
   Reported: mean PSNR (dB, images in [-1, 1] compared on the [0, 1] scale, as the engine) of the encoder start
   and after the steps.
2. **Edits**: each labelled direction applied at +2 sigma (sphere walk of the engine: v = 2 d, n = ceil(|v| / 0.1)
   steps z <- normalise(z + v / n) on the direction's layers, default every layer >= fBlock.firstWs; F fixed) to
   every inverted face. Classifier scores (logits for binary attributes, values for regression ones) are put in
   sigma units (divided by each attribute's std over --fid-n held-out faces). Success: the direction's own attribute
   moves the intended way for >= 90 % of faces and every other attribute's mean |change| is < 1/3 of the own
   attribute's mean |change|.
3. **Domain FID** on the classifier's penultimate features (Inception is not available here): generated samples
   (pack truncation) vs held-out faces, with the train-vs-held-out FID as the floor.

F-block sweep (--f-res 8,16,32): 1. and 2. for each block; the encoder has a head for each.

    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 nice -n 15 /usr/bin/python3 -m model.fidelity \
        --checkpoint model/checkpoints/demo64-g_ema.pt --encoder model/checkpoints/encoder64.pt \
        --classifier model/checkpoints/classifier64.onnx --directions model/checkpoints/directions64.json \
        --f-res 8,16,32 --n 32 --out runs/fidelity/sweep.json
"""
import argparse
import json
import os
import time

import numpy as np
import torch

from model.directions.walk import direction_parts, walk_layers, walk_parts
from model.eval.faces import load_faces, psnr
from model.export.contract_generated import GRAPH_INPUTS, GRAPH_OUTPUTS


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--checkpoint', default='model/checkpoints/demo64-g_ema.pt')
    p.add_argument('--encoder', default='model/checkpoints/encoder64.pt')
    p.add_argument('--classifier', default='model/checkpoints/classifier64.onnx')
    p.add_argument('--classifier-meta', default='model/checkpoints/classifier64.json', help='JSON with the attribute list (else from --directions or labels.json)')
    p.add_argument('--directions', default='model/checkpoints/directions64.json')
    p.add_argument('--pack', default=None, help='read psi / trunc layers / F block / directions / weights from this pack')
    p.add_argument('--data', default='data/faces-64')
    p.add_argument('--f-res', default=None, help='comma list; default: the pack F block or 16')
    p.add_argument('--psi', type=float, default=None)
    p.add_argument('--trunc-layers', type=int, default=None)
    p.add_argument('--weights', default=None, help="lambda_mse,lambda_perc,lambda_f (default: the pack's loss.defaultWeights, else 1,10,10)")
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--steps', type=int, default=300)
    p.add_argument('--n', type=int, default=32, help='held-out faces to invert')
    p.add_argument('--offset', type=int, default=8, help='first held-out index (0..7 are the pack samples)')
    p.add_argument('--alpha', type=float, default=2.0)
    p.add_argument('--fid-n', type=int, default=1000)
    p.add_argument('--no-fid', action='store_true')
    p.add_argument('--no-edits', action='store_true')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default=None, help='JSON report (default runs/fidelity/fidelity.json; with --spaces '
                   'runs/fidelity/spaces.json, or spaces.json beside --report)')
    p.add_argument('--codes', default=None,
                   help='.pt file of inverted codes (per block, or per space with --spaces): loaded if it exists and '
                        'matches (skips the inversion), else written after inverting')
    s = p.add_argument_group('latent-space comparison (model/eval/spaces_run.py)')
    s.add_argument('--spaces', default=None, help='comma list of W,W+,S,Z,Z+,F/W+,F/Z+ (runs the comparison)')
    s.add_argument('--anchor', action='store_true', help="also invert F/Z+ with the anchored F term (grad_fzplus_anchored)")
    s.add_argument('--edit-mode', default='fixed', help='fixed (F fixed, the paper), follow (F follows the edit), gated (F '
                   'follows and the residual is damped where the edit redraws the features, editor.residual_gate) or a comma list')
    s.add_argument('--gate-tau', type=float, default=0.5, help="gated: the feature change, in units of the mean |F_gen|, "
                   "at which the residual keeps exp(-1) of its weight")
    s.add_argument('--report', default=None, help='Markdown file whose generated section is rewritten (docs/SPACES.md)')
    s.add_argument('--edit-directions', default=None, help='comma list of direction ids (default: every labelled one)')
    s.add_argument('--grid', default=None, help='image grid PNG (default with --report: spaces-grid.png beside it)')
    s.add_argument('--grid-modes', default=None, help='F fixed vs F follows grid PNG (default with --report and '
                   'follow: spaces-edit-modes.png beside it)')
    s.add_argument('--no-grid', action='store_true')
    s.add_argument('--grid-faces', type=int, default=6)
    s.add_argument('--grid-directions', default='smile,light_hair,hat')
    s.add_argument('--app-steps', type=int, default=100, help="the app's default step count (PSNR also reported there)")
    s.add_argument('--lpips-weights', default=None, help='LPIPS v0.1 heads (local file): adds an LPIPS-VGG column')
    s.add_argument('--vgg-weights', default=None, help='torchvision vgg16 state dict (local file)')
    s.add_argument('--prior-n', type=int, default=20000, help='mapping samples for the W prior (Mahalanobis)')
    s.add_argument('--dir-samples', type=int, default=2048, help='samples for the mapped difference of a Z direction')
    a = p.parse_args(argv)
    if a.spaces:
        base = os.path.dirname(a.report) if a.report else None
        a.out = a.out or (os.path.join(base, 'spaces.json') if base is not None else 'runs/fidelity/spaces.json')
        if a.report:
            a.grid = a.grid or os.path.join(base, 'spaces-grid.png')
            if 'follow' in a.edit_mode:
                a.grid_modes = a.grid_modes or os.path.join(base, 'spaces-edit-modes.png')
    a.out = a.out or 'runs/fidelity/fidelity.json'
    return a


# ---- generator ---------------------------------------------------------------------------------------------
def load_pack_model(checkpoint=None, psi=1.0, trunc_layers=None, f_res=16, seed=0):
    """The exporter's PackModel of a checkpoint with this truncation (trunc_layers None: every layer), its sha256
    set. checkpoint None or 'random': a randomly initialised generator of the demo config (development only)."""
    from model.export.graphs import PackModel
    if checkpoint in (None, 'random'):
        from model.demo.train_gan import DEMO_CONFIG
        from model.nets.stylegan2 import Generator
        torch.manual_seed(seed)
        G = Generator(**DEMO_CONFIG).eval()
        with torch.no_grad():
            w_avg = G.mapping(torch.randn(4096, G.style_dim)).mean(0)
        sha256 = ''
    else:
        from model.load.checkpoint import load_rosinality
        L = load_rosinality(checkpoint, with_discriminator=False)
        G, w_avg, sha256 = L.G, L.w_avg, L.sha256
    pm = PackModel(G, w_avg, f_res, float(psi), G.n_latent if trunc_layers is None else int(trunc_layers))
    pm.sha256 = sha256
    return pm


# ---- inversion ---------------------------------------------------------------------------------------------
def make_loss_parts(bundle, perceptual_kind='pyramid-ssim'):
    from model.nets.perceptual import PyramidSSIM
    if perceptual_kind != 'pyramid-ssim':
        raise SystemExit(f'fidelity: perceptual {perceptual_kind!r} not supported here (pack loss must be pyramid-ssim)')
    perc = PyramidSSIM(bundle.G.size).eval()
    for p in perc.parameters():
        p.requires_grad_(False)
    return perc


def pyramid_ssim_per_face(perc, x, y):
    """model.nets.perceptual.PyramidSSIM per face ([B]): perc(x[i:i+1], y[i:i+1]), the grad_fzplus graph's term."""
    return torch.stack([perc(x[i:i + 1], y[i:i + 1]) for i in range(x.shape[0])])


def per_face_loss(bundle, perc, f, zplus, f_init, target, f_res):
    """[B, 3] unweighted terms per face, exactly as the grad_fzplus graph computes for one face."""
    img = bundle.G.synthesis_from_f(f, bundle.zplus_to_wplus_batch(zplus), f_res)
    mse = ((img - target) ** 2).flatten(1).mean(1)
    p = pyramid_ssim_per_face(perc, img, target)
    freg = ((f - f_init) ** 2).flatten(1).mean(1)
    return torch.stack([mse, p, freg], 1), img


def invert(bundle, perc, target, f_init, z_init, f_res, weights, steps=300, lr=0.01, log_every=50, log=print):
    f = f_init.clone().requires_grad_(True)
    z = z_init.clone().requires_grad_(True)
    opt = torch.optim.Adam([z, f], lr=lr, betas=(0.9, 0.999), eps=1e-8)
    w = torch.tensor(weights, dtype=torch.float32)
    trace = []
    for s in range(steps):
        terms, img = per_face_loss(bundle, perc, f, z, f_init, target, f_res)
        loss = (terms * w).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            z.mul_(torch.rsqrt(torch.mean(z * z, -1, keepdim=True) + 1e-8))
        if log_every and (s % log_every == 0 or s == steps - 1):
            pv = float(psnr(img.detach(), target).mean())
            trace.append((s, pv))
            log(f'    step {s:4d}  loss {float(loss) / target.shape[0]:.4f}  psnr(before step) {pv:.2f}')
    with torch.no_grad():
        img = bundle.G.synthesis_from_f(f, bundle.zplus_to_wplus_batch(z), f_res)
    return f.detach(), z.detach(), img, trace


# ---- encoder (torch checkpoint, or the pack's ONNX through onnx_torch) ---------------------------------------
class EncoderRunner:
    def __init__(self, path):
        self.path = path
        if path.endswith('.onnx'):
            from model.runtime.onnx_torch import OnnxTorch
            self.onnx = OnnxTorch(path)
            self.enc = None
        else:
            from model.nets.encoder import load_encoder
            self.enc, self.meta = load_encoder(path)
            self.onnx = None

    @torch.no_grad()
    def __call__(self, images, f_res):
        if self.enc is not None:
            fs, z = self.enc(images, f_res)
            return fs[f_res], z
        (image,), (f_name, z_name) = GRAPH_INPUTS['encoder'], GRAPH_OUTPUTS['encoder']
        fo, zo = [], []
        for i in range(images.shape[0]):
            out = self.onnx.run({image: images[i:i + 1]})
            fo.append(out[f_name])
            zo.append(out[z_name])
        return torch.cat(fo), torch.cat(zo)


# ---- classifier ----------------------------------------------------------------------------------------------
class Classifier:
    def __init__(self, path, attributes):
        from model.runtime.onnx_torch import OnnxTorch
        self.g = OnnxTorch(path)
        self.inp = self.g.inputs[0]
        shape = [d.dim_value for d in self.g.model.graph.input[0].type.tensor_type.shape.dim]
        self.batch = shape[0] if shape and shape[0] > 0 else 64
        self.out = self.g.outputs[0]
        self.pen = self.g.penultimate_name()
        self.attributes = attributes  # [{'id', 'kind'}]

    def probs(self, scores):
        """Probabilities for binary attributes (sigmoid of the logits), regression values as they are."""
        binary = torch.tensor([a.get('kind', 'binary') == 'binary' for a in self.attributes])
        return torch.where(binary, torch.sigmoid(scores), scores)

    @torch.no_grad()
    def __call__(self, images, features=False):
        logits, feats = [], []
        n = images.shape[0]
        for i in range(0, n, self.batch):
            x = images[i:i + self.batch]
            pad = self.batch - x.shape[0]
            if pad:
                x = torch.cat([x, x[:1].expand(pad, -1, -1, -1)])
            r = self.g.run({self.inp: x.contiguous()}, want=[self.out, self.pen])
            logits.append(r[self.out][:self.batch - pad])
            feats.append(r[self.pen].flatten(1)[:self.batch - pad])
        logits = torch.cat(logits)
        return (logits, torch.cat(feats)) if features else logits


def load_attributes(args, directions_doc):
    for src in (args.classifier_meta, ):
        if src and os.path.exists(src):
            with open(src) as f:
                d = json.load(f)
            return d.get('manifestAttributes', d.get('attributes')) if isinstance(d, dict) else d
    if isinstance(directions_doc, dict):
        for k in ('attributes', 'classifierAttributes'):
            if k in directions_doc:
                return directions_doc[k]
        if 'classifier' in directions_doc and 'attributes' in directions_doc['classifier']:
            return directions_doc['classifier']['attributes']
    raise SystemExit('fidelity: no classifier attribute list (pass --classifier-meta)')


def load_directions(path):
    with open(path) as f:
        doc = json.load(f)
    dirs = doc['directions'] if isinstance(doc, dict) else doc
    return doc, dirs


# ---- edits -------------------------------------------------------------------------------------------------
# Attribute pairs that are one property by definition (scripts/faces/render.mjs): 'accessory' is "any accessory"
# (so a hat edit must move it), dark_skin / light_hair are thresholds of skin_lum / hair_lum. They are not counted
# as "other attributes" of each other; the report also keeps the strict worst other (strict_worst_other).
_LINK_PAIRS = [('accessory', 'hat'), ('accessory', 'headband'), ('accessory', 'eye_black'),
               ('dark_skin', 'skin_lum'), ('light_hair', 'hair_lum')]
LINKED = {}
for _a, _b in _LINK_PAIRS:
    LINKED.setdefault(_a, set()).add(_b)
    LINKED.setdefault(_b, set()).add(_a)

def implied_attributes(data_dir, attrs, min_p=0.99, min_count=50):
    """One-way implications in the training labels (data_dir/train_labels.npy, binary columns): a -> {b} when
    P(b | a) >= min_p over at least min_count faces with a. In facesjs, facial hair, shaved heads and baldness are
    drawn on male faces only, so an edit that adds facial hair makes the face male by the data's own definition;
    such a b is not counted as an 'other attribute' of a's edit (the strict variant still counts it). Empty when the
    labels are missing."""
    path = os.path.join(data_dir, 'train_labels.npy')
    if not os.path.exists(path):
        return {}
    labels = np.load(path)
    with open(os.path.join(data_dir, 'labels.json')) as f:
        cols = [c['name'] for c in json.load(f)['columns']]
    kinds = {c['name']: c.get('kind') for c in json.load(open(os.path.join(data_dir, 'labels.json')))['columns']}
    binary = [a for a in attrs if a in cols and kinds.get(a) == 'binary']
    out = {}
    for a in binary:
        has = labels[:, cols.index(a)] > 0.5
        if has.sum() < min_count:
            continue
        for b in binary:
            if b != a and (labels[has, cols.index(b)] > 0.5).mean() >= min_p:
                out.setdefault(a, set()).add(b)
    return out


def linked_with_implications(data_dir, attrs):
    """LINKED (one property by definition) plus the data's one-way implications (implied_attributes)."""
    linked = {a: set(b) for a, b in LINKED.items()}
    for a, bs in implied_attributes(data_dir, attrs).items():
        linked.setdefault(a, set()).update(bs)
    return linked


def sphere_walk(z, d, alpha, layers):
    """The engine's edit on the given layers of z [B, numWs, D]: v = alpha d, walked as model.directions.walk does."""
    return walk_layers(z, alpha * d, layers)


def passes(frac, ratio):
    """The edit test's bar: >= 90 % of faces move the intended way and the worst counted other head < 1/3 as much."""
    return bool(frac >= 0.9 and ratio < 1 / 3)


def edit_test(delta, j, attrs, linked=LINKED, heads=None):
    """The edit test on per-face changes `delta` [N, A] (numpy) for attribute j, ignoring the attributes linked to
    it by definition: (fraction moved the intended way, own mean change, worst other attribute, its mean |change|
    over the own mean |change|). It passes when the fraction is >= 0.9 and the ratio < 1/3. heads: the attribute
    ids counted as others (default: all; the demo-model bars count only the reliable classifier heads)."""
    own = delta[:, j]
    others = np.abs(delta).mean(0)
    others[j] = 0
    if heads is not None:
        others[[k for k, a in enumerate(attrs) if a not in heads]] = 0
    for lk in linked.get(attrs[j], ()):
        if lk in attrs:
            others[attrs.index(lk)] = 0
    k = int(others.argmax())
    return float((own > 0).mean()), float(own.mean()), attrs[k], float(others[k]) / max(float(np.abs(own).mean()), 1e-9)


@torch.no_grad()
def edit_success(bundle, clf, f, z, f_res, directions, alpha=2.0, log=print, ref_sd=None):
    attrs = [a['id'] for a in clf.attributes]
    base_img = bundle.G.synthesis_from_f(f, bundle.zplus_to_wplus_batch(z), f_res).clamp(-1, 1)
    base = clf(base_img)
    sd = (ref_sd[0] if ref_sd is not None else base.std(0)).clamp_min(1e-6)
    # the same test on probabilities for binary attributes: a saturated logit of a rare attribute (headband at
    # -8) jitters by whole units with no visible change, which the logit-sigma test counts as a move
    base_p = clf.probs(base)
    sd_p = (ref_sd[1] if ref_sd is not None else base_p.std(0)).clamp_min(1e-6)
    first = bundle.G.first_ws(f_res)
    rows = []
    for d in directions:
        if not d.get('attribute') or d['attribute'] not in attrs:
            continue
        ze = walk_parts(z, [(alpha * v, ls) for v, ls in direction_parts(d, bundle.num_ws, first)])
        img = bundle.G.synthesis_from_f(f, bundle.zplus_to_wplus_batch(ze), f_res).clamp(-1, 1)
        scores = clf(img)
        delta = (scores - base) / sd  # sigma units
        j = attrs.index(d['attribute'])
        frac_p, _, worst_p, ratio_p = edit_test(((clf.probs(scores) - base_p) / sd_p).numpy(), j, attrs)
        ok_p = passes(frac_p, ratio_p)
        frac, own, worst, ratio = edit_test(delta.numpy(), j, attrs)
        ok = passes(frac, ratio)
        _, _, worst_s, ratio_s = edit_test(delta.numpy(), j, attrs, linked={})  # strict: the linked heads count too
        # the spaces report's keys: success / worst_other = the verdict on probabilities, logit_* = on logits
        rows.append(dict(id=d['id'], attribute=d['attribute'], frac_intended=round(frac_p, 3),
                         own_mean_delta_sigma=round(own, 3), worst_other=worst_p,
                         worst_other_ratio=round(ratio_p, 3), success=ok_p,
                         logit_frac_intended=round(frac, 3), logit_worst_other=worst,
                         logit_worst_other_ratio=round(ratio, 3), logit_success=ok,
                         strict_worst_other=worst_s, strict_worst_other_ratio=round(ratio_s, 3),
                         pixel_change=round(float((img - base_img).abs().mean()), 4)))
        log(f'    {d["id"]:>16s}: intended {frac_p * 100:5.1f}%  own {own:+.2f} sd  '
            f'worst other {worst_p} {ratio_p:.2f}x  {"OK" if ok_p else "--"} | logits: worst other {worst} '
            f'{ratio:.2f}x {"OK" if ok else "--"}')
    return rows


# ---- FID -----------------------------------------------------------------------------------------------------
def _sqrtm_psd(a):
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def fid(f1, f2):
    f1, f2 = f1.double().numpy(), f2.double().numpy()
    m1, m2 = f1.mean(0), f2.mean(0)
    c1, c2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    s1 = _sqrtm_psd(c1)
    covmean = _sqrtm_psd(s1 @ c2 @ s1)
    return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean))


@torch.no_grad()
def domain_fid(bundle, clf, data_dir, n=1000, seed=0, log=print):
    held = load_faces(data_dir, 'heldout', n=n)
    train = load_faces(data_dir, 'train', n=n)
    g = torch.Generator().manual_seed(seed)
    imgs = []
    for i in range(0, n, 50):
        z = torch.randn(min(50, n - i), 1, bundle.z_dim, generator=g).expand(-1, bundle.num_ws, -1)
        imgs.append(bundle.G.synthesis(bundle.zplus_to_wplus_batch(z)).clamp(-1, 1))
    gen = torch.cat(imgs)
    sh, fh = clf(held, features=True)
    _, ft = clf(train, features=True)
    sg, fg = clf(gen, features=True)
    out = dict(fid_generated_vs_heldout=round(fid(fg, fh), 3), fid_train_vs_heldout=round(fid(ft, fh), 3), n=n,
               features=int(fh.shape[1]), psi=bundle.psi, trunc_layers=bundle.trunc_layers)
    # mode coverage: how often each binary attribute appears in samples vs held-out faces (classifier decisions);
    # a generator that drops rare modes (glasses, hats) shows it here before any direction fit fails on it
    binary = [j for j, a in enumerate(clf.attributes) if a.get('kind', 'binary') == 'binary']
    out['binary_rates'] = {clf.attributes[j]['id']: [round(float((sg[:, j] > 0).float().mean()), 4),
                                                     round(float((sh[:, j] > 0).float().mean()), 4)] for j in binary}
    log(f'  domain FID (classifier features, {fh.shape[1]}-d, n={n}): generated {out["fid_generated_vs_heldout"]:.3f}, '
        f'train-vs-heldout floor {out["fid_train_vs_heldout"]:.3f}')
    log('  binary attribute rates, generated / held-out: ' + ', '.join(
        f'{k} {g:.3f}/{h:.3f}' for k, (g, h) in out['binary_rates'].items()))
    return out


# ---- main ----------------------------------------------------------------------------------------------------
def main(argv=None):
    args = parse_args(argv)
    if args.spaces:
        import shlex
        import sys
        from model.eval import spaces_run
        args.command_line = 'python3 -m model.fidelity ' + ' '.join(shlex.quote(x) for x in (argv or sys.argv[1:]))
        spaces_run.run(args)
    else:
        run_blocks(args)
    return 0


def run_blocks(args):
    """The F/Z+ bench (per F block) -> report dict."""
    torch.set_num_threads(args.threads)
    t_start = time.time()
    log = lambda s: print(s, flush=True)
    psi, tl = args.psi, args.trunc_layers
    weights = [float(x) for x in args.weights.split(',')] if args.weights else None
    f_list = [int(r) for r in args.f_res.split(',')] if args.f_res else None
    directions = None
    attributes = None
    perceptual_kind = 'pyramid-ssim'
    if args.pack:
        with open(os.path.join(args.pack, 'manifest.json')) as f:
            man = json.load(f)
        psi = man['truncation']['psi'] if psi is None else psi
        tl = man['truncation']['layers'] if tl is None else tl
        f_list = f_list or [man['fBlock']['resolution']]
        perceptual_kind = man['loss']['perceptual']
        weights = weights or [float(x) for x in man['loss'].get('defaultWeights', [])] or None
        directions = man.get('directions')
        attributes = man.get('classifier', {}).get('attributes')
        if 'classifier' in man['graphs'] and not os.path.exists(args.classifier):
            args.classifier = os.path.join(args.pack, man['graphs']['classifier']['file'])
    psi = 0.7 if psi is None else psi
    tl = 8 if tl is None else tl
    f_list = f_list or [16]
    weights = weights or [1.0, 10.0, 10.0]
    bundle = load_pack_model(args.checkpoint, psi, tl)
    perc = make_loss_parts(bundle, perceptual_kind)
    enc = EncoderRunner(args.encoder)
    report = dict(checkpoint=args.checkpoint, generator_sha256=bundle.sha256, encoder=args.encoder, psi=psi,
                  trunc_layers=tl, weights=weights, lr=args.lr, steps=args.steps, n=args.n, offset=args.offset,
                  alpha=args.alpha, blocks={})
    clf = None
    if not args.no_edits or not args.no_fid:
        if os.path.exists(args.classifier):
            doc = None
            if directions is None and os.path.exists(args.directions):
                doc, directions = load_directions(args.directions)
            if attributes is None:
                attributes = load_attributes(args, doc)
            attributes = [a if isinstance(a, dict) else {'id': a, 'kind': 'binary'} for a in attributes]
            clf = Classifier(args.classifier, attributes)
        else:
            log(f'  (no classifier at {args.classifier}: edits and FID skipped)')
    target = load_faces(args.data, 'heldout', n=args.n, start=args.offset)
    from model.load.checkpoint import load_torch_file
    codes = load_torch_file(args.codes) if args.codes and os.path.exists(args.codes) else {}
    ref_sd = None
    for r in f_list:
        log(f'F block {r}x{r} (firstWs {bundle.G.first_ws(r)}), {args.n} faces, {args.steps} steps')
        t0 = time.time()
        key = f'{bundle.sha256}:{args.n}:{args.offset}:{args.steps}:{args.lr}:{weights}:{r}'
        if key in codes:
            f, z, row = codes[key]['f'], codes[key]['z'], dict(codes[key]['row'])
            log(f'  F{r}: inverted codes loaded from {args.codes}')
        else:
            f0, z0 = enc(target, r)
            with torch.no_grad():
                start = psnr(bundle.G.synthesis_from_f(f0, bundle.zplus_to_wplus_batch(z0), r), target)
            f, z, img, trace = invert(bundle, perc, target, f0, z0, r, weights, args.steps, args.lr, log=log)
            p = psnr(img, target)
            row = dict(first_ws=bundle.G.first_ws(r), f_shape=list(f0.shape[1:]), psnr_encoder=round(float(start.mean()), 3),
                       psnr=round(float(p.mean()), 3), psnr_min=round(float(p.min()), 3),
                       psnr_median=round(float(p.median()), 3), frac_ge_30=round(float((p >= 30).float().mean()), 3),
                       seconds=round(time.time() - t0, 1), trace=trace)
            if args.codes:
                codes[key] = dict(f=f, z=z, row=dict(row))
                torch.save(codes, args.codes)
        log(f'  F{r}: PSNR encoder {row["psnr_encoder"]:.2f} -> {row["psnr"]:.2f} dB after {args.steps} steps '
            f'(min {row["psnr_min"]:.2f}, >=30 dB: {row["frac_ge_30"] * 100:.0f}%), {row["seconds"]:.0f} s')
        if clf is not None and not args.no_edits and directions:
            if ref_sd is None:  # population scale of every score: std over the held-out faces
                ref = clf(load_faces(args.data, 'heldout', n=args.fid_n))
                ref_sd = (ref.std(0), clf.probs(ref).std(0))
            rows = edit_success(bundle, clf, f, z, r, directions, args.alpha, log=log, ref_sd=ref_sd)
            row['edits'] = rows
            row['edit_success_rate'] = round(sum(x['success'] for x in rows) / max(1, len(rows)), 3)
            row['edit_success_rate_logit'] = round(sum(x['logit_success'] for x in rows) / max(1, len(rows)), 3)
            row['edit_mean_intended'] = round(float(np.mean([x['frac_intended'] for x in rows])) if rows else 0, 3)
            log(f'  F{r}: {sum(x["success"] for x in rows)}/{len(rows)} directions pass on probabilities '
                f'({sum(x["logit_success"] for x in rows)} on logits), mean intended '
                f'{row["edit_mean_intended"] * 100:.1f}%')
        report['blocks'][str(r)] = row
        _write(args.out, report)
    if clf is not None and not args.no_fid:
        report['fid'] = domain_fid(bundle, clf, args.data, args.fid_n, log=log)
    report['seconds'] = round(time.time() - t_start, 1)
    _write(args.out, report)
    with open(os.path.splitext(args.out)[0] + '.md', 'w') as f:
        f.write(markdown(report))
    log(f'wrote {args.out} and .md')
    return report


def markdown(report):
    """The README / docs table of a fidelity report."""
    L = [f"Generator `{report['checkpoint']}` (sha256 {report.get('generator_sha256', '')[:12]}), encoder "
         f"`{report['encoder']}`; {report['n']} held-out faces (indices {report['offset']}..{report['offset'] + report['n'] - 1}), "
         f"{report['steps']} Adam steps, lr {report['lr']}, loss weights {report['weights']} "
         f"(MSE, perceptual, F), truncation psi {report['psi']}; edits at +{report['alpha']} sigma.", '',
         '| F block | firstWs | PSNR encoder start (dB) | PSNR after steps (dB) | min | faces >= 30 dB | directions passing (on probabilities) | mean intended-move rate | s |',
         '|---|---|---|---|---|---|---|---|---|']
    for r, b in report['blocks'].items():
        edits = b.get('edits')
        passing = f"{sum(e['success'] for e in edits)}/{len(edits)}" if edits else 'n/a'  # the verdict (DECISIONS.md)
        inten = f"{b['edit_mean_intended'] * 100:.0f}%" if edits else 'n/a'
        L.append(f"| {r}x{r} | {b['first_ws']} | {b['psnr_encoder']:.2f} | {b['psnr']:.2f} | {b['psnr_min']:.2f} | "
                 f"{b['frac_ge_30'] * 100:.0f}% | {passing} | {inten} | {b['seconds']:.0f} |")
    for r, b in report['blocks'].items():
        if b.get('edits'):
            L += ['', f'Edits with F at {r}x{r} (sigma units: each score std over the held-out faces):', '',
                  '| direction | intended move (prob.) | own mean change (sd) | worst other (prob.) | its ratio | pass (the verdict) | worst other on logits | pass on logits | strict worst (incl. linked, logits) |',
                  '|---|---|---|---|---|---|---|---|---|']
            for e in b['edits']:
                L.append(f"| {e['id']} | {e['frac_intended'] * 100:.0f}% | {e['own_mean_delta_sigma']:+.2f} | "
                         f"{e['worst_other']} | {e['worst_other_ratio']:.2f} | {'yes' if e['success'] else 'no'} | "
                         f"{e['logit_worst_other']} {e['logit_worst_other_ratio']:.2f} | "
                         f"{'yes' if e['logit_success'] else 'no'} | "
                         f"{e['strict_worst_other']} {e['strict_worst_other_ratio']:.2f} |")
    if report.get('fid'):
        f = report['fid']
        L += ['', f"Domain FID on the classifier's penultimate features ({f['features']}-d, n = {f['n']}): generated "
                  f"samples vs held-out faces {f['fid_generated_vs_heldout']:.3f}; training faces vs held-out faces "
                  f"(floor) {f['fid_train_vs_heldout']:.3f}."]
    return '\n'.join(L) + '\n'


def _write(path, report):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        json.dump(report, f, indent=1)
    os.replace(path + '.tmp', path)


if __name__ == '__main__':
    import sys
    sys.exit(main())
