import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { validateManifest } from './manifest';

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
  it('tolerates outputs declared with unknown (non-positive) dims, never inputs', () => {
    const m = tiny();
    m.graphs.grad_fzplus.outputs[2].shape = [0, 0, 0];
    expect(validateManifest(m).name).toBe('tiny-test');
    m.graphs.grad_fzplus.inputs[2].shape = [0, 0, 0];
    expect(() => validateManifest(m)).toThrow(/grad_fzplus' zplus has shape \[0,0,0\]/);
  });
  it('the generated files are up to date with the schema and the graph contract', () => {
    // fails when schema/manifest.schema.json or schema/graphs.contract.json changed without `npm run gen:types`
    execFileSync(process.execPath, [resolve(root, 'scripts/gen-manifest-types.mjs'), '--check'], { stdio: 'pipe' });
  });
});
