/**
 * Direction files -> incoming directions (not yet fitted to a pack), as model/directions/files.py reads them.
 * Told apart by extension; nothing in a file is run:
 *   .npy   InterFaceGAN boundary: one normal, (1, d) or (d,). In Z, or in W when the name has a `_w` token
 *          (`stylegan_ffhq_smile_w_boundary.npy`).
 *   .npz   GANSpace: `lat_comp` (K, 1, d) or (K, d), optional `lat_stdev` (K,) (W files: the spread, becomes wSigma)
 *          and `var_ratio` (K,). W when the name has `_w` (GANSpace `--use_w` dumps), else Z.
 *   .json  manifest direction entries: a list, or {"directions": [...]} (public/directions/*.json).
 * Every problem is an EngineError('DirectionFileError') naming the file and the problem.
 */
import { unzipSync } from 'fflate';
import { EngineError } from '../errors';
import type { ModelPackManifest } from '../pack/manifest';
import { NpyError, parseNpy, type NpyArray } from './npy';

type Entry = ModelPackManifest['directions'][number];

export interface DirectionFile {
  name: string;
  bytes: Uint8Array;
}

/** A direction read from a file, in its own space, of any length (checked against the pack later). */
export interface Incoming {
  id: string;
  label: string;
  kind: Entry['kind'];
  space: 'z' | 'w';
  vector: Float64Array;
  source: string;
  /** Spread along the unit direction in its space, when the file gives one. */
  sigma?: number;
  /** Manifest fields taken as given (range, layers, attribute, explainedVariance, zScale, ...). */
  fields: Partial<Entry>;
  /** A complete manifest entry from a JSON file (its Z conversion already fitted): kept as it is when it fits. */
  entry?: Entry;
  /** A shipped set's generator shape (JSON `fits`): the set is refused on packs of another shape. */
  fits?: SetShape;
}

export interface SetShape {
  resolution: number;
  zDim: number;
  numWs: number;
  generator?: string;
}

export const KNOWN_FORMATS = ['.npy', '.npz', '.json'];

const fail = (file: string, problem: string) => new EngineError('DirectionFileError', `${file}: ${problem}`);

export function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'direction';
}

export function humanise(stem: string): string {
  const s = stem.replace(/^boundary_|_boundary$/g, '').replace(/_/g, ' ').trim();
  return s ? s[0].toUpperCase() + s.slice(1) : stem;
}

const stemOf = (name: string) => name.replace(/^.*[\\/]/, '').replace(/\.[^.]*$/, '');
const extOf = (name: string) => (/\.[^./\\]*$/.exec(name)?.[0] ?? '').toLowerCase();

/** 'w' when a `_w` token is in the file name (InterFaceGAN / GANSpace convention), else 'z'. */
export function nameSpace(name: string): 'z' | 'w' {
  const tokens = name.replace(/^.*[\\/]/, '').toLowerCase().split(/[_\-.]/).slice(0, -1);
  return tokens.includes('w') ? 'w' : 'z';
}

/** NaN / Inf / all zeros: a message, else null. */
export function vectorProblem(v: ArrayLike<number>): string | null {
  let any = false;
  for (let i = 0; i < v.length; i++) {
    if (Number.isNaN(v[i])) return 'contains NaN values';
    if (!Number.isFinite(v[i])) return 'contains Inf values';
    if (v[i] !== 0) any = true;
  }
  return any ? null : 'is all zeros';
}

function checked(file: string, what: string, v: Float64Array): Float64Array {
  const p = vectorProblem(v);
  if (p) throw fail(file, `${what} ${p}`);
  return v;
}

function npy(file: string, bytes: Uint8Array, what: string): NpyArray {
  try {
    return parseNpy(bytes);
  } catch (e) {
    if (e instanceof NpyError) throw fail(file, `${what}: ${e.message}`);
    throw e;
  }
}

function oneVector(file: string, a: NpyArray, what: string): Float64Array {
  const dims = a.shape.length === 2 && a.shape[0] === 1 ? [a.shape[1]] : a.shape;
  if (dims.length !== 1) throw fail(file, `${what} has shape (${a.shape.join(', ')}); a direction is one vector, (1, d) or (d,)`);
  return checked(file, what, a.data);
}

function readNpy(f: DirectionFile, space?: 'z' | 'w'): Incoming[] {
  const stem = stemOf(f.name);
  const v = oneVector(f.name, npy(f.name, f.bytes, 'the boundary'), 'the boundary');
  return [{ id: slug(humanise(stem)), label: humanise(stem), kind: 'interfacegan', space: space ?? nameSpace(f.name), vector: v, source: `InterFaceGAN boundary ${f.name}`, fields: {} }];
}

function readNpz(f: DirectionFile, space?: 'z' | 'w'): Incoming[] {
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(f.bytes);
  } catch (e) {
    throw fail(f.name, `not a .npz (zip) archive (${(e as Error).message})`);
  }
  const get = (k: string) => members[`${k}.npy`] ?? members[k];
  const compBytes = get('lat_comp');
  if (!compBytes) {
    const keys = Object.keys(members).map((k) => k.replace(/\.npy$/, ''));
    throw fail(f.name, `no lat_comp array (keys ${JSON.stringify(keys)}); a GANSpace .npz has lat_comp (K, 1, d) and lat_stdev (K,)`);
  }
  const comp = npy(f.name, compBytes, 'lat_comp');
  let shape = comp.shape;
  if (shape.length === 3 && shape[1] === 1) shape = [shape[0], shape[2]];
  if (shape.length !== 2) throw fail(f.name, `components have shape (${comp.shape.join(', ')}); expected (K, 1, d) or (K, d)`);
  const [k, d] = shape;
  const sp = space ?? nameSpace(f.name);
  const stdBytes = get('lat_stdev');
  const std = stdBytes && sp === 'w' ? npy(f.name, stdBytes, 'lat_stdev').data : undefined;
  if (std && std.length !== k) throw fail(f.name, `${std.length} standard deviations for ${k} components`);
  const varBytes = get('var_ratio');
  const varRatio = varBytes ? npy(f.name, varBytes, 'var_ratio').data : undefined;
  const stem = stemOf(f.name);
  const out: Incoming[] = [];
  for (let j = 0; j < k; j++) {
    const v = checked(f.name, `component ${j}`, comp.data.slice(j * d, (j + 1) * d));
    let sigma: number | undefined;
    if (std) {
      if (!(Number.isFinite(std[j]) && std[j] > 0)) throw fail(f.name, `standard deviation of component ${j} is ${std[j]}`);
      sigma = std[j] / Math.hypot(...v); // spread along the unit direction
    }
    const fields: Partial<Entry> = {};
    if (varRatio && j < varRatio.length && Number.isFinite(varRatio[j])) fields.explainedVariance = varRatio[j];
    out.push({ id: `${slug(stem)}-pc${j + 1}`, label: `PC${j + 1} (${stem})`, kind: 'ganspace', space: sp, vector: v, source: `GANSpace ${f.name}, component ${j}`, sigma, fields });
  }
  return out;
}

const KEEP: (keyof Entry)[] = ['range', 'layers', 'attribute', 'classifierAccuracy', 'explainedVariance', 'editStrength', 'offerInF'];

function readJson(f: DirectionFile, space?: 'z' | 'w'): Incoming[] {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(f.bytes));
  } catch (e) {
    throw fail(f.name, `not a JSON file (${(e as Error).message})`);
  }
  const entries = doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as { directions?: unknown }).directions : doc;
  if (!Array.isArray(entries)) throw fail(f.name, 'expected a list of directions or {"directions": [...]}');
  const fitsRaw = !Array.isArray(doc) ? (doc as { fits?: Partial<SetShape> }).fits : undefined;
  const fits = fitsRaw && typeof fitsRaw.resolution === 'number' ? (fitsRaw as SetShape) : undefined;
  return entries.map((e: Partial<Entry>, i): Incoming => {
    if (!e || typeof e !== 'object' || typeof e.id !== 'string' || !e.id) throw fail(f.name, `direction #${i} has no id`);
    const sp = space ?? e.space ?? 'z';
    const key = sp === 'w' && e.wVector ? 'wVector' : 'vector';
    const raw = e[key];
    if (!Array.isArray(raw)) throw fail(f.name, `direction #${i} (${e.id}): space '${sp}' needs ${sp === 'w' ? 'wVector' : 'vector'}`);
    if (raw.some((x) => typeof x !== 'number' && x !== null)) throw fail(f.name, `direction '${e.id}' has values that are not numbers`);
    const v = checked(f.name, `direction '${e.id}'`, Float64Array.from(raw, (x) => (x === null ? NaN : x)));
    const fields: Partial<Entry> = {};
    for (const k of KEEP) if (k in e) (fields as Record<string, unknown>)[k] = e[k];
    if (sp === 'z' && e.zScale !== undefined) fields.zScale = e.zScale;
    if (sp === 'z' && e.parts !== undefined) fields.parts = e.parts; // checked against the pack by resolveDirections
    const label = typeof e.label === 'string' ? e.label : humanise(e.id);
    const kind = e.kind ?? 'custom';
    // a W entry that already carries its Z conversion (vector, zScale) is kept as it is
    const complete = sp === 'w' && Array.isArray(e.vector) && e.zScale !== undefined && e.wSigma !== undefined ? ({ ...e, label, kind, space: 'w' } as Entry) : undefined;
    return { id: e.id, label, kind, space: sp, vector: v, source: e.source ?? f.name, sigma: sp === 'w' ? e.wSigma : undefined, fields, entry: complete, fits };
  });
}

/** Reads one direction file (by extension); `space` overrides what the name says. */
export function readDirectionFile(f: DirectionFile, space?: 'z' | 'w'): Incoming[] {
  const ext = extOf(f.name);
  const reader = ext === '.npy' ? readNpy : ext === '.npz' ? readNpz : ext === '.json' ? readJson : null;
  if (!reader) throw fail(f.name, `unknown direction file format '${ext || '(no extension)'}' (known: ${KNOWN_FORMATS.join(', ')})`);
  return reader(f, space);
}
