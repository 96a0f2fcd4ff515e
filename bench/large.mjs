/**
 * Large-pack bench: `npm run bench -- --large [--large-pack data/packs/ffhq-random-1024]
 * [--large-backends wasm,webgpu] [--threads 1] [--runs 3] [--grad-runs 1] [--large-graphs mapping,...] [--keep-sessions]`
 * (--keep-sessions: sessions stay alive as in the app, so one WASM heap holds them all).
 * Per graph: session creation ms, run ms (first run and the median of the rest), and memory: the WASM heap size
 * (bench/large.worker.ts), performance.measureUserAgentSpecificMemory() of the page, and the peak RSS of Chromium's
 * renderer and GPU processes sampled from /proc every 100 ms during each phase. The pack comes from the folder
 * through Vite's dev server (make it with scripts/make-large-pack.sh).
 */
import { createServer } from 'vite';
import { chromium } from '@playwright/test';
import { existsSync, readFileSync } from 'node:fs';
import { resolve, relative } from 'node:path';
import { procTable, sampleTree } from './procTree.mjs';

/** RSS of the browser's descendants by process type (renderer, gpu-process, utility, browser). */
function sampleRss(rootPid) {
  const by = {};
  for (const { type, rss } of Object.values(sampleTree(rootPid))) by[type] = (by[type] ?? 0) + rss;
  return by;
}

const MB = (b) => (b == null ? '–' : (b / 2 ** 20).toFixed(0));

export async function runLarge(root, arg) {
  const dir = resolve(root, arg('large-pack', 'data/packs/ffhq-random-1024'));
  if (!existsSync(resolve(dir, 'manifest.json'))) throw new Error(`no pack at ${dir}: run scripts/make-large-pack.sh`);
  const packUrl = '/' + relative(root, dir) + '/';
  const backends = arg('large-backends', 'wasm').split(',');
  const threads = Number(arg('threads', 1));
  const q = `runs=${arg('runs', 3)}&gradRuns=${arg('grad-runs', 1)}` + (arg('large-graphs', '') ? `&graphs=${arg('large-graphs', '')}` : '') +
    (process.argv.includes('--keep-sessions') ? '&keep=1' : '');
  const server = await createServer({ root, configFile: resolve(root, 'vite.config.ts'), logLevel: 'error', server: { port: 4189, strictPort: false, host: '127.0.0.1' } });
  await server.listen();
  const base = server.resolvedUrls.local[0];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium',
    args: ['--enable-unsafe-webgpu', '--enable-blink-features=ForceEagerMeasureMemory'],
  });
  const rootPid = browser.process?.()?.pid; // not exposed by every Playwright version: fall back to matching our profile
  const results = [];
  try {
    for (const backend of backends) {
      const page = await browser.newPage();
      page.on('pageerror', (e) => console.error('pageerror', e.message));
      const peaks = new Map();
      let phase = 'start';
      const pid = rootPid ?? findBrowserPid();
      const timer = setInterval(() => {
        const s = sampleRss(pid);
        const p = peaks.get(phase) ?? {};
        for (const [k, v] of Object.entries(s)) p[k] = Math.max(p[k] ?? 0, v);
        peaks.set(phase, p);
      }, 100);
      await page.exposeFunction('__phase', (name) => { phase = name; console.error(`  ${backend}: ${name}`); });
      await page.goto(`${base}bench/large.html?pack=${encodeURIComponent(packUrl)}&backend=${backend}&threads=${threads}&${q}`);
      await page.waitForFunction(() => window.__bench, null, { timeout: 0, polling: 1000 });
      const r = await page.evaluate(() => window.__bench);
      clearInterval(timer);
      await page.close();
      results.push({ backend, r, peaks });
    }
  } finally {
    await browser.close();
    await server.close();
  }
  const m = JSON.parse(readFileSync(resolve(dir, 'manifest.json'), 'utf8'));
  console.log(`\nLarge-pack bench (${new Date().toISOString()}): ${m.name}, ${m.resolution} px, weights.bin ${MB(m.weights.bytes)} MB; WASM threads=${threads}; ${q}`);
  const pad = (s, n) => String(s).padEnd(n);
  console.log(pad('backend', 8) + pad('graph', 24) + pad('phase', 8) + pad('ms', 10) + pad('1st ms', 10) + pad('heap MB', 9) + pad('page MB', 9) + pad('rss renderer', 14) + pad('rss gpu', 9) + 'note');
  for (const { backend, r, peaks } of results) {
    if (r.error) console.log(pad(backend, 8) + 'ERROR ' + r.error);
    for (const row of r.rows ?? []) {
      const ph = row.phase === 'fetch' ? 'fetch weights.bin' : `${row.phase} ${row.graph}`;
      const pk = peaks.get(ph) ?? {};
      console.log(pad(backend, 8) + pad(row.graph, 24) + pad(row.phase, 8) + pad(row.ms?.toFixed(0) ?? '–', 10) + pad(row.firstMs?.toFixed(0) ?? '', 10) +
        pad(MB(row.heap), 9) + pad(MB(row.uaMemory), 9) + pad(MB(pk.renderer), 14) + pad(MB(pk['gpu-process']), 9) + (row.error ? 'ERROR ' + row.error.slice(0, 400) : ''));
    }
    if (r.f16 !== undefined && backend === 'webgpu') console.log(`${backend}: adapter shader-f16: ${r.f16} (fp16 graphs ${r.f16 ? 'used' : 'not used'})`);
  }
  return results;
}

function findBrowserPid() {
  for (const [pid, p] of procTable()) if (p.cmd.includes('playwright_chromiumdev_profile') && !/--type=/.test(p.cmd) && p.cmd.includes('--enable-blink-features=ForceEagerMeasureMemory')) return pid;
  throw new Error('Chromium browser process not found');
}
