/**
 * ORT sessions for one model pack on one backend: created on first use (fp16 copies where asked for), constant
 * inputs kept in GPU buffers on WebGPU, GPU device loss and out-of-memory failures turned into engine errors.
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

export class Runtime {
  private sessions = new Map<GraphKey, Promise<OrtSession>>();
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

  session(key: GraphKey): Promise<OrtSession> {
    let s = this.sessions.get(key);
    if (!s) {
      const bytes = this.usesFp16(key) ? this.pack.graphs16![key] : this.pack.graphs[key];
      if (!bytes) return Promise.reject(new EngineError('PackGraphError', `the model pack has no '${key}' graph`));
      const options: SessionOptions = {
        executionProviders: [this.backend],
        graphOptimizationLevel: 'all',
      };
      if (this.pack.weights) options.externalData = [{ path: this.pack.weights.path, data: this.pack.weights.data }];
      s = (this.options.sessionFactory ?? this.defaultFactory)(key, bytes, options).then(
        async (sess) => {
          if (this.backend === 'webgpu' && !this.gpuDevice) await this.watchDevice();
          return sess;
        },
        (e: Error) => {
          this.sessions.delete(key);
          if (isOutOfMemory(String(e?.message ?? e))) throw memoryError(key, this.backend, String(e?.message ?? e));
          throw new EngineError('PackGraphError', `graph '${key}'${this.usesFp16(key) ? ' (fp16)' : ''} failed to load on ${this.backend}: ${e.message}`);
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
    if (this.backend === 'webgpu' && this.options.keepOnGpu) {
      if (!this.gpuDevice) await this.watchDevice();
      const dev = this.gpuDevice;
      if (dev) {
        const GPUBufferUsage = (globalThis as any).GPUBufferUsage;
        const size = Math.ceil(data.byteLength / 16) * 16;
        const buffer = dev.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
        dev.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
        const t = this.ort.Tensor.fromGpuBuffer(buffer, { dataType: 'float32', dims, dispose: () => buffer.destroy() });
        this.pinned.push(t);
        return t;
      }
    }
    return new this.ort.Tensor('float32', data, dims);
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
    if (this.lost) throw new EngineError('DeviceLostError', 'the GPU device was lost');
    const sess = await this.session(key);
    const spec = this.pack.manifest.graphs[key]!;
    const ortFeeds: Record<string, OrtTensor> = {};
    for (const inp of spec.inputs) {
      const v = feeds[inp.name];
      if (v === undefined) throw new EngineError('StateError', `missing input '${inp.name}' for graph '${key}'`);
      ortFeeds[inp.name] = v instanceof Float32Array ? new this.ort.Tensor('float32', v, inp.shape) : v;
    }
    let out: Awaited<ReturnType<OrtSession['run']>>;
    try {
      out = await sess.run(ortFeeds);
    } catch (e) {
      if (this.lost || /device (was )?lost|destroyed/i.test((e as Error).message)) {
        this.lost = true;
        throw new EngineError('DeviceLostError', `the GPU device was lost while running '${key}'`);
      }
      const msg = String((e as Error)?.message ?? e);
      if (isOutOfMemory(msg)) throw memoryError(key, this.backend, msg);
      throw new EngineError('PackGraphError', `graph '${key}' failed on ${this.backend}: ${msg}`);
    }
    const res: Record<string, Float32Array> = {};
    for (const [name, t] of Object.entries(out)) {
      const tensor = t as OrtTensor;
      res[name] = (tensor.location === 'cpu' ? tensor.data : await tensor.getData(true)) as Float32Array;
    }
    return res;
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
