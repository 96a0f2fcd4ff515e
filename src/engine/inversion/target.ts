/** The photo being inverted: as a tensor for PSNR, and as the gradient graphs' constant `target` input. */
import { EngineError } from '../errors';
import type { Constant } from '../graphs/runner';
import type { ModelPackManifest } from '../pack/manifest';
import type { RGBAImage } from '../../image/types';
import { rgbaToTensor } from '../../image/tensor';

export class Target {
  tensor: Float32Array | null = null;
  /** Changes with every new photo, so an inversion knows whether it still belongs to the current one. */
  version = 0;

  constructor(private readonly input: Constant) {}

  /** RGBA8 at the pack's resolution (already aligned / cropped). */
  set(img: RGBAImage, m: ModelPackManifest) {
    if (img.width !== m.resolution || img.height !== m.resolution) {
      throw new EngineError('InputError', `target must be ${m.resolution}×${m.resolution}, got ${img.width}×${img.height}`);
    }
    this.tensor = rgbaToTensor(img.data, img.width, img.height, m.imageRange);
    this.version++;
    this.input.set(this.tensor, [1, 3, m.resolution, m.resolution]);
  }

  /** A new pack: the photo has to be set again at its resolution. */
  clear() {
    this.tensor = null;
    this.version++;
    this.input.clear();
  }
}
