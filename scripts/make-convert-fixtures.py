#!/usr/bin/env python3
"""Checkpoints and expected results for the in-browser conversion tests (src/engine/convert/convert.test.ts), from
the shared 64 px reference, into data/convert-fixtures/ (git-ignored; ~450 MB, ~0.8 GB with the three random
checkpoints; skipped when current; ~30 s in all on a loaded core):

    ref.pt (a copy of the zip checkpoint), ref-legacy.pt (torch's pre-1.6 format), ref-psp.pt (pSp/e4e layout),
    ref.pkl (a synthetic NVIDIA stylegan2-ada-pytorch network pickle), ref-train.pt (train.py layout: 'g', 'd',
    'g_ema', argparse 'args', no latent_avg), tiny.pt (an architecture no template has), ref-wrongshape.pt (one
    tensor of the wrong shape)
    expected.json: sha256 of weights.bin by the Python recipe path (python3 -m model.export.template apply) for each,
    and the mapped w_avg of ref-train.pt.

    /usr/bin/python3 scripts/make-convert-fixtures.py [--template public/templates/ref64] [--out data/convert-fixtures]
    [--random 256 512 1024]  also random channel-multiplier-2 checkpoints of these sizes
                         (scripts/make-random-checkpoint.py, a few seconds each) and their expected sha256 by the
                         committed templates r256-cm2, r512-cm2, ffhq1024-f (scripts/test-all.sh passes all three)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'tests'))
VERSION = 3  # bump when the files made here change
RANDOM = {256: 'r256-cm2', 512: 'r512-cm2', 1024: 'ffhq1024-f'}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--template', default=os.path.join(REPO, 'public', 'templates', 'ref64'))
    ap.add_argument('--out', default=os.path.join(REPO, 'data', 'convert-fixtures'))
    ap.add_argument('--random', type=int, nargs='*', default=[], choices=sorted(RANDOM))
    a = ap.parse_args()
    import torch
    from conftest import shared_dir
    from ada_fixture import write_ada_pickle
    from model.export.recipe import apply
    from model.load.checkpoint import load_rosinality
    from model.nets.stylegan2 import Generator

    shared = shared_dir()
    if shared is None:
        print('make-convert-fixtures: shared reference not found (set FZ_SHARED)', file=sys.stderr)
        return 2
    ref = shared / 'reference' / 'rosinality-64' / 'checkpoint.pt'
    with open(os.path.join(a.template, 'recipe.json')) as f:
        template_hash = json.load(f).get('sourceHash')
    exp_path = os.path.join(a.out, 'expected.json')
    if os.path.exists(exp_path):
        with open(exp_path) as f:
            old = json.load(f)
        if old.get('version') == VERSION and old.get('templateHash') == template_hash and all(f'r{n}.pt' in old['files'] for n in a.random):
            print(f'make-convert-fixtures: {a.out} is current')
            return 0
    os.makedirs(a.out, exist_ok=True)
    loaded = load_rosinality(str(ref))
    sd = loaded.G.state_dict()
    la = torch.from_numpy(__import__('numpy').load(shared / 'reference' / 'rosinality-64' / 'latent_avg.npy'))
    files = {}
    shutil.copyfile(ref, os.path.join(a.out, 'ref.pt'))
    files['ref.pt'] = {}
    torch.save({'g_ema': sd, 'latent_avg': la}, os.path.join(a.out, 'ref-legacy.pt'), _use_new_zipfile_serialization=False)
    files['ref-legacy.pt'] = {}
    torch.save({'state_dict': {**{f'decoder.{k}': v for k, v in sd.items()}, 'encoder.x.weight': torch.zeros(3)},
                'latent_avg': la.reshape(1, -1).repeat(10, 1), 'opts': {'dataset_type': 'ffhq_encode'}},
               os.path.join(a.out, 'ref-psp.pt'))
    files['ref-psp.pt'] = {}
    write_ada_pickle(os.path.join(a.out, 'ref.pkl'), loaded.G, loaded.w_avg)
    files['ref.pkl'] = {}
    ns = argparse.Namespace(size=64, latent=128, n_mlp=4, channel_multiplier=1)
    torch.save({'g': sd, 'd': {'convs.0.0.weight': torch.zeros(4, 3, 1, 1)}, 'g_ema': sd, 'g_optim': {}, 'd_optim': {},
                'args': ns, 'ada_aug_p': 0.0}, os.path.join(a.out, 'ref-train.pt'))
    files['ref-train.pt'] = {}
    bad = dict(sd)
    bad['convs.3.conv.modulation.weight'] = torch.zeros(7, 128)
    torch.save({'g_ema': bad, 'latent_avg': la}, os.path.join(a.out, 'ref-wrongshape.pt'))
    tiny = Generator(32, 64, 2, channels={4: 32, 8: 32, 16: 16, 32: 16})
    torch.save({'g_ema': tiny.state_dict(), 'latent_avg': torch.zeros(64)}, os.path.join(a.out, 'tiny.pt'))
    tmp = tempfile.mkdtemp(dir=a.out, prefix='.apply-')
    try:
        for name in list(files):
            m = apply(a.template, os.path.join(a.out, name), os.path.join(tmp, name.replace('.', '-')), log=lambda *_: None)
            files[name] = {'weightsSha256': m['weights']['sha256'], 'weightsBytes': m['weights']['bytes'],
                           'source': m['generator']['source']}
            if name == 'ref-train.pt':
                files[name]['wAvg'] = m['truncation']['wAvg']
        for n in a.random:
            ck = os.path.join(a.out, f'r{n}.pt')
            subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'make-random-checkpoint.py'), ck, '--size', str(n),
                            '--channel-multiplier', '2', '--seed', '3'], check=True)
            m = apply(os.path.join(REPO, 'public', 'templates', RANDOM[n]), ck, os.path.join(tmp, f'r{n}'), log=lambda *_: None)
            files[f'r{n}.pt'] = {'weightsSha256': m['weights']['sha256'], 'weightsBytes': m['weights']['bytes'],
                                 'source': m['generator']['source'], 'template': RANDOM[n]}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(exp_path, 'w') as f:
        json.dump({'version': VERSION, 'templateHash': template_hash, 'files': files}, f, indent=1)
    print(f'make-convert-fixtures: {a.out}: {", ".join(files)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
