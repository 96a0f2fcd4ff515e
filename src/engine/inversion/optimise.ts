/**
 * Inversion by Adam on the codes, with the gradient from the pack's exported gradient graph (onnxruntime-web cannot
 * differentiate): start codes from the encoder (or random / mean), steps with progress and previews, cancel between
 * steps, z re-normalised onto the sphere after every step.
 */
import type { BackendInfo } from '../runtime/backend';
import type { Generator } from '../graphs/generator';
import type { Constant, Feeds } from '../graphs/runner';
import { adamStep } from '../math/adam';
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
  const graph = inversionGraph(inv.space, m);
  const lr = opts.lr ?? 0.01;
  const weights = new Float32Array(opts.weights ?? (m.loss.defaultWeights as number[]));
  const previewEvery = opts.previewEvery ?? 10;
  const names = codeNames(inv.space);
  while (inv.step < opts.steps) {
    if (cancelRequested()) return true;
    const t0 = now();
    const feeds: Feeds = { target: inputs.target, weights, [names.input]: inv.code };
    if (inv.f) {
      feeds.f = inv.f;
      feeds.f_init = inputs.fInit;
    }
    const out = await gen.runner.run(graph, feeds);
    adamStep(inv.code, out[names.grad], inv.adamCode, { lr });
    if (isZ(inv.space)) normaliseRows(inv.code, m.zDim);
    if (inv.f) adamStep(inv.f, out.grad_f, inv.adamF!, { lr });
    inv.step++;
    const loss = [out.loss[0], out.loss[1], out.loss[2]] as [number, number, number];
    const p: InvertProgress = {
      step: inv.step,
      totalSteps: opts.steps,
      loss,
      total: loss[0] * weights[0] + loss[1] * weights[1] + loss[2] * weights[2],
      psnr: psnrFromMse(loss[0], m.imageRange),
      msPerStep: now() - t0,
    };
    if (previewEvery > 0 && inv.step % previewEvery === 0 && inv.step < opts.steps) {
      const img = await reconstruct(gen, inv);
      p.preview = tensorToRgba(img, m.resolution, m.resolution, m.imageRange);
      p.previewPsnr = psnr(img, target, m.imageRange);
    }
    onProgress?.(p);
    // lets cancel() and other messages through between steps
    await yieldToEventLoop();
  }
  return false;
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
