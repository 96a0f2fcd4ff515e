import { describe, expect, it } from 'vitest';
import { adamInit, adamStep } from './adam';
import { MAX_WALK_STEPS, normaliseRows, norm, slerp, sphereWalk, pixelNormInPlace, WALK_STEP, walkSteps } from './sphere';
import { truncateInPlace } from './truncation';
import { psnr, psnrRgba8 } from './psnr';
import { randn } from './rng';

describe('adam', () => {
  it('first step moves each parameter by lr against the gradient sign', () => {
    const p = new Float32Array([1, -2, 3]);
    const st = adamInit(3);
    adamStep(p, [0.5, -4, 0], st, { lr: 0.01 });
    expect(p[0]).toBeCloseTo(0.99, 6);
    expect(p[1]).toBeCloseTo(-1.99, 6);
    expect(p[2]).toBeCloseTo(3, 6);
    expect(st.t).toBe(1);
  });
  it('matches a float64 reference over several steps', () => {
    const p = new Float32Array([0.3, -0.7]);
    const ref = [0.3, -0.7];
    const m = [0, 0], v = [0, 0];
    const st = adamInit(2);
    for (let t = 1; t <= 20; t++) {
      const g = [2 * p[0] - 1, Math.sin(p[1])];
      const gr = [2 * ref[0] - 1, Math.sin(ref[1])];
      adamStep(p, g, st, { lr: 0.05 });
      for (let i = 0; i < 2; i++) {
        m[i] = 0.9 * m[i] + 0.1 * gr[i];
        v[i] = 0.999 * v[i] + 0.001 * gr[i] * gr[i];
        const mh = m[i] / (1 - 0.9 ** t), vh = v[i] / (1 - 0.999 ** t);
        ref[i] -= (0.05 * mh) / (Math.sqrt(vh) + 1e-8);
      }
    }
    expect(p[0]).toBeCloseTo(ref[0], 5);
    expect(p[1]).toBeCloseTo(ref[1], 5);
  });
  it('minimises a quadratic', () => {
    const p = new Float32Array([5, -5]);
    const st = adamInit(2);
    for (let i = 0; i < 2000; i++) adamStep(p, [2 * (p[0] - 1), 2 * (p[1] + 2)], st, { lr: 0.05 });
    expect(p[0]).toBeCloseTo(1, 2);
    expect(p[1]).toBeCloseTo(-2, 2);
  });
  it('rejects size mismatches', () => {
    expect(() => adamStep(new Float32Array(2), [1], adamInit(2), { lr: 1 })).toThrow(/size mismatch/);
  });
});

describe('sphere', () => {
  it('normaliseRows puts every row on the sphere of radius sqrt(dim)', () => {
    const z = randn(4 * 16, 1);
    normaliseRows(z, 16);
    for (let i = 0; i < 4; i++) expect(norm(z.subarray(i * 16, i * 16 + 16))).toBeCloseTo(4, 4);
  });
  it('sphere walk with alpha 0 is the identity; touches only the chosen layers', () => {
    const dim = 8, L = 3;
    const z = normaliseRows(randn(dim * L, 2), dim);
    const d = normaliseRows(randn(dim, 3), dim).map((x) => x / Math.sqrt(dim));
    expect(Array.from(sphereWalk(z, dim, [{ vector: d, alpha: 0, layers: [0, 1, 2] }]))).toEqual(Array.from(z));
    const out = sphereWalk(z, dim, [{ vector: d, alpha: 1.5, layers: [1, 2] }]);
    expect(Array.from(out.subarray(0, dim))).toEqual(Array.from(z.subarray(0, dim)));
    for (let i = 1; i < L; i++) expect(norm(out.subarray(i * dim, (i + 1) * dim))).toBeCloseTo(Math.sqrt(dim), 4);
    // moved towards d
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; };
    expect(dot(out.subarray(dim, 2 * dim), d)).toBeGreaterThan(dot(z.subarray(dim, 2 * dim), d));
  });
  it('sphere walk takes ceil(|v|/0.1) normalised steps (matches a float64 reference)', () => {
    const dim = 4;
    const z = normaliseRows(new Float32Array([1, 0, 0, 0]), dim);
    const d = [0, 1, 0, 0];
    const out = sphereWalk(z, dim, [{ vector: d, alpha: 0.25, layers: [0] }]);
    const ref = [2, 0, 0, 0];
    for (let s = 0; s < 3; s++) {
      ref[1] += 0.25 / 3;
      const r = Math.sqrt(ref.reduce((a, x) => a + x * x, 0) / dim);
      for (let j = 0; j < dim; j++) ref[j] /= r;
    }
    for (let j = 0; j < dim; j++) expect(out[j]).toBeCloseTo(ref[j], 5);
  });
  it('sphere walk: the step count is bounded (the step grows), huge values finish fast, non-finite ones throw', () => {
    expect(walkSteps(0.25)).toBe(3);
    expect(walkSteps(WALK_STEP * MAX_WALK_STEPS)).toBe(MAX_WALK_STEPS);
    expect(walkSteps(1e300)).toBe(MAX_WALK_STEPS);
    expect(() => walkSteps(Infinity)).toThrow(RangeError);
    expect(() => walkSteps(NaN)).toThrow(RangeError);
    const dim = 512, L = 18;
    const z = normaliseRows(randn(dim * L, 5), dim);
    const d = normaliseRows(randn(dim, 6), dim).map((x) => x / Math.sqrt(dim));
    const all = Array.from({ length: L }, (_, i) => i);
    const t0 = performance.now();
    const out = sphereWalk(z, dim, [{ vector: d, alpha: 1e300, layers: all }]);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(Array.from(out).every(Number.isFinite)).toBe(true);
    for (let i = 0; i < L; i++) expect(norm(out.subarray(i * dim, (i + 1) * dim))).toBeCloseTo(Math.sqrt(dim), 2);
    expect(() => sphereWalk(z, dim, [{ vector: d, alpha: Infinity, layers: [0] }])).toThrow(/not finite|length/);
    const huge = Array.from(d, (x) => x * 1e308);
    expect(() => sphereWalk(z, dim, [{ vector: huge, alpha: 10, layers: [0] }])).toThrow(RangeError);
  });
  it('combines several directions by summing alpha_k d_k', () => {
    const dim = 4;
    const z = normaliseRows(new Float32Array([1, 1, 1, 1]), dim);
    const a = sphereWalk(z, dim, [{ vector: [1, 0, 0, 0], alpha: 0.3, layers: [0] }, { vector: [0, 1, 0, 0], alpha: -0.2, layers: [0] }]);
    const b = sphereWalk(z, dim, [{ vector: [0.3, -0.2, 0, 0], alpha: 1, layers: [0] }]);
    for (let j = 0; j < dim; j++) expect(a[j]).toBeCloseTo(b[j], 6);
  });
  it('pixelNorm of a zero vector stays finite', () => {
    const z = new Float32Array(4);
    pixelNormInPlace(z);
    expect(Array.from(z).every(Number.isFinite)).toBe(true);
  });
  it('slerp: endpoints, constant radius and midpoint angle', () => {
    const a = [2, 0], b = [0, 2];
    expect(Array.from(slerp(a, b, 0))).toEqual([2, 0]);
    const e = slerp(a, b, 1);
    expect(e[0]).toBeCloseTo(0, 6); expect(e[1]).toBeCloseTo(2, 6);
    const m = slerp(a, b, 0.5);
    expect(norm(m)).toBeCloseTo(2, 6);
    expect(m[0]).toBeCloseTo(Math.SQRT2, 6);
    const c = slerp([1, 0], [1, 0], 0.3);
    expect(c[0]).toBeCloseTo(1, 6);
  });
});

describe('truncation', () => {
  it('applies psi only to layers < layers', () => {
    const w = new Float32Array([2, 4, 2, 4, 2, 4]);
    truncateInPlace(w, 2, [0, 2], 0.5, 2);
    expect(Array.from(w)).toEqual([1, 3, 1, 3, 2, 4]);
  });
  it('psi = 1 is the identity', () => {
    const w = randn(10, 5);
    const c = w.slice();
    truncateInPlace(w, 5, [1, 2, 3, 4, 5], 1, 2);
    expect(Array.from(w)).toEqual(Array.from(c));
  });
});

describe('psnr', () => {
  it('is infinite for identical images and ~known for a constant offset', () => {
    expect(psnr([0, 0.5], [0, 0.5])).toBe(Infinity);
    // range 2, error 0.2 everywhere: 10 log10(4 / 0.04) = 20 dB
    expect(psnr([0, 0.5, -0.5], [0.2, 0.7, -0.3])).toBeCloseTo(20, 6);
  });
  it('clamps to the range', () => {
    expect(psnr([5], [1])).toBe(Infinity);
  });
  it('rgba8 ignores alpha', () => {
    expect(psnrRgba8(new Uint8Array([1, 2, 3, 0]), new Uint8Array([1, 2, 3, 255]))).toBe(Infinity);
    expect(psnrRgba8(new Uint8Array([0, 0, 0, 0]), new Uint8Array([255, 255, 255, 0]))).toBeCloseTo(0, 6);
  });
});
