"""fp16 copies of pack graphs (`<key>@fp16`), float32 inputs and outputs in both kinds, so the engine feeds
either copy the same tensors:

* forward graphs (`to_fp16`): float16 weights and arithmetic; inputs cast to float16 on entry, outputs back to
  float32. For WebGPU adapters with `shader-f16`.
* gradient graphs (`weights_to_fp16`): float16 *weights* (half the bytes in weights.bin), float32 arithmetic.
  A float16 backward is not usable: the loss means divide by up to 3 * 1024^2 (> 65504, the fp16 maximum) and
  the resulting per-pixel gradients (~1e-7) fall into fp16's subnormal range.
The fp32 graphs stay the reference.
"""
import numpy as np
import onnx
from onnx import helper, numpy_helper

F32, F16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16


def _half_tensor(t):
    if t.data_type != F32:
        return t
    arr = numpy_helper.to_array(t)
    return numpy_helper.from_array(np.clip(arr, -65504, 65504).astype(np.float16), t.name)


def to_fp16(model):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    for i, t in enumerate(g.initializer):
        if t.data_type == F32:
            g.initializer[i].CopyFrom(_half_tensor(t))
    for node in g.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == F32:
                a.t.CopyFrom(_half_tensor(a.t))
            if node.op_type == 'Cast' and a.name == 'to' and a.i == F32:
                a.i = F16
    casts_in, rename = [], {}
    for v in g.input:
        if v.type.tensor_type.elem_type == F32:
            rename[v.name] = v.name + '__fp16'
            casts_in.append(helper.make_node('Cast', [v.name], [rename[v.name]], to=F16))
    for node in g.node:
        for k, name in enumerate(node.input):
            if name in rename:
                node.input[k] = rename[name]
    casts_out = []
    for v in g.output:
        if v.type.tensor_type.elem_type == F32:
            inner = v.name + '__fp16'
            for node in g.node:
                for k, name in enumerate(node.output):
                    if name == v.name:
                        node.output[k] = inner
                for k, name in enumerate(node.input):
                    if name == v.name:
                        node.input[k] = inner
            casts_out.append(helper.make_node('Cast', [inner], [v.name], to=F32))
    nodes = casts_in + list(g.node) + casts_out
    del g.node[:]
    g.node.extend(nodes)
    del g.value_info[:]
    return m


def weights_to_fp16(model, min_bytes=1024):
    """Large float32 initializers stored as float16 and cast back to float32 at the top of the graph."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    casts = []
    for i, t in enumerate(g.initializer):
        if t.data_type == F32 and numpy_helper.to_array(t).nbytes >= min_bytes:
            name = t.name
            g.initializer[i].CopyFrom(_half_tensor(t))
            g.initializer[i].name = name + '__fp16'
            casts.append(helper.make_node('Cast', [name + '__fp16'], [name], to=F32))
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    return m
