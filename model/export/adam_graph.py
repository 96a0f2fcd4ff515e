"""The app's Adam step as a tiny ONNX graph (public/graphs/adam.onnx), so that an inversion on WebGPU keeps its codes
and optimizer state in GPU buffers (src/engine/inversion/deviceAdam.ts).

Elementwise, the math of src/engine/math/adam.ts `adamStep` (beta1 0.9, beta2 0.999, eps 1e-8):

    m' = beta1 m + (1 - beta1) g
    v' = beta2 v + (1 - beta2) g^2
    p' = p - step_size m' / (sqrt(v') / sqrt_bc2 + eps)

with the per-step scalars step_size = lr / (1 - beta1^t) and sqrt_bc2 = sqrt(1 - beta2^t) as [1] inputs (no pow in
the graph). `sphere` ([1], 0 or 1) selects the Z+ re-normalisation of src/engine/math/sphere.ts `normaliseRows` over
the last axis, p' * 1 / sqrt(mean(p'^2) + 1e-8), as sphere * normalised + (1 - sphere) * p' (exact for 0 and 1).
Shapes are dynamic (any rank). Only ops with onnxruntime-web WebGPU kernels at opset 13: Mul, Add, Sub, Div, Sqrt,
ReduceMean.

    /usr/bin/python3 model/export/adam_graph.py [OUT]    # default: public/graphs/adam.onnx
"""
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BETA1 = 0.9
BETA2 = 0.999
EPS = 1e-8
OPSET = 13
IR_VERSION = 7
DEFAULT_OUT = Path(__file__).resolve().parents[2] / 'public' / 'graphs' / 'adam.onnx'


def build() -> onnx.ModelProto:
    f32 = TensorProto.FLOAT
    dyn = lambda name: helper.make_tensor_value_info(name, f32, None)  # noqa: E731 (any rank and size)
    scalar_in = lambda name: helper.make_tensor_value_info(name, f32, [1])  # noqa: E731
    consts = {
        'beta1': BETA1, 'one_minus_beta1': 1 - BETA1,
        'beta2': BETA2, 'one_minus_beta2': 1 - BETA2,
        'eps': EPS, 'one': 1.0,
    }
    inits = [numpy_helper.from_array(np.array(v, dtype=np.float32), k) for k, v in consts.items()]
    n = helper.make_node
    nodes = [
        n('Mul', ['beta1', 'm'], ['m_keep']),
        n('Mul', ['one_minus_beta1', 'grad'], ['m_new']),
        n('Add', ['m_keep', 'm_new'], ['m_out']),
        n('Mul', ['grad', 'grad'], ['g2']),
        n('Mul', ['beta2', 'v'], ['v_keep']),
        n('Mul', ['one_minus_beta2', 'g2'], ['v_new']),
        n('Add', ['v_keep', 'v_new'], ['v_out']),
        n('Sqrt', ['v_out'], ['v_sqrt']),
        n('Div', ['v_sqrt', 'sqrt_bc2'], ['v_hat_sqrt']),
        n('Add', ['v_hat_sqrt', 'eps'], ['denom']),
        n('Mul', ['step_size', 'm_out'], ['numer']),
        n('Div', ['numer', 'denom'], ['update']),
        n('Sub', ['param', 'update'], ['stepped']),
        # sphere re-normalisation over the last axis, selected by `sphere`
        n('Mul', ['stepped', 'stepped'], ['sq']),
        n('ReduceMean', ['sq'], ['mean_sq'], axes=[-1], keepdims=1),
        n('Add', ['mean_sq', 'eps'], ['mean_sq_eps']),
        n('Sqrt', ['mean_sq_eps'], ['rms']),
        n('Div', ['one', 'rms'], ['inv_rms']),
        n('Mul', ['stepped', 'inv_rms'], ['on_sphere']),
        n('Mul', ['sphere', 'on_sphere'], ['pick_sphere']),
        n('Sub', ['one', 'sphere'], ['not_sphere']),
        n('Mul', ['not_sphere', 'stepped'], ['pick_flat']),
        n('Add', ['pick_sphere', 'pick_flat'], ['param_out']),
    ]
    graph = helper.make_graph(
        nodes,
        'adam',
        [dyn('param'), dyn('grad'), dyn('m'), dyn('v'), scalar_in('step_size'), scalar_in('sqrt_bc2'), scalar_in('sphere')],
        [dyn('param_out'), dyn('m_out'), dyn('v_out')],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)], producer_name='fzplus-adam-graph')
    model.ir_version = IR_VERSION
    # no onnx.checker: onnx 1.12's checker wants a shape on every graph input, and these have unknown rank on purpose
    # (onnxruntime accepts that; src/engine/inversion/deviceAdam.test.ts runs the file)
    return model


def serialised() -> bytes:
    return build().SerializeToString()


def main(argv):
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    data = serialised()
    out.write_bytes(data)
    print(f'{out}: {len(data)} bytes')


if __name__ == '__main__':
    main(sys.argv)
