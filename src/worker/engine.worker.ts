/// <reference lib="webworker" />
/** Module worker: hosts the engine and exposes it with comlink. */
import * as Comlink from 'comlink';
import { Engine } from '../engine/engine';
import { GPU_POWER_PREFERENCE, selectBackend, type BackendInfo } from '../engine/runtime/backend';
import type { Ort } from '../engine/runtime/ort';
import type { EngineApi, InitOptions } from './protocol';
import { defaultPackStorage, makePackFetch } from '../engine/pack/store';
import { defaultAddedDirections } from '../engine/pack/addedDirections';

let engine: Engine | null = null;
let backendListener: ((b: BackendInfo) => void) | null = null;

function need(): Engine {
  if (!engine) throw Object.assign(new Error('engine not initialised'), { name: 'StateError' });
  return engine;
}

/** Bench-only init fields (not part of the UI protocol): the ORT build, and extra session options to A/B. */
type BenchInit = InitOptions & { ortBuild?: 'jsep' | 'wasm'; sessionOptions?: Record<string, unknown> };

/**
 * Which onnxruntime-web build the engine gets. WebGPU needs the JSEP build (`onnxruntime-web`, WebGPU + WASM);
 * on WASM the plain build (`onnxruntime-web/wasm`) runs the same CPU kernels with far less overhead per graph run
 * (demo64 gradient step, 1 thread: 2-3x faster; docs/WASM_SPEED.md), so it is used whenever the backend is WASM.
 * A later WebGPU -> WASM fallback keeps the JSEP build: it works, slower. `ortBuild` (bench only) forces one build.
 */
async function loadOrt(backend: BackendInfo, forced?: 'jsep' | 'wasm'): Promise<Ort> {
  const build = forced ?? (backend.kind === 'webgpu' ? 'jsep' : 'wasm');
  const mod = build === 'jsep' ? await import('onnxruntime-web') : await import('onnxruntime-web/wasm');
  return mod as unknown as Ort;
}

/**
 * A page's progress callback (a Comlink proxy), called without waiting so that the work does not wait for the page,
 * and a way to return the work's result only once every report has been delivered. Each call is a message on the
 * proxy's own port, which is not ordered with the result on the worker's port, so the last reports could reach the
 * page after the result. Calls on one port are answered in order: the last call's answer means all have arrived.
 */
function inOrder<P>(onProgress: ((p: P) => unknown) | undefined, wrap: (p: P) => P = (p) => p) {
  let last: unknown;
  return {
    report: (p: P) => {
      if (onProgress) last = onProgress(wrap(p));
    },
    async after<R>(work: Promise<R>): Promise<R> {
      const res = await work;
      await Promise.resolve(last).catch(() => undefined);
      return res;
    },
  };
}

const api: EngineApi = {
  async init(opts: BenchInit) {
    if (!engine) {
      const backend = await selectBackend(opts.backend, opts.threads);
      const ort = await loadOrt(backend, opts.ortBuild);
      ort.env.wasm.wasmPaths = opts.wasmPaths;
      ort.env.logLevel = 'error';
      if (backend.kind === 'webgpu') ort.env.webgpu.powerPreference = GPU_POWER_PREFERENCE; // the adapter selectBackend inspected
      const extra = opts.sessionOptions;
      engine = new Engine(ort, {
        sessionFactory: extra ? (_key, bytes, options) => ort.InferenceSession.create(bytes, { ...options, ...extra }) : undefined,
        backend,
        threads: opts.threads,
        keepOnGpu: opts.keepOnGpu ?? true,
        fetch: makePackFetch(defaultPackStorage), // imported packs (opfs:/packs/<id>/) come from OPFS
        onBackendChange: (b) => backendListener?.(b),
        addedDirections: defaultAddedDirections(), // directions added to a pack live in OPFS beside it
        appGraphsUrl: opts.appGraphsUrl,
      });
    }
    return engine.backend!;
  },
  async loadPack(url, onProgress) {
    const progress = inOrder(onProgress);
    return progress.after(need().loadPack(url, progress.report));
  },
  warmUp: (opts) => need().warmUp(opts),
  async setTarget(img) {
    need().setTarget(img);
  },
  async invert(opts, onProgress) {
    const progress = inOrder(onProgress, (p) => (p.preview ? Comlink.transfer(p, [p.preview.buffer]) : p));
    const res = await progress.after(need().invert(opts, progress.report));
    return Comlink.transfer(res, [res.image.buffer]);
  },
  async cancel() {
    engine?.cancel();
  },
  async render(values) {
    const r = await need().render(values);
    return 'image' in r ? Comlink.transfer(r, [r.image.buffer]) : r;
  },
  async setEditMode(mode) {
    need().setEditMode(mode);
  },
  async backend() {
    return engine?.backend ?? null;
  },
  async onBackendChange(cb) {
    backendListener = cb;
  },
  async exportCodes() {
    return engine?.exportCodes() ?? null;
  },
  async importCodes(codes) {
    const res = await need().importCodes(codes);
    return Comlink.transfer(res, [res.image.buffer]);
  },
  addDirections: (files, space) => need().addDirections(files, space),
  async findDirections(opts, onProgress) {
    const progress = inOrder(onProgress);
    return progress.after(need().findDirections(opts, progress.report));
  },
  async cancelFindDirections() {
    engine?.cancelFindDirections();
  },
  clearAddedDirections: () => need().clearAddedDirections(),
  async markExample(cls, saved) {
    return need().markExample(cls, saved);
  },
  async clearExamples() {
    return need().clearExamples();
  },
  teachSlider: (label) => need().teachSlider(label),
  simulateDeviceLoss: () => need().simulateDeviceLoss(),
};

Comlink.expose(api);
