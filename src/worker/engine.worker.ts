/// <reference lib="webworker" />
/** Module worker: hosts the engine and exposes it with comlink. */
import * as Comlink from 'comlink';
import * as ort from 'onnxruntime-web';
import { Engine } from '../engine/engine';
import { selectBackend, type BackendInfo, type Ort } from '../engine/runtime';
import type { EngineApi, ImagePayload, InitOptions } from './protocol';
import { defaultPackStorage, makePackFetch } from '../engine/packStore';

let engine: Engine | null = null;
let detector: Promise<import('../image/faces').FaceDetector> | null = null;
let backendListener: ((b: BackendInfo) => void) | null = null;

function need(): Engine {
  if (!engine) throw Object.assign(new Error('engine not initialised'), { name: 'StateError' });
  return engine;
}

const api: EngineApi = {
  async init(opts: InitOptions) {
    if (!engine) {
      ort.env.wasm.wasmPaths = opts.wasmPaths;
      ort.env.logLevel = 'error';
      engine = new Engine(ort as unknown as Ort, {
        backend: opts.backend,
        threads: opts.threads,
        keepOnGpu: opts.keepOnGpu ?? true,
        fetch: makePackFetch(defaultPackStorage), // imported packs (opfs:/packs/<id>/) come from OPFS
        onBackendChange: (b) => backendListener?.(b),
      });
    }
    if (!engine.backend) engine.backend = await selectBackend(ort as unknown as Ort, opts.backend, opts.threads);
    return engine.backend;
  },
  loadPack: (url, onProgress) => need().loadPack(url, onProgress),
  async setTarget(img: ImagePayload) {
    need().setTarget(img.data, img.width, img.height);
  },
  async invert(opts, onProgress) {
    const res = await need().invert(opts, (p) => {
      if (!onProgress) return;
      onProgress(p.preview ? Comlink.transfer(p, [p.preview.buffer]) : p);
    });
    return Comlink.transfer(res, [res.image.buffer]);
  },
  async cancel() {
    engine?.cancel();
  },
  async render(values) {
    const r = await need().render(values);
    return 'image' in r ? Comlink.transfer(r, [r.image.buffer]) : r;
  },
  async backend() {
    return engine?.backend ?? null;
  },
  async onBackendChange(cb) {
    backendListener = cb;
  },
  async detectFaces(img) {
    if (!detector) {
      // face-api + tfjs (~1.3 MB) only load when a pack asks for landmark alignment.
      detector = import('../image/faces').then((m) => m.createFaceDetector({ inputSize: 320, detectMaxSide: 640 }));
      detector.catch(() => (detector = null));
    }
    const det = await detector;
    return det.detect({ width: img.width, height: img.height, data: img.data });
  },
  async exportCodes() {
    return engine?.exportCodes() ?? null;
  },
  async importCodes(codes) {
    const res = await need().importCodes(codes);
    return Comlink.transfer(res, [res.image.buffer]);
  },
  simulateDeviceLoss: () => need().simulateDeviceLoss(),
};

Comlink.expose(api);
