/**
 * Edit directions added in the browser (Models sheet, "Edit directions"), in Debian's Chromium on WASM:
 * an InterFaceGAN .npy added to the demo pack becomes a slider that changes pixels and is still there after a
 * reload (stored in OPFS); bad files (wrong length, NaN, unknown format) get a message naming the problem and add
 * nothing; a copy of the demo pack without directions runs "Find directions" (GANSpace in the engine worker) by itself
 * when it loads (cancel stops it for the page), then a found slider moves pixels. The time GANSpace takes at 64 px is printed.
 * Teach a slider: from two inverted photos, and with the saved session's photo as one of the examples.
 */
import { expect, test, type Page } from '@playwright/test';
import { existsSync, readFileSync } from 'node:fs';
import { canvasPixels, collectErrors, dragSlider, dropFile, meanAbsDiff, waitInverted, waitReady } from './helpers';
import { renamedPackZip } from './fixtures/packFiles.mjs';

const DIR = 'public/models/demo64';
test.skip(!existsSync(`${DIR}/manifest.json`), 'demo pack not built (scripts/build-demo-pack.sh)');
const manifest = existsSync(`${DIR}/manifest.json`) ? JSON.parse(readFileSync(`${DIR}/manifest.json`, 'utf8')) : null;
const FACE = manifest ? `${DIR}/${manifest.samples[manifest.samples.length - 1]}` : '';

/** A .npy file as NumPy writes it (format 1.0, little-endian float32). */
function npy(values: number[], shape: number[]): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.length === 1 ? `${shape[0]},` : shape.join(', ')}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const out = Buffer.alloc(10 + header.length + 4 * values.length);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(out);
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, 'latin1');
  values.forEach((v, i) => out.writeFloatLE(v, 10 + header.length + 4 * i));
  return out;
}
const randomVector = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233));

async function addFile(page: Page, name: string, buffer: Buffer) {
  await page.getByTestId('dir-input').setInputFiles({ name, mimeType: 'application/octet-stream', buffer });
}

/** The demo pack as a zip, renamed and without any direction (as `model.export --ganspace 0` writes a pack). */
const demoWithoutDirections = (name: string): Buffer =>
  renamedPackZip(DIR, name, (m) => Object.assign(m, { title: 'Demo without directions', directions: [] }), { level: 0 });

async function invertFace(page: Page) {
  await dropFile(page, FACE, 'face.png');
  await waitInverted(page, 300_000);
}

test('a direction file on the demo pack: a new slider that edits, kept after reload; bad files are refused', async ({ page }) => {
  test.setTimeout(600_000);
  const errors = collectErrors(page);
  await page.goto('/?backend=wasm&pack=demo64&steps=10');
  await waitReady(page, 180_000);
  await invertFace(page);
  const sliders = await page.locator('[data-testid^="slider-"]').count();

  await page.getByTestId('mm-open').click();
  const bad: [string, Buffer, RegExp][] = [
    ['short.npy', npy(randomVector(64, 1), [1, 64]), /short\.npy: direction 'short' has 64 values; this pack \(demo64\) has zDim 128.*stays as it was/],
    ['nan_boundary.npy', npy([NaN, ...randomVector(127, 2)], [128]), /nan_boundary\.npy: the boundary contains NaN/],
    ['smile.txt', Buffer.from('0.1 0.2'), /smile\.txt: unknown direction file format '\.txt'/],
  ];
  for (const [name, buffer, message] of bad) {
    await addFile(page, name, buffer);
    await expect(page.getByTestId('dir-message')).toHaveText(message);
  }
  await addFile(page, 'boundary_my_edit.npy', npy(randomVector(128, 3), [1, 128]));
  await expect(page.getByTestId('dir-message')).toHaveText(/Added 1 direction: My edit/);
  await expect(page.getByTestId('dir-count')).toContainText('1 added in this browser');
  await page.keyboard.press('Escape');

  await expect(page.locator('[data-testid^="slider-"]')).toHaveCount(sliders + 1);
  const recon = await canvasPixels(page, 'result-canvas');
  await dragSlider(page, 'slider-my-edit', 0.95);
  await expect.poll(async () => meanAbsDiff(recon, await canvasPixels(page, 'result-canvas'))).toBeGreaterThan(0.5);

  await page.reload();
  await waitReady(page, 180_000);
  await expect(page.getByTestId('slider-my-edit')).toHaveCount(1);
  await page.getByTestId('mm-open').click();
  await page.getByTestId('dir-clear').click();
  await expect(page.getByTestId('dir-message')).toHaveText(/Removed the added directions/);
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('slider-my-edit')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('a pack without directions finds them on its own (cancel, then on the next load), then drag a found slider', async ({ page }) => {
  test.setTimeout(600_000);
  const errors = collectErrors(page);
  await page.goto('/?backend=wasm&pack=demo64&steps=10');
  await waitReady(page, 180_000);
  await page.getByTestId('mm-open').click();
  await page.getByTestId('mm-zip-input').setInputFiles({ name: 'demo-nodirs.zip', mimeType: 'application/zip', buffer: demoWithoutDirections('demo-nodirs') });
  await expect(page.getByTestId('mm-message')).toHaveText(/Imported Demo without directions/, { timeout: 180_000 });
  await expect(page.getByTestId('dir-count')).toContainText('0 directions of its own');

  // nobody pressed Find directions: it runs because the pack has none; stopped, it stays stopped in this page
  await expect(page.getByTestId('dir-progress')).toBeVisible();
  await expect(page.getByTestId('dir-status')).toContainText('This pack has no edit directions');
  await page.getByTestId('dir-cancel').click();
  await expect(page.getByTestId('dir-message')).toHaveText(/Stopped; nothing was added/);
  await expect(page.getByTestId('dir-find')).toBeEnabled();
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('edit-find')).toBeVisible();

  // without ?pack= the app comes back to the pack used last: the imported one, which finds its directions on load
  const t0 = Date.now();
  await page.goto('/?backend=wasm&steps=10');
  await waitReady(page, 180_000);
  await expect(page.getByTestId('pack-name')).toContainText('Demo without directions');
  await expect(page.getByTestId('edit-finding')).toBeVisible();
  await expect(page.getByTestId('slider-ganspace-pc1')).toHaveCount(1, { timeout: 480_000 });
  await expect(page.getByTestId('edit-finding')).toHaveCount(0);
  const text = await page.evaluate(() => (window as any).__fzplus.state().directionsMsg?.text);
  expect(text).toMatch(/Found \d+ directions in [\d.]+ s/);
  console.log(`Find directions on demo64 (64 px, WASM), on load: ${text} (wall ${((Date.now() - t0) / 1000).toFixed(1)} s from page load)`);
  const offered = await page.evaluate(() => (window as any).__fzplus.state().pack.directions.map((d: any) => `${d.id}:${d.offerInF}`).join(' '));
  console.log(`  offered with F fixed: ${offered}`);

  await invertFace(page);
  const recon = await canvasPixels(page, 'result-canvas');
  await dragSlider(page, 'slider-ganspace-pc1', 0.95);
  await expect.poll(async () => meanAbsDiff(recon, await canvasPixels(page, 'result-canvas'))).toBeGreaterThan(0.5);
  // stored with the pack: the next load has the sliders and finds nothing again
  await page.reload();
  await waitReady(page, 180_000);
  await expect(page.getByTestId('slider-ganspace-pc1')).toHaveCount(1);
  await expect(page.getByTestId('edit-finding')).toHaveCount(0);
  expect(errors).toEqual([]);
});

/** Names a slider from the marked examples and makes it; dragging it changes the result. */
async function makeSliderAndDrag(page: Page, name: string, id: string) {
  await page.getByTestId('teach-name').fill(name);
  await page.getByTestId('teach-make').click();
  await expect(page.getByTestId('teach-message')).toHaveText(new RegExp(`Made the slider “${name}”`));
  const recon = await canvasPixels(page, 'result-canvas');
  await dragSlider(page, `slider-${id}`, 0.95);
  await expect.poll(async () => meanAbsDiff(recon, await canvasPixels(page, 'result-canvas'))).toBeGreaterThan(0.5);
}

test('teach a slider from two photos (A -> B), then drag it', async ({ page }) => {
  test.setTimeout(300_000);
  const errors = collectErrors(page);
  await page.goto('/?backend=wasm&pack=tiny-test&steps=20');
  await waitReady(page);
  await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'a.png');
  await waitInverted(page);
  await page.getByTestId('teach').locator('summary').click();
  await page.getByTestId('teach-with').click();
  await expect(page.getByTestId('teach-with')).toHaveText(/\(1\)/);
  await dropFile(page, 'e2e/fixtures/reference-heldout.png', 'b.png');
  await waitInverted(page);
  await page.getByTestId('teach-without').click();
  await expect(page.getByTestId('teach-without')).toHaveText(/\(1\)/);
  await makeSliderAndDrag(page, 'A to B', 'taught-a-to-b');
  await page.reload();
  await waitReady(page);
  await expect(page.getByTestId('slider-taught-a-to-b')).toHaveCount(1);
  expect(errors).toEqual([]);
});

test('teach a slider with the saved session as one example', async ({ page }) => {
  test.setTimeout(300_000);
  const errors = collectErrors(page);
  await page.goto('/?backend=wasm&pack=tiny-test&steps=20');
  await waitReady(page);
  await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'saved.png');
  await waitInverted(page);
  await page.getByTestId('save-session').click();
  await expect(page.getByTestId('saved-note')).toContainText('saved.png');
  await dropFile(page, 'e2e/fixtures/reference-heldout.png', 'current.png');
  await waitInverted(page);
  await page.getByTestId('teach').locator('summary').click();
  await expect(page.getByTestId('teach-saved')).toContainText('saved.png');
  await page.getByTestId('teach-saved-with').click();
  await expect(page.getByTestId('teach-with')).toHaveText(/\(1\)/);
  await page.getByTestId('teach-without').click();
  await expect(page.getByTestId('teach-without')).toHaveText(/\(1\)/);
  await makeSliderAndDrag(page, 'Saved to now', 'taught-saved-to-now');
  expect(errors).toEqual([]);
});
