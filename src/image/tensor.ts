/**
 * Image <-> tensor conversion (minimal version written by the app engineer; helper-4 owns src/image and may extend it).
 * RGBA8 (ImageData layout) <-> float32 NCHW RGB in a value range (normally [-1, 1]). No DOM needed.
 */
export type Range = [number, number];

/** RGBA8 pixels (width*height*4) -> Float32Array [1, 3, H, W] in `range`. Alpha is ignored. */
export function rgbaToTensor(rgba: ArrayLike<number>, width: number, height: number, range: Range = [-1, 1]): Float32Array {
  const n = width * height;
  if (rgba.length !== n * 4) throw new Error(`rgbaToTensor: expected ${n * 4} bytes, got ${rgba.length}`);
  const [lo, hi] = range;
  const scale = (hi - lo) / 255;
  const out = new Float32Array(3 * n);
  for (let p = 0; p < n; p++) {
    out[p] = rgba[p * 4] * scale + lo;
    out[n + p] = rgba[p * 4 + 1] * scale + lo;
    out[2 * n + p] = rgba[p * 4 + 2] * scale + lo;
  }
  return out;
}

/** Float32 [1, 3, H, W] in `range` -> RGBA8 (alpha 255), clamped and rounded. */
export function tensorToRgba(t: ArrayLike<number>, width: number, height: number, range: Range = [-1, 1]): Uint8ClampedArray {
  const n = width * height;
  if (t.length !== 3 * n) throw new Error(`tensorToRgba: expected ${3 * n} values, got ${t.length}`);
  const [lo, hi] = range;
  const scale = 255 / (hi - lo);
  const out = new Uint8ClampedArray(n * 4);
  for (let p = 0; p < n; p++) {
    out[p * 4] = Math.round((t[p] - lo) * scale);
    out[p * 4 + 1] = Math.round((t[n + p] - lo) * scale);
    out[p * 4 + 2] = Math.round((t[2 * n + p] - lo) * scale);
    out[p * 4 + 3] = 255;
  }
  return out;
}
