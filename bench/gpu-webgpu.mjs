#!/usr/bin/env node
/**
 * GPU bench without a browser: onnxruntime-web's JSEP build (the app's) on WebGPU in Node, through Dawn (the `webgpu`
 * npm package gives Node `navigator.gpu`), against the same build on WASM in the same run.
 *
 *   node bench/gpu-webgpu.mjs --packs DIR[,DIR...] [--graphs mapping,synthesis_from_f,grad_fzplus] [--runs 5]
 *        [--wasm-runs 2] [--no-wasm] [--swiftshader] [--json FILE] [--steps 3] [--step-graph grad_fzplus] [--no-step]
 *
 * Needs the `webgpu` package: `npm i --no-save webgpu@0.6.2` (not a dependency of the app; ~21 MB of it is the
 * linux-x64 dawn.node), or WEBGPU_MODULE=/path/to/webgpu. --swiftshader runs on Chromium's SwiftShader Vulkan driver
 * (/usr/lib/chromium: its libvulkan and ICD); without it Dawn takes the system's Vulkan driver (a GPU). Debian's
 * lavapipe is not used: Dawn did not accept it.
 * Per graph: session ms, the first run (shader compilation), the median of the next runs, the bytes each run moves
 * (inputs in, outputs out: nothing stays on the GPU), the peak of GPU buffers ORT holds (createBuffer/destroy
 * counted on the device), GFLOP (bench/graph_stats.py) and TFLOP/s, and the WASM median with the ratio and the
 * largest difference of the outputs against WASM's (relative to the largest WASM value: all outputs together, and
 * each output alone). --runs 0 --wasm-runs 1: one run each, the WebGPU one with its shader compilation.
 * (--graphs none: no single graphs, only the inversion step.)
 * Then, per pack, the inversion step (--no-step skips it) on the gradient graph --step-graph, three ways in the same
 * run, each a warm-up step and then --steps timed steps from the same start (WASM: --wasm-runs steps):
 *   - GPU-resident, as src/engine/inversion/deviceAdam.ts runs it: codes and Adam moments in GPU buffers, target and
 *     F_init uploaded once, grad_* outputs kept on the GPU (preferredOutputLocation), Adam as public/graphs/adam.onnx
 *     on the GPU; per step only the loss weights and Adam scalars go up and the loss comes down;
 *   - plain WebGPU: every input from the CPU and every output read back, Adam in JS (src/engine/math/adam.ts);
 *   - WASM with Adam in JS.
 * It prints ms per step (the steps' total, a final read-back of the codes included, over --steps), the ratios, the
 * bytes each step moves, and how far the resident path's codes are from the plain path's after the same steps.
 * Previews (a synthesis every k steps in the app) are not part of these steps.
 * Exit 3 when no WebGPU adapter is found (npm run bench:gpu then runs the PyTorch CUDA bench instead).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const arg = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const flag = (name) => argv.includes(`--${name}`);

if (flag('swiftshader') && !process.env.FZ_SWIFTSHADER) {
  // the Vulkan loader and its ICD are found at process start: run again with Chromium's
  const env = { ...process.env, FZ_SWIFTSHADER: '1', LD_LIBRARY_PATH: ['/usr/lib/chromium', process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'), VK_ICD_FILENAMES: '/usr/lib/chromium/vk_swiftshader_icd.json' };
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...argv], { stdio: 'inherit', env });
  // SwiftShader's worker threads (marl) pin themselves to CPUs 0..n-1 of a process allowed n CPUs, whichever CPUs those
  // are: under `taskset -c 1` they run on CPU 0. Every 2 s, every thread of the child goes back to this process's CPUs.
  const mask = spawnSync('taskset', ['-p', String(process.pid)], { encoding: 'utf8' }).stdout?.trim().split(' ').pop();
  const timer = mask ? setInterval(() => spawnSync('taskset', ['-a', '-p', mask, String(child.pid)], { stdio: 'ignore' }), 2000) : null;
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code) => {
    clearInterval(timer);
    process.exit(code ?? 1);
  });
  await new Promise(() => {}); // the child's exit ends this process
}

const packs = arg('packs', resolve(root, 'public/models/demo64')).split(',').map((p) => resolve(p));
const graphKeys = arg('graphs', 'mapping,synthesis_from_f,grad_fzplus').split(',');
const runs = Number(arg('runs', 5));
const wasmRuns = flag('no-wasm') ? 0 : Number(arg('wasm-runs', 2));
const steps = Number(arg('steps', 3));
const stepGraph = arg('step-graph', 'grad_fzplus');
const MiB = 2 ** 20;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

let webgpu;
try {
  const mod = process.env.WEBGPU_MODULE ? pathToFileURL(resolve(process.env.WEBGPU_MODULE, 'index.js')).href : 'webgpu';
  webgpu = await import(mod);
} catch (e) {
  console.error(`gpu-webgpu: the 'webgpu' package is not installed (npm i --no-save webgpu@0.6.2, or WEBGPU_MODULE=DIR): ${e.message}`);
  process.exit(3);
}
const { create, globals } = webgpu;
Object.assign(globalThis, globals);
// dawn.node's writeBuffer takes ArrayBufferViews only; ORT passes the wasm heap's ArrayBuffer with a byte offset
const writeBuffer = globals.GPUQueue.prototype.writeBuffer;
globals.GPUQueue.prototype.writeBuffer = function (buffer, offset, data, dataOffset = 0, size) {
  if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && data instanceof SharedArrayBuffer)) {
    return writeBuffer.call(this, buffer, offset, new Uint8Array(data, dataOffset, size ?? data.byteLength - dataOffset).slice());
  }
  return size === undefined ? writeBuffer.call(this, buffer, offset, data, dataOffset) : writeBuffer.call(this, buffer, offset, data, dataOffset, size);
};
// GPU memory: the live bytes of every buffer created on the device, and their peak
const live = new Map();
let liveBytes = 0;
let peakBytes = 0;
const createBuffer = globals.GPUDevice.prototype.createBuffer;
globals.GPUDevice.prototype.createBuffer = function (desc) {
  const b = createBuffer.call(this, desc);
  live.set(b, desc.size);
  liveBytes += desc.size;
  peakBytes = Math.max(peakBytes, liveBytes);
  const destroy = b.destroy.bind(b);
  b.destroy = () => {
    if (live.has(b)) (liveBytes -= live.get(b)), live.delete(b);
    destroy();
  };
  return b;
};
const gpu = create([]);
Object.defineProperty(globalThis, 'navigator', { value: { gpu, hardwareConcurrency: 1, userAgent: 'node' }, configurable: true });
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
if (!adapter) {
  console.error('gpu-webgpu: Dawn found no WebGPU adapter (no Vulkan driver? --swiftshader uses Chromium\'s software one)');
  process.exit(3);
}
const info = adapter.info ?? {};
const adapterName = [info.vendor, info.architecture, info.description].filter(Boolean).join(' / ');
console.log(`adapter: ${adapterName}; shader-f16 ${adapter.features.has('shader-f16')}; maxStorageBufferBindingSize ${(adapter.limits.maxStorageBufferBindingSize / MiB).toFixed(0)} MiB, maxBufferSize ${(adapter.limits.maxBufferSize / MiB).toFixed(0)} MiB`);

const ortDist = resolve(root, 'node_modules/onnxruntime-web/dist');
const ort = await import(pathToFileURL(resolve(ortDist, 'ort.min.mjs')).href);
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = ortDist + '/';
ort.env.logLevel = 'error';
ort.env.webgpu.adapter = adapter;

function feedsFor(g) {
  const feeds = {};
  let bytes = 0;
  for (const i of g.inputs) {
    const n = i.shape.reduce((a, b) => a * b, 1);
    const d = new Float32Array(n);
    for (let j = 0; j < n; j++) d[j] = Math.sin(j * 12.9898) * 0.5; // deterministic, in range for every input
    if (i.name === 'weights') d.set([1, 1, 0.1]);
    feeds[i.name] = new ort.Tensor('float32', d, i.shape);
    bytes += d.byteLength;
  }
  return { feeds, bytes };
}

async function time(session, feeds, n) {
  let t = performance.now();
  let out = await session.run(feeds);
  const first = performance.now() - t;
  const ts = [];
  for (let i = 0; i < n; i++) {
    t = performance.now();
    out = await session.run(feeds);
    ts.push(performance.now() - t);
  }
  return { first, ms: ts.length ? median(ts) : first, out };
}

// Adam as src/engine/math/adam.ts (the Adam graph computes the same), with the Z+ sphere re-normalisation
const ADAM_B1 = 0.9;
const ADAM_B2 = 0.999;
const ADAM_EPS = 1e-8;
const LR = 0.01;
const adamScalars = (t) => ({ stepSize: LR / (1 - ADAM_B1 ** t), sqrtBc2: Math.sqrt(1 - ADAM_B2 ** t) });
function adamJs(slot, grad) {
  const { param, m, v } = slot;
  slot.t++;
  const { stepSize, sqrtBc2 } = adamScalars(slot.t);
  for (let i = 0; i < param.length; i++) {
    const gi = grad[i];
    const mi = (m[i] = ADAM_B1 * m[i] + (1 - ADAM_B1) * gi);
    const vi = (v[i] = ADAM_B2 * v[i] + (1 - ADAM_B2) * gi * gi);
    param[i] -= (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + ADAM_EPS);
  }
  if (slot.sphere) sphereRows(param, slot.dims[slot.dims.length - 1]);
}
function sphereRows(z, dim) {
  for (let off = 0; off < z.length; off += dim) {
    let s = 0;
    for (let i = 0; i < dim; i++) s += z[off + i] ** 2;
    const r = 1 / Math.sqrt(s / dim + 1e-8);
    for (let i = 0; i < dim; i++) z[off + i] *= r;
  }
}
const maxRelDiff = (a, b) => {
  let d = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) (d = Math.max(d, Math.abs(a[i] - b[i]))), (ref = Math.max(ref, Math.abs(b[i])));
  return d / (ref || 1);
};

/**
 * The inversion step on gradient graph `g` three ways (see the header): GPU-resident (deviceAdam.ts's path), plain
 * WebGPU and WASM with Adam in JS. Each from the same start: one warm-up step, then timed steps.
 */
async function inversionStep(manifest, bytes, weights, g, gflop) {
  const adamBytes = readFileSync(resolve(root, 'public/graphs/adam.onnx'));
  const base = (ep) => ({ executionProviders: [ep], graphOptimizationLevel: 'all' });
  const packOpts = (ep) => ({ ...base(ep), ...(weights ? { externalData: [{ path: 'weights.bin', data: weights }] } : {}) });
  const { feeds: start } = feedsFor(g);
  const codeInputs = g.inputs.filter((i) => g.outputs.some((o) => o.name === `grad_${i.name}`));
  const constInputs = g.inputs.filter((i) => i.name !== 'weights' && !codeInputs.includes(i));
  const initSlots = () =>
    codeInputs.map((i) => {
      const param = start[i.name].data.slice();
      const sphere = i.name === 'zplus';
      if (sphere) sphereRows(param, i.shape[i.shape.length - 1]);
      return { name: i.name, dims: i.shape, sphere, param, m: new Float32Array(param.length), v: new Float32Array(param.length), t: 0 };
    });
  const lossWeights = () => new ort.Tensor('float32', Float32Array.of(1, 1, 0.1), [3]);
  const out = { pack: manifest.name, resolution: manifest.resolution, key: g.file, gflop, steps };

  // plain path (WebGPU or WASM): codes and constants from the CPU, every output read back, Adam in JS
  async function plain(ep, n) {
    const sess = await ort.InferenceSession.create(bytes, packOpts(ep));
    const slots = initSlots();
    let up = 0;
    let down = 0;
    const one = async () => {
      const feeds = { weights: lossWeights() };
      for (const i of constInputs) feeds[i.name] = start[i.name];
      for (const sl of slots) feeds[sl.name] = new ort.Tensor('float32', sl.param, sl.dims);
      up = Object.values(feeds).reduce((a, t) => a + t.data.byteLength, 0);
      const r = await sess.run(feeds);
      down = Object.values(r).reduce((a, t) => a + t.data.byteLength, 0);
      for (const sl of slots) adamJs(sl, r[`grad_${sl.name}`].data);
    };
    await one();
    const t0 = performance.now();
    for (let k = 0; k < n; k++) await one();
    const ms = (performance.now() - t0) / n;
    await sess.release();
    return { ms, upBytes: up, downBytes: down, codes: slots.map((s) => s.param) };
  }

  // GPU-resident path
  async function resident(n) {
    const outLoc = Object.fromEntries(g.outputs.filter((o) => o.name.startsWith('grad_')).map((o) => [o.name, 'gpu-buffer']));
    const sess = await ort.InferenceSession.create(bytes, { ...packOpts('webgpu'), preferredOutputLocation: outLoc });
    const adam = await ort.InferenceSession.create(adamBytes, { ...base('webgpu'), preferredOutputLocation: 'gpu-buffer' });
    const device = await ort.env.webgpu.device;
    const upload = (data, dims) => {
      const buffer = device.createBuffer({ size: Math.ceil(data.byteLength / 16) * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(buffer, 0, data);
      return ort.Tensor.fromGpuBuffer(buffer, { dataType: 'float32', dims, dispose: () => buffer.destroy() });
    };
    peakBytes = liveBytes;
    const consts = Object.fromEntries(constInputs.map((i) => [i.name, upload(start[i.name].data, i.shape)]));
    const slots = initSlots().map((sl) => ({ ...sl, param: upload(sl.param, sl.dims), m: upload(sl.m, sl.dims), v: upload(sl.v, sl.dims) }));
    let up = 0;
    let down = 0;
    const one = async () => {
      up = 0;
      down = 0;
      const feeds = { ...consts, weights: lossWeights() };
      up += 12;
      for (const sl of slots) feeds[sl.name] = sl.param;
      const r = await sess.run(feeds);
      const loss = r.loss.data; // the loss is the one output read back
      down += loss.byteLength;
      for (const sl of slots) {
        const { stepSize, sqrtBc2 } = adamScalars(sl.t + 1);
        const scalar = (x) => new ort.Tensor('float32', Float32Array.of(x), [1]);
        const o = await adam.run({ param: sl.param, grad: r[`grad_${sl.name}`], m: sl.m, v: sl.v, step_size: scalar(stepSize), sqrt_bc2: scalar(sqrtBc2), sphere: scalar(sl.sphere ? 1 : 0) });
        up += 12;
        for (const t of [sl.param, sl.m, sl.v]) t.dispose();
        Object.assign(sl, { param: o.param_out, m: o.m_out, v: o.v_out, t: sl.t + 1 });
      }
      for (const o of g.outputs) if (o.name.startsWith('grad_')) r[o.name].dispose();
    };
    await one();
    const t0 = performance.now();
    for (let k = 0; k < n; k++) await one();
    const codes = [];
    for (const sl of slots) codes.push((await sl.param.getData()).slice());
    const ms = (performance.now() - t0) / n;
    for (const sl of slots) for (const t of [sl.param, sl.m, sl.v]) t.dispose();
    for (const t of Object.values(consts)) t.dispose();
    await sess.release();
    await adam.release();
    return { ms, upBytes: up, downBytes: down, peakGpuBytes: peakBytes, codes };
  }

  out.resident = await resident(steps);
  out.plain = await plain('webgpu', steps);
  if (wasmRuns) out.wasm = await plain('wasm', wasmRuns);
  out.relDiffResidentVsPlain = Math.max(...out.resident.codes.map((c, i) => maxRelDiff(c, out.plain.codes[i])));
  out.plainOverResident = out.plain.ms / out.resident.ms;
  out.wasmOverResident = out.wasm ? out.wasm.ms / out.resident.ms : undefined;
  out.wasmOverPlain = out.wasm ? out.wasm.ms / out.plain.ms : undefined;
  for (const k of ['resident', 'plain', 'wasm']) if (out[k]) delete out[k].codes;
  return out;
}

const rows = [];
const stepRows = [];
for (const dir of packs) {
  const manifest = JSON.parse(readFileSync(resolve(dir, 'manifest.json'), 'utf8'));
  const keys = graphKeys.filter((k) => manifest.graphs[k]);
  const doStep = !flag('no-step') && !!manifest.graphs[stepGraph];
  const statKeys = [...new Set([...keys, ...(doStep ? [stepGraph] : [])])];
  const stats = statKeys.length
    ? JSON.parse(execFileSync(process.env.PYTHON ?? '/usr/bin/python3', [resolve(root, 'bench/graph_stats.py'), dir, '--json', '--graphs', statKeys.join(',')], { maxBuffer: 64 * MiB }).toString())
    : { graphs: {} };
  const weights = existsSync(resolve(dir, 'weights.bin')) ? readFileSync(resolve(dir, 'weights.bin')) : null;
  for (const key of keys) {
    const g = manifest.graphs[key];
    const bytes = readFileSync(resolve(dir, g.file));
    const opts = (ep) => ({ executionProviders: [ep], graphOptimizationLevel: 'all', ...(weights ? { externalData: [{ path: 'weights.bin', data: weights }] } : {}) });
    const { feeds, bytes: inBytes } = feedsFor(g);
    const row = { pack: manifest.name, resolution: manifest.resolution, key, gflop: stats.graphs[key].gflop };
    peakBytes = liveBytes;
    let t = performance.now();
    const s = await ort.InferenceSession.create(bytes, opts('webgpu'));
    row.sessionMs = performance.now() - t;
    const r = await time(s, feeds, runs);
    row.webgpu = { firstMs: r.first, ms: r.ms, peakGpuBytes: peakBytes };
    row.transferBytes = inBytes + Object.values(r.out).reduce((a, v) => a + v.data.byteLength, 0);
    row.tflops = row.gflop / r.ms; // GFLOP per ms = TFLOP/s
    await s.release();
    if (wasmRuns) {
      const w = await ort.InferenceSession.create(bytes, opts('wasm'));
      const rw = await time(w, feeds, wasmRuns - 1);
      row.wasm = { ms: rw.ms };
      row.speedup = rw.ms / r.ms;
      let maxDiff = 0;
      let maxRef = 0;
      row.relDiffPerOutput = {}; // each output against its own largest WASM value: a small gradient is not hidden by a large loss
      for (const [n, v] of Object.entries(rw.out)) {
        const a = r.out[n].data;
        row.relDiffPerOutput[n] = maxRelDiff(a, v.data);
        for (let i = 0; i < v.data.length; i++) (maxDiff = Math.max(maxDiff, Math.abs(a[i] - v.data[i]))), (maxRef = Math.max(maxRef, Math.abs(v.data[i])));
      }
      row.relDiffVsWasm = maxDiff / (maxRef || 1);
      await w.release();
    }
    rows.push(row);
    console.log(
      `${manifest.name} ${key}: session ${row.sessionMs.toFixed(0)} ms; WebGPU first ${r.first.toFixed(0)} ms, then ${r.ms.toFixed(1)} ms ` +
        `(${row.tflops.toFixed(3)} TFLOP/s of ${row.gflop.toFixed(2)} GFLOP), GPU buffers peak ${(peakBytes / MiB).toFixed(0)} MiB, ` +
        `${(row.transferBytes / MiB).toFixed(2)} MiB moved per run` +
        (row.wasm
          ? `; WASM ${row.wasm.ms.toFixed(0)} ms (x${row.speedup.toFixed(2)}), max rel diff ${row.relDiffVsWasm.toExponential(1)} ` +
            `(${Object.entries(row.relDiffPerOutput).map(([n, d]) => `${n} ${d.toExponential(1)}`).join(', ')})`
          : ''),
    );
  }
  if (doStep) {
    const g = manifest.graphs[stepGraph];
    const step = await inversionStep(manifest, readFileSync(resolve(dir, g.file)), weights, g, stats.graphs[stepGraph]?.gflop ?? NaN);
    stepRows.push(step);
    const p = (x) => (x ? `${x.ms.toFixed(1)} ms/step (${x.upBytes} B up / ${x.downBytes} B down per step)` : '–');
    console.log(
      `${manifest.name} ${stepGraph} inversion step: GPU-resident ${p(step.resident)}; plain WebGPU ${p(step.plain)}; WASM ${p(step.wasm)}; ` +
        `plain / resident x${step.plainOverResident.toFixed(2)}, WASM / resident x${step.wasmOverResident?.toFixed(2) ?? '–'}; ` +
        `GPU buffers peak ${(step.resident.peakGpuBytes / MiB).toFixed(0)} MiB; codes resident vs plain after ${steps + 1} steps: max rel diff ${step.relDiffResidentVsPlain.toExponential(1)}`,
    );
  }
}
console.log(`\n${adapterName}\n`);
console.log('| pack | graph | GFLOP | WebGPU ms | first run ms | TFLOP/s | GPU buffers peak MiB | MiB moved per run | WASM ms | WASM / WebGPU | rel diff vs WASM |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.pack} | ${r.key} | ${r.gflop.toFixed(2)} | ${r.webgpu.ms.toFixed(1)} | ${r.webgpu.firstMs.toFixed(0)} | ${r.tflops.toFixed(3)} | ${(r.webgpu.peakGpuBytes / MiB).toFixed(0)} | ` +
      `${(r.transferBytes / MiB).toFixed(2)} | ${r.wasm ? r.wasm.ms.toFixed(0) : '–'} | ${r.speedup ? r.speedup.toFixed(2) : '–'} | ${r.relDiffVsWasm !== undefined ? r.relDiffVsWasm.toExponential(1) : '–'} |`,
  );
}
if (stepRows.length) {
  console.log(`\nInversion step (${stepGraph}; a warm-up step, then ${steps} timed steps; WASM ${wasmRuns}; previews not included)\n`);
  console.log('| pack | GFLOP | GPU-resident ms/step | plain WebGPU ms/step | WASM ms/step | plain / resident | WASM / resident | WASM / plain | bytes up / down per step (resident; plain) | codes resident vs plain (rel) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---|---:|');
  for (const r of stepRows) {
    const f = (x, d = 1) => (x === undefined ? '–' : x.toFixed(d));
    console.log(
      `| ${r.pack} | ${f(r.gflop, 2)} | ${f(r.resident.ms)} | ${f(r.plain.ms)} | ${f(r.wasm?.ms)} | ${f(r.plainOverResident, 2)} | ${f(r.wasmOverResident, 2)} | ${f(r.wasmOverPlain, 2)} | ` +
        `${r.resident.upBytes} / ${r.resident.downBytes}; ${r.plain.upBytes} / ${r.plain.downBytes} | ${r.relDiffResidentVsPlain.toExponential(1)} |`,
    );
  }
}
const json = arg('json', '');
if (json) writeFileSync(json, JSON.stringify({ adapter: adapterName, rows, steps: stepRows }, null, 1));
process.exit(0);
