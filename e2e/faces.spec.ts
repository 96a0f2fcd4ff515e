/**
 * Face detection, alignment and paste-back in real Chromium, on src/image's own modules (served by a private Vite dev server, since the
 * production bundle does not expose them): face detection + 68 landmarks in a module worker on the real photos
 * shipped in @vladmandic/face-api, FFHQ alignment (eyes level and centred in the crop), paste-back that only
 * changes pixels inside the face mask, and a photo with no face.
 */
import { expect, test } from '@playwright/test';
import { createServer, type ViteDevServer } from 'vite';
import { fileURLToPath } from 'node:url';

let server: ViteDevServer;
let origin = '';
test.beforeAll(async () => {
  server = await createServer({
    configFile: fileURLToPath(new URL('../vite.config.ts', import.meta.url)),
    server: { port: 0, host: '127.0.0.1', hmr: false, watch: { ignored: ['**/*'] } },
    logLevel: 'warn',
  });
  await server.listen();
  const addr = server.httpServer!.address() as { port: number };
  origin = `http://127.0.0.1:${addr.port}`;
});
test.afterAll(async () => {
  await server?.close();
});

type WorkerResult = {
  error?: string;
  photos: { n: number; faces: { box: number[]; eyes: number[][]; mouth: number[]; angle: number }[]; ms: number; outsideChanged: number; insideChanged: number }[];
  noFace: number;
  R: number;
  variants: Record<string, { centreErr: number; sizeRatio: number; dAngle: number; wantAngle: number } | null>;
};

test('detect, align and paste back on real photos, in a worker', async ({ page }) => {
  test.setTimeout(300_000);
  await page.goto(`${origin}/package.json`);
  const r: WorkerResult = await page.evaluate(async () => {
    const code = `
      import { createFaceDetector } from '/src/image/faces.ts';
      import { decodeImage } from '/src/image/decode.ts';
      import { alignmentFromLandmarks, alignFace, pasteBack, apply, faceRegion } from '/src/image/align.ts';
      const R = 128;
      self.onmessage = async () => {
        try {
          const det = await createFaceDetector({ inputSize: 320, detectMaxSide: 640 });
          const photos = [];
          for (const n of [1, 3]) {
            const d = await decodeImage(await (await fetch(ORIGIN + '/node_modules/@vladmandic/face-api/demo/sample' + n + '.jpg')).blob());
            const t0 = performance.now();
            const faces = await det.detect(d.image);
            const ms = performance.now() - t0;
            const out = [];
            for (const f of faces) {
              const al = alignmentFromLandmarks(f.landmarks, R);
              const mean = (a, b) => { let x = 0, y = 0; for (let i = a; i < b; i++) { x += f.landmarks[i][0]; y += f.landmarks[i][1]; } return [x / (b - a), y / (b - a)]; };
              out.push({ box: [f.box.x, f.box.y, f.box.width, f.box.height], eyes: [apply(al.toCrop, mean(36, 42)), apply(al.toCrop, mean(42, 48))], mouth: apply(al.toCrop, mean(48, 60)), angle: al.angleDeg });
            }
            // Paste back a colour-inverted crop of the largest face; count changed pixels inside / outside its region.
            const al = alignmentFromLandmarks(faces[0].landmarks, R);
            const crop = alignFace(d.image, al);
            for (let i = 0; i < crop.data.length; i += 4) { crop.data[i] = 255 - crop.data[i]; crop.data[i + 1] = 255 - crop.data[i + 1]; crop.data[i + 2] = 255 - crop.data[i + 2]; }
            const res = pasteBack(d.image, crop, al, { landmarks: faces[0].landmarks });
            const poly = faceRegion(faces[0].landmarks, al);
            const inside = (u, v) => { let c = false; for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) { const [xi, yi] = poly[i], [xj, yj] = poly[j]; if ((yi > v) !== (yj > v) && u < ((xj - xi) * (v - yi)) / (yj - yi) + xi) c = !c; } return c; };
            let insideChanged = 0, outsideChanged = 0;
            for (let y = 0; y < d.height; y++) for (let x = 0; x < d.width; x++) {
              const o = (y * d.width + x) * 4;
              if (res.data[o] === d.image.data[o] && res.data[o + 1] === d.image.data[o + 1] && res.data[o + 2] === d.image.data[o + 2]) continue;
              const [u, v] = apply(al.toCrop, [x + 0.5, y + 0.5]);
              if (inside(u, v)) insideChanged++; else outsideChanged++;
            }
            photos.push({ n, faces: out, ms, insideChanged, outsideChanged });
          }
          // Derived variants of sample1: downscaled 0.5x, offset by (300, 200) on a grey canvas, and
          // rotated 20° about the centre. The largest face's alignment must follow each transform.
          const base = await decodeImage(await (await fetch(ORIGIN + '/node_modules/@vladmandic/face-api/demo/sample1.jpg')).blob());
          const ref = (await det.detect(base.image))[0];
          const refAl = alignmentFromLandmarks(ref.landmarks, R);
          const warp = (img, W2, H2, inv) => {
            const out = new Uint8ClampedArray(W2 * H2 * 4);
            for (let y = 0; y < H2; y++) for (let x = 0; x < W2; x++) {
              const [sx, sy] = inv(x + 0.5, y + 0.5);
              const ix = Math.floor(sx), iy = Math.floor(sy), o = (y * W2 + x) * 4;
              if (ix < 0 || iy < 0 || ix >= img.width || iy >= img.height) { out.set([128, 128, 128, 255], o); continue; }
              out.set(img.data.subarray((iy * img.width + ix) * 4, (iy * img.width + ix) * 4 + 4), o);
            }
            return { width: W2, height: H2, data: out };
          };
          const { resizeRGBA } = await import('/src/image/tensor.ts');
          const th = -20 * Math.PI / 180, cx = base.width / 2, cy = base.height / 2;
          const variants = {
            half: { img: resizeRGBA(base.image, base.width / 2, base.height / 2), map: (p) => [p[0] / 2, p[1] / 2], dAngle: 0 },
            offset: { img: warp(base.image, base.width + 300, base.height + 200, (x, y) => [x - 300, y - 200]), map: (p) => [p[0] + 300, p[1] + 200], dAngle: 0 },
            rotated: { img: warp(base.image, base.width, base.height, (x, y) => [cx + Math.cos(th) * (x - cx) + Math.sin(th) * (y - cy), cy - Math.sin(th) * (x - cx) + Math.cos(th) * (y - cy)]),
                       map: (p) => [cx + Math.cos(th) * (p[0] - cx) - Math.sin(th) * (p[1] - cy), cy + Math.sin(th) * (p[0] - cx) + Math.cos(th) * (p[1] - cy)], dAngle: -20 },
          };
          const varOut = {};
          for (const [k, v] of Object.entries(variants)) {
            const fs = await det.detect(v.img);
            const want = v.map(apply(refAl.toPhoto, [R / 2, R / 2]));
            let best = null, bestD = Infinity;
            for (const f of fs) { const al = alignmentFromLandmarks(f.landmarks, R); const c = apply(al.toPhoto, [R / 2, R / 2]); const dd = Math.hypot(c[0] - want[0], c[1] - want[1]); if (dd < bestD) { bestD = dd; best = al; } }
            const scale = k === 'half' ? 0.5 : 1;
            varOut[k] = best ? { centreErr: bestD / (refAl.qsize * scale), sizeRatio: best.qsize / (refAl.qsize * scale), dAngle: best.angleDeg - refAl.angleDeg, wantAngle: v.dAngle } : null;
          }
          // A landscape without a face (procedural sky, hills and sun).
          const W = 640, H = 400, px = new Uint8ClampedArray(W * H * 4);
          for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
            const hill = y > 250 + 40 * Math.sin(x / 70);
            const sun = Math.hypot(x - 500, y - 90) < 40;
            px.set(sun ? [255, 220, 120, 255] : hill ? [60, 130 + (y % 7), 50, 255] : [120, 170, 230 - y / 4, 255], (y * W + x) * 4);
          }
          const none = await det.detect({ width: W, height: H, data: px });
          postMessage({ photos, noFace: none.length, R, variants: varOut });
        } catch (err) { postMessage({ error: String((err && err.stack) || err) }); }
      };`;
    const abs = 'const ORIGIN=' + JSON.stringify(location.origin) + ';' + code.replaceAll("'/src/", "'" + location.origin + '/src/');
    const w = new Worker(URL.createObjectURL(new Blob([abs], { type: 'text/javascript' })), { type: 'module' });
    return await new Promise((res) => {
      w.onmessage = (e) => res(e.data);
      w.onerror = (e) => res({ error: 'worker error: ' + e.message, photos: [], noFace: -1, R: 0, variants: {} });
      w.postMessage(0);
    });
  });
  expect(r.error).toBeUndefined();
  const R = r.R;
  for (const p of r.photos) {
    console.log(`sample${p.n}: ${p.faces.length} faces in ${Math.round(p.ms)} ms; paste-back changed ${p.insideChanged} px inside the face, ${p.outsideChanged} outside`);
    expect(p.faces.length).toBeGreaterThanOrEqual(2); // group photos
    for (const f of p.faces) {
      const [l, rt] = f.eyes;
      // FFHQ framing: eyes level, left of / right of centre, in the upper-middle band; mouth centred below them.
      expect(Math.abs(l[1] - rt[1])).toBeLessThan(0.04 * R);
      expect(l[0]).toBeLessThan(0.5 * R);
      expect(rt[0]).toBeGreaterThan(0.5 * R);
      expect((l[0] + rt[0]) / 2).toBeGreaterThan(0.45 * R);
      expect((l[0] + rt[0]) / 2).toBeLessThan(0.55 * R);
      expect((l[1] + rt[1]) / 2).toBeGreaterThan(0.3 * R);
      expect((l[1] + rt[1]) / 2).toBeLessThan(0.55 * R);
      expect(f.mouth[1]).toBeGreaterThan((l[1] + rt[1]) / 2 + 0.1 * R);
      expect(Math.abs(f.mouth[0] - R / 2)).toBeLessThan(0.06 * R);
    }
    expect(p.insideChanged).toBeGreaterThan(5000);
    expect(p.outsideChanged).toBe(0);
  }
  expect(r.noFace).toBe(0);
  for (const [k, v] of Object.entries(r.variants)) {
    console.log(`variant ${k}: ${JSON.stringify(v)}`);
    expect(v, k).not.toBeNull();
    // Same face found; its crop follows the transform (centre within 5% of the crop, size within 10%, angle within 4°).
    expect(v!.centreErr).toBeLessThan(0.05);
    expect(Math.abs(v!.sizeRatio - 1)).toBeLessThan(0.1);
    expect(Math.abs(v!.dAngle - v!.wantAngle)).toBeLessThan(4);
  }
});
