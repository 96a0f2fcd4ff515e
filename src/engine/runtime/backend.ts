/**
 * The backend and WASM thread choice, made once per worker: WebGPU when navigator.gpu gives an adapter (unless WASM
 * is asked for), else WASM. Everything else (the ORT build the worker loads, ORT's thread setting, the WASM
 * fallback after a GPU failure) reads the result from here.
 */
import type { Ort } from './ort';

export type BackendKind = 'webgpu' | 'wasm';
export type BackendPreference = 'auto' | BackendKind;

export interface BackendInfo {
  kind: BackendKind;
  /** WASM threads (ort.env.wasm.numThreads); 0 for WebGPU. */
  threads: number;
  crossOriginIsolated: boolean;
  /** e.g. "google swiftshader (fallback)". */
  adapter?: string;
  /** Why WebGPU was not used, or why the engine fell back to WASM. */
  note?: string;
  /** WebGPU adapter with the `shader-f16` feature: a pack's `<key>@fp16` graphs are used. */
  f16?: boolean;
}

interface GpuLike {
  requestAdapter(opts?: unknown): Promise<{ info?: { vendor?: string; architecture?: string }; isFallbackAdapter?: boolean; features?: { has(f: string): boolean } } | null>;
}

/**
 * The adapter the engine asks for, here and (through ort.env.webgpu) in onnxruntime-web: the discrete GPU on a
 * laptop with two, not the integrated one a browser may otherwise pick. ORT then requests a device with the
 * adapter's own limits (maxStorageBufferBindingSize, maxBufferSize), not WebGPU's 128 / 256 MiB defaults.
 */
export const GPU_POWER_PREFERENCE = 'high-performance' as const;

type Env = { navigator?: { gpu?: GpuLike; hardwareConcurrency?: number }; crossOriginIsolated?: boolean };
const env = () => globalThis as unknown as Env;

/**
 * WASM threads: 1 unless cross-origin isolated (no SharedArrayBuffer otherwise); then `override` when given, else
 * min(hardwareConcurrency, 4).
 */
export function wasmThreads(override?: number): number {
  const g = env();
  if (!g.crossOriginIsolated) return 1;
  return override && override > 0 ? override : Math.max(1, Math.min(g.navigator?.hardwareConcurrency ?? 1, 4));
}

/** Picks the backend (see the module comment). Asks for a WebGPU adapter at most once. */
export async function selectBackend(preference: BackendPreference = 'auto', threadsOverride?: number): Promise<BackendInfo> {
  const g = env();
  const isolated = !!g.crossOriginIsolated;
  const threads = wasmThreads(threadsOverride);
  let note: string | undefined;
  if (preference !== 'wasm') {
    const gpu = g.navigator?.gpu;
    if (!gpu) note = 'WebGPU not available in this browser';
    else {
      try {
        const adapter = await gpu.requestAdapter({ powerPreference: GPU_POWER_PREFERENCE });
        if (adapter) {
          const info = adapter.info ?? {};
          const name = [info.vendor, info.architecture].filter(Boolean).join(' ') || 'WebGPU adapter';
          // onnxruntime-web asks for 'shader-f16' itself when the adapter has it
          const f16 = !!adapter.features?.has('shader-f16');
          return { kind: 'webgpu', threads: 0, crossOriginIsolated: isolated, adapter: name + (adapter.isFallbackAdapter ? ' (software fallback)' : ''), f16 };
        }
        note = 'no WebGPU adapter';
      } catch (e) {
        note = `WebGPU adapter request failed: ${(e as Error).message}`;
      }
    }
  } else note = 'WASM requested';
  if (!isolated) note = (note ? note + '; ' : '') + 'not cross-origin isolated: 1 WASM thread';
  return { kind: 'wasm', threads, crossOriginIsolated: isolated, note };
}

/** The WASM backend that replaces `from` after a GPU failure (the adapter stays named); `note` says why. */
export function wasmFallback(from: BackendInfo, note: string, threadsOverride?: number): BackendInfo {
  return { ...from, kind: 'wasm', threads: wasmThreads(threadsOverride), note };
}

let wasmConfigured = false;
/**
 * ORT's WASM settings freeze at the first session of a worker: set the thread count once, explicitly: wasmThreads,
 * the count selectBackend and wasmFallback report (also on WebGPU, whose CPU kernels and fallback run on WASM).
 */
export function configureWasm(ort: Ort, threadsOverride?: number) {
  if (wasmConfigured) return;
  wasmConfigured = true;
  ort.env.wasm.numThreads = wasmThreads(threadsOverride);
}
