"""NVIDIA stylegan2-ada-pytorch network pickles (`G_ema`) read WITHOUT executing pickled code.

Those pickles embed each network class's Python source (torch_utils.persistence) and normally `exec` it on load.
`SafeUnpickler` resolves only an allowlist of globals (tensor/storage rebuilders, OrderedDict, set, EasyDict as a
dict); `torch_utils.persistence._reconstruct_persistent_obj` becomes `PersistentStub`, which keeps the class name
and the object's `__dict__` (parameters, buffers, sub-modules, attributes) and never looks at the embedded source.
Storages go through torch.load with the same allowlist. Any other global -> CheckpointError naming it.
The stubs' state dict is then mapped onto our rosinality-layout Generator (architecture 'skip' only).
"""
import io
import pickle
import re

import torch

from model.load.checkpoint import CheckpointError, GeneratorCheckpoint, restricted_torch_load, restricted_unpickler, sha256_file, strict_load
from model.nets.stylegan2 import Generator, make_kernel


class PersistentStub:
    """Stand-in for a torch_utils.persistence object: data only, the pickled module source is ignored."""

    def __init__(self, meta):
        if not isinstance(meta, dict) or meta.get('type') != 'class':
            raise CheckpointError('unexpected persistent object in pickle')
        self.class_name = str(meta.get('class_name'))
        state = meta.get('state') or {}
        self.state = dict(state) if isinstance(state, dict) else {}

    def __setstate__(self, state):  # never reached (reduce passes meta), kept for safety
        self.state = dict(state)

    def __repr__(self):
        return f'<stub {self.class_name}>'


class EasyDict(dict):
    pass


def _load_storage_bytes(b):
    return restricted_torch_load(io.BytesIO(b))


SafeUnpickler = restricted_unpickler({
    ('torch_utils.persistence', '_reconstruct_persistent_obj'): PersistentStub,
    ('dnnlib.util', 'EasyDict'): EasyDict,
    ('dnnlib', 'EasyDict'): EasyDict,
    ('torch.storage', '_load_from_bytes'): _load_storage_bytes,
})


def safe_load(path):
    try:
        with open(path, 'rb') as f:
            return SafeUnpickler(f).load()
    except CheckpointError:
        raise
    except (EOFError, pickle.UnpicklingError, ValueError, RuntimeError, AttributeError, IndexError, TypeError) as e:
        raise CheckpointError(f'{path}: truncated or corrupt network pickle ({type(e).__name__}: {e})') from None


def stub_state_dict(stub, prefix='', out=None):
    """Flatten a stub tree like nn.Module.state_dict()."""
    out = {} if out is None else out
    st = stub.state
    skip = set(st.get('_non_persistent_buffers_set') or ())
    for group in ('_parameters', '_buffers'):
        for k, v in (st.get(group) or {}).items():
            if v is not None and not (group == '_buffers' and k in skip):
                out[prefix + k] = v
    for k, m in (st.get('_modules') or {}).items():
        if isinstance(m, PersistentStub):
            stub_state_dict(m, f'{prefix}{k}.', out)
        elif m is not None:
            raise CheckpointError(f'unexpected sub-module {prefix}{k} of type {type(m).__name__}')
    return out


def _stubs(stub, prefix=''):
    yield prefix.rstrip('.'), stub
    for k, m in (stub.state.get('_modules') or {}).items():
        if isinstance(m, PersistentStub):
            yield from _stubs(m, f'{prefix}{k}.')


def ada_to_rosinality(sd, resolution, n_mlp):
    """Map a stylegan2-ada-pytorch G state dict onto our (rosinality) Generator keys."""
    def get(k):
        if k not in sd:
            raise CheckpointError(f'G_ema: missing key {k!r}')
        return sd[k].float()

    out = {}
    for i in range(n_mlp):
        out[f'style.{i + 1}.weight'], out[f'style.{i + 1}.bias'] = get(f'mapping.fc{i}.weight'), get(f'mapping.fc{i}.bias')
    out['input.input'] = get('synthesis.b4.const')[None]

    def layer(dst, src, noise_idx):
        out[f'{dst}.conv.weight'] = get(f'{src}.weight')[None]
        out[f'{dst}.conv.modulation.weight'] = get(f'{src}.affine.weight')
        out[f'{dst}.conv.modulation.bias'] = get(f'{src}.affine.bias')
        out[f'{dst}.noise.weight'] = get(f'{src}.noise_strength').reshape(1)
        out[f'{dst}.activate.bias'] = get(f'{src}.bias')
        out[f'noises.noise_{noise_idx}'] = get(f'{src}.noise_const')[None, None]

    def torgb(dst, src):
        out[f'{dst}.conv.weight'] = get(f'{src}.weight')[None]
        out[f'{dst}.conv.modulation.weight'] = get(f'{src}.affine.weight')
        out[f'{dst}.conv.modulation.bias'] = get(f'{src}.affine.bias')
        out[f'{dst}.bias'] = get(f'{src}.bias').reshape(1, 3, 1, 1)

    layer('conv1', 'synthesis.b4.conv1', 0)
    torgb('to_rgb1', 'synthesis.b4.torgb')
    log_size = resolution.bit_length() - 1
    for j, i in enumerate(range(3, log_size + 1)):
        b = f'synthesis.b{2 ** i}'
        layer(f'convs.{2 * j}', f'{b}.conv0', 2 * j + 1)
        layer(f'convs.{2 * j + 1}', f'{b}.conv1', 2 * j + 2)
        torgb(f'to_rgbs.{j}', f'{b}.torgb')
    return out


def load_ada(path, **_):
    obj = safe_load(path)
    if not isinstance(obj, dict) or not isinstance(obj.get('G_ema'), PersistentStub):
        keys = sorted(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{path}: not a stylegan2-ada-pytorch network pickle (no 'G_ema' network; found {keys})")
    G_ema = obj['G_ema']
    st = G_ema.state
    c_dim = int(st.get('c_dim', 0) or 0)
    if c_dim:
        raise CheckpointError(f'conditional generators are not supported (c_dim={c_dim})')
    sd = stub_state_dict(G_ema)
    stubs = dict(_stubs(G_ema))
    try:
        resolution = int(st['img_resolution'])
        z_dim, w_dim = int(st['z_dim']), int(st['w_dim'])
        n_mlp = int(stubs['mapping'].state['num_layers'])
        lr_mlp = float(stubs['mapping.fc0'].state.get('bias_gain', 0.01))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f'G_ema lacks expected attribute {e}') from None
    if int(st.get('img_channels', 3)) != 3:
        raise CheckpointError(f"only RGB generators are supported (img_channels={st.get('img_channels')})")
    blocks = sorted({int(m.group(1)) for k in sd for m in [re.match(r'synthesis\.b(\d+)\.', k)] if m})
    for res in blocks:
        arch = stubs.get(f'synthesis.b{res}', PersistentStub({'type': 'class'})).state.get('architecture', 'skip')
        if arch != 'skip' or f'synthesis.b{res}.torgb.weight' not in sd:
            raise CheckpointError(f"synthesis architecture {arch!r} at b{res} is not supported (only 'skip', "
                                  f'the StyleGAN2 config-e/f generator)')
    clamps = {s.state.get('conv_clamp') for n, s in stubs.items() if s.class_name in ('SynthesisLayer', 'ToRGBLayer')}
    if len(clamps) > 1:
        raise CheckpointError(f'mixed conv_clamp values {clamps} are not supported')
    conv_clamp = clamps.pop() if clamps else None
    ref = make_kernel([1, 3, 3, 1])
    for k, v in sd.items():
        if k.endswith('resample_filter') and not torch.allclose(v.float(), ref):
            raise CheckpointError(f'{k}: only the [1,3,3,1] resampling filter is supported')
    channels = {res: int(sd[f'synthesis.b{res}.conv1.weight'].shape[0]) for res in blocks if f'synthesis.b{res}.conv1.weight' in sd}
    if sorted(channels) != [2 ** i for i in range(2, resolution.bit_length())]:
        raise CheckpointError(f'G_ema synthesis blocks {blocks} do not cover 4..{resolution}')
    G = Generator(resolution, w_dim, n_mlp, channels=channels, lr_mlp=lr_mlp, z_dim=z_dim,
                  conv_clamp=float(conv_clamp) if conv_clamp is not None else None)
    strict_load(G, {**{k: v for k, v in G.state_dict().items() if k.endswith('kernel')},
                    **ada_to_rosinality(sd, resolution, n_mlp)}, 'G_ema')
    if 'mapping.w_avg' not in sd:
        raise CheckpointError("G_ema: missing key 'mapping.w_avg'")
    cfg = dict(size=resolution, style_dim=w_dim, z_dim=z_dim, n_mlp=n_mlp, channels=channels, conv_clamp=conv_clamp)
    return GeneratorCheckpoint(G=G.eval(), w_avg=sd['mapping.w_avg'].float().reshape(-1), source='stylegan2-ada-pytorch',
                  config=cfg, sha256=sha256_file(path), path=path)
