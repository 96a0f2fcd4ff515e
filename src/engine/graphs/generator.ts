/** The generator's graphs as functions of codes: mapping with truncation, the mean W+, synthesis with or without F. */
import type { ModelPackManifest } from '../pack/manifest';
import { truncateInPlace } from '../math/truncation';
import type { Feed, GraphRunner } from './runner';

export class Generator {
  constructor(
    readonly runner: GraphRunner,
    readonly manifest: ModelPackManifest,
  ) {}

  /** W for each row of `z` ([numWs, zDim]), untruncated. */
  async mapping(z: Float32Array): Promise<Float32Array> {
    return (await this.runner.run('mapping', { z })).w;
  }

  /** Z+ -> W+ with the pack's truncation (psi on the first `layers` rows). */
  async zToW(zplus: Float32Array): Promise<Float32Array> {
    const m = this.manifest;
    const wp = (await this.mapping(zplus)).slice();
    truncateInPlace(wp, m.wDim, m.truncation.wAvg, m.truncation.psi, m.truncation.layers);
    return wp;
  }

  /** wAvg repeated for every layer. */
  wMeanPlus(): Float32Array {
    const m = this.manifest;
    const w = new Float32Array(m.numWs * m.wDim);
    for (let i = 0; i < m.numWs; i++) w.set(m.truncation.wAvg, i * m.wDim);
    return w;
  }

  /** F at the pack's F block for W+ (the `features` graph). */
  async features(wplus: Float32Array): Promise<Float32Array> {
    return (await this.runner.run('features', { wplus })).f;
  }

  /** The image tensor for W+, from F when given (synthesis_from_f), else from the constant input (synthesis). */
  async synthesize(f: Feed | null, wplus: Float32Array): Promise<Float32Array> {
    if (f) return (await this.runner.run('synthesis_from_f', { f, wplus })).image;
    return (await this.runner.run('synthesis', { wplus })).image;
  }
}
