/**
 * Installable offline PWA, and privacy.
 * - After one online visit the service worker has precached the app shell, ORT runtime and the bundled pack:
 *   offline, a reload still gives the whole flow (drop a face, invert, drag a slider).
 * - During a full session no request leaves the origin, and the Content-Security-Policy reports no violation.
 */
import { expect, test, type Page } from '@playwright/test';
import { canvasPixels, dragSlider, dropFile, meanAbsDiff, waitInverted, waitReady } from './helpers';

async function editFlow(page: Page) {
  await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'heldout.png');
  await waitInverted(page);
  const before = await canvasPixels(page, 'result-canvas');
  await page.getByTestId('slider-texture').scrollIntoViewIfNeeded();
  await dragSlider(page, 'slider-texture', 0.85);
  await expect.poll(async () => meanAbsDiff(before, await canvasPixels(page, 'result-canvas'))).toBeGreaterThan(1);
}

function watchCsp(page: Page): string[] {
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  return violations;
}

test('manifest, icons and service worker are served', async ({ page, request }) => {
  await page.goto('/');
  const href = await page.locator('link[rel="manifest"]').getAttribute('href');
  const manifest = await (await request.get(href!)).json();
  expect(manifest).toMatchObject({ name: 'F/Z+ Studio', display: 'standalone' });
  const sizes = manifest.icons.map((i: { sizes: string; purpose?: string }) => `${i.sizes}${i.purpose ? ' ' + i.purpose : ''}`);
  expect(sizes).toEqual(expect.arrayContaining(['192x192', '512x512', '512x512 maskable']));
  for (const i of manifest.icons) expect((await request.get(i.src)).headers()['content-type']).toBe('image/png');
  const csp = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
  expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
  expect(csp).not.toMatch(/unsafe-inline|https?:/);
});

test('offline after one visit: reload, drop, invert, edit', async ({ page, context }) => {
  test.setTimeout(240_000);
  const csp = watchCsp(page);
  await page.goto('/?backend=wasm&pack=tiny-test&steps=30');
  await waitReady(page);
  // Wait until the service worker is installed (precache complete) and active.
  await page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    return reg.active?.state;
  });
  await context.setOffline(true);
  await page.reload();
  expect(await page.evaluate(() => !!navigator.serviceWorker.controller)).toBe(true);
  await waitReady(page);
  await editFlow(page);
  expect(csp).toEqual([]);
  await context.setOffline(false);
});

test('no request leaves the origin during a full session', async ({ page, context, baseURL }) => {
  test.setTimeout(240_000);
  const origin = new URL(baseURL!).origin;
  const foreign: string[] = [];
  const seen: string[] = [];
  context.on('request', (r) => {
    const u = r.url();
    seen.push(u);
    if (u.startsWith('blob:') || u.startsWith('data:')) return;
    if (new URL(u).origin !== origin) foreign.push(u);
  });
  const csp = watchCsp(page);
  await page.goto('/?backend=wasm&pack=tiny-test&steps=30');
  await waitReady(page);
  await editFlow(page);
  const download = page.waitForEvent('download');
  await page.getByTestId('download').click();
  await download;
  expect(seen.length).toBeGreaterThan(5);
  expect(foreign).toEqual([]);
  expect(csp).toEqual([]);
});
