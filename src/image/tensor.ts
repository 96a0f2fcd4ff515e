/**
 * Image <-> tensor conversion and resizing.
 * RGBA8 (ImageData layout) <-> float32 NCHW RGB in a value range (normally [-1, 1]). No DOM needed.
 */
import type { RGBAImage } from './types';

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

// ---------------------------------------------------------------------------------------------
// Resizing. Area-averaging when shrinking (every source pixel contributes by its overlap,
// so no aliasing), bilinear when enlarging. Separable, on float planes; no DOM.


/** 1-D resampling weights: for each output index, [first source index, weights...]. */
function axisWeights(src: number, dst: number): { start: Int32Array; count: Int32Array; w: Float32Array; stride: number } {
  const scale = src / dst;
  if (scale >= 1) {
    // Area average: output i covers source interval [i*scale, (i+1)*scale).
    const stride = Math.ceil(scale) + 1;
    const start = new Int32Array(dst), count = new Int32Array(dst), w = new Float32Array(dst * stride);
    for (let i = 0; i < dst; i++) {
      const a = i * scale, b = (i + 1) * scale;
      const s0 = Math.floor(a), s1 = Math.min(src, Math.ceil(b - 1e-9));
      start[i] = s0;
      count[i] = s1 - s0;
      for (let s = s0; s < s1; s++) w[i * stride + (s - s0)] = (Math.min(b, s + 1) - Math.max(a, s)) / scale;
    }
    return { start, count, w, stride };
  }
  // Bilinear (pixel centres aligned: out centre (i+0.5)*scale - 0.5 in source), clamped at the edges.
  const stride = 2;
  const start = new Int32Array(dst), count = new Int32Array(dst), w = new Float32Array(dst * stride);
  for (let i = 0; i < dst; i++) {
    const x = Math.min(src - 1, Math.max(0, (i + 0.5) * scale - 0.5));
    const x0 = Math.min(src - 2, Math.floor(x));
    if (src === 1) {
      start[i] = 0; count[i] = 1; w[i * 2] = 1;
      continue;
    }
    const f = x - x0;
    start[i] = x0; count[i] = 2; w[i * 2] = 1 - f; w[i * 2 + 1] = f;
  }
  return { start, count, w, stride };
}

/**
 * Resize interleaved float pixels (`channels` per pixel) from sw x sh to dw x dh.
 * Area-averaging on each axis that shrinks, bilinear on each axis that grows.
 */
export function resizePlanes(src: ArrayLike<number>, sw: number, sh: number, channels: number, dw: number, dh: number): Float32Array {
  if (sw === dw && sh === dh) return Float32Array.from(src as ArrayLike<number>);
  const hx = axisWeights(sw, dw);
  const tmp = new Float32Array(dw * sh * channels);
  for (let y = 0; y < sh; y++) {
    const row = y * sw * channels, orow = y * dw * channels;
    for (let x = 0; x < dw; x++) {
      const s0 = hx.start[x], n = hx.count[x], wo = x * hx.stride;
      for (let c = 0; c < channels; c++) {
        let acc = 0;
        for (let k = 0; k < n; k++) acc += src[row + (s0 + k) * channels + c] * hx.w[wo + k];
        tmp[orow + x * channels + c] = acc;
      }
    }
  }
  const vy = axisWeights(sh, dh);
  const out = new Float32Array(dw * dh * channels);
  const rowLen = dw * channels;
  for (let y = 0; y < dh; y++) {
    const s0 = vy.start[y], n = vy.count[y], wo = y * vy.stride, orow = y * rowLen;
    for (let k = 0; k < n; k++) {
      const wk = vy.w[wo + k], srow = (s0 + k) * rowLen;
      for (let i = 0; i < rowLen; i++) out[orow + i] += tmp[srow + i] * wk;
    }
  }
  return out;
}

/** Resize an RGBA8 image (area-averaging when shrinking). */
export function resizeRGBA(img: RGBAImage, width: number, height: number): RGBAImage {
  if (img.width === width && img.height === height) return { width, height, data: new Uint8ClampedArray(img.data) };
  const f = resizePlanes(img.data, img.width, img.height, 4, width, height);
  const data = new Uint8ClampedArray(f.length);
  for (let i = 0; i < f.length; i++) data[i] = Math.round(f[i]);
  return { width, height, data };
}

/** The largest centred square of an image (what "use the whole image as it is" feeds a square model). */
export function centerSquare(img: RGBAImage): RGBAImage {
  const s = Math.min(img.width, img.height);
  const x0 = Math.floor((img.width - s) / 2), y0 = Math.floor((img.height - s) / 2);
  const data = new Uint8ClampedArray(s * s * 4);
  for (let y = 0; y < s; y++) data.set(img.data.subarray(((y0 + y) * img.width + x0) * 4, ((y0 + y) * img.width + x0 + s) * 4), y * s * 4);
  return { width: s, height: s, data };
}

/**
 * RGBA image -> NCHW float32 [1, 3, height, width] in `range`, resized (area-averaged) to the model's
 * resolution. The resize happens on the 8-bit values in float, before quantisation, so no precision is lost.
 */
export function imageToTensor(img: RGBAImage, width: number, height = width, range: Range = [-1, 1]): Float32Array {
  const src = img.width === width && img.height === height ? img.data : resizePlanes(img.data, img.width, img.height, 4, width, height);
  return rgbaToTensor(src, width, height, range);
}

/** NCHW float32 [1, 3, H, W] in `range` -> RGBA image (alpha 255), clamped and rounded. */
export function tensorToImage(t: ArrayLike<number>, width: number, height = width, range: Range = [-1, 1]): RGBAImage {
  return { width, height, data: tensorToRgba(t, width, height, range) };
}
