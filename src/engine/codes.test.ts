// Saved sessions: exported codes (F/Z+ + optimizer state) re-imported into a fresh engine give the same
// reconstruction, and an inversion resumes from them exactly as if it had never stopped.
import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import * as ortNode from 'onnxruntime-node';
import { Engine } from './engine';
import type { Ort } from './runtime/ort';

const PACK = resolve(__dirname, '../../public/models/tiny-test');
const fetchFile = (async (url: string) => new Response(new Uint8Array(readFileSync(String(url).replace('file://', ''))))) as unknown as typeof fetch;
async function engine() {
  const e = new Engine(ortNode as unknown as Ort, {
    backend: 'wasm',
    fetch: fetchFile,
    sessionFactory: (k) => (ortNode as any).InferenceSession.create(resolve(PACK, `${k}.onnx`)),
  });
  const s = await e.loadPack('file://' + PACK);
  const R = s.resolution;
  const px = new Uint8ClampedArray(R * R * 4);
  for (let i = 0; i < px.length; i++) px[i] = (i * 37) % 251;
  e.setTarget({ width: R, height: R, data: px });
  return e;
}

describe('export / import codes', () => {
  it('restores the reconstruction and resumes identically', async () => {
    const a = await engine();
    const opts = { space: 'F/Z+' as const, steps: 3, previewEvery: 0 };
    await a.invert(opts);
    const saved = structuredClone(a.exportCodes()!);
    expect(saved.step).toBe(3);
    const cont = await a.invert({ ...opts, steps: 5, resume: true });

    const b = await engine();
    expect(b.exportCodes()).toBeNull();
    const r = await b.importCodes(saved);
    expect(r.steps).toBe(3);
    const again = await b.invert({ ...opts, steps: 5, resume: true });
    expect(Array.from(again.image)).toEqual(Array.from(cont.image));
    expect(again.psnr).toBeCloseTo(cont.psnr, 6);
  });
  it('refuses codes that do not fit the pack', async () => {
    const a = await engine();
    await a.invert({ space: 'F/Z+', steps: 1, previewEvery: 0 });
    const c = a.exportCodes()!;
    await expect(a.importCodes({ ...c, code: c.code.subarray(1) })).rejects.toThrow(/does not fit/);
    await expect(a.importCodes({ ...c, f: null })).rejects.toThrow(/F size/);
  });
});
