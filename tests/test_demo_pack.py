"""The committed demo pack (public/models/demo64): schema-valid, every hash/size right, extras consistent, <= 30 MB."""
import json
import os
from pathlib import Path

import pytest

PACK = Path(__file__).resolve().parents[1] / 'public' / 'models' / 'demo64'


@pytest.fixture(scope='module')
def manifest():
    if not (PACK / 'manifest.json').is_file():
        pytest.skip('demo pack not built (scripts/build-demo-pack.sh)')
    return json.loads((PACK / 'manifest.json').read_text())


def test_demo_pack_manifest_and_hashes(manifest):
    from model.export.manifest import pack_bytes, validate
    from model.load.checkpoint import sha256_file
    validate(manifest)
    for key, g in manifest['graphs'].items():
        p = PACK / g['file']
        assert p.is_file(), key
        assert g['bytes'] == os.path.getsize(p) and g['sha256'] == sha256_file(p), key
    w = manifest['weights']
    assert w['bytes'] == os.path.getsize(PACK / w['file']) and w['sha256'] == sha256_file(PACK / w['file'])
    assert pack_bytes(PACK) <= 30e6
    assert (PACK / 'LICENSE.md').is_file() and (PACK / 'PROVENANCE.md').is_file()


def test_demo_pack_extras(manifest):
    enc = manifest['graphs']['encoder']
    assert enc['inputs'] == [{'name': 'image', 'shape': [1, 3, manifest['resolution'], manifest['resolution']],
                              'dtype': 'float32'}]
    assert enc['outputs'][0] == {'name': 'f', 'shape': manifest['fBlock']['shape'], 'dtype': 'float32'}
    assert enc['outputs'][1] == {'name': 'zplus', 'shape': [1, manifest['numWs'], manifest['zDim']], 'dtype': 'float32'}
    clf = manifest['graphs']['classifier']
    assert clf['outputs'][0]['name'] == 'logits'
    assert clf['outputs'][0]['shape'][-1] == len(manifest['classifier']['attributes'])
    assert len(manifest['samples']) == 8 and all((PACK / s).is_file() for s in manifest['samples'])
    ids = {a['id'] for a in manifest['classifier']['attributes']}
    labelled = [d for d in manifest['directions'] if d['kind'] == 'interfacegan']
    assert len(labelled) >= 6 and all(d['attribute'] in ids for d in labelled)
    for d in manifest['directions']:
        assert len(d['vector']) == manifest['zDim']
        assert abs(sum(v * v for v in d['vector']) - 1) < 1e-4
    assert any('facesjs' in c for c in manifest['provenance'].get('credits', []))


def test_demo_pack_encoder_runs_on_a_sample(manifest):
    """The shipped encoder graph (interpreted in torch) on a shipped sample gives a Z+ on the sphere."""
    import numpy as np
    import torch
    from PIL import Image
    from model.runtime.onnx_torch import OnnxTorch
    img = np.asarray(Image.open(PACK / manifest['samples'][0]).convert('RGB'), dtype=np.float32) / 127.5 - 1
    x = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    out = OnnxTorch(str(PACK / manifest['graphs']['encoder']['file'])).run({'image': x})
    assert list(out['f'].shape) == manifest['fBlock']['shape']
    norms = out['zplus'].norm(dim=-1)
    assert torch.allclose(norms, torch.full_like(norms, manifest['zDim'] ** 0.5), rtol=1e-4)


def test_pytorch_cpu_bench_of_the_pack(manifest):
    """npm run bench's PyTorch CPU rows: the pack's checkpoint is found by its sha256 and timed eagerly."""
    import torch
    from model.eval.bench import torch_step_and_frame
    from model.export.verify import pack_model
    from model.load.checkpoint import sha256_file
    ck = PACK.parents[2] / 'model' / 'checkpoints' / 'demo64-g_ema.pt'
    assert sha256_file(str(ck)) == manifest['provenance']['checkpointSha256']
    r = torch_step_and_frame(str(PACK), str(ck), threads=1, steps=2, frames=2)
    assert r['stepMs'] > 0 and r['frameMs'] > 0
    # the timed step is the pack's F/Z+ loss with gradients for F and Z+
    pm = pack_model(str(PACK), str(ck))
    spec = pm.specs(['grad_fzplus'])[0]
    with torch.enable_grad():
        loss, gf, gz = spec.fn(*spec.inputs.values())
    assert gf.shape == tuple(manifest['fBlock']['shape']) and gz.shape == spec.inputs['zplus'].shape


def test_demo_pack_verifies_against_its_checkpoint(manifest):
    """python3 -m model.verify on the shipped pack: every graph vs PyTorch / float64, with the Winograd slack that the
    pack's provenance notes call for (the CLI passes no flag)."""
    from model.runtime import ort_node
    from model.export.verify import check_pack, pack_model
    if not ort_node.available():
        pytest.skip('onnxruntime-node not installed (npm ci)')
    assert 'Winograd' in manifest['provenance']['notes']
    ck = PACK.parents[2] / 'model' / 'checkpoints' / 'demo64-g_ema.pt'
    errors = check_pack(str(PACK), pack_model(str(PACK), str(ck)), log=lambda *a: None)
    assert set(errors) >= {'grad_fzplus', 'synthesis_from_f'}
