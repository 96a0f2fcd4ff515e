"""Encoder (shapes, Z+ on the sphere, ONNX export), fidelity helpers, and pack_extras (re-hashing, schema validity)."""
import hashlib
import json
import math
import os

import numpy as np
import pytest
import torch

from model.nets.encoder import Encoder, ExportEncoder, export_encoder_onnx, load_encoder, save_encoder
from model.demo.train_encoder import sample_zplus
from model.eval.faces import psnr
from model.nets.stylegan2 import Generator

SMALL = dict(size=32, style_dim=32, n_mlp=2, channels={4: 32, 8: 32, 16: 16, 32: 8})


def small_generator(seed=0):
    torch.manual_seed(seed)
    G = Generator(SMALL['size'], SMALL['style_dim'], SMALL['n_mlp'], channels=SMALL['channels']).eval()
    with torch.no_grad():
        w_avg = G.mapping(torch.randn(256, G.style_dim)).mean(0)
    return G, w_avg


def small_encoder(G, f_res=(8, 16)):
    torch.manual_seed(1)
    return Encoder(G.size, G.style_dim, G.n_latent, {r: G.channels[r] for r in f_res}, width=8, max_ch=32, fpn_ch=16,
                   z_hidden=64).eval()


def test_encoder_shapes_and_sphere():
    enc = Encoder(64, 128, 10, {8: 128, 16: 128, 32: 64}).eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        fs, z = enc(x)
    assert fs[8].shape == (2, 128, 8, 8) and fs[16].shape == (2, 128, 16, 16) and fs[32].shape == (2, 64, 32, 32)
    assert z.shape == (2, 10, 128)
    # every z on the sphere of radius sqrt(zDim) (pixel-norm)
    torch.testing.assert_close(z.norm(dim=-1), torch.full((2, 10), math.sqrt(128)), rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        f16, z16 = ExportEncoder(enc, 16)(x)
    torch.testing.assert_close(f16, fs[16])
    torch.testing.assert_close(z16, z)
    assert sum(p.numel() for p in enc.parameters()) < 4e6  # a few MB in the pack


def test_sample_zplus_sphere_and_mixing():
    z = sample_zplus(64, 10, 128, mix_prob=1.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(z.norm(dim=-1), torch.full((64, 10), math.sqrt(128)), rtol=1e-4, atol=1e-4)
    assert (z[:, 0] - z[:, -1]).abs().amax(-1).gt(0).all()  # crossover >= 1: first and last layer differ
    z = sample_zplus(8, 10, 128, mix_prob=0.0)
    assert (z - z[:, :1]).abs().max() == 0


def test_batched_truncation_matches_the_graphs():
    """PackModel.zplus_to_wplus_batch (what the measuring tools render with) is the graphs' zplus_to_wplus, face by face."""
    from model.export.graphs import PackModel
    G, w_avg = small_generator()
    pm = PackModel(G, w_avg, f_res=16, psi=0.7, trunc_layers=4)
    z = sample_zplus(3, G.n_latent, G.style_dim)
    with torch.no_grad():
        batch = pm.zplus_to_wplus_batch(z)
        for i in range(3):
            torch.testing.assert_close(batch[i:i + 1], pm.zplus_to_wplus(z[i:i + 1]))


def test_pyramid_ssim_per_face_matches_graph_loss():
    from model.eval.fidelity import pyramid_ssim_per_face
    from model.nets.perceptual import PyramidSSIM
    perc = PyramidSSIM(32)
    x, y = torch.rand(3, 3, 32, 32) * 2 - 1, torch.rand(3, 3, 32, 32) * 2 - 1
    per = pyramid_ssim_per_face(perc, x, y)
    ref = torch.stack([perc(x[i:i + 1], y[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(per, ref)


def test_sphere_walk_engine_convention():
    from model.eval.fidelity import sphere_walk
    z = sample_zplus(4, 6, 32)
    d = torch.randn(32)
    d = d / d.norm()
    ze = sphere_walk(z, d, 2.0, [3, 4, 5])
    assert torch.equal(ze[:, :3], z[:, :3])
    torch.testing.assert_close(ze.norm(dim=-1), torch.full((4, 6), math.sqrt(32)), rtol=1e-4, atol=1e-4)
    assert ((ze[:, 3:] - z[:, 3:]) @ d).gt(0).all()  # moved along +d


def test_psnr_scale():
    x = torch.zeros(1, 3, 8, 8)
    y = torch.full((1, 3, 8, 8), 0.2)  # 0.1 on the [0, 1] scale -> 20 dB
    assert abs(float(psnr(x, y)) - 20.0) < 1e-4


def _export_small_pack(tmp_path):
    from model.export.cli import export_pack
    G, w_avg = small_generator()
    ck = tmp_path / 'g.pt'
    torch.save({'g_ema': G.state_dict(), 'latent_avg': w_avg[None]}, ck)
    out = tmp_path / 'pack'
    torch.set_grad_enabled(True)
    export_pack(str(ck), str(out), name='small', f_res=16, psi=0.7, trunc_layers=4, keys=None, log=lambda *a: None)
    return G, w_avg, out


def _tiny_classifier_onnx(path, res, n_attr, batch=4):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, n_attr)).eval()
    x = torch.zeros(batch, 3, res, res)
    torch.onnx.export(net, (x,), str(path), input_names=['input'], output_names=['out'], opset_version=17,
                      dynamic_axes={'input': {0: 'N'}, 'out': {0: 'N'}})  # as model/nets/classifier.py exports
    return net


def test_pack_extras_rehash_and_schema(tmp_path):
    from model.runtime.onnx_torch import OnnxTorch
    from model.demo.pack_extras import PackError, add_extras
    from model.export.manifest import validate
    from model.load.checkpoint import sha256_file
    G, w_avg, pack = _export_small_pack(tmp_path)
    enc = small_encoder(G)
    save_encoder(tmp_path / 'enc.pt', enc, {'psi': 0.7, 'trunc_layers': 4})
    clf = _tiny_classifier_onnx(tmp_path / 'clf.onnx', G.size, 3)
    rng = np.random.default_rng(0)
    dirs = {'attributes': [{'id': 'smile', 'kind': 'binary', 'accuracy': 0.9}, {'id': 'glasses', 'kind': 'binary'},
                           {'id': 'age', 'kind': 'regression'}],
            'directions': [{'id': 'smile', 'label': 'Smile', 'kind': 'interfacegan', 'vector': list(rng.normal(size=32) * 3),
                            'range': [-3, 3], 'attribute': 'smile', 'classifierAccuracy': 0.9, 'extra': 1},
                           {'id': 'pc0', 'kind': 'ganspace', 'vector': list(rng.normal(size=32)), 'range': [-2, 2],
                            'explainedVariance': 0.1}]}
    with open(tmp_path / 'dirs.json', 'w') as f:
        json.dump(dirs, f)
    data = tmp_path / 'data'
    data.mkdir()
    np.save(data / 'heldout_images.npy', rng.integers(0, 255, (10, 32, 32, 3), dtype=np.uint8))

    m = add_extras(str(pack), encoder=str(tmp_path / 'enc.pt'), classifier=str(tmp_path / 'clf.onnx'),
                   directions=str(tmp_path / 'dirs.json'), samples_data=str(data), n_samples=8, licence='MIT',
                   credits=['facesjs (Apache-2.0)'], classifier_batch=4, log=lambda *a: None)
    on_disk = json.load(open(pack / 'manifest.json'))
    assert on_disk == m
    validate(on_disk)
    for key, g in on_disk['graphs'].items():
        p = pack / g['file']
        assert g['sha256'] == sha256_file(p) and g['bytes'] == os.path.getsize(p), key
    assert on_disk['weights']['sha256'] == sha256_file(pack / 'weights.bin')
    assert on_disk['graphs']['encoder']['outputs'][0]['shape'] == on_disk['fBlock']['shape']
    assert on_disk['graphs']['encoder']['outputs'][1]['shape'] == [1, on_disk['numWs'], on_disk['zDim']]
    assert on_disk['graphs']['classifier']['inputs'] == [{'name': 'image', 'shape': [4, 3, 32, 32], 'dtype': 'float32'}]
    assert on_disk['graphs']['classifier']['outputs'][0]['shape'] == [4, 3]
    assert [o['name'] for o in on_disk['graphs']['classifier']['outputs']] == ['logits']
    assert [a['id'] for a in on_disk['classifier']['attributes']] == ['smile', 'glasses', 'age']
    assert len(on_disk['samples']) == 8 and all((pack / s).is_file() for s in on_disk['samples'])
    d0 = on_disk['directions'][0]
    assert 'extra' not in d0 and abs(np.linalg.norm(d0['vector']) - 1) < 1e-6
    assert on_disk['provenance']['licence'] == 'MIT' and 'facesjs (Apache-2.0)' in on_disk['provenance']['credits']
    assert (pack / 'LICENSE.md').is_file() and (pack / 'PROVENANCE.md').is_file()

    # the exported graphs compute what the torch modules compute
    x = torch.rand(1, 3, G.size, G.size) * 2 - 1
    out = OnnxTorch(str(pack / 'encoder.onnx')).run({'image': x})
    with torch.no_grad():
        fs, z = enc(x, 16)
    torch.testing.assert_close(out['f'], fs[16], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out['zplus'], z, rtol=1e-4, atol=1e-5)
    xb = torch.rand(4, 3, G.size, G.size)
    with torch.no_grad():
        torch.testing.assert_close(OnnxTorch(str(pack / 'classifier.onnx')).run({'image': xb})['logits'], clf(xb),
                                   rtol=1e-4, atol=1e-5)

    # re-running re-hashes: change a graph file, run again without new parts, hashes follow
    with open(pack / 'classifier.onnx', 'ab') as f:
        f.write(b'\0')
    add_extras(str(pack), log=lambda *a: None)
    again = json.load(open(pack / 'manifest.json'))
    assert again['graphs']['classifier']['sha256'] == sha256_file(pack / 'classifier.onnx')

    # the default edit mode and the measured residual land in manifest.editing and pass the schema
    add_extras(str(pack), edit_mode='follow', f_residual=0.3, log=lambda *a: None)
    editing = json.load(open(pack / 'manifest.json'))['editing']
    assert editing == {'fMode': 'follow', 'fResidual': 0.3}
    validate(json.load(open(pack / 'manifest.json')))

    # wrong encoder for this pack: clear error, manifest untouched
    bad = Encoder(G.size, G.style_dim, G.n_latent, {8: G.channels[8]}, width=8, max_ch=32, fpn_ch=16, z_hidden=64)
    save_encoder(tmp_path / 'bad.pt', bad)
    before = (pack / 'manifest.json').read_bytes()
    with pytest.raises(PackError, match='no F head for block 16'):
        add_extras(str(pack), encoder=str(tmp_path / 'bad.pt'), log=lambda *a: None)
    assert (pack / 'manifest.json').read_bytes() == before


def test_encoder_checkpoint_roundtrip(tmp_path):
    G, _ = small_generator()
    enc = small_encoder(G)
    save_encoder(tmp_path / 'e.pt', enc, {'steps': 3})
    enc2, meta = load_encoder(tmp_path / 'e.pt')
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        a, b = enc(x), enc2(x)
    torch.testing.assert_close(a[1], b[1])
    assert meta['steps'] == 3


def test_direction_edit_strength_from_directions_stats():
    """The measured effect of each direction (model/demo/directions.py's check) goes into the manifest."""
    from model.demo.pack_extras import edit_strengths, normalise_direction
    # in context (F fixed): the check's ownShiftSigma; on whole-generator samples (--f-res 0): the edit's targetShiftSigma
    doc = {'stats': {'smile': {'edit': {'check': {'ownShiftSigma': 0.45512, 'pass': False}}},
                     'male': {'edit': {'targetShiftSigma': 1.02771}}, 'pc0': {}}}
    assert edit_strengths(doc) == {'smile': 0.4551, 'male': 1.0277}
    d = normalise_direction({'id': 'smile', 'vector': [1.0, 0.0], 'editStrength': 0.4551}, 2, 4)
    assert d['editStrength'] == pytest.approx(0.4551)
    # parts: scaled so that the squared norms averaged over the layers are 1 ((16 * 2 + 4 * 1) / 3 = 12 before);
    # vector = the longest part's made unit, layers = all of theirs
    p = normalise_direction({'id': 'smile', 'vector': [1.0, 0.0], 'parts': [{'layers': [2, 3], 'vector': [0.0, 4.0]},
                                                                           {'layers': [0], 'vector': [2.0, 0.0]}]}, 2, 4)
    s = 12 ** -0.5
    assert [q['layers'] for q in p['parts']] == [[2, 3], [0]]
    assert np.allclose([q['vector'] for q in p['parts']], [[0.0, 4 * s], [2 * s, 0.0]])
    assert p['vector'] == [0.0, 1.0] and p['layers'] == [0, 2, 3]
    from model.demo.pack_extras import PackError
    for bad in ([{'layers': [0, 1], 'vector': [1.0, 0.0]}, {'layers': [1], 'vector': [0.0, 1.0]}],
                [{'layers': [4], 'vector': [1.0, 0.0]}], [{'layers': [0], 'vector': [1.0]}],
                [{'layers': [0], 'vector': [0.0, 0.0]}]):
        with pytest.raises(PackError):
            normalise_direction({'id': 'x', 'vector': [1.0, 0.0], 'parts': bad}, 2, 4)
    with open(os.path.join(os.path.dirname(__file__), '..', 'public', 'models', 'demo64', 'manifest.json')) as f:
        shipped = {x['id']: x.get('editStrength') for x in json.load(f)['directions']}
    with open(os.path.join(os.path.dirname(__file__), '..', 'model', 'checkpoints', 'directions64.json')) as f:
        fitted = edit_strengths(json.load(f))
    # the shipped pack carries exactly the strengths its directions file measured; GANSpace components have none
    assert {k: v for k, v in shipped.items() if v is not None} == fitted and shipped['pc0'] is None


def test_direction_also_moves_names_the_worst_other_head_over_the_bar(tmp_path):
    """alsoMoves: the counted head that moved most, from the selection faces where measured (else the check), only
    when it moved at least a third as much as the own attribute; labelled from the classifier's meta."""
    from model.demo.pack_extras import also_moves, attribute_labels, normalise_direction
    doc = {'stats': {
        'male': {'edit': {'selection': {'probWorstOther': 'shaved', 'probWorstOtherRatio': 0.95},
                          'check': {'probWorstOther': 'fatness', 'probWorstOtherRatio': 0.9}}},
        'hat': {'edit': {'selection': {'probWorstOther': 'hair_lum', 'probWorstOtherRatio': 0.2}}},
        'smile': {'edit': {'check': {'probWorstOther': 'skin_lum', 'probWorstOtherRatio': 1 / 3}}}, 'pc0': {}}}
    meta = tmp_path / 'meta.json'
    meta.write_text(json.dumps({'attributes': [{'id': 'shaved', 'label': 'Shaved head'}, {'id': 'male'}]}))
    labels = attribute_labels(str(meta))
    assert labels == {'shaved': 'Shaved head'}
    assert also_moves(doc, labels) == {'male': [{'attribute': 'shaved', 'label': 'Shaved head', 'ratio': 0.95}],
                                       'smile': [{'attribute': 'skin_lum', 'label': 'skin lum', 'ratio': 0.333}]}
    d = normalise_direction({'id': 'male', 'vector': [1.0, 0.0], 'alsoMoves': also_moves(doc, labels)['male']}, 2, 4)
    assert d['alsoMoves'][0]['label'] == 'Shaved head'
    from model.directions.entries import entry_errors
    assert not entry_errors({**d, 'kind': 'interfacegan'})
    assert entry_errors({**d, 'alsoMoves': [{'attribute': 'x', 'ratio': -1}]})


def test_encoder_from_a_pack_onnx(tmp_path):
    """A pack's encoder.onnx loads back as a trainable Encoder (for fine-tuning without the training checkpoint):
    same outputs; a graph that is not an encoder is refused."""
    from model.runtime.onnx_torch import OnnxTorch
    enc = Encoder(64, 16, 6, {8: 32, 16: 32, 32: 16}, width=8, max_ch=32, fpn_ch=16, z_hidden=32).eval()
    path = str(tmp_path / 'encoder.onnx')
    export_encoder_onnx(enc, 16, path)
    back, meta = load_encoder(path)
    x = torch.rand(2, 3, 64, 64)[:1] * 2 - 1
    with torch.no_grad():
        f, z = ExportEncoder(back, 16)(x)
        f0, z0 = ExportEncoder(enc, 16)(x)
    o = OnnxTorch(path).run({'image': x})
    assert torch.allclose(f, f0, atol=1e-6) and torch.allclose(z, z0, atol=1e-6)
    assert torch.allclose(f, torch.as_tensor(o['f']), atol=1e-5)
    assert back.config['f_channels'][16] == 32 and meta['from'] == path
    bad = str(tmp_path / 'bad.onnx')
    torch.onnx.export(torch.nn.Conv2d(3, 3, 1), (x,), bad, input_names=['image'], output_names=['zplus'])
    with pytest.raises(ValueError, match='not an F/Z\\+ Studio encoder'):
        load_encoder(bad)


def test_train_encoder_smoke(tmp_path, monkeypatch):
    """Two optimisation steps on a tiny random generator: the training loop runs and writes a loadable checkpoint."""
    import model.demo.train_encoder as te
    G, w_avg = small_generator()
    from model.export.graphs import PackModel
    monkeypatch.setattr(te, 'load_pack_model', lambda ck, psi, tl: PackModel(G, w_avg, 16, psi, G.n_latent if tl is None else tl))
    args = te.parse_args(['--checkpoint', 'x', '--out', str(tmp_path / 'enc.pt'), '--steps', '2', '--batch', '2',
                          '--f-res', '8,16', '--real-weight', '0', '--width', '8', '--minutes', '5'])
    enc, meta = te.train(args)
    enc2, meta2 = load_encoder(str(tmp_path / 'enc.pt'))
    assert meta2['steps'] == 2 and set(enc2.f_channels) == {8, 16}
