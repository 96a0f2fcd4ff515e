"""public/graphs/adam.onnx is what model/export/adam_graph.py writes, and uses only ops that onnxruntime-web places on
WebGPU (its numbers against the engine's JS Adam: src/engine/inversion/deviceAdam.test.ts)."""
from conftest import REPO
from model.export import adam_graph

# ops with WebGPU kernels at opset 13 (node_modules/onnxruntime-web/docs/webgpu-operators.md; tests/test_webgpu_ops.py)
WEBGPU_OPS = {'Mul', 'Add', 'Sub', 'Div', 'Sqrt', 'ReduceMean'}


def test_committed_graph_is_generated():
    committed = (REPO / 'public' / 'graphs' / 'adam.onnx').read_bytes()
    assert committed == adam_graph.serialised(), 'run /usr/bin/python3 model/export/adam_graph.py'


def test_only_webgpu_ops():
    model = adam_graph.build()
    assert {n.op_type for n in model.graph.node} <= WEBGPU_OPS
    assert [o.version for o in model.opset_import] == [adam_graph.OPSET]
    assert [i.name for i in model.graph.input] == ['param', 'grad', 'm', 'v', 'step_size', 'sqrt_bc2', 'sphere']
    assert [o.name for o in model.graph.output] == ['param_out', 'm_out', 'v_out']
