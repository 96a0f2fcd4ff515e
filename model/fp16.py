"""fp16 copies of pack graphs (`<key>@fp16`): float16 weights and arithmetic, float32 inputs and outputs.

Inputs are cast to float16 on entry and outputs back to float32, so the engine feeds both copies the same
tensors. Meant for WebGPU adapters with `shader-f16`; half the weight bytes. Gradients in fp16 are noisy
(reductions over a whole image in half precision): the fp32 graphs stay the reference.
"""
import numpy as np
import onnx
from onnx import helper, numpy_helper

F32, F16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16


def _half_tensor(t):
    if t.data_type != F32:
        return t
    arr = numpy_helper.to_array(t).astype(np.float16)
    h = numpy_helper.from_array(arr, t.name)
    return h


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
