/**
 * Streamed pack import: a zip, a folder or a URL is read in chunks, every file is hashed incrementally (hash-wasm
 * sha256) and written to storage as it arrives (OPFS staging folder), so a 140–210 MB pack is never held in memory,
 * let alone twice. Runs in the import worker (src/worker/import.worker.ts), off the UI thread.
 *
 * Order, so that a hostile or careless pack costs little: every path is checked (and a zip's duplicate names
 * refused) before anything is written; manifest.json is read first and validated (manifest.ts: every number finite
 * and bounded, every file a plain path); then only the files it lists are read, each stopped as soon as it passes
 * the size the manifest declares (zip entries are inflated in small slices, src/engine/pack/zip.ts); then sizes and
 * sha256 are checked and the pack is committed in one step (store.ts). A pack is its manifest and the files it lists:
 * other files are not kept. Progress counts uncompressed bytes against the declared total. No DOM.
 */
import { createSHA256, type IHasher } from 'hash-wasm';
import { EngineError } from '../errors';
import { validateManifest, type ModelPackManifest } from './manifest';
import { fetchResponse } from './load';
import { checkPath, packIdFromName, type FileSink, type PackStage, type PackStorage } from './store';
import { readZipIndex, streamZipEntry, type ZipEntry } from './zip';

/** A file-like source (File from an <input>, a Blob in tests). `path` is the name inside the pack or folder. */
export interface SourceFile {
  path: string;
  blob: Blob;
}

export type ImportSource =
  | { kind: 'files'; files: SourceFile[] }
  | { kind: 'zip'; name: string; blob: Blob }
  | { kind: 'url'; url: string };

export interface ImportProgress {
  /** 'reading': bytes of `file` arriving; 'checking': manifest checks; 'storing': moving into place. */
  phase: 'reading' | 'checking' | 'storing';
  file: string;
  loaded: number;
  /** Bytes of this file, 0 when unknown. */
  total: number;
  /** Uncompressed bytes read over every file so far, and the declared total when known (0 otherwise). */
  doneBytes: number;
  allBytes: number;
}

export interface ImportedPack {
  id: string;
  manifest: ModelPackManifest;
  bytes: number;
  /** Files stored, with their sizes. */
  files: Record<string, number>;
}

interface Staged {
  bytes: number;
  sha256: string;
}

export const IMPORT_LIMITS = {
  /** manifest.json larger than this is refused before it is read (the demo pack's is ~60 KB). */
  manifestBytes: 4 * 1024 * 1024,
  /** A sample image (the manifest gives no size for them). */
  sampleBytes: 16 * 1024 * 1024,
  /** A downloaded zip. */
  zipBytes: 16 * 1024 ** 3,
};

const PROGRESS_MS = 100;

/** Common top folder of a zip or a picked folder: the folder of the shallowest manifest.json. */
export function packRoot(paths: string[]): string {
  const manifests = paths.filter((p) => p === 'manifest.json' || p.endsWith('/manifest.json'));
  if (!manifests.length) throw new EngineError('PackManifestError', 'no manifest.json in the pack');
  const top = manifests.sort((a, b) => a.split('/').length - b.split('/').length)[0];
  return top.slice(0, top.length - 'manifest.json'.length);
}

const cleanPath = (p: string) => p.replace(/\\/g, '/').replace(/^\/+/, '');
const ignored = (rel: string) => rel.split('/').some((s) => s === '__MACOSX' || s === '.DS_Store');

/** Refuses a source path that could leave the pack's folder ('..', a drive letter, a NUL), before anything is read. */
function checkSourcePath(raw: string, where: string) {
  const p = cleanPath(raw);
  if (p.split('/').some((s) => s === '..') || /[:\u0000]/.test(p)) throw new EngineError('PackManifestError', `bad file path in ${where}: '${raw}'`);
}

/** Refuses two entries of the same name (after cleaning), naming it. */
function refuseDuplicates(paths: string[], where: string) {
  const seen = new Set<string>();
  for (const p of paths) {
    if (seen.has(p)) throw new EngineError('PackManifestError', `${where} holds ${p.split('/').pop()} twice (${p}); a pack has one file per name`);
    seen.add(p);
  }
}

class Importer {
  readonly staged = new Map<string, Staged>();
  doneBytes = 0;
  private lastReport = 0;

  constructor(
    readonly stage: PackStage,
    readonly onProgress: ((p: ImportProgress) => void) | undefined,
    public allBytes = 0,
  ) {}

  report(phase: ImportProgress['phase'], file: string, loaded: number, total: number, force = false) {
    if (!this.onProgress) return;
    const now = Date.now();
    if (!force && now - this.lastReport < PROGRESS_MS) return;
    this.lastReport = now;
    this.onProgress({ phase, file, loaded, total, doneBytes: this.doneBytes, allBytes: this.allBytes });
  }

  /**
   * A writer for one pack file: hashes and writes each chunk and refuses the file once it passes `limit` bytes.
   * `sink` defaults to the pack file at `path`.
   */
  async open(path: string, total: number, limit: number, sink?: FileSink) {
    const out = sink ?? (await this.stage.open(path));
    const hasher: IHasher = await createSHA256();
    hasher.init();
    let loaded = 0;
    return {
      write: async (c: Uint8Array) => {
        if (loaded + c.length > limit) throw tooLarge(path, limit);
        hasher.update(c);
        await out.write(c);
        loaded += c.length;
        this.doneBytes += c.length;
        this.report('reading', path, loaded, total);
      },
      close: async () => {
        await out.close();
        this.staged.set(path, { bytes: loaded, sha256: hasher.digest('hex') });
        this.report('reading', path, loaded, total, true);
      },
    };
  }

  async pipe(path: string, stream: ReadableStream<Uint8Array>, total: number, limit: number) {
    const w = await this.open(path, total, limit);
    const reader = stream.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await w.write(value);
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
    await w.close();
  }
}

const tooLarge = (path: string, limit: number) =>
  new EngineError('PackIntegrityError', `${path} is larger than the ${limit} bytes the manifest gives; refused (a wrong file or a zip bomb)`);

/** Reads a whole (small) stream into memory, refusing it past `limit` bytes. */
async function readSmall(stream: ReadableStream<Uint8Array>, limit: number, label: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.length;
      if (n > limit) throw new EngineError('PackManifestError', `${label} is larger than ${limit} bytes; not a pack manifest`);
      parts.push(value);
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return concat(parts, n);
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
}

const get = (url: string, label: string, f: typeof fetch) => fetchResponse(url, label, f, 'download');

const bodyOf = (res: Response) => res.body ?? new Blob([]).stream();

function parseManifest(raw: Uint8Array): any {
  try {
    return JSON.parse(new TextDecoder().decode(raw));
  } catch (e) {
    throw new EngineError('PackManifestError', `manifest.json is not valid JSON: ${(e as Error).message}`);
  }
}

/** A listed file: its label in messages, its declared size (0: none declared) and the most bytes it may have. */
interface Listed {
  label: string;
  bytes: number;
  limit: number;
  /** A graph or the weights (missing: refused); samples may be absent. */
  required: boolean;
}

/** The files a (validated) manifest lists: weights, every graph, the samples. */
function listedFiles(m: ModelPackManifest): Map<string, Listed> {
  const out = new Map<string, Listed>();
  if (m.weights) out.set(m.weights.file, { label: m.weights.file, bytes: m.weights.bytes, limit: m.weights.bytes, required: true });
  for (const [k, g] of Object.entries(m.graphs)) if (g) out.set(g.file, { label: `graph '${k}' (${g.file})`, bytes: g.bytes, limit: g.bytes, required: true });
  for (const s of m.samples ?? []) if (!out.has(s)) out.set(s, { label: s, bytes: 0, limit: IMPORT_LIMITS.sampleBytes, required: false });
  for (const p of out.keys()) checkPath(p);
  return out;
}

/** Parses and validates manifest.json before any other file is read: its sizes then bound every read. */
function readManifest(raw: Uint8Array): { manifest: ModelPackManifest; listed: Map<string, Listed> } {
  const manifest = validateManifest(parseManifest(raw));
  return { manifest, listed: listedFiles(manifest) };
}

/** The graphs and weights a source lacks, as one refusal (before their data is read). */
function refuseMissing(listed: Map<string, Listed>, has: (p: string) => boolean) {
  const missing = [...listed].filter(([p, l]) => l.required && !has(p)).map(([p, l]) => (l.label === p ? `weights (${p})` : l.label));
  if (missing.length) throw new EngineError('PackManifestError', `the pack lacks ${missing.join(', ')}`);
}

/** A size the source states (a zip's directory, a File) that differs from the manifest's: refused before reading. */
function refuseSize(l: Listed, size: number, where: string) {
  if (l.bytes && size !== l.bytes) {
    throw new EngineError('PackIntegrityError', `${l.label}: ${size} bytes ${where}, the manifest says ${l.bytes} (truncated, wrong file or a zip bomb)`);
  }
}

/** Byte count + sha256 of the weights and every graph the manifest lists, over what was staged. */
export function checkStaged(manifest: ModelPackManifest, files: Map<string, Staged>) {
  const check = (label: string, file: string, bytes: number, sha: string) => {
    const got = files.get(file);
    if (!got) throw new EngineError('PackManifestError', `the pack lacks ${label}`);
    if (got.bytes !== bytes) throw new EngineError('PackIntegrityError', `${label}: ${got.bytes} bytes, the manifest says ${bytes} (truncated or wrong file)`);
    if (got.sha256 !== sha) throw new EngineError('PackIntegrityError', `${label}: sha256 ${got.sha256.slice(0, 12)}… does not match the manifest (${sha.slice(0, 12)}…)`);
  };
  if (manifest.weights) check(manifest.weights.file, manifest.weights.file, manifest.weights.bytes, manifest.weights.sha256);
  else if (Object.values(manifest.graphs).some((g) => g?.externalData)) {
    throw new EngineError('PackManifestError', 'graphs use external data but the manifest has no "weights" entry');
  }
  for (const [k, g] of Object.entries(manifest.graphs)) if (g) check(`graph '${k}' (${g.file})`, g.file, g.bytes, g.sha256);
}

const declaredTotal = (raw: Uint8Array, listed: Map<string, Listed>, sizeOf: (p: string) => number | undefined) =>
  raw.length + [...listed].reduce((n, [p, l]) => n + (l.bytes || Math.min(l.limit, sizeOf(p) ?? 0)), 0);

/** A zip (a File, or a download staged as scratch): central directory, manifest, then each listed entry, bounded. */
async function readZip(imp: Importer, name: string, blob: Blob): Promise<{ manifest: ModelPackManifest; raw: Uint8Array }> {
  const entries = (await readZipIndex(blob, name)).filter((e) => !e.name.endsWith('/'));
  for (const e of entries) checkSourcePath(e.name, name);
  const paths = entries.map((e) => cleanPath(e.name));
  refuseDuplicates(paths, `the zip ${name}`);
  const root = packRoot(paths.filter((p) => !ignored(p)));
  const byRel = new Map<string, ZipEntry>();
  entries.forEach((e, i) => paths[i].startsWith(root) && !ignored(paths[i].slice(root.length)) && byRel.set(paths[i].slice(root.length), e));
  const me = byRel.get('manifest.json')!;
  if (me.size > IMPORT_LIMITS.manifestBytes) throw new EngineError('PackManifestError', `manifest.json in ${name} is ${me.size} bytes; not a pack manifest`);
  const parts: Uint8Array[] = [];
  const n = await streamZipEntry(blob, me, IMPORT_LIMITS.manifestBytes, async (c) => void parts.push(c), 'manifest.json');
  const raw = concat(parts, n);
  const { manifest, listed } = readManifest(raw);
  refuseMissing(listed, (p) => byRel.has(p));
  for (const [p, l] of listed) if (byRel.has(p)) refuseSize(l, byRel.get(p)!.size, 'in the zip');
  imp.doneBytes = raw.length;
  imp.allBytes = declaredTotal(raw, listed, (p) => byRel.get(p)?.size);
  for (const [p, l] of listed) {
    const e = byRel.get(p);
    if (!e) continue; // a sample the zip does not hold
    const w = await imp.open(p, l.bytes || e.size, l.limit);
    await streamZipEntry(blob, e, l.limit, w.write, p);
    await w.close();
  }
  return { manifest, raw };
}

/** A picked folder: every path checked, manifest.json first, then each listed file, bounded by its declared size. */
async function readFolder(imp: Importer, files: SourceFile[]): Promise<{ manifest: ModelPackManifest; raw: Uint8Array }> {
  for (const x of files) checkSourcePath(x.path, 'the folder');
  const paths = files.map((x) => cleanPath(x.path));
  refuseDuplicates(paths, 'the folder');
  const root = packRoot(paths.filter((p) => p && !p.endsWith('/') && !ignored(p)));
  const byRel = new Map<string, Blob>();
  files.forEach((x, i) => paths[i].startsWith(root) && !ignored(paths[i].slice(root.length)) && byRel.set(paths[i].slice(root.length), x.blob));
  const mb = byRel.get('manifest.json')!;
  const raw = await readSmall(mb.stream() as ReadableStream<Uint8Array>, IMPORT_LIMITS.manifestBytes, 'manifest.json');
  const { manifest, listed } = readManifest(raw);
  refuseMissing(listed, (p) => byRel.has(p));
  for (const [p, l] of listed) if (byRel.has(p)) refuseSize(l, byRel.get(p)!.size, 'in the folder');
  imp.doneBytes = raw.length;
  imp.allBytes = declaredTotal(raw, listed, (p) => byRel.get(p)?.size);
  for (const [p, l] of listed) {
    const b = byRel.get(p);
    if (b) await imp.pipe(p, b.stream() as ReadableStream<Uint8Array>, l.bytes || b.size, l.limit);
  }
  return { manifest, raw };
}

/** A pack folder on this site: manifest.json, then every file it lists, each bounded by its declared size. */
async function readUrlFolder(imp: Importer, url: string, f: typeof fetch): Promise<{ manifest: ModelPackManifest; raw: Uint8Array }> {
  const base = url.replace(/manifest\.json([?#].*)?$/, '').replace(/\/?$/, '/');
  const raw = await readSmall(bodyOf(await get(base + 'manifest.json', 'manifest.json', f)), IMPORT_LIMITS.manifestBytes, 'manifest.json');
  const { manifest, listed } = readManifest(raw);
  imp.doneBytes = raw.length;
  // samples have no declared size: their Content-Length is added as they come, so "x of y" never runs past y
  imp.allBytes = declaredTotal(raw, listed, () => 0);
  for (const [p, l] of listed) {
    let r: Response;
    try {
      r = await get(base + p, p, f);
    } catch (e) {
      // a missing graph is reported by the checks, naming the graph
      if ((e as Error).name === 'PackFetchError' && /HTTP 404/.test((e as Error).message)) continue;
      throw e;
    }
    const length = Number(r.headers.get('content-length') ?? 0);
    if (!l.bytes) imp.allBytes += Math.min(l.limit, length);
    await imp.pipe(p, bodyOf(r), l.bytes || length, l.limit);
  }
  return { manifest, raw };
}

/**
 * Streams a pack from `source` into `storage` under a new id (the manifest name, `-2`, `-3`… when taken), checking
 * it on the way; nothing is kept when a check fails.
 */
export async function importPackStream(
  storage: PackStorage,
  source: ImportSource,
  onProgress?: (p: ImportProgress) => void,
  f: typeof fetch = (u, i) => fetch(u, i),
): Promise<ImportedPack> {
  if (!storage.stage) throw new EngineError('PackFetchError', 'this storage cannot stream an import');
  const stage = await storage.stage();
  const imp = new Importer(stage, onProgress);
  try {
    let read: { manifest: ModelPackManifest; raw: Uint8Array };
    if (source.kind === 'files') read = await readFolder(imp, source.files);
    else if (source.kind === 'zip') read = await readZip(imp, source.name, source.blob);
    else if (/\.zip([?#].*)?$/i.test(source.url.trim())) {
      // downloaded into the staging folder first: the zip is then read like a picked one (directory first)
      const url = source.url.trim();
      const name = url.split('/').pop()!.replace(/[?#].*$/, '');
      const res = await get(url, name, f);
      const sink = await stage.openScratch('download.zip');
      const w = await imp.open(name, Number(res.headers.get('content-length') ?? 0), IMPORT_LIMITS.zipBytes, sink);
      const reader = bodyOf(res).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await w.write(value);
      }
      await w.close();
      imp.staged.delete(name);
      read = await readZip(imp, name, await stage.scratchBlob('download.zip'));
    } else read = await readUrlFolder(imp, source.url.trim(), f);
    const { manifest, raw } = read;
    imp.report('checking', 'manifest.json', 0, 0, true);
    checkStaged(manifest, imp.staged);
    const taken = new Set(await storage.list());
    const base = packIdFromName(manifest.name);
    let id = base;
    for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
    imp.report('storing', id, 0, 0, true);
    const files: Record<string, number> = {};
    for (const [p, s] of imp.staged) files[p] = s.bytes;
    await stage.commit(id, files, raw);
    const stored: Record<string, number> = { 'manifest.json': raw.length, ...files };
    const bytes = Object.values(stored).reduce((a, b) => a + b, 0);
    return { id, manifest, bytes, files: stored };
  } catch (e) {
    await stage.discard().catch(() => undefined);
    throw e;
  }
}
