/**
 * Z+ codes live on the sphere of radius sqrt(zDim) (pixel-norm: z * rsqrt(mean z^2)).
 * Arrays are row-major [numWs, zDim] flattened.
 */

/** Pixel-norm one vector (or a row of a matrix) in place: z * rsqrt(mean z^2 + eps). */
export function pixelNormInPlace(z: Float32Array, offset = 0, length = z.length - offset, eps = 1e-8): void {
  let s = 0;
  for (let i = 0; i < length; i++) s += z[offset + i] * z[offset + i];
  const r = 1 / Math.sqrt(s / length + eps);
  for (let i = 0; i < length; i++) z[offset + i] *= r;
}

/** Re-normalise every row z_i of a [rows, dim] matrix onto the sphere of radius sqrt(dim). */
export function normaliseRows(z: Float32Array, dim: number): Float32Array {
  if (z.length % dim !== 0) throw new Error(`normaliseRows: length ${z.length} not a multiple of ${dim}`);
  for (let off = 0; off < z.length; off += dim) pixelNormInPlace(z, off, dim);
  return z;
}

export function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

export interface WalkDirection {
  /** Unit direction in Z, length zDim. */
  vector: ArrayLike<number>;
  /** Slider value (alpha), in the direction's units. */
  alpha: number;
  /** W+ layers it applies to. */
  layers: number[];
}

export const WALK_STEP = 0.1;
/**
 * Most steps of one layer's walk. Past |v| = WALK_STEP * MAX_WALK_STEPS the step grows instead of the count, so a
 * huge direction or slider value costs the same as a large one (numWs * zDim * MAX_WALK_STEPS work at most).
 */
export const MAX_WALK_STEPS = 512;

/** Steps of a walk of length `length`: ceil(length / WALK_STEP), at most MAX_WALK_STEPS. */
export function walkSteps(length: number): number {
  if (!Number.isFinite(length)) throw new RangeError(`sphere walk: the combined direction has length ${length}`);
  return Math.min(MAX_WALK_STEPS, Math.ceil(length / WALK_STEP));
}

/**
 * Sphere walk, as docs/CONTRACTS.md: for each layer i, v_i = sum_k alpha_k d_k over the directions that touch layer i;
 * n = min(ceil(|v_i| / 0.1), MAX_WALK_STEPS); n times z_i <- normalise(z_i + v_i / n). Returns a new array (input
 * untouched). A direction that is not finite (an overflowing alpha * d) throws a RangeError instead of walking.
 */
export function sphereWalk(zplus: Float32Array, zDim: number, directions: WalkDirection[]): Float32Array {
  const out = zplus.slice();
  const numWs = zplus.length / zDim;
  const v = new Float64Array(zDim);
  for (let i = 0; i < numWs; i++) {
    v.fill(0);
    let any = false;
    for (const d of directions) {
      if (d.alpha === 0 || !d.layers.includes(i)) continue;
      if (d.vector.length !== zDim) throw new Error(`direction length ${d.vector.length} != zDim ${zDim}`);
      any = true;
      for (let j = 0; j < zDim; j++) v[j] += d.alpha * d.vector[j];
    }
    if (!any) continue;
    const n = walkSteps(scaledNorm(v));
    if (n === 0) continue;
    // float64 while walking: a step far longer than the radius must not overflow the squares
    const off = i * zDim;
    const cur = Float64Array.from(out.subarray(off, off + zDim));
    for (let s = 0; s < n; s++) {
      for (let j = 0; j < zDim; j++) cur[j] += v[j] / n;
      const r = Math.sqrt(zDim) / scaledNorm(cur);
      for (let j = 0; j < zDim; j++) cur[j] *= r;
    }
    out.set(cur, off);
  }
  return out;
}

/** Euclidean norm computed over max|x| so that it neither overflows nor underflows; Infinity/NaN when x has one. */
function scaledNorm(x: Float64Array): number {
  let m = 0;
  for (let j = 0; j < x.length; j++) m = Math.max(m, Math.abs(x[j]));
  if (!Number.isFinite(m)) return m;
  if (m === 0) return 0;
  let s = 0;
  for (let j = 0; j < x.length; j++) s += (x[j] / m) ** 2;
  return m * Math.sqrt(s);
}

/** Spherical linear interpolation between a and b (any radius; the radius is interpolated linearly). */
export function slerp(a: ArrayLike<number>, b: ArrayLike<number>, t: number): Float32Array {
  const n = a.length;
  const out = new Float32Array(n);
  const na = norm(a);
  const nb = norm(b);
  if (na === 0 || nb === 0) {
    for (let i = 0; i < n; i++) out[i] = (1 - t) * a[i] + t * b[i];
    return out;
  }
  let dot = 0;
  for (let i = 0; i < n; i++) dot += (a[i] / na) * (b[i] / nb);
  dot = Math.min(1, Math.max(-1, dot));
  const omega = Math.acos(dot);
  const r = (1 - t) * na + t * nb;
  if (omega < 1e-6) {
    for (let i = 0; i < n; i++) out[i] = (1 - t) * a[i] + t * b[i];
    return out;
  }
  const so = Math.sin(omega);
  const ca = Math.sin((1 - t) * omega) / so;
  const cb = Math.sin(t * omega) / so;
  for (let i = 0; i < n; i++) out[i] = r * (ca * (a[i] / na) + cb * (b[i] / nb));
  return out;
}
