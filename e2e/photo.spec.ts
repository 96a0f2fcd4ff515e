/**
 * Real photos in the app: a pack whose manifest asks for `ffhq-landmarks` (the reference-64 pack with its
 * manifest's alignment switched at request time) → faces detected in the image worker, boxes drawn, the user
 * picks one, the aligned face is inverted, and "Download full photo" gives the full-resolution photo that differs
 * from the original only inside the face region. A photo without a face gives the message and the whole-image
 * option. The service worker is blocked so that page.route sees the manifest request.
 */
import { expect, test, type Page } from '@playwright/test';
import { existsSync, readFileSync } from 'node:fs';
import { collectErrors, dropFile, waitInverted } from './helpers';

const PACK = 'public/models/reference-64/manifest.json';
const SAMPLE = 'node_modules/@vladmandic/face-api/demo/sample1.jpg';

test.use({ serviceWorkers: 'block' });
test.skip(!existsSync(PACK), 'reference-64 pack not exported (bash scripts/make-reference-pack.sh)');

async function landmarkPack(page: Page) {
  await page.route('**/models/reference-64/manifest.json', async (route) => {
    const res = await route.fetch();
    const m = await res.json();
    m.alignment = 'ffhq-landmarks';
    await route.fulfill({ response: res, json: m });
  });
  await page.goto('/?pack=reference-64&backend=wasm&steps=2');
  await expect(page.getByTestId('pack-name')).toBeVisible({ timeout: 120_000 });
  await page.getByTestId('advanced-toggle').click();
  await page.getByTestId('preview-every').fill('0');
}

type Check = { w: number; h: number; ow: number; oh: number; inside: number; outside: number; sameAsComposite: boolean };

/** Downloads the result and compares it with the original, pixel by pixel, in the page. */
async function downloadAndCompare(page: Page): Promise<Check> {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download').click()]);
  const b64 = readFileSync((await dl.path())!).toString('base64');
  return page.evaluate(async (b64) => {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const bmp = await createImageBitmap(new Blob([bytes], { type: 'image/png' }), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    const c = new OffscreenCanvas(bmp.width, bmp.height);
    const ctx = c.getContext('2d')!;
    ctx.drawImage(bmp, 0, 0);
    const got = ctx.getImageData(0, 0, bmp.width, bmp.height).data;
    type Img = { width: number; height: number; data: Uint8ClampedArray };
    const hook = (globalThis as unknown as { __fzplus: { composite(): Promise<{ original: Img; result: Img; poly: [number, number][] } | null> } }).__fzplus;
    const { original: o, result, poly } = (await hook.composite())!;
    const inPoly = (x: number, y: number) => {
      let inside = false;
      for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
        const [xi, yi] = poly[i], [xj, yj] = poly[j];
        if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
      }
      return inside;
    };
    let inside = 0, outside = 0, same = got.length === result.data.length;
    if (bmp.width === o.width && bmp.height === o.height)
      for (let y = 0; y < o.height; y++)
        for (let x = 0; x < o.width; x++) {
          const i = (y * o.width + x) * 4;
          if (got[i] !== result.data[i] || got[i + 1] !== result.data[i + 1] || got[i + 2] !== result.data[i + 2]) same = false;
          if (got[i] === o.data[i] && got[i + 1] === o.data[i + 1] && got[i + 2] === o.data[i + 2]) continue;
          if (inPoly(x + 0.5, y + 0.5)) inside++;
          else outside++;
        }
    return { w: bmp.width, h: bmp.height, ow: o.width, oh: o.height, inside, outside, sameAsComposite: same };
  }, b64);
}

test('group photo: pick a face, invert the aligned crop, download the full photo edited only inside the face', async ({ page }) => {
  test.setTimeout(600_000);
  const errors = collectErrors(page);
  await landmarkPack(page);
  await dropFile(page, SAMPLE, 'sample1.jpg', 'image/jpeg');
  const picker = page.getByTestId('face-picker');
  await expect(picker).toBeVisible({ timeout: 120_000 });
  const n = Number(await picker.getAttribute('data-faces'));
  console.log(`sample1: ${n} faces`);
  expect(n).toBeGreaterThanOrEqual(2);
  // largest preselected; pick the other one
  await expect(page.getByTestId('face-0')).toHaveAttribute('aria-pressed', 'true');
  await page.getByTestId('face-1').click();
  await expect(page.getByTestId('face-1')).toHaveAttribute('aria-pressed', 'true');
  await page.getByTestId('edit-face').click();
  await expect(picker).toBeHidden();
  await waitInverted(page, 180_000);
  await expect(page.getByTestId('paste-note')).toContainText('full');
  await expect(page.getByTestId('pick-another')).toBeVisible();
  const st = await page.evaluate(() => (globalThis as unknown as { __fzplus: { state(): { crop: { faceIndex: number } } } }).__fzplus.state().crop.faceIndex);
  expect(st).toBe(1);
  // "In the photo": the edit blended into a 720 px copy of the photo
  await page.getByTestId('view-in-photo').click();
  await expect.poll(() => page.evaluate(() => { const c = document.querySelector('[data-testid="result-canvas"]') as HTMLCanvasElement; return [c.width, c.height]; })).toEqual([720, 480]);
  await page.getByTestId('view-in-photo').click();
  const r = await downloadAndCompare(page);
  console.log(`download ${r.w}x${r.h}: ${r.inside} px changed inside the face region, ${r.outside} outside`);
  expect([r.w, r.h]).toEqual([r.ow, r.oh]);
  expect(r.w).toBeGreaterThan(1000);
  expect(r.sameAsComposite).toBe(true);
  expect(r.inside).toBeGreaterThan(500);
  expect(r.outside).toBe(0);

  // a saved session keeps the face choice: reload, restore, same full-size result without inverting again
  await page.getByTestId('save-session').click();
  await expect(page.getByTestId('saved-note')).toContainText('sample1.jpg');
  await page.reload();
  await expect(page.getByTestId('session-offer')).toBeVisible({ timeout: 120_000 });
  await page.getByTestId('restore-session').click();
  await expect(page.getByTestId('progress')).toHaveAttribute('data-phase', 'inverted', { timeout: 60_000 });
  expect(await page.evaluate(() => (globalThis as unknown as { __fzplus: { state(): { crop: { faceIndex: number } } } }).__fzplus.state().crop.faceIndex)).toBe(1);
  const r2 = await downloadAndCompare(page);
  console.log(`after restore: ${r2.w}x${r2.h}, ${r2.inside} px changed inside, ${r2.outside} outside`);
  expect([r2.w, r2.h, r2.inside, r2.outside]).toEqual([r.w, r.h, r.inside, 0]);
  await page.getByTestId('delete-session').click();
  await expect(page.getByTestId('delete-session')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('photo without a face: message, then "use the whole image" inverts the centre square', async ({ page }) => {
  test.setTimeout(300_000);
  const errors = collectErrors(page);
  await landmarkPack(page);
  // a landscape made here: sky gradient, hills, sun
  await page.evaluate(async () => {
    const W = 480, H = 300;
    const c = new OffscreenCanvas(W, H);
    const g = c.getContext('2d')!;
    const sky = g.createLinearGradient(0, 0, 0, H);
    sky.addColorStop(0, '#5b8fd9');
    sky.addColorStop(1, '#cfe3f7');
    g.fillStyle = sky;
    g.fillRect(0, 0, W, H);
    g.fillStyle = '#ffd27a';
    g.beginPath();
    g.arc(380, 70, 30, 0, 2 * Math.PI);
    g.fill();
    g.fillStyle = '#3f7d3a';
    g.beginPath();
    g.moveTo(0, H);
    for (let x = 0; x <= W; x += 8) g.lineTo(x, 190 + 30 * Math.sin(x / 60));
    g.lineTo(W, H);
    g.fill();
    const blob = await c.convertToBlob({ type: 'image/png' });
    const dt = new DataTransfer();
    dt.items.add(new File([blob], 'landscape.png', { type: 'image/png' }));
    const target = document.querySelector('[data-testid="dropzone"]') ?? document.body;
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await expect(page.getByTestId('no-face')).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('no-face')).toContainText('No face was found');
  await expect(page.getByTestId('edit-face')).toHaveCount(0);
  await page.getByTestId('use-whole-image').click();
  await waitInverted(page, 180_000);
  const r = await downloadAndCompare(page);
  console.log(`landscape download ${r.w}x${r.h}: ${r.inside} px changed inside the centre square, ${r.outside} outside`);
  expect([r.w, r.h]).toEqual([480, 300]);
  expect(r.sameAsComposite).toBe(true);
  expect(r.inside).toBeGreaterThan(1000);
  expect(r.outside).toBe(0);
  expect(errors).toEqual([]);
});
