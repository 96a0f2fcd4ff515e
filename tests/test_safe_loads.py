"""Every weights file the toolchain reads goes through the restricted unpickler (model/load/checkpoint.py): a
booby-trapped pickle is refused with a message naming the class, and its code never runs."""
import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO
from model.load.checkpoint import CheckpointError
from model.nets.stylegan2 import Generator

MARKER = os.path.join(os.environ.get('TMPDIR', '/tmp'), 'fzplus-safe-loads-code-ran')


class Evil:
    def __reduce__(self):
        return (os.system, (f'touch {MARKER}',))


@pytest.fixture
def evil(tmp_path):
    if os.path.exists(MARKER):
        os.remove(MARKER)
    p = tmp_path / 'vgg16.pth'
    torch.save({'features.0.weight': torch.zeros(64, 3, 3, 3), 'payload': Evil()}, p)
    yield p
    assert not os.path.exists(MARKER), 'pickled code was executed'


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    G = Generator(16, 16, 1, channels={4: 8, 8: 8, 16: 8})
    p = tmp_path_factory.mktemp('ck') / 'tiny.pt'
    torch.save({'g_ema': G.state_dict(), 'latent_avg': torch.zeros(16)}, p)
    return p


def test_booby_trapped_vgg_weights_refused_by_export_cli(evil, tiny_checkpoint, tmp_path):
    lpips = tmp_path / 'lpips.pth'
    torch.save({f'lin{k}.model.1.weight': torch.ones(1, c, 1, 1) for k, c in enumerate([64, 128, 256, 512, 512])}, lpips)
    out = tmp_path / 'pack'
    r = subprocess.run([sys.executable, '-m', 'model.export', str(tiny_checkpoint), str(out), '--f-res', '8',
                        '--lpips-weights', str(lpips), '--vgg-weights', str(evil)], cwd=REPO, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 2, r.stderr[-2000:]
    assert 'foreign class/function posix.system: refusing to load' in r.stderr and str(evil) in r.stderr
    assert 'Traceback' not in r.stderr and not out.exists()


def test_booby_trapped_lpips_weights_refused(evil):
    from model.nets.perceptual import load_lpips
    with pytest.raises(CheckpointError, match='posix.system'):
        load_lpips(str(evil), str(evil))


def test_wrong_vgg_keys_are_a_message(tmp_path):
    from model.nets.perceptual import load_lpips
    p = tmp_path / 'w.pth'
    torch.save({'conv.weight': torch.zeros(1)}, p)
    with pytest.raises(CheckpointError, match="missing key 'features.0.weight'"):
        load_lpips(str(p), str(p))


@pytest.mark.parametrize('loader', ['encoder', 'classifier', 'demo-generator'])
def test_project_checkpoints_refuse_pickled_code(loader, evil):
    if loader == 'encoder':
        from model.nets.encoder import load_encoder as load
    elif loader == 'classifier':
        from model.nets.classifier import load_classifier as load
    else:
        from model.demo.directions import load_generator as load
    with pytest.raises(CheckpointError, match='posix.system'):
        load(str(evil))


def test_train_gan_resumes_through_the_restricted_loader():
    src = (REPO / 'model' / 'demo' / 'train_gan.py').read_text()
    assert 'torch.load(' not in src and 'load_torch_file(ckpt_path)' in src


def test_no_torch_load_outside_the_restricted_loader():
    """Every torch.load of the toolchain and its tests goes through model/load/checkpoint.py (restricted_torch_load)."""
    import re
    allowed = {REPO / 'model' / 'load' / 'checkpoint.py', REPO / 'tests' / 'test_safe_loads.py'}  # the loader; this guard
    call = re.compile(r'\btorch\.load\s*\(')
    found = [f'{p.relative_to(REPO)}:{i}' for d in ('model', 'scripts', 'bench', 'tests') for p in sorted((REPO / d).rglob('*.py'))
             if p not in allowed for i, line in enumerate(p.read_text().splitlines(), 1)
             if call.search(line.split('#')[0])]
    assert found == []
