#!/usr/bin/env node
/**
 * Per-op-type time of one graph: onnxruntime-node (native CPU) vs onnxruntime-web WASM in Chromium, from ORT's own
 * per-node profiling (enableProfiling on both sides). Prints a markdown table (docs/WASM_SPEED.md was made with it).
 *
 *   node bench/ops.mjs [--pack public/models/demo64] [--graph grad_fzplus] [--threads 1] [--runs 20]
 *                      [--build wasm|jsep] [--nodes 12] [--series]
 *   node bench/ops.mjs --steady [--packs public/models/demo64,public/models/other] [--threads 1,2] [--runs 250] [--rounds 3]
 *
 * Each node's time is its minimum over the runs (robust on a shared, busy CPU: a run that was preempted only raises
 * the other statistics); per op type the per-node minima are summed. The profiled WASM run is slower than a plain one
 * (every event is logged), so compare the node sums, not model_run. --series: plain (unprofiled) WASM ms per run,
 * median per block of 10 runs, to see V8's tier-up from its baseline wasm compiler.
 * --steady: no profiling; plain runs of the graph, native and WASM, each pack and thread count in turn, repeated for
 * --rounds rounds (so that a slow minute hits every configuration alike). Per configuration: the median over rounds of
 * the median of each round's last 60 % of runs (steady state, after V8's wasm tier-up), the first 10 runs (warm-up)
 * and the same-round ratio WASM / native. For A/B comparisons of two exports of the same model.
 */
import http from 'node:http';
import { createReadStream, existsSync, mkdtempSync, readFileSync, readdirSync, statSync, rmSync } from 'node:fs';
import { extname, join, resolve, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';
import * as ort from 'onnxruntime-node';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : def; };
let packDir = resolve(root, arg('pack', 'public/models/demo64'));
const key = arg('graph', 'grad_fzplus');
let threads = Number(arg('threads', 1));
const runs = Number(arg('runs', 20));
const build = arg('build', 'wasm');
const nNodes = Number(arg('nodes', 12));
const series = process.argv.includes('--series');
let g;
function usePack(dir) {
  packDir = dir;
  g = JSON.parse(readFileSync(join(packDir, 'manifest.json'), 'utf8')).graphs[key];
  if (!g) throw new Error(`${packDir} has no graph ${key}`);
}
usePack(packDir);

// deterministic inputs (same values on both sides)
function feedData() {
  let s = 1;
  const r = () => { s = (s * 1664525 + 1013904223) >>> 0; return (s + 0.5) / 4294967296; };
  return g.inputs.map((i) => {
    const n = i.shape.reduce((a, b) => a * b, 1);
    const d = new Float32Array(n);
    for (let k = 0; k < n; k++) d[k] = i.name === 'weights' ? [1, 1, 0.1][k] : Math.sqrt(-2 * Math.log(r())) * Math.cos(2 * Math.PI * r());
    return { name: i.name, shape: i.shape, data: d };
  });
}

function aggregate(events) {
  const per = new Map();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const n = e.name.slice(0, -12);
    if (!per.has(n)) per.set(n, { op: e.args.op_name, shape: JSON.stringify(e.args.input_type_shape ?? []), durs: [] });
    per.get(n).durs.push(e.dur / 1000);
  }
  const byOp = new Map();
  const nodes = [];
  for (const [name, v] of per) {
    const m = Math.min(...v.durs);
    const o = byOp.get(v.op) ?? { ms: 0, n: 0 };
    o.ms += m; o.n += 1; byOp.set(v.op, o);
    nodes.push({ name, op: v.op, shape: v.shape, ms: m });
  }
  return { byOp, nodes, total: [...byOp.values()].reduce((a, b) => a + b.ms, 0) };
}

/** onnxruntime-node session of the graph (plus extra options) and its deterministic feeds. */
async function nativeSession(extra = {}) {
  const sess = await ort.InferenceSession.create(join(packDir, g.file), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', ...extra });
  return { sess, feeds: Object.fromEntries(feedData().map((f) => [f.name, new ort.Tensor('float32', f.data, f.shape)])) };
}

async function nativeSeries() {
  const { sess, feeds } = await nativeSession();
  const ts = [];
  for (let i = 0; i <= runs; i++) { const t = performance.now(); await sess.run(feeds); ts.push(performance.now() - t); }
  await sess.release();
  return ts;
}

async function nativeProfile() {
  const dir = mkdtempSync(join(tmpdir(), 'fz-ops-'));
  const { sess, feeds } = await nativeSession({ enableProfiling: true, profileFilePrefix: join(dir, 'p') });
  for (let i = 0; i <= runs; i++) await sess.run(feeds);
  sess.endProfiling();
  const file = readdirSync(dir).find((f) => f.endsWith('.json'));
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  rmSync(dir, { recursive: true, force: true });
  return aggregate(events);
}

const WORKER = `
const q = new URLSearchParams(location.search);
const logs = [];
if (q.get('profile') === '1') console.log = (...a) => logs.push(a.join(' '));
try {
  const ort = await import(q.get('build') === 'jsep' ? '/ort/ort.min.mjs' : '/ort/ort.wasm.min.mjs');
  ort.env.wasm.numThreads = Number(q.get('threads')); ort.env.wasm.wasmPaths = '/ort/'; ort.env.logLevel = 'error';
  const [graph, weights, inputs] = await Promise.all(['/pack/' + q.get('file'), '/pack/weights.bin', '/inputs'].map((u) => fetch(u).then((r) => r.arrayBuffer())));
  const sess = await ort.InferenceSession.create(new Uint8Array(graph), { executionProviders: ['wasm'], graphOptimizationLevel: 'all',
    externalData: [{ path: 'weights.bin', data: new Uint8Array(weights) }], enableProfiling: q.get('profile') === '1' });
  const spec = JSON.parse(q.get('inputs')); let off = 0; const feeds = {};
  for (const i of spec) { const n = i.shape.reduce((a, b) => a * b, 1); feeds[i.name] = new ort.Tensor('float32', new Float32Array(inputs, off * 4, n), i.shape); off += n; }
  const ts = [];
  for (let i = 0; i <= Number(q.get('runs')); i++) { const t = performance.now(); await sess.run(feeds); ts.push(performance.now() - t); }
  if (q.get('profile') === '1') sess.endProfiling();
  postMessage({ ts, logs });
} catch (e) { postMessage({ error: String(e?.stack ?? e) }); }
`;
const PAGE = `<!doctype html><script type="module">const w = new Worker('/worker.mjs' + location.search, { type: 'module' });
w.onmessage = (e) => { window.__r = e.data; }; w.onerror = (e) => { window.__r = { error: e.message }; };</script>`;

async function webRun(profile) {
  const inputs = feedData();
  const blob = Buffer.concat(inputs.map((i) => Buffer.from(i.data.buffer)));
  const dist = join(root, 'node_modules/onnxruntime-web/dist');
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(req.url.split('?')[0]);
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    const type = { '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
    if (url === '/' || url === '/index.html') { res.setHeader('Content-Type', 'text/html'); return res.end(PAGE); }
    if (url === '/worker.mjs') { res.setHeader('Content-Type', 'text/javascript'); return res.end(WORKER); }
    if (url === '/inputs') return res.end(blob);
    const file = url.startsWith('/ort/') ? join(dist, url.slice(5)) : url.startsWith('/pack/') ? join(packDir, url.slice(6)) : '';
    if (!file || !existsSync(file) || statSync(file).isDirectory()) { res.statusCode = 404; return res.end(); }
    res.setHeader('Content-Type', type[extname(file)] ?? 'application/octet-stream');
    createReadStream(file).pipe(res);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium' });
  try {
    const page = await browser.newPage();
    const spec = encodeURIComponent(JSON.stringify(inputs.map((i) => ({ name: i.name, shape: i.shape }))));
    await page.goto(`http://127.0.0.1:${server.address().port}/?file=${g.file}&build=${build}&threads=${threads}&runs=${runs}&profile=${profile ? 1 : 0}&inputs=${spec}`);
    await page.waitForFunction(() => window.__r, null, { timeout: 1_800_000, polling: 500 });
    const r = await page.evaluate(() => window.__r);
    if (r.error) throw new Error(r.error);
    return r;
  } finally {
    await browser.close();
    server.close();
  }
}

function webEvents(logs) {
  const ev = [];
  for (const chunk of logs) for (let line of chunk.split('\n')) {
    line = line.trim().replace(/,$/, '');
    if (line.startsWith('{"cat"')) try { ev.push(JSON.parse(line)); } catch { /* not an event */ }
  }
  return ev;
}

const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
if (process.argv.includes('--steady')) {
  const packs = arg('packs', arg('pack', 'public/models/demo64')).split(',').map((p) => resolve(root, p));
  const threadList = arg('threads', '1,2').split(',').map(Number);
  const rounds = Number(arg('rounds', 3));
  const res = new Map();
  for (let r = 0; r < rounds; r++) for (const p of packs) for (const t of threadList) {
    usePack(p); threads = t;
    const nat = await nativeSeries();
    const { ts } = await webRun(false);
    const steady = (xs) => med(xs.slice(Math.floor(xs.length * 0.4)));
    const row = { nat: steady(nat), web: steady(ts), warm: med(ts.slice(1, 11)) };
    row.ratio = row.web / row.nat;
    const k = `${p.replace(root + '/', '')} ${t}t`;
    (res.get(k) ?? res.set(k, []).get(k)).push(row);
    console.error(`round ${r + 1}: ${k}: native ${row.nat.toFixed(2)} ms, WASM ${row.web.toFixed(2)} ms (first 10: ${row.warm.toFixed(1)}), ${row.ratio.toFixed(2)}x`);
  }
  console.log(`\n${key}, ${runs} runs per round, ${rounds} rounds; steady = median of the last 60 % of runs; median over rounds`);
  console.log('| pack | threads | native ms | WASM ms | WASM first 10 runs ms | WASM / native (same round) |\n|---|---|---|---|---|---|');
  for (const [k, rows] of res) {
    const [p, t] = k.split(' ');
    const m = (f) => med(rows.map(f)).toFixed(2);
    console.log(`| ${p} | ${t.slice(0, -1)} | ${m((x) => x.nat)} | ${m((x) => x.web)} | ${m((x) => x.warm)} | ${m((x) => x.ratio)} |`);
  }
  process.exit(0);
}
const nat = await nativeProfile();
const web = aggregate(webEvents((await webRun(true)).logs));
const f = (x) => x.toFixed(3);
console.log(`\n${key} of ${packDir.replace(root + '/', '')}, ${threads} thread(s), ${runs} runs, WASM build: ${build}; per-node minimum, summed per op type (ms)`);
console.log(`sum of nodes: native ${f(nat.total)}, WASM ${f(web.total)}, ratio ${(web.total / nat.total).toFixed(2)}\n`);
console.log('| op | nodes (WASM) | native ms | WASM ms | ratio | WASM − native |\n|---|---|---|---|---|---|');
for (const op of [...new Set([...web.byOp.keys(), ...nat.byOp.keys()])].sort((a, b) => (web.byOp.get(b)?.ms ?? 0) - (web.byOp.get(a)?.ms ?? 0))) {
  const x = nat.byOp.get(op)?.ms ?? 0, y = web.byOp.get(op)?.ms ?? 0;
  console.log(`| ${op} | ${web.byOp.get(op)?.n ?? 0} | ${f(x)} | ${f(y)} | ${x ? (y / x).toFixed(1) : '–'} | ${f(y - x)} |`);
}
if (nNodes > 0) {
  console.log(`\nslowest ${nNodes} WASM nodes (native time where the node kept its name; NCHWc renames native Convs):`);
  const natBy = new Map(nat.nodes.map((n) => [n.name, n.ms]));
  for (const n of web.nodes.sort((a, b) => b.ms - a.ms).slice(0, nNodes)) console.log(`  ${n.name.padEnd(28)} ${n.op.padEnd(14)} WASM ${f(n.ms)}  native ${natBy.has(n.name) ? f(natBy.get(n.name)) : '–'}  ${n.shape}`);
}
if (series) {
  const { ts } = await webRun(false);
  const blocks = [];
  for (let i = 1; i < ts.length; i += 10) blocks.push(med(ts.slice(i, i + 10)).toFixed(1));
  console.log(`\nunprofiled WASM ms per run, median per 10 runs (tier-up): ${blocks.join(' ')}`);
}
