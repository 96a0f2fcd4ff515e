/**
 * Bad input: walks the whole bad-input corpus (e2e/fixtures/make-corpus.mjs) through the real app.
 * Refused files: a specific error naming the file, the page stays responsive, and the previous photo, its
 * reconstruction and the slider edits stay exactly as they were. Accepted-with-a-note files: the note is shown
 * and the editor goes on working.
 */
import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canvasPixels, collectErrors, dragSlider, dropFile, meanAbsDiff, openEditedTinyFace, waitInverted } from './helpers';
// @ts-expect-error plain JS module without types
import { makeCorpus } from './fixtures/make-corpus.mjs';

type Entry = { file: string; expect: { ok: boolean; code?: string; note?: string } };
const DIR = join('e2e', 'fixtures', 'corpus');

/** What the error banner must say for each refusal code (besides the file name). */
const MESSAGE: Record<string, RegExp> = {
  empty: /empty \(0 bytes\)/,
  truncated: /incomplete/,
  svg: /SVG/,
  'too-small': /1 × 1 pixels/,
  'too-large': /too large/,
  'not-image': /text file, not an image/,
};

/** Main-thread round trip (ms): a frame must be rendered promptly. */
async function frameLatency(page: import('@playwright/test').Page) {
  return page.evaluate(() => {
    const t0 = performance.now();
    return new Promise<number>((r) => requestAnimationFrame(() => r(performance.now() - t0)));
  });
}

test('every corpus file gets a specific message; refusals keep the photo and edits', async ({ page }) => {
  test.setTimeout(300_000);
  const corpus: Entry[] = makeCorpus(DIR);
  const errors = collectErrors(page);

  const { photo, edited, slider } = await openEditedTinyFace(page, 30);

  // 1. Everything that must be refused, while a photo with edits is open.
  let banners = await page.getByTestId('banner-error').count();
  for (const c of corpus.filter((e) => !e.expect.ok)) {
    await test.step(`refuse ${c.file} (${c.expect.code})`, async () => {
      // Half through the file picker, half by drag-and-drop (with a lying MIME type).
      if (banners % 2 === 0) await page.getByTestId('file-input').setInputFiles(join(DIR, c.file));
      else await dropFile(page, join(DIR, c.file), c.file, 'image/jpeg');
      banners++;
      await expect(page.getByTestId('banner-error')).toHaveCount(banners);
      const banner = page.getByTestId('banner-error').last();
      await expect(banner).toContainText(c.file);
      await expect(banner).toContainText(MESSAGE[c.expect.code!]);
      expect(await frameLatency(page)).toBeLessThan(2000);
      expect(meanAbsDiff(photo, await canvasPixels(page, 'photo-canvas'))).toBe(0);
      expect(meanAbsDiff(edited, await canvasPixels(page, 'result-canvas'))).toBe(0);
      expect(await page.getByTestId('slider-texture').inputValue()).toBe(slider);
      await expect(page.getByTestId('progress')).toHaveAttribute('data-phase', 'inverted');
    });
  }

  // 2. Unusual but valid images: opened, with a note saying what was done.
  for (const c of corpus.filter((e) => e.expect.ok)) {
    await test.step(`accept ${c.file} with a note`, async () => {
      const t0 = Date.now();
      const prev = await canvasPixels(page, 'photo-canvas');
      await page.getByTestId('file-input').setInputFiles({
        name: c.file,
        mimeType: c.file.endsWith('.png') ? 'image/png' : c.file.endsWith('.gif') ? 'image/gif' : 'image/jpeg',
        buffer: readFileSync(join(DIR, c.file)),
      });
      await expect(page.getByText(new RegExp(c.expect.note!))).toBeVisible({ timeout: 60_000 });
      expect(await frameLatency(page)).toBeLessThan(2000);
      console.log(`${c.file}: note shown after ${Date.now() - t0} ms`);
      // Let it invert before the next file (switching photos mid-inversion is the editor's own test).
      await expect.poll(async () => meanAbsDiff(prev, await canvasPixels(page, 'photo-canvas'))).toBeGreaterThan(0);
      await waitInverted(page);
    });
  }
  expect(await page.getByTestId('banner-error').allTextContents()).toHaveLength(banners);
  expect(await page.getByTestId('banner-warning').allTextContents()).toEqual([]);

  // 3. The editor still works after the whole corpus.
  await waitInverted(page);
  const last = await canvasPixels(page, 'photo-canvas');
  await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'heldout-again.png');
  await expect.poll(async () => meanAbsDiff(last, await canvasPixels(page, 'photo-canvas'))).toBeGreaterThan(1);
  await waitInverted(page);
  const before = await canvasPixels(page, 'result-canvas');
  // Seven error banners now stack above the editor: bring the slider into view before dragging it.
  await page.getByTestId('slider-texture').scrollIntoViewIfNeeded();
  await dragSlider(page, 'slider-texture', 0.8);
  await expect.poll(async () => Number(await page.getByTestId('slider-texture').inputValue())).toBeGreaterThan(0.5);
  await expect.poll(async () => meanAbsDiff(before, await canvasPixels(page, 'result-canvas'))).toBeGreaterThan(1);
  expect(errors).toEqual([]);
});
