import { expect, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';

/** Dispatches a real drag-and-drop of a file onto the page (window-level drop handler). */
export async function dropFile(page: Page, path: string, name: string, type = 'image/png') {
  const b64 = readFileSync(path).toString('base64');
  await page.evaluate(
    async ({ b64, name, type }) => {
      const bin = atob(b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name, { type }));
      const target = document.querySelector('[data-testid="dropzone"]') ?? document.body;
      target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    },
    { b64, name, type },
  );
}

/** RGBA pixels of a canvas by test id. */
export async function canvasPixels(page: Page, testId: string): Promise<number[]> {
  return page.evaluate((id) => {
    const c = document.querySelector(`[data-testid="${id}"]`) as HTMLCanvasElement;
    return Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data);
  }, testId);
}

/** A canvas's pixels once two reads 100 ms apart agree (its last frame is drawn in an effect after the state change). */
export async function settledCanvasPixels(page: Page, testId: string, timeout = 10_000): Promise<number[]> {
  let last = await canvasPixels(page, testId);
  for (const t0 = Date.now(); Date.now() - t0 < timeout; ) {
    await page.waitForTimeout(100);
    const next = await canvasPixels(page, testId);
    if (next.length === last.length && next.every((v, i) => v === last[i])) return next;
    last = next;
  }
  return last;
}

export function psnr8(a: number[], b: number[]): number {
  let se = 0, n = 0;
  for (let i = 0; i < a.length; i += 4) for (let c = 0; c < 3; c++) { se += (a[i + c] - b[i + c]) ** 2; n++; }
  return se === 0 ? Infinity : 10 * Math.log10((255 * 255) / (se / n));
}

export function meanAbsDiff(a: number[], b: number[]): number {
  let s = 0, n = 0;
  for (let i = 0; i < a.length; i += 4) for (let c = 0; c < 3; c++) { s += Math.abs(a[i + c] - b[i + c]); n++; }
  return s / n;
}

export async function waitInverted(page: Page, timeout = 120_000) {
  await expect(page.getByTestId('progress')).toHaveAttribute('data-phase', 'inverted', { timeout });
}

/** Drags a range input's thumb from its centre to `fraction` of its width with the mouse. */
export async function dragSlider(page: Page, testId: string, fraction: number) {
  // a long slider list scrolls: bring the slider into the viewport, or the mouse misses it
  await page.getByTestId(testId).scrollIntoViewIfNeeded();
  const box = (await page.getByTestId(testId).boundingBox())!;
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width / 2, y);
  await page.mouse.down();
  for (let i = 1; i <= 8; i++) await page.mouse.move(box.x + box.width * (0.5 + ((fraction - 0.5) * i) / 8), y);
  await page.mouse.up();
}

export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

/** Waits until the model pack is loaded and the editor accepts photos. */
export async function waitReady(page: Page, timeout = 90_000) {
  await expect(page.getByTestId('app')).toHaveAttribute('data-phase', /^(ready|inverted)$/, { timeout });
}

/**
 * The common starting point of the error tests: the tiny pack, a held-out face inverted, the texture slider moved.
 * Returns what must survive a refused input: the photo and edited pixels and the slider value.
 */
export async function openEditedTinyFace(page: Page, steps: number) {
  await page.goto(`/?backend=wasm&pack=tiny-test&steps=${steps}`);
  await waitReady(page);
  await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'heldout.png');
  await waitInverted(page);
  await dragSlider(page, 'slider-texture', 0.8);
  await expect.poll(async () => Number(await page.getByTestId('slider-texture').inputValue())).toBeGreaterThan(0.5);
  await page.waitForTimeout(300);
  return {
    photo: await canvasPixels(page, 'photo-canvas'),
    edited: await canvasPixels(page, 'result-canvas'),
    slider: await page.getByTestId('slider-texture').inputValue(),
  };
}

/** Records every distinct text of the model manager's status line (polled every `everyMs`) until `stop()`. */
export function watchImportStatus(page: Page, everyMs: number): { seen: Set<string>; stop(): void } {
  const seen = new Set<string>();
  const status = page.getByTestId('mm-status');
  const timer = setInterval(() => void status.textContent({ timeout: 50 }).then((t) => t && seen.add(t)).catch(() => undefined), everyMs);
  return { seen, stop: () => clearInterval(timer) };
}
