// Test helper: an Engine on the tiny test pack with onnxruntime-node, reading the pack from disk by file:// URLs.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as ortNode from 'onnxruntime-node';
import { Engine } from '../engine';
import type { Ort } from '../runtime/ort';
import type { MemoryAddedDirections } from '../pack/addedDirections';

export const TINY_PACK = resolve(__dirname, '../../../public/models/tiny-test');

export const fileFetch = (async (url: string) => {
  const p = String(url).replace(/^file:\/\//, '');
  return existsSync(p) ? new Response(new Uint8Array(readFileSync(p))) : new Response('not found', { status: 404 });
}) as unknown as typeof fetch;

/** The tiny pack loaded, added directions kept in `store`, a flat grey 32x32 target set. */
export async function tinyPackEngine(store: MemoryAddedDirections): Promise<Engine> {
  const e = new Engine(ortNode as unknown as Ort, {
    backend: 'wasm',
    fetch: fileFetch,
    sessionFactory: (key) => (ortNode as any).InferenceSession.create(resolve(TINY_PACK, `${key}.onnx`)),
    addedDirections: store,
  });
  await e.loadPack('file://' + TINY_PACK);
  e.setTarget({ width: 32, height: 32, data: new Uint8ClampedArray(32 * 32 * 4).fill(128) });
  return e;
}
