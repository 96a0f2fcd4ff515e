"""Winograd F(m, 3) convolutions (model/export/winograd.py): the same convolution as conv2d, forward and in the traced
gradient graphs, in PyTorch and in onnxruntime."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from model.export import winograd
from model.export.autograd_trace import trace

aten = torch.ops.aten


@pytest.mark.parametrize('m', [2, 4])
@pytest.mark.parametrize('shape,padding', [((1, 5, 9, 7), (1, 1)), ((1, 3, 8, 8), (0, 0)), ((1, 4, 6, 11), (2, 2)),
                                           ((1, 2, 5, 5), (1, 0))])
def test_conv3x3_is_conv2d_in_float64(m, shape, padding):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    w = torch.randn(6, shape[1], 3, 3, generator=g, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    y = winograd.conv3x3(x, winograd.weight_transform(w, m), b, padding, m)
    assert y.shape == F.conv2d(x, w, b, 1, padding).shape
    assert torch.allclose(y, F.conv2d(x, w, b, 1, padding), atol=1e-10, rtol=0)


@pytest.mark.parametrize('m,bound', [(2, 1e-5), (4, 1e-4)])
def test_conv3x3_float32_error(m, bound):
    """float32 error against float64, relative to the output's scale, next to conv2d's own float32 error."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 128, 16, 16, generator=g)
    w = torch.randn(128, 128, 3, 3, generator=g) / 34
    ref = F.conv2d(x.double(), w.double(), None, 1, 1)
    rel = lambda y: float((y.double() - ref).abs().max() / ref.abs().max())
    direct, wino = rel(F.conv2d(x, w, None, 1, 1)), rel(winograd.conv3x3(x, winograd.weight_transform(w, m), None, (1, 1), m))
    assert wino < bound, (wino, direct)


@pytest.mark.parametrize('m', [2, 4])
def test_weight_transform_as_graph_ops(m):
    """The in-graph transform (what the pack carries) equals the float64 one; backward = flipped, transposed weight."""
    w = torch.randn(8, 5, 3, 3, dtype=torch.float64)
    assert torch.allclose(winograd.weight_transform_graph(w, m), winograd.weight_transform(w, m), atol=1e-12)
    wb = w.flip([2, 3]).transpose(0, 1)
    assert torch.allclose(winograd.weight_transform_graph(w, m, backward=True), winograd.weight_transform(wb, m), atol=1e-12)


def test_eligibility_rules():
    ok = dict(stride=[1, 1], padding=[1, 1], dilation=[1, 1], transposed=False, groups=1)
    assert winograd.eligible((1, 128, 16, 16), (128, 128, 3, 3), **ok)
    assert winograd.eligible((1, 64, 32, 32), (64, 64, 3, 3), **ok)
    assert not winograd.eligible((1, 32, 64, 64), (32, 32, 3, 3), **ok)           # few channels: no gain
    assert not winograd.eligible((1, 512, 16, 16), (512, 512, 3, 3), **ok)        # transformed weight too big
    assert not winograd.eligible((1, 64, 128, 128), (64, 64, 3, 3), **ok)         # large image
    assert not winograd.eligible((1, 128, 16, 16), (128, 128, 1, 1), **ok)
    assert not winograd.eligible((2, 128, 16, 16), (128, 128, 3, 3), **ok)
    assert not winograd.eligible((1, 128, 16, 16), (128, 128, 3, 3), **{**ok, 'stride': [2, 2]})
    assert not winograd.eligible((1, 128, 16, 16), (128, 128, 3, 3), **{**ok, 'groups': 2})
    assert not winograd.eligible((1, 128, 16, 16), (128, 128, 3, 3), **{**ok, 'transposed': True})


class TwoConvs(torch.nn.Module):
    """conv -> leaky relu -> conv, 64 channels (weights above grad_graphs.SMALL_CONST: the backward conv is a
    ConvTranspose unless Winograd takes it as a flipped-weight conv)."""
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(2)
        self.w1 = torch.randn(64, 64, 3, 3, generator=g) / 24
        self.w2 = torch.randn(64, 64, 3, 3, generator=g) / 24
        self.b1 = torch.randn(64, generator=g)

    def loss(self, x):
        h = F.leaky_relu(F.conv2d(x, self.w1, self.b1, 1, 1), 0.2)
        return (F.conv2d(h, self.w2, None, 1, 1) ** 2).mean()

    def grad(self, x):
        x = x.detach().requires_grad_(True)
        loss = self.loss(x)
        return loss, torch.autograd.grad(loss, [x])[0]


def _ops(gm):
    return [n.target for n in gm.graph.nodes if n.op == 'call_function']


def _conv_kernels(gm):
    """Kernel shapes of the traced convolutions (the weight is a folded constant attribute)."""
    out = []
    for n in gm.graph.nodes:
        if n.op == 'call_function' and n.target == aten.convolution.default:
            w = n.args[1]
            out.append(tuple(getattr(gm, w.target).shape) if w.op == 'get_attr' else None)
    return out


def test_traced_gradient_graph_uses_winograd_and_matches_autograd():
    mod, x = TwoConvs(), torch.randn(1, 64, 12, 12)
    plain, wino = trace(lambda a: mod.grad(a), x), trace(lambda a: mod.grad(a), x, winograd_m=4)
    # direct: two forward convs + the backward of each (conv_transpose for these 36864-value weights)
    assert [k for k in _conv_kernels(plain) if k and k[2:] == (3, 3)]
    # Winograd: no 3x3 convolution left (forward and backward); the products are batched matmuls
    assert not [k for k in _conv_kernels(wino) if k and k[2:] == (3, 3)]
    assert _ops(wino).count(aten.bmm.default) == 4  # 2 forward + the input gradient of each
    loss, gx = mod.grad(x)  # direct float32 convs
    l2, g2 = wino(x)
    xd = x.double()
    mod64 = TwoConvs()
    for k in ('w1', 'w2', 'b1'):
        setattr(mod64, k, getattr(mod64, k).double())
    _, g64 = mod64.grad(xd)
    rel = lambda a: float((a.double() - g64).abs().max() / g64.abs().max())
    assert abs(float(l2) - float(loss)) < 1e-5 * abs(float(loss))
    assert rel(g2) < 1e-4 and rel(gx) < 1e-5


def test_input_dependent_weight_is_not_baked_in():
    """A conv whose weight comes from a graph input must stay a convolution (Winograd precomputes constant weights)."""
    def f(x, w):
        return F.conv2d(x, w, None, 1, 1)
    x, w = torch.randn(1, 64, 8, 8), torch.randn(64, 64, 3, 3)
    gm = trace(f, x, w, winograd_m=4)
    assert aten.bmm.default not in _ops(gm)
    w2 = torch.randn(64, 64, 3, 3)
    assert torch.allclose(gm(x, w2), F.conv2d(x, w2, None, 1, 1), atol=1e-5)


def test_winograd_graph_in_onnxruntime(tmp_path):
    from model.runtime import ort_node
    from model.export.onnx_pack import to_onnx
    import onnx
    if not ort_node.available():
        pytest.skip('onnxruntime-node not installed (npm ci)')
    mod, x = TwoConvs(), torch.randn(1, 64, 12, 12)
    gm = trace(lambda a: mod.grad(a), x, winograd_m=4)
    model = to_onnx(gm, {'x': x}, ['loss', 'grad_x'])
    ops = {n.op_type for n in model.graph.node}
    assert 'MatMul' in ops and 'ConvTranspose' not in ops
    # only the weights are stored, not their 4x larger transforms (onnxruntime folds the transform at load)
    from onnx import numpy_helper
    sizes = sorted(numpy_helper.to_array(t).size for t in model.graph.initializer)
    assert sizes[-1] == 64 * 64 * 9 and sum(s for s in sizes if s > 2000) == 2 * 64 * 64 * 9, sizes[-4:]
    path = tmp_path / 'g.onnx'
    onnx.save(model, str(path))
    want = [t.detach().numpy() for t in gm(x)]
    for backend in ('node', 'web'):
        out = ort_node.run([(str(path), {'x': x.numpy()})], backend=backend)[0]['outputs']
        assert np.abs(out['grad_x'] - want[1]).max() <= 1e-5 * np.abs(want[1]).max(), backend
