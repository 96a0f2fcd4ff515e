/**
 * Directions the user added to a pack (imported files, "Find directions"), kept beside the pack so they survive
 * reloads and offline use: OPFS `added-directions/<key>.json`, a JSON list of manifest direction entries. The key
 * names the pack: `stored.<id>` for an imported pack (opfs:/packs/<id>/), `url.<manifest name>` for a bundled one.
 * The engine merges them into the manifest when it loads the pack (Engine.loadPack).
 */
import { storedPackId } from '../../worker/storedPacksProtocol';
import { EngineError } from '../errors';
import type { ModelPackManifest } from './manifest';
import { packIdFromName } from './store';

type Entry = ModelPackManifest['directions'][number];

export interface AddedDirectionsStore {
  /** The pack's added directions ([] when it has none). */
  read(key: string): Promise<Entry[]>;
  /** Replaces the pack's added directions ([] removes them). */
  write(key: string, entries: Entry[]): Promise<void>;
}

/** The storage key of the pack loaded from `url` with manifest name `name`. */
export function addedDirectionsKey(url: string, name: string): string {
  const id = storedPackId(url);
  return id !== null ? `stored.${id}` : `url.${packIdFromName(name)}`;
}

export class MemoryAddedDirections implements AddedDirectionsStore {
  readonly files = new Map<string, string>();
  async read(key: string) {
    const f = this.files.get(key);
    return f ? (JSON.parse(f) as Entry[]) : [];
  }
  async write(key: string, entries: Entry[]) {
    if (entries.length) this.files.set(key, JSON.stringify(entries));
    else this.files.delete(key);
  }
}

export class OpfsAddedDirections implements AddedDirectionsStore {
  private async dir(): Promise<FileSystemDirectoryHandle> {
    if (!navigator.storage?.getDirectory) throw new EngineError('PackFetchError', 'this browser has no Origin Private File System');
    return (await navigator.storage.getDirectory()).getDirectoryHandle('added-directions', { create: true });
  }

  async read(key: string): Promise<Entry[]> {
    let text: string;
    try {
      text = await (await (await (await this.dir()).getFileHandle(`${key}.json`)).getFile()).text();
    } catch {
      return []; // none added (or no OPFS)
    }
    const list = JSON.parse(text) as unknown;
    return Array.isArray(list) ? (list as Entry[]) : [];
  }

  async write(key: string, entries: Entry[]): Promise<void> {
    const dir = await this.dir();
    if (!entries.length) return void (await dir.removeEntry(`${key}.json`).catch(() => undefined));
    // written to a temporary file first, then moved over: a crash mid-write keeps the previous list
    const tmp = await dir.getFileHandle(`${key}.json.tmp`, { create: true });
    const w = await tmp.createWritable();
    await w.write(JSON.stringify(entries));
    await w.close();
    const move = (tmp as unknown as { move?: (name: string) => Promise<void> }).move;
    if (typeof move === 'function') {
      await move.call(tmp, `${key}.json`);
    } else {
      const f = await (await dir.getFileHandle(`${key}.json`, { create: true })).createWritable();
      await f.write(JSON.stringify(entries));
      await f.close();
      await dir.removeEntry(`${key}.json.tmp`).catch(() => undefined);
    }
  }
}

let opfs: OpfsAddedDirections | null = null;
export const defaultAddedDirections = (): AddedDirectionsStore => (opfs ??= new OpfsAddedDirections());
