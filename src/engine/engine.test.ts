// Engine end-to-end in node: the tiny test pack (public/models/tiny-test, made by scripts/make-tiny-pack.py) on
// onnxruntime-node. Sessions load from files because onnxruntime-node resolves external data from the model's folder.
import { describe, expect, it, beforeAll } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import * as ortNode from 'onnxruntime-node';
import { Engine } from './engine';
import type { Ort } from './runtime/ort';
import { isSuperseded } from './schedule';
import { loadModelPack } from './pack/load';

const PACK = resolve(__dirname, '../../public/models/tiny-test');
const fileFetch = (overrides: Record<string, (b: Buffer) => Buffer<ArrayBufferLike>> = {}) =>
  (async (url: string) => {
    const p = String(url).replace(/^file:\/\//, '');
    if (!existsSync(p)) return new Response('not found', { status: 404 });
    const name = p.split('/').pop()!;
    let b: Buffer = readFileSync(p);
    if (overrides[name]) b = overrides[name](b);
    return new Response(new Uint8Array(b));
  }) as unknown as typeof fetch;

const makeEngine = () =>
  new Engine(ortNode as unknown as Ort, {
    backend: 'wasm',
    fetch: fileFetch(),
    sessionFactory: (key) => (ortNode as any).InferenceSession.create(resolve(PACK, `${key}.onnx`)),
  });

function targetFromSeed(e: Engine, seed: number) {
  // a generator output of the pack itself (so a good inversion reaches a high PSNR)
  return e;
}

describe('engine on the tiny pack (onnxruntime-node)', () => {
  let target: Uint8ClampedArray;
  beforeAll(async () => {
    // render a held-out target via the engine: random z+ -> synthesis
    const e = makeEngine();
    await e.loadPack('file://' + PACK);
    e.setTarget({ width: 32, height: 32, data: new Uint8ClampedArray(32 * 32 * 4) });
    await e.invert({ space: 'Z+', steps: 0, seed: 77 });
    target = (await e.render({})) as any;
    target = (target as any).image;
    targetFromSeed(e, 0);
  });

  it('loads and summarises the pack', async () => {
    const e = makeEngine();
    const s = await e.loadPack('file://' + PACK);
    expect(s.resolution).toBe(32);
    expect(s.spaces).toEqual(['F/Z+', 'F/W+', 'Z+', 'W+']);
    expect(s.directions.map((d) => d.id)).toEqual(['tone', 'texture']);
    expect(s.samples[0]).toMatch(/samples\/sample0.png$/);
  });

  it('F/Z+ inversion improves PSNR, streams progress, keeps z on the sphere, resumes', async () => {
    const e = makeEngine();
    await e.loadPack('file://' + PACK);
    e.setTarget({ width: 32, height: 32, data: target });
    const prog: number[] = [];
    let previews = 0;
    const r1 = await e.invert({ space: 'F/Z+', steps: 30, previewEvery: 10 }, (p) => {
      prog.push(p.psnr);
      if (p.preview) previews++;
      expect(p.loss).toHaveLength(3);
    });
    expect(prog).toHaveLength(30);
    expect(previews).toBe(2);
    const r2 = await e.invert({ space: 'F/Z+', steps: 200, resume: true });
    expect(r2.steps).toBe(200);
    expect(r2.psnr).toBeGreaterThan(r1.psnr);
    expect(r2.psnr).toBeGreaterThan(22);
    const code = (e as any).inv.code as Float32Array;
    for (let i = 0; i < 6; i++) {
      let s = 0;
      for (let j = 0; j < 16; j++) s += code[i * 16 + j] ** 2;
      expect(Math.sqrt(s)).toBeCloseTo(4, 3);
    }
  });

  it('cancel stops between steps and the state can be resumed', async () => {
    const e = makeEngine();
    await e.loadPack('file://' + PACK);
    e.setTarget({ width: 32, height: 32, data: target });
    const r = await e.invert({ space: 'F/Z+', steps: 100 }, (p) => {
      if (p.step === 5) e.cancel();
    });
    expect(r.cancelled).toBe(true);
    expect(r.steps).toBe(5);
    expect(e.canResume).toBe(true);
    const r2 = await e.invert({ space: 'F/Z+', steps: 8, resume: true });
    expect(r2.steps).toBe(8);
  });

  it.each(['W+', 'Z+', 'F/W+'] as const)('%s inversion runs and lowers the loss', async (space) => {
    const e = makeEngine();
    await e.loadPack('file://' + PACK);
    e.setTarget({ width: 32, height: 32, data: target });
    const losses: number[] = [];
    await e.invert({ space, steps: 40 }, (p) => losses.push(p.total));
    expect(losses[39]).toBeLessThan(losses[0]);
    const a = (await e.render({})) as any;
    const b = (await e.render({ tone: 2 })) as any;
    expect(Buffer.compare(Buffer.from(a.image), Buffer.from(b.image))).not.toBe(0);
  });

  it('sliders change the image, alpha 0 reproduces the reconstruction, latest wins', async () => {
    const e = makeEngine();
    await e.loadPack('file://' + PACK);
    e.setTarget({ width: 32, height: 32, data: target });
    const r = await e.invert({ space: 'F/Z+', steps: 10 });
    const zero = (await e.render({ tone: 0 })) as any;
    expect(Array.from(zero.image)).toEqual(Array.from(r.image));
    const edited = (await e.render({ tone: 3, texture: -2 })) as any;
    let diff = 0;
    for (let i = 0; i < edited.image.length; i++) diff += Math.abs(edited.image[i] - zero.image[i]);
    expect(diff / edited.image.length).toBeGreaterThan(1);
    const ps = [0.5, 1, 1.5, 2].map((a) => e.render({ tone: a }));
    const res = await Promise.all(ps);
    expect(isSuperseded(res[1])).toBe(true);
    expect(isSuperseded(res[2])).toBe(true);
    expect(isSuperseded(res[3])).toBe(false);
  });

  it('F follows the edit: F_gen(W+_edit) + residual reproduces F_inv at alpha ~0, and edits every layer', async () => {
    const e = makeEngine();
    await e.loadPack('file://' + PACK);
    e.setTarget({ width: 32, height: 32, data: target });
    const r = await e.invert({ space: 'F/Z+', steps: 10 });
    const meanDiff = (a: Uint8ClampedArray, b: Uint8ClampedArray) => {
      let d = 0;
      for (let i = 0; i < a.length; i++) d += Math.abs(a[i] - b[i]);
      return d / a.length;
    };
    e.setEditMode('follow');
    const tiny = (await e.render({ tone: 1e-4 })) as any;
    expect(meanDiff(tiny.image, r.image)).toBeLessThan(0.05); // residual formula: no jump when the walk is ~0
    const follow = (await e.render({ tone: 3 })) as any;
    e.setEditMode('fixed');
    const fixed = (await e.render({ tone: 3 })) as any;
    expect(meanDiff(follow.image, r.image)).toBeGreaterThan(1);
    expect(meanDiff(follow.image, fixed.image)).toBeGreaterThan(0.5); // layers below F and F itself moved too
    expect(() => e.setEditMode('sideways' as any)).toThrow(/edit mode/);
  });

  it('rejects a target of the wrong size and editing before inversion', async () => {
    const e = makeEngine();
    await e.loadPack('file://' + PACK);
    expect(() => e.setTarget({ width: 2, height: 2, data: new Uint8ClampedArray(16) })).toThrow(/32×32/);
    await expect(e.render({})).rejects.toThrow(/invert/);
  });
});

describe('model pack loading errors', () => {
  it('names a sha256 mismatch', async () => {
    const f = fileFetch({ 'mapping.onnx': (b) => { const c: Buffer = Buffer.from(b); c[c.length - 1] ^= 1; return c; } });
    await expect(loadModelPack('file://' + PACK, { fetch: f })).rejects.toThrow(/graph 'mapping'.*sha256/);
  });
  it('names a truncated weights file', async () => {
    const f = fileFetch({ 'weights.bin': (b) => b.subarray(0, 100) });
    await expect(loadModelPack('file://' + PACK, { fetch: f })).rejects.toThrow(/weights.bin: 100 bytes/);
  });
  it('names bad JSON and schema problems', async () => {
    await expect(loadModelPack('file://' + PACK, { fetch: fileFetch({ 'manifest.json': () => Buffer.from('{oops') }) })).rejects.toThrow(/not valid JSON/);
    const bad = (b: Buffer) => { const m = JSON.parse(b.toString()); delete m.graphs.mapping; m.zDim = 'x'; return Buffer.from(JSON.stringify(m)); };
    await expect(loadModelPack('file://' + PACK, { fetch: fileFetch({ 'manifest.json': bad }) })).rejects.toThrow(/schema.*(mapping|zDim)/);
  });
  it('names a missing file', async () => {
    await expect(loadModelPack('file:///nonexistent/pack')).rejects.toThrow(/manifest.json/);
  });
});

describe('warm-up (engine.warmUp)', () => {
  // counts session runs per graph key
  const counting = () => {
    const runs: Record<string, number> = {};
    const e = new Engine(ortNode as unknown as Ort, {
      backend: 'wasm',
      fetch: fileFetch(),
      sessionFactory: async (key) => {
        const s = await (ortNode as any).InferenceSession.create(resolve(PACK, `${key}.onnx`));
        const run = s.run.bind(s);
        s.run = (...a: unknown[]) => ((runs[key] = (runs[key] ?? 0) + 1), run(...a));
        return s;
      },
    });
    return { e, runs };
  };

  it('runs the F/Z+ gradient graph and the slider graphs, within its run budget', async () => {
    const { e, runs } = counting();
    await e.loadPack('file://' + PACK);
    const r = await e.warmUp({ runs: 10 });
    expect(r).toMatchObject({ runs: 10, outcome: 'done' });
    expect(runs.grad_fzplus).toBe(6);
    expect(runs.mapping).toBe(2);
    expect(runs.synthesis_from_f).toBe(2);
  });

  it('stops for real work, which then runs normally', async () => {
    const { e, runs } = counting();
    await e.loadPack('file://' + PACK);
    e.setTarget({ width: 32, height: 32, data: new Uint8ClampedArray(32 * 32 * 4).fill(128) });
    const warm = e.warmUp({ runs: 100000, maxMs: 60000 });
    await new Promise((r) => setTimeout(r, 30));
    const inv = await e.invert({ space: 'F/Z+', steps: 3 });
    const w = await warm;
    expect(w.outcome).toBe('preempted');
    expect(w.runs).toBeGreaterThan(0);
    expect(w.runs).toBeLessThan(100000);
    expect(inv.steps).toBe(3);
    // the warm-up left no state behind: the inversion's codes are the engine's own
    expect(e.exportCodes()!.step).toBe(3);
    expect(runs.grad_fzplus).toBeGreaterThanOrEqual(3);
  });

  it('a pack loaded during a warm-up replaces the old one cleanly', async () => {
    const { e } = counting();
    await e.loadPack('file://' + PACK);
    const warm = e.warmUp({ runs: 100000, maxMs: 60000 });
    await new Promise((r) => setTimeout(r, 20));
    await e.loadPack('file://' + PACK);
    expect((await warm).outcome).toBe('preempted');
    e.setTarget({ width: 32, height: 32, data: new Uint8ClampedArray(32 * 32 * 4).fill(90) });
    expect((await e.invert({ space: 'F/Z+', steps: 2 })).steps).toBe(2);
  });

  it('is skipped without a pack', async () => {
    const { e } = counting();
    expect((await e.warmUp()).outcome).toBe('skipped');
  });
});
