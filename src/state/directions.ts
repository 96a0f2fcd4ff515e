/**
 * Edit directions added to the loaded pack: direction files (parsed and fitted in the engine worker), the shipped
 * InterFaceGAN++ FFHQ set, and GANSpace ("Find directions") run in the worker. Each updates the pack summary and
 * the sliders (new directions start at 0, the others keep their values); and sliders taught from marked photos.
 * Errors are thrown for the caller to show.
 */
import { getEngine, proxy } from '../worker/client';
import type { DirectionFile, ExampleClass, FindDirectionsProgress, FoundDirections, PackSummary, TeachCounts } from '../worker/protocol';
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

/** GANSpace on the loaded pack's mapping graph; the found directions are stored with the pack. */
export async function findDirections(onProgress: (p: FindDirectionsProgress) => void, opts: { k?: number; samples?: number } = {}): Promise<FoundDirections> {
  const { summary, result } = await getEngine().findDirections(opts, proxy(onProgress));
  installSummary(summary);
  return result;
}

export async function cancelFindDirections() {
  await getEngine().cancelFindDirections();
}

export async function clearAddedDirections() {
  installSummary(await getEngine().clearAddedDirections());
}

// ------------------------------------------------------------------------------------------ teach a slider

/** Marks the photo inverted now (F/Z+ or Z+) as an example with / without what the slider will edit. */
export function markExample(cls: ExampleClass): Promise<TeachCounts> {
  return getEngine().markExample(cls);
}

export function clearExamples(): Promise<TeachCounts> {
  return getEngine().clearExamples();
}

/** Fits the slider from the marked examples; it is stored with the pack and starts at 0. */
export async function teachSlider(label: string): Promise<void> {
  installSummary(await getEngine().teachSlider(label));
}
