/**
 * The graph contract (schema/graphs.contract.json, generated into contract.generated.ts) and the concrete tensor
 * shapes it gives for one manifest.
 */
import type { ModelPackManifest } from '../pack/manifest.types';
import { TENSOR_SHAPES, type Dim, type TensorName } from './contract.generated';

export * from './contract.generated';

/** The shape `name` must have in a pack with this manifest; undefined for a tensor the contract does not shape. */
export function expectedShape(name: string, m: ModelPackManifest): number[] | undefined {
  const spec = TENSOR_SHAPES[name as TensorName];
  if (spec === undefined) return undefined;
  if (spec === 'F') return m.fBlock.shape;
  const dims: Record<Exclude<Dim, number>, number> = { numWs: m.numWs, zDim: m.zDim, wDim: m.wDim, R: m.resolution };
  return spec.map((d) => (typeof d === 'number' ? d : dims[d]));
}
