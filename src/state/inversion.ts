/** The inversion flow: run (or resume) the engine's optimisation on the current photo, with progress, and cancel it. */
import { getEngine, proxy } from '../worker/client';
import type { InvertProgress } from '../worker/protocol';
import { reportError } from './errors';
import { renderSliders } from './sliders';
import { get, modelFrame, set, type Settings } from './store';

/** Inverts the current photo; `resume` continues the last optimisation (same space) instead of starting over. */
export async function invert(resume: boolean) {
  const s = get();
  if (!s.pack || !s.photo) return;
  const R = s.pack.resolution;
  const engine = getEngine();
  set({ phase: 'inverting', cancelled: false, ...(resume ? {} : { curve: [], progress: null, finalPsnr: null, reconstruction: null, edited: null }) });
  try {
    const res = await engine.invert(
      { space: s.settings.space, steps: s.settings.steps, lr: s.settings.lr, weights: s.settings.weights, previewEvery: s.settings.previewEvery, resume },
      proxy((p: InvertProgress) => {
        set((st) => ({
          progress: p,
          curve: [...st.curve, { step: p.step, total: p.total, psnr: p.psnr }],
          ...(p.preview ? { reconstruction: modelFrame(p.preview, R), edited: modelFrame(p.preview, R) } : {}),
        }));
      }),
    );
    // the codes arrive with the result, so that a replaced engine worker (state/engineWatch.ts) can always resume
    const codes = await engine.exportCodes().catch(() => null);
    set({
      phase: 'inverted',
      codes,
      reconstruction: modelFrame(res.image, R),
      edited: modelFrame(res.image, R),
      finalPsnr: res.psnr,
      cancelled: res.cancelled,
      canResume: true,
      lastSpace: s.settings.space,
      backend: res.backend,
    });
    // re-apply current slider values to the new codes
    const v = get().sliders;
    if (Object.values(v).some((x) => x !== 0)) await renderSliders(v);
  } catch (e) {
    set({ phase: get().reconstruction ? 'inverted' : 'ready', canResume: true, lastSpace: s.settings.space });
    reportError(e);
  }
}

export async function cancelInversion() {
  await getEngine().cancel();
}

/** Changes inversion settings (Advanced card); they apply to the next inversion. */
export function updateSettings(p: Partial<Settings>) {
  set({ settings: { ...get().settings, ...p } });
}
