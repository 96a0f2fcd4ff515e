"""Directions into packs: at export (`python3 -m model.export ... --ganspace K --directions SPEC...`) and into an
existing pack (`python3 -m model.directions add PACK FILE...`).

A SPEC is a direction file (model/directions/files.py) or the name of a shipped set (`interfacegan-ffhq`).
Every file is read and checked before anything is written; the pack's manifest.json is replaced atomically (temp
file + rename) and validated against the schema first, so a bad file leaves the pack exactly as it was.
"""
import json
import os

from model.directions import ffhq
from model.directions.entries import PackShape, merge, resolve
from model.directions.files import DirectionError, read_file
from model.directions.latent import LatentModel, LatentStats

SETS = {ffhq.SET_ID: ffhq}
CONVERSION_SAMPLES = 100_000


def read_specs(specs, shape_info, space=None):
    """-> [Incoming]. shape_info: dict with resolution, zDim, numWs (checked by shipped sets)."""
    out = []
    for spec in specs:
        if spec in SETS:
            SETS[spec].check_shape(shape_info)
            out += SETS[spec].incoming()
        elif not os.path.exists(spec) and not os.path.splitext(spec)[1]:
            raise DirectionError(f'--directions {spec}: neither a file nor a known set (sets: {", ".join(SETS)})')
        else:
            out += read_file(spec, space)
    return out


class LazyStats:
    """W statistics sampled the first time a W direction needs them (and shared with GANSpace)."""

    def __init__(self, model, n=CONVERSION_SAMPLES, log=print, stats=None):
        self.model, self.n, self.log, self.value = model, n, log, stats

    def __call__(self):
        if self.value is None:
            self.value = LatentStats.sample(self.model, n=self.n, log=self.log)
        return self.value


def export_directions(pm, ganspace_k=0, specs=(), space=None, ganspace_samples=None, log=print):
    """Directions for a pack being exported: GANSpace components + the given files/sets. -> (entries, report)."""
    from model.directions.ganspace import DEFAULT_N, ganspace_directions
    model = LatentModel.from_pack_model(pm)
    shape = PackShape(pm.z_dim, pm.w_dim, pm.num_ws, pm.first_ws)
    info = {'resolution': pm.G.size, 'zDim': pm.z_dim, 'numWs': pm.num_ws}
    stats = LazyStats(model, n=ganspace_samples or DEFAULT_N, log=log)
    # file problems first, before minutes of fitting and export
    imported = resolve(read_specs(specs, info, space), shape, model, stats, log)
    entries, report = [], {}
    if ganspace_k:
        log(f'GANSpace: {ganspace_k} components')
        entries, report = ganspace_directions(model, ganspace_k, stats=stats(), log=log)
    return merge(entries, imported), report


def checkpoint_model(checkpoint, manifest):
    try:
        return LatentModel.from_checkpoint(checkpoint, manifest)
    except ValueError as e:  # CheckpointError included
        raise DirectionError(str(e)) from None


def load_manifest(pack_dir):
    from model.export.manifest import ManifestError, validate
    path = os.path.join(pack_dir, 'manifest.json')
    if not os.path.isfile(path):
        raise DirectionError(f'{pack_dir}: no manifest.json (not a model pack)')
    with open(path) as f:
        m = json.load(f)
    try:
        validate(m)
    except ManifestError as e:
        raise DirectionError(f'{pack_dir}: {e}') from None
    return m


def write_manifest(pack_dir, manifest):
    """Validate, then replace manifest.json atomically."""
    from model.export.manifest import ManifestError, write_manifest
    try:
        write_manifest(pack_dir, manifest)
    except ManifestError as e:
        raise DirectionError(f'the new manifest would be invalid: {e}') from None


def add_to_pack(pack_dir, specs, space=None, replace=False, checkpoint=None, log=print):
    """Add direction files / sets to an existing pack. W directions are converted with the pack's own mapping graph
    (or the checkpoint's, when given). Returns the added entries."""
    m = load_manifest(pack_dir)
    incoming = read_specs(specs, m, space)
    if checkpoint:
        model = checkpoint_model(checkpoint, m)
    else:
        model = LatentModel.from_pack(pack_dir, m)
    new = resolve(incoming, PackShape.of_manifest(m), model, LazyStats(model, log=log), log)
    m['directions'] = merge(m['directions'], new, replace)
    write_manifest(pack_dir, m)
    log(f'{pack_dir}: {len(new)} directions added ({len(m["directions"])} in all)')
    return new


def ganspace_into_pack(pack_dir, checkpoint, k=12, n=None, replace=False, log=print):
    """GANSpace for an existing pack (e.g. one exported with --ganspace 0); rendering needs its checkpoint."""
    from model.directions.ganspace import DEFAULT_N, ganspace_directions
    m = load_manifest(pack_dir)
    model = checkpoint_model(checkpoint, m)
    new, report = ganspace_directions(model, k, n=n or DEFAULT_N, log=log)
    m['directions'] = merge(m['directions'], new, replace)
    write_manifest(pack_dir, m)
    return new, report
