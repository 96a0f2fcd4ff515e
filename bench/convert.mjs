#!/usr/bin/env node
/**
 * npm run bench:convert — in-browser checkpoint conversion, timed and sized, in Debian's Chromium (via Playwright).
 *
 *   npm run bench:convert -- [--sizes 256,1024] [--json FILE] [--incognito] [--limit-s 600]
 *   node bench/convert.mjs --report FILE   (prints the table of a saved --json FILE again)
 *
 * For each random channel-multiplier-2 checkpoint data/convert-fixtures/r<size>.pt (made if absent by
 * `nice -n 19 /usr/bin/python3 scripts/make-convert-fixtures.py --random <sizes>`), the built app (dist/, rebuilt with
 * `npx vite build` when missing or older than its sources, then served by `vite preview` with the production headers,
 * as the e2e tests serve it) is opened at /?backend=wasm&pack=tiny-test in a fresh Chromium profile, and the file is
 * dropped on the Models sheet the way e2e/convert-checkpoint.spec.ts drops it. Measured:
 * - sizes: the checkpoint, and weights.bin as stored in OPFS (its manifest's sha256 is checked against
 *   data/convert-fixtures/expected.json, i.e. the Python recipe path);
 * - wall time from the drop to the pack stored (the sheet says "Loading <pack>…") and to the pack loaded (the sheet
 *   says "Converted …"), and per phase from the sheet's progress text (reading, template, wavg, weights, storing),
 *   timestamped in the page by a MutationObserver;
 * - memory: RSS of Chromium's processes from /proc/<pid>/status every 100 ms. The conversion runs in the import
 *   worker and the pack loads in the engine worker, both inside the page's renderer process, so the renderer's RSS is
 *   what counts (CDP Performance.getMetrics' JSHeapUsedSize sees only the page's main-thread heap, not the workers'
 *   heaps nor their ArrayBuffers). Reported: the renderer's RSS before the drop (median of 2 s), its peak from the
 *   drop to stored (the larger of the sampled peak and VmHWM when VmHWM rose during that span) and from stored to
 *   loaded, and the peak of all Chromium processes together over their sum before the drop.
 * The profile is a fresh on-disk user-data dir per checkpoint (OPFS on disk, as for a user); --incognito uses a
 * Playwright incognito context as the e2e tests do (OPFS kept in memory by Chromium). Each conversion has --limit-s
 * (600 s) from the drop to loaded. The machine's load (uptime), core count and nice value are printed and stored.
 */
import { preview } from 'vite';
import { chromium } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, getPriority, loadavg, tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { procTable, sampleTree } from './procTree.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : def; };
const sizes = arg('sizes', '256,1024').split(',').map(Number);
const jsonOut = arg('json', null);
const limitMs = Number(arg('limit-s', 600)) * 1000;
const incognito = process.argv.includes('--incognito');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium';
const TEMPLATE = { 256: 'r256-cm2', 512: 'r512-cm2', 1024: 'ffhq1024-f' };
const FIX = join(root, 'data', 'convert-fixtures');
const MB = (b) => (b == null ? '–' : (b / 1e6).toFixed(1)); // MB = 10^6 bytes, as the README writes sizes
const S = (ms) => (ms == null ? '–' : (ms / 1000).toFixed(1));
const uptime = () => { try { return execFileSync('uptime', { encoding: 'utf8' }).trim(); } catch { return `load average: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`; } };
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : null; };

if (arg('report', null)) {
  const saved = JSON.parse(readFileSync(arg('report', null), 'utf8'));
  report(saved.machine, saved.results, saved.date);
  process.exit(0);
}
for (const n of sizes) if (!TEMPLATE[n]) throw new Error(`--sizes: ${n} px has no template (256, 512, 1024)`);

// 1. fixtures
if (sizes.some((n) => !existsSync(join(FIX, `r${n}.pt`)))) {
  console.log(`making the random checkpoints (nice -n 19 scripts/make-convert-fixtures.py --random ${sizes.join(' ')})…`);
  execFileSync('nice', ['-n', '19', process.env.PYTHON ?? '/usr/bin/python3', 'scripts/make-convert-fixtures.py', '--random', ...sizes.map(String)], { cwd: root, stdio: 'inherit' });
}
const expected = existsSync(join(FIX, 'expected.json')) ? JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')).files ?? {} : {};

// 2. the build: the e2e tests rebuild every time (playwright.config.ts webServer); here only when dist/ is missing,
// lacks a template, or is older than any of its sources
function newest(p) {
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = st.mtimeMs;
  for (const e of readdirSync(p)) m = Math.max(m, newest(join(p, e)));
  return m;
}
const distIndex = join(root, 'dist', 'index.html');
const sources = ['src', 'public', 'index.html', 'vite.config.ts', 'vite.pwa.ts', 'package.json', 'package-lock.json'].map((p) => join(root, p)).filter(existsSync);
const stale = !existsSync(distIndex) ? 'dist/ missing'
  : sizes.find((n) => !existsSync(join(root, 'dist', 'templates', TEMPLATE[n], 'recipe.json'))) ? 'a template missing in dist/'
  : Math.max(...sources.map(newest)) > statSync(distIndex).mtimeMs ? 'sources newer than dist/' : null;
if (stale) {
  console.log(`building (${stale}): npx vite build…`);
  const t = Date.now();
  execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
  console.log(`  built in ${S(Date.now() - t)} s`);
}

// 3. /proc sampling of the browser's process tree
function browserPid(marker) {
  for (const [pid, p] of procTable()) if (p.cmd.includes(marker) && !p.cmd.includes('--type=')) return pid;
  throw new Error('Chromium browser process not found');
}
/** In the page: timestamps (epoch ms) of the sheet's phase changes, from its status and message text. */
function installObserver() {
  const w = window;
  const bc = (w.__bc = { t0: 0, events: [], done: false, last: '' });
  const now = () => performance.timeOrigin + performance.now();
  const phaseOf = (status, msg) => {
    if (msg && /^Converted /.test(msg)) return 'loaded';
    if (msg && /was not converted|cancelled/.test(msg)) return 'error';
    if (!status) return null;
    if (/^Fetching the /.test(status)) return 'template';
    if (/^Computing w_avg/.test(status)) return 'wavg';
    if (/^Writing weights\.bin/.test(status)) return 'weights';
    if (/^Storing the pack/.test(status)) return 'storing';
    if (/^Loading /.test(status)) return 'loading';
    if (/^Reading /.test(status)) return 'reading';
    return null;
  };
  new MutationObserver(() => {
    if (!bc.t0 || bc.done) return;
    const status = document.querySelector('[data-testid="mm-status"]')?.textContent ?? '';
    const msg = document.querySelector('[data-testid="mm-message"]')?.textContent ?? '';
    const phase = phaseOf(status, msg);
    if (!phase || phase === bc.last) return;
    bc.last = phase;
    bc.events.push({ phase, t: now(), text: (phase === 'loaded' || phase === 'error' ? msg : status).slice(0, 300) });
    if (phase === 'loaded' || phase === 'error') bc.done = true;
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
}

/** In the page: the stored pack's weights.bin size and manifest (OPFS packs/<id>/). */
async function storedPack() {
  const packs = await (await navigator.storage.getDirectory()).getDirectoryHandle('packs');
  const out = [];
  for await (const [name, h] of packs.entries()) {
    if (h.kind !== 'directory' || name.startsWith('.')) continue;
    try {
      const size = (await (await h.getFileHandle('weights.bin')).getFile()).size;
      const manifest = JSON.parse(await (await (await h.getFileHandle('manifest.json')).getFile()).text());
      out.push({ id: name, weightsBytes: size, sha256: manifest.weights?.sha256, title: manifest.title });
    } catch { /* not a finished pack */ }
  }
  return out;
}

async function runOne(base, n) {
  const file = join(FIX, `r${n}.pt`);
  const marker = `--fz-bench-convert=${process.pid}-${n}-${Date.now()}`;
  const args = ['--enable-unsafe-webgpu', marker];
  const profile = mkdtempSync(join(tmpdir(), 'fz-bench-convert-'));
  let browser = null;
  let context;
  if (incognito) {
    browser = await chromium.launch({ executablePath: CHROMIUM, args });
    context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  } else {
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args, viewport: { width: 1280, height: 860 } });
  }
  const bpid = browserPid(marker);
  const samples = [];
  const timer = setInterval(() => samples.push({ t: Date.now(), procs: sampleTree(bpid) }), 100);
  const r = { size: n, checkpoint: `data/convert-fixtures/r${n}.pt`, checkpointBytes: statSync(file).size, template: TEMPLATE[n] };
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}?backend=wasm&pack=tiny-test`);
    await page.waitForSelector('[data-testid="app"][data-phase="ready"], [data-testid="app"][data-phase="inverted"]', { timeout: 120_000 });
    await page.evaluate(async () => (await navigator.serviceWorker.ready).active?.state);
    await page.getByTestId('mm-open').click();
    await page.waitForSelector('[data-testid="model-manager"] .mm-content');
    await page.evaluate(installObserver);
    await page.waitForTimeout(4000); // settle (service worker precache, warm-up), then 2 s of baseline samples
    const baseFrom = Date.now();
    await page.waitForTimeout(2000);
    // the drop, as e2e/convert-checkpoint.spec.ts does it: a local file through an <input> into a DataTransfer
    await page.evaluate(() => {
      const i = document.createElement('input');
      i.type = 'file';
      i.id = 'bench-drop-source';
      i.hidden = true;
      document.querySelector('[data-testid="model-manager"]').appendChild(i);
    });
    await page.setInputFiles('#bench-drop-source', file);
    const t0 = await page.evaluate(() => {
      const i = document.getElementById('bench-drop-source');
      const dt = new DataTransfer();
      dt.items.add(i.files[0]);
      i.remove();
      const sheet = document.querySelector('[data-testid="model-manager"] .mm-content');
      window.__bc.t0 = performance.timeOrigin + performance.now();
      sheet.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      sheet.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      return window.__bc.t0;
    });
    let timedOut = false;
    await page.waitForFunction(() => window.__bc.done, null, { timeout: limitMs, polling: 250 }).catch(() => (timedOut = true));
    const bc = await page.evaluate(() => window.__bc);
    const tEnd = Date.now();
    clearInterval(timer);
    const at = (ph) => bc.events.find((e) => e.phase === ph)?.t ?? null;
    const tStored = at('loading');
    const tLoaded = at('loaded');
    r.error = bc.events.find((e) => e.phase === 'error')?.text ?? (timedOut ? `no result within ${limitMs / 1000} s (last phase: ${bc.last || 'none'})` : null);
    r.storedMs = tStored && tStored - t0;
    r.loadedMs = tLoaded && tLoaded - t0;
    r.workerMs = Number(/, (\d+) s\) and switched/.exec(bc.events.find((e) => e.phase === 'loaded')?.text ?? '')?.[1]) * 1000 || null;
    // per phase: consecutive segments of the same phase summed (the template phase comes back after w_avg)
    r.phasesMs = {};
    const evs = [{ phase: 'reading', t: t0 }, ...bc.events];
    for (let i = 0; i < evs.length - 1; i++) if (evs[i].phase !== 'loaded' && evs[i].phase !== 'error') r.phasesMs[evs[i].phase] = (r.phasesMs[evs[i].phase] ?? 0) + evs[i + 1].t - evs[i].t;
    r.events = bc.events.map((e) => ({ phase: e.phase, s: +((e.t - t0) / 1000).toFixed(2), text: e.text }));
    r.errors = errors;
    const stored = tStored ? await page.evaluate(storedPack).catch((e) => [{ error: String(e) }]) : [];
    r.weightsBytes = stored[0]?.weightsBytes ?? null;
    r.weightsSha256 = stored[0]?.sha256 ?? null;
    const exp = expected[`r${n}.pt`];
    r.matchesPython = exp && r.weightsSha256 ? exp.weightsSha256 === r.weightsSha256 && exp.weightsBytes === r.weightsBytes : null;

    // memory
    const base0 = samples.filter((s) => s.t >= baseFrom && s.t < t0);
    const conv = samples.filter((s) => s.t >= t0 && s.t <= (tStored ?? tEnd));
    const load = tStored ? samples.filter((s) => s.t > tStored && s.t <= (tLoaded ?? tEnd)) : [];
    const renderers = new Set(samples.flatMap((s) => Object.entries(s.procs).filter(([, p]) => p.type === 'renderer').map(([pid]) => pid)));
    const peakOf = (span, pid) => Math.max(0, ...span.map((s) => s.procs[pid]?.rss ?? 0));
    const baseOf = (pid) => median(base0.map((s) => s.procs[pid]?.rss).filter((x) => x != null));
    // the renderer (of those there before the drop) that grew most during the conversion is the page's (its import
    // worker converts)
    let pid = null;
    for (const p of renderers) if (baseOf(p) != null && (pid == null || peakOf(conv, p) - (baseOf(p) ?? 0) > peakOf(conv, pid) - (baseOf(pid) ?? 0))) pid = p;
    const hwm = (span) => span.length ? span[span.length - 1].procs[pid]?.hwm ?? null : null;
    const hwmBefore = hwm(base0);
    const hwmStored = hwm(conv);
    const sum = (s) => Object.values(s.procs).reduce((a, p) => a + p.rss, 0);
    const hwmPeak = hwmStored != null && hwmBefore != null && hwmStored > hwmBefore ? hwmStored : 0;
    r.memory = {
      renderers: renderers.size,
      rendererBaseline: baseOf(pid),
      rendererPeakConvert: Math.max(peakOf(conv, pid), hwmPeak),
      rendererPeakFrom: hwmPeak > peakOf(conv, pid) ? 'VmHWM' : 'samples',
      rendererPeakLoad: load.length ? peakOf(load, pid) : null,
      allBaseline: median(base0.map(sum)),
      allPeakConvert: Math.max(0, ...conv.map(sum)),
      allPeakLoad: load.length ? Math.max(0, ...load.map(sum)) : null,
      samples: conv.length + load.length,
    };
    await page.close().catch(() => undefined);
  } finally {
    clearInterval(timer);
    await context.close().catch(() => undefined);
    if (browser) await browser.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
  }
  return r;
}

// 4. run
const chromiumVersion = (() => { try { return execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).trim(); } catch { return CHROMIUM; } })();
const machine = { cores: cpus().length, cpu: cpus()[0]?.model, nice: getPriority(), uptimeBefore: uptime(), chromium: chromiumVersion, node: process.version, profile: incognito ? 'incognito (OPFS in memory)' : 'on disk' };
console.log(`bench:convert — ${chromiumVersion}, ${machine.cores} cores (${machine.cpu}), nice ${machine.nice}, profile ${machine.profile}\n  before: ${machine.uptimeBefore}`);
const server = await preview({ root, configFile: join(root, 'vite.config.ts'), logLevel: 'error', preview: { host: '127.0.0.1', port: 4199, strictPort: false } });
const base = server.resolvedUrls.local[0];
const results = [];
try {
  for (const n of sizes) {
    console.log(`  ${n} px: dropping r${n}.pt…`);
    const r = await runOne(base, n);
    r.uptimeAfter = uptime();
    console.log(`    ${r.error ? 'ERROR ' + r.error : `stored ${S(r.storedMs)} s, loaded ${S(r.loadedMs)} s`}; ${r.uptimeAfter}`);
    results.push(r);
  }
} finally {
  await server.close();
}
machine.uptimeAfter = uptime();

// 5. report
report(machine, results, new Date().toISOString());
if (jsonOut) {
  writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), machine, results }, null, 1));
  console.log(`wrote ${jsonOut}`);
}
process.exit(results.some((r) => r.error) ? 1 : 0);

function report(machine, results, date) {
  const pad = (s, w) => String(s).padStart(w);
  const phases = ['reading', 'template', 'wavg', 'weights', 'storing', 'loading'];
  console.log(`\nIn-browser conversion (${date}), ${machine.chromium}, ${machine.cores} cores, nice ${machine.nice}, WASM page, ${machine.profile} profile; times from the drop in s; sizes and memory (RSS) in MB = 10^6 bytes`);
  const heads = ['size', 'ckpt MB', 'weights MB', '=python', 'stored', 'loaded', ...phases, 'rend base', 'rend peak', '+conv', '+load', 'all +conv'];
  const row = (cells) => cells.map((c, i) => pad(c, i ? Math.max(8, heads[i].length + 1) : 5)).join('');
  console.log(row(heads));
  for (const r of results) {
    const m = r.memory ?? {};
    const cells = [`${r.size}`, MB(r.checkpointBytes), MB(r.weightsBytes), r.matchesPython == null ? '?' : r.matchesPython ? 'yes' : 'NO', S(r.storedMs), S(r.loadedMs),
      ...phases.map((p) => S(r.phasesMs?.[p])), MB(m.rendererBaseline), MB(m.rendererPeakConvert),
      m.rendererBaseline != null ? '+' + MB(m.rendererPeakConvert - m.rendererBaseline) : '–',
      m.rendererPeakLoad != null && m.rendererBaseline != null ? '+' + MB(m.rendererPeakLoad - m.rendererBaseline) : '–',
      m.allBaseline != null ? '+' + MB(m.allPeakConvert - m.allBaseline) : '–'];
    console.log(row(cells));
    if (r.error) console.log(`      error: ${r.error}`);
    if (r.errors?.length) console.log(`      page errors: ${r.errors.join(' | ').slice(0, 500)}`);
  }
  console.log(`'loading' = stored → loaded (the engine creates the pack's sessions); +conv / +load = the renderer's peak from the drop to stored / stored to loaded over its RSS before the drop; all = every Chromium process together.`);
  console.log(`load before: ${machine.uptimeBefore}\nload after:  ${machine.uptimeAfter}`);
}
