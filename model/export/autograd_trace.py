"""Exact gradient graphs for ONNX: trace autograd itself with make_fx, then rewrite the few backward ops the
ONNX exporter cannot take into forward ops (torch 1.13).

    convolution_backward   -> grad w.r.t. the input only: for a stride-1 conv with a small weight (<= 16384 values:
                              depthwise blurs, few channels) or a large image (BIG_COL), conv2d with the weight flipped
                              and transposed (ORT runs it 1.5-3x faster than ConvTranspose on WASM, with far less
                              memory; docs/WASM_SPEED.md); else conv_transpose2d / conv2d with the same weight
    leaky_relu_backward    -> g * clip(ceil(clip(x, 0, 1)), slope, 1): float ops only (no boolean mask; below)
    slice_backward         -> constant_pad_nd        select_backward -> unsqueeze + constant_pad_nd
    threshold_backward     -> where                  mse_loss_backward -> 2 (x - t) g / n
    _reshape_alias, _unsafe_view -> reshape          lift_fresh_copy -> identity (constants)

The traced graph computes exactly what autograd computes (same ops, same order); nothing is approximated.
"""
import torch
from torch.nn import functional as F

from model.export import winograd

aten = torch.ops.aten


def _conv_backward(grad_out, x, weight, bias_sizes, stride, padding, dilation, transposed, output_padding, groups,
                   output_mask, winograd_m=0):
    if output_mask[1] or (output_mask[2] and bias_sizes is not None):
        raise NotImplementedError('gradient graphs differentiate w.r.t. activations only (weights are constants)')
    grad_in = None
    if output_mask[0]:
        nd = x.dim() - 2
        if transposed:
            grad_in = F.conv2d(grad_out, weight, None, stride, padding, dilation, groups)
        else:
            k = weight.shape[2:]
            op = [x.shape[2 + i] - ((grad_out.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (k[i] - 1) + 1)
                  for i in range(nd)]
            # ConvTranspose's col2im buffer: (in channels * k * k) x (output pixels) floats, allocated per run
            col = (x.shape[1] // groups) * weight.shape[2] * weight.shape[3] * x.shape[2] * x.shape[3]
            worth = weight.numel() <= SMALL_CONST or (col >= BIG_COL and weight.numel() <= MID_CONST)
            if winograd_m and not winograd.marked_direct(weight) and all(s == 1 for s in stride) and not any(op) and winograd.eligible(
                    grad_out.shape, (weight.shape[1], weight.shape[0], *weight.shape[2:]), [1, 1],
                    [2 - p for p in padding], dilation, False, groups):
                return winograd.conv_input_grad(grad_out, weight, padding, winograd_m), None, None
            grad_in = _conv_transpose_as_conv(grad_out, weight, padding, op, groups, dilation) if worth and all(s == 1 for s in stride) else None
            if grad_in is None:
                grad_in = F.conv_transpose2d(grad_out, weight, None, stride, padding, op, groups, dilation)
    return grad_in, None, None


def _conv_transpose_as_conv(g, weight, padding, output_padding, groups, dilation):
    """conv_transpose2d(g, W, stride 1, padding p, output_padding op) as conv2d(g padded by d(k-1)-p on the left and
    d(k-1)-p+op on the right, W with its taps flipped and in/out swapped): the same products and sums, on an op that
    onnxruntime runs faster (WASM: im2col + GEMM instead of GEMM + col2im). None where it does not apply (groups other
    than 1 or depthwise; padding beyond the kernel). Not used for the large weights of low-resolution layers: they gain
    little in WASM (docs/WASM_SPEED.md) and a second copy would cost memory."""
    cout, cin_g = weight.shape[:2]
    if not (groups == 1 or (cin_g == 1 and cout == groups)):
        return None
    k = weight.shape[2:]
    left = [dilation[i] * (k[i] - 1) - padding[i] for i in range(2)]
    if min(left) < 0:
        return None
    wf = weight.flip([2, 3])
    if groups == 1:
        wf = wf.transpose(0, 1)
    if all(o == 0 for o in output_padding):
        return F.conv2d(g, wf, None, 1, left, dilation, groups)
    g = F.pad(g, (left[1], left[1] + output_padding[1], left[0], left[0] + output_padding[0]))
    return F.conv2d(g, wf, None, 1, 0, dilation, groups)


def _leaky_relu_backward(grad_out, x, negative_slope, self_is_result):
    """g where x > 0, else g * slope, with float ops only: ceil(clip(x, 0, 1)) is 1 for x > 0 and 0 for x <= 0,
    clipped up to the slope it is the factor 1 or slope, and g * factor is bit-identical to autograd's choice
    (g * 1 = g). A boolean mask (Greater + Where) sends nodes to the CPU on onnxruntime-web's WebGPU provider: its
    NHWC layout pass transposes the mask, and WebGPU has no boolean Transpose kernel (docs/WEBGPU.md).
    self_is_result: x is the leaky ReLU's output, which has the input's sign for 0 < slope < 1."""
    slope = float(negative_slope)
    if not 0 < slope < 1:  # (slope 0 would turn g * -0 into +0 where autograd keeps -0)
        return torch.where(x > 0, grad_out, grad_out * negative_slope)
    factor = torch.clamp(torch.ceil(torch.clamp(x, 0.0, 1.0)), slope, 1.0)
    return grad_out * factor


def _slice_backward(grad_out, input_sizes, dim, start, end, step):
    size = input_sizes[dim]
    dim = dim % len(input_sizes)
    start = start if start >= 0 else start + size
    end = min(end if end >= 0 else end + size, size)
    start = min(max(start, 0), size)
    if step != 1:
        raise NotImplementedError('slice_backward with step != 1')
    pad = [0] * (2 * len(input_sizes))
    j = 2 * (len(input_sizes) - 1 - dim)
    pad[j], pad[j + 1] = start, size - end
    return aten.constant_pad_nd(grad_out, pad, 0.0)


def _select_backward(grad_out, input_sizes, dim, index):
    dim = dim % len(input_sizes)
    index = index % input_sizes[dim]
    return _slice_backward(grad_out.unsqueeze(dim), input_sizes, dim, index, index + 1, 1)


def _mse_loss_backward(grad_out, x, target, reduction):
    g = 2 * (x - target) * grad_out
    return g / x.numel() if reduction == 1 else g


def _threshold_backward(grad_out, x, threshold):
    return torch.where(x > threshold, grad_out, torch.zeros_like(grad_out))


def _identity(x):
    return x


def _reshape_alias(x, size, stride):
    return aten.view(x, size)  # _reshape_alias only arises where a view is possible


DECOMPOSITIONS = {
    aten.convolution_backward.default: _conv_backward,
    aten.leaky_relu_backward.default: _leaky_relu_backward,
    aten.slice_backward.default: _slice_backward,
    aten.select_backward.default: _select_backward,
    aten._reshape_alias.default: _reshape_alias,
    aten._unsafe_view.default: lambda x, size: aten.view(x, size),  # reshape of a fresh contiguous copy
    aten.mse_loss_backward.default: _mse_loss_backward,
    aten.threshold_backward.default: _threshold_backward,
    aten.lift_fresh_copy.default: _identity,
}


def _squeeze(x, dim=None):
    return aten.view(x, [s for i, s in enumerate(x.shape) if s != 1 or (dim is not None and i != dim % x.dim())])


DECOMPOSITIONS.update({aten.squeeze.dim: _squeeze, aten.squeeze.default: _squeeze})


LAYOUT_OPS = {aten.t.default, aten.transpose.int, aten.permute.default, aten.expand.default, aten.view.default,
              aten.unsqueeze.default}
SMALL_CONST = 16384  # constants up to this many values are folded; larger layout ops stay in the graph
# Stride-1 conv backward as Conv (flipped weight folded into the pack) where its weight is small, or where ConvTranspose
# would need a col2im buffer of >= BIG_COL floats (64 MB) and the weight copy stays <= MID_CONST values (4 MB): at
# 512-1024 px the 32-128-ch layers' ConvTranspose allocates 0.3-1.2 GB of WASM heap per run (Conv: a small segmented
# buffer) and runs 1.4-1.5x slower (docs/WASM_SPEED.md).
BIG_COL = 1 << 24
MID_CONST = 1 << 20


def _keep_layout_op(node, env):
    """Leave transposes/expands of *large* constants in the graph: the exporter fuses them (Gemm transB) and the
    pack keeps one copy of the weight; folding would store a transposed duplicate."""
    if node.target not in LAYOUT_OPS:
        return False
    src = env[node.args[0]]
    return src.numel() > SMALL_CONST


def fold_constants(gm):
    """Evaluate every node whose inputs are all constants (weights pre-processing, kernels, masks) once, so the
    exported graph holds only the result and only ops on data remain."""
    env, consts = {}, 0
    for node in list(gm.graph.nodes):
        if node.op == 'get_attr':
            env[node] = getattr(gm, node.target)
        elif node.op == 'call_function':
            leaves = []
            torch.fx.node.map_arg((node.args, node.kwargs), leaves.append)
            if all(a in env for a in leaves) and not _keep_layout_op(node, env):
                args, kwargs = torch.fx.node.map_arg((node.args, node.kwargs), lambda a: env[a])
                val = node.target(*args, **kwargs)
                if not isinstance(val, torch.Tensor):
                    continue
                env[node] = val
                name = f'_folded_{consts}'
                consts += 1
                gm.register_buffer(name, val.detach().clone().contiguous())
                with gm.graph.inserting_before(node):
                    new = gm.graph.get_attr(name)
                node.replace_all_uses_with(new)
                env[new] = val
                gm.graph.erase_node(node)
    gm.graph.eliminate_dead_code()
    gm.graph.lint()
    gm.recompile()
    return gm


def trace(fn, *example_inputs, winograd_m=0):
    """make_fx-trace fn (which may call torch.autograd.grad) into an FX GraphModule of forward-only aten ops,
    with constant subexpressions folded. winograd_m 2 or 4: eligible 3x3 convs become Winograd F(m, 3) (winograd.py)."""
    import functools
    from torch.fx.experimental.proxy_tensor import make_fx
    table = dict(DECOMPOSITIONS)
    if winograd_m:
        table.update(winograd.decomposition(winograd_m))
        table[aten.convolution_backward.default] = functools.partial(_conv_backward, winograd_m=winograd_m)
    gm = make_fx(fn, decomposition_table=table)(*example_inputs)
    for node in list(gm.graph.nodes):  # identities the exporter has no symbolic for
        if node.op == 'call_function' and node.target in (aten.lift_fresh_copy.default, aten.detach.default):
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
    gm.graph.eliminate_dead_code()
    return fold_constants(gm)

