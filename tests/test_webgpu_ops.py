"""Every graph a pack ships runs wholly on onnxruntime-web's WebGPU provider:

- every node's op (at the opset the graph imports) has a WebGPU kernel. The list is onnxruntime-web's own
  docs/webgpu-operators.md in node_modules, generated from the provider's kernel definitions, so it follows the
  installed version instead of a hand-typed copy;
- no tensor is boolean: ORT's NHWC layout pass moves Transposes onto such masks (Greater -> Where) and the WebGPU
  provider has no boolean Transpose, so those nodes ran on the CPU with a round trip per step (docs/WEBGPU.md);
- the float-only leaky ReLU backward that replaces the mask is bit-identical to autograd.
"""
import json
import math
import re

import onnx
import pytest
import torch
from torch.nn import functional as F

from conftest import REPO
from model.export.autograd_trace import trace

OPS_TABLE = REPO / 'node_modules' / 'onnxruntime-web' / 'docs' / 'webgpu-operators.md'
# shape-only ops: ORT folds them at session creation (all shapes are static; ConstantOfShape has no WebGPU kernel
# and is only ever fed a constant shape here) or runs them as views (the table marks Reshape/Shape 'no GPU kernel')
SHAPE_OPS = {'Constant', 'Identity', 'Shape', 'Reshape', 'ConstantOfShape'}
DOMAINS = {'ai.onnx': '', 'com.microsoft': 'com.microsoft'}


def webgpu_kernels():
    """{(domain, op): [(first, last or None)]} from onnxruntime-web's operator table."""
    if not OPS_TABLE.is_file():
        pytest.skip(f'{OPS_TABLE} not found (npm ci)')
    kernels = {}
    for line in OPS_TABLE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) < 2 or not re.fullmatch(r'[A-Za-z0-9]+', cells[0]) or cells[0] == 'Operator':
            continue
        for dom, ranges in re.findall(r'([a-z.]+)\(([^)]*)\)', cells[1]):
            if dom not in DOMAINS:
                continue
            spans = kernels.setdefault((DOMAINS[dom], cells[0]), [])
            for r in ranges.split(','):
                r = r.strip()
                if r.endswith('+'):
                    spans.append((int(r[:-1]), None))
                elif '-' in r:
                    a, b = r.split('-')
                    spans.append((int(a), int(b)))
                else:
                    spans.append((int(r), int(r)))
    return kernels


def unsupported_nodes(model, kernels):
    """'<op>@<since version>' for every node without a WebGPU kernel at the version the graph's opset selects."""
    opsets = {o.domain or '': o.version for o in model.opset_import}
    bad = set()
    for node in model.graph.node:
        dom = node.domain or ''
        if dom == '' and node.op_type in SHAPE_OPS:
            continue
        try:
            since = onnx.defs.get_schema(node.op_type, opsets.get(dom, 1), dom).since_version
        except Exception:  # noqa: BLE001 - unknown op: reported below
            since = -1
        spans = kernels.get((dom, node.op_type), [])
        if not any(a <= since and (b is None or since <= b) for a, b in spans):
            bad.add(f'{dom + "." if dom else ""}{node.op_type}@{since}')
    return bad


def data_bool_tensors(model):
    """Boolean tensors computed from the graph's inputs (after shape inference). Masks on shapes (the exporter's
    Equal/Where on a Shape for expand) depend only on static shapes: ORT folds them at session creation."""
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in list(g.input) + list(g.output) + list(g.value_info)}
    dynamic = {i.name for i in g.input}
    for node in g.node:  # topological order
        if node.op_type != 'Shape' and any(i in dynamic for i in node.input):
            dynamic.update(node.output)
    return {n for n in dynamic if types.get(n) == onnx.TensorProto.BOOL}


def pack_graphs(pack_dir):
    manifest = json.loads((pack_dir / 'manifest.json').read_text())
    return {key: onnx.load(str(pack_dir / g['file']), load_external_data=False) for key, g in manifest['graphs'].items()}


def test_operator_table_read():
    k = webgpu_kernels()
    assert len(k) > 80
    for op in ('Conv', 'ConvTranspose', 'Gemm', 'Mul', 'Clip', 'Ceil', 'Transpose'):
        assert ('', op) in k, op
    assert ('', 'Sign') not in k  # absent today: the leaky ReLU backward must not use it while it is


@pytest.mark.parametrize('slope', [0.2, 0.01, 0.0])
def test_leaky_relu_backward_is_autograd_bit_for_bit(slope):
    torch.manual_seed(0)
    x = torch.randn(2, 8, 16, 16) * 3
    x.view(-1)[:7] = torch.tensor([0.0, -0.0, 1e-45, -1e-45, 1e-39, 5.0, 1e30])
    g = torch.randn_like(x)
    g.view(-1)[:7] = -1.0

    def grad(x, g):
        x = x.requires_grad_(True)
        return torch.autograd.grad(F.leaky_relu(x, slope) * 2 ** 0.5, x, g)[0]

    gm = trace(grad, x.clone(), g.clone())
    ops = {str(n.target) for n in gm.graph.nodes if n.op == 'call_function'}
    if slope:
        assert not any('gt' in o or 'where' in o for o in ops), ops
    got, ref = gm(x.clone(), g.clone()), grad(x.clone(), g.clone())
    assert torch.equal(got.view(torch.int32), ref.view(torch.int32))


@pytest.fixture(scope='module')
def exported(tmp_path_factory, ref_dir):
    """The 64 px reference exported with every graph the exporter writes (opt-in ones too) and the fp16 copies."""
    from model.export.cli import export_pack
    from model.export.contract_generated import EXPORTED_GRAPHS
    out = tmp_path_factory.mktemp('webgpu') / 'reference-64'
    export_pack(str(ref_dir / 'checkpoint.pt'), str(out), title='reference 64', fp16=True, keys=list(EXPORTED_GRAPHS),
                log=lambda *a: None)
    return out


def test_exported_graphs_run_on_webgpu(exported):
    kernels = webgpu_kernels()
    graphs = pack_graphs(exported)
    assert {'grad_fzplus@fp16', 'grad_s', 'grad_fzplus_anchored'} <= set(graphs)
    for key, model in graphs.items():
        assert not unsupported_nodes(model, kernels), (key, unsupported_nodes(model, kernels))
        assert not data_bool_tensors(model), (key, sorted(data_bool_tensors(model))[:5])


@pytest.mark.parametrize('pack', ['demo64', 'tiny-test'])
def test_shipped_graphs_have_webgpu_kernels(pack):
    kernels = webgpu_kernels()
    d = REPO / 'public' / 'models' / pack
    if not (d / 'manifest.json').is_file():
        pytest.skip(f'{d} not found')
    for key, model in pack_graphs(d).items():
        assert not unsupported_nodes(model, kernels), (pack, key, unsupported_nodes(model, kernels))


def test_upsampling_conv_split_by_channels(monkeypatch):
    """Where the stride-2 transposed conv's output would pass BINDING_BYTES, it runs by groups of output channels:
    the image and the gradient equal the unsplit ones to float32 rounding, and the traced gradient graph holds no
    tensor above the limit from it."""
    from model.nets import stylegan2 as sg
    torch.manual_seed(0)
    G = sg.Generator(64, 64, 2, channels={4: 32, 8: 32, 16: 16, 32: 16, 64: 12}).eval()
    for p in G.parameters():
        p.requires_grad_(False)
    wp = torch.randn(1, G.n_latent, 64)

    def image_and_grad(w):
        w = w.requires_grad_(True)
        img = G.synthesis(w)
        return img, torch.autograd.grad((img ** 2).mean(), w)[0]

    img0, g0 = image_and_grad(wp.clone())
    limit = 4 * 12 * 65 * 65 - 1  # the 64 px layer's 12 channels no longer fit: 2 groups of 6
    monkeypatch.setattr(sg, 'BINDING_BYTES', limit)
    gm = trace(image_and_grad, wp.clone())
    assert sum('cat' in str(n.target) for n in gm.graph.nodes) == 1
    from torch.fx.passes.shape_prop import ShapeProp
    ShapeProp(gm).propagate(wp.clone())
    sizes = [4 * math.prod(n.meta['tensor_meta'].shape) for n in gm.graph.nodes
             if n.op == 'call_function' and hasattr(n.meta.get('tensor_meta'), 'shape')]
    assert sizes and max(sizes) <= limit, max(sizes)
    for got in (image_and_grad(wp.clone()), gm(wp.clone())):
        assert (got[0] - img0).abs().max() <= 1e-5 * img0.abs().max()
        assert (got[1] - g0).abs().max() <= 1e-5 * g0.abs().max()
