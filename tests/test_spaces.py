"""Latent-space comparison (model/eval/spaces*.py, `python3 -m model.fidelity --spaces`) and its two new gradient graphs:
grad_s (StyleSpace) and grad_fzplus_anchored (F term anchored to F_gen(W+))."""
import json
import math

import numpy as np
import pytest
import torch

from conftest import REPO
from model.export.graphs import PackModel
from model.nets.perceptual import PyramidSSIM
from model.nets.stylegan2 import Generator
from model.runtime import ort_node

PACK = REPO / 'public' / 'models' / 'demo64'
CK = REPO / 'model' / 'checkpoints' / 'demo64-g_ema.pt'
TINY = {4: 32, 8: 32, 16: 16, 32: 16}


def tiny_pm(psi=0.7):
    torch.manual_seed(0)
    G = Generator(32, 32, 2, channels=TINY).eval()
    with torch.no_grad():
        for p in G.parameters():
            p.add_(0.1 * torch.randn_like(p))
        w_avg = G.mapping(torch.randn(512, 32)).mean(0)
    return PackModel(G, w_avg, f_res=16, psi=psi, trunc_layers=4, perceptual=PyramidSSIM(32))


def test_styles_round_trip_and_grad_s_is_the_w_plus_gradient_pulled_back():
    pm = tiny_pm()
    ex = pm.examples()
    with torch.no_grad():
        torch.testing.assert_close(pm.synthesis_s(pm.styles(ex['wplus'])), pm.synthesis(ex['wplus']))
    assert type(pm.G.conv1.conv.modulation).__name__ == 'EqualLinear'  # affine layers restored
    assert pm.styles(ex['wplus']).shape == (1, sum(pm.style_dims()))
    spec = {s.key: s for s in pm.specs(['grad_s', 'grad_wplus'])}
    loss_s, grad_s = spec['grad_s'].fn(ex['target'], ex['s'], ex['weights'])
    loss_w, grad_w = spec['grad_wplus'].fn(ex['target'], ex['wplus'], ex['weights'])
    torch.testing.assert_close(loss_s, loss_w)
    # chain rule through the affine layers: dL/dw = J_styles(w)^T dL/ds
    w = ex['wplus'].clone().requires_grad_(True)
    pulled, = torch.autograd.grad(pm.styles(w), w, grad_outputs=grad_s)
    torch.testing.assert_close(pulled, grad_w, rtol=1e-4, atol=1e-6)


def test_grad_s_and_anchored_vs_float64_autograd():
    pm = tiny_pm()
    pm64 = pm.to_double()
    for key in ('grad_s', 'grad_fzplus_anchored'):
        spec, spec64 = pm.specs([key])[0], pm64.specs([key])[0]
        out = spec.fn(*spec.inputs.values())
        ref = spec64.fn(*[v.double() for v in spec.inputs.values()])
        for name, a, b in zip(spec.outputs, out, ref):
            err = float((a.double() - b).abs().max() / b.abs().max().clamp_min(1e-12))
            assert err < 1e-4, (key, name, err)


def test_anchored_f_term_reaches_every_z():
    pm = tiny_pm()
    ex = pm.examples()
    plain = pm.specs(['grad_fzplus'])[0]
    anch = pm.specs(['grad_fzplus_anchored'])[0]
    assert list(anch.inputs) == list(plain.inputs) and anch.outputs == plain.outputs  # the engine can swap it in
    ex['f'] = ex['f'] + 0.1 * torch.randn(ex['f'].shape, generator=torch.Generator().manual_seed(1))  # F != F_gen(W+)
    args = [ex[k] for k in anch.inputs]
    loss_p, _, gz_p = plain.fn(*args)
    loss_a, _, gz_a = anch.fn(*args)
    first = pm.first_ws
    assert gz_p[:, :first].abs().max() == 0  # plain F/Z+: the layers below F get no gradient
    assert gz_a[:, :first].abs().max() > 0   # anchored: through F_gen(W+)
    with torch.no_grad():
        anchor = ((ex['f'] - pm.features(pm.zplus_to_wplus(ex['zplus']))) ** 2).mean()
    torch.testing.assert_close(loss_a[:2], loss_p[:2])
    torch.testing.assert_close(loss_a[2], loss_p[2] + anchor)


@pytest.mark.skipif(not ort_node.available(), reason='node + onnxruntime-node not installed (npm ci)')
def test_new_graphs_export_and_check_in_onnxruntime(tmp_path):
    import onnx
    from model.export.cli import ALL, OPT_IN, export_pack
    from model.export.verify import check_pack
    from test_export import ALLOWED_OPS
    pm = tiny_pm()
    ck = tmp_path / 'g.pt'
    torch.save({'g_ema': pm.G.state_dict(), 'latent_avg': pm.w_avg[None]}, ck)
    torch.set_grad_enabled(True)
    man, pm2 = export_pack(str(ck), str(tmp_path / 'pack'), name='tiny', f_res=16, psi=0.7, trunc_layers=4,
                           keys=ALL + OPT_IN, log=lambda *a: None)
    g = man['graphs']
    assert [i['name'] for i in g['grad_s']['inputs']] == ['target', 's', 'weights']
    assert [o['name'] for o in g['grad_s']['outputs']] == ['loss', 'grad_s']
    assert g['grad_s']['inputs'][1]['shape'] == [1, sum(pm.style_dims())]
    assert [i['name'] for i in g['grad_fzplus_anchored']['inputs']] == ['target', 'f', 'zplus', 'f_init', 'weights']
    for key in OPT_IN:
        ops = {n.op_type for n in onnx.load(str(tmp_path / 'pack' / g[key]['file']), load_external_data=False).graph.node}
        assert ops <= ALLOWED_OPS, (key, ops - ALLOWED_OPS)
    errors = check_pack(str(tmp_path / 'pack'), pm2, keys=OPT_IN, log=lambda *a: None)
    assert errors['grad_s']['grad_s_vs_f64'] < 1e-4


def test_s_to_wplus_and_mahalanobis():
    from model.eval.spaces import Codes
    from model.eval.spaces_metrics import Prior
    pm = tiny_pm(psi=1.0)
    cd = Codes(pm)
    ex = pm.examples()
    s = pm.styles(ex['wplus'])
    with torch.no_grad():
        torch.testing.assert_close(pm.styles(cd.s_to_wplus(s)), s, rtol=1e-4, atol=1e-4)
    prior = Prior(pm, n=4000)
    assert 0.5 * math.sqrt(32) < prior.ref_mean < 2 * math.sqrt(32)
    far = pm.w_avg + 100 * torch.randn(1, pm.num_ws, pm.w_dim)
    assert prior.summary(far)['mean'] > prior.ref_p99 > prior.ref_mean


def test_edit_test_counts_only_reliable_heads():
    from model.eval.fidelity import edit_test
    from model.eval.edit_test import reliable_heads
    attrs = ['smile', 'nose_size', 'hat']
    heads = reliable_heads([{'id': 'smile', 'kind': 'binary', 'accuracy': 0.996},
                            {'id': 'nose_size', 'kind': 'regression', 'accuracy': 0.79},
                            {'id': 'hat', 'kind': 'regression', 'r2': 0.95}])
    assert heads == ['smile', 'hat']
    delta = np.array([[1.0, 2.0, 0.1]] * 10)  # nose_size jitters twice as much as smile moves
    assert edit_test(delta, 0, attrs)[2:] == ('nose_size', 2.0)
    frac, own, worst, ratio = edit_test(delta, 0, attrs, heads=heads)
    assert (frac, worst) == (1.0, 'hat') and abs(ratio - 0.1) < 1e-9



def test_edit_verdict_is_on_probabilities():
    """A saturated rare head (facemask) whose logit jitters by 0.5 sigma while its probability stays at 0 fails the
    logit variant and not the verdict; a visible leak into another head fails both; the guard fails the verdict."""
    from model.eval.edit_test import edit_rows
    attrs = ['hat', 'facemask', 'male']
    logit = np.array([[1.0, 0.5, 0.1]] * 10)
    prob = np.array([[1.0, 0.0, 0.1]] * 10)
    r = edit_rows(logit, 0, attrs, attrs, 10.0, 10.0, prob)
    assert r['success'] and not r['logit_success'] and r['logit_worst_other'] == 'facemask'
    assert r['worst_other'] == 'male' and abs(r['worst_other_ratio'] - 0.1) < 1e-9
    leak = np.array([[1.0, 0.0, 0.5]] * 10)
    assert not edit_rows(leak, 0, attrs, attrs, 10.0, 10.0, leak)['success']
    blurred = edit_rows(logit, 0, attrs, attrs, 16.0, 10.0, prob)
    assert not blurred['success'] and blurred['success_no_guard']
    # with the classifier's uncertainty given, it is the guard and the FID guard is only reported
    r = edit_rows(logit, 0, attrs, attrs, 16.0, 10.0, prob, unc_edit=0.12, unc_recon=0.1)
    assert r['success'] and not r['success_fid_guard'] and r['uncertainty_ratio'] == 1.2
    assert not edit_rows(logit, 0, attrs, attrs, 10.0, 10.0, prob, unc_edit=0.2, unc_recon=0.1)['success']


def test_uncertainty_skips_the_edits_own_heads():
    import torch
    from model.eval.edit_test import uncertainty
    attributes = [{'id': 'hat', 'kind': 'binary'}, {'id': 'male', 'kind': 'binary'}, {'id': 'fatness', 'kind': 'regression'}]
    scores = torch.tensor([[0.0, 0.0, 5.0], [0.0, 8.0, -5.0]])
    h = uncertainty(scores, attributes)
    assert abs(float(h[0]) - np.log(2)) < 1e-5 and float(h[1]) < float(h[0])
    assert float(uncertainty(scores, attributes, skip={'hat'})[1]) < 1e-2   # male at logit 8: sure

@pytest.fixture(scope='module')
def sample_data(tmp_path_factory):
    """A data folder built from the pack's 8 sample faces (held-out faces; also as 'training' faces with made-up
    labels for the region masks), so the small run works in a fresh clone without the rendered data set."""
    from PIL import Image
    if not (PACK / 'manifest.json').is_file():
        pytest.skip('demo pack not built')
    d = tmp_path_factory.mktemp('faces')
    imgs = np.stack([np.array(Image.open(PACK / 'samples' / f'heldout-{i:04d}.png').convert('RGB')) for i in range(8)])
    np.save(d / 'heldout_images.npy', imgs)
    np.save(d / 'train_images.npy', np.concatenate([imgs] * 4))
    cols = [{'name': 'smile', 'kind': 'binary'}, {'name': 'light_hair', 'kind': 'binary'},
            {'name': 'race', 'kind': 'categorical', 'classes': ['a', 'b']}]
    lab = np.stack([np.arange(32) % 2, (np.arange(32) // 2) % 2, np.zeros(32)], 1).astype(np.float32)
    np.save(d / 'train_labels.npy', lab)
    (d / 'labels.json').write_text(json.dumps({'columns': cols}))
    return d


def test_small_run_of_every_space(sample_data, tmp_path):
    from model.eval.fidelity import main
    from model.eval.spaces import SPACES
    report = tmp_path / 'SPACES.md'
    codes = tmp_path / 'codes.pt'
    meta = str(REPO / 'model' / 'checkpoints' / 'classifier64.json')
    assert main(['--pack', str(PACK), '--checkpoint', str(CK), '--encoder', str(PACK / 'encoder.onnx'), '--classifier-meta', meta,
                 '--data', str(sample_data), '--spaces', 'W,W+,S,Z,Z+,F/W+,F/Z+', '--anchor', '--edit-mode', 'fixed,follow',
                 '--n', '2', '--offset', '0', '--steps', '12', '--app-steps', '6', '--edit-directions', 'smile,light_hair',
                 '--grid-directions', 'smile,light_hair', '--grid-faces', '2', '--fid-n', '8', '--prior-n', '2000',
                 '--dir-samples', '128', '--codes', str(codes), '--report', str(report)]) == 0
    rep = json.loads((tmp_path / 'spaces.json').read_text())
    assert list(rep['spaces']) == list(SPACES)  # the seven + F/Z+ anchored
    from model.load.checkpoint import load_torch_file
    cache = load_torch_file(str(codes))
    shapes = {'W': (2, 128), 'Z': (2, 128), 'W+': (2, 10, 128), 'Z+': (2, 10, 128), 'S': (2, 1408),
              'F/W+': (2, 10, 128), 'F/Z+': (2, 10, 128), 'F/Z+ anchored': (2, 10, 128)}
    for key, entry in cache.items():
        name = key.split('|')[1]
        assert tuple(entry['code'].shape) == shapes[name], name
        assert (entry['f'] is None) == (not SPACES[name].has_f)
        if SPACES[name].has_f:
            assert tuple(entry['f'].shape) == (2, 128, 16, 16)
        if SPACES[name].sphere:
            torch.testing.assert_close(entry['code'].norm(dim=-1), torch.full(entry['code'].shape[:-1], math.sqrt(128)))
    for name, r in rep['spaces'].items():
        assert r['psnr'] > r['psnr_start'], name  # reconstruction improves over the start
        nums = [r[k] for k in ('psnr', 'ssim', 'pyramid_ssim', 'ms_per_step', 'fid_recon')] + [r['prior_recon']['mean']]
        assert all(np.isfinite(nums)) and r['ms_per_step'] > 0, name
        assert ('residual' in r) == SPACES[name].has_f
        for key in ['edits'] + (['edits_follow'] if SPACES[name].has_f else []):
            assert [e['id'] for e in r[key]] == ['smile', 'light_hair'], (name, key)
            for e in r[key]:
                for sign in ('plus', 'minus'):
                    x = e[sign]
                    assert np.isfinite([x['own_mean_delta_sigma'], x['fid'], x['change_outside_region']]).all()
                    assert x['region'] == ('mouth' if e['id'] == 'smile' else 'hair')
    text = report.read_text()
    assert 'BEGIN GENERATED' in text and 'END GENERATED' in text
    assert all(f'| {name} |' in text for name in SPACES)
    from PIL import Image
    grid = Image.open(tmp_path / 'spaces-grid.png')
    assert grid.size == ((1 + len(SPACES) * 3) * 64 + len(SPACES) * 6, 26 + 2 * 64)
    assert (tmp_path / 'spaces-edit-modes.png').is_file()
    # a second run keeps the hand-written text around the generated section
    report.write_text('# mine\n\nhand-written\n\n' + text[text.index('<!-- BEGIN'):] + '\nreading\n')
    main(['--pack', str(PACK), '--checkpoint', str(CK), '--encoder', str(PACK / 'encoder.onnx'), '--data', str(sample_data),
          '--spaces', 'W', '--n', '2', '--offset', '0', '--steps', '12', '--no-edits', '--codes', str(codes),
          '--report', str(report)])
    text = report.read_text()
    assert text.startswith('# mine\n\nhand-written') and text.rstrip().endswith('reading') and text.count('BEGIN GENERATED') == 1


def test_edit_layers_follow_the_engines_edit_plan():
    """As src/engine/edit/directions.ts editPlan: a direction's own layers hold in every mode; F fixed keeps only those
    >= firstWs (all of them >= firstWs when none is left); no layers: every layer (F follows) or those >= firstWs."""
    from model.eval.editor import Editor
    from model.eval.spaces import SPACES, Codes
    pm = tiny_pm()
    ed = Editor(Codes(pm), dir_samples=4)
    n, first = ed.cd.n, pm.first_ws
    fz = SPACES['F/Z+']
    v = [1.0] + [0.0] * (pm.z_dim - 1)
    layers = lambda sp, direction, mode: [ls for _, ls in ed.parts(sp, {'vector': v, **direction}, mode)]
    assert layers(fz, {'layers': [0, 1]}, 'follow') == [[0, 1]]
    assert layers(fz, {}, 'follow') == [list(range(n))]
    assert layers(fz, {}, 'fixed') == [list(range(first, n))]
    assert layers(fz, {'layers': [0, first]}, 'fixed') == [[first]]
    assert layers(fz, {'layers': [0]}, 'fixed') == [list(range(first, n))]
    assert layers(SPACES['Z+'], {'layers': [0, 1]}, 'fixed') == [[0, 1]]
    # parts: each group walks its own vector; F fixed drops the groups before firstWs and keeps none in their place
    v0, v1 = [1.0] + [0.0] * (pm.z_dim - 1), [0.0, 0.5] + [0.0] * (pm.z_dim - 2)
    parted = {'vector': v0, 'parts': [{'layers': list(range(first)), 'vector': v0},
                                      {'layers': list(range(first, n)), 'vector': v1}]}
    got = ed.parts(fz, parted, 'follow')
    assert [ls for _, ls in got] == [list(range(first)), list(range(first, n))]
    assert got[1][0].tolist() == v1
    assert [ls for _, ls in ed.parts(fz, parted, 'fixed')] == [list(range(first, n))]
    only_coarse = {'vector': v0, 'parts': [{'layers': list(range(first)), 'vector': v0}]}
    assert ed.parts(fz, only_coarse, 'fixed') == []


def test_small_run_of_the_f_block_path_reports_the_verdict_on_probabilities(sample_data, tmp_path):
    """`model.fidelity` without --spaces (the F-block bench of scripts/refresh-demo-model.sh): edit rows carry the spaces
    report's keys, success = the verdict on probabilities, logit_success beside it, and the markdown renders them."""
    from model.eval.fidelity import main
    out = tmp_path / 'fidelity.json'
    meta = str(REPO / 'model' / 'checkpoints' / 'classifier64.json')
    assert main(['--pack', str(PACK), '--checkpoint', str(CK), '--encoder', str(PACK / 'encoder.onnx'), '--classifier-meta', meta,
                 '--data', str(sample_data), '--n', '2', '--offset', '0', '--steps', '4', '--fid-n', '8',
                 '--out', str(out)]) in (0, None)
    rep = json.loads(out.read_text())
    (block,) = rep['blocks'].values()
    assert block['edits'] and {'success', 'worst_other_ratio', 'logit_success', 'logit_worst_other', 'strict_worst_other'} <= set(block['edits'][0])
    assert block['edit_success_rate'] == round(sum(e['success'] for e in block['edits']) / len(block['edits']), 3)
    md = (tmp_path / 'fidelity.md').read_text()
    assert md.count('| pass (the verdict) |') == 1 and all(f"| {e['id']} |" in md for e in block['edits'])


def test_selection_faces_inverted_as_the_app_does_and_cached(sample_data, tmp_path):
    """directions.py --select-invert: the encoder's codes refined by the anchored F/Z+ inversion (closer to the photo,
    every z on the sphere, a smaller residual), cached for this generator and step count only."""
    from model.demo.guided import encode_faces, invert_faces
    from model.eval.faces import load_faces, psnr
    from model.load.checkpoint import load_checkpoint
    zp, fe = encode_faces(str(PACK / 'encoder.onnx'), str(sample_data), 2, 16, start=1)
    cache, logs = tmp_path / 'sel.pt', []
    z, f = invert_faces(str(CK), str(sample_data), zp, fe, 20, start=1, cache=str(cache), log=logs.append)
    L = load_checkpoint(str(CK))
    pm = PackModel(L.G, L.w_avg, 16, 1.0, L.G.n_latent, PyramidSSIM(L.G.size))
    target = load_faces(str(sample_data), split='train', n=2, start=1)
    with torch.no_grad():
        before = psnr(pm.synthesis_from_f(fe, pm.zplus_to_wplus_batch(zp)), target)
        after = psnr(pm.synthesis_from_f(f, pm.zplus_to_wplus_batch(z)), target)
        res = lambda f_, z_: float((f_ - pm.features(pm.zplus_to_wplus_batch(z_))).norm() / f_.norm())
        assert float(after.mean()) > float(before.mean()) + 1.0
        assert res(f, z) < res(fe, zp)
    assert torch.allclose(z.pow(2).mean(-1), torch.ones(2, z.shape[1]), atol=1e-4)
    assert cache.is_file() and not any('from' in m for m in logs)
    logs.clear()
    z2, _ = invert_faces(str(CK), str(sample_data), zp, fe, 20, start=1, cache=str(cache), log=logs.append)
    assert torch.equal(z2, z) and any('from' in m for m in logs)
    logs.clear()
    z3, _ = invert_faces(str(CK), str(sample_data), zp, fe, 5, start=1, cache=str(cache), log=logs.append)
    assert not any('from' in m for m in logs) and not torch.equal(z3, z)
