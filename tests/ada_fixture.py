"""Write a synthetic stylegan2-ada-pytorch network pickle from one of our Generators.

No real ada pickle exists here, so this reproduces the format: each network is a torch_utils.persistence object,
pickled as `_reconstruct_persistent_obj(meta)` with meta = {type, version, module_src, class_name, state=__dict__}.
`module_src` is code that would fail loudly if anything executed it. Key names, shapes and attributes follow
NVlabs/stylegan2-ada-pytorch training/networks.py (G_ema.state_dict() keys: mapping.fcN.*, mapping.w_avg,
synthesis.bR.{const,resample_filter,conv0,conv1,torgb}.*).
"""
import collections
import pickle
import sys
import types

import torch

from model.nets.stylegan2 import make_kernel

TRAP_SRC = "raise SystemExit('pickled module source was executed')\n"


def _install_fake_modules():
    if 'torch_utils.persistence' in sys.modules and hasattr(sys.modules['torch_utils.persistence'], '_fake'):
        return sys.modules['torch_utils.persistence']._reconstruct_persistent_obj
    tu, pers = types.ModuleType('torch_utils'), types.ModuleType('torch_utils.persistence')

    def _reconstruct_persistent_obj(meta):
        raise AssertionError('fixture-only stand-in')
    _reconstruct_persistent_obj.__module__ = 'torch_utils.persistence'
    _reconstruct_persistent_obj.__qualname__ = '_reconstruct_persistent_obj'
    pers._reconstruct_persistent_obj, pers._fake, tu.persistence = _reconstruct_persistent_obj, True, pers
    dn, dnu = types.ModuleType('dnnlib'), types.ModuleType('dnnlib.util')

    class EasyDict(dict):
        pass
    EasyDict.__module__, EasyDict.__qualname__ = 'dnnlib.util', 'EasyDict'
    dnu.EasyDict, dn.util = EasyDict, dnu
    sys.modules.update({'torch_utils': tu, 'torch_utils.persistence': pers, 'dnnlib': dn, 'dnnlib.util': dnu})
    return _reconstruct_persistent_obj


class Persistent:
    def __init__(self, class_name, params=None, buffers=None, modules=None, **attrs):
        self.class_name = class_name
        self.state = {'training': False,
                      '_parameters': collections.OrderedDict((k, torch.nn.Parameter(v.detach().clone(), requires_grad=False))
                                                             for k, v in (params or {}).items()),
                      '_buffers': collections.OrderedDict((k, v.detach().clone()) for k, v in (buffers or {}).items()),
                      '_non_persistent_buffers_set': set(), '_forward_hooks': collections.OrderedDict(),
                      '_modules': collections.OrderedDict(modules or {}), '_init_args': (), '_init_kwargs': {}, **attrs}

    def __reduce__(self):
        meta = dict(type='class', version=4, module_src=TRAP_SRC, class_name=self.class_name, state=self.state)
        return (_install_fake_modules(), (meta,))


def ada_from_generator(G, w_avg, conv_clamp=None):
    sd = {k: v.detach() for k, v in G.state_dict().items()}
    filt = make_kernel([1, 3, 3, 1])
    fcs = {f'fc{i}': Persistent('FullyConnectedLayer', {'weight': sd[f'style.{i + 1}.weight'], 'bias': sd[f'style.{i + 1}.bias']},
                                activation='lrelu', weight_gain=G.lr_mlp / G.style[i + 1].weight.shape[1] ** 0.5,
                                bias_gain=G.lr_mlp) for i in range(G.n_mlp)}
    mapping = Persistent('MappingNetwork', buffers={'w_avg': w_avg.reshape(-1)}, modules=fcs, z_dim=G.z_dim, c_dim=0,
                         w_dim=G.style_dim, num_ws=G.n_latent, num_layers=G.n_mlp, w_avg_beta=0.995)

    def affine(src):
        return Persistent('FullyConnectedLayer', {'weight': sd[f'{src}.conv.modulation.weight'],
                                                  'bias': sd[f'{src}.conv.modulation.bias']}, activation='linear')

    def layer(src, noise_idx, res, up):
        return Persistent('SynthesisLayer', {'weight': sd[f'{src}.conv.weight'][0], 'noise_strength': sd[f'{src}.noise.weight'][0],
                                             'bias': sd[f'{src}.activate.bias']},
                          {'resample_filter': filt, 'noise_const': sd[f'noises.noise_{noise_idx}'][0, 0]},
                          {'affine': affine(src)}, resolution=res, up=up, use_noise=True, activation='lrelu',
                          conv_clamp=conv_clamp, padding=1)

    def torgb(src):
        return Persistent('ToRGBLayer', {'weight': sd[f'{src}.conv.weight'][0], 'bias': sd[f'{src}.bias'].reshape(3)},
                          modules={'affine': affine(src)}, conv_clamp=conv_clamp)

    blocks = {'b4': Persistent('SynthesisBlock', {'const': sd['input.input'][0]}, {'resample_filter': filt},
                               {'conv1': layer('conv1', 0, 4, 1), 'torgb': torgb('to_rgb1')}, resolution=4,
                               architecture='skip', num_conv=1, num_torgb=1)}
    for j in range(len(G.to_rgbs)):
        r = 2 ** (j + 3)
        blocks[f'b{r}'] = Persistent('SynthesisBlock', buffers={'resample_filter': filt}, modules={
            'conv0': layer(f'convs.{2 * j}', 2 * j + 1, r, 2), 'conv1': layer(f'convs.{2 * j + 1}', 2 * j + 2, r, 1),
            'torgb': torgb(f'to_rgbs.{j}')}, resolution=r, architecture='skip', num_conv=2, num_torgb=1)
    synthesis = Persistent('SynthesisNetwork', modules=blocks, w_dim=G.style_dim, img_resolution=G.size, img_channels=3,
                           num_ws=G.n_latent)
    return Persistent('Generator', modules={'synthesis': synthesis, 'mapping': mapping}, z_dim=G.z_dim, c_dim=0,
                      w_dim=G.style_dim, img_resolution=G.size, img_channels=3, num_ws=G.n_latent)


def write_ada_pickle(path, G, w_avg, conv_clamp=None):
    _install_fake_modules()
    G_ema = ada_from_generator(G, w_avg, conv_clamp)
    data = dict(G=G_ema, D=None, G_ema=G_ema, augment_pipe=None,
                training_set_kwargs=sys.modules['dnnlib.util'].EasyDict(path='ffhq.zip', resolution=G.size))
    with open(path, 'wb') as f:
        pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
