/**
 * W directions in the Z+ spaces: the fitted W -> Z conversion and its measurement, as model/directions/convert.py.
 * Candidates for a unit W direction u:
 *   regression  b from the least squares of the W coordinate (w - mean) . u on z (GANSpace's map back to Z);
 *   inverse     (A^T A + r s^2 I)^-1 A^T u, A the least-squares linear map w ~ A z, s its largest singular value,
 *               r in RIDGES.
 * Each is walked as the engine walks (+2 z-sigma on the sphere, 512 fresh z, mapping) and the one whose mean W
 * displacement is most parallel to u is kept; its gain (W-sigma moved per z-sigma walked, zScale = 1 / gain) and
 * cosine are re-measured on other z. A direction whose coordinate barely depends on z (R^2 < MIN_R2) or whose best
 * walk does not move along it (cosine < MIN_COSINE) cannot be followed in the Z+ spaces and is refused.
 */
import { Matrix, SingularValueDecomposition, solve } from 'ml-matrix';
import { EngineError } from '../errors';
import { randn } from '../math/rng';
import { normaliseRows, sphereWalk } from '../math/sphere';
import type { ModelPackManifest } from '../pack/manifest';
import { yieldToEvents, type LatentStats, type Mapper } from './latentStats';

export const MIN_R2 = 0.05;
export const MIN_COSINE = 0.3;
export const RIDGES = [1e-3, 1e-2, 1e-1];
const WALK_ALPHA = 2;
const WALK_SAMPLES = 512;

type Entry = ModelPackManifest['directions'][number];
export type Conversion = Pick<Entry, 'vector' | 'zScale' | 'wVector' | 'wSigma' | 'conversion'>;

export function unit(v: ArrayLike<number>): Float64Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const n = Math.sqrt(s);
  return Float64Array.from(v, (x) => x / n);
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** (gain, cosine) of walking Z along d by +alpha, as measured in W along u, on `n` z from `seed`. */
export async function measureZWalk(gen: Mapper, d: ArrayLike<number>, u: ArrayLike<number>, wSigma: number, seed: number, n = WALK_SAMPLES, alpha = WALK_ALPHA): Promise<{ gain: number; cosine: number }> {
  const { zDim, wDim, numWs } = gen.manifest;
  const batches = Math.ceil(n / numWs);
  const rows = batches * numWs;
  const z = normaliseRows(randn(rows * zDim, 5000 + seed), zDim);
  const layers = Array.from({ length: rows }, (_, i) => i);
  const zw = sphereWalk(z, zDim, [{ vector: d, alpha, layers }]);
  const dw = new Float64Array(wDim);
  for (let b = 0; b < batches; b++) {
    const sl = (a: Float32Array) => a.subarray(b * numWs * zDim, (b + 1) * numWs * zDim);
    const w0 = await gen.mapping(sl(z));
    const w1 = await gen.mapping(sl(zw));
    for (let r = 0; r < numWs; r++) for (let j = 0; j < wDim; j++) dw[j] += (w1[r * wDim + j] - w0[r * wDim + j]) / rows;
  }
  const along = dot(dw, u);
  const len = Math.sqrt(dot(dw, dw));
  return { gain: wSigma > 0 ? along / (alpha * wSigma) : 0, cosine: along / Math.max(len, 1e-30) };
}

/** The candidate Z directions for unit W direction u (unit vectors, finite). */
export function candidates(stats: LatentStats, u: Float64Array): { method: 'regression' | 'inverse'; ridge?: number; d: Float64Array }[] {
  const out: { method: 'regression' | 'inverse'; ridge?: number; d: Float64Array }[] = [{ method: 'regression', d: stats.regress(u).b }];
  const A = stats.linearMap();
  const sMax = new SingularValueDecomposition(A, { computeLeftSingularVectors: false, computeRightSingularVectors: false }).norm2;
  const At = A.transpose();
  const AtA = At.mmul(A);
  const Atu = At.mmul(Matrix.columnVector(Array.from(u)));
  for (const r of RIDGES) {
    const M = AtA.clone().add(Matrix.eye(AtA.rows).mul(r * sMax * sMax));
    out.push({ method: 'inverse', ridge: r, d: Float64Array.from(solve(M, Atu).getColumn(0)) });
  }
  return out.filter((c) => c.d.every(Number.isFinite) && dot(c.d, c.d) > 0).map((c) => ({ ...c, d: unit(c.d) }));
}

/** The manifest fields of W direction u (any length): vector (Z), zScale, wVector, wSigma, conversion. */
export async function wToZ(gen: Mapper, stats: LatentStats, direction: ArrayLike<number>, wSigma: number | undefined, what: string): Promise<Conversion> {
  const u = unit(direction);
  const { r2 } = stats.regress(u);
  const sigma = wSigma && wSigma > 0 ? wSigma : stats.sigma(u);
  const refuse = (why: string) =>
    new EngineError('DirectionFileError', `${what}: a W direction the Z+ spaces cannot follow (${why}; the app edits Z+ codes by sphere walks in Z)`);
  if (!(r2 >= MIN_R2) || !(sigma > 0)) throw refuse(`only R² = ${r2.toFixed(3)} of its W coordinate is predictable from z, at least ${MIN_R2} is needed`);
  let best: { cosine: number; c: ReturnType<typeof candidates>[number] } | null = null;
  for (const c of candidates(stats, u)) {
    const { cosine } = await measureZWalk(gen, c.d, u, sigma, 1);
    if (!best || cosine > best.cosine) best = { cosine, c };
    await yieldToEvents();
  }
  if (!best) throw refuse('no Z fit is finite');
  const { gain, cosine } = await measureZWalk(gen, best.c.d, u, sigma, 2); // fresh z for the reported numbers
  if (cosine < MIN_COSINE || !(gain > 0)) throw refuse(`its best Z walk moves W at cos ${cosine.toFixed(2)} to it, at least ${MIN_COSINE} is needed`);
  const round = (x: number, k: number) => Number(x.toFixed(k));
  return {
    vector: Array.from(best.c.d, (x) => round(x, 7)),
    zScale: round(1 / gain, 4),
    wVector: Array.from(u, (x) => round(x, 7)),
    wSigma: round(sigma, 6),
    conversion: {
      method: best.c.method,
      ...(best.c.ridge !== undefined ? { ridge: best.c.ridge } : {}),
      r2: round(r2, 4),
      gain: round(gain, 4),
      cosine: round(cosine, 4),
      samples: stats.n,
    },
  };
}
