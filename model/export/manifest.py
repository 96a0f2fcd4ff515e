"""manifest.json of a model pack: built from a PackModel, validated against schema/manifest.schema.json."""
import json
import os
import re
import unicodedata
from datetime import datetime, timezone

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'schema', 'manifest.schema.json')
EXPORTER = 'fzplus-studio model/export/cli.py'


class PackError(ValueError):
    """A pack that cannot be written or changed as asked (a file missing, a part that does not fit)."""


class ManifestError(PackError):
    """A manifest that breaks schema/manifest.schema.json, or a name that is not a pack name."""


def load_schema():
    with open(SCHEMA_PATH) as f:
        return json.load(f)


def validate(manifest):
    """Raise ManifestError naming the first problem (jsonschema, from python3-jsonschema)."""
    try:
        import jsonschema
    except ImportError:
        raise ManifestError('validating manifest.json needs python3-jsonschema (apt-get install python3-jsonschema)') from None
    schema = load_schema()
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(manifest), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        raise ManifestError(f"manifest.json invalid at /{'/'.join(map(str, e.path))}: {e.message}")
    if 'schemaVersion' in manifest and manifest['schemaVersion'] != schema['properties']['schemaVersion']['const']:
        raise ManifestError('schemaVersion mismatch')


def write_manifest(pack_dir, manifest):
    """Validate, then replace pack_dir/manifest.json atomically (a temp file moved into place)."""
    validate(manifest)
    path = os.path.join(pack_dir, 'manifest.json')
    tmp = os.path.join(pack_dir, '.manifest.json.tmp')
    try:
        with open(tmp, 'w') as f:
            json.dump(manifest, f, indent=1)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def rehash(pack_dir, manifest):
    """Refresh sha256/bytes of every graph and of weights.bin; raise PackError if a file is missing."""
    from model.load.checkpoint import sha256_file
    for key, g in manifest['graphs'].items():
        p = os.path.join(pack_dir, g['file'])
        if not os.path.isfile(p):
            raise PackError(f'graph {key!r}: file {g["file"]} missing from the pack')
        g['sha256'], g['bytes'] = sha256_file(p), os.path.getsize(p)
    if 'weights' in manifest:
        p = os.path.join(pack_dir, manifest['weights']['file'])
        if not os.path.isfile(p):
            raise PackError(f'weights file {manifest["weights"]["file"]} missing from the pack')
        manifest['weights']['sha256'], manifest['weights']['bytes'] = sha256_file(p), os.path.getsize(p)
    for s in manifest.get('samples', []):
        if not os.path.isfile(os.path.join(pack_dir, s)):
            raise PackError(f'sample {s} missing from the pack')
    return manifest


def pack_bytes(pack_dir):
    """Bytes of every file under the pack folder."""
    total = 0
    for root, _, files in os.walk(pack_dir):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def pack_name(out_dir, name=None):
    """The pack id: `name` if given (must match the schema's pattern), else derived from OUT_DIR's folder name
    (lower case, accents dropped, other characters -> '-'): 'Packs/My FFHQ' -> 'my-ffhq'."""
    pattern = re.compile(load_schema()['properties']['name']['pattern'])
    rule = "1-64 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
    if name is not None:
        if not pattern.match(name):
            raise ManifestError(f'--name {name!r} is not a pack name ({rule})')
        return name
    base = os.path.basename(os.path.normpath(os.path.abspath(out_dir)))
    ascii_ = unicodedata.normalize('NFKD', base).encode('ascii', 'ignore').decode()
    derived = re.sub(r'[^a-z0-9._-]+', '-', ascii_.lower()).lstrip('._-')[:64].rstrip('-')
    if not pattern.match(derived):
        raise ManifestError(f'cannot make a pack name from the folder name {base!r}: pass --name ({rule})')
    return derived


def build(pm, loaded, name, graphs, weights, perceptual, perceptual_note, title=None, description=None,
          default_weights=(1.0, 1.0, 0.1), alignment='none', weights_source=None, licence='unknown', notes=None,
          directions=(), samples=()):
    G = pm.G
    m = {
        'schemaVersion': 1,
        'name': name,
        'title': title or name,
        'generator': {'architecture': 'stylegan2', 'source': loaded.source, 'nMlp': G.n_mlp,
                      'channels': {str(k): v for k, v in sorted(G.channels.items())}},
        'resolution': G.size,
        'zDim': pm.z_dim,
        'wDim': pm.w_dim,
        'numWs': pm.num_ws,
        'fBlock': {'resolution': pm.f_res, 'shape': list(pm.f_shape), 'firstWs': pm.first_ws},
        'truncation': {'psi': pm.psi, 'layers': pm.trunc_layers, 'wAvg': [float(x) for x in pm.w_avg.tolist()]},
        'imageRange': [-1, 1],
        'alignment': alignment,
        'loss': {'perceptual': perceptual, 'perceptualNote': perceptual_note, 'defaultWeights': list(default_weights)},
        'weights': weights,
        'graphs': graphs,
        'directions': list(directions),
        'provenance': {
            'weightsSource': weights_source or os.path.basename(loaded.path or 'checkpoint'),
            'licence': licence,
            'exporter': EXPORTER,
            'exportedAt': datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
        },
    }
    if description:
        m['description'] = description
    if samples:
        m['samples'] = list(samples)
    if loaded.sha256:
        m['provenance']['checkpointSha256'] = loaded.sha256
    if notes:
        m['provenance']['notes'] = notes
    validate(m)
    return m
