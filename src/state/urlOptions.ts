/** Options read from the page URL (`?pack=…&backend=…&steps=…&space=…&warm=0&fmode=fixed|follow`). */
import type { BackendKind, FEditMode } from '../worker/protocol';

export interface UrlOptions {
  backend: 'auto' | BackendKind;
  pack: string | null;
  steps: number | null;
  space: string | null;
  /** false with ?warm=0: no speculative warm-up runs after a pack loads (tests, benchmarks of the cold start). */
  warm: boolean;
  /** How edits treat F (?fmode=fixed|follow); null = the pack's measured default. */
  fMode: FEditMode | null;
  /**
   * ?renderbudget=<ms>: the time a slider frame may take before the engine worker is replaced (tests); 0 counts every
   * frame as past it (a tiny pack renders within a millisecond, so no positive budget is reliably exceeded); null =
   * default.
   */
  renderBudgetMs: number | null;
}

export function readUrlOptions(search = location.search): UrlOptions {
  const q = new URLSearchParams(search);
  const b = q.get('backend');
  const steps = Number(q.get('steps'));
  return {
    backend: b === 'wasm' || b === 'webgpu' ? b : 'auto',
    pack: q.get('pack'),
    steps: Number.isFinite(steps) && steps > 0 ? Math.floor(steps) : null,
    space: q.get('space'),
    warm: q.get('warm') !== '0',
    fMode: q.get('fmode') === 'fixed' || q.get('fmode') === 'follow' ? (q.get('fmode') as FEditMode) : null,
    renderBudgetMs: q.get('renderbudget') && Number(q.get('renderbudget')) >= 0 ? Number(q.get('renderbudget')) : null,
  };
}
