/**
 * Drops that are not one photo file, in Debian's Chromium (WASM, tiny pack): a link to an image on another site, a
 * page link, plain text, several files at once, and a real ICO labelled with its Windows MIME type. The window's
 * dragover and drop are always default-prevented (the browser never navigates away), each case gets a specific
 * message, the page stays responsive, and the photo and its edit stay unless a photo was opened on purpose.
 */
import { expect, test, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { canvasPixels, collectErrors, meanAbsDiff, openEditedTinyFace, waitInverted } from './helpers';

type Item = { kind: 'file'; b64: string; name: string; type: string } | { kind: 'data'; type: string; value: string };

/** Dispatches dragover + drop carrying `items` at the page; returns whether each was default-prevented. */
async function drop(page: Page, items: Item[]): Promise<{ over: boolean; drop: boolean }> {
  return page.evaluate((items) => {
    const dt = new DataTransfer();
    for (const it of items) {
      if (it.kind === 'data') dt.setData(it.type, it.value);
      else {
        const bin = atob(it.b64);
        const bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        dt.items.add(new File([bytes], it.name, { type: it.type }));
      }
    }
    const target = document.querySelector('[data-testid="result-canvas"]') ?? document.body;
    const over = !target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    const dropped = !target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    return { over, drop: dropped };
  }, items);
}

const fileItem = (path: string, name: string, type: string): Item => ({ kind: 'file', b64: readFileSync(path).toString('base64'), name, type });

/** A real ICO: one entry holding a PNG (Windows Vista+ layout), its size from the PNG's header. */
function icoOf(png: Buffer): Buffer {
  const head = Buffer.alloc(22);
  head.writeUInt16LE(0, 0);
  head.writeUInt16LE(1, 2); // icon
  head.writeUInt16LE(1, 4); // one image
  head[6] = png.readUInt32BE(16) & 0xff; // 0 means 256
  head[7] = png.readUInt32BE(20) & 0xff;
  head.writeUInt16LE(1, 10); // planes
  head.writeUInt16LE(32, 12); // bits per pixel
  head.writeUInt32LE(png.length, 14);
  head.writeUInt32LE(22, 18);
  return Buffer.concat([head, png]);
}

async function roundTrip(page: Page): Promise<number> {
  const t0 = Date.now();
  await page.evaluate(() => 1);
  return Date.now() - t0;
}

test('links and text are never followed and get a message; several files open one and name the rest; a real ICO has no false note', async ({ page }) => {
  const errors = collectErrors(page);
  const before = await openEditedTinyFace(page, 20);
  const url = page.url();
  const warnings = page.getByTestId('banner-warning');

  const refusals: [string, Item[], RegExp][] = [
    ['an image link', [{ kind: 'data', type: 'text/uri-list', value: 'https://example.com/people/face.jpg' }, { kind: 'data', type: 'text/plain', value: 'https://example.com/people/face.jpg' }], /example\.com\/people\/face\.jpg.*never downloads anything: nothing leaves this device/],
    ['a page link', [{ kind: 'data', type: 'text/uri-list', value: 'https://example.com/about' }], /is a link, not an image file\. Drop an image file/],
    ['text', [{ kind: 'data', type: 'text/plain', value: 'a face, please' }], /That was text, not a file\. Drop an image file/],
  ];
  let n = 0;
  for (const [what, items, message] of refusals) {
    await test.step(what, async () => {
      const prevented = await drop(page, items);
      expect(prevented).toEqual({ over: true, drop: true });
      n++;
      await expect(warnings).toHaveCount(n);
      await expect(warnings.last()).toContainText(message);
      expect(await roundTrip(page)).toBeLessThan(2000);
      expect(page.url()).toBe(url);
      expect(meanAbsDiff(before.photo, await canvasPixels(page, 'photo-canvas'))).toBe(0);
      expect(meanAbsDiff(before.edited, await canvasPixels(page, 'result-canvas'))).toBe(0);
      expect(await page.getByTestId('slider-texture').inputValue()).toBe(before.slider);
    });
  }

  await test.step('several files', async () => {
    const prevented = await drop(page, [
      { kind: 'file', b64: Buffer.from('just notes').toString('base64'), name: 'notes.txt', type: 'text/plain' },
      fileItem('e2e/fixtures/tiny-heldout.png', 'first-face.png', 'image/png'),
      fileItem('e2e/fixtures/tiny-heldout.png', 'second-face.png', 'image/png'),
    ]);
    expect(prevented).toEqual({ over: true, drop: true });
    const info = page.getByTestId('banner-info').last();
    await expect(info).toContainText('Opened “first-face.png”');
    await expect(info).toContainText('2 other files were ignored (“notes.txt”, “second-face.png”)');
    await waitInverted(page);
    expect(await roundTrip(page)).toBeLessThan(2000);
  });

  await test.step('a real ICO labelled image/vnd.microsoft.icon', async () => {
    const ico = icoOf(readFileSync('e2e/fixtures/tiny-heldout.png'));
    await drop(page, [{ kind: 'file', b64: ico.toString('base64'), name: 'face.ico', type: 'image/vnd.microsoft.icon' }]);
    const photo = () => page.evaluate(() => (window as unknown as { __fzplus: { state(): { photo: { name: string; notes: string[] } | null } } }).__fzplus.state().photo);
    await expect.poll(async () => (await photo())?.name).toBe('face.ico');
    expect((await photo())!.notes.filter((n) => /claims to be|really a/.test(n))).toEqual([]);
    await waitInverted(page);
    await expect(page.getByText(/claims to be/)).toHaveCount(0);
    await expect(page.getByTestId('banner-error')).toHaveCount(0);
  });
  expect(errors).toEqual([]);
});
