import { describe, expect, it } from 'vitest';
import { alignmentForWholeImage, alignmentFromQuad } from './align';
import { downscaleTo, modelInput, pasteInto, pasteIntoView } from './photo';
import type { RGBAImage } from './types';

function gradient(w: number, h: number): RGBAImage {
  const data = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      data[i] = (x * 255) / w;
      data[i + 1] = (y * 255) / h;
      data[i + 2] = 128;
      data[i + 3] = 255;
    }
  return { width: w, height: h, data };
}

const solid = (n: number, v: number): RGBAImage => ({ width: n, height: n, data: new Uint8ClampedArray(n * n * 4).fill(v) });

describe('photo operations', () => {
  it('downscaleTo keeps the aspect ratio and returns small images as they are', () => {
    const img = gradient(400, 300);
    const v = downscaleTo(img, 100);
    expect([v.width, v.height]).toEqual([100, 75]);
    expect(downscaleTo(img, 400)).toBe(img);
  });

  it('modelInput without alignment is the centre square at R; with the whole-image alignment it matches it closely', () => {
    const img = gradient(120, 80);
    const a = modelInput(img, 16, null);
    const b = modelInput(img, 16, alignmentForWholeImage(120, 80, 16));
    expect([a.width, a.height, b.width, b.height]).toEqual([16, 16, 16, 16]);
    let d = 0;
    for (let i = 0; i < a.data.length; i++) d = Math.max(d, Math.abs(a.data[i] - b.data[i]));
    expect(d).toBeLessThan(12);
  });

  it('pasteIntoView on a 1:1 view equals pasteInto, and only the crop square changes', () => {
    const img = gradient(200, 160);
    const al = alignmentFromQuad([[40, 30], [40, 130], [140, 130], [140, 30]], 32);
    const full = pasteInto(img, solid(32, 250), { alignment: al, landmarks: null });
    const view = pasteIntoView(img, 200, 160, solid(32, 250), { alignment: al, landmarks: null });
    expect(view.data).toEqual(full.data);
    let changedOutside = 0;
    for (let y = 0; y < 160; y++)
      for (let x = 0; x < 200; x++) {
        if (x >= 40 && x < 140 && y >= 30 && y < 130) continue;
        const i = (y * 200 + x) * 4;
        if (full.data[i] !== img.data[i] || full.data[i + 1] !== img.data[i + 1] || full.data[i + 2] !== img.data[i + 2]) changedOutside++;
      }
    expect(changedOutside).toBe(0);
  });

  it('pasteIntoView on a half-size view pastes into the scaled square', () => {
    const img = gradient(200, 160);
    const al = alignmentFromQuad([[40, 30], [40, 130], [140, 130], [140, 30]], 32);
    const v = downscaleTo(img, 100);
    const out = pasteIntoView(v, 200, 160, solid(32, 250), { alignment: al, landmarks: null });
    const px = (x: number, y: number) => out.data[(y * 100 + x) * 4 + 2];
    expect(px(45, 40)).toBeGreaterThan(240); // centre of the scaled square
    expect(px(5, 5)).toBe(v.data[(5 * 100 + 5) * 4 + 2]); // outside: untouched
  });
});
