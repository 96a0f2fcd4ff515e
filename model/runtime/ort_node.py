"""Run ONNX graphs through onnxruntime-node (model/runtime/ort_run.mjs): the Python side has no onnxruntime here."""
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, 'model', 'runtime', 'ort_run.mjs')


class OrtUnavailable(RuntimeError):
    pass


def available():
    return shutil.which('node') is not None and os.path.isdir(os.path.join(REPO, 'node_modules', 'onnxruntime-node'))


def run(runs, threads=1, timeout=1800, backend='node'):
    """runs: list of (onnx_path, {input name: np.ndarray}) or dicts with model/inputs/repeat/warmup.
    backend: 'node' (onnxruntime-node CPU) or 'web' (onnxruntime-web WASM in Node, external data as the app passes it).
    Returns a list of {'outputs': {name: np.ndarray}, 'ms': [...], 'loadMs': float}."""
    if not available():
        raise OrtUnavailable('node + onnxruntime-node (npm ci) are needed to run ONNX graphs')
    tmp = tempfile.mkdtemp(prefix='ort-')
    try:
        job = {'threads': threads, 'backend': backend, 'runs': []}
        for i, r in enumerate(runs):
            r = r if isinstance(r, dict) else {'model': r[0], 'inputs': r[1]}
            ins = {}
            for name, a in r['inputs'].items():
                a = np.ascontiguousarray(a)
                dtype = {np.float32: 'float32', np.int64: 'int64', np.int32: 'int32', np.uint8: 'uint8'}[a.dtype.type]
                f = os.path.join(tmp, f'{i}-in-{name}.bin')
                a.astype(a.dtype.newbyteorder('<')).tofile(f)
                ins[name] = {'file': f, 'shape': list(a.shape), 'dtype': dtype}
            job['runs'].append({'model': os.path.abspath(r['model']), 'inputs': ins, 'outDir': os.path.join(tmp, f'{i}-out'),
                                'repeat': r.get('repeat', 1), 'warmup': r.get('warmup', 0)})
        with open(os.path.join(tmp, 'job.json'), 'w') as f:
            json.dump(job, f)
        p = subprocess.run(['node', SCRIPT, os.path.join(tmp, 'job.json')], capture_output=True, text=True,
                           timeout=timeout, cwd=REPO)
        if p.returncode:
            raise RuntimeError(f'onnxruntime-node failed:\n{p.stderr[-4000:]}')
        results = []
        for i, line in enumerate(l for l in p.stdout.splitlines() if l.startswith('{')):
            res = json.loads(line)
            outs = {n: np.fromfile(os.path.join(tmp, f'{i}-out', f'{n}.bin'), dtype='<f4').reshape(shape)
                    for n, shape in res['outputs'].items()}
            results.append({'outputs': outs, 'ms': res['ms'], 'loadMs': res['loadMs']})
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
