/**
 * Streamed pack import: a zip, a folder or a URL is read in chunks, every file is hashed
 * incrementally (hash-wasm sha256) and written to storage as it arrives (OPFS staging folder), so a 140–210 MB pack is
 * never held in memory, let alone twice. Runs in the import worker (src/worker/import.worker.ts), off the UI thread.
 * The checks and their messages are the engine's (manifest.ts / pack.ts): bad JSON, missing
 * graph or weights files, schema + shapes (manifest.ts), byte count and sha256 of every graph and the weights.
 * No DOM.
 */
import { Unzip, UnzipInflate, type UnzipFile } from 'fflate';
import { createSHA256, type IHasher } from 'hash-wasm';
import { EngineError } from '../errors';
import { validateManifest, type ModelPackManifest } from './manifest';
import { fetchResponse } from './load';
import { packIdFromName, type FileSink, type PackStage, type PackStorage } from './store';

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
  /** Bytes read over every file so far, and the total when known (0 otherwise). */
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

class Importer {
  readonly staged = new Map<string, Staged>();
  manifestRaw: Uint8Array | null = null;
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

  /** A writer for one file: hashes and writes each chunk; small manifest.json files are also kept in memory. */
  async open(path: string, total: number, label = path) {
    const sink: FileSink = await this.stage.open(path);
    const hasher: IHasher = await createSHA256();
    hasher.init();
    const isManifest = path === 'manifest.json' || path.endsWith('/manifest.json');
    const keep: Uint8Array[] = [];
    let loaded = 0;
    return {
      write: async (c: Uint8Array) => {
        hasher.update(c);
        if (isManifest) keep.push(c.slice());
        await sink.write(c);
        loaded += c.length;
        this.doneBytes += c.length;
        this.report('reading', label, loaded, total);
      },
      close: async () => {
        await sink.close();
        this.staged.set(path, { bytes: loaded, sha256: hasher.digest('hex') });
        if (isManifest) (this.manifests ??= new Map()).set(path, concat(keep, loaded));
        this.report('reading', label, loaded, total, true);
      },
    };
  }

  manifests: Map<string, Uint8Array> | undefined;

  async pipe(path: string, stream: ReadableStream<Uint8Array>, total: number, label = path) {
    const w = await this.open(path, total, label);
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await w.write(value);
    }
    await w.close();
  }
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
}

/** Streams a zip through fflate's Unzip: each entry is inflated chunk by chunk straight into storage. */
async function readZip(imp: Importer, name: string, stream: ReadableStream<Uint8Array>) {
  const unzip = new Unzip();
  unzip.register(UnzipInflate);
  let pending: Promise<void>[] = [];
  let failure: Error | null = null;
  let entries = 0;
  unzip.onfile = (file: UnzipFile) => {
    const path = cleanPath(file.name);
    if (!path || path.endsWith('/')) return; // a folder entry
    entries++;
    // chunks of one entry arrive synchronously from push(); write them in order
    let chain: Promise<{ write(c: Uint8Array): Promise<void>; close(): Promise<void> }> = imp.open(path, file.originalSize ?? file.size ?? 0);
    file.ondata = (err, chunk, final) => {
      if (err) {
        failure ??= new EngineError('PackManifestError', `not a readable zip file: ${path}: ${err.message}`);
        return;
      }
      const data = chunk.slice(); // fflate may reuse its buffer
      chain = chain.then(async (w) => {
        if (data.length) await w.write(data);
        if (final) await w.close();
        return w;
      });
      pending.push(chain.then(() => undefined));
    };
    try {
      file.start();
    } catch (e) {
      failure ??= new EngineError('PackManifestError', `not a readable zip file: ${path}: ${(e as Error).message}`);
    }
  };
  const reader = stream.getReader();
  let first = true;
  for (;;) {
    const { done, value } = await reader.read();
    if (first && value?.length) {
      first = false;
      if (!(value[0] === 0x50 && value[1] === 0x4b)) throw new EngineError('PackManifestError', `not a readable zip file: ${name} does not start with a zip header`);
    }
    try {
      if (done) unzip.push(new Uint8Array(0), true);
      else unzip.push(value);
    } catch (e) {
      throw new EngineError('PackManifestError', `not a readable zip file: ${(e as Error).message}`);
    }
    // wait for the storage writes of this chunk before reading more (bounded memory)
    const now = pending;
    pending = [];
    await Promise.all(now);
    if (failure) throw failure;
    if (done) break;
  }
  if (!entries) throw new EngineError('PackManifestError', `not a readable zip file: no entries in ${name}`);
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

/** The files a manifest lists: weights, every graph, the samples; with the byte counts it gives. */
function listedFiles(json: any): Map<string, number> {
  const wanted = new Map<string, number>();
  for (const e of [json?.weights, ...Object.values(json?.graphs ?? {})] as { file?: unknown; bytes?: unknown }[]) {
    if (typeof e?.file !== 'string') continue;
    wanted.set(e.file, typeof e.bytes === 'number' && e.bytes > 0 ? e.bytes : 0);
  }
  for (const s of json?.samples ?? []) if (typeof s === 'string') wanted.set(s, 0);
  for (const p of wanted.keys()) if (p.split('/').some((s) => s === '..')) throw new EngineError('PackManifestError', `bad file path in the manifest: '${p}'`);
  return wanted;
}

/**
 * The same checks as the engine's pack loading (manifest.ts + pack.loadModelPack), over sizes and hashes
 * computed while streaming: JSON, missing graph/weights files, schema and shapes, then byte count + sha256 of the
 * weights and every graph in the manifest (fp16 and classifier included).
 */
export function checkStaged(raw: Uint8Array, files: Map<string, Staged>): ModelPackManifest {
  const json = parseManifest(raw);
  const missing: string[] = [];
  for (const [k, g] of Object.entries((json?.graphs ?? {}) as Record<string, { file?: unknown }>)) {
    if (typeof g?.file === 'string' && !files.has(g.file)) missing.push(`graph '${k}' (${g.file})`);
  }
  if (typeof json?.weights?.file === 'string' && !files.has(json.weights.file)) missing.push(`weights (${json.weights.file})`);
  if (missing.length) throw new EngineError('PackManifestError', `the pack lacks ${missing.join(', ')}`);
  const manifest = validateManifest(json);
  const check = (label: string, file: string, bytes: number, sha: string) => {
    const got = files.get(file)!;
    if (got.bytes !== bytes) throw new EngineError('PackIntegrityError', `${label}: ${got.bytes} bytes, the manifest says ${bytes} (truncated or wrong file)`);
    if (got.sha256 !== sha) throw new EngineError('PackIntegrityError', `${label}: sha256 ${got.sha256.slice(0, 12)}… does not match the manifest (${sha.slice(0, 12)}…)`);
  };
  if (manifest.weights) check(manifest.weights.file, manifest.weights.file, manifest.weights.bytes, manifest.weights.sha256);
  else if (Object.values(manifest.graphs).some((g) => g?.externalData)) {
    throw new EngineError('PackManifestError', 'graphs use external data but the manifest has no "weights" entry');
  }
  for (const [k, g] of Object.entries(manifest.graphs)) if (g) check(`graph '${k}' (${g.file})`, g.file, g.bytes, g.sha256);
  return manifest;
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
    // staged path -> path inside the pack
    let layout: Map<string, string>;
    if (source.kind === 'files') {
      const paths = source.files.map((x) => cleanPath(x.path)).filter((p) => p && !p.endsWith('/'));
      const root = packRoot(paths);
      const mine = source.files.filter((x) => cleanPath(x.path).startsWith(root) && !ignored(cleanPath(x.path).slice(root.length)));
      imp.allBytes = mine.reduce((n, x) => n + x.blob.size, 0);
      // manifest first: bad JSON is reported before 200 MB are read
      mine.sort((a, b) => Number(cleanPath(b.path) === root + 'manifest.json') - Number(cleanPath(a.path) === root + 'manifest.json'));
      for (const x of mine) {
        const p = cleanPath(x.path);
        await imp.pipe(p, x.blob.stream() as ReadableStream<Uint8Array>, x.blob.size, p.slice(root.length));
        if (p === root + 'manifest.json') listedFiles(parseManifest(imp.manifests!.get(p)!));
      }
      layout = new Map([...imp.staged.keys()].map((p) => [p, p.slice(root.length)]));
    } else if (source.kind === 'zip' || /\.zip([?#].*)?$/i.test(source.url.trim())) {
      let stream: ReadableStream<Uint8Array>;
      let name: string;
      if (source.kind === 'zip') {
        stream = source.blob.stream() as ReadableStream<Uint8Array>;
        name = source.name;
        imp.allBytes = source.blob.size;
      } else {
        const url = source.url.trim();
        name = url.split('/').pop()!.replace(/[?#].*$/, '');
        const res = await get(url, name, f);
        imp.allBytes = Number(res.headers.get('content-length') ?? 0);
        stream = bodyOf(res);
      }
      await readZip(imp, name, stream);
      const paths = [...imp.staged.keys()];
      const root = packRoot(paths);
      layout = new Map(paths.filter((p) => p.startsWith(root) && !ignored(p.slice(root.length))).map((p) => [p, p.slice(root.length)]));
    } else {
      // a pack folder on this site: manifest.json, then every file it lists
      const base = source.url.trim().replace(/manifest\.json([?#].*)?$/, '').replace(/\/?$/, '/');
      const res = await get(base + 'manifest.json', 'manifest.json', f);
      await imp.pipe('manifest.json', bodyOf(res), 0);
      const wanted = listedFiles(parseManifest(imp.manifests!.get('manifest.json')!));
      // the manifest (already read) + the sizes it lists; files it lists without a size (samples) are added from
      // their Content-Length below, so "x of y" never runs past y
      imp.allBytes = imp.doneBytes + [...wanted.values()].reduce((a, b) => a + b, 0);
      for (const [p, bytes] of wanted) {
        let r: Response;
        try {
          r = await get(base + p, p, f);
        } catch (e) {
          // a missing graph is reported by the checks, naming the graph
          if ((e as Error).name === 'PackFetchError' && /HTTP 404/.test((e as Error).message)) continue;
          throw e;
        }
        if (!bytes) imp.allBytes += Number(r.headers.get('content-length') ?? 0);
        await imp.pipe(p, bodyOf(r), bytes);
      }
      layout = new Map([...imp.staged.keys()].map((p) => [p, p]));
    }
    const manifestPath = [...layout].find(([, rel]) => rel === 'manifest.json')?.[0];
    if (!manifestPath) throw new EngineError('PackManifestError', 'no manifest.json in the pack');
    imp.report('checking', 'manifest.json', 0, 0, true);
    const byRel = new Map([...layout].map(([s, rel]) => [rel, imp.staged.get(s)!]));
    const raw = imp.manifests!.get(manifestPath)!;
    const manifest = checkStaged(raw, byRel);
    const taken = new Set(await storage.list());
    const base = packIdFromName(manifest.name);
    let id = base;
    for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
    imp.report('storing', id, 0, 0, true);
    const moves = [...layout].filter(([, rel]) => rel !== 'manifest.json');
    await stage.commit(id, moves, raw);
    const files: Record<string, number> = {};
    let bytes = 0;
    for (const [rel, s] of byRel) {
      files[rel] = s.bytes;
      bytes += s.bytes;
    }
    return { id, manifest, bytes, files };
  } catch (e) {
    await stage.discard().catch(() => undefined);
    throw e;
  }
}
