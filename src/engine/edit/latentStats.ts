/**
 * Second-order statistics of (Z, W) over many samples, from the pack's own mapping graph, as
 * model/directions/latent.py computes them: z ~ N(0, I) pixel-normalised (the engine's codes), w = mapping(z); means
 * and the covariances zz, ww, zw of centred data (ddof 1) in float64, summed in chunks shifted by the first chunk's
 * mean (memory: three d x d matrices whatever the sample count). GANSpace's PCA of W and the W -> Z fits of any W
 * direction come from one pass.
 */
import { EigenvalueDecomposition, Matrix, solve } from 'ml-matrix';
import { EngineError } from '../errors';
import { randn } from '../math/rng';
import { normaliseRows } from '../math/sphere';

/** The generator as the statistics need it: mapping of [numWs, zDim] rows (the graph's fixed batch). */
export interface Mapper {
  manifest: { zDim: number; wDim: number; numWs: number };
  mapping(z: Float32Array): Promise<Float32Array>;
}

export interface SampleOptions {
  samples: number;
  seed?: number;
  /** Called after each chunk with the share done (0-1). */
  onProgress?: (done: number) => void;
  /** Checked between chunks; true stops with a CancelledError. */
  cancelled?: () => boolean;
}

/** Lets the worker answer messages (a cancel) between chunks of work. */
export const yieldToEvents = () => new Promise<void>((r) => setTimeout(r, 0));

/** n unit-sphere z rows (pixel-normalised, radius sqrt(zDim)) and their w, in the graph's batches of numWs rows. */
export async function sampleMapped(gen: Mapper, n: number, seed: number): Promise<{ z: Float32Array; w: Float32Array }> {
  const { zDim, wDim, numWs } = gen.manifest;
  const batches = Math.ceil(n / numWs);
  const z = normaliseRows(randn(batches * numWs * zDim, seed), zDim);
  const w = new Float32Array(batches * numWs * wDim);
  for (let b = 0; b < batches; b++) w.set(await gen.mapping(z.subarray(b * numWs * zDim, (b + 1) * numWs * zDim)), b * numWs * wDim);
  return { z: z.subarray(0, n * zDim), w: w.subarray(0, n * wDim) };
}

export class LatentStats {
  private czzInv: Matrix | null = null;
  private A: Matrix | null = null;

  constructor(
    readonly n: number,
    readonly mz: Float64Array,
    readonly mw: Float64Array,
    /** Covariances as ml-matrix matrices: zz [zDim, zDim], ww [wDim, wDim], zw [zDim, wDim]. */
    readonly czz: Matrix,
    readonly cww: Matrix,
    readonly czw: Matrix,
    readonly seconds = 0,
  ) {}

  static async sample(gen: Mapper, opts: SampleOptions): Promise<LatentStats> {
    const t0 = Date.now();
    const { zDim, wDim, numWs } = gen.manifest;
    const acc = new Accumulator(zDim, wDim);
    const chunkRows = Math.max(numWs, Math.floor(4096 / numWs) * numWs);
    let done = 0;
    let seed = opts.seed ?? 0;
    while (done < opts.samples) {
      if (opts.cancelled?.()) throw new EngineError('CancelledError', 'cancelled');
      const m = Math.min(chunkRows, opts.samples - done);
      const { z, w } = await sampleMapped(gen, m, 1000 + seed++);
      acc.add(z, w, m);
      done += m;
      opts.onProgress?.(done / opts.samples);
      await yieldToEvents();
    }
    return acc.result((Date.now() - t0) / 1000);
  }

  /** Top-k principal axes of W: unit rows u_k, variances, total variance. Sign: each axis's largest entry is positive. */
  pca(k: number): { axes: Float64Array[]; variances: number[]; total: number } {
    const eig = new EigenvalueDecomposition(this.cww, { assumeSymmetric: true });
    const vals = eig.realEigenvalues;
    const vecs = eig.eigenvectorMatrix;
    const order = vals.map((_, i) => i).sort((a, b) => vals[b] - vals[a]).slice(0, k);
    const axes = order.map((c) => {
      const u = Float64Array.from(vecs.getColumn(c));
      let big = 0;
      for (let i = 1; i < u.length; i++) if (Math.abs(u[i]) > Math.abs(u[big])) big = i;
      if (u[big] < 0) for (let i = 0; i < u.length; i++) u[i] = -u[i];
      return u;
    });
    return { axes, variances: order.map((c) => vals[c]), total: vals.reduce((a, b) => a + b, 0) };
  }

  /** Spread (std) of the W coordinate (w - mean) . u. */
  sigma(u: ArrayLike<number>): number {
    const uu = Matrix.columnVector(Array.from(u));
    return Math.sqrt(Math.max(uu.transpose().mmul(this.cww).mmul(uu).get(0, 0), 0));
  }

  /** A [wDim, zDim] of the least-squares linear model w ~ A (z - mean z) + mean w. */
  linearMap(): Matrix {
    if (!this.A) this.A = solve(this.czz, this.czw).transpose();
    return this.A;
  }

  /**
   * Least squares of the W coordinate x = (w - mean) . u on z: x ~ b . (z - mean z). Returns b and R^2.
   * b / |b| is the Z direction along which x grows fastest on average (GANSpace's map back to Z).
   */
  regress(u: ArrayLike<number>): { b: Float64Array; r2: number } {
    if (!this.czzInv) this.czzInv = solve(this.czz, Matrix.eye(this.czz.rows));
    const uu = Matrix.columnVector(Array.from(u));
    const c = this.czw.mmul(uu);
    const b = this.czzInv.mmul(c);
    const v = uu.transpose().mmul(this.cww).mmul(uu).get(0, 0);
    const bc = b.transpose().mmul(c).get(0, 0);
    return { b: Float64Array.from(b.getColumn(0)), r2: v > 0 ? bc / v : 0 };
  }
}

/** Sums of centred products in float64, shifted by the first chunk's mean (no cancellation). */
class Accumulator {
  private n = 0;
  private shiftZ: Float64Array | null = null;
  private shiftW: Float64Array | null = null;
  private readonly sz: Float64Array;
  private readonly sw: Float64Array;
  private readonly szz: Float64Array;
  private readonly sww: Float64Array;
  private readonly szw: Float64Array;

  constructor(
    private readonly dz: number,
    private readonly dw: number,
  ) {
    this.sz = new Float64Array(dz);
    this.sw = new Float64Array(dw);
    this.szz = new Float64Array(dz * dz);
    this.sww = new Float64Array(dw * dw);
    this.szw = new Float64Array(dz * dw);
  }

  add(z: Float32Array, w: Float32Array, rows: number) {
    const { dz, dw } = this;
    if (!this.shiftZ) {
      this.shiftZ = new Float64Array(dz);
      this.shiftW = new Float64Array(dw);
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < dz; i++) this.shiftZ[i] += z[r * dz + i] / rows;
        for (let i = 0; i < dw; i++) this.shiftW![i] += w[r * dw + i] / rows;
      }
    }
    const a = new Float64Array(dz);
    const c = new Float64Array(dw);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < dz; i++) a[i] = z[r * dz + i] - this.shiftZ[i];
      for (let i = 0; i < dw; i++) c[i] = w[r * dw + i] - this.shiftW![i];
      for (let i = 0; i < dz; i++) {
        const ai = a[i];
        this.sz[i] += ai;
        const rz = i * dz;
        for (let j = i; j < dz; j++) this.szz[rz + j] += ai * a[j]; // upper triangle; mirrored in result()
        const rzw = i * dw;
        for (let j = 0; j < dw; j++) this.szw[rzw + j] += ai * c[j];
      }
      for (let i = 0; i < dw; i++) {
        const ci = c[i];
        this.sw[i] += ci;
        const rw = i * dw;
        for (let j = i; j < dw; j++) this.sww[rw + j] += ci * c[j];
      }
    }
    this.n += rows;
  }

  result(seconds: number): LatentStats {
    const { n, dz, dw } = this;
    if (n < 2) throw new EngineError('StateError', 'at least two samples are needed');
    const mz = this.sz.map((s) => s / n);
    const mw = this.sw.map((s) => s / n);
    const cov = (s: Float64Array, ma: Float64Array, mb: Float64Array, rows: number, cols: number, sym: boolean) => {
      const out = new Matrix(rows, cols);
      for (let i = 0; i < rows; i++) {
        for (let j = sym ? i : 0; j < cols; j++) {
          const v = (s[i * cols + j] - n * ma[i] * mb[j]) / (n - 1);
          out.set(i, j, v);
          if (sym) out.set(j, i, v);
        }
      }
      return out;
    };
    const czz = cov(this.szz, mz, mz, dz, dz, true);
    const cww = cov(this.sww, mw, mw, dw, dw, true);
    const czw = cov(this.szw, mz, mw, dz, dw, false);
    const shZ = this.shiftZ!;
    const shW = this.shiftW!;
    return new LatentStats(n, mz.map((v, i) => v + shZ[i]), mw.map((v, i) => v + shW[i]), czz, cww, czw, seconds);
  }
}
