/**
 * One inversion: the codes being optimised (F and Z+ / W+), their Adam states and the step count, for the target it
 * was started on. `SavedCodes` is the same as plain data (a saved session), checked against the pack on the way in.
 */
import { EngineError } from '../errors';
import { adamInit, cloneAdamState, type AdamState } from '../math/adam';
import type { ModelPackManifest } from '../pack/manifest';
import { hasF, isZ, SPACES, type Space } from './spaces';

/** The inversion state as data (codes F/Z+ etc. plus the optimizer state, so a restored session can resume). */
export interface SavedCodes {
  space: Space;
  step: number;
  f: Float32Array | null;
  fInit: Float32Array | null;
  code: Float32Array;
  adamF: AdamState | null;
  adamCode: AdamState;
}

export class Inversion {
  private constructor(
    readonly space: Space,
    /** F at fBlock ([1, C, H, W] flattened), null in W+ and Z+. Updated in place by the optimizer. */
    readonly f: Float32Array | null,
    /** F at the start, the anchor of the F regulariser. */
    readonly fInit: Float32Array | null,
    /** Z+ or W+, [numWs * dim]. Updated in place by the optimizer. */
    readonly code: Float32Array,
    readonly adamF: AdamState | null,
    readonly adamCode: AdamState,
    public step: number,
    /** Which target (Target.version) the codes were optimised for. */
    readonly targetVersion: number,
  ) {}

  /** A fresh inversion from start codes (F_init = F). */
  static start(space: Space, f: Float32Array | null, code: Float32Array, targetVersion: number): Inversion {
    return new Inversion(space, f, f ? f.slice() : null, code, f ? adamInit(f.length) : null, adamInit(code.length), 0, targetVersion);
  }

  /** Saved codes as an inversion of the current target. Sizes are checked against the pack: codes of another pack are refused. */
  static fromSaved(c: SavedCodes, m: ModelPackManifest, targetVersion: number): Inversion {
    const bad = (what: string) => new EngineError('InputError', `saved session does not fit this model pack (${what})`);
    if (!SPACES.includes(c.space)) throw bad(`unknown space ${String(c.space)}`);
    const fLen = m.fBlock.shape.reduce((a, b) => a * b, 1);
    const codeLen = m.numWs * (isZ(c.space) ? m.zDim : m.wDim);
    if (!(c.code instanceof Float32Array) || c.code.length !== codeLen) throw bad('code size');
    if (c.adamCode.m.length !== codeLen || c.adamCode.v.length !== codeLen) throw bad('optimizer state size');
    if (hasF(c.space)) {
      if (!c.f || c.f.length !== fLen || !c.fInit || c.fInit.length !== fLen) throw bad('F size');
      if (!c.adamF || c.adamF.m.length !== fLen || c.adamF.v.length !== fLen) throw bad('F optimizer state size');
    }
    const withF = hasF(c.space);
    return new Inversion(
      c.space,
      withF ? c.f!.slice() : null,
      withF ? c.fInit!.slice() : null,
      c.code.slice(),
      withF ? cloneAdamState(c.adamF!) : null,
      cloneAdamState(c.adamCode),
      c.step,
      targetVersion,
    );
  }

  /** A copy as plain data. */
  toSaved(): SavedCodes {
    return {
      space: this.space,
      step: this.step,
      f: this.f?.slice() ?? null,
      fInit: this.fInit?.slice() ?? null,
      code: this.code.slice(),
      adamF: this.adamF ? cloneAdamState(this.adamF) : null,
      adamCode: cloneAdamState(this.adamCode),
    };
  }
}
