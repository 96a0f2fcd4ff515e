"""Export -> model pack: manifest, weights.bin, every graph in onnxruntime-node vs PyTorch, gradients vs float64,
stylegan2-ada-pytorch pickles, perceptual options, and bad checkpoints (clear error, no partial pack)."""
import argparse
import hashlib
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from model.runtime import ort_node
from model.export.cli import export_pack
from model.load.checkpoint import CheckpointError, load_checkpoint, load_torch_file
from model.export.manifest import validate
from model.nets.stylegan2 import Discriminator, Generator
from model.export.verify import check_pack

from ada_fixture import write_ada_pickle
from conftest import REPO

needs_ort = pytest.mark.skipif(not ort_node.available(), reason='node + onnxruntime-node not installed (npm ci)')
TINY = {4: 32, 8: 32, 16: 16, 32: 16}
# ops the graphs may use: all run on onnxruntime-web WASM and WebGPU (JSEP); shape-only ops fold at load time
ALLOWED_OPS = {'Add', 'Sub', 'Mul', 'Div', 'Neg', 'Pow', 'Sqrt', 'Conv', 'ConvTranspose', 'Gemm', 'MatMul',
               'LeakyRelu', 'Relu', 'Where', 'Greater', 'Equal', 'Cast', 'Clip', 'Ceil', 'Pad', 'Reshape', 'Transpose',
               'Unsqueeze', 'Squeeze', 'Expand', 'Concat', 'Slice', 'Gather', 'ReduceMean', 'ReduceSum', 'ReduceMax',
               'Constant', 'ConstantOfShape', 'Shape', 'Identity', 'And', 'LessOrEqual', 'GreaterOrEqual', 'Less'}


def perturbed(module, seed, scale=0.1):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))
    return module.eval()


@pytest.fixture(scope='session')
def tiny_ckpt(tmp_path_factory):
    """A small rosinality train.py-style checkpoint (g, d, g_ema, no latent_avg) with perturbed weights."""
    torch.manual_seed(0)
    G = perturbed(Generator(32, 32, 2, channels=TINY), 1)
    D = perturbed(Discriminator(32, channels=TINY), 2)
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pt'
    import argparse
    args = argparse.Namespace(size=32, lr=0.002, arch='stylegan2')  # train.py saves its args too
    torch.save({'g': G.state_dict(), 'd': D.state_dict(), 'g_ema': G.state_dict(), 'args': args}, path)
    return path


@pytest.fixture(scope='session')
def ref_pack(tmp_path_factory, ref_dir):
    out = tmp_path_factory.mktemp('packs') / 'reference-64'
    manifest, pm = export_pack(str(ref_dir / 'checkpoint.pt'), str(out), title='reference 64', log=lambda *a: None)
    return out, manifest, pm


def leftovers(parent):
    return [p for p in os.listdir(parent) if '.tmp-' in p or '.old-' in p]


# ---- manifest and weights.bin -------------------------------------------------------------------------------------
def test_manifest(ref_pack, ref_dir):
    out, manifest, pm = ref_pack
    on_disk = json.loads((out / 'manifest.json').read_text())
    validate(on_disk)
    assert on_disk['name'] == 'reference-64' and on_disk['generator']['source'] == 'rosinality'
    assert (on_disk['resolution'], on_disk['zDim'], on_disk['wDim'], on_disk['numWs']) == (64, 128, 128, 10)
    assert on_disk['fBlock'] == {'resolution': 16, 'shape': [1, 512, 16, 16], 'firstWs': 4}
    assert on_disk['truncation']['psi'] == 0.7 and on_disk['truncation']['layers'] == 8
    assert np.abs(np.array(on_disk['truncation']['wAvg']) - np.load(ref_dir / 'latent_avg.npy')[0]).max() < 1e-6
    assert on_disk['loss']['perceptual'] == 'pyramid-ssim'
    assert set(on_disk['graphs']) == {'mapping', 'synthesis', 'features', 'synthesis_from_f', 'grad_fzplus',
                                      'grad_fwplus', 'grad_wplus', 'grad_zplus_nof'}
    g = on_disk['graphs']['grad_fzplus']
    assert [i['name'] for i in g['inputs']] == ['target', 'f', 'zplus', 'f_init', 'weights']
    assert [o['name'] for o in g['outputs']] == ['loss', 'grad_f', 'grad_zplus']
    assert g['inputs'][2]['shape'] == [1, 10, 128] and g['outputs'][0]['shape'] == [3]
    assert on_disk['graphs']['mapping']['inputs'][0]['shape'] == [10, 128]
    # every declared shape is static and matches its input twin (gradients have the shape of what they differentiate)
    for key, graph in on_disk['graphs'].items():
        shapes = {t['name']: t['shape'] for t in graph['inputs'] + graph['outputs']}
        assert all(d > 0 for s in shapes.values() for d in s), (key, shapes)
        for name, shape in shapes.items():
            if name.startswith('grad_'):
                assert shape == shapes[name[5:]], (key, name)
    for entry in list(on_disk['graphs'].values()) + [on_disk['weights']]:
        data = (out / entry['file']).read_bytes()
        assert len(data) == entry['bytes'] and hashlib.sha256(data).hexdigest() == entry['sha256']
    with pytest.raises(Exception, match='truncation'):
        bad = dict(on_disk, truncation={'psi': 0.7})
        validate(bad)


def test_weights_shared_once(ref_pack):
    out, manifest, pm = ref_pack
    n_params = sum(p.numel() for p in pm.G.parameters()) * 4
    size = manifest['weights']['bytes']
    # one copy of the weights plus the demodulation tables (sum_k W^2), not 8 graphs' worth
    print(f'weights.bin {size / 1e6:.1f} MB for {n_params / 1e6:.1f} MB of generator parameters')
    assert size < 1.2 * n_params
    graph_bytes = sum(g['bytes'] for g in manifest['graphs'].values())
    assert graph_bytes < 0.05 * size
    for g in manifest['graphs'].values():
        m = onnx.load(str(out / g['file']), load_external_data=False)
        ops = {n.op_type for n in m.graph.node}
        assert ops <= ALLOWED_OPS, (g['file'], ops - ALLOWED_OPS)
        assert m.opset_import[0].version == 17
        for init in m.graph.initializer:
            if init.data_location == onnx.TensorProto.EXTERNAL:
                kv = {e.key: e.value for e in init.external_data}
                assert kv['location'] == 'weights.bin' and int(kv['offset']) + int(kv['length']) <= size


# ---- onnxruntime vs PyTorch vs float64 ----------------------------------------------------------------------------
@needs_ort
def test_reference_pack_in_onnxruntime(ref_pack):
    """Every graph vs PyTorch (rel 1e-4); grad graphs vs float64 autograd (dz+/dw+ rel 1e-4, dF no further from
    float64 than PyTorch float32 is, x2)."""
    out, manifest, pm = ref_pack
    errors = check_pack(str(out), pm, log=print)
    assert set(errors) == set(manifest['graphs'])


@needs_ort
def test_gradient_semantics(ref_pack):
    """Independent of autograd: with weights [0, 0, 1] dL/dF = 2 (F - F_init) / numel and dL/dz+ = 0;
    the loss terms equal MSE / perceptual / F terms computed directly."""
    out, manifest, pm = ref_pack
    ex = pm.examples(3)
    w = np.array([0, 0, 1], np.float32)
    ins = {'target': ex['target'], 'f': ex['f'], 'zplus': ex['zplus'], 'f_init': ex['f_init']}
    res = ort_node.run([(str(out / 'grad_fzplus.onnx'), {**{k: v.numpy() for k, v in ins.items()}, 'weights': w})])
    o = res[0]['outputs']
    f, f0 = ex['f'].numpy(), ex['f_init'].numpy()
    assert np.abs(o['grad_f'] - 2 * (f - f0) / f.size).max() < 1e-9
    assert np.abs(o['grad_zplus']).max() == 0
    with torch.no_grad():
        img = pm.synthesis_from_f(ex['f'], pm.zplus_to_wplus(ex['zplus']))
        direct = [((img - ex['target']) ** 2).mean(), pm.perceptual(img, ex['target']), ((ex['f'] - ex['f_init']) ** 2).mean()]
    assert np.allclose(o['loss'], [float(t) for t in direct], rtol=1e-4, atol=1e-7)
    # earlier W+ codes than fBlock.firstWs have no effect on synthesis_from_f
    ones = np.ones(3, np.float32)
    res = ort_node.run([(str(out / 'grad_fwplus.onnx'), {'target': ex['target'].numpy(), 'f': f, 'wplus': ex['wplus'].numpy(),
                                                         'f_init': f0, 'weights': ones})])
    assert np.abs(res[0]['outputs']['grad_wplus'][:, :manifest['fBlock']['firstWs']]).max() == 0


# ---- stylegan2-ada-pytorch ----------------------------------------------------------------------------------------
def _drop_fake_modules():
    for k in [k for k in sys.modules if k.split('.')[0] in ('torch_utils', 'dnnlib')]:
        del sys.modules[k]


@pytest.mark.parametrize('conv_clamp', [None, 0.5])
def test_ada_pickle_parity(tmp_path, conv_clamp):
    torch.manual_seed(5)
    G = perturbed(Generator(32, 32, 2, channels=TINY, conv_clamp=conv_clamp), 6)
    w_avg = G.mean_latent(512)[0]
    path = tmp_path / 'network-snapshot.pkl'
    write_ada_pickle(path, G, w_avg, conv_clamp=conv_clamp)
    _drop_fake_modules()  # the loader must not need (or create) torch_utils / dnnlib
    L = load_checkpoint(str(path))
    assert 'torch_utils' not in sys.modules and 'dnnlib' not in sys.modules
    assert L.source == 'stylegan2-ada-pytorch' and L.config['channels'] == TINY and L.G.conv_clamp == conv_clamp
    wp = torch.randn(2, G.n_latent, 32)
    with torch.no_grad():
        assert (L.G.synthesis(wp) - G.synthesis(wp)).abs().max() == 0
        assert (L.G.mapping(wp[:, 0]) - G.mapping(wp[:, 0])).abs().max() == 0
    assert torch.equal(L.w_avg, w_avg)
    if conv_clamp:  # the clamp is active in this configuration
        with torch.no_grad():
            G.conv_clamp = None
            for m in G.modules():
                if hasattr(m, 'conv_clamp'):
                    m.conv_clamp = None
            assert (L.G.synthesis(wp) - G.synthesis(wp)).abs().max() > 1e-3


@needs_ort
def test_ada_pickle_export(tmp_path):
    torch.manual_seed(7)
    G = perturbed(Generator(32, 32, 2, channels=TINY, conv_clamp=256), 8)
    path = tmp_path / 'ada.pkl'
    write_ada_pickle(path, G, G.mean_latent(256)[0], conv_clamp=256)
    _drop_fake_modules()
    manifest, pm = export_pack(str(path), str(tmp_path / 'ada-pack'), f_res=8, alignment='ffhq-landmarks',
                               log=lambda *a: None)
    assert manifest['generator']['source'] == 'stylegan2-ada-pytorch'
    assert manifest['alignment'] == 'ffhq-landmarks'
    assert manifest['fBlock'] == {'resolution': 8, 'shape': [1, 32, 8, 8], 'firstWs': 2}
    check_pack(str(tmp_path / 'ada-pack'), pm, keys=['synthesis', 'grad_fzplus'])


# ---- perceptual options -------------------------------------------------------------------------------------------
@needs_ort
def test_discriminator_perceptual(tiny_ckpt, tmp_path):
    manifest, pm = export_pack(str(tiny_ckpt), str(tmp_path / 'dpack'), perceptual='discriminator',
                               keys=['mapping', 'synthesis', 'features', 'synthesis_from_f', 'grad_fzplus'],
                               log=lambda *a: None)
    assert manifest['loss']['perceptual'] == 'discriminator' and len(manifest['graphs']) == 5
    check_pack(str(tmp_path / 'dpack'), pm, keys=['grad_fzplus'])


@needs_ort
def test_lpips_vgg_from_local_weights(tiny_ckpt, tmp_path):
    """LPIPS-VGG with user-supplied weight files (random here: the format, graph and gradients are what is tested)."""
    from model.nets.perceptual import VGG16_CFG, VGG16_CONVS
    torch.manual_seed(3)
    vgg, in_ch, convs = {}, 3, iter(VGG16_CONVS)
    for c in VGG16_CFG:
        if c != 'M':
            i = next(convs)
            vgg[f'features.{i}.weight'] = torch.randn(c, in_ch, 3, 3) * (2 / (9 * in_ch)) ** 0.5
            vgg[f'features.{i}.bias'] = torch.zeros(c)
            in_ch = c
    lin = {f'lin{k}.model.1.weight': torch.rand(1, c, 1, 1) for k, c in enumerate([64, 128, 256, 512, 512])}
    torch.save(vgg, tmp_path / 'vgg16.pth')
    torch.save(lin, tmp_path / 'lpips_vgg.pth')
    manifest, pm = export_pack(str(tiny_ckpt), str(tmp_path / 'lpack'), lpips_weights=str(tmp_path / 'lpips_vgg.pth'),
                               vgg_weights=str(tmp_path / 'vgg16.pth'), perceptual='lpips-vgg',
                               keys=['mapping', 'synthesis', 'features', 'synthesis_from_f', 'grad_fzplus'],
                               log=lambda *a: None)
    assert manifest['loss']['perceptual'] == 'lpips-vgg'
    # VGG's 64/128-ch convs are Winograd-eligible by shape but stay direct (model/export/winograd.py: a ReLU + max-pool
    # net's kinks flip under Winograd's float32 error); Winograd's input transform is a 6x6 stride-4 Conv
    g = onnx.load(str(tmp_path / 'lpack' / 'grad_fzplus.onnx'), load_external_data=False)
    kernels = [list(a.ints) for n in g.graph.node if n.op_type == 'Conv' for a in n.attribute if a.name == 'kernel_shape']
    assert [6, 6] not in kernels
    check_pack(str(tmp_path / 'lpack'), pm, keys=['grad_fzplus'])


# ---- bad checkpoints ----------------------------------------------------------------------------------------------
MARKER = os.path.join(os.environ.get('TMPDIR', '/tmp'), 'fzplus-pickled-code-ran')


class Evil:
    def __reduce__(self):
        return (os.system, (f'touch {MARKER}',))


def _bad(kind, tiny_ckpt, tmp_path):
    ck = load_torch_file(tiny_ckpt)
    ck['args'] = argparse.Namespace(**vars(ck['args']))  # read back as an inert stand-in; saved as train.py saves it
    p = tmp_path / f'{kind}.pt'
    if kind == 'missing-key':
        del ck['g_ema']['convs.1.conv.weight']
        torch.save(ck, p)
    elif kind == 'wrong-shape':
        ck['g_ema']['to_rgbs.0.bias'] = torch.zeros(1, 4, 1, 1)
        torch.save(ck, p)
    elif kind == 'truncated-pt':
        data = tiny_ckpt.read_bytes()
        p.write_bytes(data[:len(data) // 2])
    elif kind == 'foreign-class-pt':
        ck['evil'] = Evil()
        torch.save(ck, p)
    elif kind == 'no-generator':
        torch.save({'d': ck['d']}, p)
    elif kind in ('foreign-class-pkl', 'truncated-pkl'):
        p = tmp_path / f'{kind}.pkl'
        if kind == 'foreign-class-pkl':
            p.write_bytes(pickle.dumps({'G_ema': Evil()}))
        else:
            torch.manual_seed(0)
            write_ada_pickle(p, Generator(16, 16, 1, channels={4: 8, 8: 8, 16: 8}), torch.zeros(16))
            _drop_fake_modules()
            p.write_bytes(p.read_bytes()[:-200])
    elif kind == 'missing-file':
        p = tmp_path / 'nope.pt'
    return p


BAD = {
    'missing-key': r"missing keys \['convs.1.conv.weight'\]",
    'wrong-shape': r"wrong shape for 'to_rgbs.0.bias'",
    'truncated-pt': r'truncated or corrupt',
    'foreign-class-pt': r'foreign class/function posix.system: refusing to load',
    'no-generator': r"no 'g_ema'",
    'foreign-class-pkl': r'foreign class/function posix.system',
    'truncated-pkl': r'truncated or corrupt',
    'missing-file': r'not found',
}


@pytest.mark.parametrize('kind', sorted(BAD))
def test_bad_checkpoint(kind, tiny_ckpt, tmp_path):
    if os.path.exists(MARKER):
        os.remove(MARKER)
    p = _bad(kind, tiny_ckpt, tmp_path)
    out = tmp_path / 'packs' / 'bad'
    with pytest.raises(CheckpointError, match=BAD[kind]):
        export_pack(str(p), str(out), log=lambda *a: None)
    assert not out.exists()
    assert not (tmp_path / 'packs').exists() or leftovers(tmp_path / 'packs') == []
    assert not os.path.exists(MARKER), 'pickled code was executed'


def test_cli_error_and_no_partial_pack(tiny_ckpt, tmp_path, monkeypatch):
    p = _bad('wrong-shape', tiny_ckpt, tmp_path)
    r = subprocess.run([sys.executable, '-m', 'model.export', str(p), str(tmp_path / 'x')], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "error: generator: wrong shape for 'to_rgbs.0.bias'" in r.stderr
    assert not (tmp_path / 'x').exists()
    # a failure in the middle of an export leaves an existing pack untouched and no temp folder
    good = tmp_path / 'good'
    export_pack(str(tiny_ckpt), str(good), keys=['mapping', 'synthesis', 'features', 'synthesis_from_f', 'grad_fzplus'],
                log=lambda *a: None)
    before = sorted(os.listdir(good))
    from model.export import onnx_pack as pack
    real = pack.save_graph

    def failing(model, out_dir, key, *a, **k):
        if key == 'features':
            raise RuntimeError('disk full')
        return real(model, out_dir, key, *a, **k)
    monkeypatch.setattr(pack, 'save_graph', failing)
    with pytest.raises(RuntimeError, match='disk full'):
        export_pack(str(tiny_ckpt), str(good), log=lambda *a: None)
    assert sorted(os.listdir(good)) == before and leftovers(tmp_path) == []


@needs_ort
def test_fp16_copies(tiny_ckpt, tmp_path):
    """--fp16: '<key>@fp16' graphs (fp16 math, fp32 I/O, weights deduplicated in the same weights.bin)."""
    keys = ['mapping', 'synthesis', 'features', 'synthesis_from_f', 'grad_fzplus']
    manifest, pm = export_pack(str(tiny_ckpt), str(tmp_path / 'h'), fp16=True, keys=keys, log=lambda *a: None)
    validate(manifest)
    assert set(manifest['graphs']) == set(keys) | {k + '@fp16' for k in keys}
    g16 = manifest['graphs']['grad_fzplus@fp16']
    assert g16['precision'] == 'fp16' and g16['inputs'] == manifest['graphs']['grad_fzplus']['inputs']
    for key, tol in (('synthesis', 1e-2), ('grad_fzplus', 2e-2)):
        spec = pm.specs([key])[0]
        ins = {k: v.numpy() for k, v in spec.inputs.items()}
        r32, r16 = ort_node.run([(str(tmp_path / 'h' / manifest['graphs'][k]['file']), ins) for k in (key, key + '@fp16')])
        for n in spec.outputs:
            a, b = r32['outputs'][n], r16['outputs'][n]
            assert np.abs(a - b).max() <= tol * np.abs(a).max(), (key, n)


@needs_ort
def test_reference_pack_in_onnxruntime_web_wasm(ref_pack):
    """The app's runtime: onnxruntime-web (WASM, in Node) with weights.bin passed as externalData."""
    from model.export.verify import rel, torch_outputs
    out, manifest, pm = ref_pack
    specs = pm.specs(['synthesis_from_f', 'grad_fzplus'])
    res = ort_node.run([(str(out / manifest['graphs'][s.key]['file']), {k: v.numpy() for k, v in s.inputs.items()})
                        for s in specs], backend='web')
    for s, r in zip(specs, res):
        ref = torch_outputs(s)
        for n in s.outputs:
            assert rel(r['outputs'][n], ref[n]) < (1e-3 if n == 'grad_f' else 1e-4), (s.key, n)


@needs_ort
def test_gradient_vs_finite_differences(ref_pack):
    """Independent of autograd: ONNX dL/dF . v and dL/dz+ . u against float64 central differences of the forward
    loss (float32 gradients summed over 131k elements agree to ~1e-3 relative: that is float32, PyTorch alike)."""
    out, manifest, pm = ref_pack
    ex = pm.examples(11)
    ins = {'target': ex['target'], 'f': ex['f'], 'zplus': ex['zplus'], 'f_init': ex['f_init'],
           'weights': torch.tensor([1.0, 1.0, 0.1])}
    o = ort_node.run([(str(out / 'grad_fzplus.onnx'), {k: v.numpy() for k, v in ins.items()})])[0]['outputs']
    pm64 = pm.to_double()
    d = {k: v.double() for k, v in ins.items()}

    def total(df=0, dz=0):
        with torch.no_grad():
            return float(pm64.loss_fzplus(d['target'], d['f'] + df, d['zplus'] + dz, d['f_init'], d['weights'])[1])
    g, eps = torch.Generator().manual_seed(12), 1e-6  # small: leaky-ReLU kinks bias larger steps
    for _ in range(2):
        v, u = torch.randn(ex['f'].shape, generator=g).double(), torch.randn(ex['zplus'].shape, generator=g).double()
        fd_f = (total(df=eps * v) - total(df=-eps * v)) / (2 * eps)
        fd_z = (total(dz=eps * u) - total(dz=-eps * u)) / (2 * eps)
        on_f = float((torch.from_numpy(o['grad_f']).double() * v).sum())
        on_z = float((torch.from_numpy(o['grad_zplus']).double() * u).sum())
        assert abs(on_f - fd_f) <= 3e-3 * abs(fd_f) and abs(on_z - fd_z) <= 2e-4 * abs(fd_z), (on_f, fd_f, on_z, fd_z)
