/**
 * Large packs in Debian's Chromium, WASM: the 1024 px FFHQ config-f-shaped pack with random weights
 * (scripts/make-large-pack.sh → data/packs/ffhq-random-1024, ~208 MB with fp16 copies) is imported as a folder through
 * the model manager. Unzip/hash/OPFS writes run in the import worker and loading in the engine worker, so the page
 * must stay responsive: no main-thread task over 500 ms (PerformanceObserver 'longtask'; measured 61-332 ms, the
 * worst on a crowded core) and no requestAnimationFrame gap over 1 s while it imports and loads. Then the pack renders one 1024 px frame on WASM
 * through the session-restore path (importCodes → synthesis_from_f) — no 1024 gradient step runs here.
 */
import { test, expect, type Page } from '@playwright/test';
import { existsSync, readFileSync } from 'node:fs';
import { collectErrors, waitReady, watchImportStatus } from './helpers';

const DIR = process.env.LARGE_PACK ?? 'data/packs/ffhq-random-1024';
const row = (page: Page, id: string, source: string) => page.locator(`[data-testid="mm-pack"][data-pack-id="${id}"][data-source="${source}"]`);

type Probe = { longTasks: number[]; maxGap: number; running: boolean; during: string[] };

/** Starts the main-thread probes: long tasks (> 50 ms, as the browser reports them) and the largest rAF gap. */
async function startProbe(page: Page) {
  await page.evaluate(() => {
    const w = window as unknown as { __probe: Probe };
    const probe: Probe = { longTasks: [], maxGap: 0, running: true, during: [] };
    w.__probe = probe;
    const what = () => document.querySelector('[data-testid="mm-status"]')?.textContent ?? document.querySelector('[data-testid="mm-message"]')?.textContent ?? '';
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (!probe.running) continue;
        probe.longTasks.push(Math.round(e.duration));
        if (e.duration > 150) probe.during.push(`${Math.round(e.duration)} ms at ${what().slice(0, 80)}`);
      }
    }).observe({ type: 'longtask', buffered: false });
    let last = performance.now();
    const tick = (t: number) => {
      if (!probe.running) return;
      if (t - last > 250) probe.during.push(`frame gap ${Math.round(t - last)} ms at ${what().slice(0, 80)}`);
      probe.maxGap = Math.max(probe.maxGap, t - last);
      last = t;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}

async function stopProbe(page: Page): Promise<Probe> {
  return page.evaluate(() => {
    const w = window as unknown as { __probe: Probe };
    w.__probe.running = false;
    return { ...w.__probe, maxGap: Math.round(w.__probe.maxGap) };
  });
}

test('a 1024 px config-f pack imports and loads without freezing the page, then renders on WASM', async ({ page }) => {
  test.skip(!existsSync(`${DIR}/manifest.json`), `no large pack at ${DIR}: run scripts/make-large-pack.sh (npm test does)`);
  test.setTimeout(600_000);
  const manifest = JSON.parse(readFileSync(`${DIR}/manifest.json`, 'utf8'));
  expect(manifest.resolution).toBe(1024);
  const errors = collectErrors(page);
  page.on('dialog', (d) => void d.accept());
  await page.goto('/?backend=wasm&pack=tiny-test');
  await waitReady(page);
  await page.getByTestId('mm-open').click();

  // import the folder: status lines show bytes read per file
  const { seen, stop: stopWatch } = watchImportStatus(page, 100);
  await startProbe(page);
  const t0 = Date.now();
  await page.getByTestId('mm-dir-input').setInputFiles(DIR);
  await expect(page.getByTestId('mm-message')).toContainText(`Imported ${manifest.title}`, { timeout: 480_000 });
  const importMs = Date.now() - t0;
  stopWatch();
  const probe = await stopProbe(page);
  const lines = [...seen];
  console.log(`large pack: import + load ${importMs} ms; long tasks ${JSON.stringify(probe.longTasks)}; largest frame gap ${probe.maxGap} ms`);
  console.log('slow spots:', JSON.stringify(probe.during));
  console.log('status lines (sample):', lines.filter((l) => /weights\.bin/.test(l)).slice(0, 4).join(' | '));
  expect(lines.some((l) => /Reading weights\.bin: \d+%/.test(l))).toBe(true);
  // no main-thread task over 500 ms (measured 61-332 ms; unzip + hashing 200 MB on the main thread would block for
  // seconds); frames may wait longer when the workers and the storage process share one core with the page, but a
  // frozen page would miss frames for seconds
  expect(Math.max(0, ...probe.longTasks)).toBeLessThan(500);
  expect(probe.maxGap).toBeLessThan(1000);
  await expect(row(page, manifest.name, 'imported')).toHaveAttribute('data-active', 'true');
  await expect(page.getByTestId('pack-name')).toContainText('1024 px');
  const stored = await page.evaluate(async (name) => {
    const root = await (await navigator.storage.getDirectory()).getDirectoryHandle('packs');
    const f = await (await (await root.getDirectoryHandle(name)).getFileHandle('weights.bin')).getFile();
    return f.size;
  }, manifest.name);
  expect(stored).toBe(manifest.weights.bytes);

  // one synthesis on WASM without an inversion: a saved session with codes for this pack (z on the sphere, F = 0.1),
  // restored after a reload (the stored pack is loaded again from OPFS) → importCodes → synthesis_from_f
  const st = await page.evaluate(() => (window as unknown as { __fzplus: { state(): { settings: unknown; packUrl: string } } }).__fzplus.state());
  expect(st.packUrl).toBe(`opfs:/packs/${manifest.name}/`);
  const fShape = manifest.graphs.synthesis_from_f.inputs.find((i: { name: string }) => i.name === 'f').shape as number[];
  const nF = fShape.reduce((a, b) => a * b, 1);
  const nZ = manifest.numWs * manifest.zDim;
  const png = readFileSync('e2e/fixtures/tiny-heldout.png');
  await page.evaluate(
    async ({ name, packUrl, title, settings, nF, nZ, zDim, png }) => {
      let seed = 1;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
      const code = new Float32Array(nZ).map(rnd);
      for (let i = 0; i < nZ; i += zDim) {
        let s = 0;
        for (let j = 0; j < zDim; j++) s += code[i + j] ** 2;
        const k = Math.sqrt(zDim / s);
        for (let j = 0; j < zDim; j++) code[i + j] *= k;
      }
      const f = new Float32Array(nF).fill(0.1);
      const adam = (n: number) => ({ m: new Float32Array(n), v: new Float32Array(n), t: 0 });
      const record = {
        version: 1, savedAt: Date.now(), pack: name, packUrl, packTitle: title,
        photo: { name: 'heldout.png', type: 'image/png', bytes: new Uint8Array(png).buffer },
        crop: null, faces: [], settings: { ...(settings as object), space: 'F/Z+' }, sliders: {},
        codes: { space: 'F/Z+', step: 0, f, fInit: f.slice(), code, adamF: adam(nF), adamCode: adam(nZ) },
      };
      await new Promise<void>((resolve, reject) => {
        const req = indexedDB.open('fzplus-studio', 1);
        req.onupgradeneeded = () => req.result.createObjectStore('sessions');
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const t = req.result.transaction('sessions', 'readwrite');
          t.objectStore('sessions').put(record, 'last');
          t.oncomplete = () => (req.result.close(), resolve());
          t.onerror = () => reject(t.error);
        };
      });
    },
    { name: manifest.name, packUrl: st.packUrl, title: manifest.title, settings: st.settings, nF, nZ, zDim: manifest.zDim, png: [...png] },
  );
  const t1 = Date.now();
  await page.goto('/?backend=wasm');
  await expect(page.getByTestId('session-offer')).toBeVisible({ timeout: 240_000 });
  await expect(page.getByTestId('pack-name')).toContainText('1024 px', { timeout: 240_000 });
  const t2 = Date.now();
  await page.getByTestId('restore-session').click();
  await expect(page.getByTestId('progress')).toHaveAttribute('data-phase', 'inverted', { timeout: 240_000 });
  console.log(`reload + load from OPFS ${t2 - t1} ms; restore (one 1024 px synthesis on WASM) ${Date.now() - t2} ms`);
  const stats = await page.evaluate(() => {
    const c = document.querySelector('canvas[data-testid="result-canvas"]') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let min = 255, max = 0;
    for (let i = 0; i < d.length; i += 4) (min = Math.min(min, d[i])), (max = Math.max(max, d[i]));
    return { w: c.width, h: c.height, min, max };
  });
  console.log('restored frame', JSON.stringify(stats));
  expect(stats.max).toBeGreaterThan(stats.min); // a real image, not a blank canvas
  // the backend stayed WASM
  await expect(page.getByTestId('backend-badge')).toHaveAttribute('data-backend', 'wasm');

  // leave nothing behind (the next run starts empty)
  await page.evaluate(async (name) => {
    const root = await (await navigator.storage.getDirectory()).getDirectoryHandle('packs');
    await root.removeEntry(name, { recursive: true });
  }, manifest.name);
  expect(errors).toEqual([]);
});
