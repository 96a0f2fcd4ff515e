/** A corrupt file shows a clear error and the current photo and edits stay. */
import { expect, test } from '@playwright/test';
import { readFileSync, writeFileSync } from 'node:fs';
import { canvasPixels, dragSlider, dropFile, meanAbsDiff, openEditedTinyFace } from './helpers';

test('corrupt file: error banner, previous photo and edits kept', async ({ page }) => {
  const { photo, edited, slider } = await openEditedTinyFace(page, 40);

  // a truncated PNG via the file picker (made here, independent of the bad-input corpus), then a text file that
  // pretends to be a JPEG via drop
  const png = readFileSync('e2e/fixtures/tiny-heldout.png');
  await page.getByTestId('file-input').setInputFiles({ name: 'cut.png', mimeType: 'image/png', buffer: png.subarray(0, Math.floor(png.length / 2)) });
  await expect(page.getByTestId('banner-error')).toBeVisible();
  await expect(page.getByTestId('banner-error')).toContainText(/cut\.png/);
  writeFileSync(test.info().outputPath('notes.jpg'), 'these are my notes, not a photo\n');
  await dropFile(page, test.info().outputPath('notes.jpg'), 'notes.jpg', 'image/jpeg');
  await expect(page.getByTestId('banner-error')).toHaveCount(2);

  expect(meanAbsDiff(photo, await canvasPixels(page, 'photo-canvas'))).toBe(0);
  expect(meanAbsDiff(edited, await canvasPixels(page, 'result-canvas'))).toBe(0);
  expect(await page.getByTestId('slider-texture').inputValue()).toBe(slider);
  await expect(page.getByTestId('progress')).toHaveAttribute('data-phase', 'inverted');

  // the editor still works
  await dragSlider(page, 'slider-tone', 0.9);
  await expect.poll(async () => meanAbsDiff(edited, await canvasPixels(page, 'result-canvas'))).toBeGreaterThan(1);
});

test('a broken model pack is reported by name', async ({ page }) => {
  await page.route('**/models/tiny-test/mapping.onnx', (r) => r.fulfill({ status: 200, body: Buffer.from('not an onnx graph') }));
  await page.goto('/?backend=wasm&pack=tiny-test');
  await expect(page.getByTestId('banner-error')).toContainText(/graph 'mapping'.*(bytes|sha256)/);
});
