/**
 * Checkpoint conversion as the page sees it: the pack import worker (src/worker/import.worker.ts) serves these
 * calls next to `ImportApi` (src/engine/convert/convert.ts does the work); the page never reads the checkpoint.
 */
import type { ConvertedPack, ConvertProgress } from '../engine/convert/convert';

export type { ConvertedPack, ConvertProgress };

export interface ConvertApi {
  /**
   * Converts a rosinality .pt or NVIDIA .pkl StyleGAN2 checkpoint into a stored pack (`file` is structured-cloned as
   * a reference to the same disk data). Templates are fetched from `templateBase` + `<id>/<file>` (this site's
   * templates/). Rejects with a message naming the problem; nothing is stored then. Progress at most every 100 ms.
   */
  convertCheckpoint(file: Blob, name: string, templateBase: string, onProgress?: (p: ConvertProgress) => void): Promise<ConvertedPack>;
  /** Stops a running conversion (it rejects with a CancelledError; nothing is stored). */
  cancelConvert(): Promise<void>;
}
