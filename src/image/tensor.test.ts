import { describe, expect, it } from 'vitest';
import { rgbaToTensor, tensorToRgba } from './tensor';

describe('image <-> tensor', () => {
  it('maps RGBA8 to NCHW [-1,1] and back exactly', () => {
    const w = 3, h = 2;
    const rgba = new Uint8ClampedArray(w * h * 4);
    for (let i = 0; i < rgba.length; i++) rgba[i] = (i * 37) % 256;
    for (let p = 0; p < w * h; p++) rgba[p * 4 + 3] = 255;
    const t = rgbaToTensor(rgba, w, h);
    expect(t.length).toBe(3 * w * h);
    // channel planes: R of pixel 1 is at index 1, G of pixel 0 at index w*h
    expect(t[1]).toBeCloseTo((rgba[4] / 255) * 2 - 1, 6);
    expect(t[w * h]).toBeCloseTo((rgba[1] / 255) * 2 - 1, 6);
    expect(Math.min(...t)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...t)).toBeLessThanOrEqual(1);
    expect(Array.from(tensorToRgba(t, w, h))).toEqual(Array.from(rgba));
  });
  it('clamps out-of-range values and honours other ranges', () => {
    const t = new Float32Array([-3, 3, 0.5]);
    expect(Array.from(tensorToRgba(t, 1, 1))).toEqual([0, 255, 191, 255]);
    const u = rgbaToTensor([255, 0, 51, 255], 1, 1, [0, 1]);
    expect(u[0]).toBeCloseTo(1); expect(u[1]).toBeCloseTo(0); expect(u[2]).toBeCloseTo(0.2);
  });
  it('rejects wrong sizes', () => {
    expect(() => rgbaToTensor(new Uint8Array(5), 1, 1)).toThrow();
    expect(() => tensorToRgba(new Float32Array(2), 1, 1)).toThrow();
  });
});
