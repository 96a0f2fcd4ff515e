import { describe, expect, it } from 'vitest';
import { resizePlanes, resizeRGBA, imageToTensor, tensorToImage, centerSquare } from './tensor';

const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;

describe('area-averaging resize', () => {
  it('2x downscale is the mean of each 2x2 block', () => {
    const src = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
    expect(Array.from(resizePlanes(src, 4, 4, 1, 2, 2))).toEqual([3.5, 5.5, 11.5, 13.5]);
  });
  it('keeps the image mean for non-integer factors and constant images constant', () => {
    const w = 37, h = 23;
    const src = Array.from({ length: w * h * 3 }, (_, i) => (i * 7919) % 256);
    for (const [dw, dh] of [[10, 9], [16, 16], [36, 5]]) {
      const out = resizePlanes(src, w, h, 3, dw, dh);
      expect(mean(out)).toBeCloseTo(mean(src), 3);
    }
    const flat = resizePlanes(new Array(50 * 30 * 4).fill(77), 50, 30, 4, 13, 7);
    for (const v of flat) expect(v).toBeCloseTo(77, 4);
  });
  it('does not alias: a 1-px checkerboard shrinks to flat grey', () => {
    const n = 256, src = new Uint8ClampedArray(n * n * 4);
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) src.fill((x + y) & 1 ? 255 : 0, (y * n + x) * 4, (y * n + x) * 4 + 4);
    const t = imageToTensor({ width: n, height: n, data: src }, 64);
    for (const v of t) expect(Math.abs(v)).toBeLessThan(1e-5);
    const odd = resizeRGBA({ width: n, height: n, data: src }, 50, 50);
    for (let i = 0; i < odd.data.length; i += 4) expect(Math.abs(odd.data[i] - 127.5)).toBeLessThanOrEqual(6);
  });
  it('enlarges bilinearly (monotonic ramp, endpoints kept)', () => {
    const out = resizePlanes([0, 100], 2, 1, 1, 8, 1);
    for (let i = 1; i < 8; i++) expect(out[i]).toBeGreaterThanOrEqual(out[i - 1]);
    expect(out[0]).toBe(0);
    expect(out[7]).toBe(100);
  });
  it('imageToTensor / tensorToImage round trip at the same size and centre crop', () => {
    const img = { width: 6, height: 4, data: new Uint8ClampedArray(6 * 4 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 13) % 256)) };
    const sq = centerSquare(img);
    expect([sq.width, sq.height]).toEqual([4, 4]);
    expect(Array.from(sq.data.subarray(0, 4))).toEqual(Array.from(img.data.subarray(4, 8)));
    const back = tensorToImage(imageToTensor(sq, 4), 4);
    expect(Array.from(back.data)).toEqual(Array.from(sq.data));
  });
});
