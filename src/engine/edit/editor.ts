/**
 * One edited frame: Z+ codes walk along the slider directions on the sphere (W+ codes get the equivalent W shift),
 * F stays fixed, then mapping -> truncation -> synthesis_from_f.
 */
import type { Generator } from '../graphs/generator';
import type { Constant } from '../graphs/runner';
import { sphereWalk } from '../math/sphere';
import { now } from '../schedule';
import { tensorToRgba } from '../../image/tensor';
import type { Inversion } from '../inversion/inversion';
import { isZ } from '../inversion/spaces';
import { walkDirections, WDelta, type SliderValues } from './directions';

export interface RenderResult {
  image: Uint8ClampedArray;
  ms: number;
}

export class Editor {
  private readonly wDelta: WDelta;
  /** Which inversion, at which step, the `f_edit` constant holds: F is fixed while editing, so it is uploaded once. */
  private fEditOf: { inv: Inversion; step: number } | null = null;

  constructor(
    private readonly gen: Generator,
    private readonly fEdit: Constant,
  ) {
    this.wDelta = new WDelta(gen);
  }

  async render(inv: Inversion, alphas: SliderValues): Promise<RenderResult> {
    const m = this.gen.manifest;
    const t0 = now();
    const dirs = walkDirections(m, alphas, inv.space);
    let wplus: Float32Array;
    if (isZ(inv.space)) {
      wplus = await this.gen.zToW(dirs.length ? sphereWalk(inv.code, m.zDim, dirs) : inv.code);
    } else {
      wplus = inv.code.slice();
      if (dirs.length) {
        const d = await this.wDelta.of(dirs);
        for (let i = 0; i < wplus.length; i++) wplus[i] += d[i];
      }
    }
    let f: Constant | null = null;
    if (inv.f) {
      if (this.fEditOf?.inv !== inv || this.fEditOf.step !== inv.step || !this.fEdit.isSet) {
        this.fEdit.set(inv.f.slice(), m.fBlock.shape);
        this.fEditOf = { inv, step: inv.step };
      }
      f = this.fEdit;
    }
    const img = await this.gen.synthesize(f, wplus);
    return { image: tensorToRgba(img, m.resolution, m.resolution, m.imageRange), ms: now() - t0 };
  }
}
