/**
 * A pack ready to run: loaded and checked (pack/load.ts), with the sessions the editor needs created up front, so a
 * broken graph is reported at load time, not mid-edit. A graph WebGPU cannot run moves the whole pack to WASM.
 */
import { wasmFallback, type BackendInfo } from '../runtime/backend';
import type { Ort, SessionFactory } from '../runtime/ort';
import { Runtime } from '../runtime/sessions';
import { loadModelPack, type LoadProgress, type ModelPack } from './load';

export interface OpenPackOptions {
  fetch?: typeof fetch;
  onProgress?: (p: LoadProgress) => void;
  keepOnGpu: boolean;
  sessionFactory?: SessionFactory;
  /** WASM thread override for a fallback. */
  threads?: number;
  /** Called when the pack moves to WASM, before it is loaded again. */
  onFallback: (b: BackendInfo) => void;
}

/** Whether `backend` runs a pack's fp16 copies: only where they run natively (WebGPU with shader-f16). */
const usesFp16 = (backend: BackendInfo) => backend.kind === 'webgpu' && !!backend.f16;

/** The runtime of `pack` on `backend`, with the fp16 copies where usesFp16. */
export function runtimeFor(ort: Ort, pack: ModelPack, backend: BackendInfo, o: Pick<OpenPackOptions, 'keepOnGpu' | 'sessionFactory'>): Runtime {
  return new Runtime(ort, pack, backend.kind, { keepOnGpu: o.keepOnGpu, sessionFactory: o.sessionFactory, fp16: usesFp16(backend) });
}

export async function openPack(ort: Ort, url: string, backend: BackendInfo, o: OpenPackOptions): Promise<{ pack: ModelPack; runtime: Runtime; backend: BackendInfo }> {
  const pack = await loadModelPack(url, { fetch: o.fetch, onProgress: o.onProgress, fp16: usesFp16(backend) });
  const runtime = runtimeFor(ort, pack, backend, o);
  try {
    await runtime.session('mapping');
    await runtime.session('synthesis_from_f');
  } catch (e) {
    await runtime.dispose();
    if (backend.kind !== 'webgpu') throw e;
    const wasm = wasmFallback(backend, `WebGPU failed (${(e as Error).message}); using WASM`, o.threads);
    o.onFallback(wasm);
    return openPack(ort, url, wasm, o);
  }
  return { pack, runtime, backend };
}
