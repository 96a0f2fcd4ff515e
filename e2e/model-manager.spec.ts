/**
 * Model manager (issue 5.2) in Debian's Chromium: import the tiny test pack from a zip (made here with fflate, renamed
 * so it is told apart from the bundled copy), see it listed, switch away and back, reload (kept in OPFS, and the
 * app comes back to it), delete it; a zip with a corrupted graph and one whose graph does not load are refused with a
 * message naming the file, and the current pack stays usable.
 */
import { expect, test, type Page } from '@playwright/test';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { createHash } from 'node:crypto';
import { collectErrors, dropFile, waitInverted, waitReady } from './helpers';

const DIR = 'public/models/tiny-test';

function readTree(dir: string, prefix = ''): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) Object.assign(out, readTree(p, `${prefix}${n}/`));
    else out[`${prefix}${n}`] = new Uint8Array(readFileSync(p));
  }
  return out;
}

/** The tiny pack as `<top>/...` in a zip, with its manifest renamed; `mutate` may change files and the manifest. */
function tinyZip(name: string, title: string, mutate?: (files: Record<string, Uint8Array>, m: any) => void): Buffer {
  const files = readTree(DIR);
  const m = JSON.parse(new TextDecoder().decode(files['manifest.json']));
  m.name = name;
  m.title = title;
  mutate?.(files, m);
  files['manifest.json'] = new TextEncoder().encode(JSON.stringify(m, null, 1));
  return Buffer.from(zipSync(Object.fromEntries(Object.entries(files).map(([p, d]) => [`${name}/${p}`, d]))));
}

async function importZip(page: Page, file: string, zip: Buffer) {
  await page.getByTestId('mm-zip-input').setInputFiles({ name: file, mimeType: 'application/zip', buffer: zip });
}

const row = (page: Page, id: string, source: string) => page.locator(`[data-testid="mm-pack"][data-pack-id="${id}"][data-source="${source}"]`);

test('import a zip, list, switch, reload, delete; broken packs are refused', async ({ page }) => {
  const errors = collectErrors(page);
  page.on('dialog', (d) => void d.accept());
  await page.goto('/?backend=wasm&steps=20');
  await waitReady(page);
  const firstTitle = await page.getByTestId('pack-name').textContent();

  await page.getByTestId('mm-open').click();
  const panel = page.getByTestId('model-manager');
  await expect(panel.getByTestId('mm-pack').first()).toBeVisible();
  await expect(row(page, 'tiny-test', 'bundled')).toBeVisible();
  await expect(page.getByTestId('mm-quota')).toContainText(/used of/);

  // import: checked, stored, loaded and active
  await importZip(page, 'tiny-imported.zip', tinyZip('tiny-imported', 'Tiny imported'));
  await expect(page.getByTestId('mm-message')).toContainText('Imported Tiny imported');
  await expect(row(page, 'tiny-imported', 'imported')).toHaveAttribute('data-active', 'true');
  await expect(page.getByTestId('pack-name')).toContainText('Tiny imported');

  // switch to the bundled tiny pack and back
  await row(page, 'tiny-test', 'bundled').getByTestId('mm-use').click();
  await expect(page.getByTestId('pack-name')).toContainText('Tiny test pack');
  await row(page, 'tiny-imported', 'imported').getByTestId('mm-use').click();
  await expect(page.getByTestId('pack-name')).toContainText('Tiny imported');
  await waitReady(page);

  // reload: still stored, and the app comes back to the pack in use
  await page.reload();
  await waitReady(page);
  await expect(page.getByTestId('pack-name')).toContainText('Tiny imported');
  await page.getByTestId('mm-open').click();
  await expect(row(page, 'tiny-imported', 'imported')).toHaveAttribute('data-active', 'true');
  // its sample faces are read from OPFS (blob: URLs)
  const sample = page.getByTestId('sample').first().locator('img');
  await expect(sample).toHaveAttribute('src', /^blob:/);
  await expect.poll(() => sample.evaluate((i) => (i as HTMLImageElement).naturalWidth)).toBe(32);
  // the imported pack edits: drop a face and invert
  await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'heldout.png');
  await waitInverted(page);

  // delete (the pack in use cannot be deleted: switch first)
  await expect(row(page, 'tiny-imported', 'imported').getByTestId('mm-delete')).toBeDisabled();
  await row(page, 'tiny-test', 'bundled').getByTestId('mm-use').click();
  await expect(page.getByTestId('pack-name')).toContainText('Tiny test pack');
  await row(page, 'tiny-imported', 'imported').getByTestId('mm-delete').click();
  await expect(page.getByTestId('mm-message')).toContainText('Deleted Tiny imported');
  await expect(row(page, 'tiny-imported', 'imported')).toHaveCount(0);

  // a corrupted graph: hash mismatch, refused naming the file; nothing stored; the current pack stays
  await importZip(page, 'broken.zip', tinyZip('tiny-broken', 'Tiny broken', (f) => {
    const g = f['mapping.onnx'].slice();
    for (let i = 40; i < 80; i++) g[i] ^= 0x5a;
    f['mapping.onnx'] = g;
  }));
  await expect(page.getByTestId('mm-message')).toContainText(/broken\.zip was refused: .*mapping\.onnx.*sha256/);
  await expect(row(page, 'tiny-broken', 'imported')).toHaveCount(0);
  await expect(page.getByTestId('pack-name')).toContainText('Tiny test pack');

  // a graph that fails to load (manifest hash updated to match the garbage): refused by the engine, not kept
  await importZip(page, 'badgraph.zip', tinyZip('tiny-badgraph', 'Tiny bad graph', (f, m) => {
    const g = new TextEncoder().encode('this is not an onnx graph');
    f['synthesis_from_f.onnx'] = g;
    m.graphs.synthesis_from_f.bytes = g.length;
    m.graphs.synthesis_from_f.sha256 = createHash('sha256').update(g).digest('hex');
  }));
  await expect(page.getByTestId('mm-message')).toContainText(/badgraph\.zip was refused: .*synthesis_from_f/);
  await expect(row(page, 'tiny-badgraph', 'imported')).toHaveCount(0);
  await expect(page.getByTestId('pack-name')).toContainText('Tiny test pack');

  // bad JSON and a missing graph
  await importZip(page, 'badjson.zip', Buffer.from(zipSync({ 'x/manifest.json': new TextEncoder().encode('{"name": ') })));
  await expect(page.getByTestId('mm-message')).toContainText(/badjson\.zip was refused: manifest\.json is not valid JSON/);
  await importZip(page, 'nograph.zip', tinyZip('tiny-nograph', 'Tiny no graph', (f) => void delete f['features.onnx']));
  await expect(page.getByTestId('mm-message')).toContainText(/lacks graph 'features' \(features\.onnx\)/);

  // the current pack still edits
  await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'heldout.png');
  await waitInverted(page);
  expect(firstTitle).toBeTruthy();
  expect(errors).toEqual([]);
});

test('import from a same-origin URL (download progress) and from a folder', async ({ page }) => {
  const errors = collectErrors(page);
  page.on('dialog', (d) => void d.accept());
  await page.goto('/?backend=wasm&pack=tiny-test');
  await waitReady(page);
  await page.getByTestId('mm-open').click();
  const seen = new Set<string>();
  const status = page.getByTestId('mm-status');
  const watch = setInterval(() => void status.textContent({ timeout: 50 }).then((t) => t && seen.add(t)).catch(() => undefined), 20);

  await page.getByTestId('mm-url').fill('/models/tiny-test/');
  await page.getByTestId('mm-url-go').click();
  await expect(page.getByTestId('mm-message')).toContainText('Imported Tiny test pack');
  clearInterval(watch);
  console.log('status lines seen:', [...seen].join(' | '));
  await expect(row(page, 'tiny-test', 'imported')).toHaveAttribute('data-active', 'true');
  if (process.env.MM_SCREENSHOT) await page.screenshot({ path: process.env.MM_SCREENSHOT });

  // a URL that is not a pack
  await page.getByTestId('mm-url').fill('/models/no-such-pack/');
  await page.getByTestId('mm-url-go').click();
  await expect(page.getByTestId('mm-message')).toContainText(/was refused: .*manifest\.json/);

  // another site: refused before any request (the CSP allows only this origin)
  await page.getByTestId('mm-url').fill('https://example.com/pack.zip');
  await page.getByTestId('mm-url-go').click();
  await expect(page.getByTestId('mm-message')).toContainText('is on another site');

  // folder (webkitdirectory): stored beside the first copy (an import never overwrites)
  await row(page, 'tiny-test', 'bundled').getByTestId('mm-use').click();
  await expect(row(page, 'tiny-test', 'bundled')).toHaveAttribute('data-active', 'true');
  await page.getByTestId('mm-dir-input').setInputFiles(DIR);
  await expect(page.getByTestId('mm-message')).toContainText('Imported Tiny test pack');
  await expect(row(page, 'tiny-test-2', 'imported')).toHaveAttribute('data-active', 'true');
  await row(page, 'tiny-test', 'bundled').getByTestId('mm-use').click();
  await expect(row(page, 'tiny-test', 'bundled')).toHaveAttribute('data-active', 'true');
  for (const id of ['tiny-test', 'tiny-test-2']) {
    await row(page, id, 'imported').getByTestId('mm-delete').click();
    await expect(row(page, id, 'imported')).toHaveCount(0);
  }
  expect(errors).toEqual([]);
});

test('an imported pack works offline after a reload', async ({ page, context }) => {
  const errors = collectErrors(page);
  await page.goto('/?backend=wasm&steps=20');
  await waitReady(page);
  await page.evaluate(async () => (await navigator.serviceWorker.ready).active?.state);
  await page.getByTestId('mm-open').click();
  await importZip(page, 'offline.zip', tinyZip('tiny-offline', 'Tiny offline'));
  await expect(page.getByTestId('mm-message')).toContainText('Imported Tiny offline');

  await context.setOffline(true);
  await page.reload();
  expect(await page.evaluate(() => !!navigator.serviceWorker.controller)).toBe(true);
  await expect(page.getByTestId('pack-name')).toContainText('Tiny offline');
  await waitReady(page);
  await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'heldout.png');
  await waitInverted(page);
  await context.setOffline(false);
  expect(errors).toEqual([]);
});
