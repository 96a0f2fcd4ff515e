/**
 * Storage of imported model packs. Packs live in the Origin Private File System under
 * `packs/<id>/<file>`, so they work offline next time. The engine loads them through the same `fetch` hook it uses for
 * URLs: `makePackFetch()` answers `opfs:/packs/<id>/<file>` from the storage and passes every other URL to `fetch`.
 * No DOM: runs in the page and in the engine worker (both have navigator.storage).
 */
import { storedPackId, storedPackUrl } from '../../worker/storedPacksProtocol';
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
  /**
   * Removes what an interrupted import left (staging folders, pack folders without a manifest.json) unless an import
   * is running in some tab; returns what was freed.
   */
  sweep?(): Promise<SweepResult>;
}

export interface SweepResult {
  /** Folder names removed under packs/. */
  removed: string[];
  bytes: number;
}

/** One file being written chunk by chunk. */
export interface FileSink {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/**
 * A streamed import in progress. Files are staged under their final paths inside the pack; `commit` writes
 * manifest.json, checks every staged size, then makes the pack appear as `packs/<id>/` in one step (one folder
 * rename where the browser can, else files first and manifest.json last).
 */
export interface PackStage {
  /** A new file at `path` inside the pack; refused when the path is not a plain relative path or was opened before. */
  open(path: string): Promise<FileSink>;
  /** A scratch file outside the pack (a downloaded zip), read back with `scratchBlob`; never part of the pack. */
  openScratch(name: string): Promise<FileSink>;
  scratchBlob(name: string): Promise<Blob>;
  /** `files`: every staged path with its expected byte count (a staged file not listed here is not kept). */
  commit(id: string, files: Record<string, number>, manifest: Uint8Array): Promise<void>;
  discard(): Promise<void>;
}

/** Pack ids are folder names: letters, digits, '-', '_', '.'; never empty or a dot name. */
export function packIdFromName(name: string): string {
  const id = name.trim().replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '').slice(0, 64);
  return id || 'pack';
}

/** A plain path segment: letters, digits, '.', '_', '-', not starting with '.' (so never '.' or '..'). */
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** The segments of a relative path inside a pack; a PackManifestError for anything else ('..', '/x', 'a\\b', 'C:'). */
export function checkPath(path: string): string[] {
  const parts = path.split('/');
  if (parts.length > 8 || !parts.every((p) => SEGMENT.test(p))) throw new EngineError('PackManifestError', `bad file path in the pack: '${path}'`);
  return parts;
}

/** Name of the Web Lock an import holds (shared) while it stages, and a sweep takes (exclusive) only when free. */
export const PACK_IMPORT_LOCK = 'fzplus-pack-import';

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
    const scratch = new Map<string, Uint8Array[]>();
    const sink = (into: Map<string, Uint8Array[]>, p: string): FileSink => {
      const chunks: Uint8Array[] = [];
      into.set(p, chunks);
      return { write: async (c: Uint8Array) => void chunks.push(c.slice()), close: async () => undefined };
    };
    return {
      open: async (p: string) => {
        checkPath(p);
        if (staged.has(p)) throw new EngineError('PackManifestError', `the pack holds ${p} twice`);
        return sink(staged, p);
      },
      openScratch: async (name: string) => sink(scratch, name),
      scratchBlob: async (name: string) => new Blob((scratch.get(name) ?? []) as Uint8Array<ArrayBuffer>[]),
      commit: async (id: string, files: Record<string, number>, manifest: Uint8Array) => {
        const out: PackFiles = new Map();
        for (const [p, bytes] of Object.entries(files)) {
          const parts = staged.get(p);
          if (!parts) throw new EngineError('PackFetchError', `staged file ${p} is missing`);
          const d = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
          let o = 0;
          for (const c of parts) (d.set(c, o), (o += c.length));
          if (d.length !== bytes) throw new EngineError('PackIntegrityError', `staged ${p}: ${d.length} bytes, expected ${bytes}`);
          out.set(p, d);
        }
        out.set('manifest.json', manifest);
        await this.write(id, out);
        staged.clear();
        scratch.clear();
      },
      discard: async () => {
        staged.clear();
        scratch.clear();
      },
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
   * Staging folder `packs/.staging-<random>/` (never listed: pack ids never start with '.'), holding `pack/` (the
   * files under their final paths) and scratch files. Files are written with a sync access handle in a worker (no
   * copy, no swap file), else a writable stream. The import holds PACK_IMPORT_LOCK (shared) until commit or
   * discard, so a sweep in another tab never removes a staging folder in use.
   */
  async stage(): Promise<PackStage> {
    const root = await this.root();
    const release = await holdLock(PACK_IMPORT_LOCK, 'shared');
    const stageName = `.staging-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    const stageDir = await root.getDirectoryHandle(stageName, { create: true });
    const packDir = await stageDir.getDirectoryHandle('pack', { create: true });
    const scratchDir = await stageDir.getDirectoryHandle('scratch', { create: true });
    const opened = new Set<string>();
    // sinks not closed yet (a refused file stops mid-way): closed before the folder goes, or their handles pin it
    const unclosed = new Set<FileSink>();
    const track = (sink: FileSink): FileSink => {
      unclosed.add(sink);
      return { write: sink.write, close: async () => (unclosed.delete(sink), sink.close()) };
    };
    let finished = false;
    const finish = async () => {
      if (finished) return;
      finished = true;
      for (const sink of unclosed) await sink.close().catch(() => undefined);
      await root.removeEntry(stageName, { recursive: true }).catch(() => undefined);
      release();
    };
    const fileIn = async (top: Dir, parts: string[]) => {
      let dir = top;
      for (const q of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(q, { create: true });
      return dir.getFileHandle(parts[parts.length - 1], { create: true });
    };
    return {
      open: async (p: string): Promise<FileSink> => {
        const parts = checkPath(p);
        if (opened.has(p)) throw new EngineError('PackManifestError', `the pack holds ${p} twice`);
        opened.add(p);
        return track(await openSink(await fileIn(packDir, parts), p));
      },
      openScratch: async (name: string) => track(await openSink(await fileIn(scratchDir, checkPath(name)), name)),
      scratchBlob: async (name: string) => (await scratchDir.getFileHandle(name)).getFile(),
      commit: async (id: string, files: Record<string, number>, manifest: Uint8Array) => {
        checkPath(id);
        // verify before anything becomes visible: every expected file staged, at its size; nothing else kept
        for (const [p, bytes] of Object.entries(files)) {
          if (!opened.has(p)) throw new EngineError('PackFetchError', `staged file ${p} is missing`);
          const got = (await (await fileAt(packDir, checkPath(p))).getFile()).size;
          if (got !== bytes) throw new EngineError('PackIntegrityError', `staged ${p}: ${got} bytes, expected ${bytes}`);
        }
        for (const p of opened) if (!(p in files)) await removePath(packDir, checkPath(p));
        const w = await (await packDir.getFileHandle('manifest.json', { create: true })).createWritable();
        await w.write(manifest as Uint8Array<ArrayBuffer>);
        await w.close();
        const existing = await root.getDirectoryHandle(id).catch(() => null);
        if (existing) {
          if (await hasManifest(existing)) throw new EngineError('PackFetchError', `a pack '${id}' was stored meanwhile; import again`);
          await root.removeEntry(id, { recursive: true }); // a folder an interrupted import left
        }
        const move = (packDir as unknown as { move?: (d: Dir, n: string) => Promise<void> }).move;
        let moved = false;
        if (typeof move === 'function') {
          try {
            await move.call(packDir, root, id); // one rename: the pack appears whole or not at all
            moved = true;
          } catch {
            /* no folder moves in this browser: copy below */
          }
        }
        if (!moved) await copyPack(packDir, await root.getDirectoryHandle(id, { create: true }), Object.keys(files));
        await finish();
      },
      discard: finish,
    };
  }

  /**
   * Removes staging folders and pack folders without a manifest.json, when no import holds PACK_IMPORT_LOCK in any
   * tab; reports the folders and bytes freed.
   */
  async sweep(): Promise<SweepResult> {
    const root = await this.root();
    const result: SweepResult = { removed: [], bytes: 0 };
    await withLockIfFree(PACK_IMPORT_LOCK, async () => {
      for await (const [name, h] of entriesOf(root)) {
        if (h.kind !== 'directory') continue;
        if (!name.startsWith('.staging-') && (await hasManifest(h as Dir))) continue;
        const bytes = await folderBytes(h as Dir).catch(() => 0);
        await root.removeEntry(name, { recursive: true }).catch(() => undefined);
        result.removed.push(name);
        result.bytes += bytes;
      }
    });
    return result;
  }

  async size(id: string): Promise<number> {
    return folderBytes(await (await this.root()).getDirectoryHandle(id));
  }
}

const entriesOf = (dir: Dir) => (dir as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries();

async function hasManifest(dir: Dir): Promise<boolean> {
  return dir.getFileHandle('manifest.json').then(
    () => true,
    () => false,
  );
}

async function folderBytes(dir: Dir): Promise<number> {
  let n = 0;
  for await (const [, h] of entriesOf(dir)) n += h.kind === 'directory' ? await folderBytes(h as Dir) : (await (h as FileSystemFileHandle).getFile()).size;
  return n;
}

async function fileAt(top: Dir, parts: string[]): Promise<FileSystemFileHandle> {
  let dir = top;
  for (const q of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(q);
  return dir.getFileHandle(parts[parts.length - 1]);
}

async function removePath(top: Dir, parts: string[]) {
  let dir = top;
  for (const q of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(q);
  await dir.removeEntry(parts[parts.length - 1]).catch(() => undefined);
}

/** Copies the staged files, then manifest.json last: list() only shows a pack once its manifest exists. */
async function copyPack(from: Dir, to: Dir, paths: string[]) {
  for (const p of [...paths, 'manifest.json']) {
    const parts = checkPath(p);
    let dir = to;
    for (const q of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(q, { create: true });
    const w = await (await dir.getFileHandle(parts[parts.length - 1], { create: true })).createWritable();
    await (await (await fileAt(from, parts)).getFile()).stream().pipeTo(w);
  }
}

/** A sink over one OPFS file: a sync access handle in a worker, else a writable stream. */
async function openSink(fh: FileSystemFileHandle, label: string): Promise<FileSink> {
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
            if (n <= 0) throw new EngineError('PackFetchError', `could not write ${label} to storage (disk full?)`);
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
}

interface Locks {
  request(name: string, opts: { mode?: 'shared' | 'exclusive'; ifAvailable?: boolean }, cb: (lock: unknown) => Promise<void>): Promise<void>;
}
const locks = (): Locks | undefined => (globalThis.navigator as unknown as { locks?: Locks } | undefined)?.locks;

/** Takes a Web Lock and holds it until the returned function is called (no-op where there are no Web Locks). */
async function holdLock(name: string, mode: 'shared' | 'exclusive'): Promise<() => void> {
  const l = locks();
  if (!l) return () => undefined;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  await new Promise<void>((acquired) => void l.request(name, { mode }, () => (acquired(), held)));
  return release;
}

/** Runs `fn` under an exclusive Web Lock only when nobody holds it (skips otherwise); without Web Locks, just runs. */
async function withLockIfFree(name: string, fn: () => Promise<void>): Promise<void> {
  const l = locks();
  if (!l) return fn();
  await l.request(name, { mode: 'exclusive', ifAvailable: true }, async (lock) => {
    if (lock) await fn();
  });
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
