"""The reconstruction-first trainer's mapping stage: the GAN objective runs, saves its critic with the full state,
resumes it, and moves the mapped W distribution towards the encoded set. Small (64 faces, a few hundred steps)."""
import numpy as np
import torch

from model.demo.train_autoencoder import WCritic, energy_distance, main, whitened_moments
from model.eval.fidelity import fid as frechet_distance
from model.load.checkpoint import load_torch_file


def test_frechet_distance_matches_closed_form():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 4, generator=g)
    b = torch.randn(20000, 4, generator=g) * 2 + 1
    # N(0, I) vs N(1, 4I): |mu|^2 + tr(I + 4I - 2 * 2I) = 4 + 4
    assert abs(frechet_distance(a, b) - 8.0) < 0.3
    assert frechet_distance(a, a) < 1e-6


def test_critic_whitens_its_input():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(5000, 6, generator=g) @ torch.randn(6, 6, generator=g) + 3
    c = WCritic(w.mean(0), torch.cov(w.T), hidden=8, depth=1)
    x = (w - c.mean) @ c.whiten
    assert torch.allclose(torch.cov(x.T), torch.eye(6), atol=1e-3)
    assert c(w[:7]).shape == (7,)


def test_mapping_stage_gan_objective_resumes(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / 'train.npy'
    np.save(data, rng.integers(0, 255, (64, 64, 64, 3), dtype=np.uint8))
    state, export = tmp_path / 'state.pt', tmp_path / 'g.pt'
    common = ['--stage', 'mapping', '--data', str(data), '--heldout', str(data), '--state', str(state),
              '--export', str(export), '--run-dir', str(tmp_path / 'run'), '--map-batch', '64',
              '--map-objective', 'gan', '--map-faces', '48']
    main(common + ['--max-steps', '30'])
    s = load_torch_file(str(state))
    assert s['progress']['map_step'] == 30
    assert s['map_critic'] is not None and s['map_critic_opt'] is not None
    assert (tmp_path / 'run' / 'w_set-ae0-48.pt').exists()
    main(common + ['--max-steps', '40'])
    s2 = load_torch_file(str(state))
    assert s2['progress']['map_step'] == 40
    ck = load_torch_file(str(export))
    assert ck['mapping_steps'] == 40 and torch.isfinite(ck['latent_avg']).all()


def test_energy_distance_is_unbiased_and_prefers_the_data_over_a_shrunken_copy():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(512, 16, generator=g), torch.randn(512, 16, generator=g)
    floor = energy_distance(a, b)
    assert abs(floor) < 0.02
    assert energy_distance(0.7 * a, b) > 10 * abs(floor)   # mini-batch OT and coverage prefer this one
    assert energy_distance(a + 0.3, b) > 10 * abs(floor)


def test_whitened_moments_zero_on_the_set_itself():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(4000, 5, generator=g) @ torch.randn(5, 5, generator=g) + 2
    mean, cov = w.mean(0), torch.cov(w.T)
    e, v = torch.linalg.eigh(cov.double())
    wh = (v / e.sqrt()).float()
    assert whitened_moments(w, mean, wh) < 1e-4
    assert whitened_moments(0.5 * w, mean, wh) > 0.1


def test_mapping_stage_energy_objective(tmp_path):
    rng = np.random.default_rng(1)
    data = tmp_path / 'train.npy'
    np.save(data, rng.integers(0, 255, (32, 64, 64, 3), dtype=np.uint8))
    main(['--stage', 'mapping', '--data', str(data), '--heldout', str(data), '--state', str(tmp_path / 's.pt'),
          '--export', str(tmp_path / 'g.pt'), '--run-dir', str(tmp_path / 'run'), '--map-batch', '64',
          '--map-objective', 'energy', '--max-steps', '20'])
    s = load_torch_file(str(tmp_path / 's.pt'))
    assert s['progress']['map_step'] == 20 and s['map_critic'] is None


def test_mapping_stage_image_term_trains_the_mapping_only(tmp_path):
    """--map-image renders samples and matches a second classifier's features: the mapping moves, the decoder
    does not (it is frozen in the mapping stage), and the state records the steps."""
    rng = np.random.default_rng(4)
    data = tmp_path / 'train.npy'
    np.save(data, rng.integers(0, 255, (24, 64, 64, 3), dtype=np.uint8))
    args = ['--stage', 'mapping', '--data', str(data), '--heldout', str(data), '--state', str(tmp_path / 's.pt'),
            '--export', str(tmp_path / 'g.pt'), '--run-dir', str(tmp_path / 'run'), '--map-batch', '32',
            '--map-objective', 'energy', '--map-energy-space', 'raw', '--map-image', '1.0',
            '--map-image-net', 'model/checkpoints/guide64.pt', '--map-image-batch', '6']
    main(args + ['--max-steps', '1'])
    before = load_torch_file(str(tmp_path / 's.pt'))['g']
    main(args + ['--max-steps', '4'])
    after = load_torch_file(str(tmp_path / 's.pt'))
    assert after['progress']['map_step'] == 4
    style = [k for k in before if k.startswith('style.') and k.endswith('weight')]
    synth = [k for k in before if not k.startswith('style.')]
    assert any(not torch.equal(before[k], after['g'][k]) for k in style)
    assert all(torch.equal(before[k], after['g'][k]) for k in synth)
