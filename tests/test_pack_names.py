"""Pack names: derived safely from any OUT_DIR folder name, or a message to pass --name."""
import json
import subprocess
import sys

import pytest
import torch

from conftest import REPO
from model.export.manifest import ManifestError, pack_name
from model.nets.stylegan2 import Generator


@pytest.mark.parametrize('folder,name', [('FFHQ', 'ffhq'), ('My FFHQ pack', 'my-ffhq-pack'), ('Visages été', 'visages-ete'),
                                         ('ok-name_1.2', 'ok-name_1.2'), ('_Hidden', 'hidden'), ('A' * 80, 'a' * 64)])
def test_names_from_folders(tmp_path, folder, name):
    assert pack_name(str(tmp_path / folder)) == name
    assert pack_name(str(tmp_path / folder) + '/') == name


@pytest.mark.parametrize('folder', ['___', '日本'])
def test_folder_without_usable_characters_asks_for_name(tmp_path, folder):
    with pytest.raises(ManifestError, match='pass --name'):
        pack_name(str(tmp_path / folder))


def test_bad_explicit_name():
    with pytest.raises(ManifestError, match="--name 'Bad Name' is not a pack name"):
        pack_name('x', 'Bad Name')


def test_export_cli_into_capitalised_folder(tmp_path):
    torch.manual_seed(0)
    G = Generator(16, 16, 1, channels={4: 8, 8: 8, 16: 8})
    ck = tmp_path / 'tiny.pt'
    torch.save({'g_ema': G.state_dict(), 'latent_avg': torch.zeros(16)}, ck)
    out = tmp_path / 'Packs' / 'My Model'
    r = subprocess.run([sys.executable, '-m', 'model.export', str(ck), str(out), '--f-res', '8', '--ganspace', '0'],
                       cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((out / 'manifest.json').read_text())['name'] == 'my-model'
    r = subprocess.run([sys.executable, '-m', 'model.export', str(ck), str(tmp_path / '日本'), '--f-res', '8'],
                       cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 2 and 'pass --name' in r.stderr and 'Traceback' not in r.stderr
