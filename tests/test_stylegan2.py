"""Parity with rosinality/stylegan2-pytorch on the shared reference, and layout checks."""
import numpy as np
import pytest
import torch

from model.nets.stylegan2 import Discriminator, Generator

TOL = 1e-3


def npy(ref_dir, name):
    return torch.from_numpy(np.load(ref_dir / f'{name}.npy'))


def maxerr(a, b):
    return (a - b).abs().max().item()


def test_config_inferred(ref_loaded):
    assert ref_loaded.config == {'size': 64, 'style_dim': 128, 'n_mlp': 4,
                                 'channels': {4: 512, 8: 512, 16: 512, 32: 512, 64: 256}}
    assert ref_loaded.G.n_latent == 10 and ref_loaded.G.num_layers == 9


@torch.no_grad()
def test_reference_parity(ref_dir, ref_loaded):
    G = ref_loaded.G
    z, w_ref, wplus = npy(ref_dir, 'z'), npy(ref_dir, 'w'), npy(ref_dir, 'wplus')
    latent_avg = npy(ref_dir, 'latent_avg')
    assert maxerr(ref_loaded.w_avg, latent_avg[0]) == 0
    w = G.mapping(z)
    errs = {
        'w': maxerr(w, w_ref),
        'images': maxerr(G([z], randomize_noise=False)[0], npy(ref_dir, 'images')),
        'images_trunc07': maxerr(G([z], truncation=0.7, truncation_latent=latent_avg, randomize_noise=False)[0],
                                 npy(ref_dir, 'images_trunc07')),
        'images_wplus': maxerr(G([wplus], input_is_latent=True, randomize_noise=False)[0], npy(ref_dir, 'images_wplus')),
        'feat16': maxerr(G.features(w[:, None].repeat(1, G.n_latent, 1), 16), npy(ref_dir, 'feat16')),
        'synthesis': maxerr(G.synthesis(w[:, None].repeat(1, G.n_latent, 1)), npy(ref_dir, 'images')),
        'stored_noise': maxerr(G([z], noise=G.stored_noise())[0], npy(ref_dir, 'images')),
    }
    print('parity max abs errors:', errs)
    assert all(e <= TOL for e in errs.values()), errs


@torch.no_grad()
def test_synthesis_from_f_restart():
    torch.manual_seed(0)
    G = Generator(32, 16, 2, channels={4: 16, 8: 16, 16: 8, 32: 8}).eval()
    wp = torch.randn(2, G.n_latent, 16)
    full = G.synthesis(wp)
    # F at 4x4: to_rgb1 has no skip anyway, so the image is unchanged
    assert maxerr(G.synthesis_from_f(G.features(wp, 4), wp, 4), full) < 1e-5
    # F at 16: skip restarts -> differs from the full image exactly by the upsampled earlier skip
    f = G.features(wp, 16)
    assert f.shape == (2, 8, 16, 16) and G.first_ws(16) == 4
    img = G.synthesis_from_f(f, wp, 16)
    wp2 = wp.clone()
    wp2[:, :G.first_ws(16)] = torch.randn(2, G.first_ws(16), 16)
    assert maxerr(G.synthesis_from_f(f, wp2, 16), img) == 0  # earlier codes have no effect
    assert maxerr(img, full) > 1e-3


def test_layout_and_training_step():
    G = Generator(16, 32, 2, channels={4: 16, 8: 16, 16: 8})
    D = Discriminator(16, channels={4: 16, 8: 16, 16: 8})
    keys = set(G.state_dict())
    for k in ['style.1.weight', 'style.2.bias', 'input.input', 'conv1.conv.weight', 'conv1.conv.modulation.weight',
              'conv1.noise.weight', 'conv1.activate.bias', 'to_rgb1.conv.weight', 'to_rgb1.bias',
              'convs.0.conv.blur.kernel', 'convs.3.conv.weight', 'to_rgbs.1.upsample.kernel', 'noises.noise_4']:
        assert k in keys, k
    assert G.state_dict()['conv1.conv.weight'].shape == (1, 16, 16, 3, 3)
    dkeys = set(D.state_dict())
    for k in ['convs.0.0.weight', 'convs.0.1.bias', 'convs.1.conv1.0.weight', 'convs.1.conv2.0.kernel',
              'convs.1.conv2.1.weight', 'convs.1.skip.1.weight', 'final_conv.0.weight', 'final_linear.1.bias']:
        assert k in dkeys, k
    img, lat = G(torch.randn(4, 32), return_latents=True)
    assert img.shape == (4, 3, 16, 16) and lat.shape == (4, G.n_latent, 32)
    out = D(img)
    assert out.shape == (4, 1)
    out.mean().backward()
    assert G.style[1].weight.grad is not None and G.convs[0].conv.weight.grad is not None


@pytest.mark.parametrize('cm', [1, 2])
def test_loader_roundtrip_any_config(tmp_path, cm):
    from model.load.checkpoint import load_rosinality
    torch.manual_seed(cm)
    G = Generator(128, 64, 3, channel_multiplier=cm)
    D = Discriminator(128, channel_multiplier=cm)
    p = tmp_path / 'ck.pt'
    torch.save({'g': G.state_dict(), 'd': D.state_dict(), 'g_ema': G.state_dict()}, p)
    L = load_rosinality(str(p))
    assert L.config['channels'] == G.channels and L.config['n_mlp'] == 3 and L.config['style_dim'] == 64
    assert L.D is not None and L.w_avg.shape == (64,)


def test_loader_psp_e4e_layout(tmp_path):
    """pSp / e4e / ReStyle models keep the generator under state_dict['decoder.*'] with a per-layer latent_avg."""
    from model.load.checkpoint import load_rosinality
    torch.manual_seed(4)
    G = Generator(16, 32, 2, channels={4: 16, 8: 16, 16: 8})
    sd = {f'decoder.{k}': v for k, v in G.state_dict().items()}
    sd['encoder.conv.weight'] = torch.zeros(4, 3, 3, 3)
    w_avg = torch.randn(32)
    torch.save({'state_dict': sd, 'latent_avg': w_avg.repeat(G.n_latent, 1), 'opts': {'dataset_type': 'ffhq_encode'}},
               tmp_path / 'e4e.pt')
    L = load_rosinality(str(tmp_path / 'e4e.pt'))
    assert torch.equal(L.w_avg, w_avg) and L.config['channels'] == {4: 16, 8: 16, 16: 8}
