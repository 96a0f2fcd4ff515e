/**
 * Storage of imported model packs. Packs live in the Origin Private File System under
 * `packs/<id>/<file>`, so they work offline next time. The engine loads them through the same `fetch` hook it uses for
 * URLs: `makePackFetch()` answers `opfs:/packs/<id>/<file>` from the storage and passes every other URL to `fetch`.
 * No DOM: runs in the page and in the engine worker (both have navigator.storage).
 */
import { EngineError } from '../errors';

export type PackFiles = Map<string, Uint8Array>;

/** Where imported packs are kept; `OpfsPackStorage` in the browser, `MemoryPackStorage` in unit tests. */
export interface PackStorage {
  /** Ids of the stored packs. */
  list(): Promise<string[]>;
  /** One file of a stored pack; throws when it does not exist. */
  read(id: string, path: string): Promise<Uint8Array>;
  /** Stores (or replaces) a whole pack. */
  write(id: string, files: PackFiles): Promise<void>;
  remove(id: string): Promise<void>;
  /** Total bytes of a stored pack. */
  size(id: string): Promise<number>;
  /** One file as a Blob (OPFS: backed by the disk, so a 140 MB weights file is streamed, not copied into memory). */
  blob?(id: string, path: string): Promise<Blob>;
  /** Starts a streamed import: files are written as they arrive into a hidden staging folder. */
  stage?(): Promise<PackStage>;
}

/** One file being written chunk by chunk. */
export interface FileSink {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** A streamed import in progress: staged files become pack `id` on commit (manifest.json written last). */
export interface PackStage {
  open(stagedPath: string): Promise<FileSink>;
  /** Moves `[stagedPath, packPath]` pairs into `packs/<id>/`, then writes manifest.json; removes the staging folder. */
  commit(id: string, files: [string, string][], manifest: Uint8Array): Promise<void>;
  discard(): Promise<void>;
}

export const STORED_PREFIX = 'opfs:/packs/';

/** URL of a stored pack, as `Engine.loadPack()` takes it. */
export const storedPackUrl = (id: string) => `${STORED_PREFIX}${id}/`;

/** The id in a stored pack's URL, or null for any other URL. */
export function storedPackId(url: string): string | null {
  if (!url.startsWith(STORED_PREFIX)) return null;
  const id = url.slice(STORED_PREFIX.length).split('/')[0];
  return id || null;
}

/** Pack ids are folder names: letters, digits, '-', '_', '.'; never empty or a dot name. */
export function packIdFromName(name: string): string {
  const id = name.trim().replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '').slice(0, 64);
  return id || 'pack';
}

function checkPath(path: string): string[] {
  const parts = path.split('/').filter((p) => p && p !== '.');
  if (!parts.length || parts.some((p) => p === '..')) throw new EngineError('PackManifestError', `bad file path in the pack: '${path}'`);
  return parts;
}

export class MemoryPackStorage implements PackStorage {
  packs = new Map<string, PackFiles>();
  async list() {
    return [...this.packs.keys()].sort();
  }
  async read(id: string, path: string) {
    const f = this.packs.get(id)?.get(checkPath(path).join('/'));
    if (!f) throw new EngineError('PackFetchError', `stored pack '${id}' has no file ${path}`);
    return f;
  }
  async write(id: string, files: PackFiles) {
    this.packs.set(id, new Map([...files].map(([p, d]) => [checkPath(p).join('/'), d])));
  }
  async remove(id: string) {
    this.packs.delete(id);
  }
  async size(id: string) {
    let n = 0;
    for (const d of this.packs.get(id)?.values() ?? []) n += d.length;
    return n;
  }
  async blob(id: string, path: string) {
    return new Blob([(await this.read(id, path)) as Uint8Array<ArrayBuffer>]);
  }
  async stage(): Promise<PackStage> {
    const staged = new Map<string, Uint8Array[]>();
    return {
      open: async (p: string) => {
        const chunks: Uint8Array[] = [];
        staged.set(p, chunks);
        return { write: async (c: Uint8Array) => void chunks.push(c.slice()), close: async () => undefined };
      },
      commit: async (id: string, files: [string, string][], manifest: Uint8Array) => {
        const out: PackFiles = new Map();
        for (const [from, to] of files) {
          const parts = staged.get(from) ?? [];
          const d = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
          let o = 0;
          for (const c of parts) (d.set(c, o), (o += c.length));
          out.set(to, d);
        }
        out.set('manifest.json', manifest);
        await this.write(id, out);
        staged.clear();
      },
      discard: async () => void staged.clear(),
    };
  }
}

type Dir = FileSystemDirectoryHandle;
interface SyncHandle {
  write(buf: Uint8Array, opts: { at: number }): number;
  flush(): void;
  close(): void;
}

export class OpfsPackStorage implements PackStorage {
  private async root(create = true): Promise<Dir> {
    if (!navigator.storage?.getDirectory) throw new EngineError('PackFetchError', 'this browser has no Origin Private File System');
    const top = await navigator.storage.getDirectory();
    return top.getDirectoryHandle('packs', { create });
  }

  async list(): Promise<string[]> {
    const ids: string[] = [];
    const root = await this.root();
    for await (const [name, h] of (root as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
      // a pack is complete once its manifest.json exists (written last)
      if (h.kind !== 'directory') continue;
      try {
        await (h as Dir).getFileHandle('manifest.json');
        ids.push(name);
      } catch {
        /* unfinished import */
      }
    }
    return ids.sort();
  }

  async read(id: string, path: string): Promise<Uint8Array> {
    try {
      let dir = await (await this.root()).getDirectoryHandle(id);
      const parts = checkPath(path);
      for (const p of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(p);
      const file = await (await dir.getFileHandle(parts[parts.length - 1])).getFile();
      return new Uint8Array(await file.arrayBuffer());
    } catch (e) {
      if (e instanceof EngineError) throw e;
      throw new EngineError('PackFetchError', `stored pack '${id}' has no file ${path} (${(e as Error).message})`);
    }
  }

  async write(id: string, files: PackFiles): Promise<void> {
    const root = await this.root();
    await root.removeEntry(id, { recursive: true }).catch(() => undefined);
    const top = await root.getDirectoryHandle(id, { create: true });
    // manifest.json last: list() only shows packs whose manifest exists
    const order = [...files.keys()].sort((a, b) => Number(a === 'manifest.json') - Number(b === 'manifest.json'));
    for (const path of order) {
      const parts = checkPath(path);
      let dir = top;
      for (const p of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(p, { create: true });
      const fh = await dir.getFileHandle(parts[parts.length - 1], { create: true });
      const w = await fh.createWritable();
      await w.write(files.get(path)! as Uint8Array<ArrayBuffer>);
      await w.close();
    }
  }

  async remove(id: string): Promise<void> {
    await (await this.root()).removeEntry(id, { recursive: true });
  }

  async blob(id: string, path: string): Promise<Blob> {
    try {
      let dir = await (await this.root()).getDirectoryHandle(id);
      const parts = checkPath(path);
      for (const p of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(p);
      return await (await dir.getFileHandle(parts[parts.length - 1])).getFile();
    } catch (e) {
      if (e instanceof EngineError) throw e;
      throw new EngineError('PackFetchError', `stored pack '${id}' has no file ${path} (${(e as Error).message})`);
    }
  }

  /**
   * Staging folder `packs/.staging-<random>/` (never listed: no manifest.json, and pack ids never start with '.').
   * Files are written with a sync access handle in a worker (no copy, no swap file), else a writable stream.
   * Stale staging folders of an interrupted import are removed here.
   */
  async stage(): Promise<PackStage> {
    const root = await this.root();
    for await (const [name] of (root as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
      if (name.startsWith('.staging-')) await root.removeEntry(name, { recursive: true }).catch(() => undefined);
    }
    const stageName = `.staging-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const stageDir = await root.getDirectoryHandle(stageName, { create: true });
    const names = new Map<string, string>(); // staged path -> flat file name in the staging folder
    const discard = async () => void (await root.removeEntry(stageName, { recursive: true }).catch(() => undefined));
    return {
      open: async (p: string): Promise<FileSink> => {
        const flat = `f${names.size}`;
        names.set(p, flat);
        const fh = await stageDir.getFileHandle(flat, { create: true });
        const sync = (fh as unknown as { createSyncAccessHandle?: () => Promise<SyncHandle> }).createSyncAccessHandle;
        if (typeof sync === 'function') {
          try {
            const h = await sync.call(fh);
            let at = 0;
            return {
              write: async (c: Uint8Array) => {
                let off = 0;
                while (off < c.length) {
                  const n = h.write(off ? c.subarray(off) : c, { at });
                  if (n <= 0) throw new EngineError('PackFetchError', `could not write ${p} to storage (disk full?)`);
                  off += n;
                  at += n;
                }
              },
              close: async () => {
                h.flush();
                h.close();
              },
            };
          } catch (e) {
            if (e instanceof EngineError) throw e;
            /* not in a worker: fall back to a writable stream */
          }
        }
        const w = await fh.createWritable();
        return { write: (c: Uint8Array) => w.write(c as Uint8Array<ArrayBuffer>), close: () => w.close() };
      },
      commit: async (id: string, files: [string, string][], manifest: Uint8Array) => {
        await root.removeEntry(id, { recursive: true }).catch(() => undefined);
        const top = await root.getDirectoryHandle(id, { create: true });
        for (const [from, to] of files) {
          const flat = names.get(from);
          if (!flat) throw new EngineError('PackFetchError', `staged file ${from} is missing`);
          const parts = checkPath(to);
          let dir = top;
          for (const q of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(q, { create: true });
          const src = await stageDir.getFileHandle(flat);
          const move = (src as unknown as { move?: (d: Dir, n: string) => Promise<void> }).move;
          if (typeof move === 'function') await move.call(src, dir, parts[parts.length - 1]);
          else {
            const w = await (await dir.getFileHandle(parts[parts.length - 1], { create: true })).createWritable();
            await (await src.getFile()).stream().pipeTo(w);
          }
        }
        // manifest.json last: list() only shows packs whose manifest exists
        const w = await (await top.getFileHandle('manifest.json', { create: true })).createWritable();
        await w.write(manifest as Uint8Array<ArrayBuffer>);
        await w.close();
        await discard();
      },
      discard,
    };
  }

  async size(id: string): Promise<number> {
    const walk = async (dir: Dir): Promise<number> => {
      let n = 0;
      for await (const [, h] of (dir as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
        n += h.kind === 'directory' ? await walk(h as Dir) : (await (h as FileSystemFileHandle).getFile()).size;
      }
      return n;
    };
    return walk(await (await this.root()).getDirectoryHandle(id));
  }
}

/** A `fetch` that serves `opfs:/packs/<id>/<path>` from the storage and passes other URLs on. */
export function makePackFetch(storage: () => PackStorage, base: typeof fetch = (u, i) => fetch(u, i)): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const id = storedPackId(url);
    if (id === null) return base(input, init);
    const path = decodeURIComponent(url.slice(storedPackUrl(id).length));
    const st = storage();
    try {
      // a Blob from OPFS streams from disk: a large weights file is never held twice while it is read
      if (st.blob) {
        const b = await st.blob(id, path);
        return new Response(b, { status: 200, headers: { 'content-length': String(b.size) } });
      }
      const data = await st.read(id, path);
      return new Response(data as Uint8Array<ArrayBuffer>, { status: 200, headers: { 'content-length': String(data.length) } });
    } catch {
      return new Response(null, { status: 404, statusText: 'not in the stored pack' });
    }
  }) as typeof fetch;
}

let opfs: OpfsPackStorage | null = null;
export const defaultPackStorage = (): PackStorage => (opfs ??= new OpfsPackStorage());
