/**
 * The Advanced panel shows docs/SPACES.md's measured row for the chosen space (docs/spaces-summary.json, written by
 * `python3 -m model.fidelity --spaces ... --report docs/SPACES.md`), only when the pack's generator is the measured one.
 */
import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { waitReady } from './helpers';

const summary = JSON.parse(readFileSync('docs/spaces-summary.json', 'utf8'));
const manifest = JSON.parse(readFileSync('public/models/demo64/manifest.json', 'utf8'));

test('space picker: measured line per space for the measured generator', async ({ page }) => {
  test.skip(manifest.provenance.checkpointSha256 !== summary.generator_sha256, 'demo64 generator not measured yet (re-run model.fidelity --spaces)');
  await page.goto('/?backend=wasm&pack=demo64');
  await waitReady(page, 120_000);
  await page.getByTestId('advanced-toggle').click();
  const line = page.getByTestId('space-measured');
  await expect(line).toContainText(summary.spaces['F/Z+']);
  await page.getByTestId('space').selectOption('W+');
  await expect(line).toContainText(summary.spaces['W+']);
});
