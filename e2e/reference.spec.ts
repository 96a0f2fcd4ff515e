/**
 * The toolchain's 64 px reference pack (public/models/reference-64, made by scripts/make-reference-pack.sh from the
 * shared rosinality-64 checkpoint; 19 M parameters, random weights) on WASM: the real exporter's graphs load with the
 * shared weights.bin, the F/Z+ inversion improves the reconstruction, and frames render. Few steps: ~1 s each here.
 * The held-out face is images_trunc07[3] of the shared fixture (a generator output with psi 0.7).
 * Skipped when the pack has not been exported.
 */
import { expect, test } from '@playwright/test';
import { existsSync } from 'node:fs';
import { canvasPixels, dropFile, psnr8, waitInverted, waitReady } from './helpers';

test.skip(!existsSync('public/models/reference-64/manifest.json'), 'reference pack not exported (scripts/make-reference-pack.sh)');

test('reference-64 pack on WASM: load, invert, PSNR rises', async ({ page }) => {
  test.setTimeout(300_000);
  await page.goto('/?backend=wasm&pack=reference-64&steps=12');
  await waitReady(page, 120_000);
  await expect(page.getByTestId('pack-name')).toContainText('64 px');
  await page.getByTestId('advanced-toggle').click();
  await page.getByTestId('preview-every').fill('4');
  await dropFile(page, 'e2e/fixtures/reference-heldout.png', 'reference-heldout.png');
  await waitInverted(page, 240_000);
  const curve = await page.evaluate(() => (window as any).__fzplus.state().curve as { psnr: number }[]);
  const ms = await page.evaluate(() => (window as any).__fzplus.state().progress.msPerStep as number);
  const p = psnr8(await canvasPixels(page, 'photo-canvas'), await canvasPixels(page, 'result-canvas'));
  console.log(`reference-64 WASM: PSNR step1 ${curve[0].psnr.toFixed(2)} -> step12 ${curve[curve.length - 1].psnr.toFixed(2)} dB, canvas PSNR ${p.toFixed(2)} dB, ${ms.toFixed(0)} ms/step`);
  expect(curve[curve.length - 1].psnr).toBeGreaterThan(curve[0].psnr + 1);
  expect(p).toBeGreaterThan(12);
});
