#!/usr/bin/env node
/**
 * GPU bench without a browser: onnxruntime-web's JSEP build (the app's) on WebGPU in Node, through Dawn (the `webgpu`
 * npm package gives Node `navigator.gpu`), against the same build on WASM in the same run.
 *
 *   node bench/gpu-webgpu.mjs --packs DIR[,DIR...] [--graphs mapping,synthesis_from_f,grad_fzplus] [--runs 5]
 *        [--wasm-runs 2] [--no-wasm] [--swiftshader] [--json FILE]
 *
 * Needs the `webgpu` package: `npm i --no-save webgpu@0.6.2` (not a dependency of the app; ~21 MB of it is the
 * linux-x64 dawn.node), or WEBGPU_MODULE=/path/to/webgpu. --swiftshader runs on Chromium's SwiftShader Vulkan driver
 * (/usr/lib/chromium: its libvulkan and ICD); without it Dawn takes the system's Vulkan driver (a GPU). Debian's
 * lavapipe is not used: Dawn did not accept it.
 * Per graph: session ms, the first run (shader compilation), the median of the next runs, the bytes each run moves
 * (inputs in, outputs out: nothing stays on the GPU), the peak of GPU buffers ORT holds (createBuffer/destroy
 * counted on the device), GFLOP (bench/graph_stats.py) and TFLOP/s, and the WASM median with the ratio.
 * Exit 3 when no WebGPU adapter is found (npm run bench:gpu then runs the PyTorch CUDA bench instead).
 */
import { execFileSync, spawnSync } from 'node:child_process';
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
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...argv], { stdio: 'inherit', env });
  process.exit(r.status ?? 1);
}

const packs = arg('packs', resolve(root, 'public/models/demo64')).split(',').map((p) => resolve(p));
const graphKeys = arg('graphs', 'mapping,synthesis_from_f,grad_fzplus').split(',');
const runs = Number(arg('runs', 5));
const wasmRuns = flag('no-wasm') ? 0 : Number(arg('wasm-runs', 2));
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

const rows = [];
for (const dir of packs) {
  const manifest = JSON.parse(readFileSync(resolve(dir, 'manifest.json'), 'utf8'));
  const keys = graphKeys.filter((k) => manifest.graphs[k]);
  const stats = JSON.parse(execFileSync(process.env.PYTHON ?? '/usr/bin/python3', [resolve(root, 'bench/graph_stats.py'), dir, '--json', '--graphs', keys.join(',')], { maxBuffer: 64 * MiB }).toString());
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
      for (const [n, v] of Object.entries(rw.out)) {
        const a = r.out[n].data;
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
        (row.wasm ? `; WASM ${row.wasm.ms.toFixed(0)} ms (x${row.speedup.toFixed(2)}), max rel diff ${row.relDiffVsWasm.toExponential(1)}` : ''),
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
const json = arg('json', '');
if (json) writeFileSync(json, JSON.stringify({ adapter: adapterName, rows }, null, 1));
process.exit(0);
