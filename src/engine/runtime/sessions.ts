/**
 * ORT sessions for one model pack on one backend: created on first use (fp16 copies where asked for), constant
 * inputs kept in GPU buffers on WebGPU, GPU device loss and out-of-memory failures turned into engine errors.
 * Besides the pack's graphs it runs the app's own graphs (APP_GRAPHS, e.g. the Adam step), and it counts the bytes
 * that cross between CPU and session (`transfer`).
 */
import { EngineError } from '../errors';
import type { GraphKey } from '../graphs/contract';
import type { ModelPack } from '../pack/load';
import type { BackendKind } from './backend';
import type { Ort, OrtSession, OrtTensor, SessionFactory, SessionOptions } from './ort';

export interface RuntimeOptions {
  /** Keep constant inputs (target, F_init, edit F) as GPU-buffer tensors between runs (WebGPU only). */
  keepOnGpu?: boolean;
  sessionFactory?: SessionFactory;
  /** Use the pack's `<key>@fp16` copies where it has them (WebGPU with shader-f16; loaded into pack.graphs16). */
  fp16?: boolean;
}

/** Out-of-memory failures as onnxruntime-web reports them (WASM heap growth, allocation, emscripten abort). */
export function isOutOfMemory(message: string): boolean {
  return /out of memory|\bOOM\b|memory access out of bounds|WebAssembly\.Memory|Array buffer allocation failed|could not allocate|failed to allocate|bad_alloc|Aborted\(\)/i.test(message);
}

/** The error for a graph that does not fit: says why and what to do, instead of a dead page. */
export function memoryError(key: string, backend: BackendKind, message: string): EngineError {
  const where = backend === 'wasm' ? 'WebAssembly memory (at most 4 GB per page in this browser)' : 'GPU memory';
  return new EngineError('PackGraphError', `graph '${key}' does not fit in ${where}: ${message}. Close other tabs, use a smaller pack, or a device with WebGPU; reload the page if editing stops working`);
}

type Feed = Float32Array | OrtTensor;

/** Graphs the app ships itself (public/graphs/), not part of any pack. */
export const APP_GRAPHS = ['adam'] as const;
export type AppGraphKey = (typeof APP_GRAPHS)[number];
export type RunKey = GraphKey | AppGraphKey;
export const isAppGraph = (k: string): k is AppGraphKey => (APP_GRAPHS as readonly string[]).includes(k);

/** Bytes moved between CPU and the sessions: CPU data turned into session inputs (`up`), outputs read to CPU (`down`). */
export interface TransferBytes {
  up: number;
  down: number;
}

/** A run's outputs: read to CPU, and those asked to be kept as tensors where the session left them. */
export interface KeptOutputs {
  cpu: Record<string, Float32Array>;
  kept: Record<string, OrtTensor>;
}

export class Runtime {
  private sessions = new Map<RunKey, Promise<OrtSession>>();
  private appGraphs = new Map<AppGraphKey, Uint8Array>();
  /** Running totals since the runtime was made. */
  readonly transfer: TransferBytes = { up: 0, down: 0 };
  private pinned: OrtTensor[] = [];
  private gpuDevice: any = null;
  /** Set when the WebGPU device is lost: every later run throws DeviceLostError. */
  lost = false;

  constructor(
    readonly ort: Ort,
    readonly pack: ModelPack,
    readonly backend: BackendKind,
    readonly options: RuntimeOptions = {},
  ) {}

  private defaultFactory: SessionFactory = (_key, bytes, options) => this.ort.InferenceSession.create(bytes, options);

  has(key: GraphKey): boolean {
    return !!this.pack.graphs[key];
  }

  /** Whether `key` runs its fp16 copy. */
  usesFp16(key: GraphKey): boolean {
    return !!(this.options.fp16 && this.pack.graphs16?.[key]);
  }

  /** Whether device tensors can be fed and kept: WebGPU with GPU-resident constants. */
  get keepsOnDevice(): boolean {
    return this.backend === 'webgpu' && !!this.options.keepOnGpu;
  }

  hasAppGraph(key: AppGraphKey): boolean {
    return this.appGraphs.has(key);
  }

  /** Gives the runtime the bytes of one of the app's own graphs. */
  addAppGraph(key: AppGraphKey, bytes: Uint8Array) {
    this.appGraphs.set(key, bytes);
  }

  /**
   * Where outputs go. With keepsOnDevice, a gradient graph's grad_* outputs and every output of an app graph stay in
   * GPU buffers (read to CPU only when a caller reads them: `run` does, `runKeeping` keeps the ones asked for).
   */
  private outputLocations(key: RunKey): SessionOptions['preferredOutputLocation'] {
    if (this.backend !== 'webgpu' || !this.keepsOnDevice) return undefined;
    if (isAppGraph(key)) return 'gpu-buffer';
    if (!key.startsWith('grad_')) return undefined;
    const outs = this.pack.manifest.graphs[key]?.outputs ?? [];
    return Object.fromEntries(outs.filter((o) => o.name.startsWith('grad_')).map((o) => [o.name, 'gpu-buffer' as const]));
  }

  session(key: RunKey): Promise<OrtSession> {
    let s = this.sessions.get(key);
    if (!s) {
      const app = isAppGraph(key);
      const bytes = app ? this.appGraphs.get(key) : this.usesFp16(key) ? this.pack.graphs16![key] : this.pack.graphs[key];
      if (!bytes) return Promise.reject(new EngineError('PackGraphError', app ? `the app graph '${key}' is not loaded` : `the model pack has no '${key}' graph`));
      const options: SessionOptions = {
        executionProviders: [this.backend],
        graphOptimizationLevel: 'all',
      };
      const where = this.outputLocations(key);
      if (where) options.preferredOutputLocation = where;
      if (this.pack.weights && !app) options.externalData = [{ path: this.pack.weights.path, data: this.pack.weights.data }];
      s = (this.options.sessionFactory ?? this.defaultFactory)(key, bytes, options).then(
        async (sess) => {
          if (this.backend === 'webgpu' && !this.gpuDevice) await this.watchDevice();
          return sess;
        },
        (e: Error) => {
          this.sessions.delete(key);
          if (isOutOfMemory(String(e?.message ?? e))) throw memoryError(key, this.backend, String(e?.message ?? e));
          throw new EngineError('PackGraphError', `graph '${key}'${!app && this.usesFp16(key) ? ' (fp16)' : ''} failed to load on ${this.backend}: ${e.message}`);
        },
      );
      this.sessions.set(key, s);
    }
    return s;
  }

  private async watchDevice() {
    try {
      const dev = await (this.ort.env.webgpu as unknown as { device: Promise<any> }).device;
      if (!dev || this.gpuDevice === dev) return;
      this.gpuDevice = dev;
      dev.lost?.then(() => {
        this.lost = true;
      });
    } catch {
      /* no device to watch */
    }
  }

  /** For tests: destroys the WebGPU device, which resolves device.lost like a real loss. */
  async loseDevice(): Promise<boolean> {
    if (!this.gpuDevice) await this.watchDevice();
    if (!this.gpuDevice) return false;
    this.gpuDevice.destroy();
    return true;
  }

  /** A constant input tensor: on WebGPU with keepOnGpu, uploaded once into a GPU buffer; else a CPU tensor. */
  async constant(data: Float32Array, dims: number[]): Promise<OrtTensor> {
    const t = await this.upload(data, dims);
    if (t) {
      this.pinned.push(t);
      return t;
    }
    return new this.ort.Tensor('float32', data, dims);
  }

  /**
   * `data` in a new GPU buffer as a tensor the caller owns (dispose() frees the buffer); null unless keepsOnDevice
   * and the device is there.
   */
  async upload(data: Float32Array, dims: number[]): Promise<OrtTensor | null> {
    if (!this.keepsOnDevice) return null;
    if (this.lost) throw new EngineError('DeviceLostError', 'the GPU device was lost');
    if (!this.gpuDevice) await this.watchDevice();
    const dev = this.gpuDevice;
    if (!dev) return null;
    const GPUBufferUsage = (globalThis as any).GPUBufferUsage;
    const size = Math.ceil(data.byteLength / 16) * 16;
    const buffer = dev.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    dev.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    this.transfer.up += data.byteLength;
    return this.ort.Tensor.fromGpuBuffer(buffer, { dataType: 'float32', dims, dispose: () => buffer.destroy() });
  }

  /**
   * A tensor's data read to CPU, counted as downloaded, and the tensor to use from now on instead of `t`: reading
   * turns an ORT GPU tensor into a CPU one (fed again, it would be uploaded), so a GPU tensor comes back as a new
   * tensor on the same buffer, whose dispose() disposes `t`.
   */
  async download(t: OrtTensor): Promise<{ data: Float32Array; tensor: OrtTensor }> {
    if (this.lost) throw new EngineError('DeviceLostError', 'the GPU device was lost');
    let data: Float32Array;
    let tensor = t;
    try {
      if (t.location === 'gpu-buffer') {
        const buffer = t.gpuBuffer;
        data = (await t.getData()) as Float32Array;
        tensor = this.ort.Tensor.fromGpuBuffer(buffer, { dataType: 'float32', dims: t.dims, dispose: () => t.dispose() });
      } else data = (t.location === 'cpu' ? t.data : await t.getData()) as Float32Array;
    } catch (e) {
      throw this.runError('(download)', e);
    }
    this.transfer.down += data.byteLength;
    return { data, tensor };
  }

  release(t: OrtTensor) {
    const i = this.pinned.indexOf(t);
    if (i >= 0) {
      this.pinned.splice(i, 1);
      t.dispose();
    }
  }

  /** Runs a graph; Float32Array feeds are shaped from the manifest. Returns every output as a Float32Array (CPU). */
  async run(key: GraphKey, feeds: Record<string, Feed>): Promise<Record<string, Float32Array>> {
    return (await this.runKeeping(key, feeds, [])).cpu;
  }

  /**
   * Runs a graph (a pack's, or an app graph, whose Float32Array feeds are 1-D). Outputs named in `keep` come back as
   * tensors where the session put them (GPU buffers for the outputs `outputLocations` keeps there; the caller
   * disposes them); every other output is read to CPU.
   */
  async runKeeping(key: RunKey, feeds: Record<string, Feed>, keep: readonly string[]): Promise<KeptOutputs> {
    if (this.lost) throw new EngineError('DeviceLostError', 'the GPU device was lost');
    const sess = await this.session(key);
    const inputs = isAppGraph(key) ? Object.keys(feeds).map((name) => ({ name, shape: undefined })) : this.pack.manifest.graphs[key]!.inputs;
    const ortFeeds: Record<string, OrtTensor> = {};
    for (const inp of inputs) {
      const v = feeds[inp.name];
      if (v === undefined) throw new EngineError('StateError', `missing input '${inp.name}' for graph '${key}'`);
      const t = v instanceof Float32Array ? new this.ort.Tensor('float32', v, inp.shape ?? [v.length]) : v;
      if (this.isCpuTensor(t)) this.transfer.up += (t.data as Float32Array).byteLength;
      ortFeeds[inp.name] = t;
    }
    let out: Awaited<ReturnType<OrtSession['run']>>;
    try {
      out = await sess.run(ortFeeds);
    } catch (e) {
      throw this.runError(key, e);
    }
    const res: KeptOutputs = { cpu: {}, kept: {} };
    try {
      for (const [name, t] of Object.entries(out)) {
        const tensor = t as OrtTensor;
        if (keep.includes(name)) res.kept[name] = tensor;
        else {
          res.cpu[name] = (tensor.location === 'cpu' ? tensor.data : await tensor.getData(true)) as Float32Array;
          this.transfer.down += res.cpu[name].byteLength;
        }
      }
    } catch (e) {
      for (const t of Object.values(res.kept)) t.dispose();
      throw this.runError(key, e);
    }
    return res;
  }

  /** Whether the session must take `t` from CPU memory. */
  protected isCpuTensor(t: OrtTensor): boolean {
    return t.location === 'cpu';
  }

  /** A failed run or read as an engine error: device loss, out of memory, or the graph's own failure. */
  private runError(key: string, e: unknown): EngineError {
    if (this.lost || /device (was )?lost|destroyed/i.test((e as Error)?.message ?? '')) {
      this.lost = true;
      return new EngineError('DeviceLostError', `the GPU device was lost while running '${key}'`);
    }
    const msg = String((e as Error)?.message ?? e);
    if (isOutOfMemory(msg)) return memoryError(key, this.backend, msg);
    return new EngineError('PackGraphError', `graph '${key}' failed on ${this.backend}: ${msg}`);
  }

  async dispose() {
    for (const t of this.pinned) t.dispose();
    this.pinned = [];
    for (const s of this.sessions.values()) {
      try {
        await (await s).release();
      } catch {
        /* ignore */
      }
    }
    this.sessions.clear();
  }
}
