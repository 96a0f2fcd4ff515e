/** The latent spaces an inversion can optimise in (the list is the worker protocol's), and the gradient graph of each. */
import { SPACES, type Space } from '../../worker/protocol';
import type { GraphKey } from '../graphs/contract';
import type { ModelPackManifest } from '../pack/manifest';

export { SPACES, type Space };
export const SPACE_GRAPH: Record<Space, GraphKey> = {
  'W+': 'grad_wplus',
  'Z+': 'grad_zplus_nof',
  'F/W+': 'grad_fwplus',
  'F/Z+': 'grad_fzplus',
};

/**
 * The gradient graph an inversion in `space` runs on this pack. F/Z+ runs the anchored F term (F pulled towards
 * F_gen(W+) too, so every z is fitted and the residual F - F_gen(W+) stays small) when the pack edits with F
 * following the edit and ships that graph: follow-mode edits add F_gen(W+_edit) - F_gen(W+_inv) to F, and a small
 * residual is what keeps them free of ghosts (docs/SPACES.md).
 */
export function inversionGraph(space: Space, m: Pick<ModelPackManifest, 'graphs' | 'editing'>): GraphKey {
  if (space === 'F/Z+' && m.editing?.fMode === 'follow' && m.graphs.grad_fzplus_anchored) return 'grad_fzplus_anchored';
  return SPACE_GRAPH[space];
}

/** Whether the space optimises F (the synthesis features at fBlock) besides the code. */
export const hasF = (s: Space) => s.startsWith('F/');
/** Whether the code is Z+ (on the sphere, mapped by the network) rather than W+. */
export const isZ = (s: Space) => s.endsWith('Z+');

/** The code's input name in the gradient graph and the name of its gradient output. */
export function codeNames(s: Space): { input: 'zplus' | 'wplus'; grad: 'grad_zplus' | 'grad_wplus' } {
  return isZ(s) ? { input: 'zplus', grad: 'grad_zplus' } : { input: 'wplus', grad: 'grad_wplus' };
}

/** The spaces whose gradient graph the pack has. */
export function availableSpaces(m: ModelPackManifest): Space[] {
  return SPACES.filter((s) => !!m.graphs[SPACE_GRAPH[s]]);
}
