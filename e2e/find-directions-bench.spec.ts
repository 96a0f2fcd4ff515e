/**
 * Opt-in bench: how long "Find directions" (GANSpace in the engine worker, src/engine/edit/ganspace.ts) takes on a
 * pack without directions, in Debian's Chromium on WASM, through the app's own path: the pack folder is imported in
 * the model manager, opens without directions, and the find starts by itself (as for a user's imported pack).
 * Skipped unless FIND_DIRECTIONS_PACKS names pack folders (comma-separated), e.g.
 *   bash scripts/make-nodirs-packs.sh
 *   FIND_DIRECTIONS_PACKS=data/packs/r256-random-nodirs,data/packs/ffhq-random-1024-nodirs \
 *     CI=1 E2E_PORT=5291 taskset -c 1 npx playwright test e2e/find-directions-bench.spec.ts
 * A pack that still has directions is imported with them removed from its manifest (a temporary copy).
 * FIND_SAMPLES=N: cancel the automatic run (10^5 samples) and find with N samples instead, through the same worker
 * call (for sizes where the full run takes too long; the sampling pass grows with N, the fits and the effect renders
 * do not). Prints the worker's own time ("Found ... in X s"), the wall time to the end of sampling (progress 0.6) and
 * to the end, per pack.
 */
import { expect, test } from '@playwright/test';
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectErrors, waitReady } from './helpers';

const PACKS = (process.env.FIND_DIRECTIONS_PACKS ?? '').split(',').filter(Boolean);
const SAMPLES = process.env.FIND_SAMPLES ? Number(process.env.FIND_SAMPLES) : null;
test.skip(!PACKS.length, 'opt-in bench: set FIND_DIRECTIONS_PACKS=dir[,dir...]');

/** The pack folder as the bench imports it: `dir` itself when it has no directions, else a copy without them. */
function withoutDirections(dir: string): { dir: string; manifest: any } {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  if (!manifest.directions.length) return { dir, manifest };
  const out = `/tmp/fzplus-find-bench/${manifest.name}-nodirs`;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const n of readdirSync(dir)) {
    if (n === 'manifest.json' || statSync(join(dir, n)).isDirectory()) continue;
    try {
      linkSync(join(dir, n), join(out, n));
    } catch {
      copyFileSync(join(dir, n), join(out, n));
    }
  }
  Object.assign(manifest, { name: `${manifest.name}-nodirs`, title: `${manifest.title} without directions`, directions: [] });
  writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 1));
  return { dir: out, manifest };
}

for (const packDir of PACKS) {
  test(`Find directions on ${packDir} (WASM)`, async ({ page, browser }) => {
    test.setTimeout(3_600_000);
    expect(existsSync(join(packDir, 'manifest.json')), `${packDir}/manifest.json`).toBe(true);
    const { dir, manifest } = withoutDirections(packDir);
    const errors = collectErrors(page);
    page.on('dialog', (d) => void d.accept());
    await page.goto('/?backend=wasm&pack=tiny-test');
    await waitReady(page);
    await page.getByTestId('mm-open').click();
    await page.getByTestId('mm-dir-input').setInputFiles(dir);
    await expect(page.getByTestId('mm-message')).toContainText(`Imported ${manifest.title}`, { timeout: 900_000 });

    const state = () => page.evaluate(() => {
      const s = (window as any).__fzplus.state();
      return { progress: s.finding?.progress ?? null, msg: s.directionsMsg?.text ?? null };
    });
    await expect.poll(async () => (await state()).progress !== null || /Found/.test((await state()).msg ?? ''), { timeout: 120_000 }).toBe(true);
    let t0 = Date.now();
    if (SAMPLES) {
      await page.getByTestId('dir-cancel').click();
      await expect(page.getByTestId('dir-message')).toHaveText(/Stopped; nothing was added/, { timeout: 600_000 });
      t0 = Date.now();
      void page.evaluate((samples) => (window as any).__fzplus.findDirections({ samples }), SAMPLES);
    }
    let sampled: number | null = null;
    let msg: string | null = null;
    for (;;) {
      const s = await state();
      if (sampled === null && s.progress !== null && s.progress >= 0.6) sampled = Date.now() - t0;
      if (s.progress === null && s.msg && /Found|failed|Stopped/.test(s.msg) && Date.now() - t0 > 1000) {
        msg = s.msg;
        break;
      }
      await page.waitForTimeout(500);
    }
    const wall = (Date.now() - t0) / 1000;
    console.log(
      `Find directions on ${manifest.name} (${manifest.resolution} px, zDim ${manifest.zDim}, ${manifest.numWs} ws, WASM, ` +
        `Chromium ${browser.version()}): ${msg}; wall ${wall.toFixed(1)} s, sampling ${sampled === null ? '?' : (sampled / 1000).toFixed(1)} s ` +
        `(${SAMPLES ? `${SAMPLES} samples` : 'automatic run on import'})`,
    );
    expect(msg).toMatch(/Found \d+ directions in [\d.]+ s/);
    expect(errors).toEqual([]);
  });
}
