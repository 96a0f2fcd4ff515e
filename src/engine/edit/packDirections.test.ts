// Directions added to a loaded pack (files, GANSpace in the engine), on the tiny test pack with onnxruntime-node:
// each format reaches the sliders and moves pixels, bad files leave the pack as it was, added ones survive a reload.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { MemoryAddedDirections } from '../pack/addedDirections';
import { npyBytes, npzBytes } from './npyTestFiles';
import type { RenderResult } from './editor';
import { TINY_PACK, tinyPackEngine as engineWith } from './tinyPackEngine.testutil';
import type { Engine } from '../engine';

const FFHQ = resolve(__dirname, '../../../public/directions/interfacegan-stylegan2-ffhq-z.json');
const rand = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 43758.5453 % 1);
const file = (name: string, bytes: Uint8Array) => ({ name, bytes });

async function pixelChange(e: Engine, values: Record<string, number>): Promise<number> {
  const a = (await e.render({})) as RenderResult;
  const b = (await e.render(values)) as RenderResult;
  let s = 0;
  for (let i = 0; i < a.image.length; i++) s += Math.abs(a.image[i] - b.image[i]);
  return s / a.image.length;
}

describe('directions added to a pack', () => {
  it('a Z .npy, a W .npy (_w) and a GANSpace .npz reach the sliders, move pixels, and survive a reload', async () => {
    const store = new MemoryAddedDirections();
    const e = await engineWith(store);
    const own = e.summary().directions.map((d) => d.id);
    let s = await e.addDirections([file('boundary_tone_z.npy', npyBytes(rand(16, 1), [1, 16])), file('smile_w_boundary.npy', npyBytes(rand(16, 2), [16]))]);
    s = await e.addDirections([file('comps.npz', npzBytes({ lat_comp: npyBytes([...rand(16, 3), ...rand(16, 4)], [2, 1, 16]) }))]);
    const added = s.directions.filter((d) => d.added);
    expect(added.map((d) => [d.id, d.space])).toEqual([
      ['tone-z', 'z'],
      ['smile-w', 'w'],
      ['comps-pc1', 'z'],
      ['comps-pc2', 'z'],
    ]);
    expect(e.manifest.directions.find((d) => d.id === 'smile-w')).toMatchObject({ zScale: expect.any(Number), wSigma: expect.any(Number), conversion: { cosine: expect.any(Number) } });
    for (const space of ['F/Z+', 'W+'] as const) {
      await e.invert({ space, steps: 0, seed: 3 });
      expect(await pixelChange(e, { 'tone-z': 3 })).toBeGreaterThan(0.5);
      expect(await pixelChange(e, { 'smile-w': 3 })).toBeGreaterThan(0.5);
    }
    const again = await engineWith(store);
    expect(again.summary().directions.map((d) => d.id)).toEqual([...own, 'tone-z', 'smile-w', 'comps-pc1', 'comps-pc2']);
    await again.clearAddedDirections();
    expect((await engineWith(store)).summary().directions.map((d) => d.id)).toEqual(own);
  }, 120_000);

  it('bad files get a message naming the problem and the pack stays as it was', async () => {
    const store = new MemoryAddedDirections();
    const e = await engineWith(store);
    const before = JSON.stringify(e.summary().directions);
    const bad: [string, Uint8Array, RegExp][] = [
      ['long.npy', npyBytes(rand(24, 1), [24]), /long\.npy.*has 24 values; this pack \(tiny-test\) has zDim 16/],
      ['nan.npy', npyBytes([1, NaN, ...rand(14, 1)], [16]), /nan\.npy: the boundary contains NaN/],
      ['dirs.pt', new Uint8Array(8), /unknown direction file format '\.pt'/],
      ['interfacegan-stylegan2-ffhq-z.json', new Uint8Array(readFileSync(FFHQ)), /only fits .*1024 px, zDim 512, 18 ws\); this pack is 32 px, zDim 16, 6 ws/],
    ];
    for (const [name, bytes, msg] of bad) {
      // a good file next to the bad one: all or nothing
      await expect(e.addDirections([file('good.npy', npyBytes(rand(16, 5), [16])), file(name, bytes)])).rejects.toThrow(msg);
      expect(JSON.stringify(e.summary().directions)).toBe(before);
    }
    await e.addDirections([file('good.npy', npyBytes(rand(16, 5), [16]))]);
    await expect(e.addDirections([file('good.npy', npyBytes(rand(16, 6), [16]))])).rejects.toThrow(/already has a direction/);
    expect(store.files.size).toBe(1);
  }, 120_000);

  it('a W direction along a coordinate the mapping never changes is refused', async () => {
    const { LatentStats } = await import('./latentStats');
    const { wToZ } = await import('./wToZ');
    // a mapping that copies z and leaves the last W coordinate at 0
    const manifest = { zDim: 8, wDim: 8, numWs: 4 };
    const gen = { manifest, mapping: async (z: Float32Array) => z.map((v, i) => (i % 8 === 7 ? 0 : 2 * v)) };
    const st = await LatentStats.sample(gen, { samples: 4000 });
    const along = (k: number) => Array.from({ length: 8 }, (_, i) => (i === k ? 1 : 0));
    await expect(wToZ(gen, st, along(7), 1, 'flat_w.npy')).rejects.toThrow(/flat_w\.npy: a W direction the Z\+ spaces cannot follow \(only R² = 0\.000/);
    const ok = await wToZ(gen, st, along(2), undefined, 'ok');
    expect(ok.conversion!.cosine).toBeGreaterThan(0.99);
    expect(ok.vector[2]).toBeCloseTo(1, 3);
  }, 120_000);

  it('Find directions: GANSpace on the pack\'s mapping graph, stored with the pack; cancel stores nothing', async () => {
    const store = new MemoryAddedDirections();
    const e = await engineWith(store);
    const progress: number[] = [];
    const t0 = Date.now();
    const { summary, result } = await e.findDirections({ k: 4, samples: 20_000 }, (p) => progress.push(p.done));
    console.log(`tiny pack (32 px): GANSpace k=4, 20k samples: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(result.found).toBeGreaterThanOrEqual(3);
    expect(progress.at(-1)).toBeCloseTo(1, 6);
    const found = summary.directions.filter((d) => d.added);
    expect(found[0]).toMatchObject({ id: 'ganspace-pc1', label: 'PC1', kind: 'ganspace', space: 'w' });
    const pc1 = e.manifest.directions.find((d) => d.id === 'ganspace-pc1')!;
    expect(pc1.effect!.whole ?? 0).toBeGreaterThan(0);
    expect(pc1.offerInF).toBe((pc1.effect!.fromF ?? 0) >= 0.5);
    expect(result.notInF).toBe(found.filter((d) => !d.offerInF).length);
    await e.invert({ space: 'F/Z+', steps: 0, seed: 4 });
    expect(await pixelChange(e, { 'ganspace-pc1': 3 })).toBeGreaterThan(0.5);
    expect((await engineWith(store)).summary().directions.filter((d) => d.added)).toHaveLength(found.length);

    const other = new MemoryAddedDirections();
    const c = await engineWith(other);
    const run = c.findDirections({ k: 4, samples: 20_000 }, (p) => p.done > 0.1 && c.cancelFindDirections());
    await expect(run).rejects.toThrow(/cancelled/);
    expect(other.files.size).toBe(0);
    expect(c.summary().directions.some((d) => d.added)).toBe(false);
  }, 120_000);

  it('a pack loaded during Find directions stops it first: nothing is stored, the new pack works', async () => {
    const store = new MemoryAddedDirections();
    const e = await engineWith(store);
    let reload: Promise<unknown> | null = null;
    const run = e.findDirections({ k: 4, samples: 20_000 }, (p) => void (p.done > 0.1 && (reload ??= e.loadPack('file://' + TINY_PACK))));
    await expect(run).rejects.toThrow(/cancelled/);
    await reload;
    expect(store.files.size).toBe(0);
    expect(e.summary().directions.some((d) => d.added)).toBe(false);
    e.setTarget({ width: 32, height: 32, data: new Uint8ClampedArray(32 * 32 * 4).fill(128) });
    await e.invert({ space: 'F/Z+', steps: 0, seed: 4 });
    expect(await pixelChange(e, { [e.summary().directions[0].id]: 3 })).toBeGreaterThan(0.5);
  }, 120_000);
});
