#!/usr/bin/env node
/**
 * npm run bench — ms per F/Z+ gradient step and per slider frame in one Chromium (Debian's, via Playwright):
 * WASM 1 thread, WASM 2 threads, WebGPU (keepOnGpu on/off), against the same graphs in onnxruntime-node (native CPU),
 * and PyTorch CPU (eager, the pack's own checkpoint when it is here: `python3 -m model.bench --pack`; --no-torch skips it),
 * printed with ratios. Options: --packs tiny-test,reference-64  --steps 150  --frames 30  --rounds 3  --webgpu-steps 3  --no-webgpu
 * Step time = median of the second half of the steps (steady state, after V8 has tiered onnxruntime-web's wasm up);
 * 'first 10' = median of the first 10 steps and '100 steps' = the sum of the first 100 (the app's default inversion),
 * which is what the warm-up (row 'warmed': engine.warmUp() before the inversion, as the app runs it after a pack
 * loads) changes. Every configuration runs once per round, native right before it; a row is the median over rounds.
 * 'x node' divides that median by the *fastest* native time of the whole run with the same thread count (native runs
 * with 2 threads swing by up to 1.5x on this 2-core VM when anything else wakes up; the fastest is the least
 * disturbed, so the ratio errs against WASM).
 * --jsep-too: WASM rows again with onnxruntime-web's JSEP build (the WebGPU build; the app uses the plain WASM build on WASM)
 * --session-options '<JSON>': extra ORT session options for the WASM rows, e.g. '{"extra":{"session":{"intra_op":{"allow_spinning":"0"}}}}'
 * --large: per-graph ms + memory peaks of the 1024 px pack instead (bench/large.mjs has its options)
 * On this machine WebGPU is the SwiftShader software adapter (~100x slower than WASM): its numbers say nothing about a
 * real GPU.
 */
import { createServer } from 'vite';
import { chromium } from '@playwright/test';
import * as ort from 'onnxruntime-node';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : def; };
const packs = arg('packs', ['tiny-test', 'reference-64', 'demo64'].filter((p) => existsSync(resolve(root, 'public/models', p, 'manifest.json'))).join(',')).split(',');
const steps = Number(arg('steps', 150)); // the page reports the median of the second half: V8 tiers ORT's wasm up during the first ~30 steps
const rounds = Number(arg('rounds', 3));
const frames = Number(arg('frames', 30));
const gpuSteps = Number(arg('webgpu-steps', 3));
const noWebgpu = process.argv.includes('--no-webgpu');
const jsepToo = process.argv.includes('--jsep-too');
const sessQ = arg('session-options', '') ? `&sessionOptions=${encodeURIComponent(arg('session-options', ''))}` : '';
// --webgpu-only keep|cpu|both: skip WASM (one SwiftShader step of a 19 M-parameter pack takes minutes)
const onlyWebgpu = (arg('webgpu-only', '') || '').split(',').filter(Boolean);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

function randn(n) { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = Math.sqrt(-2 * Math.log(Math.random() + 1e-12)) * Math.cos(2 * Math.PI * Math.random()); return a; }
function feedsFor(ortm, g) {
  const f = {};
  for (const i of g.inputs) {
    const n = i.shape.reduce((a, b) => a * b, 1);
    const d = i.name === 'weights' ? new Float32Array([1, 1, 0.1]) : i.name === 'target' ? randn(n).map((x) => Math.tanh(x)) : randn(n);
    f[i.name] = new ortm.Tensor('float32', d, i.shape);
  }
  return f;
}

async function nodeBench(pack, threads) {
  const dir = resolve(root, 'public/models', pack);
  const m = JSON.parse(readFileSync(resolve(dir, 'manifest.json'), 'utf8'));
  const opts = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
  const sess = async (k) => ort.InferenceSession.create(resolve(dir, m.graphs[k].file), opts);
  const time = async (runs, fn) => { await fn(); const ts = []; for (let i = 0; i < runs; i++) { const t = performance.now(); await fn(); ts.push(performance.now() - t); } return median(ts); };
  const grad = await sess('grad_fzplus');
  const gf = feedsFor(ort, m.graphs.grad_fzplus);
  const stepMs = await time(steps, () => grad.run(gf));
  const map = await sess('mapping');
  const syn = await sess('synthesis_from_f');
  const mf = feedsFor(ort, m.graphs.mapping);
  const sf = feedsFor(ort, m.graphs.synthesis_from_f);
  const frameMs = await time(frames, async () => { await map.run(mf); await syn.run(sf); });
  return { stepMs, frameMs };
}

// PyTorch CPU rows: the pack's own checkpoint (found by the sha256 its manifest records) timed eagerly by
// `python3 -m model.bench --pack` (F/Z+ loss + autograd; mapping + synthesis_from_f), same thread count.
function packCheckpoint(pack) {
  const want = JSON.parse(readFileSync(resolve(root, 'public/models', pack, 'manifest.json'), 'utf8')).provenance?.checkpointSha256;
  if (!want) return null;
  const shared = process.env.FZ_SHARED ?? resolve(root, '..', 'shared');
  const candidates = [resolve(shared, 'reference/rosinality-64/checkpoint.pt'),
    ...readdirSync(resolve(root, 'model/checkpoints')).filter((f) => f.endsWith('.pt')).map((f) => resolve(root, 'model/checkpoints', f))];
  return candidates.find((p) => existsSync(p) && createHash('sha256').update(readFileSync(p)).digest('hex') === want) ?? null;
}
function torchBench(pack, ck, threads) {
  try {
    const out = execFileSync('/usr/bin/python3', ['-m', 'model.bench', '--pack', resolve(root, 'public/models', pack), '--checkpoint', ck,
      '--threads', String(threads), '--steps', String(Math.min(steps, 60)), '--frames', String(frames)], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return JSON.parse(out.trim().split('\n').pop());
  } catch (e) {
    console.error(`PyTorch CPU bench of ${pack} failed: ${e.message.split('\n')[0]}`);
    return null;
  }
}

async function main() {
  // --large: per-graph ms and memory peaks of a 1024 px pack (bench/large.mjs)
  if (process.argv.includes('--large')) return void (await (await import('./large.mjs')).runLarge(root, arg));
  const server = await createServer({ root, configFile: resolve(root, 'vite.config.ts'), logLevel: 'error', server: { port: 4188, strictPort: false, host: '127.0.0.1' } });
  await server.listen();
  const base = server.resolvedUrls.local[0];
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium', args: ['--enable-unsafe-webgpu'] });
  const rows = [];
  try {
    for (const pack of packs) {
      const configs = onlyWebgpu.length ? [] : [
        { label: 'WASM 1 thread', q: `backend=wasm&threads=1&steps=${steps}&frames=${frames}${sessQ}` },
        { label: 'WASM 2 threads', q: `backend=wasm&threads=2&steps=${steps}&frames=${frames}${sessQ}` },
        { label: 'WASM 2 threads, warmed', q: `backend=wasm&threads=2&steps=${steps}&frames=${frames}&warm=1${sessQ}` },
      ];
      if (jsepToo && !onlyWebgpu.length) for (const t of [1, 2]) configs.push({ label: `WASM ${t} thread${t > 1 ? 's' : ''} JSEP build`, q: `backend=wasm&threads=${t}&steps=${steps}&frames=${frames}&ortBuild=jsep${sessQ}` });
      if (onlyWebgpu.includes('keep') || onlyWebgpu.includes('both')) configs.push({ label: 'WebGPU (keepOnGpu)', q: `backend=webgpu&keepOnGpu=1&steps=${gpuSteps}&frames=${Math.min(frames, 3)}` });
      if (onlyWebgpu.includes('cpu') || onlyWebgpu.includes('both')) configs.push({ label: 'WebGPU (CPU inputs)', q: `backend=webgpu&keepOnGpu=0&steps=${gpuSteps}&frames=${Math.min(frames, 3)}` });
      if (!noWebgpu && !onlyWebgpu.length) {
        configs.push({ label: 'WebGPU (keepOnGpu)', q: `backend=webgpu&keepOnGpu=1&steps=${gpuSteps}&frames=${Math.min(frames, 3)}` });
        configs.push({ label: 'WebGPU (CPU inputs)', q: `backend=webgpu&keepOnGpu=0&steps=${gpuSteps}&frames=${Math.min(frames, 3)}` });
      }
      const byLabel = new Map();
      const add = (label, r) => (byLabel.get(label) ?? byLabel.set(label, []).get(label)).push(r);
      const ck = process.argv.includes('--no-torch') ? null : packCheckpoint(pack);
      if (!ck && !process.argv.includes('--no-torch')) console.error(`${pack}: no checkpoint with the pack's sha256 here: no PyTorch CPU rows`);
      for (let round = 0; round < rounds; round++) {
        if (ck) for (const t of [1, 2]) {
          const r = torchBench(pack, ck, t);
          if (r) add(`PyTorch CPU ${t} thread${t > 1 ? 's' : ''}`, { ...r, ref: true });
        }
        for (const c of configs) {
          const t = c.label.includes('1 thread') ? 1 : 2;
          const nref = await nodeBench(pack, t); // native right before: a slow minute hits both
          add(`onnxruntime-node ${t} thread${t > 1 ? 's' : ''}`, { ...nref, ref: true });
          const page = await browser.newPage(); // fresh page + worker: WASM settings freeze per worker
          page.on('pageerror', (e) => console.error('pageerror', e.message));
          await page.goto(`${base}bench/index.html?pack=${pack}&${c.q}`);
          await page.waitForFunction(() => window.__bench, null, { timeout: 600_000, polling: 500 });
          const r = await page.evaluate(() => window.__bench);
          await page.close();
          if (r.error) { add(c.label, { error: r.error }); continue; }
          const label = c.label + (r.backend.kind !== (c.label.startsWith('WebGPU') ? 'webgpu' : 'wasm') ? ` [ran on ${r.backend.kind}]` : '');
          add(label, { stepMs: r.stepMs, frameMs: r.frameMs, firstStepsMs: r.firstStepsMs, first100Ms: r.first100Ms,
            stepRatio: r.stepMs / nref.stepMs, frameRatio: r.frameMs / nref.frameMs, loadMs: r.loadMs, warmUp: r.warmUp });
          console.error(`round ${round + 1}: ${pack} ${label}: ${r.stepMs?.toFixed(1)} ms/step (${(r.stepMs / nref.stepMs).toFixed(2)}x native ${nref.stepMs.toFixed(1)}), first 10 steps ${r.firstStepsMs?.toFixed(1)} ms, ${r.frameMs?.toFixed(1)} ms/frame${r.warmUp ? `, warm-up ${r.warmUp.runs} runs ${r.warmUp.ms.toFixed(0)} ms (${r.warmUp.outcome})` : ''}`);
        }
      }
      const fastestOf = (what, t, k) => Math.min(...(byLabel.get(`${what} ${t} thread${t > 1 ? 's' : ''}`) ?? []).map((r) => r[k]));
      const fastest = (t, k) => fastestOf('onnxruntime-node', t, k);
      for (const [label, rs] of byLabel) {
        const ok = rs.filter((r) => !r.error);
        if (!ok.length) { rows.push({ pack, label, error: rs[0].error }); continue; }
        const m = (k) => (ok.every((r) => r[k] !== undefined) ? median(ok.map((r) => r[k])) : undefined);
        const t = label.includes('1 thread') ? 1 : 2;
        const what = label.startsWith('PyTorch') ? 'PyTorch CPU' : 'onnxruntime-node';
        const row = { pack, label, ref: !!ok[0].ref, stepMs: ok[0].ref ? fastestOf(what, t, 'stepMs') : m('stepMs'), frameMs: ok[0].ref ? fastestOf(what, t, 'frameMs') : m('frameMs'),
          firstStepsMs: m('firstStepsMs'), first100Ms: m('first100Ms'), n: ok.length };
        if (!row.ref) {
          row.stepRatio = row.stepMs / fastest(t, 'stepMs'); row.frameRatio = row.frameMs / fastest(t, 'frameMs');
          row.torchRatio = ck ? row.stepMs / fastestOf('PyTorch CPU', t, 'stepMs') : undefined;
        }
        rows.push(row);
      }
    }
  } finally {
    await browser.close();
    await server.close();
  }
  const pad = (s, n) => String(s).padEnd(n);
  const num = (x, d = 1) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
  console.log(`\nF/Z+ Studio bench (${new Date().toISOString()}), Chromium ${browser.version?.() ?? ''}; steps=${steps}, frames=${frames}, rounds=${rounds} (median over rounds); ms/step = steady state (second half); node rows = the fastest native run; x node = vs that, same thread count (WebGPU vs 2 threads)`);
  console.log(pad('pack', 14) + pad('config', 30) + pad('ms/step', 10) + pad('x node', 9) + pad('x torch', 9) + pad('first 10', 10) + pad('100 steps', 11) + pad('ms/frame', 10) + pad('x node', 9) + 'frames/s');
  for (const r of rows) {
    if (r.error) { console.log(pad(r.pack, 14) + pad(r.label, 30) + 'ERROR ' + r.error); continue; }
    console.log(pad(r.pack, 14) + pad(r.label, 30) + pad(num(r.stepMs), 10) + pad(r.ref ? '' : num(r.stepRatio, 2), 9) + pad(r.ref ? '' : num(r.torchRatio, 2), 9) + pad(r.ref ? '' : num(r.firstStepsMs), 10)
      + pad(r.ref ? '' : r.first100Ms !== undefined ? `${num(r.first100Ms / 1000, 2)} s` : '–', 11) + pad(num(r.frameMs), 10) + pad(r.ref ? '' : num(r.frameRatio, 2), 9) + num(1000 / r.frameMs, 1));
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
