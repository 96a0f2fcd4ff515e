/**
 * The inversion keeps its codes and Adam state on the GPU (WebGPU, software adapter): per step only the loss comes
 * back, and the steps follow the WASM path's. Also logs the bytes per step with Adam in JS on the same adapter (the
 * "before" of docs/WEBGPU.md). Tiny pack, few steps: SwiftShader is slow.
 */
import { expect, test, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { collectErrors, dropFile, waitInverted, waitReady } from './helpers';

/** GPUINV_PACK=demo64 measures the demo pack instead (64 px; minutes on SwiftShader). */
const PACK = process.env.GPUINV_PACK ?? 'tiny-test';
const PHOTO = PACK === 'tiny-test' ? 'e2e/fixtures/tiny-heldout.png' : `public/models/${PACK}/${JSON.parse(readFileSync(`public/models/${PACK}/manifest.json`, 'utf8')).samples[0]}`;
const STEPS = 6;
const PREVIEW_EVERY = 3;

interface Step {
  step: number;
  total: number;
  psnr: number;
  preview: boolean;
  onDevice?: boolean;
  transferBytes?: { up: number; down: number };
}

async function trace(page: Page, backend: 'webgpu' | 'wasm', onDevice = true): Promise<Step[]> {
  return page.evaluate(
    ([o, steps, every]) => (window as any).__fzplus.invertTrace({ space: 'F/Z+', steps, previewEvery: every, seed: 1, onDevice: o }),
    [onDevice, STEPS, PREVIEW_EVERY] as const,
  ) as Promise<Step[]>;
}

async function openWithPhoto(page: Page, backend: 'webgpu' | 'wasm') {
  await page.goto(`/?backend=${backend}&pack=${PACK}&steps=1&warm=0`);
  await expect(page.getByTestId('backend-badge')).toHaveAttribute('data-backend', backend, { timeout: 60_000 });
  await waitReady(page);
  await dropFile(page, PHOTO, PHOTO.split('/').pop()!);
  await waitInverted(page, 240_000);
}

const fmt = (t: Step[]) => t.map((s) => `${s.step}${s.preview ? 'p' : ''}:${s.transferBytes!.up}/${s.transferBytes!.down}`).join(' ');

test('WebGPU inversion keeps its state on the GPU: a few bytes per step, the WASM trajectory', async ({ page, browser }) => {
  test.setTimeout(PACK === 'tiny-test' ? 480_000 : 1_800_000);
  const errors = collectErrors(page);
  await openWithPhoto(page, 'webgpu');
  const gpu = await trace(page, 'webgpu');
  const gpuJs = await trace(page, 'webgpu', false);
  await expect(page.getByTestId('backend-badge')).toHaveAttribute('data-backend', 'webgpu');

  const wasmPage = await browser.newPage();
  await openWithPhoto(wasmPage, 'wasm');
  const cpu = await trace(wasmPage, 'wasm');
  await wasmPage.close();

  console.log(`pack ${PACK}`);
  console.log(`bytes up/down per step (p: preview), WebGPU, Adam on the GPU: ${fmt(gpu)}`);
  console.log(`bytes up/down per step (p: preview), WebGPU, Adam in JS:      ${fmt(gpuJs)}`);
  console.log(`bytes up/down per step (p: preview), WASM:                    ${fmt(cpu)}`);
  console.log(`PSNR GPU-Adam ${gpu.map((s) => s.psnr.toFixed(3)).join(' ')} | JS-Adam ${gpuJs.map((s) => s.psnr.toFixed(3)).join(' ')} | WASM ${cpu.map((s) => s.psnr.toFixed(3)).join(' ')}`);

  expect(gpu.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(gpu.every((s) => s.onDevice)).toBe(true);
  expect(gpuJs.some((s) => s.onDevice)).toBe(false);
  expect(cpu.some((s) => s.onDevice)).toBe(false);
  for (let i = 0; i < STEPS; i++) {
    expect(Math.abs(gpu[i].total - cpu[i].total) / cpu[i].total).toBeLessThan(1e-3);
    expect(Math.abs(gpu[i].psnr - cpu[i].psnr)).toBeLessThan(0.02);
  }
  // non-preview steps: the loss (12 bytes) down; up the loss weights and the Adam scalars (step 1 also uploads F_init)
  for (const s of gpu.filter((s) => !s.preview && s.step > 1)) {
    expect(s.transferBytes!.down).toBeLessThanOrEqual(64);
    expect(s.transferBytes!.up).toBeLessThanOrEqual(64);
  }
  // with Adam in JS the codes go up and the gradients come down every step
  expect(gpuJs[1].transferBytes!.down).toBeGreaterThan(1000);
  expect(errors).toEqual([]);
});
