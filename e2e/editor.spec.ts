/**
 * The editor end to end in Debian's Chromium: drop a held-out face, wait for the F/Z+ inversion, drag a slider,
 * check pixels and PSNR; on WASM (forced with ?backend=wasm) and on WebGPU (software adapter: few steps).
 * Model: the tiny test pack (scripts/make-tiny-pack.py); the held-out face is a generator output from a seed that is
 * not one of the pack's samples.
 */
import { expect, test } from '@playwright/test';
import { waitReady, canvasPixels, collectErrors, dragSlider, dropFile, meanAbsDiff, psnr8, waitInverted } from './helpers';

const HELD_OUT = 'e2e/fixtures/tiny-heldout.png';

test('WASM: drop a face, invert, drag a slider, undo/redo, download', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/?backend=wasm&pack=tiny-test&steps=150');
  const badge = page.getByTestId('backend-badge');
  await expect(badge).toHaveAttribute('data-backend', 'wasm');
  await expect(badge).toContainText(/WASM · 2 threads|WASM · \d threads?/);
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);

  await waitReady(page);
  await dropFile(page, HELD_OUT, 'heldout.png');
  await waitInverted(page);
  await expect(page.getByTestId('step')).toHaveText('150');

  const photo = await canvasPixels(page, 'photo-canvas');
  const recon = await canvasPixels(page, 'result-canvas');
  const p = psnr8(photo, recon);
  console.log(`WASM reconstruction PSNR ${p.toFixed(2)} dB`);
  expect(p).toBeGreaterThan(28);
  // the PSNR shown in the UI is the engine's (float) PSNR of the same reconstruction
  expect(Math.abs(Number(await page.getByTestId('psnr').textContent()) - p)).toBeLessThan(1.0);

  await dragSlider(page, 'slider-tone', 0.95);
  await expect.poll(async () => meanAbsDiff(recon, await canvasPixels(page, 'result-canvas'))).toBeGreaterThan(3);
  const edited = await canvasPixels(page, 'result-canvas');
  expect(Number(await page.getByTestId('slider-tone').inputValue())).toBeGreaterThan(1.5);

  // hold to compare shows the un-edited reconstruction
  const cmp = page.getByTestId('compare');
  await cmp.hover();
  await page.mouse.down();
  await expect.poll(async () => meanAbsDiff(recon, await canvasPixels(page, 'result-canvas'))).toBeLessThan(0.01);
  await page.mouse.up();
  await expect.poll(async () => meanAbsDiff(edited, await canvasPixels(page, 'result-canvas'))).toBeLessThan(0.01);

  // undo returns to the reconstruction, redo to the edit
  await page.getByTestId('undo').click();
  await expect.poll(async () => meanAbsDiff(recon, await canvasPixels(page, 'result-canvas'))).toBeLessThan(0.01);
  await page.getByTestId('redo').click();
  await expect.poll(async () => meanAbsDiff(edited, await canvasPixels(page, 'result-canvas'))).toBeLessThan(0.01);

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download').click()]);
  expect(download.suggestedFilename()).toBe('heldout-fzplus-edit.png');

  await page.getByTestId('reset').click();
  await expect.poll(async () => meanAbsDiff(recon, await canvasPixels(page, 'result-canvas'))).toBeLessThan(0.01);
  expect(errors).toEqual([]);
});

test('WebGPU (software adapter): invert a few steps, slider changes pixels, device loss falls back to WASM', async ({ page }) => {
  test.setTimeout(300_000);
  const errors = collectErrors(page);
  await page.goto('/?backend=webgpu&pack=tiny-test&steps=12');
  const badge = page.getByTestId('backend-badge');
  await expect(badge).toHaveAttribute('data-backend', 'webgpu', { timeout: 60_000 });
  await expect(badge).toHaveText('WebGPU');

  await waitReady(page);
  await dropFile(page, HELD_OUT, 'heldout.png');
  await waitInverted(page, 240_000);
  await expect(badge).toHaveAttribute('data-backend', 'webgpu');
  const photo = await canvasPixels(page, 'photo-canvas');
  const recon = await canvasPixels(page, 'result-canvas');
  const p = psnr8(photo, recon);
  console.log(`WebGPU reconstruction PSNR after 12 steps: ${p.toFixed(2)} dB`);
  expect(p).toBeGreaterThan(17);

  await dragSlider(page, 'slider-tone', 0.1);
  await expect.poll(async () => meanAbsDiff(recon, await canvasPixels(page, 'result-canvas')), { timeout: 120_000 }).toBeGreaterThan(3);

  // GPU device lost mid-work: the engine continues on WASM and keeps the codes (resume continues from step 12)
  await page.getByTestId('reset').click();
  await expect.poll(async () => meanAbsDiff(recon, await canvasPixels(page, 'result-canvas'))).toBeLessThan(0.01);
  expect(await page.evaluate(() => (window as any).__fzplus.loseDevice())).toBe(true);
  await page.getByTestId('advanced-toggle').click();
  await page.getByTestId('steps').fill('20');
  await page.getByTestId('resume').click();
  await waitInverted(page, 240_000);
  await expect(badge).toHaveAttribute('data-backend', 'wasm');
  await expect(page.getByTestId('banner-warning')).toContainText(/device lost/i);
  await expect(page.getByTestId('step')).toHaveText('20');
  const p2 = psnr8(photo, await canvasPixels(page, 'result-canvas'));
  console.log(`after device loss + 8 WASM steps: PSNR ${p2.toFixed(2)} dB`);
  expect(p2).toBeGreaterThan(p);
  expect(errors).toEqual([]);
});

test('cancel and resume an inversion', async ({ page }) => {
  await page.goto('/?backend=wasm&pack=tiny-test&steps=20000');
  await waitReady(page);
  await dropFile(page, HELD_OUT, 'heldout.png');
  await expect.poll(async () => Number(await page.getByTestId('step').textContent())).toBeGreaterThan(50);
  await page.getByTestId('cancel').click();
  await waitInverted(page);
  const stopped = Number(await page.getByTestId('step').textContent());
  expect(stopped).toBeLessThan(20000);
  await page.waitForTimeout(500);
  expect(Number(await page.getByTestId('step').textContent())).toBe(stopped); // really stopped
  // sliders work on the partial result
  await expect(page.getByTestId('slider-tone')).toBeEnabled();
  await page.getByTestId('resume').click();
  await expect.poll(async () => Number(await page.getByTestId('step').textContent())).toBeGreaterThan(stopped + 20);
  await page.getByTestId('cancel').click();
  await waitInverted(page);
  await expect(page.getByTestId('resume')).toBeVisible();
});
