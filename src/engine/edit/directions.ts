/**
 * Slider values -> the edit they make (docs/DIRECTIONS.md, "Spaces"):
 *   Z+ spaces   every direction is a sphere walk of its `vector` (for W directions: their fitted Z conversion) by
 *               alpha * zScale on its layers (a direction with `parts`: each part's vector on that part's layers);
 *   W+ spaces   a W direction (`space: w` with `wVector`) is exact and linear: w_i += alpha * wSigma * wVector on
 *               its layers; a Z direction becomes the mean W displacement of its Z walk (WDelta).
 * With F fixed, F spaces edit only the layers from fBlock.firstWs on, and directions marked `offerInF: false` (no
 * visible effect there) are left out.
 */
import type { Generator } from '../graphs/generator';
import { randn } from '../math/rng';
import { normaliseRows, sphereWalk, type WalkDirection } from '../math/sphere';
import type { ModelPackManifest } from '../pack/manifest';
import { hasF, isZ, type Space } from '../inversion/spaces';

/** Slider values by direction id, in the direction's units. */
export type SliderValues = Record<string, number>;

type Direction = ModelPackManifest['directions'][number];

/** A W direction applied linearly to W+ codes: w_i += shift * vector for i in layers. */
export interface WShift {
  /** Unit direction in W, length wDim. */
  vector: ArrayLike<number>;
  /** alpha * wSigma. */
  shift: number;
  layers: number[];
}

/** What the non-zero sliders do to a code of one space. */
export interface EditPlan {
  /** Z walks (W+ spaces: converted to a W displacement by WDelta). */
  walks: WalkDirection[];
  /** Exact W shifts (W+ spaces only). */
  shifts: WShift[];
}

/** Whether the editor offers direction `d` in `space`; `fFollows`: F follows the edit (every layer walks). */
export function offered(d: Pick<Direction, 'offerInF'>, space: Space, fFollows = false): boolean {
  return !(hasF(space) && !fFollows && d.offerInF === false);
}

/** Whether `d` acts in W+ spaces as an exact W shift. */
const isWLinear = (d: Direction) => d.space === 'w' && !!d.wVector && !!d.wSigma;

/**
 * The edit of the non-zero sliders in `space`. With F fixed, F spaces edit only the layers after fBlock.firstWs;
 * `firstLayer` overrides that (0 when F follows the edit, which also brings back the `offerInF: false` directions).
 */
export function editPlan(m: ModelPackManifest, alphas: SliderValues, space: Space, firstLayer?: number): EditPlan {
  const fFixed = hasF(space) && firstLayer === undefined;
  const first = firstLayer ?? (hasF(space) ? m.fBlock.firstWs : 0);
  const allLayers = Array.from({ length: m.numWs - first }, (_, i) => i + first);
  const plan: EditPlan = { walks: [], shifts: [] };
  for (const d of m.directions) {
    const a = alphas[d.id] ?? 0;
    if (!a || !offered(d, space, !fFixed)) continue;
    const lo = Math.min(d.range[0], d.range[1]);
    const hi = Math.max(d.range[0], d.range[1]);
    const alpha = Math.min(hi, Math.max(lo, a));
    if (d.parts) {
      // one walk per layer group, each along its own vector (schema `direction.parts`)
      for (const p of d.parts) {
        const layers = p.layers.filter((i) => i >= first);
        if (layers.length) plan.walks.push({ vector: p.vector, alpha: alpha * (d.zScale ?? 1), layers });
      }
      continue;
    }
    const layers = (d.layers ?? allLayers).filter((i) => i >= first);
    if (!layers.length) continue;
    if (!isZ(space) && isWLinear(d)) plan.shifts.push({ vector: d.wVector!, shift: alpha * d.wSigma!, layers });
    else plan.walks.push({ vector: d.vector, alpha: alpha * (d.zScale ?? 1), layers });
  }
  return plan;
}

/** The Z walks of the non-zero sliders (Z+ spaces; see editPlan). */
export function walkDirections(m: ModelPackManifest, alphas: SliderValues, space: Space, firstLayer?: number): WalkDirection[] {
  return editPlan(m, alphas, space, firstLayer).walks;
}

/** Adds each exact W shift to the W+ code `wplus` ([numWs, wDim]) in place. */
export function applyShifts(wplus: Float32Array, wDim: number, shifts: WShift[]): Float32Array {
  for (const s of shifts) {
    if (s.vector.length !== wDim) throw new Error(`W direction length ${s.vector.length} != wDim ${wDim}`);
    for (const i of s.layers) for (let j = 0; j < wDim; j++) wplus[i * wDim + j] += s.shift * s.vector[j];
  }
  return wplus;
}

/** The mean W displacement of a Z sphere walk, measured at numWs fixed random z (sampled once per pack). */
export class WDelta {
  private base: { z: Float32Array; w: Float32Array } | null = null;

  constructor(private readonly gen: Pick<Generator, 'manifest' | 'mapping'>) {}

  async of(dirs: WalkDirection[]): Promise<Float32Array> {
    const m = this.gen.manifest;
    if (!this.base) {
      const z = normaliseRows(randn(m.numWs * m.zDim, 4242), m.zDim);
      this.base = { z, w: (await this.gen.mapping(z)).slice() };
    }
    const { z, w } = this.base;
    const delta = new Float32Array(m.numWs * m.wDim);
    // group layers by the set of directions touching them
    const groups = new Map<string, number[]>();
    for (let i = 0; i < m.numWs; i++) {
      const key = dirs.map((d, k) => (d.layers.includes(i) ? k : '')).join(',');
      if (!/\d/.test(key)) continue;
      groups.set(key, [...(groups.get(key) ?? []), i]);
    }
    const all = Array.from({ length: m.numWs }, (_, i) => i);
    for (const layers of groups.values()) {
      const active = dirs.filter((d) => d.layers.includes(layers[0])).map((d) => ({ ...d, layers: all }));
      const walked = sphereWalk(z, m.zDim, active);
      const w2 = await this.gen.mapping(walked);
      const mean = new Float32Array(m.wDim);
      for (let r = 0; r < m.numWs; r++) for (let j = 0; j < m.wDim; j++) mean[j] += (w2[r * m.wDim + j] - w[r * m.wDim + j]) / m.numWs;
      for (const i of layers) {
        const psi = i < m.truncation.layers ? m.truncation.psi : 1;
        for (let j = 0; j < m.wDim; j++) delta[i * m.wDim + j] = psi * mean[j];
      }
    }
    return delta;
  }
}
