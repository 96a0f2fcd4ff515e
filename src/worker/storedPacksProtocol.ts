/**
 * The stored (imported) packs as the page sees them. OPFS access lives in the pack import worker
 * (src/worker/import.worker.ts), which serves these calls next to `ImportApi`; the page never touches the storage.
 * A stored pack is named by URL, opfs:/packs/<id>/, the form the engine's loadPack takes: the page, the workers and
 * the engine's pack storage (src/engine/pack/store.ts) all read that form from here. No imports: a leaf both sides load.
 */
export const STORED_PREFIX = 'opfs:/packs/';

/** URL of a stored pack, as `Engine.loadPack()` takes it. */
export const storedPackUrl = (id: string) => `${STORED_PREFIX}${id}/`;

/** The id in a stored pack's URL, or null for any other URL. */
export function storedPackId(url: string): string | null {
  if (!url.startsWith(STORED_PREFIX)) return null;
  const id = url.slice(STORED_PREFIX.length).split('/')[0];
  return id || null;
}

export interface StoredPackInfo {
  id: string;
  /** opfs:/packs/<id>/, as the engine's loadPack takes it. */
  url: string;
  /** From the stored manifest.json; absent when it cannot be read. */
  title?: string;
  resolution?: number;
  /** Total bytes stored; absent when they cannot be counted. */
  bytes?: number;
}

export interface StoredPacksApi {
  /** Every stored pack (an empty list where there is no OPFS). */
  listStored(): Promise<StoredPackInfo[]>;
  /** One file of a stored pack (its sample faces); throws when the pack or file does not exist. */
  readStored(id: string, path: string): Promise<Uint8Array>;
  removeStored(id: string): Promise<void>;
  /**
   * Removes what an interrupted import left in storage (staging folders, pack folders without a manifest), unless an
   * import is running in some tab.
   */
  sweepStored(): Promise<StorageSweep>;
}

export interface StorageSweep {
  /** Folder names removed under packs/. */
  removed: string[];
  bytes: number;
}
