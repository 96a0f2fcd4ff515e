"""Re-export the generator graphs of an existing pack with the current exporter, keeping everything else.

    python3 -m model.regraph PACK_DIR CHECKPOINT [--winograd 4|2|0] [--max-mb 30]

For exporter changes (graph layout, Winograd convs) that do not change the model: the encoder, classifier,
directions, samples, licence and docs of the pack stay as they are. The settings (F block, truncation, perceptual
loss, default weights, alignment, graph keys) are read from the pack's manifest, and CHECKPOINT must be the one the
pack was exported from (its sha256 is checked against provenance.checkpointSha256). Every graph is checked in
onnxruntime-node against PyTorch / float64 (model/export/verify.py) before the pack is touched.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

from model.export.cli import ALL, export_pack
from model.export.manifest import PackError, pack_bytes, rehash, write_manifest
from model.export.verify import check_pack
from model.load.checkpoint import sha256_file


def regraph(pack_dir, checkpoint, winograd=4, max_mb=None, log=print):
    pack_dir = os.path.abspath(pack_dir)
    with open(os.path.join(pack_dir, 'manifest.json')) as f:
        manifest = json.load(f)
    prov = manifest.get('provenance', {})
    want = prov.get('checkpointSha256')
    if want and sha256_file(checkpoint) != want:
        raise PackError(f'{checkpoint} is not the checkpoint this pack was exported from (sha256 {want[:12]}…)')
    keys = [k for k in ALL if k in manifest['graphs']]
    with tempfile.TemporaryDirectory(prefix='.regraph-', dir=os.path.dirname(pack_dir)) as tmp:
        out = os.path.join(tmp, 'pack')
        fresh, pm = export_pack(checkpoint, out, name=manifest['name'], title=manifest.get('title'),
                                f_res=manifest['fBlock']['resolution'], psi=manifest['truncation']['psi'],
                                trunc_layers=manifest['truncation']['layers'],
                                perceptual=manifest['loss']['perceptual'], keys=keys,
                                licence=prov.get('licence', 'unknown'), weights_source=prov.get('weightsSource'),
                                default_weights=tuple(manifest['loss']['defaultWeights']),
                                alignment=manifest.get('alignment', 'none'), winograd=winograd, log=log)
        check_pack(out, pm, log=log, winograd=bool(winograd))
        for key in keys:
            shutil.copyfile(os.path.join(out, fresh['graphs'][key]['file']), os.path.join(pack_dir, fresh['graphs'][key]['file']))
            manifest['graphs'][key] = fresh['graphs'][key]
        shutil.copyfile(os.path.join(out, fresh['weights']['file']), os.path.join(pack_dir, manifest['weights']['file']))
    for field in ('exporter', 'exportedAt', 'notes'):
        if field in fresh['provenance']:
            prov[field] = fresh['provenance'][field]
    manifest['provenance'] = prov
    rehash(pack_dir, manifest)
    write_manifest(pack_dir, manifest)
    total = pack_bytes(pack_dir)
    log(f'{pack_dir}: {len(keys)} graphs re-exported, pack {total / 1e6:.1f} MB')
    if max_mb and total > max_mb * 1e6:
        raise PackError(f'pack is {total / 1e6:.1f} MB, over --max-mb {max_mb}')
    return manifest


def main(argv=None):
    ap = argparse.ArgumentParser(prog='python3 -m model.regraph', description=__doc__.split('\n')[0])
    ap.add_argument('pack_dir')
    ap.add_argument('checkpoint')
    ap.add_argument('--winograd', type=int, choices=[0, 2, 4], default=4)
    ap.add_argument('--max-mb', type=float)
    a = ap.parse_args(argv)
    import torch
    torch.set_grad_enabled(True)
    try:
        regraph(a.pack_dir, a.checkpoint, a.winograd, a.max_mb)
    except (PackError, AssertionError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
