/**
 * GANSpace (Härkönen et al. 2020) in the worker, for a pack without directions, with the pack's own mapping graph,
 * following model/directions/ganspace.py: PCA of W over `samples` z on the sphere (edit/latentStats.ts, ml-matrix's
 * symmetric eigen-decomposition); each principal axis u_k is a W direction with wSigma = sqrt(lambda_k) (slider
 * units are sigma of that component on every model) and explainedVariance lambda_k / sum lambda; its Z conversion
 * for the Z+ spaces is fitted and measured as for any W direction (edit/wToZ.ts). Components the Z+ spaces cannot
 * follow are left out. When a renderer is given, each component's effect is measured (edit/effect.ts) and one with
 * no visible change from F gets `offerInF: false`. Layer ranges are not searched here: every component acts on all
 * layers.
 */
import { EngineError } from '../errors';
import type { ModelPackManifest } from '../pack/manifest';
import { LatentStats, type Mapper } from './latentStats';
import { wToZ } from './wToZ';
import { EffectMeter, VISIBLE, type Renderer } from './effect';

type Entry = ModelPackManifest['directions'][number];

export interface FindDirectionsOptions {
  /** Components to find (default 12). */
  k?: number;
  /** z samples for the PCA (default 100 000). */
  samples?: number;
  seed?: number;
}

/** Progress of "Find directions": the step, and the share of the whole job done (0-1). */
export interface FindDirectionsProgress {
  stage: 'sampling' | 'fitting';
  done: number;
}

export interface FindDirectionsResult {
  entries: Entry[];
  /** Components left out because the Z+ spaces cannot follow them. */
  skipped: number;
  /** Found components with no visible effect from F (not offered in F/Z+ and F/W+ with F fixed). */
  notInF: number;
  samples: number;
  seconds: number;
}

/** Share of the progress bar that sampling W takes (the rest: one Z conversion per component). */
const SAMPLING_SHARE = 0.6;

export async function findDirections(
  gen: Mapper,
  existingIds: Set<string>,
  opts: FindDirectionsOptions,
  cancelled: () => boolean,
  onProgress?: (p: FindDirectionsProgress) => void,
  renderer?: Renderer,
): Promise<FindDirectionsResult> {
  const meter = renderer ? new EffectMeter(renderer) : null;
  const t0 = Date.now();
  const k = Math.max(1, Math.min(opts.k ?? 12, gen.manifest.wDim));
  const samples = Math.max(gen.manifest.wDim * 4, opts.samples ?? 100_000);
  const stats = await LatentStats.sample(gen, {
    samples,
    seed: opts.seed ?? 0,
    cancelled,
    onProgress: (d) => onProgress?.({ stage: 'sampling', done: SAMPLING_SHARE * d }),
  });
  const { axes, variances, total } = stats.pca(k);
  const entries: Entry[] = [];
  let skipped = 0;
  for (let j = 0; j < axes.length; j++) {
    if (cancelled()) throw new EngineError('CancelledError', 'cancelled');
    let id = `ganspace-pc${j + 1}`;
    while (existingIds.has(id)) id += '-new';
    try {
      const conv = await wToZ(gen, stats, axes[j], Math.sqrt(Math.max(variances[j], 0)), `PC${j + 1}`);
      const effect = meter ? await meter.of(conv.vector, conv.zScale!) : null;
      entries.push({
        id,
        label: `PC${j + 1}`,
        kind: 'ganspace',
        space: 'w',
        ...conv,
        range: [-3, 3],
        explainedVariance: Number((variances[j] / total).toFixed(5)),
        ...(effect ? { effect, offerInF: effect.fromF >= VISIBLE } : {}),
        source: `GANSpace in the browser: PCA of W over ${stats.n} samples of this pack's mapping graph`,
      } as Entry);
    } catch (e) {
      if (!(e instanceof EngineError) || e.code !== 'DirectionFileError') throw e;
      skipped++;
    }
    onProgress?.({ stage: 'fitting', done: SAMPLING_SHARE + ((1 - SAMPLING_SHARE) * (j + 1)) / axes.length });
  }
  const notInF = entries.filter((e) => e.offerInF === false).length;
  return { entries, skipped, notInF, samples: stats.n, seconds: (Date.now() - t0) / 1000 };
}
