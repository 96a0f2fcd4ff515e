/**
 * Model manager in Debian's Chromium: import the tiny test pack from a zip (made here with fflate, renamed
 * so it is told apart from the bundled copy), see it listed, switch away and back, reload (kept in OPFS, and the
 * app comes back to it), delete it; a zip with a corrupted graph and one whose graph does not load are refused with a
 * message naming the file, and the current pack stays usable. Also: the pack chosen last is the only pack loaded at
 * startup (a damaged or deleted one falls back to the default with a banner), imported samples' blob: URLs do not pile
 * up across switches, and the model sheet's focus handling (Escape, click outside).
 */
import { expect, test, type Page } from '@playwright/test';
import { zipSync } from 'fflate';
import { createHash } from 'node:crypto';
import { collectErrors, dropFile, waitInverted, waitReady, watchImportStatus } from './helpers';
import { renamedPackZip } from './fixtures/packFiles.mjs';

const DIR = 'public/models/tiny-test';

/** The tiny pack as `<top>/...` in a zip, with its manifest renamed; `mutate` may change files and the manifest. */
const tinyZip = (name: string, title: string, mutate?: (files: Record<string, Uint8Array>, m: any) => void): Buffer =>
  renamedPackZip(DIR, name, (m, files) => {
    m.title = title;
    mutate?.(files, m);
  });

async function importZip(page: Page, file: string, zip: Buffer) {
  await page.getByTestId('mm-zip-input').setInputFiles({ name: file, mimeType: 'application/zip', buffer: zip });
}

const row = (page: Page, id: string, source: string) => page.locator(`[data-testid="mm-pack"][data-pack-id="${id}"][data-source="${source}"]`);

type Hooks = { __fzplus: { packLoads(): string[]; state(): { packUrl: string | null } }; __liveBlobs?: Set<string> };
const packLoads = (page: Page) => page.evaluate(() => (window as unknown as Hooks).__fzplus.packLoads());
const activePackUrl = (page: Page) => page.evaluate(() => (window as unknown as Hooks).__fzplus.state().packUrl);

/** Counts the page's live blob: URLs (created and not yet revoked), from before the app starts. */
async function trackBlobUrls(page: Page) {
  await page.addInitScript(() => {
    const live = new Set<string>();
    (window as unknown as Hooks).__liveBlobs = live;
    const create = URL.createObjectURL.bind(URL);
    const revoke = URL.revokeObjectURL.bind(URL);
    URL.createObjectURL = (o: Blob | MediaSource) => {
      const u = create(o);
      live.add(u);
      return u;
    };
    URL.revokeObjectURL = (u: string) => {
      live.delete(u);
      revoke(u);
    };
  });
}
const liveBlobs = (page: Page) => page.evaluate(() => (window as unknown as Hooks).__liveBlobs?.size ?? -1);

/** Runs in the page: overwrites (or removes, when `bytes` is null) a file of a stored pack in OPFS. */
async function tamperStored(page: Page, id: string, file: string | null) {
  await page.evaluate(async ({ id, file }) => {
    const packs = await (await navigator.storage.getDirectory()).getDirectoryHandle('packs');
    if (file === null) return packs.removeEntry(id, { recursive: true });
    const fh = await (await packs.getDirectoryHandle(id)).getFileHandle(file);
    const size = (await fh.getFile()).size;
    const w = await fh.createWritable();
    await w.write(new Uint8Array(size).fill(7));
    await w.close();
  }, { id, file });
}

test('import a zip, list, switch, reload, delete; broken packs are refused', async ({ page }) => {
  const errors = collectErrors(page);
  page.on('dialog', (d) => void d.accept());
  await trackBlobUrls(page);
  await page.goto('/?backend=wasm&steps=20');
  await waitReady(page);
  const firstTitle = await page.getByTestId('pack-name').textContent();

  await page.getByTestId('mm-open').click();
  const panel = page.getByTestId('model-manager');
  await expect(panel.getByTestId('mm-pack').first()).toBeVisible();
  await expect(row(page, 'tiny-test', 'bundled')).toBeVisible();
  await expect(page.getByTestId('mm-quota')).toContainText(/used of/);

  // import: checked, stored, loaded and active
  await importZip(page, 'tiny-imported.zip', tinyZip('tiny-imported', 'Tiny imported'));
  await expect(page.getByTestId('mm-message')).toContainText('Imported Tiny imported');
  await expect(row(page, 'tiny-imported', 'imported')).toHaveAttribute('data-active', 'true');
  await expect(page.getByTestId('pack-name')).toContainText('Tiny imported');

  // switch to the bundled tiny pack and back
  await row(page, 'tiny-test', 'bundled').getByTestId('mm-use').click();
  await expect(page.getByTestId('pack-name')).toContainText('Tiny test pack');
  await row(page, 'tiny-imported', 'imported').getByTestId('mm-use').click();
  await expect(page.getByTestId('pack-name')).toContainText('Tiny imported');
  await waitReady(page);

  // reload: still stored, and the app comes back to the pack in use
  await page.reload();
  await waitReady(page);
  await expect(page.getByTestId('pack-name')).toContainText('Tiny imported');
  await page.getByTestId('mm-open').click();
  await expect(row(page, 'tiny-imported', 'imported')).toHaveAttribute('data-active', 'true');
  // its sample faces are read from OPFS (blob: URLs), revoked when another pack is shown: none pile up
  const sample = page.getByTestId('sample').first().locator('img');
  await expect(sample).toHaveAttribute('src', /^blob:/);
  await expect.poll(() => sample.evaluate((i) => (i as HTMLImageElement).naturalWidth)).toBe(32);
  await expect.poll(() => liveBlobs(page)).toBe(3);
  for (let i = 0; i < 2; i++) {
    await row(page, 'tiny-test', 'bundled').getByTestId('mm-use').click();
    await expect(page.getByTestId('pack-name')).toContainText('Tiny test pack');
    await expect(page.getByTestId('sample').first().locator('img')).toHaveAttribute('src', /\/models\/tiny-test\//);
    await expect.poll(() => liveBlobs(page)).toBe(0);
    await row(page, 'tiny-imported', 'imported').getByTestId('mm-use').click();
    await expect(sample).toHaveAttribute('src', /^blob:/);
    await expect.poll(() => liveBlobs(page)).toBe(3);
  }
  await waitReady(page);
  // the imported pack edits: drop a face and invert
  await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'heldout.png');
  await waitInverted(page);

  // delete (the pack in use cannot be deleted: switch first)
  await expect(row(page, 'tiny-imported', 'imported').getByTestId('mm-delete')).toBeDisabled();
  await row(page, 'tiny-test', 'bundled').getByTestId('mm-use').click();
  await expect(page.getByTestId('pack-name')).toContainText('Tiny test pack');
  await row(page, 'tiny-imported', 'imported').getByTestId('mm-delete').click();
  await expect(page.getByTestId('mm-message')).toContainText('Deleted Tiny imported');
  await expect(row(page, 'tiny-imported', 'imported')).toHaveCount(0);

  // a corrupted graph: hash mismatch, refused naming the file; nothing stored; the current pack stays
  await importZip(page, 'broken.zip', tinyZip('tiny-broken', 'Tiny broken', (f) => {
    const g = f['mapping.onnx'].slice();
    for (let i = 40; i < 80; i++) g[i] ^= 0x5a;
    f['mapping.onnx'] = g;
  }));
  await expect(page.getByTestId('mm-message')).toContainText(/broken\.zip was refused: .*mapping\.onnx.*sha256/);
  await expect(row(page, 'tiny-broken', 'imported')).toHaveCount(0);
  await expect(page.getByTestId('pack-name')).toContainText('Tiny test pack');

  // a graph that fails to load (manifest hash updated to match the garbage): refused by the engine, not kept
  await importZip(page, 'badgraph.zip', tinyZip('tiny-badgraph', 'Tiny bad graph', (f, m) => {
    const g = new TextEncoder().encode('this is not an onnx graph');
    f['synthesis_from_f.onnx'] = g;
    m.graphs.synthesis_from_f.bytes = g.length;
    m.graphs.synthesis_from_f.sha256 = createHash('sha256').update(g).digest('hex');
  }));
  await expect(page.getByTestId('mm-message')).toContainText(/badgraph\.zip was refused: .*synthesis_from_f/);
  await expect(row(page, 'tiny-badgraph', 'imported')).toHaveCount(0);
  await expect(page.getByTestId('pack-name')).toContainText('Tiny test pack');

  // bad JSON and a missing graph
  await importZip(page, 'badjson.zip', Buffer.from(zipSync({ 'x/manifest.json': new TextEncoder().encode('{"name": ') })));
  await expect(page.getByTestId('mm-message')).toContainText(/badjson\.zip was refused: manifest\.json is not valid JSON/);
  await importZip(page, 'nograph.zip', tinyZip('tiny-nograph', 'Tiny no graph', (f) => void delete f['features.onnx']));
  await expect(page.getByTestId('mm-message')).toContainText(/lacks graph 'features' \(features\.onnx\)/);

  // the current pack still edits
  await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'heldout.png');
  await waitInverted(page);
  expect(firstTitle).toBeTruthy();
  expect(errors).toEqual([]);
});

test('the pack chosen last is loaded directly at startup; a broken or deleted one falls back to the default with a banner', async ({ page }) => {
  const errors = collectErrors(page);
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto('/?backend=wasm&steps=20');
  await waitReady(page);
  const defaultUrl = (await activePackUrl(page))!;
  const defaultTitle = (await page.getByTestId('pack-name').textContent())!;
  expect(await packLoads(page)).toEqual([defaultUrl]);
  // the worker's downloads show up here (so the check below can see a default-pack load)
  expect(requests.some((u) => u.startsWith(defaultUrl) && u.endsWith('.onnx'))).toBe(true);

  await page.getByTestId('mm-open').click();
  await importZip(page, 'remember.zip', tinyZip('tiny-remember', 'Tiny remembered'));
  await expect(page.getByTestId('mm-message')).toContainText('Imported Tiny remembered');

  // reload: one pack load, the remembered one, and nothing of the default pack is fetched
  requests.length = 0;
  await page.reload();
  await waitReady(page);
  await expect(page.getByTestId('pack-name')).toContainText('Tiny remembered');
  expect(await packLoads(page)).toEqual(['opfs:/packs/tiny-remember/']);
  expect(requests.filter((u) => u.startsWith(defaultUrl))).toEqual([]);
  await expect(page.getByTestId('banner-warning')).toHaveCount(0);

  // its weights damaged on disk: a banner names it, the default pack is loaded, the choice is forgotten
  await tamperStored(page, 'tiny-remember', 'weights.bin');
  await page.reload();
  await waitReady(page);
  await expect(page.getByTestId('banner-warning')).toContainText(/could not be loaded.*tiny-remember.*weights\.bin.*default model/s);
  await expect(page.getByTestId('pack-name')).toHaveText(defaultTitle);
  expect(await packLoads(page)).toEqual(['opfs:/packs/tiny-remember/', defaultUrl]);
  expect(await page.evaluate(() => localStorage.getItem('fzplus.activePack'))).toBeNull();

  // chosen again, then gone from storage (site data cleared): a banner says so, the default pack is loaded
  await page.getByTestId('mm-open').click();
  await importZip(page, 'gone.zip', tinyZip('tiny-gone', 'Tiny gone'));
  await expect(page.getByTestId('mm-message')).toContainText('Imported Tiny gone');
  await tamperStored(page, 'tiny-gone', null);
  await page.reload();
  await waitReady(page);
  await expect(page.getByTestId('banner-warning')).toContainText(/tiny-gone.*no longer stored/);
  await expect(page.getByTestId('pack-name')).toHaveText(defaultTitle);
  expect(await packLoads(page)).toEqual([defaultUrl]);
  await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'heldout.png');
  await waitInverted(page);

  await page.getByTestId('mm-open').click();
  page.on('dialog', (d) => void d.accept());
  await row(page, 'tiny-remember', 'imported').getByTestId('mm-delete').click();
  await expect(row(page, 'tiny-remember', 'imported')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('the model sheet opens from the top bar, takes the focus, and closes with Escape or a click outside', async ({ page }) => {
  await page.goto('/?backend=wasm&pack=tiny-test');
  await waitReady(page);
  const chip = page.getByTestId('mm-open');
  const sheet = page.getByTestId('model-manager');
  await expect(chip).toContainText('Tiny test pack');
  // it sits in the top bar, not floating over the page
  const bar = (await page.locator('header.topbar').boundingBox())!;
  const box = (await chip.boundingBox())!;
  expect(box.y).toBeGreaterThanOrEqual(bar.y);
  expect(box.y + box.height).toBeLessThanOrEqual(bar.y + bar.height);

  await expect(sheet).toBeHidden();
  await chip.click();
  await expect(sheet).toBeVisible();
  await expect(chip).toHaveAttribute('aria-expanded', 'true');
  await expect(sheet.getByRole('heading', { name: 'Models' })).toBeVisible();
  expect(await sheet.evaluate((d) => d.contains(document.activeElement))).toBe(true);
  // modal: Tab stays inside the sheet
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('Tab');
    expect(await sheet.evaluate((d) => d.contains(document.activeElement) || document.activeElement === document.body)).toBe(true);
  }
  await page.keyboard.press('Escape');
  await expect(sheet).toBeHidden();
  await expect(chip).toBeFocused();
  await expect(chip).toHaveAttribute('aria-expanded', 'false');

  // keyboard opens it too; a click on the backdrop (left of the sheet) closes it
  await page.keyboard.press('Enter');
  await expect(sheet).toBeVisible();
  await page.mouse.click(40, 400);
  await expect(sheet).toBeHidden();
  // the close button
  await chip.click();
  await sheet.getByRole('button', { name: 'Close' }).click();
  await expect(sheet).toBeHidden();
});

test('import from a same-origin URL (download progress) and from a folder', async ({ page }) => {
  const errors = collectErrors(page);
  page.on('dialog', (d) => void d.accept());
  await page.goto('/?backend=wasm&pack=tiny-test');
  await waitReady(page);
  await page.getByTestId('mm-open').click();
  const { seen, stop: stopWatch } = watchImportStatus(page, 20);

  await page.getByTestId('mm-url').fill('/models/tiny-test/');
  await page.getByTestId('mm-url-go').click();
  await expect(page.getByTestId('mm-message')).toContainText('Imported Tiny test pack');
  stopWatch();
  console.log('status lines seen:', [...seen].join(' | '));
  // "x of y" never runs past y (sizes the manifest does not list, such as samples, are counted from Content-Length)
  const KB = (v: string, u: string) => Number(v) * ({ B: 1 / 1024, KB: 1, MB: 1024, GB: 1024 * 1024 } as Record<string, number>)[u];
  for (const line of seen) {
    const m = /\(([\d.]+) (B|KB|MB|GB) of ([\d.]+) (B|KB|MB|GB)\)/.exec(line);
    if (m) expect(KB(m[1], m[2]), line).toBeLessThanOrEqual(KB(m[3], m[4]) + 0.05);
  }
  await expect(row(page, 'tiny-test', 'imported')).toHaveAttribute('data-active', 'true');
  if (process.env.MM_SCREENSHOT) await page.screenshot({ path: process.env.MM_SCREENSHOT });

  // a URL that is not a pack
  await page.getByTestId('mm-url').fill('/models/no-such-pack/');
  await page.getByTestId('mm-url-go').click();
  await expect(page.getByTestId('mm-message')).toContainText(/was refused: .*manifest\.json/);

  // another site: refused before any request (the CSP allows only this origin)
  await page.getByTestId('mm-url').fill('https://example.com/pack.zip');
  await page.getByTestId('mm-url-go').click();
  await expect(page.getByTestId('mm-message')).toContainText('is on another site');

  // folder (webkitdirectory): stored beside the first copy (an import never overwrites)
  await row(page, 'tiny-test', 'bundled').getByTestId('mm-use').click();
  await expect(row(page, 'tiny-test', 'bundled')).toHaveAttribute('data-active', 'true');
  await page.getByTestId('mm-dir-input').setInputFiles(DIR);
  await expect(page.getByTestId('mm-message')).toContainText('Imported Tiny test pack');
  await expect(row(page, 'tiny-test-2', 'imported')).toHaveAttribute('data-active', 'true');
  await row(page, 'tiny-test', 'bundled').getByTestId('mm-use').click();
  await expect(row(page, 'tiny-test', 'bundled')).toHaveAttribute('data-active', 'true');
  for (const id of ['tiny-test', 'tiny-test-2']) {
    await row(page, id, 'imported').getByTestId('mm-delete').click();
    await expect(row(page, id, 'imported')).toHaveCount(0);
  }
  expect(errors).toEqual([]);
});

test('an imported pack works offline after a reload', async ({ page, context }) => {
  const errors = collectErrors(page);
  await page.goto('/?backend=wasm&steps=20');
  await waitReady(page);
  await page.evaluate(async () => (await navigator.serviceWorker.ready).active?.state);
  await page.getByTestId('mm-open').click();
  await importZip(page, 'offline.zip', tinyZip('tiny-offline', 'Tiny offline'));
  await expect(page.getByTestId('mm-message')).toContainText('Imported Tiny offline');

  await context.setOffline(true);
  await page.reload();
  expect(await page.evaluate(() => !!navigator.serviceWorker.controller)).toBe(true);
  await expect(page.getByTestId('pack-name')).toContainText('Tiny offline');
  await waitReady(page);
  await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'heldout.png');
  await waitInverted(page);
  await context.setOffline(false);
  expect(errors).toEqual([]);
});

test('a session saved on an imported pack restores onto that pack, not /models/<name>/', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/?backend=wasm&pack=tiny-test&steps=10');
  await waitReady(page);
  await page.getByTestId('mm-open').click();
  await importZip(page, 'session.zip', tinyZip('tiny-session', 'Tiny session'));
  await expect(page.getByTestId('mm-message')).toContainText('Imported Tiny session');
  await expect(page.getByTestId('pack-name')).toContainText('Tiny session'); // an import switches to the pack
  await waitReady(page);
  await page.keyboard.press('Escape');
  await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'heldout.png');
  await waitInverted(page);
  await page.getByTestId('save-session').click();
  await expect(page.getByTestId('saved-note')).toContainText('heldout.png');

  // come back on the bundled pack (the URL names it), then restore
  await page.goto('/?backend=wasm&pack=tiny-test&steps=10');
  await waitReady(page);
  await expect(page.getByTestId('pack-name')).toContainText('Tiny test pack');
  await page.getByTestId('restore-session').click();
  await expect(page.getByTestId('progress')).toHaveAttribute('data-phase', 'inverted');
  await expect(page.getByTestId('pack-name')).toContainText('Tiny session');
  expect((await packLoads(page)).at(-1)).toBe('opfs:/packs/tiny-session/');
  await expect(page.getByTestId('banner-error')).toHaveCount(0);
  expect(errors).toEqual([]);
});
