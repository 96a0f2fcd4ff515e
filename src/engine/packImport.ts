/**
 * Importing a model pack from a zip, a folder or a URL (model manager, issue 5.2): gather the files, run the same
 * checks the engine runs on load (schema + cross-field checks in manifest.ts, byte counts + sha256 in pack.ts),
 * then store the pack. Graph loading itself is checked by the engine when the pack is activated.
 */
import { unzipSync } from 'fflate';
import { EngineError } from './errors';
import type { GraphKey, ModelPackManifest } from './manifest';
import { loadModelPack, readWithProgress, type LoadProgress } from './pack';
import { packIdFromName, type PackFiles, type PackStorage } from './packStore';

/** Drops the common top folder (a zip of `tiny-test/` or a picked folder) so `manifest.json` is at the root. */
export function normalizeFiles(entries: Iterable<[string, Uint8Array]>): PackFiles {
  const all = [...entries].map(([p, d]) => [p.replace(/\\/g, '/').replace(/^\/+/, ''), d] as [string, Uint8Array]).filter(([p]) => p && !p.endsWith('/'));
  const manifests = all.map(([p]) => p).filter((p) => p === 'manifest.json' || p.endsWith('/manifest.json'));
  if (!manifests.length) throw new EngineError('PackManifestError', 'no manifest.json in the pack');
  // the shallowest manifest.json decides the pack's root folder
  const top = manifests.sort((a, b) => a.split('/').length - b.split('/').length)[0];
  const prefix = top.slice(0, top.length - 'manifest.json'.length);
  const out: PackFiles = new Map();
  for (const [p, d] of all) {
    if (!p.startsWith(prefix)) continue;
    const rel = p.slice(prefix.length);
    if (rel.split('/').some((s) => s === '__MACOSX' || s === '.DS_Store')) continue;
    out.set(rel, d);
  }
  return out;
}

export function filesFromZip(zip: Uint8Array): PackFiles {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(zip);
  } catch (e) {
    throw new EngineError('PackManifestError', `not a readable zip file: ${(e as Error).message}`);
  }
  return normalizeFiles(Object.entries(entries));
}

/** Files from `<input type=file webkitdirectory>` (path = webkitRelativePath) or a plain list. */
export async function filesFromFileList(files: Iterable<{ name: string; webkitRelativePath?: string; arrayBuffer(): Promise<ArrayBuffer> }>): Promise<PackFiles> {
  const entries: [string, Uint8Array][] = [];
  for (const f of files) entries.push([f.webkitRelativePath || f.name, new Uint8Array(await f.arrayBuffer())]);
  return normalizeFiles(entries);
}

/** A fetch over in-memory files (404 for anything else). */
export function memoryFetch(files: PackFiles, base = 'mem:/'): typeof fetch {
  return (async (input: RequestInfo | URL) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const d = url.startsWith(base) ? files.get(decodeURIComponent(url.slice(base.length))) : undefined;
    if (!d) return new Response(null, { status: 404 });
    return new Response(d as Uint8Array<ArrayBuffer>, { status: 200, headers: { 'content-length': String(d.length) } });
  }) as typeof fetch;
}

export interface CheckedPack {
  id: string;
  manifest: ModelPackManifest;
  files: PackFiles;
  bytes: number;
}

/**
 * Refuses a malformed pack with a message naming the problem: bad JSON, schema / shape errors, a missing graph or
 * weights file, a byte count or sha256 that does not match the manifest. Uses the engine's own checks.
 */
export async function checkPackFiles(files: PackFiles): Promise<CheckedPack> {
  const raw = files.get('manifest.json');
  if (!raw) throw new EngineError('PackManifestError', 'no manifest.json in the pack');
  let json: { graphs?: Record<string, { file?: string }>; weights?: { file?: string } };
  try {
    json = JSON.parse(new TextDecoder().decode(raw));
  } catch (e) {
    throw new EngineError('PackManifestError', `manifest.json is not valid JSON: ${(e as Error).message}`);
  }
  // name missing files before the schema check would name them less directly
  const missing: string[] = [];
  for (const [k, g] of Object.entries(json?.graphs ?? {})) if (typeof g?.file === 'string' && !files.has(g.file)) missing.push(`graph '${k}' (${g.file})`);
  if (typeof json?.weights?.file === 'string' && !files.has(json.weights.file)) missing.push(`weights (${json.weights.file})`);
  if (missing.length) throw new EngineError('PackManifestError', `the pack lacks ${missing.join(', ')}`);
  // every graph in the manifest (fp16 and classifier too), all with byte count + sha256
  const keys = Object.keys(json.graphs ?? {}) as GraphKey[];
  const pack = await loadModelPack('mem:/', { fetch: memoryFetch(files), keys });
  let bytes = 0;
  for (const d of files.values()) bytes += d.length;
  return { id: packIdFromName(pack.manifest.name), manifest: pack.manifest, files, bytes };
}

/**
 * Checks and stores a pack under a new id (the manifest name, `-2`, `-3`… when taken: an import never overwrites a
 * stored pack, so a re-import that later fails to load loses nothing); returns its id.
 */
export async function importPackFiles(storage: PackStorage, files: PackFiles): Promise<CheckedPack> {
  const checked = await checkPackFiles(files);
  const taken = new Set(await storage.list());
  let id = checked.id;
  for (let n = 2; taken.has(id); n++) id = `${checked.id}-${n}`;
  await storage.write(id, checked.files);
  return { ...checked, id };
}

async function get(url: string, label: string, f: typeof fetch, onProgress?: (p: LoadProgress) => void, expectBytes?: number): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await f(url);
  } catch (e) {
    throw new EngineError('PackFetchError', `could not download ${label} (${url}): ${(e as Error).message}`);
  }
  if (!res.ok) throw new EngineError('PackFetchError', `could not download ${label}: HTTP ${res.status} for ${url}`);
  return readWithProgress(res, label, onProgress, expectBytes);
}

/**
 * Downloads a pack from a URL: a `.zip`, or a pack folder (its `manifest.json`, then every graph, the weights file
 * and the samples it lists), with progress per file.
 */
export async function filesFromUrl(url: string, onProgress?: (p: LoadProgress) => void, f: typeof fetch = (u, i) => fetch(u, i)): Promise<PackFiles> {
  const clean = url.trim();
  if (/\.zip([?#].*)?$/i.test(clean)) return filesFromZip(await get(clean, clean.split('/').pop()!.replace(/[?#].*$/, ''), f, onProgress));
  const base = clean.replace(/manifest\.json([?#].*)?$/, '').replace(/\/?$/, '/');
  const files: PackFiles = new Map();
  const raw = await get(base + 'manifest.json', 'manifest.json', f, onProgress);
  files.set('manifest.json', raw);
  let json: { graphs?: Record<string, { file?: string; bytes?: number }>; weights?: { file?: string; bytes?: number }; samples?: unknown[] };
  try {
    json = JSON.parse(new TextDecoder().decode(raw));
  } catch (e) {
    throw new EngineError('PackManifestError', `manifest.json is not valid JSON: ${(e as Error).message}`);
  }
  const wanted = new Set<string>();
  const sizes = new Map<string, number>();
  for (const e of [json?.weights, ...Object.values(json?.graphs ?? {})]) {
    if (typeof e?.file !== 'string') continue;
    wanted.add(e.file);
    if (typeof e.bytes === 'number' && e.bytes > 0) sizes.set(e.file, e.bytes);
  }
  for (const s of json?.samples ?? []) if (typeof s === 'string') wanted.add(s);
  for (const p of wanted) {
    if (p.split('/').some((s) => s === '..')) throw new EngineError('PackManifestError', `bad file path in the manifest: '${p}'`);
    try {
      files.set(p, await get(base + p, p, f, onProgress, sizes.get(p)));
    } catch (e) {
      // a missing graph is reported by checkPackFiles, naming the graph
      if ((e as Error).name !== 'PackFetchError' || !/HTTP 404/.test((e as Error).message)) throw e;
    }
  }
  return files;
}
