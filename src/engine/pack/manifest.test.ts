import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { nonFiniteAt, validateManifest } from './manifest';
import { mulberry32 } from '../math/rng';

const root = resolve(__dirname, '../../..');
const tiny = () => JSON.parse(readFileSync(resolve(root, 'public/models/tiny-test/manifest.json'), 'utf8'));

describe('manifest validation', () => {
  it('accepts the tiny pack', () => {
    expect(validateManifest(tiny()).name).toBe('tiny-test');
  });
  it('rejects unknown properties and wrong enums, naming them', () => {
    const m = tiny();
    m.colour = 'red';
    expect(() => validateManifest(m)).toThrow(/additional properties 'colour'/);
    const n = tiny();
    n.alignment = 'whatever';
    expect(() => validateManifest(n)).toThrow(/alignment/);
  });
  it('rejects cross-field inconsistencies', () => {
    const m = tiny();
    m.truncation.wAvg = [1, 2];
    m.directions[0].vector = [1];
    m.graphs.mapping.inputs[0].name = 'zz';
    expect(() => validateManifest(m)).toThrow(/wAvg has 2 values.*lacks input 'z'.*direction 'tone'/);
    const s = tiny();
    s.graphs.synthesis.outputs[0].shape = [1, 3, 64, 64];
    expect(() => validateManifest(s)).toThrow(/synthesis' image has shape \[1,3,64,64\]/);
  });
  it('refuses parts of the wrong length, too long, on overlapping or missing layers', () => {
    const m = tiny();
    const z = (k: number, a = 1) => Array.from({ length: m.zDim }, (_, i) => (i === k ? a : 0));
    m.directions[0].parts = [{ layers: [0, 1], vector: z(0) }, { layers: [2], vector: z(1, 0.5) }];
    expect(() => validateManifest(m)).not.toThrow();
    m.directions[0].parts = [{ layers: [0, 1], vector: [1] }, { layers: [1, m.numWs], vector: z(1, 100) }];
    expect(() => validateManifest(m)).toThrow(/part 0 has 1 values.*norm 100, at most sqrt\(numWs\).*layer 1 is in two parts.*layer \d+ outside/);
  });
  it('tolerates outputs declared with unknown (non-positive) dims, never inputs', () => {
    const m = tiny();
    m.graphs.grad_fzplus.outputs[2].shape = [0, 0, 0];
    expect(validateManifest(m).name).toBe('tiny-test');
    m.graphs.grad_fzplus.inputs[2].shape = [0, 0, 0];
    expect(() => validateManifest(m)).toThrow(/grad_fzplus' zplus has shape \[0,0,0\]/);
  });
  it('refuses a number that is not finite or out of range, naming where', () => {
    const text = JSON.stringify(tiny()).replace(/("vector":\[)[-0-9.e]+/, '$11e999');
    expect(() => validateManifest(JSON.parse(text))).toThrow(/not finite at \/directions\/0\/vector\/0/);
    const big = tiny();
    big.directions[1].vector[3] = 1e300;
    expect(() => validateManifest(big)).toThrow(/directions\/1\/vector\/3 must be <= 1000/);
    const range = tiny();
    range.directions[0].range = [-3, 1e9];
    expect(() => validateManifest(range)).toThrow(/range\/1 must be <= 1000/);
    const res = tiny();
    res.resolution = 1e6;
    expect(() => validateManifest(res)).toThrow(/resolution must be <= 4096/);
  });
  it('refuses file paths that are not plain names inside the pack', () => {
    for (const bad of ['../weights.bin', '/etc/passwd', 'a\\b', 'C:x', '.hidden', 'sub/w.bin', '']) {
      const m = tiny();
      m.weights.file = bad;
      expect(() => validateManifest(m), bad).toThrow(/weights\/file/);
    }
    const s = tiny();
    s.samples = ['samples/../../x.png'];
    expect(() => validateManifest(s)).toThrow(/samples\/0/);
    const own = tiny();
    own.graphs.mapping.file = 'manifest.json';
    expect(() => validateManifest(own)).toThrow(/lists 'manifest\.json'/);
  });
  it('fuzz: a mutated manifest is accepted only when every number is finite and every path a plain file name', () => {
    const rand = mulberry32(1717);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
    const NUMBERS = [Infinity, -Infinity, NaN, 1e308, -1e308, 1e999, 0, -1, 0.5, 3, 2 ** 53] as const;
    const PATHS = ['../x.bin', '/abs.bin', 'a\\b.onnx', 'C:\\x', '.hidden', '..', 'ok_name.bin', 'samples/ok.png', 'samples/../x', 'x y', '', 'a//b', 'nul\u0000.bin'];
    // leaves of the valid manifest: [container, key] of every number and every file path
    type Leaf = { at: any; key: string | number; kind: 'number' | 'path' };
    const leaves = (m: any): Leaf[] => {
      const out: Leaf[] = [];
      const walk = (x: any, parentKey: string) => {
        for (const [k, v] of Object.entries(x)) {
          const key = Array.isArray(x) ? Number(k) : k;
          if (typeof v === 'number') out.push({ at: x, key, kind: 'number' });
          else if (typeof v === 'string' && (k === 'file' || parentKey === 'samples')) out.push({ at: x, key, kind: 'path' });
          else if (v && typeof v === 'object') walk(v, k);
        }
      };
      walk(m, '');
      return out;
    };
    const plainFile = (p: unknown) => typeof p === 'string' && /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(p) && p !== 'manifest.json';
    const plainPath = (p: unknown) => typeof p === 'string' && p.split('/').every(plainFile);
    const allPathsPlain = (m: any) =>
      [m.weights?.file, ...Object.values(m.graphs).map((g: any) => g.file)].every(plainFile) && (m.samples ?? []).every(plainPath);
    let accepted = 0;
    const N = 600;
    for (let i = 0; i < N; i++) {
      const m = tiny();
      const ls = leaves(m);
      const edits = 1 + Math.floor(rand() * 3);
      for (let e = 0; e < edits; e++) {
        const l = pick(ls);
        if (l.kind === 'number') l.at[l.key] = rand() < 0.5 ? l.at[l.key] : pick(NUMBERS);
        else l.at[l.key] = rand() < 0.3 ? l.at[l.key] : pick(PATHS);
      }
      // half of the cases go through JSON text, as a file would (NaN becomes null there)
      const input = rand() < 0.5 ? JSON.parse(JSON.stringify(m).replace(/null/g, '1e999')) : m;
      let ok = true;
      try {
        validateManifest(input);
      } catch (err) {
        ok = false;
        expect((err as Error).name).toBe('PackManifestError');
      }
      if (ok) {
        accepted++;
        expect(nonFiniteAt(input), JSON.stringify(input).slice(0, 200)).toBeNull();
        expect(allPathsPlain(input)).toBe(true);
      }
    }
    // the fuzz must not be vacuous: some mutations keep the manifest valid
    expect(accepted).toBeGreaterThan(N / 20);
    expect(accepted).toBeLessThan(N);
  });
  it('the generated files are up to date with the schema and the graph contract', () => {
    // fails when schema/manifest.schema.json or schema/graphs.contract.json changed without `npm run gen:types`
    execFileSync(process.execPath, [resolve(root, 'scripts/gen-manifest-types.mjs'), '--check'], { stdio: 'pipe' });
  });
});
