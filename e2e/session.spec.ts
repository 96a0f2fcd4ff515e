/**
 * Saved sessions: save an editing session (photo, codes, slider values, pack), reload, restore it from the offer and get
 * the same edited frame without inverting again; delete it and the offer is gone. Tiny test pack on WASM.
 */
import { expect, test } from '@playwright/test';
import { canvasPixels, collectErrors, dragSlider, dropFile, meanAbsDiff, waitInverted, waitReady } from './helpers';

test('save, reload, restore, delete', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/?backend=wasm&pack=tiny-test&steps=20');
  await waitReady(page);
  // nothing is stored before the user saves
  await expect(page.getByTestId('session-offer')).toHaveCount(0);
  await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'heldout.png');
  await waitInverted(page);
  const recon = await canvasPixels(page, 'result-canvas');
  await dragSlider(page, 'slider-tone', 0.9);
  await expect.poll(async () => meanAbsDiff(recon, await canvasPixels(page, 'result-canvas'))).toBeGreaterThan(3);
  await expect(page.getByTestId('rendering')).toHaveCount(0);
  const edited = await canvasPixels(page, 'result-canvas');
  const tone = await page.getByTestId('slider-tone').inputValue();
  // privacy: nothing is stored before "Save session"
  const dbs = () => page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
  expect(await dbs()).not.toContain('fzplus-studio');
  await page.getByTestId('save-session').click();
  await expect(page.getByTestId('saved-note')).toContainText('heldout.png');
  expect(await dbs()).toContain('fzplus-studio');

  await page.reload();
  await waitReady(page);
  const offer = page.getByTestId('session-offer');
  await expect(offer).toBeVisible();
  await expect(offer).toContainText('heldout.png');
  await page.getByTestId('restore-session').click();
  await expect(page.getByTestId('progress')).toHaveAttribute('data-phase', 'inverted');
  await expect(page.getByTestId('step')).toHaveText('20');
  await expect(page.getByTestId('slider-tone')).toHaveValue(tone);
  await expect(page.getByTestId('rendering')).toHaveCount(0);
  await expect.poll(async () => meanAbsDiff(edited, await canvasPixels(page, 'result-canvas'))).toBeLessThan(0.5);
  const restored = await canvasPixels(page, 'result-canvas');
  console.log(`restored edit vs saved edit: mean |Δ| ${meanAbsDiff(edited, restored).toFixed(3)} (8-bit)`);
  // the photo came back too
  expect((await canvasPixels(page, 'photo-canvas')).length).toBe(recon.length);

  await page.getByTestId('delete-session').click();
  await expect(page.getByTestId('saved-note')).toHaveCount(0);
  await page.reload();
  await waitReady(page);
  await page.waitForTimeout(500);
  await expect(page.getByTestId('session-offer')).toHaveCount(0);
  expect(errors).toEqual([]);
});
