/**
 * Slider values -> walk directions (clamped to each direction's range, on its layers), and for W+ spaces, which have
 * no sphere to walk on, the W displacement that the same Z walk causes on average.
 */
import type { Generator } from '../graphs/generator';
import { randn } from '../math/rng';
import { normaliseRows, sphereWalk, type WalkDirection } from '../math/sphere';
import type { ModelPackManifest } from '../pack/manifest';
import { hasF, type Space } from '../inversion/spaces';

/** Slider values by direction id, in the direction's units. */
export type SliderValues = Record<string, number>;

/**
 * The non-zero sliders as walk directions. With F fixed, F spaces edit only the layers after fBlock.firstWs (F fixes
 * the rest); `firstLayer` overrides that (0 when F follows the edit).
 */
export function walkDirections(m: ModelPackManifest, alphas: SliderValues, space: Space, firstLayer?: number): WalkDirection[] {
  const first = firstLayer ?? (hasF(space) ? m.fBlock.firstWs : 0);
  const allLayers = Array.from({ length: m.numWs - first }, (_, i) => i + first);
  const out: WalkDirection[] = [];
  for (const d of m.directions) {
    const a = alphas[d.id] ?? 0;
    if (!a) continue;
    const lo = Math.min(d.range[0], d.range[1]);
    const hi = Math.max(d.range[0], d.range[1]);
    out.push({ vector: d.vector, alpha: Math.min(hi, Math.max(lo, a)), layers: d.layers ?? allLayers });
  }
  return out;
}

/** The mean W displacement of a Z sphere walk, measured at numWs fixed random z (sampled once per pack). */
export class WDelta {
  private base: { z: Float32Array; w: Float32Array } | null = null;

  constructor(private readonly gen: Generator) {}

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
