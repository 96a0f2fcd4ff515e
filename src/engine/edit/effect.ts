/**
 * What a Z walk does to rendered faces, as model/directions/ganspace.py measures it: random faces (one z on every
 * layer), the walk +2 slider units (2 * zScale * vector) on the given layers, mean |pixel change| in 0-255 levels
 * (images clamped to the pack's range as displayed). `whole`: every layer walked, the whole generator (Z+ / W+);
 * `fromF`: F kept from the face's own render and only the layers >= fBlock.firstWs walked (F spaces, F fixed).
 */
import type { Generator } from '../graphs/generator';
import { randn } from '../math/rng';
import { normaliseRows, sphereWalk } from '../math/sphere';

export const EFFECT_ALPHA = 2;
/** Mean |pixel change| (0-255) at +2 that counts as visible; below it a direction is not offered with F fixed. */
export const VISIBLE = 0.5;

export type Renderer = Pick<Generator, 'manifest' | 'zToW' | 'features' | 'synthesize'>;

/** Faces per measurement: fewer at large sizes, where each render costs seconds. */
export const facesFor = (resolution: number) => (resolution <= 128 ? 4 : resolution <= 256 ? 2 : 1);

interface Face {
  zplus: Float32Array;
  f: Float32Array;
  image: Float32Array;
  imageF: Float32Array;
}

function meanChange(a: Float32Array, b: Float32Array, lo: number, hi: number): number {
  const c = (x: number) => Math.min(hi, Math.max(lo, x));
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(c(a[i]) - c(b[i]));
  return ((s / a.length) * 255) / (hi - lo);
}

export class EffectMeter {
  private faces: Face[] | null = null;

  constructor(private readonly gen: Renderer) {}

  private async base(): Promise<Face[]> {
    if (this.faces) return this.faces;
    const m = this.gen.manifest;
    const faces: Face[] = [];
    for (let k = 0; k < facesFor(m.resolution); k++) {
      const z = normaliseRows(randn(m.zDim, 7000 + k), m.zDim);
      const zplus = new Float32Array(m.numWs * m.zDim);
      for (let i = 0; i < m.numWs; i++) zplus.set(z, i * m.zDim);
      const w = await this.gen.zToW(zplus);
      const f = (await this.gen.features(w)).slice();
      faces.push({ zplus, f, image: (await this.gen.synthesize(null, w)).slice(), imageF: (await this.gen.synthesize(f, w)).slice() });
    }
    return (this.faces = faces);
  }

  /** { whole, fromF } of walking `vector` by 2 * zScale. */
  async of(vector: ArrayLike<number>, zScale: number): Promise<{ whole: number; fromF: number }> {
    const m = this.gen.manifest;
    const [lo, hi] = m.imageRange;
    const all = Array.from({ length: m.numWs }, (_, i) => i);
    const fine = all.filter((i) => i >= m.fBlock.firstWs);
    let whole = 0;
    let fromF = 0;
    const faces = await this.base();
    for (const face of faces) {
      const walk = (layers: number[]) => sphereWalk(face.zplus, m.zDim, [{ vector, alpha: EFFECT_ALPHA * zScale, layers }]);
      whole += meanChange(await this.gen.synthesize(null, await this.gen.zToW(walk(all))), face.image, lo, hi) / faces.length;
      fromF += meanChange(await this.gen.synthesize(face.f, await this.gen.zToW(walk(fine))), face.imageF, lo, hi) / faces.length;
    }
    return { whole: Number(whole.toFixed(3)), fromF: Number(fromF.toFixed(3)) };
  }
}
