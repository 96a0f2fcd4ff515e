/**
 * Teach a slider from the user's own photos: inverted Z+ codes marked "with" or "without" something (two photos
 * give an A -> B slider). The direction is fitted per layer as the difference of the class means of the z's, taken
 * in the tangent space of the sphere at their midpoint, and the layers' tangent differences are summed into one
 * unit Z direction (one slider walks every layer along it). Its zScale makes +1 on the slider walk half the mean
 * gap between the classes along that direction, so 0 -> +2 goes about from "without" to "with".
 */
import { EngineError } from '../errors';
import type { ModelPackManifest } from '../pack/manifest';

type Entry = ModelPackManifest['directions'][number];
export type ExampleClass = 'with' | 'without';

export interface TeachCounts {
  with: number;
  without: number;
}

/** Per-layer means of unit rows: [numWs, zDim]. */
function layerMeans(codes: Float32Array[], numWs: number, zDim: number): Float64Array {
  const m = new Float64Array(numWs * zDim);
  for (const c of codes) for (let i = 0; i < m.length; i++) m[i] += c[i] / codes.length;
  return m;
}

/** The unit Z direction from "without" to "with" (tangent differences of per-layer class means, summed) and the mean gap along it. */
export function fitTaughtDirection(withCodes: Float32Array[], withoutCodes: Float32Array[], numWs: number, zDim: number): { vector: number[]; gap: number } {
  const a = layerMeans(withCodes, numWs, zDim);
  const b = layerMeans(withoutCodes, numWs, zDim);
  const sum = new Float64Array(zDim);
  for (let i = 0; i < numWs; i++) {
    const off = i * zDim;
    const d = new Float64Array(zDim);
    const p = new Float64Array(zDim);
    for (let j = 0; j < zDim; j++) {
      d[j] = a[off + j] - b[off + j];
      p[j] = a[off + j] + b[off + j];
    }
    const pn = Math.hypot(...p);
    if (pn > 0) {
      let dp = 0;
      for (let j = 0; j < zDim; j++) dp += (d[j] * p[j]) / pn;
      for (let j = 0; j < zDim; j++) d[j] -= (dp * p[j]) / pn; // tangent part at the midpoint
    }
    for (let j = 0; j < zDim; j++) sum[j] += d[j];
  }
  const n = Math.hypot(...sum);
  if (!(n > 1e-9)) throw new EngineError('StateError', 'the "with" and "without" photos have the same codes: nothing to learn');
  const u = Array.from(sum, (x) => x / n);
  let gap = 0;
  for (let i = 0; i < numWs; i++) for (let j = 0; j < zDim; j++) gap += ((a[i * zDim + j] - b[i * zDim + j]) * u[j]) / numWs;
  return { vector: u, gap };
}

/** The examples marked on the loaded pack (kept until the pack changes or they are cleared). */
export class Teacher {
  private readonly examples: Record<ExampleClass, Float32Array[]> = { with: [], without: [] };

  constructor(private readonly m: Pick<ModelPackManifest, 'numWs' | 'zDim'>) {}

  get counts(): TeachCounts {
    return { with: this.examples.with.length, without: this.examples.without.length };
  }

  add(cls: ExampleClass, zplus: Float32Array): TeachCounts {
    if (zplus.length !== this.m.numWs * this.m.zDim) throw new EngineError('StateError', 'examples must be Z+ codes of this pack');
    this.examples[cls].push(zplus.slice());
    return this.counts;
  }

  clear(): TeachCounts {
    this.examples.with = [];
    this.examples.without = [];
    return this.counts;
  }

  /** A manifest entry named `label` from the marked examples (at least one of each). */
  direction(id: string, label: string): Entry {
    const { with: w, without: wo } = this.examples;
    if (!w.length || !wo.length) throw new EngineError('StateError', 'mark at least one photo "with" and one "without" first');
    const { vector, gap } = fitTaughtDirection(w, wo, this.m.numWs, this.m.zDim);
    return {
      id,
      label,
      kind: 'custom',
      space: 'z',
      vector,
      range: [-3, 3],
      zScale: Number(Math.min(4, Math.max(0.25, gap / 2)).toFixed(4)),
      source: `taught in the browser from ${w.length} photo${w.length > 1 ? 's' : ''} with and ${wo.length} without`,
    };
  }
}
