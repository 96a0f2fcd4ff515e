/**
 * Weights recipes (schema/recipe.schema.json, written by python3 -m model.export.template): weights.bin of a pack
 * from a checkpoint's tensors, one entry at a time, streamed to a sink. The ops follow model/export/recipe.py
 * op_apply step by step in float32 (every product and partial sum rounded with Math.fround, sums in index order), so
 * the bytes equal the Python recipe path's. Memory: one entry and the few source tensors it reads (a small cache).
 */
import { EngineError } from '../errors';
import { readTensor } from './torchfile';
import type { SourceTensor } from './checkpoint';
import { UnpickleError } from './pickle';

export const RECIPE_VERSION = 1;

export interface RecipeEntry {
  offset: number;
  bytes: number;
  dtype: 'float32';
  shape: number[];
  op: 'scale' | 'sqsum' | 'mul' | 'const';
  src?: string[];
  scale?: number;
  view?: number[];
  perm?: number[];
  flip?: boolean;
  /** [axis, start, end] of the permuted tensor. */
  slice?: [number, number, number];
  constOffset?: number;
}

export interface Recipe {
  recipeVersion: number;
  template: string;
  title: string;
  arch: { size: number; styleDim: number; zDim: number; nMlp: number; channels: Record<string, number> };
  lrMlp: number;
  weightsBytes: number;
  consts: { file: string; bytes: number; sha256: string };
  wAvg: { samples: number; seed: number };
  sources: Record<string, number[]>;
  entries: RecipeEntry[];
}

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Refuses a recipe this reader does not understand or whose entries overlap, before any weight is read. */
export function checkRecipe(r: Recipe): Recipe {
  if (r?.recipeVersion !== RECIPE_VERSION) {
    throw new EngineError('PackManifestError', `template recipe version ${String(r?.recipeVersion)}; this app reads version ${RECIPE_VERSION} (reload the app)`);
  }
  let end = 0;
  for (const e of r.entries) {
    if (!Number.isSafeInteger(e.offset) || e.offset < end || e.bytes !== 4 * prod(e.shape)) throw new EngineError('PackManifestError', `template ${r.template}: bad recipe entry at ${e.offset}`);
    if (e.op === 'const' ? e.constOffset === undefined || e.constOffset + e.bytes > r.consts.bytes : !e.src?.length) {
      throw new EngineError('PackManifestError', `template ${r.template}: bad recipe entry at ${e.offset}`);
    }
    if (!['scale', 'sqsum', 'mul', 'const'].includes(e.op)) throw new EngineError('PackManifestError', `template ${r.template}: unknown recipe op '${e.op}'`);
    end = e.offset + e.bytes;
  }
  if (end > r.weightsBytes) throw new EngineError('PackManifestError', `template ${r.template}: recipe runs past weights.bin`);
  return r;
}

/** C-order strides of `shape`. */
const strides = (shape: number[]) => {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
};

/** out[i] = x[index(i)] for the view `view` permuted by `perm`, the last two axes reversed when `flip`. */
function permute(x: Float32Array, view: number[], perm: number[] | undefined, flip: boolean): Float32Array {
  if (!perm && !flip) return x;
  const p = perm ?? view.map((_, i) => i);
  const inStr = strides(view);
  const shape = p.map((a) => view[a]);
  const str = p.map((a) => inStr[a]);
  const nd = shape.length;
  const out = new Float32Array(x.length);
  const idx = new Array(nd).fill(0);
  // source offset of the current output index, kept incrementally
  const base = (d: number, i: number) => (flip && d >= nd - 2 ? shape[d] - 1 - i : i) * str[d];
  let off = 0;
  for (let d = 0; d < nd; d++) off += base(d, 0);
  for (let i = 0; i < out.length; i++) {
    out[i] = x[off];
    for (let d = nd - 1; d >= 0; d--) {
      off -= base(d, idx[d]);
      if (++idx[d] < shape[d]) {
        off += base(d, idx[d]);
        break;
      }
      idx[d] = 0;
      off += base(d, 0);
    }
  }
  return out;
}

/** x (C order, `shape`) restricted to [start, end) along `axis`. */
function sliceAxis(x: Float32Array, shape: number[], [axis, start, end]: [number, number, number]): Float32Array {
  const outer = prod(shape.slice(0, axis));
  const inner = prod(shape.slice(axis + 1));
  const len = (end - start) * inner;
  const out = new Float32Array(outer * len);
  for (let o = 0; o < outer; o++) out.set(x.subarray(o * shape[axis] * inner + start * inner, o * shape[axis] * inner + end * inner), o * len);
  return out;
}

/** One entry's values (model/export/recipe.py op_apply). `src(key)` gives a source tensor's float32 values. */
export async function applyOp(e: RecipeEntry, src: (key: string) => Promise<Float32Array>): Promise<Float32Array> {
  const n = prod(e.shape);
  if (e.op === 'scale') {
    const x = await src(e.src![0]);
    const s = Math.fround(e.scale ?? 1);
    const y = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) y[i] = Math.fround(x[i] * s);
    const view = e.view ?? [y.length];
    let out = permute(y, view, e.perm, !!e.flip);
    if (e.slice) out = sliceAxis(out, (e.perm ?? view.map((_, i) => i)).map((a) => view[a]), e.slice);
    if (out.length !== n) throw new UnpickleError(`${e.src![0]} has ${x.length} values, the recipe expects ${n}`);
    return out;
  }
  if (e.op === 'sqsum') {
    const x = await src(e.src![0]);
    const view = e.view!;
    const k = view[view.length - 1];
    const m = x.length / k;
    const s = Math.fround(e.scale ?? 1);
    const acc = new Float32Array(m);
    for (let t = 0; t < k; t++) {
      for (let i = 0; i < m; i++) {
        const v = Math.fround(x[i * k + t] * s);
        acc[i] = Math.fround(acc[i] + Math.fround(v * v));
      }
    }
    return permute(acc, view.slice(0, -1), e.perm, false);
  }
  if (e.op === 'mul') {
    const a = await src(e.src![0]);
    const b = (await src(e.src![1]))[0];
    const out = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = Math.fround(a[i] * b);
    return out;
  }
  throw new EngineError('PackManifestError', `recipe op '${e.op}' has no source tensors`);
}

export interface RecipeProgress {
  written: number;
  total: number;
}

/**
 * Writes weights.bin by the recipe to `write` in order (zero-filled gaps), each entry checked for NaN / infinity.
 * `tensors`: the checkpoint's generator tensors (shapes already checked against recipe.sources); `wAvg` the
 * latent_avg values. `signal` is checked between entries.
 */
export async function writeWeights(
  recipe: Recipe,
  tensors: Map<string, SourceTensor>,
  wAvg: Float32Array,
  consts: Uint8Array,
  write: (chunk: Uint8Array) => Promise<void>,
  onProgress?: (p: RecipeProgress) => void,
  signal?: AbortSignal,
): Promise<number> {
  const cache = new Map<string, Float32Array>();
  let cached = 0;
  const CACHE_BYTES = 64 << 20;
  const src = async (key: string) => {
    if (key === 'latent_avg') return wAvg;
    const hit = cache.get(key);
    if (hit) return hit;
    const t = tensors.get(key);
    if (!t) throw new UnpickleError(`the checkpoint lacks ${key}`);
    const v = await readTensor(t.tensor);
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i])) throw new UnpickleError(`the checkpoint's ${key} holds NaN or infinite values; refused (a diverged or damaged training run)`);
    }
    while (cached + v.byteLength > CACHE_BYTES && cache.size) {
      const [k0, v0] = cache.entries().next().value as [string, Float32Array];
      cache.delete(k0);
      cached -= v0.byteLength;
    }
    cache.set(key, v);
    cached += v.byteLength;
    return v;
  };
  let pos = 0;
  for (const e of recipe.entries) {
    if (signal?.aborted) throw new EngineError('CancelledError', 'conversion cancelled');
    if (e.offset > pos) await write(new Uint8Array(e.offset - pos));
    let bytes: Uint8Array;
    if (e.op === 'const') bytes = consts.subarray(e.constOffset!, e.constOffset! + e.bytes);
    else {
      const v = await applyOp(e, src);
      for (let i = 0; i < v.length; i++) {
        if (!Number.isFinite(v[i])) throw new UnpickleError(`${e.src!.join(' x ')} gives NaN or infinite weights; refused`);
      }
      bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    }
    await write(bytes);
    pos = e.offset + bytes.length;
    onProgress?.({ written: pos, total: recipe.weightsBytes });
  }
  if (pos < recipe.weightsBytes) await write(new Uint8Array(recipe.weightsBytes - pos));
  return recipe.weightsBytes;
}

/**
 * w_avg when the checkpoint has none: the mapping network's mean over `samples` z of randn(samples * zDim, seed),
 * in float64 (model/export/recipe.py mapped_w_avg), rounded to float32.
 */
export async function mappedWAvg(
  recipe: Recipe,
  src: (key: string) => Promise<Float32Array>,
  randn: (n: number, seed: number) => Float32Array,
  onProgress?: (done: number, total: number) => void,
  signal?: AbortSignal,
): Promise<Float32Array> {
  const { zDim, styleDim, nMlp } = recipe.arch;
  const { samples, seed } = recipe.wAvg;
  const layers: { w: Float64Array; b: Float64Array; inDim: number; outDim: number }[] = [];
  for (let l = 1; l <= nMlp; l++) {
    const w32 = await src(`style.${l}.weight`);
    const b32 = await src(`style.${l}.bias`);
    const outDim = styleDim;
    const inDim = w32.length / outDim;
    const g = recipe.lrMlp / Math.sqrt(inDim);
    const w = new Float64Array(w32.length);
    for (let i = 0; i < w.length; i++) w[i] = w32[i] * g;
    const b = new Float64Array(b32.length);
    for (let i = 0; i < b.length; i++) b[i] = b32[i] * recipe.lrMlp;
    layers.push({ w, b, inDim, outDim });
  }
  const z = randn(samples * zDim, seed);
  const sum = new Float64Array(styleDim);
  let x = new Float64Array(Math.max(zDim, styleDim));
  let y = new Float64Array(Math.max(zDim, styleDim));
  const SQ2 = Math.SQRT2;
  for (let s = 0; s < samples; s++) {
    if (s % 256 === 0) {
      if (signal?.aborted) throw new EngineError('CancelledError', 'conversion cancelled');
      onProgress?.(s, samples);
      await new Promise((r) => setTimeout(r, 0));
    }
    let ms = 0;
    for (let i = 0; i < zDim; i++) ms += z[s * zDim + i] * z[s * zDim + i];
    const norm = Math.sqrt(ms / zDim + 1e-8);
    for (let i = 0; i < zDim; i++) x[i] = z[s * zDim + i] / norm;
    for (const L of layers) {
      for (let o = 0; o < L.outDim; o++) {
        let acc = 0;
        const row = o * L.inDim;
        for (let i = 0; i < L.inDim; i++) acc += x[i] * L.w[row + i];
        acc += L.b[o];
        y[o] = (acc >= 0 ? acc : 0.2 * acc) * SQ2;
      }
      [x, y] = [y, x];
    }
    for (let i = 0; i < styleDim; i++) sum[i] += x[i];
  }
  const out = new Float32Array(styleDim);
  for (let i = 0; i < styleDim; i++) out[i] = sum[i] / samples;
  return out;
}
