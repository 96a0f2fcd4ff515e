/**
 * Model packs: the bundled ones under /models/, the imported ones (stored by the import worker), loading one into
 * the engine, and remembering the user's choice (`localStorage[ACTIVE_PACK_KEY]`, read and written only here).
 */
import { getEngine, proxy } from '../worker/client';
import { getImporter, storedPackId, storedPackUrl } from '../worker/importClient';
import type { ImportedPack, ImportProgress, ImportSource, LoadProgress } from '../worker/protocol';
import { abandonFindDirections, findDirectionsIfNone } from './directions';
import { errorInfo } from './errors';
import { readUrlOptions } from './urlOptions';
import { openImage } from './photo';
import { get, pushBanner, set, zeroSliders } from './store';

/** Packs tried in order when the URL names none: the demo model, the toolchain's reference pack, the tiny test pack. */
export const DEFAULT_PACKS = ['demo64', 'reference-64', 'tiny-test'];

/** URL of a bundled pack (a folder under /models/). */
export const bundledPackUrl = (name: string) => new URL(`${import.meta.env.BASE_URL}models/${name}/`, location.href).href;

/** localStorage key of the pack the user chose last (a /models/ URL or an imported pack's opfs:/ URL). */
export const ACTIVE_PACK_KEY = 'fzplus.activePack';

export function rememberedPack(): string | null {
  try {
    return localStorage.getItem(ACTIVE_PACK_KEY);
  } catch {
    return null;
  }
}

function rememberPack(url: string) {
  try {
    localStorage.setItem(ACTIVE_PACK_KEY, url);
  } catch {
    /* storage disabled: the choice lasts until reload */
  }
}

/** Forgets the remembered pack (only when it is `url`, if given). */
function forgetPack(url?: string) {
  try {
    if (url === undefined || localStorage.getItem(ACTIVE_PACK_KEY) === url) localStorage.removeItem(ACTIVE_PACK_KEY);
  } catch {
    /* storage disabled */
  }
}

/** Whether a bundled pack exists in this build (its manifest is served, not the SPA fallback page). */
export async function bundledPackExists(name: string): Promise<boolean> {
  try {
    const r = await fetch(bundledPackUrl(name) + 'manifest.json', { method: 'HEAD' });
    return r.ok && !(r.headers.get('content-type') ?? '').includes('text/html');
  } catch {
    return false;
  }
}

/** Loads a pack into the engine; on failure the previous pack (if any) stays in use and the error is rethrown. */
export async function loadPack(url: string) {
  await abandonFindDirections(); // a find on the current pack ends here; its result is dropped
  const engine = getEngine();
  set((s) => ({ packLoads: [...s.packLoads, url], phase: 'loading-pack', bootMessage: 'Loading the model…' }));
  try {
    const pack = await engine.loadPack(
      url,
      proxy((p: LoadProgress) => {
        if (p.total) set({ bootMessage: `Loading ${p.file}: ${Math.round((100 * p.loaded) / p.total)}%` });
      }),
    );
    const backend = await engine.backend();
    const fMode = readUrlOptions().fMode;
    if (fMode && fMode !== pack.editMode) await engine.setEditMode(fMode);
    set((s) => ({
      pack,
      editMode: fMode ?? pack.editMode,
      packUrl: url,
      backend,
      phase: 'ready',
      directionsMsg: null,
      sliders: zeroSliders(pack),
      undo: [],
      redo: [],
      settings: { ...s.settings, weights: pack.defaultWeights, space: pack.spaces.includes(s.settings.space) ? s.settings.space : pack.spaces[0] },
    }));
    findDirectionsIfNone(); // a pack without directions gets GANSpace's, in the worker, while the user picks a photo
    // While the user picks a photo: let V8 tier the ORT wasm up (engine.warmUp; real work preempts it).
    if (readUrlOptions().warm) void engine.warmUp().catch(() => undefined);
    const queued = get().queuedOpen;
    if (queued) {
      set({ queuedOpen: null });
      queueMicrotask(() => void openImage(queued.blob, queued.name));
    }
  } catch (e) {
    set({ phase: get().pack ? (get().reconstruction ? 'inverted' : 'ready') : 'failed' });
    throw e;
  }
}

/**
 * Loads the remembered pack at boot. False (with a banner, and the pack forgotten) when it is no longer stored or
 * does not load: boot then loads the default pack.
 */
export async function loadRememberedPack(url: string): Promise<boolean> {
  const id = storedPackId(url);
  if (id !== null) {
    const stored = await getImporter().listStored().catch(() => null);
    if (stored && !stored.some((p) => p.id === id)) {
      forgetPack();
      pushBanner('warning', 'The model used last time is gone', `The imported pack “${id}” is no longer stored in this browser (its site data may have been cleared). The default model is loaded instead; import the pack again from Models.`);
      return false;
    }
  }
  try {
    await loadPack(url);
    return true;
  } catch (e) {
    forgetPack();
    const what = id !== null ? `The imported pack “${id}”` : `The pack at ${url}`;
    pushBanner('warning', 'The model used last time could not be loaded', `${what} failed: ${errorInfo(e).message}. The default model is loaded instead.`);
    return false;
  }
}

// ------------------------------------------------------------------------------------------ model manager

/** One pack the model manager lists. */
export interface PackRow {
  id: string;
  url: string;
  title: string;
  source: 'bundled' | 'imported';
  bytes?: number;
  resolution?: number;
}

/** The bundled packs this build serves, then the imported ones. */
export async function listPacks(): Promise<PackRow[]> {
  const rows: PackRow[] = [];
  for (const name of DEFAULT_PACKS) {
    const url = bundledPackUrl(name);
    try {
      const r = await fetch(url + 'manifest.json');
      if (!r.ok || (r.headers.get('content-type') ?? '').includes('text/html')) continue;
      let info: { title?: string; resolution?: number } = {};
      try {
        info = (await r.json()) as typeof info;
      } catch {
        /* listed by name */
      }
      rows.push({ id: name, url, title: info.title ?? name, resolution: info.resolution, source: 'bundled' });
    } catch {
      /* not bundled in this build */
    }
  }
  const stored = await getImporter().listStored().catch(() => []);
  for (const p of stored) rows.push({ id: p.id, url: p.url, title: p.title ?? p.id, resolution: p.resolution, bytes: p.bytes, source: 'imported' });
  return rows;
}

/** Switches to a listed pack and remembers the choice; throws (current pack kept) when it does not load. */
export async function switchPack(url: string) {
  await loadPack(url);
  rememberPack(url);
}

/** Deletes an imported pack from this browser (and forgets it if it was the remembered choice). */
export async function deleteStoredPack(id: string) {
  await getImporter().removeStored(id);
  forgetPack(storedPackUrl(id));
}

/**
 * Imports a pack (streamed, checked and stored by the import worker), loads it and switches to it. A pack whose
 * graphs the engine cannot load is removed again. Throws on any failure; the current pack stays in use.
 */
export async function importPack(
  source: ImportSource,
  on: { progress(p: ImportProgress): void; loading(title: string): void },
): Promise<ImportedPack> {
  let reading = true; // progress messages come on their own port and may land after the result
  const checked = await getImporter()
    .importPack(source, proxy((p: ImportProgress) => void (reading && on.progress(p))))
    .finally(() => (reading = false));
  return switchToStored(checked, on);
}

/**
 * Loads a pack the import worker has just stored and switches to it; one whose graphs the engine cannot load is
 * removed again and the error thrown (the current pack stays in use). Asks the browser to keep the storage.
 */
export async function switchToStored<T extends { id: string; manifest: { title: string } }>(
  stored: T,
  on: { loading(title: string): void },
): Promise<T> {
  on.loading(stored.manifest.title);
  try {
    // the engine creates the graphs' sessions: a graph that does not load is refused here
    await switchPack(storedPackUrl(stored.id));
  } catch (e) {
    await getImporter().removeStored(stored.id).catch(() => undefined);
    throw e;
  }
  void navigator.storage?.persist?.().catch(() => false);
  return stored;
}

/**
 * Frees what an interrupted import left in storage (a crash or a closed tab mid-import) and says how much, once at
 * startup. Silent when there was nothing (or no OPFS).
 */
export async function sweepStorage() {
  const swept = await getImporter().sweepStored().catch(() => null);
  if (!swept?.removed.length) return;
  const mb = swept.bytes >= 2 ** 20 ? `${(swept.bytes / 2 ** 20).toFixed(1)} MB` : `${(swept.bytes / 1024).toFixed(1)} KB`;
  const what = swept.removed.length === 1 ? 'one unfinished pack import' : `${swept.removed.length} unfinished pack imports`;
  pushBanner('info', 'Storage cleaned up', `Freed ${mb} left in this browser's storage by ${what}.`);
}

/** This site's storage use and quota, when the browser says. */
export async function storageEstimate(): Promise<{ usage: number; quota: number } | null> {
  try {
    const est = await navigator.storage?.estimate?.();
    return est?.quota ? { usage: est.usage ?? 0, quota: est.quota } : null;
  } catch {
    return null;
  }
}
