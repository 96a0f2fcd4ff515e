"""Run a small ONNX graph (e.g. the pack's attribute classifier) in PyTorch, with access to intermediate values.

There is no onnxruntime for Python on this machine; the fidelity bench needs the classifier's logits *and* its
penultimate features (domain FID), so it interprets the graph node by node with torch ops. Covers the ops a small
CNN classifier exports to (Conv, Gemm/MatMul, pooling, activations, BatchNormalization, shape ops).
"""
import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch.nn import functional as F


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads(p, nd=2):
    # onnx pads [x1_begin, x2_begin, x1_end, x2_end] -> F.pad order (last dim first)
    out = []
    for i in reversed(range(nd)):
        out += [p[i], p[i + nd]]
    return out


class OnnxTorch:
    def __init__(self, path_or_model):
        m = onnx.load(path_or_model) if isinstance(path_or_model, str) else path_or_model
        self.model = m
        self.inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in m.graph.initializer}
        self.inputs = [i.name for i in m.graph.input if i.name not in self.inits]
        self.outputs = [o.name for o in m.graph.output]
        self.nodes = list(m.graph.node)

    def penultimate_name(self):
        """Input of the last Gemm/MatMul (the features the final linear layer reads)."""
        for n in reversed(self.nodes):
            if n.op_type in ('Gemm', 'MatMul'):
                return n.input[0]
        raise ValueError('no Gemm/MatMul in graph')

    @torch.no_grad()
    def run(self, feeds, want=None):
        env = dict(self.inits)
        for k, v in feeds.items():
            env[k] = v if torch.is_tensor(v) else torch.from_numpy(np.asarray(v))
        for n in self.nodes:
            ins = [env[i] if i else None for i in n.input]
            outs = self._op(n, ins, _attrs(n))
            if not isinstance(outs, (list, tuple)):
                outs = [outs]
            for name, val in zip(n.output, outs):
                env[name] = val
        names = list(want) if want else self.outputs
        return {k: env[k] for k in names}

    def _op(self, n, x, a):
        t = n.op_type
        if t == 'Conv':
            w = x[1]
            nd = w.dim() - 2
            pads = a.get('pads', [0] * 2 * nd)
            inp = x[0]
            if a.get('auto_pad', b'NOTSET') not in (b'NOTSET', 'NOTSET'):
                raise NotImplementedError('Conv auto_pad')
            sym = all(pads[i] == pads[i + nd] for i in range(nd))
            if not sym:
                inp = F.pad(inp, _pads(pads, nd))
                pads = [0] * 2 * nd
            return F.conv2d(inp, w, x[2] if len(x) > 2 else None, a.get('strides', [1] * nd), pads[:nd],
                            a.get('dilations', [1] * nd), a.get('group', 1))
        if t == 'Gemm':
            A, B = x[0], x[1]
            if a.get('transA', 0):
                A = A.t()
            if a.get('transB', 0):
                B = B.t()
            y = a.get('alpha', 1.0) * (A @ B)
            if len(x) > 2 and x[2] is not None:
                y = y + a.get('beta', 1.0) * x[2]
            return y
        if t == 'MatMul':
            return x[0] @ x[1]
        if t in ('Add', 'Sub', 'Mul', 'Div', 'Pow'):
            return {'Add': torch.add, 'Sub': torch.sub, 'Mul': torch.mul, 'Div': torch.div, 'Pow': torch.pow}[t](x[0], x[1])
        if t == 'Relu':
            return F.relu(x[0])
        if t == 'LeakyRelu':
            return F.leaky_relu(x[0], a.get('alpha', 0.01))
        if t == 'Sigmoid':
            return torch.sigmoid(x[0])
        if t == 'Tanh':
            return torch.tanh(x[0])
        if t == 'Sqrt':
            return torch.sqrt(x[0])
        if t == 'Exp':
            return torch.exp(x[0])
        if t == 'Neg':
            return -x[0]
        if t == 'Reciprocal':
            return 1.0 / x[0]
        if t == 'Erf':
            return torch.erf(x[0])
        if t == 'Softmax':
            return torch.softmax(x[0], a.get('axis', -1))
        if t == 'Clip':
            lo = x[1] if len(x) > 1 and x[1] is not None else a.get('min', None)
            hi = x[2] if len(x) > 2 and x[2] is not None else a.get('max', None)
            return torch.clamp(x[0], None if lo is None else float(lo), None if hi is None else float(hi))
        if t == 'BatchNormalization':
            return F.batch_norm(x[0], x[3], x[4], x[1], x[2], False, 0.0, a.get('epsilon', 1e-5))
        if t in ('MaxPool', 'AveragePool'):
            k = a['kernel_shape']
            nd = len(k)
            pads = a.get('pads', [0] * 2 * nd)
            s = a.get('strides', [1] * nd)
            inp = x[0]
            if not all(pads[i] == pads[i + nd] for i in range(nd)):
                inp = F.pad(inp, _pads(pads, nd), value=(-float('inf') if t == 'MaxPool' else 0.0))
                pads = [0] * 2 * nd
            if t == 'MaxPool':
                return F.max_pool2d(inp, k, s, pads[:nd], ceil_mode=bool(a.get('ceil_mode', 0)))
            return F.avg_pool2d(inp, k, s, pads[:nd], ceil_mode=bool(a.get('ceil_mode', 0)),
                                count_include_pad=bool(a.get('count_include_pad', 0)))
        if t == 'GlobalAveragePool':
            return x[0].mean(dim=tuple(range(2, x[0].dim())), keepdim=True)
        if t == 'GlobalMaxPool':
            return x[0].amax(dim=tuple(range(2, x[0].dim())), keepdim=True)
        if t == 'Flatten':
            ax = a.get('axis', 1)
            return x[0].reshape(int(np.prod(x[0].shape[:ax])) if ax else 1, -1)
        if t == 'Reshape':
            shape = [int(v) for v in x[1].tolist()]
            shape = [x[0].shape[i] if v == 0 and not a.get('allowzero', 0) else v for i, v in enumerate(shape)]
            return x[0].reshape(shape)
        if t == 'Transpose':
            return x[0].permute(*a['perm']) if 'perm' in a else x[0].permute(*reversed(range(x[0].dim())))
        if t == 'Concat':
            return torch.cat([v for v in x if v is not None], a['axis'])
        if t in ('ReduceMean', 'ReduceSum', 'ReduceMax'):
            axes = a.get('axes', None)
            if axes is None and len(x) > 1 and x[1] is not None:
                axes = x[1].tolist()
            kd = bool(a.get('keepdims', 1))
            axes = tuple(axes) if axes is not None else tuple(range(x[0].dim()))
            fn = {'ReduceMean': torch.mean, 'ReduceSum': torch.sum, 'ReduceMax': torch.amax}[t]
            return fn(x[0], dim=axes, keepdim=kd)
        if t == 'Constant':
            return torch.from_numpy(numpy_helper.to_array(a['value']).copy())
        if t in ('Identity', 'Dropout'):
            return x[0]
        if t == 'Shape':
            return torch.tensor(list(x[0].shape), dtype=torch.int64)
        if t == 'Gather':
            idx = x[1].long()
            return torch.index_select(x[0], a.get('axis', 0), idx.reshape(-1)).reshape(
                list(x[0].shape[:a.get('axis', 0)]) + list(idx.shape) + list(x[0].shape[a.get('axis', 0) + 1:]))
        if t == 'Unsqueeze':
            axes = a.get('axes', None)
            if axes is None:
                axes = x[1].tolist()
            y = x[0]
            for ax in sorted(axes):
                y = y.unsqueeze(ax)
            return y
        if t == 'Squeeze':
            axes = a.get('axes', None)
            if axes is None and len(x) > 1 and x[1] is not None:
                axes = x[1].tolist()
            if axes is None:
                return x[0].squeeze()
            y = x[0]
            for ax in sorted(axes, reverse=True):
                y = y.squeeze(ax)
            return y
        if t == 'Pad':
            pads = x[1].tolist()
            val = float(x[2]) if len(x) > 2 and x[2] is not None else 0.0
            nd = x[0].dim()
            return F.pad(x[0], _pads(pads, nd), value=val)
        if t == 'Cast':
            return x[0].to({1: torch.float32, 7: torch.int64, 6: torch.int32, 9: torch.bool, 10: torch.float16}[a['to']])
        if t == 'Resize':
            scales = x[2] if len(x) > 2 and x[2] is not None and x[2].numel() else None
            if scales is not None:
                return F.interpolate(x[0], scale_factor=[float(s) for s in scales.tolist()[2:]], mode='nearest')
            return F.interpolate(x[0], size=[int(s) for s in x[3].tolist()[2:]], mode='nearest')
        raise NotImplementedError(f'op {t} not supported by onnx_torch')
