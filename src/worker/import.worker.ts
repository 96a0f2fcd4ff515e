/// <reference lib="webworker" />
/**
 * Pack import worker: unzips, hashes and writes imported packs to OPFS off the UI thread, streaming
 * (src/engine/pack/import.ts), so a 140–210 MB pack neither freezes the page nor sits in memory. It also answers the
 * page's questions about stored packs (list, read a sample, delete), so the page never opens the storage itself.
 * Exposed with comlink; the message types are in protocol.ts (ImportApi) and storedPacksProtocol.ts.
 */
import * as Comlink from 'comlink';
import { importPackStream } from '../engine/pack/import';
import { convertCheckpoint } from '../engine/convert/convert';
import { defaultPackStorage } from '../engine/pack/store';
import { addedDirectionsKey, defaultAddedDirections } from '../engine/pack/addedDirections';
import type { ImportApi } from './protocol';
import { storedPackUrl, type StoredPackInfo, type StoredPacksApi } from './storedPacksProtocol';
import type { ConvertApi } from './convertProtocol';

async function listStored(): Promise<StoredPackInfo[]> {
  const storage = defaultPackStorage();
  let ids: string[] = [];
  try {
    ids = await storage.list();
  } catch {
    return []; // no OPFS
  }
  const rows: StoredPackInfo[] = [];
  for (const id of ids) {
    const row: StoredPackInfo = { id, url: storedPackUrl(id) };
    try {
      const m = JSON.parse(new TextDecoder().decode(await storage.read(id, 'manifest.json'))) as { title?: unknown; resolution?: unknown };
      if (typeof m.title === 'string') row.title = m.title;
      if (typeof m.resolution === 'number') row.resolution = m.resolution;
    } catch {
      /* unreadable manifest: listed by id */
    }
    const bytes = await storage.size(id).catch(() => undefined);
    if (bytes !== undefined) row.bytes = bytes;
    rows.push(row);
  }
  return rows;
}

let converting: AbortController | null = null;

const api: ImportApi & StoredPacksApi & ConvertApi = {
  importPack: (source, onProgress) => importPackStream(defaultPackStorage(), source, onProgress),
  listStored,
  readStored: (id, path) => defaultPackStorage().read(id, path),
  async convertCheckpoint(file, name, templateBase, onProgress) {
    converting?.abort();
    const ctl = (converting = new AbortController());
    try {
      return await convertCheckpoint(defaultPackStorage(), file, name, {
        fetchTemplate: (id, f) => fetch(new URL(`${id}/${f}`, templateBase).href),
        onProgress,
        signal: ctl.signal,
      });
    } finally {
      if (converting === ctl) converting = null;
    }
  },
  async cancelConvert() {
    converting?.abort();
  },
  sweepStored: async () => (await defaultPackStorage().sweep?.().catch(() => null)) ?? { removed: [], bytes: 0 },
  async removeStored(id) {
    await defaultPackStorage().remove(id);
    // the directions added to it go with it (a later import under the same id starts without them)
    await defaultAddedDirections().write(addedDirectionsKey(storedPackUrl(id), id), []).catch(() => undefined);
  },
};

Comlink.expose(api);
