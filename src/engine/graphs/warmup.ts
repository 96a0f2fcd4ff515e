/**
 * Runs the editor's hot graphs (the F/Z+ gradient; mapping + synthesis_from_f) on made-up inputs while nothing else
 * is asked of the engine. On WASM, V8 first runs onnxruntime-web's wasm on its baseline compiler and tiers hot
 * functions up in the background: the first ~30 gradient steps of a fresh page run 3-8x slower than the rest
 * (docs/WASM_SPEED.md). Warming up while the user picks a photo moves that cost out of the first inversion.
 * WASM only, packs up to 256 px only; stops as soon as real work asks for a graph (which then waits for at most the
 * one warm-up run in flight).
 */
import type { BackendInfo } from '../runtime/backend';
import { randn } from '../math/rng';
import type { ModelPackManifest } from '../pack/manifest';
import { now, yieldToEventLoop } from '../schedule';
import type { GraphKey } from './contract';
import type { GraphRunner } from './runner';
import { inversionGraph } from '../inversion/spaces';

/** What warmUp() did: how many graph runs, how long, and why it stopped. */
export interface WarmUpResult {
  runs: number;
  ms: number;
  /** 'done': ran its budget; 'preempted': real work arrived; 'skipped': not useful here (see reason). */
  outcome: 'done' | 'preempted' | 'skipped';
  reason?: string;
}

export interface WarmUpOptions {
  /** Most graph runs (default 60). */
  runs?: number;
  /** Most milliseconds (default 5000). */
  maxMs?: number;
}

/** Warm-up only where one gradient run is short, so that real work never waits long behind it. */
const WARM_MAX_RESOLUTION = 256;

/** `busy()`: real work is going on that does not show as demand between runs (an inversion). */
export async function warmUp(
  runner: GraphRunner,
  m: ModelPackManifest | null,
  backend: BackendInfo | null,
  busy: () => boolean,
  opts: WarmUpOptions = {},
): Promise<WarmUpResult> {
  const t0 = now();
  const skip = (reason: string): WarmUpResult => ({ runs: 0, ms: 0, outcome: 'skipped', reason });
  if (!runner.current || !m) return skip('no model pack loaded');
  if (backend?.kind !== 'wasm') return skip('only WASM needs a warm-up');
  if (m.resolution > WARM_MAX_RESOLUTION) return skip(`a ${m.resolution} px pack: one gradient run is too long to run speculatively`);
  const gradient = inversionGraph('F/Z+', m); // the default space's graph, as invert() will run it
  const plan: GraphKey[] = m.graphs[gradient] ? [gradient, gradient, gradient, 'mapping', 'synthesis_from_f'] : ['mapping', 'synthesis_from_f'];
  const maxRuns = opts.runs ?? 60;
  const maxMs = opts.maxMs ?? 5000;
  const feeds = new Map<GraphKey, Record<string, Float32Array>>();
  const demand = runner.demand;
  let runs = 0;
  for (; runs < maxRuns && now() - t0 < maxMs; runs++) {
    // a pack load counts as demand too, so a pack switch also ends the warm-up
    if (runner.demand !== demand || busy()) return { runs, ms: now() - t0, outcome: 'preempted' };
    const key = plan[runs % plan.length];
    if (!feeds.has(key)) feeds.set(key, warmFeeds(m, key));
    await runner.run(key, feeds.get(key)!, { warm: true });
    await yieldToEventLoop();
  }
  return { runs, ms: now() - t0, outcome: 'done' };
}

/** Inputs of the graph's declared shapes: unit-sphere-ish codes, a mid-grey-noise target, the default loss weights. */
function warmFeeds(m: ModelPackManifest, key: GraphKey): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  m.graphs[key]!.inputs.forEach((spec, i) => {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    out[spec.name] = spec.name === 'weights' ? new Float32Array(m.loss.defaultWeights) : randn(n, 7 + i).map((x) => (spec.name === 'target' ? Math.tanh(x) : x));
  });
  return out;
}
