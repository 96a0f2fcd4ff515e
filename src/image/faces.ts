/**
 * Face detection + 68-point landmarks with @vladmandic/face-api (MIT; weights ship inside the npm package,
 * bundled by Vite as same-origin assets: nothing is downloaded at run time). Runs in a module worker or the
 * main thread; uses tfjs' CPU backend by default (see docs/DECISIONS.md for the measured choice).
 *
 * Two stages: detection on a copy downscaled to ≤ `detectMaxSide` px, then landmarks on a square crop around
 * each face taken from the full-resolution image, so landmark precision does not depend on the photo's size.
 */
import type * as FaceApi from '@vladmandic/face-api';
import tinyManifest from '@vladmandic/face-api/model/tiny_face_detector_model-weights_manifest.json';
import tinyBinUrl from '@vladmandic/face-api/model/tiny_face_detector_model.bin?url';
import ssdManifest from '@vladmandic/face-api/model/ssd_mobilenetv1_model-weights_manifest.json';
import ssdBinUrl from '@vladmandic/face-api/model/ssd_mobilenetv1_model.bin?url';
import lmManifest from '@vladmandic/face-api/model/face_landmark_68_model-weights_manifest.json';
import lmBinUrl from '@vladmandic/face-api/model/face_landmark_68_model.bin?url';
import type { RGBAImage } from './types';
import type { Point } from './align';
import { resizePlanes } from './tensor';
import { landmarkCropBox, type DetectedFace } from './faces-core';

export type { DetectedFace } from './faces-core';
export { pickDefaultFace, noFaceMessage } from './faces-core';

export interface FaceDetectorOptions {
  /** tfjs backend: 'cpu' (default: works everywhere, in workers, and is deterministic) or 'webgl'. */
  backend?: 'cpu' | 'webgl';
  /** 'tiny' (190 KB, fast) or 'ssd' (5.4 MB SSD MobileNet v1, better on small faces). */
  detector?: 'tiny' | 'ssd';
  /** Longest side of the image the detector sees. */
  detectMaxSide?: number;
  minScore?: number;
  /** Tiny detector input size (multiple of 32). */
  inputSize?: number;
  /** Base URL prefix for fetching the weights (tests); defaults to the bundled asset URLs. */
  fetchImpl?: typeof fetch;
  /** Progress / timing log. */
  log?: (msg: string) => void;
}

type WeightsManifest = { weights: { name: string; shape: number[]; dtype: string; quantization?: unknown }[]; paths?: string[] }[];

let faceapi: typeof FaceApi;

/**
 * Import face-api (and its bundled tfjs) lazily. tfjs captures `requestAnimationFrame` at module evaluation
 * for its `nextFrame()`; in a dedicated worker rAF exists but never fires (no canvas is being presented), which
 * hangs detection forever. So hide it while the module evaluates; tfjs then falls back to an immediate callback.
 */
async function importFaceApi(): Promise<typeof FaceApi> {
  if (faceapi) return faceapi;
  const g = globalThis as { requestAnimationFrame?: unknown; WorkerGlobalScope?: unknown };
  const inWorker = typeof g.WorkerGlobalScope !== 'undefined';
  const hide = inWorker && typeof g.requestAnimationFrame === 'function';
  if (hide) Object.defineProperty(globalThis, 'requestAnimationFrame', { value: undefined, configurable: true, writable: true });
  try {
    faceapi = await import('@vladmandic/face-api');
  } finally {
    if (hide) delete (globalThis as { requestAnimationFrame?: unknown }).requestAnimationFrame;
  }
  if (typeof document === 'undefined') {
    // face-api only knows "browser" (DOM) and "node" environments; in a worker give it one made of
    // OffscreenCanvas. We only ever pass tensors, so the media-element classes just need to exist.
    class NoElement {}
    const env = {
      Canvas: OffscreenCanvas,
      CanvasRenderingContext2D: OffscreenCanvasRenderingContext2D,
      Image: NoElement,
      ImageData,
      Video: NoElement,
      createCanvasElement: () => new OffscreenCanvas(1, 1),
      createImageElement: () => {
        throw new Error('no <img> in a worker');
      },
      fetch: fetch.bind(globalThis),
      readFile: () => {
        throw new Error('no file system in a worker');
      },
    };
    (faceapi.env as unknown as { setEnv(e: unknown): void }).setEnv(env);
  }
  return faceapi;
}

async function loadNet(net: { loadFromWeightMap(m: unknown): void }, manifest: WeightsManifest, url: string, f: typeof fetch) {
  const res = await f(new URL(url, import.meta.url).href);
  if (!res.ok) throw new Error(`face model weights: HTTP ${res.status} for ${url}`);
  const buf = await res.arrayBuffer();
  const specs = manifest.flatMap((g) => g.weights);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const map = (faceapi.tf as any).io.decodeWeights(buf, specs);
  net.loadFromWeightMap(map);
}

export interface FaceDetector {
  backend: string;
  detector: 'tiny' | 'ssd';
  detect(image: RGBAImage): Promise<DetectedFace[]>;
  dispose(): void;
}

/** Load the networks once; `detect` can then be called for each photo. */
export async function createFaceDetector(opts: FaceDetectorOptions = {}): Promise<FaceDetector> {
  await importFaceApi();
  const tf = faceapi.tf as unknown as {
    setBackend(b: string): Promise<boolean>;
    ready(): Promise<void>;
    getBackend(): string;
    tensor3d(d: Int32Array | Float32Array, shape: [number, number, number], dtype?: string): { dispose(): void };
    engine(): { registryFactory: Record<string, unknown> };
    removeBackend(name: string): void;
  };
  // Never let tfjs fall back to its WASM backend (it would try to fetch .wasm files we do not ship).
  try {
    tf.removeBackend('wasm');
  } catch {
    /* not registered */
  }
  const backend = opts.backend ?? 'cpu';
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} is not available here`);
  await tf.ready();
  const f = opts.fetchImpl ?? fetch.bind(globalThis);
  const detector = opts.detector ?? 'tiny';
  const nets = faceapi.nets;
  if (detector === 'tiny') await loadNet(nets.tinyFaceDetector, tinyManifest as WeightsManifest, tinyBinUrl, f);
  else await loadNet(nets.ssdMobilenetv1, ssdManifest as WeightsManifest, ssdBinUrl, f);
  await loadNet(nets.faceLandmark68Net, lmManifest as WeightsManifest, lmBinUrl, f);
  const maxSide = opts.detectMaxSide ?? 800;
  const minScore = opts.minScore ?? 0.5;

  const toTensor = (px: ArrayLike<number>, w: number, h: number, channels: number) => {
    const d = new Int32Array(w * h * 3);
    for (let i = 0; i < w * h; i++) {
      d[i * 3] = Math.round(px[i * channels]);
      d[i * 3 + 1] = Math.round(px[i * channels + 1]);
      d[i * 3 + 2] = Math.round(px[i * channels + 2]);
    }
    return tf.tensor3d(d, [h, w, 3], 'int32');
  };

  async function detect(image: RGBAImage): Promise<DetectedFace[]> {
    opts.log?.(`detect: start ${image.width}x${image.height}`);
    const { width: W, height: H } = image;
    const s = Math.min(1, maxSide / Math.max(W, H));
    const dw = Math.max(1, Math.round(W * s)), dh = Math.max(1, Math.round(H * s));
    const small = s < 1 ? resizePlanes(image.data, W, H, 4, dw, dh) : image.data;
    opts.log?.(`detect: resized`);
    const log = opts.log ?? (() => {});
    const t0 = performance.now();
    const input = toTensor(small, dw, dh, 4);
    log(`detect: input ${dw}x${dh}`);
    let dets: FaceApi.FaceDetection[];
    try {
      const options =
        detector === 'tiny'
          ? new faceapi.TinyFaceDetectorOptions({ inputSize: opts.inputSize ?? 416, scoreThreshold: minScore })
          : new faceapi.SsdMobilenetv1Options({ minConfidence: minScore, maxResults: 20 });
      // .run(), not `await task`: the task's thenable drops rejections (an error would hang forever).
      dets = await faceapi.detectAllFaces(input as unknown as FaceApi.TNetInput, options).run();
    } finally {
      input.dispose();
    }
    log(`detect: ${dets.length} boxes in ${Math.round(performance.now() - t0)} ms`);
    const faces: DetectedFace[] = [];
    for (const det of dets) {
      const box = { x: det.box.x / s, y: det.box.y / s, width: det.box.width / s, height: det.box.height / s };
      // Landmarks from a square crop of the full-resolution image, resampled to 112 px (the net's input).
      const crop = landmarkCropBox(box, W, H);
      const N = 112;
      const cropPx = new Float32Array(crop.side * crop.side * 4);
      for (let y = 0; y < crop.side; y++)
        for (let x = 0; x < crop.side; x++) {
          const sx = Math.min(W - 1, Math.max(0, crop.x + x)), sy = Math.min(H - 1, Math.max(0, crop.y + y));
          const si = (sy * W + sx) * 4, oi = (y * crop.side + x) * 4;
          cropPx[oi] = image.data[si];
          cropPx[oi + 1] = image.data[si + 1];
          cropPx[oi + 2] = image.data[si + 2];
        }
      const resized = crop.side === N ? cropPx : resizePlanes(cropPx, crop.side, crop.side, 4, N, N);
      const t = toTensor(resized, N, N, 4);
      let lm: FaceApi.FaceLandmarks68;
      try {
        lm = (await nets.faceLandmark68Net.detectLandmarks(t as unknown as FaceApi.TNetInput)) as FaceApi.FaceLandmarks68;
      } finally {
        t.dispose();
      }
      const landmarks: Point[] = lm.relativePositions.map((p) => [crop.x + p.x * crop.side, crop.y + p.y * crop.side]);
      faces.push({ box, score: det.score, landmarks });
    }
    return faces.sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height);
  }

  return {
    backend: tf.getBackend(),
    detector,
    detect,
    dispose() {
      /* nets stay loaded for the worker's lifetime */
    },
  };
}
