import { describe, expect, it } from 'vitest';
import { selectBackend } from './backend';
import type { Ort } from './ort';
import { isOutOfMemory, Runtime } from './sessions';
import type { ModelPack } from '../pack/load';

const pack = (): ModelPack => ({
  baseUrl: 'mem:/',
  manifest: { graphs: { mapping: { inputs: [], outputs: [] } } } as unknown as ModelPack['manifest'],
  graphs: { mapping: new Uint8Array([1]) },
  graphs16: { mapping: new Uint8Array([2]) },
});

describe('large packs: fp16 graphs and memory errors', () => {
  it('uses the @fp16 copy only when asked (WebGPU with shader-f16)', async () => {
    const seen: number[] = [];
    const factory = async (_k: string, bytes: Uint8Array) => (seen.push(bytes[0]), {} as never);
    await new Runtime({} as Ort, pack(), 'webgpu', { sessionFactory: factory, fp16: true }).session('mapping');
    await new Runtime({} as Ort, pack(), 'wasm', { sessionFactory: factory }).session('mapping');
    expect(seen).toEqual([2, 1]);
  });

  it('an allocation failure becomes a message about memory, not a dead page', async () => {
    const factory = async () => {
      throw new Error('Aborted(). Build with -sASSERTIONS for more info.');
    };
    const rt = new Runtime({} as Ort, pack(), 'wasm', { sessionFactory: factory });
    await expect(rt.session('mapping')).rejects.toThrow(/does not fit in WebAssembly memory \(at most 4 GB/);
    expect(isOutOfMemory('RangeError: WebAssembly.Memory.grow(): Maximum memory size exceeded')).toBe(true);
    expect(isOutOfMemory("graph input 'z' has the wrong shape")).toBe(false);
  });

  it('selectBackend asks for the high-performance adapter and reports shader-f16', async () => {
    const g = globalThis as unknown as { navigator?: unknown };
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    let asked: unknown;
    Object.defineProperty(globalThis, 'navigator', {
      configurable: true,
      value: { hardwareConcurrency: 2, gpu: { requestAdapter: async (o: unknown) => ((asked = o), { info: { vendor: 'x' }, features: new Set(['shader-f16']) }) } },
    });
    try {
      const b = await selectBackend('auto');
      expect(b.kind).toBe('webgpu');
      expect(b.f16).toBe(true);
      expect(asked).toEqual({ powerPreference: 'high-performance' });
    } finally {
      if (saved) Object.defineProperty(globalThis, 'navigator', saved);
      else delete g.navigator;
    }
  });
});

describe('transfer counting', () => {
  it('counts CPU data fed and outputs read, not tensors kept where the session left them', async () => {
    class T {
      location = 'cpu';
      constructor(readonly type: string, readonly data: Float32Array, readonly dims: number[]) {}
      dispose() {}
    }
    const p: ModelPack = {
      baseUrl: 'mem:/',
      manifest: { graphs: { mapping: { inputs: [{ name: 'z', shape: [2, 4] }], outputs: [] } } } as unknown as ModelPack['manifest'],
      graphs: { mapping: new Uint8Array([1]) },
    };
    const session = { run: async () => ({ w: new T('float32', new Float32Array(8), [2, 4]), extra: new T('float32', new Float32Array(3), [3]) }) };
    const rt = new Runtime({ Tensor: T } as unknown as Ort, p, 'wasm', { sessionFactory: async () => session as never });
    const out = await rt.runKeeping('mapping', { z: new Float32Array(8) }, ['extra']);
    expect(rt.transfer).toEqual({ up: 32, down: 32 });
    expect(Object.keys(out.cpu)).toEqual(['w']);
    expect(Object.keys(out.kept)).toEqual(['extra']);
    await rt.run('mapping', { z: new Float32Array(8) });
    expect(rt.transfer).toEqual({ up: 64, down: 32 + 32 + 12 });
  });
});
