/**
 * Runs graphs one at a time (ORT sessions must not run concurrently) on the current runtime, retrying once on WASM
 * when the GPU device was lost. Inputs that stay the same over many runs (the target photo, F_init, the F being
 * edited) are `Constant`s: uploaded once per runtime, GPU-resident on WebGPU.
 */
import { EngineError } from '../errors';
import type { Runtime } from '../runtime/sessions';
import type { OrtTensor } from '../runtime/ort';
import { Mutex } from '../schedule';
import type { GraphKey } from './contract';

/** The constant inputs the engine keeps. */
export type ConstantName = 'target' | 'f_init' | 'f_edit';

/** A graph input whose tensor is made once per runtime and reused until its data changes. */
export class Constant {
  private data: Float32Array | null = null;
  private dims: number[] = [];
  private tensor: OrtTensor | null = null;
  private runtime: Runtime | null = null;

  constructor(readonly name: ConstantName) {}

  get isSet(): boolean {
    return this.data !== null;
  }

  set(data: Float32Array, dims: number[]) {
    this.release();
    this.data = data;
    this.dims = dims;
  }

  clear() {
    this.release();
    this.data = null;
  }

  /** Forgets the tensor (its runtime was disposed); the next run uploads the data again. */
  forgetTensor() {
    this.tensor = null;
    this.runtime = null;
  }

  async tensorFor(rt: Runtime): Promise<OrtTensor> {
    if (!this.data) throw new EngineError('StateError', `constant '${this.name}' not set`);
    if (!this.tensor || this.runtime !== rt) {
      this.tensor = await rt.constant(this.data, this.dims);
      this.runtime = rt;
    }
    return this.tensor;
  }

  private release() {
    if (this.tensor && this.runtime) this.runtime.release(this.tensor);
    this.forgetTensor();
  }
}

export type Feed = Float32Array | Constant;
export type Feeds = Record<string, Feed>;
export type Outputs = Record<string, Float32Array>;

export class GraphRunner {
  private runtime: Runtime | null = null;
  private readonly mutex = new Mutex();
  /** Counts graph runs asked for by real work (and pack loads); a warm-up stops when it changes. */
  private demandCount = 0;
  readonly constants: Record<ConstantName, Constant> = {
    target: new Constant('target'),
    f_init: new Constant('f_init'),
    f_edit: new Constant('f_edit'),
  };

  /** `wasmRuntime(reason)`: the WASM runtime that replaces the current one after a GPU device loss. */
  constructor(private readonly wasmRuntime: (reason: string) => Runtime) {}

  get current(): Runtime | null {
    return this.runtime;
  }

  get demand(): number {
    return this.demandCount;
  }

  noteDemand() {
    this.demandCount++;
  }

  /**
   * Installs the runtime of a newly loaded pack. Under the mutex, so a run in flight (a render, a warm-up run)
   * finishes on the old sessions before they are disposed. Every constant is cleared: they belong to the old pack.
   * `swapped` runs at the same moment, for the caller's own per-pack state.
   */
  swap(runtime: Runtime, swapped?: () => void): Promise<void> {
    const old = this.runtime;
    return this.mutex.run(async () => {
      this.runtime = runtime;
      for (const c of Object.values(this.constants)) c.clear();
      swapped?.();
      await old?.dispose();
    });
  }

  /** Runs `key`; `warm` runs (the warm-up's) do not count as demand. */
  run(key: GraphKey, feeds: Feeds, { warm = false } = {}): Promise<Outputs> {
    if (!warm) this.demandCount++;
    return this.mutex.run(async () => {
      for (let attempt = 0; ; attempt++) {
        const rt = this.runtime;
        if (!rt) throw new EngineError('StateError', 'no model pack loaded');
        try {
          return await rt.run(key, await resolveFeeds(rt, feeds));
        } catch (e) {
          if ((e as Error).name === 'DeviceLostError' && attempt === 0) {
            this.fallBack((e as Error).message);
            continue;
          }
          throw e;
        }
      }
    });
  }

  /** Codes, target and optimizer state live in JS, so nothing is lost but the GPU tensors. */
  private fallBack(reason: string) {
    const old = this.runtime;
    this.runtime = this.wasmRuntime(reason);
    for (const c of Object.values(this.constants)) c.forgetTensor();
    old?.dispose().catch(() => undefined);
  }

  async dispose() {
    await this.runtime?.dispose();
    this.runtime = null;
  }
}

async function resolveFeeds(rt: Runtime, feeds: Feeds): Promise<Record<string, Float32Array | OrtTensor>> {
  const out: Record<string, Float32Array | OrtTensor> = {};
  for (const [name, v] of Object.entries(feeds)) out[name] = v instanceof Constant ? await v.tensorFor(rt) : v;
  return out;
}
