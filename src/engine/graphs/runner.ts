/**
 * Runs graphs one at a time (ORT sessions must not run concurrently) on the current runtime, retrying once on WASM
 * when the GPU device was lost. Inputs that stay the same over many runs (the target photo, F_init, the F being
 * edited) are `Constant`s: uploaded once per runtime, GPU-resident on WebGPU. Device work (`onDevice`) feeds and
 * keeps tensors of one runtime; those die with it, so it is never retried.
 */
import { EngineError } from '../errors';
import { APP_GRAPHS, type AppGraphKey, type Runtime, type TransferBytes } from '../runtime/sessions';
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

/** A graph input: CPU data, a Constant, or a tensor of the current runtime (device work only). */
export type Feed = Float32Array | Constant | OrtTensor;
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
      this.retire(this.runtime);
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

  /** The app graphs' bytes; a runtime gets them when device work first needs them. */
  readonly appGraphs: Partial<Record<AppGraphKey, Uint8Array>> = {};

  /** Bytes moved by the runtimes this runner has replaced. */
  private retiredTransfer: TransferBytes = { up: 0, down: 0 };

  /** Bytes moved between CPU and sessions since the runner was made, over every runtime it has had. */
  transferred(): TransferBytes {
    const cur = this.runtime?.transfer ?? { up: 0, down: 0 };
    return { up: this.retiredTransfer.up + cur.up, down: this.retiredTransfer.down + cur.down };
  }

  /**
   * Runs `work` under the run mutex on runtime `rt`, which must still be the current one (its app graphs handed to
   * it). Device work holds tensors of `rt`, which cannot move to another runtime, so it is not retried: a device
   * loss switches to WASM and rethrows the DeviceLostError, and the caller continues from its CPU copy.
   */
  onDevice<T>(rt: Runtime, work: (rt: Runtime) => Promise<T>): Promise<T> {
    this.demandCount++;
    return this.mutex.run(async () => {
      if (this.runtime !== rt) throw new EngineError('DeviceLostError', 'the runtime holding the device tensors was replaced');
      for (const key of APP_GRAPHS) {
        const bytes = this.appGraphs[key];
        if (bytes && !rt.hasAppGraph(key)) rt.addAppGraph(key, bytes);
      }
      try {
        return await work(rt);
      } catch (e) {
        if ((e as Error).name === 'DeviceLostError' && this.runtime === rt) this.fallBack((e as Error).message);
        throw e;
      }
    });
  }

  /**
   * Only GPU tensors are lost: target, constants and the codes live in JS too (an inversion that kept its codes on
   * the GPU continues from its last CPU sync).
   */
  private fallBack(reason: string) {
    const old = this.runtime;
    this.retire(old);
    this.runtime = this.wasmRuntime(reason);
    for (const c of Object.values(this.constants)) c.forgetTensor();
    old?.dispose().catch(() => undefined);
  }

  private retire(rt: Runtime | null) {
    if (!rt) return;
    this.retiredTransfer = { up: this.retiredTransfer.up + rt.transfer.up, down: this.retiredTransfer.down + rt.transfer.down };
  }

  async dispose() {
    await this.runtime?.dispose();
    this.runtime = null;
  }
}

/** Feeds with each Constant replaced by its tensor on `rt`. */
export async function resolveFeeds(rt: Runtime, feeds: Feeds): Promise<Record<string, Float32Array | OrtTensor>> {
  const out: Record<string, Float32Array | OrtTensor> = {};
  for (const [name, v] of Object.entries(feeds)) out[name] = v instanceof Constant ? await v.tensorFor(rt) : v;
  return out;
}
