"""ONNX export of pack graphs and the shared, deduplicated external-data file `weights.bin`.

Every initializer of at least MIN_BYTES is stored once in weights.bin (keyed by the sha256 of its bytes) and
referenced from each graph as ONNX external data (location "weights.bin", offset, length). onnxruntime-node
finds the file next to the graph; onnxruntime-web takes it through the session option
`externalData: [{ path: 'weights.bin', data: <url or bytes> }]`.
"""
import hashlib
import io
import os
import warnings

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from model.load.checkpoint import sha256_file

OPSET = 17
MIN_BYTES = 1024
ALIGN = 64
DTYPES = {onnx.TensorProto.FLOAT: 'float32', onnx.TensorProto.FLOAT16: 'float16', onnx.TensorProto.INT64: 'int64',
          onnx.TensorProto.INT32: 'int32', onnx.TensorProto.UINT8: 'uint8'}


def to_onnx(module, inputs, output_names):
    """torch.onnx.export into an in-memory ModelProto (opset 17, static shapes, constants folded)."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():  # grad graphs are already traced: no autograd here
        warnings.simplefilter('ignore')
        torch.onnx.export(module, tuple(inputs.values()), buf, opset_version=OPSET, input_names=list(inputs),
                          output_names=list(output_names), do_constant_folding=True)
    model = onnx.load_from_string(buf.getvalue())
    constants_to_initializers(model)
    set_output_shapes(model, module, inputs)
    return model


def set_output_shapes(model, module, inputs):
    """Outputs of make_fx-traced gradient graphs come out of torch.onnx.export without static dims: the manifest
    (and ORT's GPU output buffers) need them, so take them from one run of the module itself."""
    with torch.no_grad():
        outs = module(*inputs.values())
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    for value, out in zip(model.graph.output, outs):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == out.dim() and all(d.HasField('dim_value') and d.dim_value > 0 for d in dims):
            continue
        del dims[:]
        for n in out.shape:
            dims.add().dim_value = int(n)


def constants_to_initializers(model, moves=lambda t: numpy_helper.to_array(t).nbytes >= MIN_BYTES):
    """Constant nodes whose tensor `moves` (default: the large ones) become initializers, so that they can live in
    weights.bin too."""
    g = model.graph
    keep = []
    for node in g.node:
        if node.op_type == 'Constant' and len(node.attribute) == 1 and node.attribute[0].name == 'value' \
                and moves(node.attribute[0].t):
            t = onnx.TensorProto.FromString(node.attribute[0].t.SerializeToString())
            t.name = node.output[0]
            g.initializer.append(t)
            continue
        keep.append(node)
    del g.node[:]
    g.node.extend(keep)


class WeightsFile:
    """Append-only blob of unique tensors."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, 'wb')
        self.index = {}
        self.size = 0
        self.dedup_saved = 0

    def add(self, raw):
        key = hashlib.sha256(raw).hexdigest()
        if key in self.index:
            self.dedup_saved += len(raw)
            return self.index[key]
        pad = (-self.size) % ALIGN
        if pad:
            self.f.write(b'\0' * pad)
            self.size += pad
        self.index[key] = (self.size, len(raw))
        self.f.write(raw)
        self.size += len(raw)
        return self.index[key]

    def close(self):
        self.f.close()


def externalize(model, weights, location='weights.bin'):
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.nbytes < MIN_BYTES:
            continue
        offset, length = weights.add(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder('<')).tobytes())
        name, dims, dtype = init.name, list(init.dims), init.data_type
        init.Clear()
        init.name, init.data_type = name, dtype
        init.dims.extend(dims)
        init.data_location = onnx.TensorProto.EXTERNAL
        for k, v in (('location', location), ('offset', str(offset)), ('length', str(length))):
            e = init.external_data.add()
            e.key, e.value = k, v


def io_specs(model):
    """([input specs], [output specs]) of an ONNX model as the manifest lists them; initializers that an older
    exporter also lists as graph inputs are not inputs."""
    def spec(v):
        t = v.type.tensor_type
        return {'name': v.name, 'shape': [int(d.dim_value) for d in t.shape.dim], 'dtype': DTYPES[t.elem_type]}
    inits = {i.name for i in model.graph.initializer}
    return [spec(v) for v in model.graph.input if v.name not in inits], [spec(v) for v in model.graph.output]


def save_graph(model, out_dir, key, weights, precision='fp32'):
    """Externalize into weights, write `<key>.onnx`, return the manifest graph entry."""
    inputs, outputs = io_specs(model)
    onnx.checker.check_model(model)
    externalize(model, weights)
    fname = key.replace('@', '.') + '.onnx'
    path = os.path.join(out_dir, fname)
    with open(path, 'wb') as f:
        f.write(model.SerializeToString())
    return {'file': fname, 'sha256': sha256_file(path), 'bytes': os.path.getsize(path), 'precision': precision,
            'externalData': True, 'inputs': inputs, 'outputs': outputs}


def op_types(model):
    return sorted({n.op_type for n in model.graph.node})
