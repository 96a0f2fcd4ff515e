// Everything crossing the worker boundary must survive structured cloning (postMessage) unchanged, and engine errors
// must keep their machine-readable name the way comlink re-creates thrown errors.
import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import * as ortNode from 'onnxruntime-node';
import { Engine } from '../engine/engine';
import { EngineError, isEngineErrorName } from '../engine/errors';
import type { Ort } from '../engine/runtime/ort';
import type { EngineApi, InvertProgress, InvertResult, PackSummary, RenderResult } from './protocol';

const PACK = resolve(__dirname, '../../public/models/tiny-test');
const fetchFile = (async (url: string) => new Response(new Uint8Array(readFileSync(String(url).replace('file://', ''))))) as unknown as typeof fetch;

describe('worker protocol', () => {
  it('summary, progress, results and frames are structured-cloneable', async () => {
    const e = new Engine(ortNode as unknown as Ort, {
      backend: 'wasm',
      fetch: fetchFile,
      sessionFactory: (k) => (ortNode as any).InferenceSession.create(resolve(PACK, `${k}.onnx`)),
    });
    const summary: PackSummary = await e.loadPack('file://' + PACK);
    expect(structuredClone(summary)).toEqual(summary);
    e.setTarget({ width: 32, height: 32, data: new Uint8ClampedArray(32 * 32 * 4).fill(128) });
    const progress: InvertProgress[] = [];
    const res: InvertResult = await e.invert({ space: 'F/Z+', steps: 4, previewEvery: 2 }, (p) => progress.push(p));
    for (const p of progress) expect(structuredClone(p)).toEqual(p);
    expect(progress.some((p) => p.preview instanceof Uint8ClampedArray)).toBe(true);
    expect(structuredClone(res)).toEqual(res);
    const frame = (await e.render({ tone: 1 })) as RenderResult;
    expect(frame.image).toBeInstanceOf(Uint8ClampedArray);
    expect(frame.image.length).toBe(32 * 32 * 4);
    expect(structuredClone(frame)).toEqual(frame);
  });

  it('engine errors keep their code in `name` after comlink-style re-creation', () => {
    const err = new EngineError('PackIntegrityError', "graph 'mapping': sha256 mismatch");
    const wire = structuredClone({ message: err.message, name: err.name, stack: err.stack });
    const back = Object.assign(new Error(wire.message), wire);
    expect(back.name).toBe('PackIntegrityError');
    expect(isEngineErrorName(back.name)).toBe(true);
    expect(back.message).toMatch(/mapping/);
  });

  it('the API surface is what the UI expects', () => {
    const methods: (keyof EngineApi)[] = ['init', 'loadPack', 'warmUp', 'setTarget', 'invert', 'cancel', 'render', 'setEditMode', 'backend', 'onBackendChange', 'exportCodes', 'importCodes', 'addDirections', 'findDirections', 'cancelFindDirections', 'clearAddedDirections', 'markExample', 'clearExamples', 'teachSlider', 'simulateDeviceLoss'];
    expect(new Set(methods).size).toBe(methods.length);
  });
});
