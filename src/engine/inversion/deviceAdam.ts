/**
 * Adam on the GPU (WebGPU): the codes (F, Z+ / W+) and their Adam moments live in GPU buffers. The gradient graph
 * leaves its grad_* outputs there, and the app's Adam graph (public/graphs/adam.onnx, written by
 * model/export/adam_graph.py: the math of math/adam.ts plus the sphere re-normalisation of Z+) steps each code.
 * Per step only the loss comes to the CPU, and the Adam scalars (12 bytes a code) and loss weights go up.
 *
 * The CPU `Inversion` is the saved copy: `sync` reads codes, moments and the step count back into it. Until then it
 * holds the state of the last sync; after a device loss the caller continues from there.
 */
import type { GraphKey } from '../graphs/contract';
import type { Feeds, GraphRunner } from '../graphs/runner';
import { resolveFeeds } from '../graphs/runner';
import { adamScalars, type AdamState } from '../math/adam';
import type { ModelPackManifest } from '../pack/manifest';
import type { OrtTensor } from '../runtime/ort';
import type { Runtime } from '../runtime/sessions';
import type { Inversion } from './inversion';
import { codeNames, isZ } from './spaces';

/** One optimised tensor: the gradient graph's input and gradient names, its GPU state and its CPU copy. */
interface Slot {
  input: string;
  grad: string;
  sphere: boolean;
  dims: number[];
  param: OrtTensor;
  m: OrtTensor;
  v: OrtTensor;
  t: number;
  cpuParam: Float32Array;
  cpuState: AdamState;
}

export class DeviceAdam {
  private disposed = false;

  private constructor(
    private readonly runner: GraphRunner,
    private readonly rt: Runtime,
    private readonly slots: Slot[],
    /** Steps taken (the CPU copy has inv.step as of the last sync). */
    public step: number,
  ) {}

  /** Whether the current runtime can keep the inversion on the device (WebGPU, GPU constants, the Adam graph loaded). */
  static available(runner: GraphRunner): boolean {
    return !!runner.current?.keepsOnDevice && !!runner.appGraphs.adam;
  }

  /** Uploads the inversion's codes and moments for the gradient graph `graph`. */
  static async create(runner: GraphRunner, inv: Inversion, graph: GraphKey, m: ModelPackManifest): Promise<DeviceAdam> {
    const rt = runner.current!;
    const shapes = new Map((m.graphs[graph]?.inputs ?? []).map((i) => [i.name, i.shape]));
    const names = codeNames(inv.space);
    const wanted: [string, string, boolean, Float32Array, AdamState][] = [[names.input, names.grad, isZ(inv.space), inv.code, inv.adamCode]];
    if (inv.f) wanted.push(['f', 'grad_f', false, inv.f, inv.adamF!]);
    const made: OrtTensor[] = [];
    try {
      const slots = await runner.onDevice(rt, async () => {
        const up = async (data: Float32Array, dims: number[]) => {
          const t = await rt.upload(data, dims);
          if (!t) throw new Error('no GPU device to upload to');
          made.push(t);
          return t;
        };
        const out: Slot[] = [];
        for (const [input, grad, sphere, cpuParam, cpuState] of wanted) {
          const dims = shapes.get(input) ?? [cpuParam.length];
          out.push({ input, grad, sphere, dims, param: await up(cpuParam, dims), m: await up(cpuState.m, dims), v: await up(cpuState.v, dims), t: cpuState.t, cpuParam, cpuState });
        }
        return out;
      });
      return new DeviceAdam(runner, rt, slots, inv.step);
    } catch (e) {
      for (const t of made) safeDispose(t);
      throw e;
    }
  }

  /**
   * One step: the gradient graph on the device codes (`feeds`: the other inputs), then Adam on each code. Returns
   * the loss terms, the only output read back.
   */
  async run(graph: GraphKey, feeds: Feeds, lr: number): Promise<Float32Array> {
    return this.runner.onDevice(this.rt, async (rt) => {
      const all: Feeds = { ...feeds };
      for (const s of this.slots) all[s.input] = s.param;
      const { cpu, kept } = await rt.runKeeping(graph, await resolveFeeds(rt, all), this.slots.map((s) => s.grad));
      try {
        for (const s of this.slots) {
          const { stepSize, sqrtBc2 } = adamScalars(s.t + 1, lr);
          const out = await rt.runKeeping(
            'adam',
            {
              param: s.param,
              grad: kept[s.grad],
              m: s.m,
              v: s.v,
              step_size: Float32Array.of(stepSize),
              sqrt_bc2: Float32Array.of(sqrtBc2),
              sphere: Float32Array.of(s.sphere ? 1 : 0),
            },
            ['param_out', 'm_out', 'v_out'],
          );
          for (const t of [s.param, s.m, s.v]) safeDispose(t);
          s.param = out.kept.param_out;
          s.m = out.kept.m_out;
          s.v = out.kept.v_out;
          s.t++;
        }
      } finally {
        for (const t of Object.values(kept)) safeDispose(t);
      }
      this.step++;
      return cpu.loss;
    });
  }

  /** Reads codes, moments and step count into the CPU inversion (in place). */
  async sync(inv: Inversion): Promise<void> {
    // everything is read before anything is written, so a failed read leaves the last sync whole
    const read = await this.runner.onDevice(this.rt, async (rt) => {
      const out: Float32Array[][] = [];
      for (const s of this.slots) {
        const got: Float32Array[] = [];
        for (const k of ['param', 'm', 'v'] as const) {
          const { data, tensor } = await rt.download(s[k]);
          s[k] = tensor;
          got.push(data.slice());
        }
        out.push(got);
      }
      return out;
    });
    this.slots.forEach((s, i) => {
      s.cpuParam.set(read[i][0]);
      s.cpuState.m.set(read[i][1]);
      s.cpuState.v.set(read[i][2]);
      s.cpuState.t = s.t;
    });
    inv.step = this.step;
  }

  /** Frees the GPU buffers (harmless after a device loss or twice). */
  dispose() {
    if (this.disposed) return;
    this.disposed = true;
    for (const s of this.slots) for (const t of [s.param, s.m, s.v]) safeDispose(t);
  }
}

function safeDispose(t: OrtTensor | undefined) {
  try {
    t?.dispose();
  } catch {
    /* its device or session is already gone */
  }
}
