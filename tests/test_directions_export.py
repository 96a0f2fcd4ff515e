"""Directions at export (model/directions/): GANSpace on the shared 64 px reference, checked in onnxruntime as the
engine renders an edit; the InterFaceGAN++ FFHQ set on a 1024 px config-f-shaped generator (attachment path only,
no 1024 px graphs); --directions files through the CLI."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO, shared_dir
from model.directions import ffhq
from model.directions.files import DirectionError
from model.directions.pack import export_directions
from model.directions.walk import walk_layers
from model.export.cli import REQUIRED, export_pack
from model.export.manifest import build, validate
from model.runtime import ort_node

needs_ort = pytest.mark.skipif(not ort_node.available(), reason='node + onnxruntime-node not installed (npm ci)')


@pytest.fixture(scope='module')
def ref_ganspace_pack(tmp_path_factory, ref_dir):
    out = tmp_path_factory.mktemp('gs') / 'reference-64'
    logs = []
    manifest, pm = export_pack(str(ref_dir / 'checkpoint.pt'), str(out), keys=REQUIRED, ganspace=8, log=logs.append)
    return out, manifest, pm, logs


def test_ganspace_directions_in_the_manifest(ref_ganspace_pack):
    out, manifest, pm, logs = ref_ganspace_pack
    on_disk = json.loads((out / 'manifest.json').read_text())
    validate(on_disk)
    gs = [d for d in on_disk['directions'] if d['kind'] == 'ganspace']
    assert len(gs) == 8 and [d['id'] for d in gs] == [f'pc{k}' for k in range(1, 9)]
    first = on_disk['fBlock']['firstWs']
    ev = [d['explainedVariance'] for d in gs]
    assert ev == sorted(ev, reverse=True) and sum(ev) < 1
    for k, d in enumerate(gs, 1):
        a, b = d['layers'][0], d['layers'][-1]
        assert d['layers'] == list(range(a, b + 1))
        assert d['label'] == (f'PC{k} (layers {a}\u2013{b})' if b > a else f'PC{k} (layer {a})')
        assert d['space'] == 'w' and len(d['vector']) == on_disk['zDim'] and len(d['wVector']) == on_disk['wDim']
        assert abs(np.linalg.norm(d['vector']) - 1) < 1e-5 and abs(np.linalg.norm(d['wVector']) - 1) < 1e-5
        assert d['wSigma'] > 0 and d['zScale'] > 0 and d['range'] == [-3.0, 3.0]
        assert d['conversion']['samples'] == 100_000 and d['conversion']['cosine'] > 0.5
        assert d['effect']['whole'] > 0.5
        assert d['offerInF'] == (d['effect']['fromF'] >= 0.5)
        if b < first:
            assert d['effect']['fromF'] == 0 and not d['offerInF']
    print('\n'.join(logs))


def run_graph(out, manifest, key, inputs):
    return ort_node.run([(str(out / manifest['graphs'][key]['file']), inputs)])[0]['outputs']


@needs_ort
def test_each_ganspace_direction_changes_the_pixels(ref_ganspace_pack):
    """+2 sigma on its layers, as the engine edits (sphere walk of alpha * zScale * vector, mapping graph, truncation,
    synthesis graph in onnxruntime-node): every component visibly changes the image."""
    out, _, pm, _ = ref_ganspace_pack
    m = json.loads((out / 'manifest.json').read_text())
    g = torch.Generator().manual_seed(123)
    z = torch.randn(1, m['zDim'], generator=g)
    zplus = (z * torch.rsqrt(z.pow(2).mean(-1, keepdim=True)))[:, None].repeat(1, m['numWs'], 1)
    t = m['truncation']
    psi = np.array([t['psi'] if i < t['layers'] else 1.0 for i in range(m['numWs'])], np.float32)[:, None]
    w_avg = np.array(t['wAvg'], np.float32)

    def render(zp):
        w = run_graph(out, m, 'mapping', {'z': zp[0].numpy().astype(np.float32)})['w']
        wplus = (w_avg + psi * (w - w_avg))[None].astype(np.float32)
        return np.clip(run_graph(out, m, 'synthesis', {'wplus': wplus})['image'], -1, 1)

    base = render(zplus)
    for d in (d for d in m['directions'] if d['kind'] == 'ganspace'):
        v = torch.tensor(2.0 * d['zScale'] * np.array(d['vector']), dtype=torch.float32)
        change = np.abs(render(walk_layers(zplus, v, d['layers'])) - base).mean() * 127.5
        assert change > 0.5, (d['label'], change)


def test_ffhq_set_attaches_to_a_1024_config_f_generator(tmp_path):
    """The attachment path alone (no 1024 px graphs): scripts/make-random-checkpoint.py's FFHQ config-f shape."""
    from model.export.graphs import PackModel
    from model.load.checkpoint import load_checkpoint
    ck = tmp_path / 'ffhq-random.pt'
    r = subprocess.run([sys.executable, 'scripts/make-random-checkpoint.py', str(ck)], cwd=REPO, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    loaded = load_checkpoint(str(ck))
    pm = PackModel(loaded.G, loaded.w_avg, f_res=16)
    assert (pm.G.size, pm.z_dim, pm.num_ws) == (1024, 512, 18)
    entries, _ = export_directions(pm, 0, ['interfacegan-ffhq'], log=lambda *a: None)
    assert len(entries) == 39
    names, B = ffhq.load_set()
    for e, n, b in zip(entries, names, B):
        assert e['attribute'] == n and e['label'] == ffhq.LABELS[n] and e['kind'] == 'interfacegan' and e['space'] == 'z'
        assert e['range'] == [-3.0, 3.0] and 'layers' not in e and e['source'].startswith('InterFaceGAN++')
        assert np.abs(np.array(e['vector']) - b).max() < 1e-6
    # ... and reaches a valid manifest (graph entries stand in: this test exports no graphs)
    spec = {'file': 'x.onnx', 'sha256': '0' * 64, 'bytes': 1, 'precision': 'fp32', 'inputs': [], 'outputs': []}
    m = build(pm, loaded, 'ffhq-random', {k: dict(spec) for k in REQUIRED}, {'file': 'weights.bin', 'sha256': '0' * 64,
              'bytes': 1}, 'pyramid-ssim', '', directions=entries)
    assert [d['id'] for d in m['directions']] == [n.lower() for n in names]
    assert {'smiling', 'young', 'male', 'eyeglasses', 'bald', 'blond_hair', 'wearing_hat'} <= {d['id'] for d in m['directions']}


def test_ffhq_set_refused_for_other_shapes(ref_loaded):
    from model.export.graphs import PackModel
    pm = PackModel(ref_loaded.G, ref_loaded.w_avg, f_res=16)
    with pytest.raises(DirectionError, match=r'fitted for NVIDIA.s StyleGAN2 FFHQ config-f \(1024 px, zDim 512, 18 ws\); '
                                             r'this generator is 64 px, zDim 128, 10 ws'):
        export_directions(pm, 0, ['interfacegan-ffhq'])


def test_ffhq_set_files():
    """The shipped asset holds the 39 boundaries unchanged (unit, float32, (39, 512)); the app's JSON is the same set."""
    names, B = ffhq.load_set()
    assert len(names) == 39 and B.shape == (39, 512) and B.dtype == np.float32
    assert np.abs(np.linalg.norm(B, axis=1) - 1).max() < 1e-5 and sorted(names) == sorted(ffhq.LABELS)
    src = shared_dir()
    if src is not None and (src / 'directions' / 'interfacegan-stylegan2-ffhq-z').is_dir():
        for n, b in zip(names, B):
            a = np.load(src / 'directions' / 'interfacegan-stylegan2-ffhq-z' / f'boundary_{n}.npy')
            assert np.array_equal(a[0], b), n
    doc = json.loads(open(ffhq.PUBLIC_JSON).read())
    assert doc['id'] == 'interfacegan-ffhq' and doc['fits'] == {**ffhq.SHAPE, 'generator': doc['fits']['generator']}
    assert doc['directions'] == ffhq.entries()
    assert 'MIT' in doc['licence'] and os.path.isfile(ffhq.LICENSE)


def test_cli_export_with_ganspace_and_files(tmp_path):
    """--ganspace K --directions FILE at export; a bad file fails before any graph is exported, and no pack is left."""
    from model.nets.stylegan2 import Generator
    torch.manual_seed(0)
    G = Generator(16, 16, 2, channels={4: 8, 8: 8, 16: 8})
    ck = tmp_path / 'tiny.pt'
    torch.save({'g_ema': G.state_dict(), 'latent_avg': G.mean_latent(64)[0]}, ck)
    np.save(tmp_path / 'boundary_Thing.npy', np.random.default_rng(0).standard_normal((1, 16)).astype(np.float32))
    out = tmp_path / 'pack'
    cmd = [sys.executable, '-m', 'model.export', str(ck), str(out), '--f-res', '8', '--graphs', ','.join(REQUIRED),
           '--ganspace', '4', '--ganspace-samples', '20000', '--directions', str(tmp_path / 'boundary_Thing.npy')]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((out / 'manifest.json').read_text())
    assert [d['id'] for d in m['directions']] == ['pc1', 'pc2', 'pc3', 'pc4', 'thing']
    assert m['directions'][0]['conversion']['samples'] == 20000 and m['directions'][4]['space'] == 'z'
    np.save(tmp_path / 'bad.npy', np.full(16, np.nan, np.float32))
    r = subprocess.run(cmd[:-1] + [str(tmp_path / 'bad.npy')] + ['--ganspace', '0'], cwd=REPO, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 2 and 'bad.npy: the boundary contains NaN values' in r.stderr and 'Traceback' not in r.stderr
    assert json.loads((out / 'manifest.json').read_text()) == m   # the earlier pack is untouched
    assert not [p for p in os.listdir(tmp_path) if '.tmp-' in p]


def test_window_render_is_the_image_region():
    """Generator.synthesis(window=...) (the >= 256 px effect measurement): the central region of the image, exact away
    from the window's border; synthesis_from_f alike; an edit's change is seen alike."""
    from model.nets.stylegan2 import Generator
    torch.manual_seed(0)
    G = Generator(64, 32, 2, channels={4: 32, 8: 32, 16: 32, 32: 16, 64: 16}).eval()
    with torch.no_grad():
        for p in G.parameters():
            p.add_(0.1 * torch.randn_like(p))
        w = torch.randn(2, G.n_latent, 32)
        win = (16, 4, 4, 8)
        full, crop = G.synthesis(w), G.synthesis(w, window=win)
        assert crop.shape == (2, 3, 32, 32)
        inner = lambda t: t[..., 8:24, 8:24]
        scale = float(full.abs().max())
        assert float((inner(crop) - inner(full[..., 16:48, 16:48])).abs().max()) < 0.01 * scale
        f = G.features(w, 16)
        ff, cf = G.synthesis_from_f(f, w, 16), G.synthesis_from_f(f, w, 16, window=win)
        assert float((inner(cf) - inner(ff[..., 16:48, 16:48])).abs().max()) < 0.01 * scale
        w2 = w.clone()
        w2[:, 6:] += 0.5
        d_full = (G.synthesis(w2) - full)[..., 16:48, 16:48].abs().mean()
        d_crop = (G.synthesis(w2, window=win) - crop).abs().mean()
        assert abs(float(d_crop / d_full) - 1) < 0.25
