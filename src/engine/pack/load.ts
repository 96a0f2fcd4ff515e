/** Loading a model pack over fetch: manifest.json (validated), the graphs and the shared weights file, each checked. */
import { EngineError } from '../errors';
import { ENGINE_GRAPHS, type GraphKey } from '../graphs/contract';
import { validateManifest, type ModelPackManifest } from './manifest';

export interface ModelPack {
  baseUrl: string;
  manifest: ModelPackManifest;
  /** Serialized ONNX graphs by key (only the fp32 graphs the engine uses). */
  graphs: Partial<Record<GraphKey, Uint8Array>>;
  /** `<key>@fp16` copies, when asked for (LoadPackOptions.fp16) and the pack has them. */
  graphs16?: Partial<Record<GraphKey, Uint8Array>>;
  /** Shared external-data file (manifest.weights), if the pack has one. */
  weights?: { path: string; data: Uint8Array };
}

export interface LoadProgress {
  file: string;
  loaded: number;
  total: number;
}

export interface LoadPackOptions {
  fetch?: typeof fetch;
  onProgress?: (p: LoadProgress) => void;
  /** Skip sha256 checks (never by default). */
  skipHashes?: boolean;
  /** Graph keys to load; default: every fp32 graph the engine knows. */
  keys?: GraphKey[];
  /** Also load the `<key>@fp16` copies of those keys (WebGPU with shader-f16). */
  fp16?: boolean;
}

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

export function joinUrl(base: string, file: string): string {
  return base.endsWith('/') ? base + file : base + '/' + file;
}

/** `f(url)` with a failed request or a non-2xx status as a PackFetchError naming `label` (verb: "fetch" or "download"). */
export async function fetchResponse(url: string, label: string, f: typeof fetch, verb = 'fetch'): Promise<Response> {
  let res: Response;
  try {
    res = await f(url);
  } catch (e) {
    throw new EngineError('PackFetchError', `could not ${verb} ${label} (${url}): ${(e as Error).message}`);
  }
  if (!res.ok) throw new EngineError('PackFetchError', `could not ${verb} ${label}: HTTP ${res.status} for ${url}`);
  return res;
}

async function fetchBytes(url: string, label: string, f: typeof fetch, expectBytes: number | undefined, onProgress?: (p: LoadProgress) => void): Promise<Uint8Array> {
  return readWithProgress(await fetchResponse(url, label, f), label, onProgress, expectBytes);
}

/** Reads a response body, reporting progress when asked (total: the manifest's byte count, else content-length, else 0). */
export async function readWithProgress(res: Response, label: string, onProgress?: (p: LoadProgress) => void, expectBytes?: number): Promise<Uint8Array> {
  // content-length is the compressed size when the server gzips: the manifest's byte count wins
  const total = expectBytes ?? Number(res.headers.get('content-length') ?? 0);
  if (!res.body || (!onProgress && !(total > 0))) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  // known size (a large weights file): fill one buffer as chunks arrive, so the file is never held twice
  let buf: Uint8Array | null = total > 0 ? new Uint8Array(total) : null;
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  let lastReport = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (buf && loaded + value.length <= buf.length) buf.set(value, loaded);
    else {
      if (buf) chunks.push(buf.subarray(0, loaded)), (buf = null);
      chunks.push(value);
    }
    loaded += value.length;
    const now = Date.now();
    if (onProgress && (now - lastReport > 50 || loaded === total)) {
      lastReport = now;
      onProgress({ file: label, loaded, total });
    }
  }
  if (buf) return loaded === buf.length ? buf : buf.slice(0, loaded);
  const out = new Uint8Array(loaded);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

async function checkFile(label: string, data: Uint8Array, bytes: number, sha: string, skip: boolean) {
  if (data.length !== bytes) {
    throw new EngineError('PackIntegrityError', `${label}: ${data.length} bytes, the manifest says ${bytes} (truncated or wrong file)`);
  }
  if (skip) return;
  const got = await sha256Hex(data);
  if (got !== sha) throw new EngineError('PackIntegrityError', `${label}: sha256 ${got.slice(0, 12)}… does not match the manifest (${sha.slice(0, 12)}…)`);
}

/** Fetches manifest.json, validates it, fetches the graphs and the shared weights file, and checks every sha256. */
export async function loadModelPack(baseUrl: string, opts: LoadPackOptions = {}): Promise<ModelPack> {
  const f = opts.fetch ?? fetch;
  const manifestBytes = await fetchBytes(joinUrl(baseUrl, 'manifest.json'), 'manifest.json', f, undefined);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(manifestBytes));
  } catch (e) {
    throw new EngineError('PackManifestError', `manifest.json is not valid JSON: ${(e as Error).message}`);
  }
  const manifest = validateManifest(json);
  const keys = (opts.keys ?? ENGINE_GRAPHS).filter((k) => manifest.graphs[k]);
  const skip = !!opts.skipHashes;
  const pack: ModelPack = { baseUrl, manifest, graphs: {} };
  const jobs: Promise<void>[] = [];
  if (manifest.weights) {
    const w = manifest.weights;
    jobs.push(
      fetchBytes(joinUrl(baseUrl, w.file), w.file, f, w.bytes, opts.onProgress).then(async (data) => {
        await checkFile(w.file, data, w.bytes, w.sha256, skip);
        pack.weights = { path: w.file, data };
      }),
    );
  } else if (keys.some((k) => manifest.graphs[k]!.externalData)) {
    throw new EngineError('PackManifestError', 'graphs use external data but the manifest has no "weights" entry');
  }
  for (const k of keys) {
    const g = manifest.graphs[k]!;
    jobs.push(
      fetchBytes(joinUrl(baseUrl, g.file), `graph '${k}' (${g.file})`, f, g.bytes, opts.onProgress).then(async (data) => {
        await checkFile(`graph '${k}' (${g.file})`, data, g.bytes, g.sha256, skip);
        pack.graphs[k] = data;
      }),
    );
    const g16 = opts.fp16 ? (manifest.graphs as Record<string, typeof g>)[`${k}@fp16`] : undefined;
    if (g16) {
      const label = `graph '${k}@fp16' (${g16.file})`;
      jobs.push(
        fetchBytes(joinUrl(baseUrl, g16.file), label, f, g16.bytes, opts.onProgress).then(async (data) => {
          await checkFile(label, data, g16.bytes, g16.sha256, skip);
          (pack.graphs16 ??= {})[k] = data;
        }),
      );
    }
  }
  await Promise.all(jobs);
  return pack;
}
