/**
 * A StyleGAN2 checkpoint (rosinality .pt, NVIDIA .pkl) -> a stored model pack, in the import worker, no Python:
 * read the container with the restricted unpickler, infer the architecture from the generator's tensor shapes,
 * pick the graph template built for it (public/templates/<id>/, committed, built by scripts/make-templates.sh;
 * fetched on demand, never precached), check every tensor's shape against the recipe, then stage the template's
 * graphs and a weights.bin written by the recipe (streamed, sha256 on the way, NaN refused, cancellable from the
 * first byte read) and commit the pack like an import (nothing is kept when anything fails). A template the site
 * lacks (404, or an HTML fallback page with 200) is refused as "not on this site".
 * The pack has no directions: the app starts "Find directions" on it, which gives it GANSpace sliders.
 */
import { createSHA256 } from 'hash-wasm';
import { EngineError } from '../errors';
import { randn } from '../math/rng';
import { validateManifest, type ModelPackManifest } from '../pack/manifest';
import { packIdFromName, type PackStorage } from '../pack/store';
import type { ImportedPack } from '../pack/import';
import { describeArch, generatorTensors, inferArch, sameArch, type Arch, type GeneratorTensors } from './checkpoint';
import { checkRecipe, mappedWAvg, writeWeights, type Recipe } from './recipe';
import { UnpickleError } from './pickle';
import { readCheckpointObject, readTensor } from './torchfile';

/** The architectures a template exists for (model/export/template.py TEMPLATES; checked by convert.test.ts). */
export const TEMPLATES: { id: string; title: string; arch: Arch }[] = [
  {
    id: 'ref64',
    title: 'rosinality 64 px, style_dim 128 (the shared reference layout)',
    arch: { size: 64, styleDim: 128, zDim: 128, nMlp: 4, channels: { '4': 512, '8': 512, '16': 512, '32': 512, '64': 256 } },
  },
  {
    id: 'r256-cm2',
    title: '256 px, style_dim 512, channel multiplier 2',
    arch: { size: 256, styleDim: 512, zDim: 512, nMlp: 8, channels: { '4': 512, '8': 512, '16': 512, '32': 512, '64': 512, '128': 256, '256': 128 } },
  },
  {
    id: 'r512-cm2',
    title: '512 px, style_dim 512, channel multiplier 2',
    arch: { size: 512, styleDim: 512, zDim: 512, nMlp: 8, channels: { '4': 512, '8': 512, '16': 512, '32': 512, '64': 512, '128': 256, '256': 128, '512': 64 } },
  },
  {
    id: 'ffhq1024-f',
    title: '1024 px FFHQ config-f (style_dim 512, channel multiplier 2)',
    arch: {
      size: 1024,
      styleDim: 512,
      zDim: 512,
      nMlp: 8,
      channels: { '4': 512, '8': 512, '16': 512, '32': 512, '64': 512, '128': 256, '256': 128, '512': 64, '1024': 32 },
    },
  },
];

export interface ConvertProgress {
  phase: 'reading' | 'template' | 'wavg' | 'weights' | 'storing';
  /** Bytes (reading: of the file, at its start and end; weights), samples (wavg) or files (template) done, of `total`. */
  done: number;
  total: number;
  template?: string;
}

export interface ConvertOptions {
  /** Fetches a template file: `${base}${id}/${file}` (the app: templates/ on this site). */
  fetchTemplate: (id: string, file: string) => Promise<Response>;
  onProgress?: (p: ConvertProgress) => void;
  signal?: AbortSignal;
}

export interface ConvertedPack extends ImportedPack {
  template: string;
  layout: string;
  /** Whether w_avg was computed (the checkpoint had no latent_avg). */
  mappedWAvg: boolean;
  ms: number;
}

const unsupported = (a: Arch) =>
  new UnpickleError(
    `unsupported architecture: ${describeArch(a)}. In the browser this app converts ${TEMPLATES.map((t) => `${t.title}`).join('; ')}. ` +
      'Export any other StyleGAN2 generator with the Python exporter (python3 -m model.export CHECKPOINT OUT_DIR) and import the pack folder.',
  );

const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Every tensor the recipe reads exists with the shape it expects: refused by name before any weight is written. */
function checkSources(recipe: Recipe, g: GeneratorTensors) {
  for (const [key, shape] of Object.entries(recipe.sources)) {
    if (key === 'latent_avg') continue;
    const t = g.tensors.get(key);
    if (!t) throw new UnpickleError(`the checkpoint's generator lacks ${key} (a ${recipe.template} generator has it)`);
    if (!sameShape(t.shape, shape)) throw new UnpickleError(`wrong shape for ${key}: [${t.shape.join(', ')}] in the checkpoint, [${shape.join(', ')}] expected`);
  }
}

/** A pack name from a file name: 'stylegan2-ffhq-config-f.pt' -> 'stylegan2-ffhq-config-f'. */
export function packNameFromFile(fileName: string): string {
  const base = fileName.replace(/\.(pt|pth|pkl|ckpt)$/i, '').toLowerCase();
  const n = base
    .normalize('NFKD')
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+/, '')
    .slice(0, 64)
    .replace(/-+$/, '');
  return n || 'converted';
}

/**
 * A template that is not on this site, said the same way whether the host answers 404 or (vite preview, most static
 * hosts with a single-page fallback) index.html with status 200.
 */
const notOnSite = (id: string, file: string, why: string) => {
  const title = TEMPLATES.find((t) => t.id === id)?.title ?? id;
  return new EngineError(
    'PackFetchError',
    `template ${id} (${title}) is not on this site (${file}: ${why}), so this checkpoint cannot be converted here. ` +
      `A site built from this repository serves ${TEMPLATES.map((t) => t.id).join(', ')} under templates/ (scripts/make-templates.sh). ` +
      'Or export the generator with the Python exporter (python3 -m model.export CHECKPOINT OUT_DIR) and import the pack folder.',
  );
};

const isHtml = (res: Response) => /^\s*text\/html\b/i.test(res.headers.get('content-type') ?? '');

async function fetchOk(opts: ConvertOptions, id: string, file: string): Promise<Response> {
  let res: Response;
  try {
    res = await opts.fetchTemplate(id, file);
  } catch (e) {
    throw new EngineError('PackFetchError', `cannot fetch the ${id} template's ${file} (${(e as Error).message}); the app needs to be online once to convert`);
  }
  if (res.status === 404 || res.status === 410) throw notOnSite(id, file, `HTTP ${res.status}`);
  if (!res.ok) throw new EngineError('PackFetchError', `the ${id} template's ${file}: HTTP ${res.status}`);
  if (isHtml(res)) throw notOnSite(id, file, 'the site answered with an HTML page');
  return res;
}

/** A template's JSON file; a body that is not JSON (an HTML fallback page without its content type) is a missing file. */
async function fetchJson<T>(opts: ConvertOptions, id: string, file: string): Promise<T> {
  const text = await (await fetchOk(opts, id, file)).text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw notOnSite(id, file, `not JSON: ${JSON.stringify(text.slice(0, 24))}…`);
  }
}

export async function convertCheckpoint(storage: PackStorage, file: Blob, fileName: string, opts: ConvertOptions): Promise<ConvertedPack> {
  const t0 = Date.now();
  opts.onProgress?.({ phase: 'reading', done: 0, total: file.size });
  const { kind, value } = await readCheckpointObject(file, fileName, opts.signal);
  opts.onProgress?.({ phase: 'reading', done: file.size, total: file.size });
  const g = generatorTensors(kind, value, fileName);
  const arch = inferArch(g);
  const tpl = TEMPLATES.find((t) => sameArch(t.arch, arch));
  if (!tpl) throw unsupported(arch);
  const abort = () => {
    if (opts.signal?.aborted) throw new EngineError('CancelledError', 'conversion cancelled');
  };
  opts.onProgress?.({ phase: 'template', done: 0, total: 3, template: tpl.id });
  const recipe = checkRecipe(await fetchJson<Recipe>(opts, tpl.id, 'recipe.json'));
  if (!sameArch(recipe.arch, arch)) throw new EngineError('PackManifestError', `the ${tpl.id} template on this site is for another architecture`);
  if (Math.abs(recipe.lrMlp - g.lrMlp) > 1e-9) throw new UnpickleError(`mapping learning-rate multiplier ${g.lrMlp}; the templates are built for ${recipe.lrMlp}`);
  checkSources(recipe, g);
  const tplManifest = await fetchJson<ModelPackManifest>(opts, tpl.id, 'manifest.json');
  const consts = new Uint8Array(await (await fetchOk(opts, tpl.id, 'consts.bin')).arrayBuffer());
  if (consts.length !== recipe.consts.bytes) throw new EngineError('PackIntegrityError', `the ${tpl.id} template's consts.bin is ${consts.length} bytes, its recipe says ${recipe.consts.bytes}`);
  abort();

  // w_avg: the checkpoint's, else the mapped mean (NaN-checked with the weights)
  let wAvg: Float32Array;
  const mapped = !g.latentAvg;
  if (g.latentAvg) {
    wAvg = (await readTensor(g.latentAvg.tensor)).slice(0, recipe.arch.styleDim);
    if (g.latentAvg.shape[0] !== recipe.arch.styleDim) throw new UnpickleError(`latent_avg has ${g.latentAvg.shape[0]} values, style_dim is ${recipe.arch.styleDim}`);
  } else {
    const read = async (k: string) => readTensor(g.tensors.get(k)!.tensor);
    wAvg = await mappedWAvg(recipe, read, randn, (done, total) => opts.onProgress?.({ phase: 'wavg', done, total, template: tpl.id }), opts.signal);
  }
  if (!wAvg.every(Number.isFinite)) throw new UnpickleError("the checkpoint's latent_avg holds NaN or infinite values; refused");

  if (!storage.stage) throw new EngineError('PackFetchError', 'this storage cannot stream an import');
  const stage = await storage.stage();
  try {
    const files: Record<string, number> = {};
    const graphs = Object.values(tplManifest.graphs).filter((x): x is NonNullable<typeof x> => !!x);
    for (const [i, gr] of graphs.entries()) {
      const data = new Uint8Array(await (await fetchOk(opts, tpl.id, gr.file)).arrayBuffer());
      const h = await createSHA256();
      h.init();
      h.update(data);
      if (data.length !== gr.bytes || h.digest('hex') !== gr.sha256) throw new EngineError('PackIntegrityError', `the ${tpl.id} template's ${gr.file} does not match its manifest`);
      const sink = await stage.open(gr.file);
      await sink.write(data);
      await sink.close();
      files[gr.file] = data.length;
      opts.onProgress?.({ phase: 'template', done: i + 1, total: graphs.length, template: tpl.id });
      abort();
    }
    const sink = await stage.open('weights.bin');
    const hasher = await createSHA256();
    hasher.init();
    let last = 0;
    await writeWeights(
      recipe,
      g.tensors,
      wAvg,
      consts,
      async (c) => {
        hasher.update(c);
        await sink.write(c.slice());
      },
      (p) => {
        const now = Date.now();
        if (now - last > 100 || p.written === p.total) {
          last = now;
          opts.onProgress?.({ phase: 'weights', done: p.written, total: p.total, template: tpl.id });
        }
      },
      opts.signal,
    );
    await sink.close();
    files['weights.bin'] = recipe.weightsBytes;
    const name = packNameFromFile(fileName);
    const m = structuredClone(tplManifest) as ModelPackManifest & Record<string, any>;
    m.name = name;
    m.title = fileName.replace(/\.(pt|pth|pkl)$/i, '') || name;
    m.weights = { file: 'weights.bin', sha256: hasher.digest('hex'), bytes: recipe.weightsBytes };
    m.truncation = { ...m.truncation, wAvg: Array.from(wAvg) };
    m.generator = { ...m.generator, source: g.source };
    m.provenance = {
      ...m.provenance,
      weightsSource: fileName,
      exporter: `fzplus-studio in-browser conversion (${tpl.id} template, recipe v${recipe.recipeVersion})`,
      exportedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      notes: `${m.provenance?.notes ?? ''} Converted in the browser from ${g.layout}${mapped ? `; w_avg = mean of ${recipe.wAvg.samples} mapped samples (the checkpoint has none)` : ''}.`.trim(),
    };
    const manifest = validateManifest(m);
    const raw = new TextEncoder().encode(JSON.stringify(manifest, null, 1));
    opts.onProgress?.({ phase: 'storing', done: 0, total: 1, template: tpl.id });
    abort();
    const taken = new Set(await storage.list());
    const base = packIdFromName(name);
    let id = base;
    for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
    await stage.commit(id, files, raw);
    const stored: Record<string, number> = { 'manifest.json': raw.length, ...files };
    return {
      id,
      manifest,
      bytes: Object.values(stored).reduce((a, b) => a + b, 0),
      files: stored,
      template: tpl.id,
      layout: g.layout,
      mappedWAvg: mapped,
      ms: Date.now() - t0,
    };
  } catch (e) {
    await stage.discard().catch(() => undefined);
    throw e;
  }
}
