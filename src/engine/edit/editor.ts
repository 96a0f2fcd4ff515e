/**
 * One edited frame: Z+ codes walk along the slider directions on the sphere; W+ codes get W directions' exact shifts
 * and, for Z directions, the equivalent W displacement (edit/directions.ts),
 * then mapping -> truncation -> synthesis_from_f. In the F spaces F is handled by the edit mode:
 *   fixed   F stays as inverted and only the layers after the F block are walked (the paper's edit);
 *   follow  every layer is walked and F moves with the edit: F_edit = F_gen(W+_edit) + (F_inv - F_gen(W+_inv)),
 *           the inverted F's residual over what the generator itself produces (FS-Encoder's edit, no training).
 */
import type { Generator } from '../graphs/generator';
import type { Constant } from '../graphs/runner';
import { sphereWalk } from '../math/sphere';
import { now } from '../schedule';
import { tensorToRgba } from '../../image/tensor';
import type { Inversion } from '../inversion/inversion';
import type { ModelPackManifest } from '../pack/manifest';
import { hasF, isZ } from '../inversion/spaces';
import { applyShifts, editPlan, WDelta, type SliderValues } from './directions';

export type FEditMode = 'fixed' | 'follow';

export interface RenderResult {
  image: Uint8ClampedArray;
  ms: number;
}

/** The pack's default edit mode: its manifest's measured choice, else the paper's (F fixed). */
export function defaultEditMode(m: Pick<ModelPackManifest, 'editing' | 'graphs'>): FEditMode {
  return m.editing?.fMode === 'follow' && m.graphs.features ? 'follow' : 'fixed';
}

export class Editor {
  private readonly wDelta: WDelta;
  /** Which inversion, at which step, the `f_edit` constant holds: in fixed mode F is uploaded once. */
  private fEditOf: { inv: Inversion; step: number } | null = null;
  /** F_inv - F_gen(W+_inv) of the current inversion (follow mode). */
  private residualOf: { inv: Inversion; step: number; r: Float32Array } | null = null;

  constructor(
    private readonly gen: Generator,
    private readonly fEdit: Constant,
    public mode: FEditMode = 'fixed',
  ) {
    this.wDelta = new WDelta(gen);
  }

  /** Whether frames of this inversion move F (follow mode needs the pack's `features` graph). */
  follows(inv: Inversion): boolean {
    return this.mode === 'follow' && !!inv.f && hasF(inv.space) && !!this.gen.manifest.graphs.features;
  }

  /** F_inv - F_gen(W+_inv) of the current inversion (follow mode), computed once per inversion step. */
  private async residual(inv: Inversion): Promise<Float32Array> {
    const c = this.residualOf;
    if (c && c.inv === inv && c.step === inv.step) return c.r;
    const fInv = inv.f!;
    const fGen = await this.gen.features(isZ(inv.space) ? await this.gen.zToW(inv.code) : inv.code);
    const r = new Float32Array(fInv.length);
    for (let i = 0; i < r.length; i++) r[i] = fInv[i] - fGen[i];
    this.residualOf = { inv, step: inv.step, r };
    return r;
  }

  async render(inv: Inversion, alphas: SliderValues): Promise<RenderResult> {
    const m = this.gen.manifest;
    const t0 = now();
    const follow = this.follows(inv);
    const plan = editPlan(m, alphas, inv.space, follow ? 0 : undefined);
    const edited = plan.walks.length + plan.shifts.length > 0;
    let wplus: Float32Array;
    if (isZ(inv.space)) {
      wplus = await this.gen.zToW(plan.walks.length ? sphereWalk(inv.code, m.zDim, plan.walks) : inv.code);
    } else {
      wplus = inv.code.slice();
      if (plan.walks.length) {
        const d = await this.wDelta.of(plan.walks);
        for (let i = 0; i < wplus.length; i++) wplus[i] += d[i];
      }
      applyShifts(wplus, m.wDim, plan.shifts);
    }
    let f: Constant | Float32Array | null = null;
    if (inv.f && follow && edited) {
      const r = await this.residual(inv);
      const fEdit = await this.gen.features(wplus);
      const moved = new Float32Array(r.length);
      for (let i = 0; i < r.length; i++) moved[i] = fEdit[i] + r[i];
      f = moved;
    } else if (inv.f) {
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
