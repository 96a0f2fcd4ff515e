"""Direction files -> `Incoming` directions (not yet fitted to a pack).

Formats (told apart by extension; none runs code from the file):
  .npy        InterFaceGAN boundary: one unit normal, shape (1, d) or (d,). In Z, or in W when the file name has a
              `_w` token (InterFaceGAN's `stylegan_ffhq_smile_w_boundary.npy`). np.load with allow_pickle=False.
  .npz        GANSpace: `lat_comp` (K, 1, d) or (K, d), optional `lat_stdev` (K,) (the spread of each component,
              becomes wSigma for W files) and `var_ratio` (K,) (explained variance). W when the name has `_w`
              (GANSpace's `--use_w` dumps), else Z.
  .pt/.pth    e4e / pSp W directions, read by the restricted unpickler (model/load/checkpoint.py): a tensor (1, d) or
              (d,) (InterFaceGAN directions in W, `editings/interfacegan_directions/age.pt`), a GANSpace dict
              {'comp': (K, 1, d), 'std': (K,), 'mean'} (`ffhq_pca.pt`), or a dict of name -> such a tensor. W.
  .json       manifest direction entries: a list, or {"directions": [...]} (the app's public/directions/*.json).
`space` ('z' or 'w') overrides what the name says. Every problem raises DirectionError naming the file and the problem.
"""
import json
import os
import re
from dataclasses import dataclass, field

import numpy as np

KNOWN = ('.npy', '.npz', '.pt', '.pth', '.json')


class DirectionError(ValueError):
    pass


@dataclass
class Incoming:
    id: str
    label: str
    kind: str
    space: str                      # 'z' | 'w'
    vector: np.ndarray              # in its own space, any length (checked against the pack later)
    source: str
    sigma: float = None             # spread along the direction in its space, when the file gives one
    fields: dict = field(default_factory=dict)   # range, layers, attribute, explainedVariance, ... (manifest keys)


def slug(text):
    s = re.sub(r'[^a-z0-9]+', '-', str(text).lower()).strip('-')
    return s or 'direction'


def humanise(stem):
    s = re.sub(r'^(boundary_)|(_boundary)$', '', stem)
    return s.replace('_', ' ').strip().capitalize() or stem


def name_space(path):
    """'w' when a `_w` token is in the file name (InterFaceGAN / GANSpace convention), else 'z'."""
    return 'w' if 'w' in re.split(r'[_\-.]', os.path.basename(path).lower())[:-1] else 'z'


def _vector(arr, path, what):
    a = np.asarray(arr)
    if a.dtype == object or not np.issubdtype(a.dtype, np.number):
        raise DirectionError(f'{path}: {what} is not a numeric array (dtype {a.dtype})')
    a = a.astype(np.float64)
    if a.ndim == 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 1:
        raise DirectionError(f'{path}: {what} has shape {tuple(np.shape(arr))}; a direction is one vector, (1, d) or (d,)')
    check_finite(a, path, what)
    return a


def check_finite(a, path, what):
    if not np.all(np.isfinite(a)):
        bad = 'NaN' if np.isnan(a).any() else 'Inf'
        raise DirectionError(f'{path}: {what} contains {bad} values')
    if not np.any(a):
        raise DirectionError(f'{path}: {what} is all zeros')


def read_npy(path, space=None):
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise DirectionError(f'{path}: not a plain numeric .npy ({e}); pickled arrays are refused') from None
    except Exception as e:
        raise DirectionError(f'{path}: unreadable .npy ({type(e).__name__}: {e})') from None
    stem = os.path.splitext(os.path.basename(path))[0]
    v = _vector(arr, path, 'the boundary')
    return [Incoming(slug(humanise(stem)), humanise(stem), 'interfacegan', space or name_space(path), v,
                     f'InterFaceGAN boundary {os.path.basename(path)}')]


def _components(comp, std, var_ratio, path, space, stem, kind_src):
    comp = np.asarray(comp)
    if comp.dtype == object or not np.issubdtype(comp.dtype, np.number):
        raise DirectionError(f'{path}: components are not numeric (dtype {comp.dtype})')
    if comp.ndim == 3 and comp.shape[1] == 1:
        comp = comp[:, 0]
    if comp.ndim != 2:
        raise DirectionError(f'{path}: components have shape {comp.shape}; expected (K, 1, d) or (K, d)')
    comp = comp.astype(np.float64)
    k = comp.shape[0]
    std = None if std is None else np.asarray(std, np.float64).reshape(-1)
    if std is not None and std.size != k:
        raise DirectionError(f'{path}: {std.size} standard deviations for {k} components')
    var_ratio = None if var_ratio is None else np.asarray(var_ratio, np.float64).reshape(-1)
    out = []
    for j in range(k):
        check_finite(comp[j], path, f'component {j}')
        sigma = None
        if std is not None:
            if not (np.isfinite(std[j]) and std[j] > 0):
                raise DirectionError(f'{path}: standard deviation of component {j} is {std[j]}')
            sigma = float(std[j] / np.linalg.norm(comp[j]))   # spread along the unit direction (e4e: comp is unit)
        fields = {}
        if var_ratio is not None and j < var_ratio.size and np.isfinite(var_ratio[j]):
            fields['explainedVariance'] = float(var_ratio[j])
        out.append(Incoming(f'{slug(stem)}-pc{j + 1}', f'PC{j + 1} ({stem})', 'ganspace', space, comp[j],
                            f'{kind_src} {os.path.basename(path)}, component {j}', sigma, fields))
    return out


def read_npz(path, space=None):
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            if 'lat_comp' not in keys:
                raise DirectionError(f'{path}: no lat_comp array (keys {sorted(keys)}); a GANSpace .npz has '
                                     f'lat_comp (K, 1, d) and lat_stdev (K,)')
            comp = z['lat_comp']
            std = z['lat_stdev'] if 'lat_stdev' in keys else None
            var = z['var_ratio'] if 'var_ratio' in keys else None
    except DirectionError:
        raise
    except ValueError as e:
        raise DirectionError(f'{path}: not a plain numeric .npz ({e}); pickled arrays are refused') from None
    except Exception as e:
        raise DirectionError(f'{path}: unreadable .npz ({type(e).__name__}: {e})') from None
    stem = os.path.splitext(os.path.basename(path))[0]
    sp = space or name_space(path)
    return _components(comp, std if sp == 'w' else None, var, path, sp, stem, 'GANSpace')


def read_pt(path, space=None):
    import torch
    from model.load.checkpoint import CheckpointError, load_torch_file
    try:
        obj = load_torch_file(path)
    except CheckpointError as e:
        raise DirectionError(str(e)) from None
    stem = os.path.splitext(os.path.basename(path))[0]
    sp = space or 'w'
    src = f'e4e/pSp direction {os.path.basename(path)}'
    if torch.is_tensor(obj):
        v = _vector(obj.detach().double().numpy(), path, 'the direction')
        return [Incoming(slug(humanise(stem)), humanise(stem), 'interfacegan', sp, v, src)]
    if isinstance(obj, dict) and 'comp' in obj:
        comp, std = obj['comp'], obj.get('std')
        if not torch.is_tensor(comp) or (std is not None and not torch.is_tensor(std)):
            raise DirectionError(f"{path}: 'comp'/'std' are not tensors")
        return _components(comp.detach().double().numpy(), None if std is None else std.detach().double().numpy(),
                           None, path, sp, stem, 'GANSpace (e4e layout)')
    if isinstance(obj, dict) and obj and all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items()):
        return [Incoming(slug(k), humanise(k), 'interfacegan', sp, _vector(v.detach().double().numpy(), path, repr(k)),
                         f'{src}, key {k!r}') for k, v in obj.items()]
    raise DirectionError(f'{path}: unknown .pt layout ({type(obj).__name__}'
                         + (f' with keys {sorted(map(str, obj))[:8]}' if isinstance(obj, dict) else '')
                         + "); expected a tensor (1, d), {'comp', 'std', 'mean'} or {name: tensor}")


def read_json(path, space=None):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise DirectionError(f'{path}: not a JSON file ({e})') from None
    entries = doc.get('directions') if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise DirectionError(f'{path}: expected a list of directions or {{"directions": [...]}}')
    from model.directions.entries import entry_errors
    out = []
    for i, e in enumerate(entries):
        problems = entry_errors(e)
        if problems:
            raise DirectionError(f'{path}: direction #{i}: {problems[0]}')
        sp = space or e.get('space', 'z')
        key = 'wVector' if sp == 'w' and 'wVector' in e else 'vector'
        if key not in e:
            raise DirectionError(f'{path}: direction #{i} ({e["id"]}): space {sp!r} needs '
                                 + ('wVector' if sp == 'w' else 'vector'))
        v = np.asarray(e[key], np.float64)
        check_finite(v, path, f'direction {e["id"]!r}')
        keep = ('range', 'layers', 'attribute', 'classifierAccuracy', 'explainedVariance', 'editStrength', 'offerInF')
        fields = {k: e[k] for k in keep + (('zScale',) if sp == 'z' else ()) if k in e}
        out.append(Incoming(e['id'], e.get('label', humanise(e['id'])), e.get('kind', 'custom'), sp, v,
                            e.get('source', os.path.basename(path)), e.get('wSigma') if sp == 'w' else None, fields))
    return out


def read_file(path, space=None):
    if not os.path.isfile(path):
        raise DirectionError(f'{path}: file not found')
    ext = os.path.splitext(path)[1].lower()
    reader = {'.npy': read_npy, '.npz': read_npz, '.pt': read_pt, '.pth': read_pt, '.json': read_json}.get(ext)
    if reader is None:
        raise DirectionError(f'{path}: unknown direction file format {ext or "(no extension)"!r} '
                             f'(known: {", ".join(KNOWN)})')
    return reader(path, space)
