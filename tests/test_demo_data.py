"""Demo-model data pipeline (scripts/faces/render.mjs), classifier shapes/export and trainer pieces. Fast (< 1 min)."""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
RENDER = REPO / 'scripts' / 'faces' / 'render.mjs'
HAS_NODE = shutil.which('node') is not None and (REPO / 'node_modules' / 'facesjs').is_dir() \
    and (REPO / 'node_modules' / '@resvg' / 'resvg-js').is_dir()


def render(out, *extra):
    subprocess.run(['node', str(RENDER), '--out', str(out), *map(str, extra)], check=True, cwd=REPO,
                   capture_output=True, timeout=120)
    return out


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    if not HAS_NODE:
        pytest.skip('node + facesjs + @resvg/resvg-js not installed')
    return render(tmp_path_factory.mktemp('faces') / 'a', '--n', 12, '--heldout', 5, '--chunk', 5, '--workers', 2)


def test_render_shapes_and_labels(tiny):
    meta = json.load(open(tiny / 'labels.json'))
    cols = meta['columns']
    for split, n in (('train', 12), ('heldout', 5)):
        x = np.load(tiny / f'{split}_images.npy')
        y = np.load(tiny / f'{split}_labels.npy')
        assert x.shape == (n, 64, 64, 3) and x.dtype == np.uint8
        assert y.shape == (n, len(cols)) and y.dtype == np.float32
        assert len(open(tiny / f'{split}_faces.jsonl').read().splitlines()) == n
        assert x.std() > 20, 'images should not be blank'
        for j, c in enumerate(cols):
            if c['kind'] == 'binary':
                assert set(np.unique(y[:, j])) <= {0.0, 1.0}, c['name']
            elif c['kind'] == 'categorical':
                assert (y[:, j] >= 0).all() and (y[:, j] < len(c['classes'])).all(), c['name']
            assert np.isfinite(y[:, j]).all()
    names = {c['name'] for c in cols}
    for required in ('smile', 'glasses', 'facial_hair', 'hair_color', 'skin_color', 'hat', 'accessory',
                     'head_id', 'fatness', 'male'):
        assert required in names
    # held-out faces are different faces
    xt, xh = np.load(tiny / 'train_images.npy'), np.load(tiny / 'heldout_images.npy')
    assert not any((xh[i] == xt[j]).all() for i in range(len(xh)) for j in range(len(xt)))


def test_render_deterministic_across_chunking(tiny, tmp_path):
    b = render(tmp_path / 'b', '--n', 12, '--heldout', 5, '--chunk', 12, '--workers', 1)
    for f in ('train_images.npy', 'train_labels.npy', 'heldout_images.npy', 'heldout_labels.npy'):
        assert np.array_equal(np.load(tiny / f), np.load(b / f)), f
    a0 = json.loads(open(tiny / 'train_faces.jsonl').readline())
    assert a0['i'] == 0 and 'mouth' in a0 and 'glasses' in a0


def test_labels_match_face_configs(tiny):
    cols = [c['name'] for c in json.load(open(tiny / 'labels.json'))['columns']]
    y = np.load(tiny / 'train_labels.npy')
    for i, line in enumerate(open(tiny / 'train_faces.jsonl')):
        f = json.loads(line)
        assert y[i, cols.index('male')] == (f['gender'] == 'male')
        assert y[i, cols.index('glasses')] == (f['glasses']['id'] not in ('none', 'facemask'))
        assert y[i, cols.index('facial_hair')] == (f['facialHair']['id'] != 'none')
        assert y[i, cols.index('fatness')] == pytest.approx(f['fatness'], abs=1e-6)


def test_classifier_shapes_and_onnx(tmp_path):
    from model.nets.classifier import ATTRIBUTES, AttributeNet, export_onnx, to_input, degrade, metrics
    import onnx
    net = AttributeNet(len(ATTRIBUTES)).eval()
    x = to_input(np.random.randint(0, 256, (3, 64, 64, 3), dtype=np.uint8))
    assert x.shape == (3, 3, 64, 64) and x.min() >= -1 and x.max() <= 1
    assert degrade(x).shape == x.shape
    with torch.no_grad():
        assert net(x).shape == (3, len(ATTRIBUTES))
    p = tmp_path / 'c.onnx'
    export_onnx(net, str(p))
    m = onnx.load(str(p))
    onnx.checker.check_model(m)
    assert [i.name for i in m.graph.input] == ['image'] and [o.name for o in m.graph.output] == ['logits']
    assert m.graph.output[0].type.tensor_type.shape.dim[1].dim_value == len(ATTRIBUTES)
    kinds = [a[1] for a in ATTRIBUTES]
    y = np.zeros((4, len(kinds)), np.float32)
    met = metrics(np.zeros((4, len(kinds)), np.float32) - 1, y, kinds)
    assert met[0]['accuracy'] == 1.0


def test_trainer_pieces():
    from model.demo.train_gan import DEMO_CONFIG, D_CHANNELS, make_models, diff_augment
    g, d = make_models(DEMO_CONFIG, D_CHANNELS)
    n = sum(p.numel() for p in g.parameters())
    assert 0.8e6 < n < 2.5e6
    with torch.no_grad():
        img, _ = g([torch.randn(2, DEMO_CONFIG['style_dim'])])
        assert img.shape == (2, 3, 64, 64)
        # the trainer feeds channels_last activations: D must give the same scores for them
        assert torch.allclose(d(img.contiguous(memory_format=torch.channels_last)), d(img), atol=1e-5)
        assert diff_augment(img, 0.125, True).shape == img.shape


def test_directions_helpers():
    from model.demo.directions import normalise, sphere_walk, boundary, ganspace
    torch.manual_seed(0)
    z = normalise(torch.randn(5, 16))
    assert torch.allclose(z.pow(2).mean(-1), torch.ones(5), atol=1e-5)
    d = torch.zeros(16); d[3] = 1
    ze = sphere_walk(z, 2.0 * d)
    assert torch.allclose(ze.pow(2).mean(-1), torch.ones(5), atol=1e-5)
    assert (ze[:, 3] > z[:, 3]).all()
    # a separable attribute along axis 3 is recovered as a unit normal close to e_3
    rng = np.random.default_rng(0)
    zz = rng.standard_normal((600, 16))
    n, st = boundary(zz, zz[:, 3] * 2 + 0.1 * rng.standard_normal(600), 'binary', 0.3)
    assert abs(np.linalg.norm(n) - 1) < 1e-9 and n[3] > 0.9 and st['boundaryValAccuracy'] > 0.9
    n, st = boundary(zz, -zz[:, 5], 'regression', 0.3)
    assert n[5] < -0.9


def test_ganspace_on_tiny_mapping():
    from model.demo.directions import ganspace

    class G:
        def mapping(self, z):
            return z @ torch.diag(torch.tensor([1., 1, 1, 1, 1, 1, 3, 20]))

    z = np.random.default_rng(0).standard_normal((500, 8))
    comps = ganspace(G(), z, 2)
    assert len(comps) == 2
    d0, ev0, r2, _ = comps[0]
    assert abs(abs(d0[7]) - 1) < 1e-2 and ev0 > comps[1][1] and r2 > 0.99


# what each counterfactual rule may change besides its own label: the property's other readings in render.mjs
COUNTERFACTUAL_ALSO = {
    'smile': {'mouth_id'}, 'mouth_open': {'mouth_id'}, 'glasses': {'glasses_id'}, 'facial_hair': {'facialHair_id'},
    'hat': {'accessory', 'accessories_id'}, 'light_hair': {'hair_color', 'hair_lum'}, 'long_hair': {'hairBg_id'},
    'dark_skin': {'race', 'skin_color', 'skin_lum'}, 'fatness': set(), 'bald': {'hair_id'}, 'eyebrow_angle': set(),
}


def test_counterfactual_pairs_change_one_property(tiny, tmp_path):
    """scripts/faces/counterfactual.mjs: every pair is the same face drawn twice, the second with its own attribute
    added and no other label changed, so that the edit test on pairs measures the classifier alone."""
    out = tmp_path / 'cf'
    subprocess.run(['node', str(REPO / 'scripts' / 'faces' / 'counterfactual.mjs'), '--data', str(tiny), '--split', 'train',
                    '--n', '12', '--out', str(out)], check=True, cwd=REPO, capture_output=True, timeout=120)
    meta = json.load(open(out / 'meta.json'))
    cols = meta['columns']
    assert set(meta['counts']) == set(COUNTERFACTUAL_ALSO) and 'male' in meta['noCounterfactual']
    assert sum(meta['counts'].values()) > 30, meta['counts']
    for attr, n in meta['counts'].items():
        base, edit = np.load(out / f'{attr}_base.npy'), np.load(out / f'{attr}_edit.npy')
        labels, index = np.load(out / f'{attr}_labels.npy'), np.load(out / f'{attr}_index.npy')
        assert base.shape == edit.shape == (n, 64, 64, 3) and labels.shape == (n, 2, len(cols)) and index.shape == (n,)
        if not n:
            continue
        j = cols.index(attr)
        assert (labels[:, 1, j] > labels[:, 0, j]).all(), attr
        changed = {cols[k] for k in np.where((labels[:, 0] != labels[:, 1]).any(0))[0]}
        assert changed - {attr} <= COUNTERFACTUAL_ALSO[attr], (attr, changed)
        # the base is the split's own image, the edit differs from it
        np.testing.assert_array_equal(base, np.load(tiny / 'train_images.npy')[index])
        assert (np.abs(edit.astype(int) - base).reshape(n, -1).max(1) > 0).all(), attr
    # the shipped classifier reads the perfect edits of drawn objects the intended way on every face
    from model.eval.counterfactual import evaluate
    clf = REPO / 'model' / 'checkpoints' / 'classifier64'
    attributes = json.load(open(f'{clf}.json'))['manifestAttributes']
    report = evaluate(str(clf) + '.onnx', attributes, str(out), str(tiny), log=lambda m: None)
    for attr in ('glasses', 'hat', 'light_hair'):
        row = report['attributes'][attr]
        assert row['n'] == meta['counts'][attr] and row['frac_intended'] == 1.0 and row['own_mean_delta_sigma'] > 0.5, row
