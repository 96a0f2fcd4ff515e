/**
 * PSNR in dB between two images in the same value range [lo, hi] (peak = hi - lo).
 * Values are clamped to the range first, as a displayed image would be.
 */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>, range: [number, number] = [-1, 1]): number {
  if (a.length !== b.length) throw new Error(`psnr: length mismatch ${a.length} vs ${b.length}`);
  const [lo, hi] = range;
  let se = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Math.min(hi, Math.max(lo, a[i]));
    const y = Math.min(hi, Math.max(lo, b[i]));
    se += (x - y) * (x - y);
  }
  const mse = se / a.length;
  if (mse === 0) return Infinity;
  const peak = hi - lo;
  return 10 * Math.log10((peak * peak) / mse);
}

/** PSNR of 8-bit RGBA buffers over RGB channels only. */
export function psnrRgba8(a: Uint8ClampedArray | Uint8Array, b: Uint8ClampedArray | Uint8Array): number {
  if (a.length !== b.length) throw new Error('psnrRgba8: size mismatch');
  let se = 0;
  let n = 0;
  for (let i = 0; i < a.length; i += 4) {
    for (let c = 0; c < 3; c++) {
      const d = a[i + c] - b[i + c];
      se += d * d;
      n++;
    }
  }
  const mse = se / n;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

/** PSNR (dB) from a mean squared error in the value range [lo, hi]; an MSE of 0 counts as 1e-12. */
export function psnrFromMse(mse: number, range: [number, number] = [-1, 1]): number {
  const peak = range[1] - range[0];
  return 10 * Math.log10((peak * peak) / Math.max(mse, 1e-12));
}
