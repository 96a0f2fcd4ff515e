import { describe, expect, it } from 'vitest';
import type { ModelPackManifest } from '../pack/manifest';
import { inversionGraph } from './spaces';

type M = Pick<ModelPackManifest, 'graphs' | 'editing'>;
const g = { file: 'x.onnx' } as M['graphs'][string];
function manifest(fMode: 'fixed' | 'follow' | undefined, anchored: boolean): M {
  const graphs: M['graphs'] = { grad_fzplus: g, grad_fwplus: g };
  if (anchored) graphs.grad_fzplus_anchored = g;
  return { graphs, editing: fMode ? { fMode } : undefined };
}

describe('inversionGraph', () => {
  it('runs the anchored F/Z+ graph only for a follow-mode pack that ships it', () => {
    expect(inversionGraph('F/Z+', manifest('follow', true))).toBe('grad_fzplus_anchored');
    expect(inversionGraph('F/Z+', manifest('follow', false))).toBe('grad_fzplus');
    expect(inversionGraph('F/Z+', manifest('fixed', true))).toBe('grad_fzplus');
    expect(inversionGraph('F/Z+', manifest(undefined, true))).toBe('grad_fzplus');
  });
  it('leaves the other spaces on their own graphs', () => {
    expect(inversionGraph('F/W+', manifest('follow', true))).toBe('grad_fwplus');
    expect(inversionGraph('Z+', manifest('follow', true))).toBe('grad_zplus_nof');
  });
});
