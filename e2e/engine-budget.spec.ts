/**
 * A slider frame past its time budget has the engine worker replaced (Debian's Chromium, WASM, tiny pack). The
 * budget is 0 (?renderbudget=0), so every frame is "too slow" (a 32 px frame can finish within 1 ms, before a 1 ms
 * timer fires): the first slider move replaces the worker, a banner says so, and the photo and its inversion (the
 * codes) are back in a fresh worker, the page responsive throughout; the old worker is gone.
 */
import { expect, test } from '@playwright/test';
import { canvasPixels, collectErrors, dragSlider, dropFile, meanAbsDiff, settledCanvasPixels, waitInverted, waitReady } from './helpers';

test('a frame past the budget replaces the engine worker; photo and codes are kept', async ({ page }) => {
  test.setTimeout(300_000);
  const errors = collectErrors(page);
  await page.goto('/?backend=wasm&pack=tiny-test&steps=20&renderbudget=0');
  await waitReady(page);
  await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'heldout.png');
  await waitInverted(page);
  const photo = await canvasPixels(page, 'photo-canvas');
  const reconstruction = await settledCanvasPixels(page, 'result-canvas');
  const engines = () => page.workers().filter((w) => w.url().includes('engine.worker'));
  const first = engines()[0];
  expect(first).toBeTruthy();

  await dragSlider(page, 'slider-texture', 0.8);
  // a fresh worker compiles ORT's wasm and loads the pack again: seconds, more on a crowded core
  await expect(page.getByTestId('banner-warning')).toContainText(/A slider frame took longer than 0 ms, so the engine was restarted\. Your photo and its inversion are kept/, { timeout: 150_000 });
  const t0 = Date.now();
  await page.evaluate(() => 1);
  expect(Date.now() - t0).toBeLessThan(2000);
  await expect(page.getByTestId('progress')).toHaveAttribute('data-phase', 'inverted');
  await expect.poll(() => page.evaluate(() => (window as unknown as { __fzplus: { state(): { restartingEngine: boolean } } }).__fzplus.state().restartingEngine)).toBe(false);
  expect(meanAbsDiff(photo, await canvasPixels(page, 'photo-canvas'))).toBe(0);
  // the reconstruction comes back from the kept codes in the new worker
  await expect.poll(async () => meanAbsDiff(reconstruction, await canvasPixels(page, 'result-canvas'))).toBeLessThan(1);
  expect(await page.getByTestId('slider-texture').inputValue()).toBe('0');
  await expect.poll(() => engines().length).toBe(1);
  expect(engines()[0]).not.toBe(first);
  expect(errors).toEqual([]);
});
