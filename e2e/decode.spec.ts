/**
 * src/image/decode.ts in real Chromium (main thread and a module worker), on the bad-input corpus: the exact
 * result of each file — dimensions, EXIF orientation applied exactly once, alpha on neutral grey, CMYK and 16-bit
 * colours, first GIF frame, the 60 MP downscale — not just the message the app shows (bad-input.spec.ts).
 */
import { expect, test } from '@playwright/test';
import { createServer, type ViteDevServer } from 'vite';
import { fileURLToPath } from 'node:url';
// @ts-expect-error plain JS module without types
import { makeCorpus, scene } from './fixtures/make-corpus.mjs';

let server: ViteDevServer;
let origin = '';
test.beforeAll(async () => {
  makeCorpus(fileURLToPath(new URL('./fixtures/corpus', import.meta.url)));
  server = await createServer({
    configFile: fileURLToPath(new URL('../vite.config.ts', import.meta.url)),
    server: { port: 0, host: '127.0.0.1', hmr: false, watch: { ignored: ['**/*'] } },
    logLevel: 'warn',
  });
  await server.listen();
  origin = `http://127.0.0.1:${(server.httpServer!.address() as { port: number }).port}`;
});
test.afterAll(async () => {
  await server?.close();
});

type Out = { ok: boolean; code?: string; width?: number; height?: number; orientation?: number; by?: string; notes?: string[]; px?: Record<string, number[]> };

for (const where of ['page', 'worker'] as const) {
  test(`decode the corpus in the ${where}`, async ({ page }) => {
    test.setTimeout(180_000);
    await page.goto(`${origin}/package.json`);
    const files = ['png-named-as.jpg', 'animated.gif', 'sixteen-bit.png', 'cmyk.jpg', 'grayscale.jpg', 'alpha.png', 'exif-rotated.jpg', 'sixty-megapixel.png', 'truncated.jpg', 'vector.svg'];
    const results: Record<string, Out> = await page.evaluate(
      async ({ files, where }) => {
        const code = `
          import { decodeImage } from '/src/image/decode.ts';
          const run = async (files) => {
            const out = {};
            for (const f of files) {
              const blob = await (await fetch(ORIGIN + '/e2e/fixtures/corpus/' + f)).blob();
              const r = await decodeImage(new File([blob], f, { type: 'image/jpeg' }));
              if (!r.ok) { out[f] = { ok: false, code: r.code }; continue; }
              const at = (fx, fy) => { const x = Math.floor(fx * r.width), y = Math.floor(fy * r.height), o = (y * r.width + x) * 4; return Array.from(r.image.data.slice(o, o + 4)); };
              out[f] = { ok: true, width: r.width, height: r.height, orientation: r.orientation, by: r.orientationAppliedBy, notes: r.notes,
                px: { corner: at(0.01, 0.01), skin: at(0.5, 0.6), eyeL: at(0.39, 0.44), mouth: at(0.5, 0.7) } };
            }
            return out;
          };
          self.onmessage = async (e) => postMessage(await run(e.data));
          self.runHere = run;`;
        const abs = 'const ORIGIN=' + JSON.stringify(location.origin) + ';' + code.replaceAll("'/src/", "'" + location.origin + '/src/');
        const url = URL.createObjectURL(new Blob([abs], { type: 'text/javascript' }));
        if (where === 'page') {
          await import(/* @vite-ignore */ url);
          return (self as unknown as { runHere: (f: string[]) => Promise<Record<string, Out>> }).runHere(files);
        }
        const w = new Worker(url, { type: 'module' });
        return await new Promise((res) => {
          w.onmessage = (e) => res(e.data);
          w.postMessage(files);
        });
      },
      { files, where },
    );
    const expectRGB = (got: number[], want: number[], tol: number) => want.forEach((v, i) => expect(Math.abs(got[i] - v), `${got} vs ${want}`).toBeLessThanOrEqual(tol));
    const sceneAt = (fx: number, fy: number) => (scene(fx * 256, fy * 256, 256, 256) as number[]).map(Math.round);

    expect(results['truncated.jpg']).toEqual({ ok: false, code: 'truncated' });
    expect(results['vector.svg']).toEqual({ ok: false, code: 'svg' });
    for (const f of ['png-named-as.jpg', 'sixteen-bit.png', 'cmyk.jpg', 'alpha.png', 'exif-rotated.jpg', 'sixty-megapixel.png']) {
      const r = results[f];
      expect(r.ok, f).toBe(true);
      expect(r.px!.skin[3]).toBe(255);
      expectRGB(r.px!.skin, sceneAt(0.5, 0.6), f === 'sixty-megapixel.png' ? 40 : 6);
      if (f !== 'sixty-megapixel.png') expectRGB(r.px!.eyeL, [40, 50, 70], 12);
    }
    // EXIF orientation 6: stored 224 x 160, shown upright 160 x 224 — rotated exactly once (eye/mouth in place).
    expect(results['exif-rotated.jpg']).toMatchObject({ width: 160, height: 224, orientation: 6 });
    expect(['browser', 'manual']).toContain(results['exif-rotated.jpg'].by);
    expectRGB(results['exif-rotated.jpg'].px!.mouth, [170, 60, 70], 20);
    // Transparent corner composited on neutral grey.
    expectRGB(results['alpha.png'].px!.corner, [128, 128, 128], 0);
    // 60 MP downscaled to the working budget (4096²).
    expect(results['sixty-megapixel.png']).toMatchObject({ width: 4096, height: 4096 });
    // Grayscale stays grey; GIF gives its first frame (blue channel unshifted).
    const g = results['grayscale.jpg'].px!.skin;
    expect(Math.max(...g.slice(0, 3)) - Math.min(...g.slice(0, 3))).toBeLessThanOrEqual(1);
    expectRGB(results['animated.gif'].px!.skin, [204, 153, 153], 1);
  });
}
