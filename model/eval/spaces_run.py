"""The paper's comparison on our model: W, W+, S, Z, Z+, F/W+, F/Z+ side by side.

    python3 -m model.fidelity --spaces W,W+,S,Z,Z+,F/W+,F/Z+ [--anchor] [--edit-mode fixed,follow] --report docs/SPACES.md

Every space inverts the same held-out faces (model/eval/spaces.py), then:

**Reconstruction** (per face, then the mean; model/eval/spaces_metrics.py): PSNR (dB, on the [0, 1] scale), SSIM
(model/nets/perceptual.PyramidSSIM's level-0 SSIM: 7x7 Gaussian window), the pyramid-SSIM distance (PyramidSSIM
itself), LPIPS-VGG when local weights are given, ms per step (one face, one thread: graph + Adam), PSNR after the app's
default step count, and for F spaces the residual |F_inv - F_gen(W+_inv)| / |F_inv|.

**Edits.** Each labelled direction at +-alpha sigma (default 2), in each space's natural way (model/eval/editor.py).

- **Edit test**: the classifier's verdict with the image-quality guard (model/eval/edit_test.py).
- **Distortion**: domain FID of edited images vs held-out faces (classifier penultimate features, the same n as the
  reconstructions), and for localised attributes the mean |change| (0-255) outside the attribute's region: mouth
  for smile / mouth open, hair for hair colour (regions: model/eval/spaces_metrics.region_masks).
- **Prior**: Mahalanobis distance of every w_i the generator sees from the mapping's output distribution (mean and
  covariance of mapping(z) over --prior-n samples; per layer with its truncation), for the reconstructions and the
  edited codes; S codes are mapped back to W+ by least squares through the affine layers (their misfit is reported).
  Z codes are on the sphere by construction (their w are mapping outputs).

The report: model/eval/spaces_report.py.
"""
import json
import os
import time

import torch

from model.eval.edit_test import MODE_KEYS, edit_rows, edit_summary, reliable_heads, uncertainty
from model.eval.editor import Editor
from model.eval.faces import load_faces
from model.eval.spaces import SPACES, Codes, invert_space, start_codes
from model.eval.spaces_metrics import REGION_NAMES, REGIONS, Metrics, Prior, region_masks
from model.eval.spaces_report import app_summary, make_grid, make_mode_grid, markdown, write_json, write_report


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
    write_json(args.out, report)
    md = markdown(report, os.path.dirname(os.path.abspath(args.report or args.out)))
    if args.report:
        write_report(args.report, md, command=getattr(args, 'command_line', None))
        summary = os.path.join(os.path.dirname(os.path.abspath(args.report)), 'spaces-summary.json')
        write_json(summary, app_summary(report))
        log(f'wrote {args.out}, {summary} and the generated section of {args.report}')
    else:
        with open(os.path.splitext(args.out)[0] + '.md', 'w') as fh:
            fh.write(md)
        log(f'wrote {args.out} and .md')
    return report


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
