/** The graph contract (docs/CONTRACTS.md): graph keys, their input and output names, which graphs a pack must have. */

export type GraphKey =
  | 'mapping'
  | 'synthesis'
  | 'features'
  | 'synthesis_from_f'
  | 'grad_fzplus'
  | 'grad_fwplus'
  | 'grad_wplus'
  | 'grad_zplus_nof'
  | 'encoder'
  | 'classifier';

export const REQUIRED_GRAPHS: GraphKey[] = ['mapping', 'synthesis', 'features', 'synthesis_from_f', 'grad_fzplus'];

/** The fp32 graphs the engine loads from a pack (the classifier is for the toolchain only). */
export const ENGINE_GRAPHS: GraphKey[] = [
  'mapping', 'synthesis', 'features', 'synthesis_from_f', 'grad_fzplus', 'grad_fwplus', 'grad_wplus', 'grad_zplus_nof', 'encoder',
];

/** Input and output names of every graph. */
export const GRAPH_IO: Record<GraphKey, { inputs: string[]; outputs: string[] }> = {
  mapping: { inputs: ['z'], outputs: ['w'] },
  synthesis: { inputs: ['wplus'], outputs: ['image'] },
  features: { inputs: ['wplus'], outputs: ['f'] },
  synthesis_from_f: { inputs: ['f', 'wplus'], outputs: ['image'] },
  grad_fzplus: { inputs: ['target', 'f', 'zplus', 'f_init', 'weights'], outputs: ['loss', 'grad_f', 'grad_zplus'] },
  grad_fwplus: { inputs: ['target', 'f', 'wplus', 'f_init', 'weights'], outputs: ['loss', 'grad_f', 'grad_wplus'] },
  grad_wplus: { inputs: ['target', 'wplus', 'weights'], outputs: ['loss', 'grad_wplus'] },
  grad_zplus_nof: { inputs: ['target', 'zplus', 'weights'], outputs: ['loss', 'grad_zplus'] },
  encoder: { inputs: ['image'], outputs: ['f', 'zplus'] },
  classifier: { inputs: ['image'], outputs: ['logits'] },
};
