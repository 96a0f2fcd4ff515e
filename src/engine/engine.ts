/**
 * The F/Z+ engine: model pack + ORT runtime + inversion + editing. Pure TypeScript, no DOM; runs in the worker
 * (and in node tests with onnxruntime-node).
 */
import { EngineError } from './errors';
import type { GraphKey, ModelPackManifest } from './manifest';
import { loadModelPack, type LoadProgress, type ModelPack } from './pack';
import { Runtime, selectBackend, type BackendInfo, type BackendKind, type Ort, type OrtTensor, type SessionFactory } from './runtime';
import { adamInit, adamStep, cloneAdamState, type AdamState } from './math/adam';
import { normaliseRows, sphereWalk, type WalkDirection } from './math/sphere';
import { truncateInPlace } from './math/truncation';
import { psnr } from './math/psnr';
import { randn } from './math/rng';
import { LatestWins, Mutex, isSuperseded, type Superseded } from './latest';
import { tensorToRgba } from '../image/tensor';

export type Space = 'W+' | 'Z+' | 'F/W+' | 'F/Z+';
export const SPACES: Space[] = ['F/Z+', 'F/W+', 'Z+', 'W+'];
export const SPACE_GRAPH: Record<Space, GraphKey> = {
  'W+': 'grad_wplus',
  'Z+': 'grad_zplus_nof',
  'F/W+': 'grad_fwplus',
  'F/Z+': 'grad_fzplus',
};
const hasF = (s: Space) => s.startsWith('F/');
const isZ = (s: Space) => s.endsWith('Z+');

export interface InvertOptions {
  space: Space;
  /** Total number of steps (a resumed run continues up to this count). */
  steps: number;
  lr?: number;
  /** [lambda_mse, lambda_perc, lambda_f]; default: manifest.loss.defaultWeights. */
  weights?: [number, number, number];
  /** Send a preview image every k steps (0: only at the end). */
  previewEvery?: number;
  seed?: number;
  /** Continue the previous inversion of the same photo and space instead of starting again. */
  resume?: boolean;
  /** Start from the encoder when the pack has one (default true). */
  useEncoder?: boolean;
}

export interface InvertProgress {
  step: number;
  totalSteps: number;
  /** Unweighted [MSE, perceptual, F] terms from the gradient graph. */
  loss: [number, number, number];
  /** Weighted total. */
  total: number;
  /** PSNR (dB) of the current reconstruction, from the MSE term. */
  psnr: number;
  msPerStep: number;
  preview?: Uint8ClampedArray;
  /** PSNR of the preview image (clamped to imageRange), when a preview is attached. */
  previewPsnr?: number;
}

export interface InvertResult {
  space: Space;
  steps: number;
  cancelled: boolean;
  psnr: number;
  image: Uint8ClampedArray;
  backend: BackendInfo;
}

export interface RenderResult {
  image: Uint8ClampedArray;
  ms: number;
}

export interface PackSummary {
  name: string;
  title: string;
  description?: string;
  resolution: number;
  imageRange: [number, number];
  alignment: ModelPackManifest['alignment'];
  /** strength: the pack's measured editStrength (own attribute's change in sigma at +2 sigma), when it has one. */
  directions: { id: string; label: string; kind: string; range: [number, number]; strength?: number }[];
  samples: string[];
  spaces: Space[];
  hasEncoder: boolean;
  defaultWeights: [number, number, number];
  perceptual: string;
  provenance: ModelPackManifest['provenance'];
}

export interface EngineOptions {
  backend?: 'auto' | BackendKind;
  /** WASM threads (default min(hardwareConcurrency, 4) when cross-origin isolated). */
  threads?: number;
  keepOnGpu?: boolean;
  sessionFactory?: SessionFactory;
  fetch?: typeof fetch;
  onBackendChange?: (b: BackendInfo) => void;
}

/** What warmUp() did: how many graph runs, how long, and why it stopped. */
export interface WarmUpResult {
  runs: number;
  ms: number;
  /** 'done': ran its budget; 'preempted': real work arrived; 'skipped': not useful here (see reason). */
  outcome: 'done' | 'preempted' | 'skipped';
  reason?: string;
}

/** Warm-up only where one gradient run is short, so that real work never waits long behind it. */
const WARM_MAX_RESOLUTION = 256;

/** The inversion state as data (codes F/Z+ etc. plus the optimizer state, so a restored session can resume). */
export interface SavedCodes {
  space: Space;
  step: number;
  f: Float32Array | null;
  fInit: Float32Array | null;
  code: Float32Array;
  adamF: AdamState | null;
  adamCode: AdamState;
}

interface InversionState {
  space: Space;
  f: Float32Array | null;
  fInit: Float32Array | null;
  code: Float32Array; // zplus or wplus, [numWs * dim]
  adamF: AdamState | null;
  adamCode: AdamState;
  step: number;
  targetVersion: number;
  id: number;
}

export class Engine {
  pack: ModelPack | null = null;
  runtime: Runtime | null = null;
  backend: BackendInfo | null = null;
  private target: Float32Array | null = null;
  private targetVersion = 0;
  private inv: InversionState | null = null;
  private cancelRequested = false;
  private inverting = false;
  private mutex = new Mutex();
  private consts = new Map<string, { data: Float32Array; dims: number[]; tensor?: OrtTensor; runtime?: Runtime }>();
  private invCounter = 0;
  /** Which inversion state (id:step) the 'f_edit' constant holds: F is fixed while editing, so it is uploaded once. */
  private fEditKey = '';
  private wDeltaBase: { z: Float32Array; w: Float32Array } | null = null;
  /** Counts graph runs asked for by real work; a warm-up stops when it changes. */
  private demand = 0;
  private renderer = new LatestWins<Record<string, number>, RenderResult>((a) => this.renderNow(a));

  constructor(private readonly ort: Ort, private readonly opts: EngineOptions = {}) {}

  get manifest(): ModelPackManifest {
    if (!this.pack) throw new EngineError('StateError', 'no model pack loaded');
    return this.pack.manifest;
  }

  /** Loads (or replaces) the model pack; on failure the previous pack stays usable. */
  async loadPack(url: string, onProgress?: (p: LoadProgress) => void): Promise<PackSummary> {
    this.demand++; // stops a warm-up of the current pack
    if (!this.backend) this.backend = await selectBackend(this.ort, this.opts.backend ?? 'auto', this.opts.threads);
    // fp16 copies only where they run natively: WebGPU with shader-f16
    const fp16 = this.backend.kind === 'webgpu' && !!this.backend.f16;
    const pack = await loadModelPack(url, { fetch: this.opts.fetch, onProgress, fp16 });
    const runtime = this.makeRuntime(pack, this.backend.kind);
    // Create the sessions the editor needs up front, so a broken graph is reported now, not mid-edit.
    try {
      await runtime.session('mapping');
      await runtime.session('synthesis_from_f');
    } catch (e) {
      if (this.backend.kind === 'webgpu') {
        // A graph WebGPU cannot run: fall back to WASM for the whole pack.
        await runtime.dispose();
        this.backend = { ...this.backend, kind: 'wasm', threads: this.opts.threads ?? wasmThreads(), note: `WebGPU failed (${(e as Error).message}); using WASM` };
        this.opts.onBackendChange?.(this.backend);
        return this.loadPack(url, onProgress);
      }
      await runtime.dispose();
      throw e;
    }
    // under the mutex: a graph run in flight (a render, a warm-up run) finishes on the old sessions first
    const old = this.runtime;
    await this.mutex.run(async () => {
      this.pack = pack;
      this.runtime = runtime;
      this.inv = null;
      this.consts.clear();
      this.fEditKey = '';
      this.wDeltaBase = null;
      await old?.dispose();
    });
    return this.summary();
  }

  summary(): PackSummary {
    const m = this.manifest;
    const spaces = SPACES.filter((s) => !!m.graphs[SPACE_GRAPH[s]]);
    return {
      name: m.name,
      title: m.title,
      description: m.description,
      resolution: m.resolution,
      imageRange: m.imageRange,
      alignment: m.alignment,
      directions: m.directions.map((d) => ({ id: d.id, label: d.label, kind: d.kind, range: d.range, ...(d.editStrength !== undefined ? { strength: d.editStrength } : {}) })),
      samples: (m.samples ?? []).map((s) => joinUrl(this.pack!.baseUrl, s)),
      spaces,
      hasEncoder: !!m.graphs.encoder,
      defaultWeights: m.loss.defaultWeights as [number, number, number],
      perceptual: m.loss.perceptual,
      provenance: m.provenance,
    };
  }

  private makeRuntime(pack: ModelPack, kind: BackendKind): Runtime {
    const fp16 = kind === 'webgpu' && !!this.backend?.f16;
    const rt = new Runtime(this.ort, pack, kind, { keepOnGpu: this.opts.keepOnGpu ?? true, sessionFactory: this.opts.sessionFactory, fp16 });
    rt.onDeviceLost = () => {
      /* handled on the next run: DeviceLostError triggers the WASM fallback */
    };
    return rt;
  }

  /** Switches to WASM after a GPU device loss. Codes, target and optimizer state live in JS and are kept. */
  private async fallbackToWasm(reason: string) {
    const old = this.runtime;
    this.backend = { kind: 'wasm', threads: this.opts.threads ?? wasmThreads(), crossOriginIsolated: this.backend?.crossOriginIsolated ?? false, note: `GPU device lost (${reason}); continuing on WASM` };
    this.runtime = this.makeRuntime(this.pack!, 'wasm');
    for (const c of this.consts.values()) c.tensor = undefined;
    this.opts.onBackendChange?.(this.backend);
    old?.dispose().catch(() => undefined);
  }

  /** Runs a graph under the mutex, with one retry on WASM if the GPU device was lost. */
  private async run(key: GraphKey, feeds: Record<string, Float32Array | OrtTensor | string>, warm = false): Promise<Record<string, Float32Array>> {
    if (!warm) this.demand++;
    return this.mutex.run(async () => {
      for (let attempt = 0; ; attempt++) {
        const rt = this.runtime;
        if (!rt) throw new EngineError('StateError', 'no model pack loaded');
        try {
          return await rt.run(key, await this.resolveFeeds(rt, feeds));
        } catch (e) {
          if ((e as Error).name === 'DeviceLostError' && attempt === 0) {
            await this.fallbackToWasm((e as Error).message);
            continue;
          }
          throw e;
        }
      }
    });
  }

  /**
   * Runs the editor's hot graphs (the F/Z+ gradient; mapping + synthesis_from_f) on made-up inputs while nothing
   * else is asked of the engine. On WASM, V8 first runs onnxruntime-web's wasm on its baseline compiler and tiers hot
   * functions up in the background: the first ~30 gradient steps of a fresh page run 3-8x slower than the rest
   * (docs/WASM_SPEED.md). Warming up while the user picks a photo moves that cost out of the first inversion.
   * WASM only, packs up to 256 px only; stops as soon as real work asks for a graph (which then waits for at most
   * the one warm-up run in flight).
   */
  async warmUp(opts: { runs?: number; maxMs?: number } = {}): Promise<WarmUpResult> {
    const t0 = now();
    const skip = (reason: string): WarmUpResult => ({ runs: 0, ms: 0, outcome: 'skipped', reason });
    if (!this.runtime || !this.pack) return skip('no model pack loaded');
    if (this.backend?.kind !== 'wasm') return skip('only WASM needs a warm-up');
    const m = this.manifest;
    if (m.resolution > WARM_MAX_RESOLUTION) return skip(`a ${m.resolution} px pack: one gradient run is too long to run speculatively`);
    const grad = SPACE_GRAPH['F/Z+'];
    const plan: GraphKey[] = m.graphs[grad] ? [grad, grad, grad, 'mapping', 'synthesis_from_f'] : ['mapping', 'synthesis_from_f'];
    const maxRuns = opts.runs ?? 60;
    const maxMs = opts.maxMs ?? 5000;
    const feeds = new Map<GraphKey, Record<string, Float32Array>>();
    const demand = this.demand;
    let runs = 0;
    for (; runs < maxRuns && now() - t0 < maxMs; runs++) {
      // loadPack counts as demand too, so a pack switch also ends the warm-up
      if (this.demand !== demand || this.inverting) return { runs, ms: now() - t0, outcome: 'preempted' };
      const key = plan[runs % plan.length];
      if (!feeds.has(key)) feeds.set(key, warmFeeds(m, key));
      await this.run(key, feeds.get(key)!, true);
      await yieldToEventLoop();
    }
    return { runs, ms: now() - t0, outcome: 'done' };
  }

  /** String feeds name a constant (uploaded once per runtime; GPU-resident on WebGPU). */
  private async resolveFeeds(rt: Runtime, feeds: Record<string, Float32Array | OrtTensor | string>) {
    const out: Record<string, Float32Array | OrtTensor> = {};
    for (const [k, v] of Object.entries(feeds)) {
      if (typeof v === 'string') {
        const c = this.consts.get(v);
        if (!c) throw new EngineError('StateError', `constant '${v}' not set`);
        if (!c.tensor || c.runtime !== rt) {
          c.tensor = await rt.constant(c.data, c.dims);
          c.runtime = rt;
        }
        out[k] = c.tensor;
      } else out[k] = v;
    }
    return out;
  }

  private setConst(name: string, data: Float32Array, dims: number[]) {
    const old = this.consts.get(name);
    if (old?.tensor && old.runtime) old.runtime.release(old.tensor);
    this.consts.set(name, { data, dims });
  }

  /** For tests: destroy the GPU device as a real loss would; the next run continues on WASM. */
  async simulateDeviceLoss(): Promise<boolean> {
    return (await this.runtime?.loseDevice()) ?? false;
  }

  // ---------------------------------------------------------------- target

  /** Sets the photo to invert: RGBA8 at the pack's resolution (already aligned / cropped). */
  setTarget(rgba: Uint8ClampedArray | Uint8Array, width: number, height: number) {
    const m = this.manifest;
    if (width !== m.resolution || height !== m.resolution) {
      throw new EngineError('InputError', `target must be ${m.resolution}×${m.resolution}, got ${width}×${height}`);
    }
    const [lo, hi] = m.imageRange;
    const n = width * height;
    const t = new Float32Array(3 * n);
    const s = (hi - lo) / 255;
    for (let p = 0; p < n; p++) {
      t[p] = rgba[p * 4] * s + lo;
      t[n + p] = rgba[p * 4 + 1] * s + lo;
      t[2 * n + p] = rgba[p * 4 + 2] * s + lo;
    }
    this.target = t;
    this.targetVersion++;
    this.setConst('target', t, [1, 3, m.resolution, m.resolution]);
  }

  // ---------------------------------------------------------------- inversion

  cancel() {
    this.cancelRequested = true;
  }

  get canResume(): boolean {
    return !!this.inv && this.inv.targetVersion === this.targetVersion;
  }

  private wMeanPlus(): Float32Array {
    const m = this.manifest;
    const w = new Float32Array(m.numWs * m.wDim);
    for (let i = 0; i < m.numWs; i++) w.set(m.truncation.wAvg, i * m.wDim);
    return w;
  }

  private async zToW(zplus: Float32Array): Promise<Float32Array> {
    const m = this.manifest;
    const { w } = await this.run('mapping', { z: zplus });
    const wp = w.slice();
    truncateInPlace(wp, m.wDim, m.truncation.wAvg, m.truncation.psi, m.truncation.layers);
    return wp;
  }

  private async initState(opts: InvertOptions): Promise<InversionState> {
    const m = this.manifest;
    const space = opts.space;
    const seed = opts.seed ?? 1;
    let f: Float32Array | null = null;
    let code: Float32Array;
    const useEnc = (opts.useEncoder ?? true) && !!m.graphs.encoder;
    if (useEnc) {
      const enc = await this.run('encoder', { image: 'target' });
      const z = normaliseRows(enc.zplus.slice(), m.zDim);
      code = isZ(space) ? z : await this.zToW(z);
      if (hasF(space)) f = enc.f.slice();
    } else {
      code = isZ(space) ? normaliseRows(randn(m.numWs * m.zDim, seed), m.zDim) : this.wMeanPlus();
      if (hasF(space)) f = (await this.run('features', { wplus: this.wMeanPlus() })).f.slice();
    }
    return {
      space,
      f,
      fInit: f ? f.slice() : null,
      code,
      adamF: f ? adamInit(f.length) : null,
      adamCode: adamInit(code.length),
      step: 0,
      targetVersion: this.targetVersion,
      id: ++this.invCounter,
    };
  }

  async invert(opts: InvertOptions, onProgress?: (p: InvertProgress) => void): Promise<InvertResult> {
    if (!this.target) throw new EngineError('StateError', 'no photo to invert');
    if (this.inverting) throw new EngineError('StateError', 'an inversion is already running');
    const m = this.manifest;
    const graph = SPACE_GRAPH[opts.space];
    if (!m.graphs[graph]) throw new EngineError('PackGraphError', `this model pack has no '${graph}' graph, so the ${opts.space} space is not available`);
    this.inverting = true;
    this.cancelRequested = false;
    try {
      const resume = opts.resume && this.inv && this.inv.space === opts.space && this.inv.targetVersion === this.targetVersion;
      if (!resume) {
        this.inv = await this.initState(opts);
        if (this.inv.fInit) this.setConst('f_init', this.inv.fInit, m.fBlock.shape);
      }
      const st = this.inv!;
      const lr = opts.lr ?? 0.01;
      const weights = new Float32Array(opts.weights ?? (m.loss.defaultWeights as number[]));
      const previewEvery = opts.previewEvery ?? 10;
      const [lo, hi] = m.imageRange;
      const codeName = isZ(opts.space) ? 'zplus' : 'wplus';
      const gradName = isZ(opts.space) ? 'grad_zplus' : 'grad_wplus';
      let lastPsnr = 0;
      let cancelled = false;
      while (st.step < opts.steps) {
        if (this.cancelRequested) {
          cancelled = true;
          break;
        }
        const t0 = now();
        const feeds: Record<string, Float32Array | string> = { target: 'target', weights, [codeName]: st.code };
        if (st.f) {
          feeds.f = st.f;
          feeds.f_init = 'f_init';
        }
        const out = await this.run(graph, feeds);
        adamStep(st.code, out[gradName], st.adamCode, { lr });
        if (isZ(opts.space)) normaliseRows(st.code, m.zDim);
        if (st.f) adamStep(st.f, out.grad_f, st.adamF!, { lr });
        st.step++;
        const loss = [out.loss[0], out.loss[1], out.loss[2]] as [number, number, number];
        const mse = Math.max(loss[0], 1e-12);
        lastPsnr = 10 * Math.log10(((hi - lo) * (hi - lo)) / mse);
        const p: InvertProgress = {
          step: st.step,
          totalSteps: opts.steps,
          loss,
          total: loss[0] * weights[0] + loss[1] * weights[1] + loss[2] * weights[2],
          psnr: lastPsnr,
          msPerStep: now() - t0,
        };
        if (previewEvery > 0 && st.step % previewEvery === 0 && st.step < opts.steps) {
          const img = await this.reconstructTensor();
          p.preview = tensorToRgba(img, m.resolution, m.resolution, m.imageRange);
          p.previewPsnr = psnr(img, this.target!, m.imageRange);
        }
        onProgress?.(p);
        // Let cancel() and other messages through between steps.
        await yieldToEventLoop();
      }
      const img = await this.reconstructTensor();
      return {
        space: opts.space,
        steps: st.step,
        cancelled,
        psnr: psnr(img, this.target!, m.imageRange),
        image: tensorToRgba(img, m.resolution, m.resolution, m.imageRange),
        backend: this.backend!,
      };
    } finally {
      this.inverting = false;
    }
  }

  /** A copy of the current codes and optimizer state (null before the first inversion). */
  exportCodes(): SavedCodes | null {
    const st = this.inv;
    if (!st) return null;
    return {
      space: st.space,
      step: st.step,
      f: st.f?.slice() ?? null,
      fInit: st.fInit?.slice() ?? null,
      code: st.code.slice(),
      adamF: st.adamF ? cloneAdamState(st.adamF) : null,
      adamCode: cloneAdamState(st.adamCode),
    };
  }

  /**
   * Installs saved codes for the current target (as if they had just been inverted here) and returns their
   * reconstruction. Sizes are checked against the pack, so codes from another pack are refused.
   */
  async importCodes(c: SavedCodes): Promise<InvertResult> {
    if (!this.target) throw new EngineError('StateError', 'no photo to attach the saved codes to');
    if (this.inverting) throw new EngineError('StateError', 'an inversion is running');
    const m = this.manifest;
    const fLen = m.fBlock.shape.reduce((a, b) => a * b, 1);
    const codeLen = m.numWs * (isZ(c.space) ? m.zDim : m.wDim);
    const bad = (what: string) => new EngineError('InputError', `saved session does not fit this model pack (${what})`);
    if (!SPACES.includes(c.space)) throw bad(`unknown space ${String(c.space)}`);
    if (!(c.code instanceof Float32Array) || c.code.length !== codeLen) throw bad('code size');
    if (c.adamCode.m.length !== codeLen || c.adamCode.v.length !== codeLen) throw bad('optimizer state size');
    if (hasF(c.space)) {
      if (!c.f || c.f.length !== fLen || !c.fInit || c.fInit.length !== fLen) throw bad('F size');
      if (!c.adamF || c.adamF.m.length !== fLen || c.adamF.v.length !== fLen) throw bad('F optimizer state size');
    }
    const f = hasF(c.space) ? c.f!.slice() : null;
    const fInit = hasF(c.space) ? c.fInit!.slice() : null;
    this.inv = {
      space: c.space,
      step: c.step,
      f,
      fInit,
      code: c.code.slice(),
      adamF: f ? cloneAdamState(c.adamF!) : null,
      adamCode: cloneAdamState(c.adamCode),
      targetVersion: this.targetVersion,
      id: ++this.invCounter,
    };
    if (fInit) this.setConst('f_init', fInit, m.fBlock.shape);
    const img = await this.reconstructTensor();
    return {
      space: c.space,
      steps: c.step,
      cancelled: false,
      psnr: psnr(img, this.target, m.imageRange),
      image: tensorToRgba(img, m.resolution, m.resolution, m.imageRange),
      backend: this.backend!,
    };
  }

  /** The paper's method: F/Z+ inversion (encoder start when the pack has one). */
  invertFZPlus(opts: Omit<InvertOptions, 'space'>, onProgress?: (p: InvertProgress) => void): Promise<InvertResult> {
    return this.invert({ ...opts, space: 'F/Z+' }, onProgress);
  }

  /** Current (un-edited) wplus of the inversion state. */
  private async currentWplus(code: Float32Array, space: Space): Promise<Float32Array> {
    return isZ(space) ? this.zToW(code) : code;
  }

  private async synthesize(f: Float32Array | string | null, wplus: Float32Array): Promise<Float32Array> {
    if (f) return (await this.run('synthesis_from_f', { f, wplus })).image;
    return (await this.run('synthesis', { wplus })).image;
  }

  private async reconstructTensor(): Promise<Float32Array> {
    const st = this.inv;
    if (!st) throw new EngineError('StateError', 'nothing inverted yet');
    return this.synthesize(st.f, await this.currentWplus(st.code, st.space));
  }

  // ---------------------------------------------------------------- editing

  private directionsFor(alphas: Record<string, number>, space: Space): WalkDirection[] {
    const m = this.manifest;
    const first = hasF(space) ? m.fBlock.firstWs : 0;
    const allLayers = Array.from({ length: m.numWs - first }, (_, i) => i + first);
    const out: WalkDirection[] = [];
    for (const d of m.directions) {
      const a = alphas[d.id] ?? 0;
      if (!a) continue;
      const lo = Math.min(d.range[0], d.range[1]);
      const hi = Math.max(d.range[0], d.range[1]);
      out.push({ vector: d.vector, alpha: Math.min(hi, Math.max(lo, a)), layers: d.layers ?? allLayers });
    }
    return out;
  }

  /** W+ spaces have no sphere: apply the mean W displacement that the same Z sphere walk causes at numWs random z. */
  private async wDelta(dirs: WalkDirection[]): Promise<Float32Array> {
    const m = this.manifest;
    if (!this.wDeltaBase) {
      const z = normaliseRows(randn(m.numWs * m.zDim, 4242), m.zDim);
      this.wDeltaBase = { z, w: (await this.run('mapping', { z })).w.slice() };
    }
    const { z, w } = this.wDeltaBase;
    const delta = new Float32Array(m.numWs * m.wDim);
    // group layers by the set of directions touching them
    const groups = new Map<string, number[]>();
    for (let i = 0; i < m.numWs; i++) {
      const key = dirs.map((d, k) => (d.layers.includes(i) ? k : '')).join(',');
      if (!/\d/.test(key)) continue;
      groups.set(key, [...(groups.get(key) ?? []), i]);
    }
    const all = Array.from({ length: m.numWs }, (_, i) => i);
    for (const layers of groups.values()) {
      const active = dirs.filter((d) => d.layers.includes(layers[0])).map((d) => ({ ...d, layers: all }));
      const walked = sphereWalk(z, m.zDim, active);
      const w2 = (await this.run('mapping', { z: walked })).w;
      const mean = new Float32Array(m.wDim);
      for (let r = 0; r < m.numWs; r++) for (let j = 0; j < m.wDim; j++) mean[j] += (w2[r * m.wDim + j] - w[r * m.wDim + j]) / m.numWs;
      for (const i of layers) {
        const psi = i < m.truncation.layers ? m.truncation.psi : 1;
        for (let j = 0; j < m.wDim; j++) delta[i * m.wDim + j] = psi * mean[j];
      }
    }
    return delta;
  }

  private async renderNow(alphas: Record<string, number>): Promise<RenderResult> {
    const st = this.inv;
    if (!st) throw new EngineError('StateError', 'invert a photo before editing');
    const m = this.manifest;
    const t0 = now();
    const dirs = this.directionsFor(alphas, st.space);
    let wplus: Float32Array;
    if (isZ(st.space)) {
      wplus = await this.zToW(dirs.length ? sphereWalk(st.code, m.zDim, dirs) : st.code);
    } else {
      wplus = st.code.slice();
      if (dirs.length) {
        const d = await this.wDelta(dirs);
        for (let i = 0; i < wplus.length; i++) wplus[i] += d[i];
      }
    }
    let f: string | null = null;
    if (st.f) {
      const key = `${st.id}:${st.step}`;
      if (this.fEditKey !== key) {
        this.setConst('f_edit', st.f.slice(), m.fBlock.shape);
        this.fEditKey = key;
      }
      f = 'f_edit';
    }
    const img = await this.synthesize(f, wplus);
    return { image: tensorToRgba(img, m.resolution, m.resolution, m.imageRange), ms: now() - t0 };
  }

  /** Renders the edit for slider values {directionId: alpha}. Latest wins: a stale waiting request resolves as superseded. */
  render(alphas: Record<string, number>): Promise<RenderResult | Superseded> {
    return this.renderer.submit(alphas);
  }

  static isSuperseded = isSuperseded;

  async dispose() {
    await this.runtime?.dispose();
    this.runtime = null;
  }
}

/** Inputs of the graph's declared shapes: unit-sphere-ish codes, a mid-grey-noise target, the default loss weights. */
function warmFeeds(m: ModelPackManifest, key: GraphKey): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  m.graphs[key]!.inputs.forEach((spec, i) => {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    out[spec.name] = spec.name === 'weights' ? new Float32Array(m.loss.defaultWeights) : randn(n, 7 + i).map((x) => (spec.name === 'target' ? Math.tanh(x) : x));
  });
  return out;
}

function wasmThreads(): number {
  const g = globalThis as unknown as { navigator?: { hardwareConcurrency?: number }; crossOriginIsolated?: boolean };
  return g.crossOriginIsolated ? Math.max(1, Math.min(g.navigator?.hardwareConcurrency ?? 1, 4)) : 1;
}

function joinUrl(base: string, file: string) {
  return base.endsWith('/') ? base + file : base + '/' + file;
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}
