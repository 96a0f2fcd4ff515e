"""Direction files into packs (model/directions/): every import format, W->Z conversion, and each bad-file case
(a message naming the problem, the pack left byte for byte as it was)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO
from model.directions.files import DirectionError
from model.directions.pack import add_to_pack
from model.export.cli import REQUIRED, export_pack
from model.export.manifest import validate
from model.nets.stylegan2 import Generator

Z = W = 32
MARKER = os.path.join(os.environ.get('TMPDIR', '/tmp'), 'fzplus-direction-code-ran')
DEAD = 4   # W coordinates 0..3 of this generator are constant: W directions along them cannot be followed from Z


@pytest.fixture(scope='module')
def pack(tmp_path_factory):
    """A 32 px pack (required graphs only, no GANSpace) whose mapping leaves W coordinates 0..3 constant."""
    torch.manual_seed(0)
    G = Generator(32, W, 2, channels={4: 32, 8: 32, 16: 16, 32: 16})
    with torch.no_grad():
        for p in G.parameters():
            p.add_(0.1 * torch.randn_like(p))
        last = G.style[-1]
        last.weight[:DEAD] = 0
    d = tmp_path_factory.mktemp('dirpack')
    torch.save({'g_ema': G.state_dict(), 'latent_avg': G.mean_latent(256)[0]}, d / 'g.pt')
    export_pack(str(d / 'g.pt'), str(d / 'pack'), f_res=8, keys=REQUIRED, log=lambda *a: None)
    return d / 'pack'


@pytest.fixture
def fresh(pack, tmp_path):
    """A copy of the pack per test (manifest only changes; graphs are shared by symlink)."""
    out = tmp_path / 'p'
    out.mkdir()
    for f in os.listdir(pack):
        (out / f).symlink_to(pack / f) if f != 'manifest.json' else (out / f).write_bytes((pack / f).read_bytes())
    return out


def unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v)


def manifest(p):
    return json.loads((p / 'manifest.json').read_text())


def rng_vec(n, seed):
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


# ---- formats ------------------------------------------------------------------------------------------------------
def test_interfacegan_npy_z(fresh, tmp_path):
    v = rng_vec(Z, 1)
    np.save(tmp_path / 'boundary_Smiling.npy', v[None])
    (e,) = add_to_pack(str(fresh), [str(tmp_path / 'boundary_Smiling.npy')], log=lambda *a: None)
    m = manifest(fresh)
    validate(m)
    assert m['directions'][-1] == e and e['id'] == 'smiling' and e['label'] == 'Smiling'
    assert e['space'] == 'z' and e['kind'] == 'interfacegan' and e['range'] == [-3.0, 3.0]
    assert np.allclose(e['vector'], unit(v), atol=1e-6) and 'wVector' not in e


def test_interfacegan_npy_w_is_converted(fresh, tmp_path):
    """A `_w` boundary is a W direction: vector is its fitted Z conversion, measured (docs/DIRECTIONS.md)."""
    v = np.zeros(W, np.float32)
    v[DEAD:] = rng_vec(W - DEAD, 2)
    np.save(tmp_path / 'stylegan_ffhq_age_w_boundary.npy', v[None])
    (e,) = add_to_pack(str(fresh), [str(tmp_path / 'stylegan_ffhq_age_w_boundary.npy')], log=lambda *a: None)
    assert e['space'] == 'w' and np.allclose(e['wVector'], unit(v), atol=1e-6) and len(e['vector']) == Z
    c = e['conversion']
    assert c["method"] in ("regression", "inverse") and c["samples"] == 100_000
    assert c['r2'] > 0.5 and c['cosine'] > 0.8 and abs(e['zScale'] * c['gain'] - 1) < 1e-3 and e['wSigma'] > 0
    assert abs(np.linalg.norm(e['vector']) - 1) < 1e-6


def test_ganspace_npz(fresh, tmp_path):
    k = 3
    comp = np.stack([unit(rng_vec(W, 10 + j)) for j in range(k)])[:, None].astype(np.float32)
    comp[:, 0, :DEAD] = 0
    comp = comp / np.linalg.norm(comp, axis=-1, keepdims=True)
    std = np.array([2.0, 1.5, 1.0], np.float32)
    np.savez(tmp_path / 'stylegan2-ffhq_style_ipca_c3_n1000_w.npz', lat_comp=comp, lat_stdev=std, var_ratio=[.3, .2, .1],
             lat_mean=np.zeros(W))
    es = add_to_pack(str(fresh), [str(tmp_path / 'stylegan2-ffhq_style_ipca_c3_n1000_w.npz')], log=lambda *a: None)
    assert [e['id'] for e in es] == [f'stylegan2-ffhq-style-ipca-c3-n1000-w-pc{j}' for j in (1, 2, 3)]
    assert all(e['kind'] == 'ganspace' and e['space'] == 'w' for e in es)
    assert [e['wSigma'] for e in es] == pytest.approx([2.0, 1.5, 1.0]) and es[0]['explainedVariance'] == pytest.approx(.3)
    # a Z-space GANSpace dump (no _w): plain Z directions, lat_stdev is not a W spread
    np.savez(tmp_path / 'biggan_pca.npz', lat_comp=comp[:, 0] + 0.1, lat_stdev=std)
    ez = add_to_pack(str(fresh), [str(tmp_path / 'biggan_pca.npz')], log=lambda *a: None)
    assert all(e['space'] == 'z' and 'wSigma' not in e for e in ez)


def test_e4e_pt_tensor_dict_and_pca(fresh, tmp_path):
    v = torch.zeros(1, W)
    v[0, DEAD:] = torch.randn(W - DEAD)
    torch.save(v, tmp_path / 'age.pt')
    comp = torch.zeros(2, 1, W)
    comp[:, 0, DEAD:] = torch.randn(2, W - DEAD)
    comp = comp / comp.norm(dim=-1, keepdim=True)
    torch.save({'comp': comp, 'std': torch.tensor([3.0, 2.0]), 'mean': torch.zeros(1, W)}, tmp_path / 'ffhq_pca.pt')
    torch.save({'smile': v[0] * 2, 'pose': v.flip(-1)}, tmp_path / 'several.pt')
    es = add_to_pack(str(fresh), [str(tmp_path / f) for f in ('age.pt', 'ffhq_pca.pt', 'several.pt')], log=lambda *a: None)
    assert [e['id'] for e in es] == ['age', 'ffhq-pca-pc1', 'ffhq-pca-pc2', 'smile', 'pose']
    assert all(e['space'] == 'w' for e in es) and [e['wSigma'] for e in es[1:3]] == pytest.approx([3.0, 2.0])
    assert np.allclose(es[0]['wVector'], es[3]['wVector'], atol=1e-6)  # a direction's length does not matter


def test_json_entries_and_round_trip(fresh, tmp_path):
    entries = [{'id': 'mine', 'label': 'Mine', 'kind': 'custom', 'vector': rng_vec(Z, 5).tolist(), 'range': [-2, 4],
                'layers': [0, 1]},
               {'id': 'wdir', 'label': 'A W one', 'kind': 'custom', 'space': 'w', 'vector': [0.0] * Z,
                'wVector': ([0.0] * DEAD) + rng_vec(W - DEAD, 6).tolist(), 'range': [-3, 3]}]
    (tmp_path / 'd.json').write_text(json.dumps({'directions': entries}))
    es = add_to_pack(str(fresh), [str(tmp_path / 'd.json')], log=lambda *a: None)
    assert es[0]['range'] == [-2.0, 4.0] and es[0]['layers'] == [0, 1] and es[0]['offerInF'] is False  # layers < firstWs
    assert es[1]['space'] == 'w' and es[1]['conversion']['cosine'] > 0.8
    # the pack's own entries are a valid import file (a plain list this time)
    (tmp_path / 'again.json').write_text(json.dumps([dict(e, id=e['id'] + '2') for e in manifest(fresh)['directions']]))
    es2 = add_to_pack(str(fresh), [str(tmp_path / 'again.json')], log=lambda *a: None)
    assert len(es2) == 2 and np.allclose(es2[1]['wVector'], es[1]['wVector'])


def test_cli_add_and_replace(fresh, tmp_path):
    np.save(tmp_path / 'smile.npy', rng_vec(Z, 7))
    run = lambda *a: subprocess.run([sys.executable, '-m', 'model.directions', 'add', str(fresh), *a], cwd=REPO,
                                    capture_output=True, text=True, timeout=600)
    r = run(str(tmp_path / 'smile.npy'))
    assert r.returncode == 0, r.stderr
    before = (fresh / 'manifest.json').read_bytes()
    r = run(str(tmp_path / 'smile.npy'))
    assert r.returncode == 2 and "already has directions ['smile'] (pass --replace" in r.stderr
    assert (fresh / 'manifest.json').read_bytes() == before
    np.save(tmp_path / 'smile.npy', rng_vec(Z, 8))
    r = run(str(tmp_path / 'smile.npy'), '--replace')
    assert r.returncode == 0 and [d['id'] for d in manifest(fresh)['directions']].count('smile') == 1
    assert np.allclose(manifest(fresh)['directions'][-1]['vector'], unit(rng_vec(Z, 8)), atol=1e-6)


# ---- bad files: a message naming the problem, the pack unchanged -------------------------------------------------
class Evil:
    def __reduce__(self):
        return (os.system, (f'touch {MARKER}',))


def bad_file(kind, d):
    if kind == 'wrong-length':
        np.save(d / 'short.npy', rng_vec(Z - 5, 0)[None])
        return d / 'short.npy'
    if kind == 'w-length-as-z':
        np.save(d / 'b.npy', rng_vec(2 * Z, 0))
        return d / 'b.npy'
    if kind in ('nan', 'inf'):
        v = rng_vec(Z, 0)
        v[3] = np.nan if kind == 'nan' else np.inf
        np.save(d / f'{kind}.npy', v)
        return d / f'{kind}.npy'
    if kind == 'zeros':
        np.save(d / 'z.npy', np.zeros(Z, np.float32))
        return d / 'z.npy'
    if kind == 'matrix':
        np.save(d / 'm.npy', np.ones((3, Z), np.float32))
        return d / 'm.npy'
    if kind == 'pickled-npy':
        np.save(d / 'p.npy', np.array([{'a': 1}], dtype=object), allow_pickle=True)
        return d / 'p.npy'
    if kind == 'unknown-format':
        (d / 'dirs.txt').write_text('0.1 0.2')
        return d / 'dirs.txt'
    if kind == 'missing':
        return d / 'nope.npy'
    if kind == 'npz-no-lat-comp':
        np.savez(d / 'g.npz', comps=np.ones((2, Z)))
        return d / 'g.npz'
    if kind == 'npz-nan-stdev':
        np.savez(d / 'g_w.npz', lat_comp=np.ones((2, 1, W)), lat_stdev=[1.0, np.nan])
        return d / 'g_w.npz'
    if kind == 'pt-foreign-class':
        torch.save({'direction': torch.ones(W), 'x': Evil()}, d / 'evil.pt')
        return d / 'evil.pt'
    if kind == 'pt-unknown-layout':
        torch.save([1, 2, 3], d / 'l.pt')
        return d / 'l.pt'
    if kind == 'json-bad-entry':
        (d / 'j.json').write_text(json.dumps([{'id': 'x', 'label': 'X', 'kind': 'interfacegan', 'vector': [1] * Z,
                                               'range': 'wide'}]))
        return d / 'j.json'
    if kind == 'json-not-json':
        (d / 'j.json').write_text('{"directions": [')
        return d / 'j.json'
    if kind == 'json-bad-layers':
        (d / 'j.json').write_text(json.dumps([{'id': 'x', 'label': 'X', 'kind': 'custom', 'vector': [1] * Z,
                                               'range': [-3, 3], 'layers': [99]}]))
        return d / 'j.json'
    if kind == 'w-unreachable-from-z':
        v = np.zeros(W, np.float32)
        v[:DEAD] = 1  # only the constant W coordinates
        np.save(d / 'dead_w.npy', v)
        return d / 'dead_w.npy'
    if kind == 'ffhq-set-wrong-shape':
        return 'interfacegan-ffhq'
    raise KeyError(kind)


BAD = {
    'wrong-length': r'has 27 values; this pack \(pack\) has zDim 32',
    'w-length-as-z': r'has 64 values; this pack \(pack\) has zDim 32',
    'nan': r'contains NaN values',
    'inf': r'contains Inf values',
    'zeros': r'is all zeros',
    'matrix': r'has shape \(3, 32\); a direction is one vector',
    'pickled-npy': r'pickled arrays are refused',
    'unknown-format': r"unknown direction file format '.txt' \(known: .npy, .npz, .pt, .pth, .json\)",
    'missing': r'file not found',
    'npz-no-lat-comp': r"no lat_comp array \(keys \['comps'\]\)",
    'npz-nan-stdev': r'standard deviation of component 1 is nan',
    'pt-foreign-class': r'foreign class/function posix.system: refusing to load',
    'pt-unknown-layout': r'unknown .pt layout \(list\)',
    'json-bad-entry': r"direction #0: range: 'wide' is not of type 'array'",
    'json-not-json': r'not a JSON file',
    'json-bad-layers': r'layers \[99\] outside \[0, 8\)',
    'w-unreachable-from-z': r'a W direction the Z\+ spaces cannot follow \(only R\^2 = 0.000',
    'ffhq-set-wrong-shape': r'fitted for NVIDIA.s StyleGAN2 FFHQ config-f \(1024 px, zDim 512, 18 ws\); this generator '
                            r'is 32 px, zDim 32, 8 ws',
}


@pytest.mark.parametrize('kind', sorted(BAD))
def test_bad_file(kind, fresh, tmp_path):
    if os.path.exists(MARKER):
        os.remove(MARKER)
    f = bad_file(kind, tmp_path)
    good = tmp_path / 'good.npy'
    np.save(good, rng_vec(Z, 3))
    before, files = (fresh / 'manifest.json').read_bytes(), sorted(os.listdir(fresh))
    with pytest.raises(DirectionError, match=BAD[kind]):
        add_to_pack(str(fresh), [str(good), str(f)], log=lambda *a: None)   # the good file is not added either
    assert (fresh / 'manifest.json').read_bytes() == before and sorted(os.listdir(fresh)) == files
    assert not os.path.exists(MARKER), 'pickled code was executed'


def test_bad_file_cli_message(fresh, tmp_path):
    f = bad_file('nan', tmp_path)
    r = subprocess.run([sys.executable, '-m', 'model.directions', 'add', str(fresh), str(f)], cwd=REPO,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and r.stderr.startswith('error: ') and 'contains NaN values' in r.stderr
    assert 'Traceback' not in r.stderr
