/** The page's handle on the image worker (comlink); one worker, started on first use. */
import * as Comlink from 'comlink';
import type { ImageApi } from './imageProtocol';

export type { HeldPhoto, ImageApi, OpenResult, PasteSpec } from './imageProtocol';

let images: Comlink.Remote<ImageApi> | null = null;

export function getImageWorker(): Comlink.Remote<ImageApi> {
  if (!images) {
    const worker = new Worker(new URL('./image.worker.ts', import.meta.url), { type: 'module', name: 'fzplus-image' });
    images = Comlink.wrap<ImageApi>(worker);
  }
  return images;
}
