"""Graph templates + weights recipes (model/export/template.py): the recipe covers every weight-derived tensor, a pack
applied from the shared reference checkpoint reproduces rosinality's outputs, an NVIDIA pickle of the same weights
gives the same weights.bin byte for byte, a checkpoint without latent_avg gets the mapped mean, bad checkpoints are
refused with nothing left behind."""
import hashlib
import json
import os
import shutil

import numpy as np
import pytest
import torch

from conftest import REPO
from model.export import recipe as R
from model.export import template as T
from model.load.checkpoint import CheckpointError
from model.runtime import ort_node

needs_ort = pytest.mark.skipif(not ort_node.available(), reason='node + onnxruntime-node not installed (npm ci)')


@pytest.fixture(scope='session')
def ref64(tmp_path_factory):
    """public/templates/ref64 when current (scripts/make-templates.sh), else built here (~2 min)."""
    built = os.path.join(REPO, 'public', 'templates', 'ref64')
    if T.main(['stale', built]) == 1:
        return built
    out = str(tmp_path_factory.mktemp('tpl') / 'ref64')
    T.build('ref64', out)
    return out


@pytest.fixture(scope='session')
def ref_applied(ref64, ref_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('applied') / 'ref')
    R.apply(ref64, str(ref_dir / 'checkpoint.pt'), out, name='reference-64-converted')
    return out


def sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_recipe_schema_and_layout(ref64):
    import jsonschema
    with open(os.path.join(REPO, 'schema', 'recipe.schema.json')) as f:
        schema = json.load(f)
    with open(os.path.join(ref64, 'recipe.json')) as f:
        recipe = json.load(f)
    jsonschema.Draft7Validator(schema).validate(recipe)
    ends = 0
    for e in recipe['entries']:
        assert e['offset'] >= ends and e['offset'] % 64 == 0, e
        assert e['bytes'] == 4 * int(np.prod(e['shape'])), e
        ends = e['offset'] + e['bytes']
    assert ends == recipe['weightsBytes']
    srcs = {s for e in recipe['entries'] for s in e.get('src', [])}
    assert 'latent_avg' in srcs and 'style.1.weight' in srcs and 'noises.noise_8' in srcs
    assert {e['op'] for e in recipe['entries']} == {'scale', 'sqsum', 'mul', 'const'}
    # templates are fetched on demand: graphs + recipe + constants stay small
    total = sum(os.path.getsize(os.path.join(ref64, f)) for f in os.listdir(ref64))
    assert total < 2e6, total



@pytest.mark.parametrize('tid', sorted(T.TEMPLATES))
def test_committed_templates(tid):
    """The app ships every template (public/templates/, fetched on demand): each is there, valid, for its
    architecture, and small (graphs, recipe and constants; no weights). Staleness: scripts/make-templates.sh --check."""
    import jsonschema
    d = os.path.join(REPO, 'public', 'templates', tid)
    with open(os.path.join(REPO, 'schema', 'recipe.schema.json')) as f:
        schema = json.load(f)
    with open(os.path.join(d, 'recipe.json')) as f:
        recipe = json.load(f)
    jsonschema.Draft7Validator(schema).validate(recipe)
    assert recipe['template'] == tid and recipe['arch'] == T.template_arch(tid)
    with open(os.path.join(d, 'manifest.json')) as f:
        graphs = json.load(f)['graphs']
    assert sorted(os.listdir(d)) == sorted(['recipe.json', 'manifest.json', 'consts.bin', *(g['file'] for g in graphs.values())])
    assert all(g['precision'] == 'fp32' for g in graphs.values())  # no fp16 recipe: converted packs have no @fp16 copies
    assert sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)) < 2e6

def test_ops_match_torch_within_rounding():
    """sqsum in tap order differs from torch's reduction by float32 rounding at most."""
    w = torch.randn(1, 64, 32, 3, 3)
    e = {'op': 'sqsum', 'src': ['w'], 'scale': float(np.float32(0.0589)), 'view': [64, 32, 9], 'perm': [1, 0],
         'shape': [32, 64]}
    got = R.op_apply(e, {'w': w.numpy()})
    ref = (w[0] * 0.0589).pow(2).sum([2, 3]).t().numpy()
    np.testing.assert_allclose(got, ref, rtol=2e-6)


@needs_ort
def test_applied_reference_reproduces_rosinality(ref_applied, ref_dir):
    """The converted reference pack: mapping, synthesis and F against rosinality's own outputs."""
    z, w = np.load(ref_dir / 'z.npy'), np.load(ref_dir / 'w.npy')
    wplus, images_wplus = np.load(ref_dir / 'wplus.npy'), np.load(ref_dir / 'images_wplus.npy')
    feat16 = np.load(ref_dir / 'feat16.npy')
    with open(os.path.join(ref_applied, 'manifest.json')) as f:
        m = json.load(f)
    np.testing.assert_allclose(np.array(m['truncation']['wAvg']), np.load(ref_dir / 'latent_avg.npy')[0], rtol=0, atol=0)
    n = m['numWs']
    runs = [(os.path.join(ref_applied, 'mapping.onnx'), {'z': np.repeat(z[:1], n, 0)[:n]})]
    runs += [(os.path.join(ref_applied, 'synthesis.onnx'), {'wplus': wplus[i:i + 1]}) for i in range(2)]
    wp0 = np.repeat(w[:1, None], n, 1)
    runs += [(os.path.join(ref_applied, 'features.onnx'), {'wplus': wp0})]
    res = ort_node.run(runs)
    rel = lambda a, b: float(np.abs(a - b).max() / np.abs(b).max())
    assert rel(res[0]['outputs']['w'][0], w[0]) < 1e-5
    for i in range(2):
        assert rel(res[1 + i]['outputs']['image'][0], images_wplus[i]) < 1e-4
    assert rel(res[3]['outputs']['f'][0], feat16[0]) < 1e-4


def test_ada_pickle_gives_the_same_weights(ref64, ref_applied, ref_loaded, tmp_path):
    """A stylegan2-ada-pytorch pickle of the reference weights: byte-identical weights.bin."""
    from ada_fixture import write_ada_pickle
    pkl = tmp_path / 'ref.pkl'
    write_ada_pickle(str(pkl), ref_loaded.G, ref_loaded.w_avg)
    out = tmp_path / 'ada'
    m = R.apply(ref64, str(pkl), str(out))
    assert m['generator']['source'] == 'stylegan2-ada-pytorch'
    assert sha(out / 'weights.bin') == sha(os.path.join(ref_applied, 'weights.bin'))


def test_missing_latent_avg_is_mapped(ref64, ref_loaded, tmp_path):
    """No latent_avg (train.py layout): w_avg = mean of 10^4 mapped samples of the app's RNG, close to torch's mean."""
    ck = tmp_path / 'train.pt'
    torch.save({'g_ema': ref_loaded.G.state_dict(), 'args': None}, ck)
    m = R.apply(ref64, str(ck), str(tmp_path / 'p'))
    w_avg = np.array(m['truncation']['wAvg'], np.float32)
    sd = {k: v.numpy() for k, v in ref_loaded.G.state_dict().items()}
    np.testing.assert_array_equal(w_avg, R.mapped_w_avg(sd, 4, 128))
    with torch.no_grad():
        torch_mean = ref_loaded.G.mapping(torch.randn(20000, 128, generator=torch.Generator().manual_seed(0))).mean(0)
    spread = float(torch_mean.abs().max())
    assert float(np.abs(w_avg - torch_mean.numpy()).max()) < 0.05 * spread


# src/engine/math/rng.ts randn(6, 1) as Node prints it; src/engine/convert/convert.test.ts holds the same list
RANDN_6_1 = [0.9659740328788757, 0.016605805605649948, 1.123104214668274, -0.13435253500938416, -0.04922786355018616,
             0.24868126213550568]


def test_randn_matches_the_app():
    np.testing.assert_array_equal(R.mulberry32_randn(6, 1), np.array(RANDN_6_1, np.float32))


@pytest.mark.parametrize('kind', ['wrong-arch', 'wrong-shape', 'nan'])
def test_bad_checkpoints_leave_nothing(ref64, ref_loaded, tmp_path, kind):
    from model.nets.stylegan2 import Generator
    sd = {k: v.clone() for k, v in ref_loaded.G.state_dict().items()}
    if kind == 'wrong-arch':
        sd = Generator(32, 64, 2, channels={4: 32, 8: 32, 16: 16, 32: 16}).state_dict()
        msg = "is not the template's"
    elif kind == 'wrong-shape':
        sd['convs.3.conv.modulation.weight'] = torch.zeros(7, 128)
        msg = 'wrong shape'
    else:
        sd['convs.4.conv.weight'][0, 0, 0, 0, 0] = float('nan')
        msg = 'NaN'
    ck = tmp_path / 'bad.pt'
    torch.save({'g_ema': sd, 'latent_avg': torch.zeros(1, sd['style.1.weight'].shape[0])}, ck)
    out = tmp_path / 'out'
    with pytest.raises(CheckpointError, match=msg):
        R.apply(ref64, str(ck), str(out))
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.startswith('.apply-tmp')]


LARGE_PACK = os.path.join(REPO, 'data', 'packs', 'ffhq-random-1024')  # scripts/make-large-pack.sh (test-all.sh)
TPL_1024 = os.path.join(REPO, 'public', 'templates', 'ffhq1024-f')


@needs_ort
@pytest.mark.skipif(not os.path.exists(os.path.join(LARGE_PACK, 'manifest.json')) or T.main(['stale', TPL_1024]) == 0,
                    reason='data/packs/ffhq-random-1024 (scripts/make-large-pack.sh) or a current ffhq1024-f template '
                           '(scripts/make-templates.sh) missing')
def test_converted_1024_matches_the_exporter_pack(tmp_path):
    """The 1024 px config-f checkpoint behind data/packs/ffhq-random-1024 (the tracing exporter's pack), made again
    (make-random-checkpoint.py --seed 0) and converted by the committed ffhq1024-f template's recipe (byte-identical
    to the browser's conversion: src/engine/convert/convert.test.ts): mapping and synthesis agree with the
    exporter's pack within 1e-5 of the output's range in onnxruntime-node."""
    import subprocess
    import sys
    import time
    t0 = time.time()
    ck = tmp_path / 'ffhq-random-1024.pt'
    subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'make-random-checkpoint.py'), str(ck), '--size', '1024',
                    '--channel-multiplier', '2', '--seed', '0'], check=True, capture_output=True)
    t_ck = time.time() - t0
    conv = tmp_path / 'converted'
    m = R.apply(TPL_1024, str(ck), str(conv), log=lambda *_: None)
    os.remove(ck)
    t_apply = time.time() - t0 - t_ck
    with open(os.path.join(LARGE_PACK, 'manifest.json')) as f:
        ref = json.load(f)
    # the same checkpoint: its latent_avg is the exporter pack's w_avg, bit for bit
    assert m['truncation']['wAvg'] == ref['truncation']['wAvg'], \
        'data/packs/ffhq-random-1024 comes from another checkpoint: FORCE=1 bash scripts/make-large-pack.sh'
    n, zd = m['numWs'], m['zDim']
    rng = np.random.default_rng(5)
    z = rng.standard_normal((n, zd)).astype(np.float32)
    w_avg = np.array(m['truncation']['wAvg'], np.float32)
    wplus = (w_avg + 0.7 * rng.standard_normal((1, n, w_avg.size))).astype(np.float32)
    runs = []
    for d in (str(conv), LARGE_PACK):
        with open(os.path.join(d, 'manifest.json')) as f:
            graphs = json.load(f)['graphs']
        runs += [(os.path.join(d, graphs['mapping']['file']), {'z': z}),
                 (os.path.join(d, graphs['synthesis']['file']), {'wplus': wplus})]
    res = ort_node.run(runs)
    rel = lambda a, b: float(np.abs(a - b).max() / (b.max() - b.min()))
    err_w = rel(res[0]['outputs']['w'], res[2]['outputs']['w'])
    err_img = rel(res[1]['outputs']['image'], res[3]['outputs']['image'])
    print(f'1024 px converted vs exporter pack: mapping {err_w:.2e}, synthesis {err_img:.2e} (checkpoint {t_ck:.0f} s, '
          f'apply {t_apply:.0f} s, onnxruntime-node {time.time() - t0 - t_ck - t_apply:.0f} s)')
    assert err_w < 1e-5 and err_img < 1e-5
