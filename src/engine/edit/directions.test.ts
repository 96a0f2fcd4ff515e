// Slider values -> edits: zScale, W directions (exact in W+, their Z conversion in Z+), offerInF in the F spaces.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ModelPackManifest } from '../pack/manifest';
import { applyShifts, editPlan, offered, walkDirections } from './directions';

const base = JSON.parse(readFileSync(resolve(__dirname, '../../../public/models/tiny-test/manifest.json'), 'utf8')) as ModelPackManifest;

function unit(n: number, k: number): number[] {
  return Array.from({ length: n }, (_, i) => (i === k ? 1 : 0));
}

/** The tiny pack's shape (zDim 16, wDim 16, 6 ws, firstWs from the pack) with three made-up directions. */
function manifest(): ModelPackManifest {
  const m = structuredClone(base);
  m.directions = [
    { id: 'z1', label: 'Z one', kind: 'custom', vector: unit(m.zDim, 0), range: [-3, 3], zScale: 2.5 },
    { id: 'w1', label: 'W one', kind: 'ganspace', space: 'w', vector: unit(m.zDim, 1), wVector: unit(m.wDim, 2), wSigma: 0.5, zScale: 4, range: [-3, 3], layers: [0, 1, 5] },
    { id: 'coarse', label: 'coarse only', kind: 'ganspace', vector: unit(m.zDim, 3), range: [-3, 3], layers: [0, 1], offerInF: false },
  ];
  return m;
}

describe('edit directions', () => {
  it('Z+ walks vector by alpha * zScale (default 1)', () => {
    const m = manifest();
    const walks = walkDirections(m, { z1: 2, w1: -1 }, 'Z+');
    expect(walks.map((w) => w.alpha)).toEqual([5, -4]);
    expect(walks[1].vector).toBe(m.directions[1].vector); // the W direction's fitted Z conversion
    expect(walks[1].layers).toEqual([0, 1, 5]);
    delete m.directions[0].zScale;
    expect(walkDirections(m, { z1: 2 }, 'Z+')[0].alpha).toBe(2);
  });

  it('a direction with parts walks each part along its own vector on its own layers; F fixed drops the layers before firstWs', () => {
    const m = manifest();
    const half = unit(m.zDim, 5).map((x) => 0.5 * x);
    m.directions.push({ id: 'parts', label: 'per group', kind: 'interfacegan', vector: unit(m.zDim, 4), range: [-3, 3], layers: [0, 1, 2, 3, 4, 5],
      parts: [{ layers: [0, 1], vector: unit(m.zDim, 4) }, { layers: [2, 3, 4, 5], vector: half }] });
    const walks = walkDirections(m, { parts: 2 }, 'Z+');
    expect(walks.map((w) => [w.alpha, w.layers])).toEqual([[2, [0, 1]], [2, [2, 3, 4, 5]]]);
    expect(walks[1].vector).toBe(half);
    const first = m.fBlock.firstWs;
    const fixed = walkDirections(m, { parts: 2 }, 'F/Z+');
    expect(fixed.flatMap((w) => w.layers)).toEqual([0, 1, 2, 3, 4, 5].filter((i) => i >= first));
    expect(fixed.every((w) => w.layers.length > 0)).toBe(true);
  });

  it('clamps to the range before scaling', () => {
    expect(walkDirections(manifest(), { z1: 10 }, 'Z+')[0].alpha).toBe(7.5);
  });

  it('W+ applies a W direction exactly: w_i += alpha * wSigma * wVector on its layers', () => {
    const m = manifest();
    const plan = editPlan(m, { w1: 2 }, 'W+');
    expect(plan.walks).toEqual([]);
    expect(plan.shifts).toHaveLength(1);
    const w = applyShifts(new Float32Array(m.numWs * m.wDim), m.wDim, plan.shifts);
    for (let i = 0; i < m.numWs; i++) {
      for (let j = 0; j < m.wDim; j++) {
        const want = [0, 1, 5].includes(i) && j === 2 ? 1 : 0;
        expect(w[i * m.wDim + j]).toBeCloseTo(want, 6);
      }
    }
  });

  it('W+ keeps Z directions as Z walks (converted by WDelta), scaled by zScale', () => {
    const plan = editPlan(manifest(), { z1: 1, w1: 1 }, 'W+');
    expect(plan.walks.map((w) => w.alpha)).toEqual([2.5]);
    expect(plan.shifts.map((s) => s.shift)).toEqual([0.5]);
  });

  it('F/W+ with F fixed: W shifts only on layers from firstWs', () => {
    const m = manifest();
    const plan = editPlan(m, { w1: 1 }, 'F/W+');
    expect(plan.shifts[0].layers).toEqual([0, 1, 5].filter((i) => i >= m.fBlock.firstWs));
  });

  it('offerInF: false is left out in the F spaces with F fixed, kept when F follows and in Z+ / W+', () => {
    const m = manifest();
    const d = m.directions[2];
    expect(offered(d, 'F/Z+')).toBe(false);
    expect(offered(d, 'F/W+')).toBe(false);
    expect(offered(d, 'F/Z+', true)).toBe(true);
    expect(offered(d, 'Z+')).toBe(true);
    expect(walkDirections(m, { coarse: 1 }, 'F/Z+')).toEqual([]);
    expect(walkDirections(m, { coarse: 1 }, 'F/Z+', 0)).toHaveLength(1);
    expect(walkDirections(m, { coarse: 1 }, 'Z+')).toHaveLength(1);
  });
});
