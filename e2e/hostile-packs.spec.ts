/**
 * Hostile and careless model packs through the Models sheet, in Debian's Chromium (WASM): an infinite direction
 * value, a zip bomb (its directory honest, and lying), a path leaving the pack, a file twice. Each gets a specific
 * message while the page stays responsive, the photo, its edit and the pack in use stay as they were, and OPFS holds
 * exactly what it held before. The bomb's memory growth (renderer processes' RSS, sampled) stays under 1 GiB.
 * A stored pack whose manifest is edited on disk to hold 1e999 is refused at load; leftovers of an interrupted import
 * are swept at startup and the freed bytes shown. Fixtures: e2e/fixtures/make-hostile-packs.mjs (made at test time).
 */
import { expect, test, type Page } from '@playwright/test';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { canvasPixels, collectErrors, meanAbsDiff, openEditedTinyFace, waitReady } from './helpers';
// @ts-expect-error plain JS module without types
import { bombZip, duplicateZip, goodZip, infiniteDirectionZip, traversalZip } from './fixtures/make-hostile-packs.mjs';

/** Every file in OPFS with its size (the whole origin's tree). */
async function opfsTree(page: Page): Promise<Record<string, number>> {
  return page.evaluate(async () => {
    const out: Record<string, number> = {};
    const walk = async (dir: FileSystemDirectoryHandle, prefix: string) => {
      for await (const [name, h] of (dir as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
        if (h.kind === 'directory') {
          out[`${prefix}${name}/`] = 0;
          await walk(h as FileSystemDirectoryHandle, `${prefix}${name}/`);
        } else out[`${prefix}${name}`] = (await (h as FileSystemFileHandle).getFile()).size;
      }
    };
    await walk(await navigator.storage.getDirectory(), '');
    return out;
  });
}

/** A trivial round trip to the page, in ms. */
async function roundTrip(page: Page): Promise<number> {
  const t0 = Date.now();
  await page.evaluate(() => 1);
  return Date.now() - t0;
}

/** Summed RSS (bytes) of this test worker's Chromium renderer processes (Linux /proc; 0 elsewhere). */
function rendererRss(): number {
  let procs: string[];
  try {
    procs = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return 0;
  }
  const parent = new Map<string, string>();
  const info = new Map<string, { cmd: string; rss: number }>();
  for (const pid of procs) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      parent.set(pid, /PPid:\s+(\d+)/.exec(status)?.[1] ?? '0');
      info.set(pid, { cmd: readFileSync(`/proc/${pid}/cmdline`, 'utf8'), rss: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024 });
    } catch {
      /* gone */
    }
  }
  const mine = (pid: string) => {
    for (let p = pid, n = 0; p && p !== '0' && n < 20; p = parent.get(p) ?? '0', n++) if (p === String(process.pid)) return true;
    return false;
  };
  let sum = 0;
  for (const [pid, i] of info) if (i.cmd.includes('--type=renderer') && mine(pid)) sum += i.rss;
  return sum;
}

/** Picks a zip in the Models sheet; written to the test's output folder first, so the browser reads it from disk. */
async function importZip(page: Page, file: string, zip: Uint8Array) {
  const path = test.info().outputPath(file);
  writeFileSync(path, zip);
  await page.getByTestId('mm-zip-input').setInputFiles(path);
}

test('hostile packs are refused with a specific message; photo, edit, pack and storage stay as they were', async ({ page }) => {
  test.setTimeout(300_000);
  const errors = collectErrors(page);
  const before = await openEditedTinyFace(page, 20);
  const packName = await page.getByTestId('pack-name').textContent();
  await page.getByTestId('mm-open').click();
  await expect(page.getByTestId('mm-quota')).toBeVisible();
  const stored = await opfsTree(page);

  const cases: [string, () => Uint8Array, RegExp][] = [
    ['infinite.zip', infiniteDirectionZip, /infinite\.zip was refused: manifest\.json has a number that is not finite at \/directions\/0\/vector\/0/],
    ['bomb.zip', () => bombZip(2 ** 31, false), /bomb\.zip was refused: weights\.bin: 2147483648 bytes in the zip, the manifest says 22272/],
    ['liar.zip', () => bombZip(2 ** 31, true), /liar\.zip was refused: weights\.bin inflates to more than the 22272 bytes the manifest gives/],
    ['escape.zip', traversalZip, /escape\.zip was refused: bad file path in escape\.zip: 'tiny-escape\/\.\.\/\.\.\/x'/],
    ['twice.zip', duplicateZip, /twice\.zip was refused: the zip twice\.zip holds weights\.bin twice/],
  ];
  for (const [file, make, message] of cases) {
    await test.step(file, async () => {
      const zip = make();
      const rss0 = rendererRss();
      let peak = rss0;
      const sampler = setInterval(() => (peak = Math.max(peak, rendererRss())), 50);
      const t0 = Date.now();
      await importZip(page, file, zip);
      await expect(page.getByTestId('mm-message')).toContainText(message);
      clearInterval(sampler);
      peak = Math.max(peak, rendererRss());
      const growthMB = (peak - rss0) / 2 ** 20;
      console.log(`${file} (${(zip.length / 2 ** 20).toFixed(1)} MB): refused after ${Date.now() - t0} ms, renderer RSS +${growthMB.toFixed(0)} MB`);
      expect(growthMB).toBeLessThan(1024);
      expect(await roundTrip(page)).toBeLessThan(2000);
      expect(await opfsTree(page)).toEqual(stored);
      await expect(page.getByTestId('pack-name')).toHaveText(packName!);
      expect(meanAbsDiff(before.photo, await canvasPixels(page, 'photo-canvas'))).toBe(0);
      expect(meanAbsDiff(before.edited, await canvasPixels(page, 'result-canvas'))).toBe(0);
      expect(await page.getByTestId('slider-texture').inputValue()).toBe(before.slider);
    });
  }
  expect(errors).toEqual([]);
});

test('a stored manifest edited to hold 1e999 is refused at load; leftovers of an interrupted import are swept at startup', async ({ page }) => {
  test.setTimeout(300_000);
  const errors = collectErrors(page);
  await page.goto('/?backend=wasm&pack=tiny-test&steps=10');
  await waitReady(page);
  await page.getByTestId('mm-open').click();
  await importZip(page, 'good.zip', goodZip('tiny-later'));
  await expect(page.getByTestId('mm-message')).toContainText('Imported tiny-later');

  // the stored manifest gets an infinite direction value behind the app's back: the next load refuses it
  await page.evaluate(async () => {
    const dir = await (await (await navigator.storage.getDirectory()).getDirectoryHandle('packs')).getDirectoryHandle('tiny-later');
    const fh = await dir.getFileHandle('manifest.json');
    const text = (await (await fh.getFile()).text()).replace(/("vector": \[\s*)-?[0-9.e-]+/, '$11e999');
    const w = await fh.createWritable();
    await w.write(text);
    await w.close();
  });
  // and an import "crashed" mid-way: a staging folder and a pack folder without a manifest
  await page.evaluate(async () => {
    const packs = await (await navigator.storage.getDirectory()).getDirectoryHandle('packs');
    const put = async (dir: FileSystemDirectoryHandle, name: string, bytes: number) => {
      const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
      await w.write(new Uint8Array(bytes));
      await w.close();
    };
    const staging = await (await packs.getDirectoryHandle('.staging-crashed', { create: true })).getDirectoryHandle('pack', { create: true });
    await put(staging, 'weights.bin', 100 * 1024);
    await put(await packs.getDirectoryHandle('half-pack', { create: true }), 'mapping.onnx', 50 * 1024);
  });
  // no pack in the URL: the app goes back to the remembered one, which no longer loads, then to the default
  await page.goto('/?backend=wasm&steps=10');
  await waitReady(page);
  await expect(page.getByTestId('banner-warning')).toContainText(/tiny-later.*not finite at \/directions\/0\/vector\/0.*default model/s);
  await expect(page.getByTestId('pack-name')).not.toContainText('tiny-later');
  await expect(page.getByTestId('banner-info')).toContainText('Freed 150.0 KB left in this browser\'s storage by 2 unfinished pack imports');
  expect(await roundTrip(page)).toBeLessThan(2000);
  const tree = await opfsTree(page);
  expect(Object.keys(tree).filter((p) => p.startsWith('packs/.staging') || p.startsWith('packs/half-pack'))).toEqual([]);

  await page.getByTestId('mm-open').click();
  page.on('dialog', (d) => void d.accept());
  await page.locator('[data-testid="mm-pack"][data-pack-id="tiny-later"]').getByTestId('mm-delete').click();
  await expect(page.locator('[data-testid="mm-pack"][data-pack-id="tiny-later"]')).toHaveCount(0);
  expect(Object.keys(await opfsTree(page)).filter((p) => p.startsWith('packs/') && p !== 'packs/')).toEqual([]);
  expect(errors).toEqual([]);
});
