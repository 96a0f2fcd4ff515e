/**
 * Startup: the engine worker (backend from the URL or automatic), the pack (the one chosen last time, else the
 * URL's, else the first bundled default), URL settings, then the offer of a saved session.
 */
import { appGraphsUrl, getEngine, onWorkerCrash, ortWasmPaths, proxy } from '../worker/client';
import { reportError } from './errors';
import { bundledPackExists, bundledPackUrl, DEFAULT_PACKS, loadPack, loadRememberedPack, rememberedPack, sweepStorage } from './packs';
import { checkSavedSession } from './sessions';
import { get, pushBanner, set } from './store';
import { readUrlOptions } from './urlOptions';

/** Starts the engine worker (at boot, and again when a run past its budget had it replaced): backend, listeners. */
export async function startEngine() {
  const opts = readUrlOptions();
  onWorkerCrash((message) => pushBanner('error', 'The engine stopped', `${message}. Your photo and edits are still shown; reload the page to continue editing.`));
  const engine = getEngine();
  const backend = await engine.init({ backend: opts.backend, wasmPaths: ortWasmPaths(), appGraphsUrl: appGraphsUrl(), keepOnGpu: true });
  set({ backend });
  await engine.onBackendChange(
    proxy((b) => {
      set({ backend: b });
      if (b.note) pushBanner('warning', 'Switched to WASM', b.note);
    }),
  );
}

export async function boot() {
  const opts = readUrlOptions();
  try {
    set({ phase: 'booting', bootMessage: 'Starting the engine…' });
    await startEngine();
    // the pack chosen last time, loaded directly (an imported one from OPFS); else the default pack
    const remembered = opts.pack ? null : rememberedPack();
    if (!remembered || !(await loadRememberedPack(remembered))) {
      let name = opts.pack;
      if (!name) {
        for (const cand of DEFAULT_PACKS) if (await bundledPackExists(cand)) { name = cand; break; }
      }
      if (!name) throw Object.assign(new Error('no model pack found under /models/'), { name: 'PackFetchError' });
      await loadPack(bundledPackUrl(name));
    }
    const s = get().settings;
    set({ settings: { ...s, steps: opts.steps ?? s.steps, space: (get().pack?.spaces.find((x) => x === opts.space) ?? s.space) } });
    void checkSavedSession();
    void sweepStorage();
  } catch (e) {
    set({ phase: 'failed' });
    reportError(e);
  }
}
