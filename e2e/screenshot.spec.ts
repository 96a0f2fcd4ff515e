/**
 * Not a test: regenerates docs/editor-screenshot.png (for the README) when SCREENSHOT=1.
 *   SCREENSHOT=1 npx playwright test e2e/screenshot.spec.ts
 * Uses the demo pack when it is there (faces), else the tiny test pack.
 */
import { expect, test } from '@playwright/test';
import { existsSync } from 'node:fs';
import { dragSlider, dropFile, waitInverted, waitReady } from './helpers';

test.skip(!process.env.SCREENSHOT, 'set SCREENSHOT=1 to regenerate docs/editor-screenshot.png');

test('editor screenshot', async ({ page }) => {
  test.setTimeout(600_000);
  const demo = existsSync('public/models/demo64/manifest.json');
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`/?backend=wasm&pack=${demo ? 'demo64' : 'tiny-test'}&steps=${demo ? 100 : 200}`);
  await waitReady(page, 180_000);
  if (demo) await page.getByTestId('sample').nth(1).click();
  else await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'face.png');
  await waitInverted(page, 540_000);
  const sliders = page.locator('[data-testid^="slider-"]');
  // show an edit that passes the demo pack's edit test (hats: on 100 % of held-out faces, docs/DEMO_MODEL.md),
  // else the first slider
  const hat = page.getByTestId('slider-hat');
  if (await hat.count()) await dragSlider(page, 'slider-hat', 0.85);
  else if (await sliders.count()) await dragSlider(page, (await sliders.first().getAttribute('data-testid'))!, 0.8);
  await page.waitForTimeout(1000);
  // no half-drawn frame: the last slider frame has arrived (its spinner is gone)
  await expect(page.getByTestId('rendering')).toHaveCount(0, { timeout: 30_000 });
  await page.evaluate(() => window.scrollTo(0, 0)); // dragSlider scrolled the slider into view
  await page.screenshot({ path: 'docs/editor-screenshot.png' });
});
