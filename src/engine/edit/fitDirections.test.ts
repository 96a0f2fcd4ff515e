// Fitting incoming directions to a pack: the shipped InterFaceGAN++ FFHQ set reaches a manifest of its generator's
// shape (1024 px, zDim 512, 18 ws) and is refused on any other; layers below firstWs hide a direction with F fixed.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ModelPackManifest } from '../pack/manifest';
import { readDirectionFile } from './directionFiles';
import { resolveDirections } from './fitDirections';

const FFHQ = resolve(__dirname, '../../../public/directions/interfacegan-stylegan2-ffhq-z.json');
const tiny = JSON.parse(readFileSync(resolve(__dirname, '../../../public/models/tiny-test/manifest.json'), 'utf8')) as ModelPackManifest;
const noMapping = { manifest: { zDim: 0, wDim: 0, numWs: 0 }, mapping: async () => new Float32Array() };
const noStats = () => Promise.reject(new Error('Z directions need no statistics'));

/** The tiny manifest reshaped as FFHQ config-f (only the fields direction fitting reads). */
function ffhqShaped(): ModelPackManifest {
  return { ...structuredClone(tiny), name: 'ffhq', resolution: 1024, zDim: 512, wDim: 512, numWs: 18, fBlock: { ...tiny.fBlock, firstWs: 7 }, directions: [] };
}

describe('fitting directions to a pack', () => {
  it('the FFHQ set: 39 unit Z directions on a pack of that shape, refused on others', async () => {
    const set = readDirectionFile({ name: 'interfacegan-stylegan2-ffhq-z.json', bytes: new Uint8Array(readFileSync(FFHQ)) });
    const entries = await resolveDirections(set, ffhqShaped(), noMapping, noStats);
    expect(entries).toHaveLength(39);
    for (const e of entries) {
      expect(e.vector).toHaveLength(512);
      expect(Math.hypot(...e.vector)).toBeCloseTo(1, 5);
      expect(e.range).toEqual([-3, 3]);
    }
    expect(entries.map((e) => e.label)).toEqual(expect.arrayContaining(['Smile', 'Glasses', 'Young']));
    await expect(resolveDirections(set, tiny, noMapping, noStats)).rejects.toThrow(/only fits .*this pack is 32 px, zDim 16, 6 ws/);
  });

  it('a direction whose layers all lie below firstWs is not offered with F fixed', async () => {
    const m = structuredClone(tiny);
    const v = Array.from({ length: m.zDim }, (_, i) => i + 1);
    const doc = [{ id: 'coarse', label: 'Coarse', kind: 'custom', vector: v, range: [-2, 2], layers: [0] }, { id: 'fine', label: 'Fine', kind: 'custom', vector: v, range: [-2, 2], layers: [m.numWs - 1] }];
    const inc = readDirectionFile({ name: 'd.json', bytes: new TextEncoder().encode(JSON.stringify(doc)) });
    const [coarse, fine] = await resolveDirections(inc, m, noMapping, noStats);
    expect(m.fBlock.firstWs).toBeGreaterThan(0);
    expect(coarse.offerInF).toBe(false);
    expect(fine.offerInF).toBeUndefined();
    const bad = readDirectionFile({ name: 'b.json', bytes: new TextEncoder().encode(JSON.stringify([{ ...doc[0], layers: [99] }])) });
    await expect(resolveDirections(bad, m, noMapping, noStats)).rejects.toThrow(/layers \[99\] outside \[0, 6\)/);
  });

  it('a direction file with parts keeps them when they fit the pack, and names the problem when not', async () => {
    const m = structuredClone(tiny);
    const v = Array.from({ length: m.zDim }, (_, i) => (i === 0 ? 1 : 0));
    const parts = [{ layers: [0, 1], vector: v }, { layers: [2, 3, 4, 5], vector: v.map((x) => 0.5 * x) }];
    const file = (doc: unknown) => readDirectionFile({ name: 'p.json', bytes: new TextEncoder().encode(JSON.stringify(doc)) });
    const [e] = await resolveDirections(file([{ id: 'p', vector: v, parts }]), m, noMapping, noStats);
    expect(e.parts).toEqual(parts);
    await expect(resolveDirections(file([{ id: 'p', vector: v, parts: [{ layers: [0], vector: [1] }] }]), m, noMapping, noStats)).rejects.toThrow(/part 0 has 1 values/);
    await expect(resolveDirections(file([{ id: 'p', vector: v, parts: [{ layers: [0], vector: 'x' }] }]), m, noMapping, noStats)).rejects.toThrow(/part 0 is not/);
    const [coarse] = await resolveDirections(file([{ id: 'c', vector: v, parts: [{ layers: [0], vector: v }] }]), m, noMapping, noStats);
    expect(coarse.offerInF).toBe(false);
  });
});
