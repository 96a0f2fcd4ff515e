/**
 * The demo pack's graphs on WebGPU (SwiftShader software adapter) give what they give on WASM: the exporter writes
 * ops that only these packs use (Winograd convs: a 6x6 stride-4 Conv over channels-as-batch, batched MatMul, a 5-D
 * Transpose), and onnxruntime-web's WebGPU kernels differ from its WASM ones. Same held-out face, same steps from the
 * same encoder start: the reconstructions and an edited frame must match closely. (Speed on SwiftShader means nothing;
 * only a few steps are run.)
 */
import { expect, test, type Page } from '@playwright/test';
import { existsSync, readFileSync } from 'node:fs';
import { canvasPixels, collectErrors, dragSlider, dropFile, meanAbsDiff, psnr8, waitInverted, waitReady } from './helpers';

const DIR = 'public/models/demo64';
test.skip(!existsSync(`${DIR}/manifest.json`), 'demo pack not built (scripts/build-demo-pack.sh)');

async function invertAndEdit(page: Page, backend: 'webgpu' | 'wasm', sample: string, slider: string) {
  await page.goto(`/?backend=${backend}&pack=demo64&steps=3&warm=0`);
  await expect(page.getByTestId('backend-badge')).toHaveAttribute('data-backend', backend, { timeout: 120_000 });
  await waitReady(page, 180_000);
  await dropFile(page, `${DIR}/${sample}`, sample.split('/').pop()!);
  await waitInverted(page, 300_000);
  await expect(page.getByTestId('backend-badge')).toHaveAttribute('data-backend', backend);
  const photo = await canvasPixels(page, 'photo-canvas');
  const recon = await canvasPixels(page, 'result-canvas');
  await dragSlider(page, `slider-${slider}`, 0.9);
  await expect.poll(async () => meanAbsDiff(recon, await canvasPixels(page, 'result-canvas')), { timeout: 120_000 }).toBeGreaterThan(0.5);
  await expect(page.getByTestId('rendering')).toHaveCount(0, { timeout: 120_000 });
  return { photo, recon, edited: await canvasPixels(page, 'result-canvas') };
}

test('demo64 on WebGPU (software adapter) matches WASM: inversion steps and a slider frame', async ({ page }) => {
  test.setTimeout(600_000);
  const errors = collectErrors(page);
  const manifest = JSON.parse(readFileSync(`${DIR}/manifest.json`, 'utf8'));
  const sample: string = manifest.samples[0];
  const slider = (manifest.directions as { id: string }[]).find((d) => d.id === 'light_hair')?.id ?? manifest.directions[0].id;
  const gpu = await invertAndEdit(page, 'webgpu', sample, slider);
  const cpu = await invertAndEdit(page, 'wasm', sample, slider);
  const dRecon = meanAbsDiff(gpu.recon, cpu.recon);
  const dEdit = meanAbsDiff(gpu.edited, cpu.edited);
  console.log(`demo64 WebGPU vs WASM after 3 steps: PSNR ${psnr8(gpu.photo, gpu.recon).toFixed(2)} vs ${psnr8(cpu.photo, cpu.recon).toFixed(2)} dB; `
    + `mean |diff| reconstruction ${dRecon.toFixed(3)}, ${slider} frame ${dEdit.toFixed(3)} (of 255)`);
  // the edit itself moves pixels by several levels; backend differences must be far below that
  expect(meanAbsDiff(cpu.recon, cpu.edited)).toBeGreaterThan(2);
  expect(dRecon).toBeLessThan(0.5);
  expect(dEdit).toBeLessThan(0.5);
  expect(errors).toEqual([]);
});
