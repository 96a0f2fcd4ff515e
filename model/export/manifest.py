"""manifest.json of a model pack: built from a PackModel, validated against schema/manifest.schema.json."""
import json
import os
from datetime import datetime, timezone

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'schema', 'manifest.schema.json')
EXPORTER = 'fzplus-studio model/export/cli.py'


class ManifestError(ValueError):
    pass


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
