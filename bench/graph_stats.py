"""Static numbers for every graph of a model pack, from the ONNX files alone (no weights read):

    /usr/bin/python3 bench/graph_stats.py PACK_DIR [--graphs k1,k2] [--json]

Per graph: compute nodes (all but Constant), op counts, GFLOP per run, the bytes of its inputs and outputs (what one
run moves between the host and the device when nothing stays on the device), and the largest tensor. Every tensor
gets a shape from ONNX shape inference (the packs have static shapes), so the largest activation of a backward graph
is found, not guessed; initializers count as tensors too (each is one GPU buffer).

FLOP: 2 x multiply-adds for Conv, ConvTranspose, Gemm and MatMul; one per output element for every other op
(elementwise, pads, reductions count their input). bench/webgpu-check.mjs reads --json.
"""
import argparse
import json
import math
import os
import sys

import onnx
import onnx.numpy_helper
from onnx import TensorProto

SIZES = {TensorProto.FLOAT: 4, TensorProto.FLOAT16: 2, TensorProto.DOUBLE: 8, TensorProto.INT64: 8,
         TensorProto.INT32: 4, TensorProto.BOOL: 1, TensorProto.UINT8: 1, TensorProto.INT8: 1}
NAMES = {TensorProto.FLOAT: 'float32', TensorProto.FLOAT16: 'float16', TensorProto.DOUBLE: 'float64',
         TensorProto.INT64: 'int64', TensorProto.INT32: 'int32', TensorProto.BOOL: 'bool'}
MATMUL_OPS = {'Conv', 'ConvTranspose', 'Gemm', 'MatMul'}
REDUCE_OPS = {'ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceSumSquare', 'ReduceL2'}


def _shape(vi):
    t = vi.type.tensor_type
    if not t.HasField('shape'):
        return None
    dims = [d.dim_value if d.HasField('dim_value') else None for d in t.shape.dim]
    return None if any(d is None for d in dims) else dims


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _eval_shape_op(node, x):
    """numpy value of a small shape-computing node (the exporter's expand/reshape arithmetic), or None."""
    import numpy as np
    op = node.op_type
    if op == 'Equal':
        return np.equal(x[0], x[1])
    if op == 'Where':
        return np.where(x[0], x[1], x[2])
    if op in ('Add', 'Sub', 'Mul'):
        return {'Add': np.add, 'Sub': np.subtract, 'Mul': np.multiply}[op](x[0], x[1])
    if op == 'Concat':
        return np.concatenate(x, axis=_attr(node, 'axis', 0))
    if op == 'Gather':
        return np.take(x[0], x[1], axis=_attr(node, 'axis', 0))
    if op == 'Unsqueeze':
        axes = x[1] if len(x) > 1 else _attr(node, 'axes')
        r = x[0]
        for a in sorted(int(v) for v in axes):
            r = np.expand_dims(r, a)
        return r
    if op == 'Cast':
        return x[0].astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[_attr(node, 'to')])
    if op == 'ConstantOfShape':
        v = _attr(node, 'value')
        return np.full([int(d) for d in x[0]], onnx.numpy_helper.to_array(v).reshape(-1)[0] if v is not None else 0.0)
    if op == 'Reshape':
        return x[0].reshape([int(d) for d in x[1]])
    if op == 'Slice':
        r = x[0]
        axes = x[3] if len(x) > 3 else range(len(x[1]))
        steps = x[4] if len(x) > 4 else [1] * len(x[1])
        sl = [slice(None)] * r.ndim
        for st, en, ax, sp in zip(x[1], x[2], axes, steps):
            sl[int(ax)] = slice(int(st), int(en), int(sp))
        return r[tuple(sl)]
    if op == 'Transpose':
        return np.transpose(x[0], _attr(node, 'perm'))
    if op == 'Identity':
        return x[0]
    return None


def _fold_shapes(model):
    """Shape inference, with the small integer subgraphs that feed Expand/Reshape shapes evaluated and stored as
    initializers between rounds (ONNX's own data propagation stops at Equal/Where)."""
    import numpy as np
    for _ in range(8):
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
        g = inferred.graph
        shapes = {vi.name: _shape(vi) for vi in list(g.input) + list(g.output) + list(g.value_info)}
        vals = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer
                if math.prod(t.dims) <= 64 and t.data_location != TensorProto.EXTERNAL}
        for node in model.graph.node:
            if node.op_type == 'Constant' and _attr(node, 'value') is not None:
                vals[node.output[0]] = onnx.numpy_helper.to_array(_attr(node, 'value'))
        inits = {t.name for t in model.graph.initializer}
        added = []
        for node in model.graph.node:
            if node.op_type == 'Constant' or node.output[0] in vals:
                continue
            if node.op_type == 'Shape' and shapes.get(node.input[0]) is not None:
                v = np.array(shapes[node.input[0]], np.int64)
            elif node.input and all(i in vals for i in node.input if i):
                try:
                    v = _eval_shape_op(node, [vals[i] for i in node.input if i])
                except Exception:  # noqa: BLE001 - left to shape inference
                    v = None
                if v is None or np.asarray(v).size > 64:
                    continue
            else:
                continue
            vals[node.output[0]] = np.asarray(v)
            if node.output[0] not in inits:
                added.append(onnx.numpy_helper.from_array(np.asarray(v), node.output[0]))
        if not added:
            return inferred
        keep = [n for n in model.graph.node if n.output[0] not in {t.name for t in added}]
        del model.graph.node[:]
        model.graph.node.extend(keep)
        model.graph.initializer.extend(added)
    return onnx.shape_inference.infer_shapes(model, data_prop=True)


def graph_stats(path):
    model = onnx.load(path, load_external_data=False)
    n_nodes = sum(1 for n in model.graph.node if n.op_type != 'Constant')
    all_ops = {}
    for n in model.graph.node:
        if n.op_type != 'Constant':
            all_ops[n.op_type] = all_ops.get(n.op_type, 0) + 1
    g = _fold_shapes(model).graph
    tensors = {}  # name -> (shape, elem type, producer op)
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        s = _shape(vi)
        if s is not None:
            tensors[vi.name] = (s, vi.type.tensor_type.elem_type, None)
    for init in g.initializer:
        if init.name not in tensors:
            tensors[init.name] = (list(init.dims), init.data_type, 'initializer')
    producer = {}
    for node in g.node:
        for o in node.output:
            producer[o] = node.op_type
    for node in g.node:  # Constant outputs have no value_info: their attribute says
        if node.op_type == 'Constant' and node.attribute and node.attribute[0].type == onnx.AttributeProto.TENSOR:
            t = node.attribute[0].t
            tensors.setdefault(node.output[0], (list(t.dims), t.data_type, 'Constant'))

    def numel(name):
        s = tensors.get(name)
        return math.prod(s[0]) if s else 0

    flops, unknown = 0, 0
    for node in g.node:
        if node.op_type == 'Constant':
            continue
        out = node.output[0]
        if out not in tensors:
            unknown += 1
            continue
        oshape = tensors[out][0]
        if node.op_type in ('Conv', 'ConvTranspose'):
            w = tensors.get(node.input[1])
            if w is None:
                unknown += 1
                continue
            k = math.prod(w[0][2:])
            if node.op_type == 'Conv':  # out elements x (in channels per group) x taps
                flops += 2 * math.prod(oshape) * w[0][1] * k
            else:  # in elements x (out channels per group) x taps
                flops += 2 * numel(node.input[0]) * w[0][1] * k
        elif node.op_type in ('Gemm', 'MatMul'):
            a = tensors.get(node.input[0])
            if a is None:
                unknown += 1
                continue
            trans_a = any(at.name == 'transA' and at.i for at in node.attribute)
            kdim = a[0][-2] if trans_a else a[0][-1]
            flops += 2 * math.prod(oshape) * kdim
        elif node.op_type in REDUCE_OPS:
            flops += numel(node.input[0])
        else:
            flops += math.prod(oshape)

    def entry(name):
        shape, et, prod = tensors[name]
        return {'name': name, 'op': prod or producer.get(name, 'input'), 'shape': shape, 'dtype': NAMES.get(et, str(et)),
                'bytes': math.prod(shape) * SIZES.get(et, 4)}

    sized = [n for n, (s, et, _) in tensors.items()]
    acts = [n for n in sized if tensors[n][2] is None]
    inits = [n for n in sized if tensors[n][2] is not None]
    largest = max((entry(n) for n in acts), key=lambda e: e['bytes'], default=None)
    largest_init = max((entry(n) for n in inits), key=lambda e: e['bytes'], default=None)
    io = sum(entry(v.name)['bytes'] for v in list(g.input) + list(g.output) if v.name in tensors)
    return {'nodes': n_nodes, 'ops': all_ops, 'gflop': flops / 1e9, 'io_bytes': io, 'largest': largest,
            'largest_initializer': largest_init, 'unshaped_nodes': unknown}


def pack_stats(pack_dir, keys=None):
    manifest = json.load(open(os.path.join(pack_dir, 'manifest.json')))
    out = {}
    for key, g in manifest['graphs'].items():
        if keys and key not in keys:
            continue
        out[key] = graph_stats(os.path.join(pack_dir, g['file']))
    return {'pack': manifest.get('name', os.path.basename(os.path.abspath(pack_dir))),
            'resolution': manifest.get('resolution'), 'graphs': out}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('pack')
    ap.add_argument('--graphs', default='')
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args(argv)
    st = pack_stats(a.pack, [k for k in a.graphs.split(',') if k] or None)
    if a.json:
        json.dump(st, sys.stdout)
        return
    mib = 2 ** 20
    print(f"{st['pack']} ({st['resolution']} px)")
    print(f"{'graph':24} {'nodes':>6} {'GFLOP':>9} {'I/O MiB':>8}  largest tensor")
    for k, s in st['graphs'].items():
        L = s['largest']
        lt = f"{L['op']} {L['shape']} {L['dtype']} {L['bytes'] / mib:.2f} MiB" if L else '-'
        print(f"{k:24} {s['nodes']:6d} {s['gflop']:9.3f} {s['io_bytes'] / mib:8.2f}  {lt}")


if __name__ == '__main__':
    main()
