// Run ONNX graphs in onnxruntime-node (CPU) for the Python tests and bench: there is no Python onnxruntime here.
// usage: node model/runtime/ort_run.mjs JOB.json   JOB = {threads, backend: 'node' | 'web', runs: [{model, inputs:
//        {name: {file, shape, dtype}}, outDir, repeat, warmup}]}. backend 'web' = onnxruntime-web WASM, loading
//        external data the way the app does (session option externalData: [{path: 'weights.bin', data}]). Writes <outDir>/<output>.bin (little-endian raw) and prints one JSON line
//        per run: {model, outputs: {name: shape}, ms: [...], loadMs}.
import fs from 'node:fs';
import path from 'node:path';

const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const web = job.backend === 'web';
const ort = web ? await import('onnxruntime-web') : await import('onnxruntime-node');
if (web) ort.env.wasm.numThreads = job.threads ?? 1;
const external = {};  // weights file -> bytes (web only)
const arrays = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array };
for (const run of job.runs) {
  const t0 = performance.now();
  let session;
  if (web) {
    const w = path.join(path.dirname(run.model), 'weights.bin');
    const externalData = fs.existsSync(w) ? [{ path: 'weights.bin', data: (external[w] ??= new Uint8Array(fs.readFileSync(w))) }] : [];
    session = await ort.InferenceSession.create(new Uint8Array(fs.readFileSync(run.model)),
      { executionProviders: ['wasm'], externalData, graphOptimizationLevel: run.optimization ?? 'all' });
  } else {
    session = await ort.InferenceSession.create(run.model, {
      executionProviders: ['cpu'], intraOpNumThreads: job.threads ?? 1, interOpNumThreads: 1,
      graphOptimizationLevel: run.optimization ?? 'all',
    });
  }
  const loadMs = performance.now() - t0;
  const feeds = {};
  for (const [name, spec] of Object.entries(run.inputs)) {
    const buf = fs.readFileSync(spec.file);
    const Arr = arrays[spec.dtype ?? 'float32'];
    const data = new Arr(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    feeds[name] = new ort.Tensor(spec.dtype ?? 'float32', data, spec.shape);
  }
  let out;
  for (let i = 0; i < (run.warmup ?? 0); i++) out = await session.run(feeds);
  const ms = [];
  for (let i = 0; i < (run.repeat ?? 1); i++) {
    const t = performance.now();
    out = await session.run(feeds);
    ms.push(performance.now() - t);
  }
  const outputs = {};
  if (run.outDir) fs.mkdirSync(run.outDir, { recursive: true });
  for (const [name, t] of Object.entries(out)) {
    outputs[name] = t.dims;
    if (run.outDir) fs.writeFileSync(path.join(run.outDir, `${name}.bin`), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  console.log(JSON.stringify({ model: run.model, outputs, ms, loadMs }));
  await session.release();
}
