"""The edit test run on perfect edits: how a classifier reads counterfactual facesjs pairs.

    node scripts/faces/counterfactual.mjs --n 200                     # -> data/faces-64-counterfactual
    python3 -m model.eval.counterfactual [--classifier model/checkpoints/classifier64.onnx] [--out runs/cf.json]

Each pair is one held-out face drawn as it is and drawn again with exactly one attribute added (the rules are in
the pairs' meta.json). No generator is involved, so a pair is what a perfect slider would produce. The edit test of
model.fidelity (scores in sigma units of held-out faces, >= 90 % of faces move the intended way, every other
reliable head < 1/3 as much, linked and implied heads exempt) is applied to the pairs exactly as to generator
edits. A direction can only pass the test when its perfect edit does: the 'worst other' of a pair is how much the
classifier itself mixes attributes that the drawing kept apart.
"""
import argparse
import json
import os

import numpy as np
import torch


def load_pairs(root, attr):
    def img(name):
        a = np.load(os.path.join(root, f'{attr}_{name}.npy'))
        return torch.from_numpy(a).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return img('base'), img('edit')


def fid_ratio(clf, base, edit, ref_feats, n=16, draws=10, seed=0):
    """The domain-FID guard's ratio on n-face subsets (the fidelity runs' size): median over draws of
    FID(edited) / FID(base), both against the held-out reference."""
    from model.eval.fidelity import fid
    _, fb = clf(base, features=True)
    _, fe = clf(edit, features=True)
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(draws):
        idx = rng.choice(len(fb), min(n, len(fb)), replace=False)
        ratios.append(fid(fe[idx], ref_feats) / fid(fb[idx], ref_feats))
    return float(np.median(ratios))


def evaluate(classifier, attributes, pairs_dir, data_dir, log=print, fid_n=16):
    """{attr: edit-test row} for every attribute with pairs in pairs_dir, with both image-quality guards' ratios
    (model.eval.edit_test: uncertainty and domain FID), and the same guards on damaged images (`damaged`: ghosts of
    another face, blur), which a guard must catch."""
    from torch.nn import functional as F
    from model.eval.fidelity import Classifier, edit_test, linked_with_implications, passes
    from model.eval.edit_test import reliable_heads, uncertainty
    from model.eval.faces import load_faces
    clf = Classifier(classifier, attributes)
    attrs = [a['id'] for a in attributes]
    reliable = reliable_heads(attributes)
    linked = linked_with_implications(data_dir, attrs)
    held = load_faces(data_dir, 'heldout')
    ref, ref_feats = clf(held, features=True)
    sd, sd_p = ref.std(0).clamp_min(1e-6), clf.probs(ref).std(0).clamp_min(1e-6)
    unc_ratio = lambda after, before, skip=(): float(uncertainty(after, attributes, skip).mean()
                                                    / uncertainty(before, attributes, skip).mean())
    meta = json.load(open(os.path.join(pairs_dir, 'meta.json')))
    rows = {}
    for attr in meta['counts']:
        if attr not in attrs or not meta['counts'][attr]:
            continue
        base, edit = load_pairs(pairs_dir, attr)
        sb, se = clf(base), clf(edit)
        delta = ((se - sb) / sd).numpy()
        delta_p = ((clf.probs(se) - clf.probs(sb)) / sd_p).numpy()
        j = attrs.index(attr)
        frac, own, worst, ratio = edit_test(delta, j, attrs, linked, heads=reliable)
        frac_p, _, worst_p, ratio_p = edit_test(delta_p, j, attrs, linked, heads=reliable)
        others = np.abs(delta).mean(0) / max(float(np.abs(delta[:, j]).mean()), 1e-9)
        skip = {attr} | set(linked.get(attr, ()))
        rows[attr] = dict(n=int(base.shape[0]), rule=meta['rules'][attr], frac_intended=round(frac, 3),
                          uncertainty_ratio=round(unc_ratio(se, sb, skip), 3),
                          fid_ratio=round(fid_ratio(clf, base, edit, ref_feats, fid_n), 3),
                          own_mean_delta_sigma=round(own, 3), logit_worst_other=worst,
                          logit_worst_other_ratio=round(ratio, 3), logit_success=passes(frac, ratio),
                          worst_other=worst_p, worst_other_ratio=round(ratio_p, 3), success=passes(frac_p, ratio_p),
                          others={a: round(float(others[k]), 3) for k, a in enumerate(attrs) if k != j})
        log(f'{attr:>14s}: {frac * 100:5.1f}% own {own:+.2f} sd | worst other {worst} {ratio:.2f} '
            f'{"pass" if rows[attr]["logit_success"] else "FAIL"} | prob. {worst_p} {ratio_p:.2f} | uncertainty '
            f'{rows[attr]["uncertainty_ratio"]:.2f}x, FID {rows[attr]["fid_ratio"]:.2f}x')
    damaged = {}
    x, other = held[8:8 + 64], held[200:264]
    for name, img in [] if len(other) < 32 else [('ghost of another face, 30 %', 0.7 * x + 0.3 * other), ('ghost of another face, 50 %', 0.5 * x + 0.5 * other),
                      ('3x3 box blur', F.avg_pool2d(x, 3, 1, 1)), ('5x5 box blur', F.avg_pool2d(x, 5, 1, 2))]:
        damaged[name] = dict(uncertainty_ratio=round(unc_ratio(clf(img), clf(x)), 3),
                             fid_ratio=round(fid_ratio(clf, x, img, ref_feats, fid_n), 3))
        log(f'{name}: uncertainty {damaged[name]["uncertainty_ratio"]:.2f}x, FID {damaged[name]["fid_ratio"]:.2f}x')
    return dict(classifier=classifier, pairs=pairs_dir, reliable_heads=reliable, no_counterfactual=meta.get('noCounterfactual', {}),
                fid_n=fid_n, attributes=rows, damaged=damaged)


def markdown(report):
    lines = ['| attribute | pairs | rule | intended | own (σ) | worst other, logits | pass | worst other, probabilities | '
             'pass | uncertainty × | FID × |', '|---|---|---|---|---|---|---|---|---|---|---|']
    for a, r in report['attributes'].items():
        lines.append(f"| {a} | {r['n']} | {r['rule']} | {r['frac_intended'] * 100:.0f} % | {r['own_mean_delta_sigma']:+.2f} | "
                     f"{r['logit_worst_other']} {r['logit_worst_other_ratio']:.2f} | {'yes' if r['logit_success'] else '**no**'} | "
                     f"{r['worst_other']} {r['worst_other_ratio']:.2f} | {'yes' if r['success'] else '**no**'} | "
                     f"{r['uncertainty_ratio']:.2f} | {r['fid_ratio']:.2f} |")
    lines += ['', '| damaged images | uncertainty × | FID × |', '|---|---|---|']
    lines += [f"| {k} | {v['uncertainty_ratio']:.2f} | {v['fid_ratio']:.2f} |" for k, v in report['damaged'].items()]
    return '\n'.join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--classifier', default='model/checkpoints/classifier64.onnx')
    ap.add_argument('--classifier-meta', default=None, help='JSON with the attribute list (default: the .onnx path with .json)')
    ap.add_argument('--pairs', default='data/faces-64-counterfactual')
    ap.add_argument('--data', default='data/faces-64', help='held-out faces (the sigma scale) and training labels (implications)')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--out', default=None, help='write the report as JSON')
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    meta_path = args.classifier_meta or os.path.splitext(args.classifier)[0] + '.json'
    doc = json.load(open(meta_path))
    attributes = doc.get('manifestAttributes', doc.get('attributes'))
    report = evaluate(args.classifier, attributes, args.pairs, args.data)
    print(markdown(report))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=1)


if __name__ == '__main__':
    main()
