/**
 * Edit directions added to the loaded pack: direction files (parsed and fitted in the engine worker), the shipped
 * InterFaceGAN++ FFHQ set, and GANSpace ("Find directions") run in the worker. Each updates the pack summary and
 * the sliders (new directions start at 0, the others keep their values); and sliders taught from marked photos.
 * Errors are thrown for the caller to show.
 */
import { getEngine, proxy } from '../worker/client';
import type { DirectionFile, ExampleClass, FindDirectionsProgress, FoundDirections, PackSummary, TeachCounts } from '../worker/protocol';
import { errorInfo } from './errors';
import { loadSession } from './sessionRecord';
import { renderSliders } from './sliders';
import { get, set, zeroSliders } from './store';

/** The shipped InterFaceGAN++ set (public/directions/), and the only generator shape it fits. */
export const FFHQ_SET = {
  url: () => new URL(`${import.meta.env.BASE_URL}directions/interfacegan-stylegan2-ffhq-z.json`, location.href).href,
  name: 'interfacegan-stylegan2-ffhq-z.json',
  fits: { resolution: 1024, zDim: 512, numWs: 18 },
};

export function fitsFfhqSet(p: Pick<PackSummary, 'resolution' | 'zDim' | 'numWs'>): boolean {
  const f = FFHQ_SET.fits;
  return p.resolution === f.resolution && p.zDim === f.zDim && p.numWs === f.numWs;
}

function installSummary(pack: PackSummary) {
  set((s) => {
    const sliders = zeroSliders(pack);
    for (const id of Object.keys(sliders)) if (id in s.sliders) sliders[id] = s.sliders[id];
    return { pack, sliders, undo: [], redo: [] };
  });
  void renderSliders(get().sliders); // a removed direction's value no longer applies
}

/** Runs a change to the pack's directions and puts its outcome (`job`'s text, or the error) in `directionsMsg`. */
export async function directionsJob(job: () => Promise<string>): Promise<void> {
  set({ directionsMsg: null });
  try {
    set({ directionsMsg: { kind: 'ok', text: await job() } });
  } catch (e) {
    set({ directionsMsg: { kind: 'error', text: `${errorInfo(e).message}. The pack stays as it was.` } });
  }
}

/** Reads the files (any size: direction files are small) and adds their directions to the loaded pack. */
export async function addDirectionFiles(files: { name: string; blob: Blob }[]): Promise<string[]> {
  const payload: DirectionFile[] = [];
  for (const f of files) payload.push({ name: f.name, bytes: new Uint8Array(await f.blob.arrayBuffer()) });
  const before = new Set(get().pack?.directions.map((d) => d.id) ?? []);
  const pack = await getEngine().addDirections(payload);
  installSummary(pack);
  return pack.directions.filter((d) => !before.has(d.id)).map((d) => d.label);
}

/** Adds the shipped InterFaceGAN++ FFHQ set (the engine refuses it on another generator shape). */
export async function addFfhqSet(): Promise<string[]> {
  const r = await fetch(FFHQ_SET.url());
  if (!r.ok) throw new Error(`could not fetch the FFHQ set (HTTP ${r.status})`);
  return addDirectionFiles([{ name: FFHQ_SET.name, blob: await r.blob() }]);
}

/** What Find directions found, in words. */
export function foundMessage(r: FoundDirections): string {
  return (
    `Found ${r.found} directions in ${r.seconds.toFixed(1)} s (PCA of W over ${r.samples.toLocaleString('en')} samples)` +
    (r.skipped ? `; ${r.skipped} left out (the Z+ spaces cannot follow them)` : '') +
    (r.notInF ? `; ${r.notInF} change nothing with F fixed, so F/Z+ and F/W+ do not list them` : '')
  );
}

/**
 * GANSpace on the loaded pack's mapping graph (`auto`: started because the pack opened without directions); the
 * found directions are stored with the pack. Progress, and then the outcome, are in the store (`finding`,
 * `directionsMsg`). One at a time; a result that arrives after the pack was switched (or the find superseded) is
 * dropped. A stopped automatic find is not started again for that pack until the page reloads.
 */
export async function findDirections(opts: { auto?: boolean; k?: number; samples?: number } = {}): Promise<void> {
  const { auto = false, ...find } = opts;
  const start = get();
  if (start.finding || !start.pack) return;
  const seq = start.findSeq + 1;
  const url = start.packUrl;
  const current = () => get().finding?.seq === seq;
  set({ findSeq: seq, finding: { progress: 0, auto, seq }, directionsMsg: null });
  try {
    const { summary, result } = await getEngine().findDirections(
      find,
      proxy((p: FindDirectionsProgress) => void (current() && set((s) => ({ finding: s.finding && { ...s.finding, progress: p.done } })))),
    );
    if (!current() || get().packUrl !== url) return;
    installSummary(summary);
    set({ directionsMsg: { kind: 'ok', text: foundMessage(result) } });
  } catch (e) {
    if (!current()) return;
    const { name, message } = errorInfo(e);
    if (name === 'CancelledError') {
      set({ directionsMsg: { kind: 'info', text: 'Stopped; nothing was added.' } });
    } else {
      set({ directionsMsg: { kind: 'error', text: `Finding directions failed: ${message}. The pack stays as it was.` } });
    }
  } finally {
    if (current()) set({ finding: null });
  }
}

/** Starts Find directions on a pack that opened without any (unless the user stopped that in this page). */
export function findDirectionsIfNone() {
  const { pack, packUrl, findStopped } = get();
  if (pack && pack.directions.length === 0 && packUrl && !findStopped.includes(packUrl)) void findDirections({ auto: true });
}

/** Stops a running find (it ends with "Stopped; nothing was added."). */
export async function cancelFindDirections() {
  if (!get().finding) return;
  const auto = get().finding?.auto;
  const url = get().packUrl;
  if (auto && url) set((s) => ({ findStopped: s.findStopped.includes(url) ? s.findStopped : [...s.findStopped, url] }));
  await getEngine().cancelFindDirections();
}

/**
 * Before another pack loads (or the engine worker is replaced): stops a running find and forgets it, so its result,
 * if one still comes, is dropped.
 */
export async function abandonFindDirections() {
  if (!get().finding) return;
  set({ finding: null });
  await getEngine()
    .cancelFindDirections()
    .catch(() => undefined);
}

export async function clearAddedDirections() {
  installSummary(await getEngine().clearAddedDirections());
}

// ------------------------------------------------------------------------------------------ teach a slider

/** Marks the photo inverted now (F/Z+ or Z+) as an example with / without what the slider will edit. */
export function markExample(cls: ExampleClass): Promise<TeachCounts> {
  return getEngine().markExample(cls);
}

/** Marks the photo of the session saved in this browser (its codes, if they are of this pack) as an example. */
export async function markSavedSession(cls: ExampleClass): Promise<TeachCounts> {
  const d = await loadSession();
  const pack = get().pack;
  if (!d) throw new Error('there is no saved session');
  if (!pack || d.pack !== pack.name) throw new Error(`the saved session is of another model (${d.packTitle})`);
  if (!d.codes) throw new Error('the saved session was saved before its photo was inverted');
  return getEngine().markExample(cls, d.codes);
}

export function clearExamples(): Promise<TeachCounts> {
  return getEngine().clearExamples();
}

/** Fits the slider from the marked examples; it is stored with the pack and starts at 0. */
export async function teachSlider(label: string): Promise<void> {
  installSummary(await getEngine().teachSlider(label));
}
