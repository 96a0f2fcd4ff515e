/** Test hooks on `globalThis.__fzplus` (used by the e2e specs). Harmless in production. */
import { apply, faceRegion, type Point } from '../image/align';
import { getEngine, proxy } from '../worker/client';
import type { InvertOptions, InvertProgress } from '../worker/protocol';
import { getImageWorker } from '../worker/imageClient';
import { compositeFullPhoto } from './composite';
import { findDirections } from './directions';
import { get } from './store';

export function installDebugHooks() {
  (globalThis as unknown as { __fzplus?: unknown }).__fzplus = {
    /** Simulates a GPU device loss. */
    loseDevice: () => getEngine().simulateDeviceLoss(),
    state: () => get(),
    /** Inverts the current photo on the engine directly; the progress reports, previews replaced by whether there was one. */
    invertTrace: async (opts: InvertOptions) => {
      const trace: (Omit<InvertProgress, 'preview'> & { preview: boolean })[] = [];
      await getEngine().invert(
        opts,
        proxy((p: InvertProgress) => {
          const { preview, ...rest } = p;
          trace.push({ ...rest, preview: !!preview });
        }),
      );
      return trace;
    },
    /** Find directions on the loaded pack with options the UI does not offer (a smaller sample count: benches). */
    findDirections: (opts: { k?: number; samples?: number }) => findDirections(opts),
    /** Pack URLs loaded since the page opened, in order. */
    packLoads: () => [...get().packLoads],
    /** Full-resolution original and the pasted-back result, plus the face polygon in photo pixels. */
    composite: async () => {
      const s = get();
      const out = await compositeFullPhoto();
      if (!out || !s.source || !s.crop) return null;
      const al = s.crop.alignment;
      const R = al.size;
      const polyCrop: Point[] = s.crop.landmarks ? faceRegion(s.crop.landmarks, al) : [[0, 0], [0, R], [R, R], [R, 0]];
      return { original: await getImageWorker().pixels(s.source.id), result: out, poly: polyCrop.map((q) => apply(al.toPhoto, q)) };
    },
  };
}
