/**
 * The page's handle on the pack import worker (comlink); one worker, started on first use. It imports packs and
 * answers for the stored ones (list, read, delete). `storedPackUrl` / `storedPackId` (storedPacksProtocol.ts) name a
 * stored pack by URL (opfs:/packs/<id>/), the form the engine's loadPack takes.
 */
import * as Comlink from 'comlink';
import type { ImportApi } from './protocol';
import type { StoredPacksApi } from './storedPacksProtocol';
import type { ConvertApi } from './convertProtocol';

export { storedPackId, storedPackUrl } from './storedPacksProtocol';
export type { StoredPackInfo, StoredPacksApi } from './storedPacksProtocol';
export type { ConvertApi, ConvertedPack, ConvertProgress } from './convertProtocol';

let importer: Comlink.Remote<ImportApi & StoredPacksApi & ConvertApi> | null = null;

export function getImporter(): Comlink.Remote<ImportApi & StoredPacksApi & ConvertApi> {
  if (!importer) {
    const worker = new Worker(new URL('./import.worker.ts', import.meta.url), { type: 'module', name: 'fzplus-import' });
    importer = Comlink.wrap<ImportApi & StoredPacksApi & ConvertApi>(worker);
  }
  return importer;
}
