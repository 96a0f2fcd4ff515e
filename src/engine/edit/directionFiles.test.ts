// Direction files in the browser: .npy / .npz / JSON parsing, the Z / W name rule, and each bad-file message.
import { describe, expect, it } from 'vitest';
import { readDirectionFile, nameSpace } from './directionFiles';
import { parseNpy } from './npy';
import { npyBytes, npzBytes } from './npyTestFiles';

const ramp = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const file = (name: string, bytes: Uint8Array) => ({ name, bytes });
const json = (name: string, doc: unknown) => file(name, new TextEncoder().encode(JSON.stringify(doc)));

describe('npy', () => {
  it('reads float32 / float64 arrays with their shape', () => {
    expect(parseNpy(npyBytes([1.5, -2, 3], [1, 3])).shape).toEqual([1, 3]);
    expect(Array.from(parseNpy(npyBytes([1.5, -2, 3], [3], '<f8')).data)).toEqual([1.5, -2, 3]);
  });
  it('refuses pickles and other files', () => {
    const pickled = npyBytes([1], [1]);
    pickled.set(new TextEncoder().encode("|O"), 21); // descr '<f4' -> '|O4'
    expect(() => parseNpy(pickled)).toThrow(/pickled|not supported/);
    expect(() => parseNpy(new TextEncoder().encode('hello world'))).toThrow(/magic/);
  });
});

describe('direction files', () => {
  it('InterFaceGAN .npy: one normal, Z unless the name has a _w token', () => {
    const [d] = readDirectionFile(file('boundary_smile.npy', npyBytes(ramp(16), [1, 16])));
    expect(d).toMatchObject({ id: 'smile', label: 'Smile', kind: 'interfacegan', space: 'z' });
    expect(d.vector).toHaveLength(16);
    expect(nameSpace('stylegan_ffhq_smile_w_boundary.npy')).toBe('w');
    expect(readDirectionFile(file('stylegan_ffhq_smile_w_boundary.npy', npyBytes(ramp(16), [16])))[0].space).toBe('w');
    expect(readDirectionFile(file('smile.npy', npyBytes(ramp(16), [16])), 'w')[0].space).toBe('w');
  });

  it('GANSpace .npz: lat_comp (K, 1, d) with lat_stdev (W files: the spread along each unit component)', () => {
    const comp = [...ramp(8).map((x) => 2 * x), ...ramp(8).map((x) => -x)];
    const npz = npzBytes({ lat_comp: npyBytes(comp, [2, 1, 8]), lat_stdev: npyBytes([4, 3], [2]), var_ratio: npyBytes([0.3, 0.1], [2]) });
    const ds = readDirectionFile(file('ffhq_w_pca.npz', npz));
    expect(ds.map((d) => d.id)).toEqual(['ffhq-w-pca-pc1', 'ffhq-w-pca-pc2']);
    expect(ds[0]).toMatchObject({ kind: 'ganspace', space: 'w', fields: { explainedVariance: expect.closeTo(0.3, 6) } });
    expect(ds[0].sigma).toBeCloseTo(4 / Math.hypot(...comp.slice(0, 8)), 6);
    expect(readDirectionFile(file('ffhq_pca.npz', npz))[0].sigma).toBeUndefined(); // Z file: lat_stdev is not a W spread
  });

  it('JSON: a list or {directions: [...]}, with a shipped set\'s shape', () => {
    const e = { id: 'a', label: 'A', kind: 'custom', vector: ramp(16), range: [-2, 2], layers: [1] };
    expect(readDirectionFile(json('x.json', [e]))[0]).toMatchObject({ id: 'a', space: 'z', fields: { range: [-2, 2], layers: [1] } });
    const set = readDirectionFile(json('set.json', { fits: { resolution: 1024, zDim: 512, numWs: 18 }, directions: [e] }));
    expect(set[0].fits).toMatchObject({ resolution: 1024 });
  });

  it('bad files name the file and the problem', () => {
    expect(() => readDirectionFile(file('a.pkl', new Uint8Array(4)))).toThrow(/a\.pkl: unknown direction file format '\.pkl'/);
    expect(() => readDirectionFile(file('nan.npy', npyBytes([1, NaN, 2], [3])))).toThrow(/nan\.npy: the boundary contains NaN/);
    expect(() => readDirectionFile(file('inf.npy', npyBytes([1, Infinity], [2])))).toThrow(/Inf/);
    expect(() => readDirectionFile(file('zero.npy', npyBytes([0, 0], [2])))).toThrow(/all zeros/);
    expect(() => readDirectionFile(file('two.npy', npyBytes(ramp(8), [2, 4])))).toThrow(/shape \(2, 4\); a direction is one vector/);
    expect(() => readDirectionFile(file('x.npz', npzBytes({ comp: npyBytes([1], [1]) })))).toThrow(/no lat_comp/);
    expect(() => readDirectionFile(file('x.npz', new Uint8Array([1, 2, 3])))).toThrow(/not a .npz/);
    expect(() => readDirectionFile(json('x.json', { nope: 1 }))).toThrow(/expected a list/);
    expect(() => readDirectionFile(file('x.json', new TextEncoder().encode('{oops')))).toThrow(/not a JSON file/);
  });
});
