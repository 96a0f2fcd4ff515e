// The Adam graph (public/graphs/adam.onnx) against math/adam.ts + math/sphere.ts, and DeviceAdam's inversion against
// the JS path on the tiny pack. Node has no WebGPU: a Runtime that "keeps on device" with CPU tensors runs the same code.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as ortNode from 'onnxruntime-node';
import { adamInit, adamScalars, adamStep } from '../math/adam';
import { mulberry32 } from '../math/rng';
import { normaliseRows } from '../math/sphere';
import { MemoryAddedDirections } from '../pack/addedDirections';
import { Runtime } from '../runtime/sessions';
import type { OrtTensor } from '../runtime/ort';
import { tinyPackEngine } from '../edit/tinyPackEngine.testutil';
import type { GraphRunner } from '../graphs/runner';
import type { Engine, InvertProgress } from '../engine';

const ADAM = readFileSync(resolve(__dirname, '../../../public/graphs/adam.onnx'));

function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]) / Math.max(1e-3, Math.abs(b[i])));
  return d;
}

describe('Adam graph', () => {
  for (const [dims, sphere] of [[[6, 16], true], [[1, 8, 4, 4], false], [[3, 1, 5], true]] as [number[], boolean][]) {
    it(`matches adamStep${sphere ? ' + normaliseRows' : ''} over 5 steps, shape [${dims}]`, async () => {
      const sess = await ortNode.InferenceSession.create(ADAM);
      const n = dims.reduce((a, b) => a * b, 1);
      const last = dims[dims.length - 1];
      const lr = 0.05;
      const js = randomArray(n, 1, 1.5);
      if (sphere) normaliseRows(js, last);
      const state = adamInit(n);
      let p: Float32Array = js.slice();
      let m: Float32Array = new Float32Array(n);
      let v: Float32Array = new Float32Array(n);
      for (let t = 1; t <= 5; t++) {
        const g = randomArray(n, 100 + t, t === 3 ? 1e-6 : 2); // one tiny gradient: eps matters
        adamStep(js, g, state, { lr });
        if (sphere) normaliseRows(js, last);
        const { stepSize, sqrtBc2 } = adamScalars(t, lr);
        const T = (d: Float32Array, shape = dims) => new ortNode.Tensor('float32', d, shape);
        const out = await sess.run({
          param: T(p), grad: T(g), m: T(m), v: T(v),
          step_size: T(Float32Array.of(stepSize), [1]), sqrt_bc2: T(Float32Array.of(sqrtBc2), [1]), sphere: T(Float32Array.of(sphere ? 1 : 0), [1]),
        });
        expect(out.param_out.dims).toEqual(dims);
        p = out.param_out.data as Float32Array;
        m = out.m_out.data as Float32Array;
        v = out.v_out.data as Float32Array;
        // float32 throughout vs adamStep's float64 intermediates
        expect(maxRelDiff(m, state.m)).toBeLessThan(1e-4);
        expect(maxRelDiff(v, state.v)).toBeLessThan(1e-4);
        expect(maxRelDiff(p, js)).toBeLessThan(1e-4);
      }
    });
  }
});

/**
 * A runtime that takes the device path in node: uploads are CPU tensors, kept outputs stay as they are, and both
 * count as device tensors (not moved when fed).
 */
class DeviceLikeRuntime extends Runtime {
  private device = new WeakSet<OrtTensor>();
  override get keepsOnDevice() {
    return true;
  }
  override async upload(data: Float32Array, dims: number[]): Promise<OrtTensor> {
    this.transfer.up += data.byteLength;
    const t = new this.ort.Tensor('float32', data.slice(), dims);
    this.device.add(t);
    return t;
  }
  override async runKeeping(...args: Parameters<Runtime['runKeeping']>) {
    const r = await super.runKeeping(...args);
    for (const t of Object.values(r.kept)) this.device.add(t);
    return r;
  }
  protected override isCpuTensor(t: OrtTensor) {
    return !this.device.has(t);
  }
}

async function deviceEngine(): Promise<{ e: Engine; rt: DeviceLikeRuntime; runner: GraphRunner }> {
  const e = await tinyPackEngine(new MemoryAddedDirections());
  const runner = (e as unknown as { runner: GraphRunner }).runner;
  const cur = runner.current!;
  const packFactory = cur.options.sessionFactory!;
  const rt = new DeviceLikeRuntime(cur.ort, cur.pack, 'wasm', {
    ...cur.options,
    sessionFactory: (key, bytes, o) => (key === 'adam' ? (ortNode.InferenceSession.create(bytes) as never) : packFactory(key, bytes, o)),
  });
  await runner.swap(rt);
  runner.appGraphs.adam = new Uint8Array(ADAM);
  e.setTarget({ width: 32, height: 32, data: new Uint8ClampedArray(32 * 32 * 4).map((_, i) => (i * 37) % 251) });
  return { e, rt, runner };
}

describe('inversion with the codes on the device', () => {
  it('follows the JS path, syncs the CPU codes at previews and the end, and moves only the loss per step', async () => {
    const { e } = await deviceEngine();
    const opts = { space: 'F/Z+' as const, steps: 12, previewEvery: 5, seed: 3, useEncoder: false };
    const dev: InvertProgress[] = [];
    const rDev = await e.invert(opts, (p) => dev.push(p));
    const codesDev = e.exportCodes()!;
    const js: InvertProgress[] = [];
    const rJs = await e.invert({ ...opts, onDevice: false }, (p) => js.push(p));
    const codesJs = e.exportCodes()!;

    expect(dev.every((p) => p.onDevice)).toBe(true);
    expect(js.some((p) => p.onDevice)).toBe(false);
    for (let i = 0; i < 12; i++) expect(Math.abs(dev[i].total - js[i].total) / js[i].total).toBeLessThan(1e-4);
    expect(Math.abs(rDev.psnr - rJs.psnr)).toBeLessThan(1e-3);
    expect(codesDev.step).toBe(12);
    expect(codesDev.adamCode.t).toBe(12);
    expect(codesDev.adamF!.t).toBe(12);
    expect(maxRelDiff(codesDev.code, codesJs.code)).toBeLessThan(1e-3);
    expect(maxRelDiff(codesDev.f!, codesJs.f!)).toBeLessThan(1e-3);
    expect(maxRelDiff(codesDev.adamF!.v, codesJs.adamF!.v)).toBeLessThan(1e-3);

    // per step: the 3 loss terms down; up: loss weights + 3 Adam scalars per code (step 1 also uploads the
    // target and F_init, once)
    expect(dev[0].transferBytes!.up).toBe(12 + 2 * 12 + (32 * 32 * 3 + 8 * 8 * 8) * 4);
    const plain = dev.filter((p) => !p.preview && p.step > 1);
    expect(plain.length).toBeGreaterThan(0);
    for (const p of plain) expect(p.transferBytes).toEqual({ up: 12 + 2 * 12, down: 12 });
    // the JS path moves the codes and gradients every step
    expect(js[0].transferBytes!.down).toBeGreaterThan(8 * 8 * 8 * 4);
    // a preview step syncs the codes and moments
    expect(dev[4].preview).toBeDefined();
    expect(dev[4].transferBytes!.down).toBeGreaterThan(3 * 8 * 8 * 8 * 4);
    await e.dispose();
  });

  it('a cancel syncs the step reached; resume continues on the device', async () => {
    const { e } = await deviceEngine();
    let n = 0;
    const r = await e.invert({ space: 'Z+', steps: 50, previewEvery: 0, seed: 5, useEncoder: false }, () => {
      if (++n === 7) e.cancel();
    });
    expect(r.cancelled).toBe(true);
    expect(e.exportCodes()!.step).toBe(7);
    expect(e.exportCodes()!.adamCode.t).toBe(7);
    const z = e.exportCodes()!.code;
    for (let i = 0; i < 6; i++) {
      let s = 0;
      for (let j = 0; j < 16; j++) s += z[i * 16 + j] ** 2;
      expect(s / 16).toBeCloseTo(1, 4); // on the sphere
    }
    const steps: number[] = [];
    const r2 = await e.invert({ space: 'Z+', steps: 10, previewEvery: 0, resume: true }, (p) => steps.push(p.step));
    expect(steps).toEqual([8, 9, 10]);
    expect(r2.steps).toBe(10);
    await e.dispose();
  });

  it('an Adam graph that fails to load leaves the inversion to the JS path', async () => {
    const { e, runner } = await deviceEngine();
    runner.appGraphs.adam = new Uint8Array([1, 2, 3]);
    const seen: InvertProgress[] = [];
    const r = await e.invert({ space: 'F/Z+', steps: 4, previewEvery: 0, seed: 3, useEncoder: false }, (p) => seen.push(p));
    expect(r.steps).toBe(4);
    expect(seen.map((p) => [p.step, p.onDevice])).toEqual([[1, false], [2, false], [3, false], [4, false]]);
    await e.dispose();
  });

  it('a device loss mid-inversion continues in JS on WASM from the last sync', async () => {
    const opts = { space: 'F/Z+' as const, steps: 9, previewEvery: 4, seed: 3, useEncoder: false };
    const ref = (await deviceEngine()).e;
    await ref.invert({ ...opts, onDevice: false });
    const want = ref.exportCodes()!;
    // the device is lost after step 5: step 6 fails, and the JS path takes steps 5.. again from the sync at step 4
    const { e, runner, rt } = await deviceEngine();
    const seen: InvertProgress[] = [];
    const r = await e.invert(opts, (p) => {
      seen.push(p);
      if (p.step === 5 && p.onDevice) rt.lost = true;
    });
    expect(runner.current).not.toBe(rt);
    expect(e.backend!.note).toMatch(/device lost/i);
    expect(seen.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 5, 6, 7, 8, 9]);
    expect(seen.map((p) => !!p.onDevice)).toEqual([true, true, true, true, true, false, false, false, false, false]);
    expect(r.steps).toBe(9);
    const got = e.exportCodes()!;
    expect(got.step).toBe(9);
    expect(maxRelDiff(got.code, want.code)).toBeLessThan(1e-3);
    expect(maxRelDiff(got.f!, want.f!)).toBeLessThan(1e-3);
    await e.dispose();
    await ref.dispose();
  });
});
