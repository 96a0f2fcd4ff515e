"""Checkpoint loaders: rosinality/stylegan2-pytorch `.pt` and NVIDIA stylegan2-ada-pytorch `.pkl`.

Every loader returns a `GeneratorCheckpoint` record: an eval-mode `Generator` (our layout), `w_avg` [style_dim], an
optional `Discriminator`, and provenance. Problems raise `CheckpointError` with a message naming the problem.
"""
import collections
import hashlib
import os
import pickle
import re
import zipfile
from dataclasses import dataclass, field

import torch

from model.nets.stylegan2 import Discriminator, Generator


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the architecture."""


@dataclass
class GeneratorCheckpoint:
    G: Generator
    w_avg: torch.Tensor
    D: Discriminator = None
    source: str = 'rosinality'
    config: dict = field(default_factory=dict)
    sha256: str = ''
    path: str = ''


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def _shape(sd, key):
    if key not in sd:
        raise CheckpointError(f'missing key {key!r} in generator state dict')
    return tuple(sd[key].shape)


def infer_generator_config(sd):
    """size / style_dim / n_mlp / channels from a rosinality Generator state dict."""
    style_dim, z_dim = _shape(sd, 'style.1.weight')
    n_mlp = len([k for k in sd if re.fullmatch(r'style\.\d+\.weight', k)])
    n_rgbs = len([k for k in sd if re.fullmatch(r'to_rgbs\.\d+\.conv\.weight', k)])
    size = 2 ** (n_rgbs + 2)
    channels = {4: _shape(sd, 'input.input')[1]}
    for j in range(n_rgbs):
        channels[2 ** (j + 3)] = _shape(sd, f'convs.{2 * j}.conv.weight')[1]
    cfg = dict(size=size, style_dim=style_dim, n_mlp=n_mlp, channels=channels)
    if z_dim != style_dim:
        cfg['z_dim'] = z_dim
    return cfg


def infer_discriminator_channels(sd, size):
    ch = {size: _shape(sd, 'convs.0.0.weight')[0], 4: _shape(sd, 'final_conv.0.weight')[0]}
    log_size = size.bit_length() - 1
    for n, i in enumerate(range(log_size, 2, -1), start=1):
        ch[2 ** (i - 1)] = _shape(sd, f'convs.{n}.conv2.1.weight')[0]
    return ch


def strict_load(module, sd, what):
    own = module.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    if missing:
        raise CheckpointError(f'{what}: missing keys {missing[:8]}{" ..." if len(missing) > 8 else ""}')
    if unexpected:
        raise CheckpointError(f'{what}: unexpected keys {unexpected[:8]}{" ..." if len(unexpected) > 8 else ""}')
    for k, v in own.items():
        t = sd[k]
        if not torch.is_tensor(t):
            raise CheckpointError(f'{what}: {k!r} is a {type(t).__name__}, not a tensor')
        if tuple(t.shape) != tuple(v.shape):
            raise CheckpointError(f'{what}: wrong shape for {k!r}: {tuple(t.shape)} in checkpoint, {tuple(v.shape)} expected')
    module.load_state_dict({k: sd[k].float() for k in own}, strict=True)


def generator_from_state_dict(sd, lr_mlp=0.01, conv_clamp=None):
    try:
        cfg = infer_generator_config(sd)
    except (IndexError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f'generator state dict has unexpected shapes: {e}') from None
    G = Generator(cfg['size'], cfg['style_dim'], cfg['n_mlp'], channels=cfg['channels'], lr_mlp=lr_mlp,
                  z_dim=cfg.get('z_dim'), conv_clamp=conv_clamp)
    strict_load(G, sd, 'generator')
    return G.eval(), cfg


class _Namespace:
    """Stand-in for argparse.Namespace (rosinality train.py saves its args): attributes only."""


def _rebuild_parameter(data, requires_grad, backward_hooks, *state):
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    if func not in SAFE_GLOBALS.values():
        raise CheckpointError(f'pickle asks to rebuild a tensor with {func!r}')
    return func(*args)


class _TypeMarker:  # torch.Tensor / Parameter named in a pickle: referenced, never instantiated
    pass


SAFE_GLOBALS = {
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('builtins', 'set'): set,
    ('builtins', 'frozenset'): frozenset,
    ('argparse', 'Namespace'): _Namespace,
    ('torch._utils', '_rebuild_tensor_v2'): torch._utils._rebuild_tensor_v2,
    ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
    ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter,
    ('torch._tensor', '_rebuild_from_type_v2'): _rebuild_from_type_v2,
    ('torch', 'Tensor'): _TypeMarker,
    ('torch.nn.parameter', 'Parameter'): _TypeMarker,
    ('torch', 'device'): torch.device,
    ('torch', 'Size'): torch.Size,
}


def restricted_unpickler(extra=None):
    """A pickle.Unpickler that resolves only SAFE_GLOBALS (+ extra): pickled code is never run."""
    allowed = {**SAFE_GLOBALS, **(extra or {})}

    class SafeUnpickler(pickle.Unpickler):
        def find_class(self, module, name):
            fn = allowed.get((module, name))
            if fn is None:
                raise CheckpointError(f'pickle references foreign class/function {module}.{name}: refusing to load '
                                      f'(only tensors, dicts and known checkpoint objects are read; no pickled code is run)')
            return fn
    return SafeUnpickler


class _SafePickleModule:
    """pickle_module for torch.load (torch handles storages itself; every other global goes through our allowlist)."""
    Unpickler = restricted_unpickler()
    __name__ = 'fzplus_safe_pickle'

    @staticmethod
    def load(f, **kw):
        return _SafePickleModule.Unpickler(f, **kw).load()


def restricted_torch_load(f):
    """torch.load through _SafePickleModule. torch 1.13's torch.load silently replaces pickle_module by `pickle`
    unless weights_only=True (which rejects train.py's argparse args), so call its zip / legacy readers directly."""
    from torch import serialization as ser
    if not all(hasattr(ser, n) for n in ('_is_zipfile', '_open_zipfile_reader', '_load', '_legacy_load')):
        return torch.load(f, map_location='cpu', pickle_module=_SafePickleModule)  # newer torch honours it
    if ser._is_zipfile(f):
        with ser._open_zipfile_reader(f) as z:
            return ser._load(z, 'cpu', _SafePickleModule, encoding='utf-8')
    return ser._legacy_load(f, 'cpu', _SafePickleModule, encoding='utf-8')


def load_torch_file(path):
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint not found: {path}')
    try:
        with open(path, 'rb') as f:
            return restricted_torch_load(f)
    except CheckpointError as e:
        raise CheckpointError(f'{path}: {e}') from None
    except Exception as e:  # truncated zip, bad pickle ...
        kind = 'truncated or corrupt' if isinstance(e, (EOFError, RuntimeError, zipfile.BadZipFile, pickle.UnpicklingError)) \
            else 'unreadable'
        raise CheckpointError(f'{path}: {kind} checkpoint ({type(e).__name__}: {e})') from None


def load_rosinality(path, lr_mlp=0.01, with_discriminator=True):
    """Load a rosinality checkpoint: {'g_ema': sd, 'latent_avg': ...} (convert_weight.py / generate.py layout),
    the train.py dict ({'g', 'd', 'g_ema', ...}), a bare Generator state dict, or a pSp / e4e model
    ({'state_dict': {'decoder.*': ...}, 'latent_avg': [18, 512] or [512]}: its decoder is this generator)."""
    ckpt = load_torch_file(path)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{path}: expected a dict, got {type(ckpt).__name__}')
    inner = ckpt.get('state_dict')
    if 'g_ema' not in ckpt and isinstance(inner, dict) and 'decoder.style.1.weight' in inner:
        sd = {k[len('decoder.'):]: v for k, v in inner.items() if k.startswith('decoder.')}
        la = ckpt.get('latent_avg')
        ckpt = {'g_ema': sd, 'latent_avg': la.reshape(-1, la.shape[-1])[0] if torch.is_tensor(la) else None}
    sd = ckpt.get('g_ema', ckpt if 'style.1.weight' in ckpt else None)
    if not isinstance(sd, dict):
        raise CheckpointError(f"{path}: no 'g_ema' generator state dict (keys: {sorted(ckpt)[:10]})")
    G, cfg = generator_from_state_dict(sd, lr_mlp=lr_mlp)
    w_avg = ckpt.get('latent_avg')
    if w_avg is None:
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            w_avg = G.mapping(torch.randn(100000, G.z_dim, generator=g)).mean(0)
    w_avg = torch.as_tensor(w_avg).float().reshape(-1)
    if w_avg.numel() != G.style_dim:
        raise CheckpointError(f'latent_avg has {w_avg.numel()} values, style_dim is {G.style_dim}')
    D = None
    if with_discriminator and isinstance(ckpt.get('d'), dict):
        dsd = ckpt['d']
        D = Discriminator(cfg['size'], channels=infer_discriminator_channels(dsd, cfg['size']))
        strict_load(D, dsd, 'discriminator')
        D.eval()
    return GeneratorCheckpoint(G=G, w_avg=w_avg, D=D, source='rosinality', config=cfg, sha256=sha256_file(path),
                  path=path)


def load_checkpoint(path, **kw):
    """rosinality .pt or stylegan2-ada-pytorch .pkl, told apart by content (zip archive vs plain pickle)."""
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint not found: {path}')
    with open(path, 'rb') as f:
        head = f.read(4)
    if head[:2] == b'PK' or not path.endswith('.pkl'):
        return load_rosinality(path, **kw)
    from model.load.ada_pickle import load_ada
    return load_ada(path, **kw)
