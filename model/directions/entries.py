"""Incoming directions -> manifest direction entries for one pack (schema/manifest.schema.json#/definitions/direction).

Z directions are checked and normalised; W directions get their Z conversion (model/directions/convert.py) from the
pack's W statistics. Every problem raises DirectionError naming the direction and the problem; nothing is written
here (model/directions/pack.py writes atomically).
"""
import json

import numpy as np

from model.directions.convert import ConversionError, w_to_z
from model.directions.files import DirectionError, check_finite
from model.export.manifest import SCHEMA_PATH

DEFAULT_RANGE = [-3.0, 3.0]   # InterFaceGAN's usual span, in sigma units
DIGITS = 7                    # float32 precision in JSON


def direction_schema():
    with open(SCHEMA_PATH) as f:
        schema = json.load(f)
    return {**schema['definitions']['direction'], 'definitions': schema['definitions']}


def entry_errors(entry, _cache={}):
    """Schema problems of one manifest direction entry (empty list if none)."""
    import jsonschema
    if 'v' not in _cache:
        _cache['v'] = jsonschema.Draft7Validator(direction_schema())
    if not isinstance(entry, dict):
        return [f'not an object ({type(entry).__name__})']
    return [f"{'/'.join(map(str, e.path)) or 'entry'}: {e.message}"[:300]
            for e in sorted(_cache['v'].iter_errors(entry), key=lambda e: list(e.path))]


def _floats(v):
    return [round(float(x), DIGITS) for x in np.asarray(v, np.float64).reshape(-1)]


def finalise(e):
    """JSON-ready entry: vectors as rounded floats, numpy scalars as floats."""
    out = dict(e)
    for k in ('vector', 'wVector'):
        if k in out:
            out[k] = _floats(out[k])
    out['range'] = [float(x) for x in out.get('range', DEFAULT_RANGE)]
    if 'layers' in out:
        out['layers'] = [int(i) for i in out['layers']]
    if 'parts' in out:
        out['parts'] = [{'layers': [int(i) for i in p['layers']], 'vector': _floats(p['vector'])} for p in out['parts']]
    return out


class PackShape:
    """What a direction must fit: from a manifest, or from a PackModel at export."""

    def __init__(self, z_dim, w_dim, num_ws, first_ws, name='pack'):
        self.z_dim, self.w_dim, self.num_ws, self.first_ws, self.name = z_dim, w_dim, num_ws, first_ws, name

    @classmethod
    def of_manifest(cls, m):
        return cls(m['zDim'], m['wDim'], m['numWs'], m['fBlock']['firstWs'], m.get('name', 'pack'))


def resolve(incoming, shape, model=None, stats=None, log=print):
    """[Incoming] -> [manifest entry]. model/stats (LatentModel, LatentStats) are needed for W directions; `stats` may
    be a function returning them lazily."""
    out = []
    for inc in incoming:
        what = f'{inc.source}: direction {inc.id!r}'
        dim = shape.z_dim if inc.space == 'z' else shape.w_dim
        v = np.asarray(inc.vector, np.float64).reshape(-1)
        if v.size != dim:
            raise DirectionError(f'{what} has {v.size} values; this pack ({shape.name}) has '
                                 f'{"zDim" if inc.space == "z" else "wDim"} {dim}'
                                 + (' (a W direction? name the file with _w or pass --space w)'
                                    if inc.space == 'z' and v.size == shape.w_dim else ''))
        check_finite(v, inc.source, f'direction {inc.id!r}')
        v = v / np.linalg.norm(v)
        e = {'id': inc.id, 'label': inc.label, 'kind': inc.kind, 'space': inc.space, 'source': inc.source}
        if inc.space == 'z':
            e['vector'] = v
        else:
            if model is None:
                raise DirectionError(f'{what} is a W direction; fitting its Z conversion needs the pack\'s mapping graph')
            st = stats() if callable(stats) else stats
            try:
                e.update(w_to_z(model, st, v, inc.sigma, what=what))
            except ConversionError as err:
                raise DirectionError(str(err)) from None
        for k, val in inc.fields.items():
            e[k] = val
        rng = e.get('range', DEFAULT_RANGE)
        if len(rng) != 2 or not all(np.isfinite(rng)) or not rng[0] < rng[1]:
            raise DirectionError(f'{what}: range {rng} is not [low, high] with low < high')
        if 'layers' in e:
            bad = [i for i in e['layers'] if not 0 <= int(i) < shape.num_ws]
            if bad or not e['layers']:
                raise DirectionError(f'{what}: layers {e["layers"]} outside [0, {shape.num_ws})')
            if all(int(i) < shape.first_ws for i in e['layers']):
                e['offerInF'] = False
        e = finalise(e)
        problems = entry_errors(e)
        if problems:
            raise DirectionError(f'{what}: {problems[0]}')
        out.append(e)
        log(f'  direction {e["id"]}: {e["label"]} ({inc.space.upper()}'
            + (f', to Z: R^2 {e["conversion"]["r2"]:.2f}, cos {e["conversion"]["cosine"]:.2f}, zScale {e["zScale"]:.2f}'
               if inc.space == 'w' else '') + ')')
    return out


def merge(existing, new, replace=False):
    """existing + new entries, ids unique: a clash is an error unless replace (then the new entry wins)."""
    ids = [e['id'] for e in new]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise DirectionError(f'direction ids given twice: {dup}')
    have = {e['id'] for e in existing}
    clash = [i for i in ids if i in have]
    if clash and not replace:
        raise DirectionError(f'the pack already has directions {clash} (pass --replace to overwrite them)')
    return [e for e in existing if e['id'] not in ids] + list(new)
