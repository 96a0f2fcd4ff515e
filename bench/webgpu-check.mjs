#!/usr/bin/env node
/**
 * WebGPU placement report: `npm run bench:webgpu-check -- --pack DIR [--graphs k1,k2] [--json FILE] [--port N]`
 *
 * Creates an onnxruntime-web session (the app's build: JSEP, WebGPU + WASM) on the WebGPU execution provider for
 * every graph of the pack in Debian's Chromium (`--enable-unsafe-webgpu`; here the SwiftShader software adapter:
 * creating a session compiles nothing that needs a fast GPU) and prints, per graph:
 *   - the nodes ORT placed on WebGPU (JsExecutionProvider) and on the CPU, read from ORT's own verbose placement log
 *     after its graph transforms (layout pass to NHWC, fusions), so nodes the transforms add are counted too;
 *   - the op types of the CPU-placed nodes (each is a GPU -> CPU -> GPU round trip per run);
 *   - GFLOP per run, the bytes of its inputs and outputs, and the largest tensor, from bench/graph_stats.py (ONNX shape
 *     inference gives every tensor a shape), against the adapter's maxStorageBufferBindingSize and maxBufferSize.
 * A node on the CPU that only handles shapes (Shape, Reshape, ...) is listed but moves no data.
 * Nothing is run: the numbers say where the graph would run, not how fast.
 */
import { chromium } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const packDir = resolve(arg('pack', resolve(root, 'public/models/demo64')));
if (!existsSync(resolve(packDir, 'manifest.json'))) {
  console.error(`webgpu-check: no manifest.json in ${packDir} (--pack DIR)`);
  process.exit(2);
}
const manifest = JSON.parse(readFileSync(resolve(packDir, 'manifest.json'), 'utf8'));
const only = arg('graphs', '').split(',').filter(Boolean);
const keys = Object.keys(manifest.graphs).filter((k) => !only.length || only.includes(k));
const ortDir = resolve(root, 'node_modules/onnxruntime-web/dist');
const MiB = 2 ** 20;
// ops that only compute shapes or views: on the CPU they move no tensor data
const SHAPE_OPS = new Set(['Shape', 'Reshape', 'Squeeze', 'Unsqueeze', 'Flatten', 'Constant', 'ConstantOfShape', 'Identity']);

/** Static file server: / (an empty page), /ort/* (onnxruntime-web's dist), /pack/* (the pack). */
function serve() {
  const types = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
  const server = createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const map = (base, rest) => {
      const p = resolve(base, '.' + rest);
      return p === base || p.startsWith(base + sep) ? p : null;
    };
    const file = url === '/' ? null : url.startsWith('/ort/') ? map(ortDir, url.slice(4)) : url.startsWith('/pack/') ? map(packDir, url.slice(5)) : undefined;
    if (file === null) {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>webgpu-check</title>');
      return;
    }
    if (!file || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) => server.listen(Number(arg('port', 0)), '127.0.0.1', () => ok(server)));
}

/**
 * Parses ORT's verbose placement log (session_state.cc, VerifyEachNodeIsAssignedToAnEp):
 *   "Node(s) placed on [CPUExecutionProvider]. Number of nodes: 2" then one "  Transpose (Transpose_token_402)" a node.
 * Returns {provider: {count, ops: [op type per node]}}.
 */
function parsePlacements(lines) {
  const placed = {};
  let current = null;
  for (const line of lines.flatMap((l) => l.split('\n'))) {
    const i = line.indexOf('VerifyEachNodeIsAssignedToAnEp]');
    if (i < 0) continue;
    const body = line.slice(i + 'VerifyEachNodeIsAssignedToAnEp]'.length);
    const m = /(?:All nodes|Node\(s\)) placed on \[(\w+)\]\. Number of nodes: (\d+)/.exec(body);
    if (m) {
      current = m[1];
      placed[current] = { count: Number(m[2]), ops: [] };
      continue;
    }
    const n = /^\s+(\w+) \(/.exec(body);
    if (n && current) placed[current].ops.push(n[1]);
  }
  return placed;
}

const stats = JSON.parse(
  execFileSync(process.env.PYTHON ?? '/usr/bin/python3', [resolve(root, 'bench/graph_stats.py'), packDir, '--json', '--graphs', keys.join(',')], {
    maxBuffer: 64 * MiB,
  }).toString(),
);
const server = await serve();
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium',
  args: ['--enable-unsafe-webgpu'],
});
const rows = [];
let adapter;
try {
  const page = await browser.newPage();
  let log = [];
  page.on("console", (m) => log.push(m.text()));
  const dump = arg("dump-log", "");
  page.on('pageerror', (e) => console.error('pageerror', e.message));
  await page.goto(base + '/');
  adapter = await page.evaluate(async () => {
    const gpu = navigator.gpu;
    if (!gpu) return null;
    // the engine asks for the high-performance adapter; ORT then requests a device with the adapter's limits
    const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!a) return null;
    const info = a.info ?? {};
    const limits = {};
    for (const k of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxStorageBuffersPerShaderStage']) limits[k] = a.limits[k];
    const ort = await import('/ort/ort.min.mjs');
    ort.env.wasm.wasmPaths = '/ort/';
    ort.env.wasm.numThreads = 1;
    ort.env.logLevel = 'verbose';
    ort.env.webgpu.powerPreference = 'high-performance';
    globalThis.__ort = ort;
    return { name: [info.vendor, info.architecture, info.description].filter(Boolean).join(' '), fallback: !!a.isFallbackAdapter, f16: a.features.has('shader-f16'), limits };
  });
  if (!adapter) throw new Error('no WebGPU adapter in this Chromium (is --enable-unsafe-webgpu honoured?)');
  console.log(`adapter: ${adapter.name}${adapter.fallback ? ' (fallback)' : ''}, shader-f16 ${adapter.f16}, maxStorageBufferBindingSize ${(adapter.limits.maxStorageBufferBindingSize / MiB).toFixed(0)} MiB, maxBufferSize ${(adapter.limits.maxBufferSize / MiB).toFixed(0)} MiB`);
  for (const key of keys) {
    log = [];
    const g = manifest.graphs[key];
    const t0 = Date.now();
    const res = await page.evaluate(
      async ({ file, weights }) => {
        const ort = globalThis.__ort;
        const opts = { executionProviders: ['webgpu'], graphOptimizationLevel: 'all', logSeverityLevel: 0, logVerbosityLevel: 0 };
        if (weights) opts.externalData = [{ path: weights, data: '/pack/' + weights }];
        try {
          const s = await ort.InferenceSession.create('/pack/' + file, opts);
          await s.release();
          const dev = await ort.env.webgpu.device;
          return { ok: true, deviceLimits: dev ? { maxStorageBufferBindingSize: dev.limits.maxStorageBufferBindingSize, maxBufferSize: dev.limits.maxBufferSize } : null };
        } catch (e) {
          return { ok: false, error: String(e?.message ?? e).slice(0, 400) };
        }
      },
      { file: g.file, weights: manifest.weights?.file ?? (existsSync(resolve(packDir, 'weights.bin')) ? 'weights.bin' : null) },
    );
    const ms = Date.now() - t0;
    if (dump) writeFileSync(`${dump}.${key}.log`, log.join("\n"));
    const st = stats.graphs[key];
    const placed = parsePlacements(log);
    const gpuEp = Object.keys(placed).find((p) => /Js|WebGpu/i.test(p));
    const onGpu = gpuEp ? placed[gpuEp].count : 0;
    const cpu = Object.entries(placed).filter(([p]) => p !== gpuEp);
    const cpuOps = cpu.flatMap(([, v]) => v.ops);
    const cpuCount = cpu.reduce((a, [, v]) => a + v.count, 0);
    const fell = {};
    for (const op of cpuOps) fell[op] = (fell[op] ?? 0) + 1;
    const limits = res.deviceLimits ?? adapter.limits;
    const L = st.largest;
    rows.push({
      key, ok: res.ok, error: res.error, sessionMs: ms, onnxNodes: st.nodes, onGpu, onCpu: cpuCount, cpuOps: fell,
      cpuDataNodes: cpuCount - Object.entries(fell).filter(([op]) => SHAPE_OPS.has(op)).reduce((a, [, n]) => a + n, 0),
      placementLogged: Object.keys(placed).length > 0, gflop: st.gflop, ioBytes: st.io_bytes, largest: L,
      largestInitializer: st.largest_initializer, deviceLimits: res.deviceLimits,
      overBinding: L ? L.bytes > limits.maxStorageBufferBindingSize : false, overBuffer: L ? L.bytes > limits.maxBufferSize : false,
    });
    const r = rows.at(-1);
    console.log(
      `${key}: ${r.ok ? 'session ok' : 'FAILED ' + r.error} (${ms} ms); nodes WebGPU ${onGpu}, CPU ${cpuCount}` +
        (cpuCount ? ` [${Object.entries(fell).map(([o, n]) => `${o} x${n}`).join(', ')}]` : '') +
        (r.placementLogged ? '' : ' (no placement log)') +
        `; ${st.gflop.toFixed(2)} GFLOP; largest ${L ? `${L.op} ${JSON.stringify(L.shape)} ${L.dtype} ${(L.bytes / MiB).toFixed(2)} MiB` : '-'}` +
        (r.overBinding ? ' > maxStorageBufferBindingSize' : '') + (r.overBuffer ? ' > maxBufferSize' : ''),
    );
  }
} finally {
  await browser.close();
  server.close();
}

const lim = adapter?.limits ?? {};
const dev = rows.find((r) => r.deviceLimits)?.deviceLimits;
console.log(
  `\n${manifest.name ?? packDir} (${manifest.resolution} px), adapter ${adapter?.name ?? '?'}; adapter limits: binding ${(lim.maxStorageBufferBindingSize / MiB).toFixed(0)} MiB, ` +
    `buffer ${(lim.maxBufferSize / MiB).toFixed(0)} MiB` +
    (dev ? `; ORT's device: binding ${(dev.maxStorageBufferBindingSize / MiB).toFixed(0)} MiB, buffer ${(dev.maxBufferSize / MiB).toFixed(0)} MiB` : '') + '\n',
);
console.log('| graph | ONNX nodes | on WebGPU | on CPU | CPU op types | GFLOP | I/O MiB | largest tensor | MiB | within limits |');
console.log('|---|---:|---:|---:|---|---:|---:|---|---:|---|');
for (const r of rows) {
  const L = r.largest;
  console.log(
    `| ${r.key} | ${r.onnxNodes} | ${r.ok ? r.onGpu : 'failed'} | ${r.ok ? r.onCpu : '–'} | ${Object.entries(r.cpuOps).map(([o, n]) => `${o} ${n}`).join(', ') || '–'} | ` +
      `${r.gflop.toFixed(2)} | ${(r.ioBytes / MiB).toFixed(2)} | ${L ? `${L.op} ${L.shape.join('×')} ${L.dtype}` : '–'} | ${L ? (L.bytes / MiB).toFixed(2) : '–'} | ` +
      `${r.overBuffer ? 'no: > maxBufferSize' : r.overBinding ? 'no: > binding limit' : 'yes'} |`,
  );
}
const json = arg('json', '');
if (json) writeFileSync(json, JSON.stringify({ pack: manifest.name, resolution: manifest.resolution, adapter, rows }, null, 1));
const bad = rows.filter((r) => !r.ok || r.cpuDataNodes > 0 || r.overBinding || !r.placementLogged);
process.exitCode = bad.length ? 1 : 0;
