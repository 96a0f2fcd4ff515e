"""Winograd F(m x m, 3 x 3) convolutions for the exported graphs (Lavin & Gray 2016, "Fast Algorithms for
Convolutional Neural Networks").

Why: onnxruntime-web's WASM build runs a 3x3 conv as im2col + a 4-lane SGEMM without FMA, ~6x slower per
multiply-add than native AVX-512 (docs/WASM_SPEED.md). F(4x4, 3x3) does the same convolution with 36 products per
16 outputs instead of 144 (4x fewer), in ops ORT already has: a small fixed-kernel Conv (input transform), one
batched MatMul (the products), a Gemm + Transpose (output transform). The weight transform G w G^T is written as
graph ops on the stored weight (Reshape, Gemm, Transpose): onnxruntime folds them once when it creates the session,
so the pack stores only the weights (the transformed copy, 4x larger, exists only in memory).

Used while tracing: forward convs through a `make_fx` decomposition of aten.convolution, their input gradients
through grad_graphs._conv_backward (conv_input_grad: the transform of the flipped, transposed weight, taken from the
same stored weight). Only where it pays off and stays small:
3x3, stride 1, dilation 1, groups 1, batch 1, constant weight, >= MIN_CHANNELS in and out, at most MAX_PIXELS output
pixels and MAX_WEIGHT weight values (the transformed weight, in ORT's memory, is (m+2)^2/9 times the weight's size;
1024 px packs' 512-ch layers are far above it, so they keep direct convs). Numerically F(4,3) in float32 is ~1e-5 relative
(tests/test_winograd.py); F(2,3) (m=2) is closer to direct but gains less.

Convs marked by model.nets.perceptual.keep_direct_convs (the LPIPS VGG) never get Winograd: in a ReLU + max-pool network F(4,3)'s float32
error (~1e-5 of the output scale, ~10x a direct conv's) flips the sign of pre-activations that lie that close to zero,
and a flipped ReLU in a 2x2 pooling window of zeros reroutes the whole window's gradient (amax's backward splits it
over tied maxima): the exported gradient then differs from autograd's by ~1e-2 relative, far more than the rounding
itself. The generator's leaky ReLUs (slope 0.2, no max-pool) only change by a factor at such a point.
"""
import torch
from torch.nn import functional as F

from model.nets.perceptual import marked_direct

aten = torch.ops.aten

MIN_CHANNELS = 64
MAX_PIXELS = 64 * 64
MAX_WEIGHT = 1 << 18

_D = torch.float64
MATRICES = {
    2: (torch.tensor([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=_D),
        torch.tensor([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], dtype=_D),
        torch.tensor([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=_D)),
    4: (torch.tensor([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
                      [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=_D),
        torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
                      [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=_D),
        torch.tensor([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], dtype=_D)),
}


def weight_transform(w, m=4):
    """[Co, Ci, 3, 3] -> U [(m+2)^2, Co, Ci] = G w G^T per (o, i), in float64 then rounded once: the reference that
    weight_transform_graph (what the packs use) is tested against."""
    _, G, _ = MATRICES[m]
    a = m + 2
    u = torch.einsum('ia,ocab,jb->ijoc', G, w.detach().to(_D), G)
    return u.reshape(a * a, w.shape[0], w.shape[1]).to(w.dtype).contiguous()


def transform_matrix(m=4, flip=False, dtype=torch.float32):
    """kron(G, G)^T, [9, (m+2)^2]: w.reshape(-1, 9) @ it = G w G^T for every (o, i) at once. flip: for the 3x3 taps
    in reverse order (the weight of a conv's input gradient), so no flipped copy of the weight is needed."""
    _, G, _ = MATRICES[m]
    k = torch.kron(G, G)  # [(m+2)^2, 9], columns in (a, b) tap order
    if flip:
        k = k.flip(1)
    return k.t().to(dtype).contiguous()


def weight_transform_graph(w, m=4, backward=False):
    """U from the weight with graph ops (Reshape, Gemm, Transpose in ONNX): the pack stores only the weight, and
    onnxruntime folds these constant ops once when it creates the session (the download stays the size of the
    weights; the transformed copy, 4x larger, lives only in memory). backward: U of the weight's input-gradient conv
    (taps flipped, in/out swapped): [(m+2)^2, Ci, Co]."""
    co, ci = w.shape[:2]
    with _no_tracing():
        k = transform_matrix(m, backward, w.dtype)
    u = torch.mm(w.reshape(co * ci, 9), k)  # [Co*Ci, a*a]
    if backward:
        return u.reshape(co, ci, -1).permute(2, 1, 0)
    return u.t().reshape(-1, co, ci)


def _no_tracing():
    from torch.fx.experimental.proxy_tensor import disable_proxy_modes_tracing
    return disable_proxy_modes_tracing()


def input_kernel(m=4, dtype=torch.float32):
    """B^T d B as a conv: one [a, a] kernel per output coefficient, [(m+2)^2, 1, a, a]."""
    BT, _, _ = MATRICES[m]
    a = m + 2
    return torch.einsum('ia,jb->ijab', BT, BT).reshape(a * a, 1, a, a).to(dtype).contiguous()


def output_matrix(m=4, dtype=torch.float32):
    """A^T M A for all tiles at once: kron(A^T, A^T), [m^2, (m+2)^2]."""
    _, _, AT = MATRICES[m]
    return torch.kron(AT, AT).to(dtype).contiguous()


def conv3x3(x, U, bias, padding, m=4):
    """conv2d(x, w, bias, stride 1, padding) with U = weight_transform(w, m); x [1, Ci, H, W]."""
    a = m + 2
    _, ci, h, w = x.shape
    co = U.shape[1]
    ho, wo = h + 2 * padding[0] - 2, w + 2 * padding[1] - 2
    th, tw = -(-ho // m), -(-wo // m)
    with _no_tracing():  # fixed matrices: constants of the graph, not traced computations
        kernel, out_matrix = input_kernel(m, x.dtype), output_matrix(m, x.dtype)
    # pad to whole tiles: the extra bottom/right outputs are cropped below
    xp = F.pad(x, (padding[1], m * tw + 2 - w - padding[1], padding[0], m * th + 2 - h - padding[0]))
    v = F.conv2d(xp.reshape(ci, 1, m * th + 2, m * tw + 2), kernel, None, m)         # [Ci, a*a, th, tw]
    v = v.reshape(ci, a * a, th * tw).permute(1, 0, 2)                                  # [a*a, Ci, T]
    prod = torch.bmm(U, v)                                                              # [a*a, Co, T]
    y = torch.mm(out_matrix, prod.reshape(a * a, co * th * tw))                         # [m*m, Co*T]
    y = y.reshape(m, m, co, th, tw).permute(2, 3, 0, 4, 1).reshape(1, co, m * th, m * tw)
    if m * th != ho or m * tw != wo:
        y = y[:, :, :ho, :wo]
    if bias is not None:
        y = y + bias.reshape(1, co, 1, 1)
    return y


def eligible(x_shape, w_shape, stride, padding, dilation, transposed, groups):
    """Whether conv2d(x, w, ...) of these shapes runs as Winograd (see the module docstring for why these limits)."""
    if transposed or groups != 1 or len(x_shape) != 4 or x_shape[0] != 1 or tuple(w_shape[2:]) != (3, 3):
        return False
    if any(s != 1 for s in stride) or any(d != 1 for d in dilation) or any(p > 2 or p < 0 for p in padding):
        return False
    co, ci = w_shape[:2]
    ho, wo = x_shape[2] + 2 * padding[0] - 2, x_shape[3] + 2 * padding[1] - 2
    return min(co, ci) >= MIN_CHANNELS and co * ci * 9 <= MAX_WEIGHT and 0 < ho * wo <= MAX_PIXELS


def _is_constant(t):
    """True if t is traced only from constants (module weights), never from a graph input."""
    from torch.fx.experimental.proxy_tensor import get_proxy
    p = get_proxy(t)
    if p is None:
        return True  # a plain tensor: a constant
    seen, todo = set(), [p.proxy.node]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        if n.op == 'placeholder':
            return False
        todo.extend(n.all_input_nodes)
    return True


def conv_input_grad(g, weight, padding, m=4):
    """conv_transpose2d(g, weight, stride 1, padding) -- the input gradient of conv2d(x, weight, padding) -- as a
    Winograd conv with the flipped, transposed weight's transform (computed from the weight itself)."""
    return conv3x3(g, weight_transform_graph(weight, m, backward=True), None, [2 - p for p in padding], m)


def decomposition(m=4):
    """A make_fx decomposition of aten.convolution: Winograd where eligible() and the weight is constant, else the
    convolution itself (NotImplemented)."""
    def convolution(x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
        if (marked_direct(weight) or not eligible(x.shape, weight.shape, stride, padding, dilation, transposed, groups)
                or not _is_constant(weight)):
            return NotImplemented
        return conv3x3(x, weight_transform_graph(weight, m), bias, padding, m)
    return {aten.convolution.default: convolution}
