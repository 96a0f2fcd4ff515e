/**
 * Inversion by Adam on the codes, with the gradient from the pack's exported gradient graph (onnxruntime-web cannot
 * differentiate): start codes from the encoder (or random / mean), steps with progress and previews, cancel between
 * steps, z re-normalised onto the sphere after every step.
 *
 * Two paths, the same math: on WebGPU the codes and Adam state stay in GPU buffers (DeviceAdam; per step only the
 * loss comes back) and are synced into the CPU `Inversion` at every preview (every SYNC_EVERY steps without
 * previews), on cancel and at the end. Elsewhere Adam runs in JS on the CPU Inversion itself. A device loss
 * mid-inversion continues in JS on WASM from the last sync (at most that many steps are taken again).
 */
import type { BackendInfo } from '../runtime/backend';
import type { Generator } from '../graphs/generator';
import type { Constant, Feeds } from '../graphs/runner';
import { adamStep } from '../math/adam';
import type { TransferBytes } from '../runtime/sessions';
import { DeviceAdam } from './deviceAdam';
import { psnr, psnrFromMse } from '../math/psnr';
import { randn } from '../math/rng';
import { normaliseRows } from '../math/sphere';
import { now, yieldToEventLoop } from '../schedule';
import { tensorToRgba } from '../../image/tensor';
import { Inversion } from './inversion';
import { codeNames, hasF, inversionGraph, isZ, type Space } from './spaces';

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
  /** Keep codes and Adam state on the GPU where the backend can (default true; false: Adam in JS, for comparisons). */
  onDevice?: boolean;
}

/** Steps between CPU syncs of device-held codes when there are no previews. */
export const SYNC_EVERY = 25;

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
  /** Bytes this step moved between CPU and the sessions (gradient, Adam, sync and preview runs). */
  transferBytes?: TransferBytes;
  /** Whether the codes and Adam state were on the GPU for this step. */
  onDevice?: boolean;
}

export interface InvertResult {
  space: Space;
  steps: number;
  cancelled: boolean;
  psnr: number;
  image: Uint8ClampedArray;
  backend: BackendInfo;
}

/** The constant inputs an inversion reads. */
export interface InversionInputs {
  target: Constant;
  fInit: Constant;
}

/** Start codes: the encoder's F and Z+ when the pack has one, else random z on the sphere (or the mean W) and F of the mean W. */
export async function startInversion(gen: Generator, inputs: InversionInputs, opts: InvertOptions, targetVersion: number): Promise<Inversion> {
  const m = gen.manifest;
  const space = opts.space;
  let f: Float32Array | null = null;
  let code: Float32Array;
  if ((opts.useEncoder ?? true) && !!m.graphs.encoder) {
    const enc = await gen.runner.run('encoder', { image: inputs.target });
    const z = normaliseRows(enc.zplus.slice(), m.zDim);
    code = isZ(space) ? z : await gen.zToW(z);
    if (hasF(space)) f = enc.f.slice();
  } else {
    code = isZ(space) ? normaliseRows(randn(m.numWs * m.zDim, opts.seed ?? 1), m.zDim) : gen.wMeanPlus();
    if (hasF(space)) f = (await gen.runner.run('features', { wplus: gen.wMeanPlus() })).f.slice();
  }
  const inv = Inversion.start(space, f, code, targetVersion);
  if (inv.fInit) inputs.fInit.set(inv.fInit, m.fBlock.shape);
  return inv;
}

/** The inversion's W+ (Z+ mapped and truncated). */
export function wplusOf(gen: Generator, inv: Inversion): Promise<Float32Array> {
  return isZ(inv.space) ? gen.zToW(inv.code) : Promise.resolve(inv.code);
}

/** The image tensor the inversion's codes give. */
export async function reconstruct(gen: Generator, inv: Inversion): Promise<Float32Array> {
  return gen.synthesize(inv.f, await wplusOf(gen, inv));
}

/** Runs Adam steps until `opts.steps` or a cancel; returns whether it was cancelled. */
export async function optimise(
  gen: Generator,
  inputs: InversionInputs,
  inv: Inversion,
  target: Float32Array,
  opts: InvertOptions,
  cancelRequested: () => boolean,
  onProgress?: (p: InvertProgress) => void,
): Promise<boolean> {
  const m = gen.manifest;
  const runner = gen.runner;
  const graph = inversionGraph(inv.space, m);
  const lr = opts.lr ?? 0.01;
  const weights = new Float32Array(opts.weights ?? (m.loss.defaultWeights as number[]));
  const previewEvery = opts.previewEvery ?? 10;
  const syncEvery = previewEvery > 0 ? previewEvery : SYNC_EVERY;
  const names = codeNames(inv.space);
  let device: DeviceAdam | null = null;
  /**
   * `work` on the device; when it fails, null, and the JS path goes on from the last sync: after a device loss the
   * runner is on WASM; after any other failure (the Adam graph on an odd GPU) the same graph runs in JS, and a fault
   * of the gradient graph itself then throws there.
   */
  const onDevice = async <T>(work: (d: DeviceAdam) => Promise<T>): Promise<T | null> => {
    try {
      return await work(device!);
    } catch {
      device?.dispose();
      device = null;
      return null;
    }
  };
  const step = () => device?.step ?? inv.step;
  try {
    if (opts.onDevice !== false && inv.step < opts.steps && DeviceAdam.available(runner)) {
      try {
        device = await DeviceAdam.create(runner, inv, graph, m);
      } catch {
        device = null; // Adam in JS
      }
    }
    while (step() < opts.steps) {
      if (cancelRequested()) {
        if (device) await onDevice((d) => d.sync(inv));
        return true;
      }
      const t0 = now();
      const moved0 = runner.transferred();
      const feeds: Feeds = { target: inputs.target, weights };
      if (inv.f) feeds.f_init = inputs.fInit;
      let lossOut: Float32Array | null;
      const wasOnDevice = !!device;
      if (device) {
        lossOut = await onDevice((d) => d.run(graph, feeds, lr));
        if (!lossOut) continue; // device lost: again from the last sync, in JS
      } else {
        feeds[names.input] = inv.code;
        if (inv.f) feeds.f = inv.f;
        const out = await runner.run(graph, feeds);
        adamStep(inv.code, out[names.grad], inv.adamCode, { lr });
        if (isZ(inv.space)) normaliseRows(inv.code, m.zDim);
        if (inv.f) adamStep(inv.f, out.grad_f, inv.adamF!, { lr });
        inv.step++;
        lossOut = out.loss;
      }
      const s = step();
      const loss = [lossOut[0], lossOut[1], lossOut[2]] as [number, number, number];
      const p: InvertProgress = {
        step: s,
        totalSteps: opts.steps,
        loss,
        total: loss[0] * weights[0] + loss[1] * weights[1] + loss[2] * weights[2],
        psnr: psnrFromMse(loss[0], m.imageRange),
        msPerStep: now() - t0,
        onDevice: wasOnDevice,
      };
      if (device && s % syncEvery === 0 && s < opts.steps) await onDevice((d) => d.sync(inv));
      if (previewEvery > 0 && s % previewEvery === 0 && s < opts.steps) {
        // after a device loss in the sync above, inv is older than this step: still a fair preview
        const img = await reconstruct(gen, inv);
        p.preview = tensorToRgba(img, m.resolution, m.resolution, m.imageRange);
        p.previewPsnr = psnr(img, target, m.imageRange);
      }
      const moved = runner.transferred();
      p.transferBytes = { up: moved.up - moved0.up, down: moved.down - moved0.down };
      onProgress?.(p);
      // lets cancel() and other messages through between steps
      await yieldToEventLoop();
    }
    if (device) await onDevice((d) => d.sync(inv));
    // a device lost at the last sync: the JS path takes the steps since the sync before it again
    if (inv.step < opts.steps) return optimise(gen, inputs, inv, target, { ...opts, onDevice: false }, cancelRequested, onProgress);
    return false;
  } finally {
    (device as DeviceAdam | null)?.dispose();
  }
}

/** The reconstruction of `inv` as a result for the UI; `backend()` is read after the last run (it may have fallen back). */
export async function resultOf(gen: Generator, inv: Inversion, target: Float32Array, cancelled: boolean, backend: () => BackendInfo): Promise<InvertResult> {
  const m = gen.manifest;
  const img = await reconstruct(gen, inv);
  return {
    space: inv.space,
    steps: inv.step,
    cancelled,
    psnr: psnr(img, target, m.imageRange),
    image: tensorToRgba(img, m.resolution, m.resolution, m.imageRange),
    backend: backend(),
  };
}
