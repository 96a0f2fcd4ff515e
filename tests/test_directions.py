"""The direction fitting's own pieces (model/demo/directions.py): conditional projection, layer ranges, the edit test."""
import json

import numpy as np

from model.demo.directions import conditional, edit_scores, layer_ranges


def unit(v):
    return v / np.linalg.norm(v)


def test_conditional_is_orthogonal_to_correlated_normals_only():
    rng = np.random.default_rng(0)
    base = unit(rng.normal(size=32))
    normals = [base, unit(base + 0.5 * unit(rng.normal(size=32))), unit(rng.normal(size=32)), None]
    attrs = ['smile', 'mouth_open', 'hat', 'glasses']
    d, cond_on = conditional(normals, 0, attrs, {}, min_cos=0.5)
    assert cond_on == ['mouth_open']                      # the uncorrelated 'hat' and the missing 'glasses' are not used
    assert abs(float(d @ normals[1])) < 1e-9
    assert abs(np.linalg.norm(d) - 1) < 1e-9 and float(d @ base) > 0


def test_conditional_skips_linked_attributes():
    rng = np.random.default_rng(1)
    n0 = unit(rng.normal(size=16))
    normals = [n0, unit(n0 + 0.1 * rng.normal(size=16))]
    d, cond_on = conditional(normals, 0, ['dark_skin', 'skin_lum'], {'dark_skin': {'skin_lum'}}, min_cos=0.1)
    assert d is None and cond_on == []


def test_layer_ranges_are_contiguous_and_start_at_first_ws():
    rs = layer_ranges(4, 10)
    assert [4, 5, 6, 7, 8, 9] in rs and [8, 9] in rs
    assert all(r[0] >= 4 and r[-1] <= 9 and len(r) >= 2 and r == list(range(r[0], r[-1] + 1)) for r in rs)
    assert len(rs) == 15


def test_edit_scores_pass_and_fail():
    attrs = ['smile', 'hat', 'headband']
    binary = np.array([True, True, True])
    n = 50
    before = np.zeros((n, 3))
    spread = (np.ones(3), np.ones(3))
    after = before.copy()
    after[:, 0] = 1.0          # smile up everywhere
    after[:, 1] = 0.1          # a little hat
    sc = edit_scores(before, after, spread, 0, attrs, binary, {})
    assert sc['pass'] and sc['fracIntended'] == 1.0 and sc['worstOther'] == 'hat'
    after[:, 2] = -0.6         # headband moves more than a third as much: fails
    sc = edit_scores(before, after, spread, 0, attrs, binary, {})
    assert not sc['pass'] and sc['worstOther'] == 'headband'
    # ... unless the pair is one property by definition
    assert edit_scores(before, after, spread, 0, attrs, binary, {'smile': {'headband'}})['pass']
    # a saturated logit's jitter (-8 -> -6) is a move in logits but not in probabilities
    before2 = np.tile([0.0, 0.0, -8.0], (n, 1))
    after2 = before2 + np.array([2.0, 0.0, 2.0])
    sc = edit_scores(before2, after2, (np.ones(3), np.full(3, 0.2)), 0, attrs, binary, {})
    assert not sc['pass'] and sc['probPass']
    # the image-quality guard: an edit that leaves the classifier unsure of the other heads (a ghost) fails
    sure = np.tile([0.0, -6.0, -6.0], (n, 1))
    unsure = sure + np.array([1.0, 0.2, 5.5])     # headband +0.49 in probability, hat a little
    sc = edit_scores(sure, unsure, (np.ones(3), np.ones(3)), 0, attrs, binary, {}, heads=['smile', 'hat'])
    assert sc['probWorstOtherRatio'] < 1 / 3 and sc['uncertaintyRatio'] > 1.5 and not sc['probPass']
    assert edit_scores(sure, sure + np.array([1.0, 0.2, 0.0]), (np.ones(3), np.ones(3)), 0, attrs, binary, {})['probPass']


def test_edit_scores_count_reliable_heads_only_and_report_strict():
    attrs = ['smile', 'hat', 'nose_size']
    binary = np.array([True, True, False])
    n = 40
    before = np.zeros((n, 3))
    after = before.copy()
    after[:, 0] = 1.0
    after[:, 2] = 0.8  # an unreliable head jitters a lot
    spread = (np.ones(3), np.ones(3))
    sc = edit_scores(before, after, spread, 0, attrs, binary, {}, heads=['smile', 'hat'])
    assert sc['pass'] and sc['strictWorstOther'] == 'nose_size' and sc['strictWorstOtherRatio'] > 0.5
    assert not edit_scores(before, after, spread, 0, attrs, binary, {})['pass']


def test_implied_attributes_are_one_way_and_read_from_the_labels(tmp_path):
    import json
    from model.eval.fidelity import implied_attributes, linked_with_implications
    rng = np.random.default_rng(0)
    male = rng.random(2000) < 0.5
    beard = male & (rng.random(2000) < 0.5)       # only male faces have one
    hat = rng.random(2000) < 0.1                  # independent
    np.save(tmp_path / 'train_labels.npy', np.stack([male, beard, hat], 1).astype(np.float32))
    (tmp_path / 'labels.json').write_text(json.dumps({'columns': [
        {'name': 'male', 'kind': 'binary'}, {'name': 'facial_hair', 'kind': 'binary'}, {'name': 'hat', 'kind': 'binary'}]}))
    imp = implied_attributes(str(tmp_path), ['male', 'facial_hair', 'hat'])
    assert imp == {'facial_hair': {'male'}}         # male does not imply facial hair, hat implies nothing
    linked = linked_with_implications(str(tmp_path), ['male', 'facial_hair', 'hat'])
    assert 'male' in linked['facial_hair'] and 'facial_hair' not in linked.get('male', set())
    assert implied_attributes(str(tmp_path / 'missing'), ['male']) == {}


def test_effect_matched_moves_its_own_head_and_holds_the_others():
    from model.demo.directions import effect_matched
    rng = np.random.default_rng(4)
    normals = np.linalg.qr(rng.normal(size=(16, 4)))[0].T       # 4 orthonormal directions in 16-d
    effects = np.array([[1.0, 0.8, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.0, 0.5]])  # [K, A]
    d = effect_matched(effects, normals, 0, [1, 2], ridge=1e-6)
    c = normals @ d                                              # coefficients of d on the normals
    effect = c @ effects
    assert effect[0] > 0 and abs(effect[1]) < 1e-3 * effect[0] and abs(effect[2]) < 1e-3 * effect[0]
    assert abs(np.linalg.norm(d) - 1) < 1e-9


def test_guided_direction_trades_a_correlated_head_for_its_own():
    """A linear toy: head 1 reads much of what head 0 reads (cos ~0.7), so head 0's plain direction moves both; the guided search
    finds one that keeps most of head 0's change and far less of head 1's."""
    import torch
    from torch import nn
    from model.demo.guided import GuideContexts, guided_direction
    from model.directions.walk import normalise

    torch.manual_seed(0)
    D = 16

    class ToyG(nn.Module):
        n_latent, style_dim = 2, D

        def __init__(self):
            super().__init__()
            self.m = nn.Linear(D, D, bias=False)

        def mapping(self, z):
            return self.m(z)

        def synthesis(self, wplus):
            return wplus.mean(1)

    g = ToyG()
    a = unit(np.random.default_rng(0).normal(size=D))
    b = unit(a + unit(np.random.default_rng(1).normal(size=D)))
    guide = nn.Linear(D, 3, bias=False)
    with torch.no_grad():
        guide.weight.copy_(torch.tensor(np.stack([a, b, unit(np.random.default_rng(2).normal(size=D))]), dtype=torch.float32))
    z = normalise(torch.randn(256, D))
    ctx = GuideContexts(g, z)
    spread = torch.ones(3)
    init = (g.m.weight.detach().T @ torch.tensor(a, dtype=torch.float32)).numpy().astype(np.float64)
    init /= np.linalg.norm(init)

    def effect(d):
        with torch.no_grad():
            dt = torch.tensor(d, dtype=torch.float32)
            delta = guide(ctx.render(dt, 2.0)) - guide(ctx.render())
        return float(delta[:, 0].mean()), float(delta[:, 1].abs().mean())

    own0, other0 = effect(init)
    d, _ = guided_direction(ctx, guide, spread, 0, [1, 2], init, steps=200, gen=torch.Generator().manual_seed(0), log=lambda m: None)
    own, other = effect(d)
    assert abs(np.linalg.norm(d) - 1) < 1e-6
    assert own >= 0.7 * own0 > 0
    assert other / own < 0.67 * other0 / own0        # the worst other over own falls by more than a third


def test_guided_direction_on_probabilities_ignores_a_saturated_head():
    """Head 2 is a rare binary attribute (logit bias -30): its logit moves with the edit but its probability stays 0,
    as a saturated head's does under any visible change. On logits the guided fit spends its freedom on head 2; on
    probabilities (binary=..., the edit test's verdict) it spends it on head 1, the correlated head that is seen."""
    import torch
    from torch import nn
    from model.demo.guided import GuideContexts, guided_direction
    from model.directions.walk import normalise

    torch.manual_seed(0)
    D = 16

    class ToyG(nn.Module):
        n_latent, style_dim = 2, D

        def mapping(self, z):
            return z

        def synthesis(self, wplus):
            return wplus.mean(1)

    rng = np.random.default_rng(3)
    a = unit(rng.normal(size=D))
    b = unit(a + unit(rng.normal(size=D)))
    c = unit(a + unit(rng.normal(size=D)))
    guide = nn.Linear(D, 3)
    with torch.no_grad():
        guide.weight.copy_(4 * torch.tensor(np.stack([a, b, c]), dtype=torch.float32))
        guide.bias.copy_(torch.tensor([0.0, 0.0, -30.0]))
    ctx = GuideContexts(ToyG(), normalise(torch.randn(256, D)))
    with torch.no_grad():
        base = guide(ctx.render())
    binary = torch.tensor([True, True, True])
    spread, spread_p = base.std(0), torch.sigmoid(base).std(0).clamp_min(1e-3)

    def head1_ratio(d):
        with torch.no_grad():
            p = torch.sigmoid(guide(ctx.render(torch.tensor(d, dtype=torch.float32), 2.0))) - torch.sigmoid(base)
        return float(p[:, 1].abs().mean() / p[:, 0].mean())

    run = lambda **kw: guided_direction(ctx, guide, spread, 0, [1, 2], a, steps=200, base=base,
                                        gen=torch.Generator().manual_seed(0), log=lambda m: None, **kw)[0]
    d_logit, d_prob = run(), run(binary=binary, spread_p=spread_p)
    assert head1_ratio(d_prob) < 0.75 * head1_ratio(d_logit) and head1_ratio(d_prob) < head1_ratio(a)


def test_layer_groups_are_contiguous_resolution_pairs_with_the_whole_range():
    from model.demo.directions import layer_groups
    rs = layer_groups(10)
    assert len(rs) == 15 and list(range(10)) in rs and [8, 9] in rs and [2, 3, 4, 5] in rs
    assert all(r[0] % 2 == 0 and len(r) % 2 == 0 and r == list(range(r[0], r[-1] + 1)) for r in rs)
    assert [6, 7, 8] in layer_groups(9) and [8] in layer_groups(9)  # an odd count ends with a single layer


def test_lower_upper_compares_the_halves_of_the_change():
    import torch
    from model.demo.directions import lower_upper
    before = torch.zeros(2, 3, 8, 8)
    after = before.clone()
    after[:, :, 6:] = 1.0   # change in the lower half only
    after[:, :, :1] = 0.5   # a smaller one in the upper half
    assert lower_upper(before, after) == (2 * 1.0 / 4) / (1 * 0.5 / 4)
    assert lower_upper(after, before) == lower_upper(before, after)


def test_choice_key_puts_locality_first_and_prefers_the_larger_passing_change():
    from model.demo.directions import _key
    sc = lambda **k: {'fracIntended': 1.0, 'worstOtherRatio': 0.1, 'probWorstOtherRatio': 0.1, 'pass': True,
                      'probPass': True, 'ownShiftSigma': 1.0, **k}
    assert _key(sc(local=True, probPass=False, **{'pass': False})) > _key(sc(local=False))
    assert _key(sc(ownShiftSigma=1.5)) > _key(sc(ownShiftSigma=0.5))
    assert _key(sc(probPass=True, ownShiftSigma=0.3)) > _key(sc(probPass=False, ownShiftSigma=3.0))
    # a pass with room on every bar beats a larger change that passes at the edge of one
    for edge in ({'fracIntended': 0.91}, {'probWorstOtherRatio': 0.32}, {'uncertaintyRatio': 1.48}):
        assert _key(sc(ownShiftSigma=0.6, uncertaintyRatio=1.1)) > _key(sc(ownShiftSigma=1.5, **edge))


def rows_generator(D):
    """A toy generator of 4 W+ layers whose image is the W+ itself (layer i is row i) and whose F stays zero, so that
    rendered rows compare directly."""
    from torch import nn

    class RowsG(nn.Module):
        n_latent, style_dim = 4, D

        def mapping(self, z):
            return 2 * z

        def synthesis(self, wplus):
            return wplus.reshape(len(wplus), 1, 4, D)

        def features(self, wplus, f_res):
            return 0 * wplus[:, :1].reshape(len(wplus), 1, 1, D)

        def synthesis_from_f(self, f, wplus, f_res):
            return self.synthesis(wplus) + f.reshape(len(f), 1, 1, D)

    return RowsG()


def test_context_render_walks_only_the_given_layers():
    """GuideContexts.render(layers=...) walks those W+ layers of encoded faces and of samples, and keeps the rest."""
    import torch
    from model.demo.guided import GuideContexts
    from model.directions.walk import normalise

    D, n = 8, 3

    torch.manual_seed(0)
    z = normalise(torch.randn(n, D))
    zp = normalise(torch.randn(n, 4, D))
    ctx = GuideContexts(rows_generator(D), z, zp, torch.zeros(n, 1, 1, D), f_res=1)
    d = normalise(torch.randn(1, D))[0] / 8 ** 0.5
    base, every, none = ctx.render(), ctx.render(d, 2.0), ctx.render(d, 2.0, layers=[1, 2])
    assert torch.allclose(ctx.render(d, 2.0, layers=[0, 1, 2, 3]), every, atol=1e-6)
    rows = lambda x, r: x[:, 0, r]
    assert torch.allclose(rows(none, [1, 2]), rows(every, [1, 2]), atol=1e-6)
    assert torch.allclose(rows(none, [3]), rows(base, [3])) and not torch.allclose(rows(every, [3]), rows(base, [3]))


def test_context_render_with_parts_walks_each_group_along_its_own_vector():
    """d [G, D] with layers = G groups: group k's rows move as a plain walk along d[k] on those layers would."""
    import torch
    from model.demo.guided import GuideContexts, parts_unit
    from model.directions.walk import normalise

    D, n = 8, 3

    torch.manual_seed(0)
    ctx = GuideContexts(rows_generator(D), normalise(torch.randn(n, D)), normalise(torch.randn(n, 4, D)), torch.zeros(n, 1, 1, D), f_res=1)
    a, b = torch.randn(D) / 4, torch.randn(D) / 4
    parted = ctx.render(torch.stack([a, b]), 2.0, layers=[[0, 1], [3]])
    rows = lambda x, r: x[:, 0, r]
    assert torch.allclose(rows(parted, [0, 1]), rows(ctx.render(a, 2.0, layers=[0, 1]), [0, 1]), atol=1e-6)
    assert torch.allclose(rows(parted, [3]), rows(ctx.render(b, 2.0, layers=[3]), [3]), atol=1e-6)
    assert torch.allclose(rows(parted, [2]), rows(ctx.render(), [2]))
    # the parts' scale: squared norms averaged over the layers are 1
    u = parts_unit(torch.stack([a, b]), [2, 1])
    assert abs(float((2 * u[0].pow(2).sum() + u[1].pow(2).sum()) / 3) - 1) < 1e-5


def test_guided_parts_beat_one_shared_vector_where_groups_read_heads_differently():
    """A toy where head 0 reads z direction a on both layer groups (twice as much on group 1) and head 1 reads a on
    group 0 only: one shared vector cannot move head 0 without head 1, one vector per group can (walk group 1). The
    per-group fit must cut the worst-other ratio and shift the walk to group 1."""
    import torch
    from torch import nn
    from model.demo.guided import GuideContexts, guided_direction
    from model.directions.walk import normalise

    torch.manual_seed(0)
    D = 8

    class ToyG(nn.Module):
        n_latent, style_dim = 2, D

        def mapping(self, z):
            return z

        def synthesis(self, wplus):
            return wplus.reshape(len(wplus), 2 * D)

    a = torch.zeros(D)
    a[0] = 1.0
    c = torch.zeros(D)
    c[1] = 1.0
    guide = nn.Linear(2 * D, 3, bias=False)
    with torch.no_grad():
        guide.weight.zero_()
        guide.weight[0, :D], guide.weight[0, D:] = a, 2 * a
        guide.weight[1, :D] = 1.5 * a
        guide.weight[2, D:] = c
    ctx = GuideContexts(ToyG(), normalise(torch.randn(256, D)))
    spread = torch.ones(3)
    init = a.numpy().astype(np.float64)

    def ratio(d, layers=None):
        with torch.no_grad():
            delta = guide(ctx.render(torch.as_tensor(d, dtype=torch.float32), 2.0, layers=layers)) - guide(ctx.render())
        return float(delta[:, 1:].abs().mean(0).max() / delta[:, 0].mean())

    shared, _ = guided_direction(ctx, guide, spread, 0, [1, 2], init, steps=150, gen=torch.Generator().manual_seed(0),
                                 log=lambda m: None)
    parts, _ = guided_direction(ctx, guide, spread, 0, [1, 2], init, steps=300, gen=torch.Generator().manual_seed(0),
                                log=lambda m: None, groups=[[0], [1]])
    assert parts.shape == (2, D)
    assert ratio(parts, [[0], [1]]) < 0.75 * ratio(shared)
    assert np.linalg.norm(parts[1]) > 2 * np.linalg.norm(parts[0])   # the walk moved to the group that holds head 1
    # pick: the best iterate of the second half on fixed contexts (a different draw of batches, so another path)
    picked, terms = guided_direction(ctx, guide, spread, 0, [1, 2], init, steps=300, gen=torch.Generator().manual_seed(0),
                                     log=lambda m: None, groups=[[0], [1]], pick=25)
    assert 150 <= terms['picked_step'] <= 300 and terms['picked_loss'] <= terms['loss'] + 0.5
    assert ratio(picked, [[0], [1]]) < 0.9 * ratio(shared)


def test_guided_file_holds_fitted_and_reused_fits(tmp_path):
    from model.demo.directions import write_guided
    fitted = {'guided': {'smile': ([0.1, 0.2], {'own': 1.0})}, 'refined': {}}
    path = tmp_path / 'guided.json'
    write_guided(path, 'abc', fitted)  # a run without --guided-in
    saved = json.load(open(path))
    assert saved == {'generator_sha': 'abc', 'guided': {'smile': [[0.1, 0.2], {'own': 1.0}]}, 'refined': {}, 'parts': {}}
    reused = {'guided': {'smile': (np.zeros(2), {'own': 9.0}), 'hat': (np.ones(2), {'own': 2.0})},
              'refined': {'bald': ([0.5, 0.5], {'own': 0.3}, [0, 3])}}
    write_guided(path, 'abc', fitted, reused)
    saved = json.load(open(path))
    assert saved['guided']['smile'] == [[0.1, 0.2], {'own': 1.0}]  # this run's fit wins over the reused one
    assert saved['guided']['hat'] == [[1.0, 1.0], {'own': 2.0}]
    assert saved['refined']['bald'] == [[0.5, 0.5], {'own': 0.3}, [0, 3]]
