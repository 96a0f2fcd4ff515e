// Teach a slider: the fit (tangent difference of per-layer class means) and the engine flow on the tiny pack.
import { describe, expect, it } from 'vitest';
import { MemoryAddedDirections } from '../pack/addedDirections';
import { normaliseRows } from '../math/sphere';
import { randn } from '../math/rng';
import { fitTaughtDirection } from './teach';
import type { RenderResult } from './editor';
import { tinyPackEngine } from './tinyPackEngine.testutil';

describe('teach a slider', () => {
  it('recovers the direction that separates the classes, in the tangent space', () => {
    const zDim = 32, numWs = 3;
    const axis = Array.from({ length: zDim }, (_, j) => (j === 5 ? 1 : 0));
    const faces = (shift: number, seed: number) =>
      Array.from({ length: 4 }, (_, k) => {
        const z = randn(numWs * zDim, seed + k);
        for (let i = 0; i < numWs; i++) z[i * zDim + 5] += shift;
        return normaliseRows(z, zDim);
      });
    const { vector, gap } = fitTaughtDirection(faces(3, 10), faces(-3, 20), numWs, zDim);
    const cos = vector.reduce((s, v, j) => s + v * axis[j], 0);
    expect(cos).toBeGreaterThan(0.9);
    expect(gap).toBeGreaterThan(2);
    expect(() => fitTaughtDirection(faces(0, 1), faces(0, 1), numWs, zDim)).toThrow(/same codes/);
  });

  it('marks inverted photos, makes a named slider that edits and is stored with the pack', async () => {
    const store = new MemoryAddedDirections();
    const make = () => tinyPackEngine(store);
    const e = await make();
    await expect(e.teachSlider('Nothing yet')).rejects.toThrow(/at least one photo/);
    await e.invert({ space: 'W+', steps: 0, seed: 1 });
    expect(() => e.markExample('with')).toThrow(/Z\+ codes/);
    await e.invert({ space: 'F/Z+', steps: 0, seed: 1 });
    expect(e.markExample('with')).toEqual({ with: 1, without: 0 });
    await e.invert({ space: 'F/Z+', steps: 0, seed: 2 });
    expect(e.markExample('without')).toEqual({ with: 1, without: 1 });
    const s = await e.teachSlider('Face A to B');
    expect(s.directions.at(-1)).toMatchObject({ id: 'taught-face-a-to-b', label: 'Face A to B', added: true });
    const a = (await e.render({})) as RenderResult;
    const b = (await e.render({ 'taught-face-a-to-b': 2 })) as RenderResult;
    let diff = 0;
    for (let i = 0; i < a.image.length; i++) diff += Math.abs(a.image[i] - b.image[i]) / a.image.length;
    expect(diff).toBeGreaterThan(0.5);
    expect(e.clearExamples()).toEqual({ with: 0, without: 0 });
    expect((await make()).summary().directions.map((d) => d.id)).toContain('taught-face-a-to-b');
  }, 60_000);

  it('a saved session\'s codes are an example too (Z+ codes of this pack only)', async () => {
    const e = await tinyPackEngine(new MemoryAddedDirections());
    await e.invert({ space: 'F/Z+', steps: 0, seed: 3 });
    const saved = e.exportCodes()!; // as a saved session keeps them
    await e.invert({ space: 'W+', steps: 0, seed: 3 });
    expect(() => e.markExample('with', e.exportCodes()!)).toThrow(/Z\+ codes/);
    expect(() => e.markExample('with', { ...saved, code: saved.code.subarray(1) })).toThrow(/Z\+ codes of this pack/);
    expect(e.markExample('with', saved)).toEqual({ with: 1, without: 0 });
    await e.invert({ space: 'F/Z+', steps: 0, seed: 4 });
    expect(e.markExample('without')).toEqual({ with: 1, without: 1 });
    const s = await e.teachSlider('Saved to current');
    expect(s.directions.at(-1)).toMatchObject({ id: 'taught-saved-to-current', added: true });
  }, 60_000);
});
