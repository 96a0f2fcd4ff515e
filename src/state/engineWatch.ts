/**
 * Time budget of engine runs: a slider frame that takes longer than the budget means the engine worker is stuck in a
 * run it cannot leave (a graph inside ORT cannot be interrupted), so the worker is replaced by a fresh one, which gets
 * the pack, the photo and the latest inversion's codes back; the sliders start again from zero, and a banner says so.
 */
import { replaceEngineWorker, getEngine } from '../worker/client';
import { startEngine } from './boot';
import { errorInfo } from './errors';
import { loadPack } from './packs';
import { get, modelFrame, pushBanner, set } from './store';
import { readUrlOptions } from './urlOptions';

/**
 * A slider frame takes ~10-300 ms at 64 px and seconds at 1024 px on WASM; one past this (or past 20 times the last
 * frame, when that is longer) has the worker replaced.
 */
export const RENDER_BUDGET_MS = 60_000;

export const renderBudgetMs = () => readUrlOptions().renderBudgetMs ?? Math.max(RENDER_BUDGET_MS, 20 * (get().frameMs ?? 0));

export const OVER_BUDGET = Symbol('over budget');

/** `p`'s value, or OVER_BUDGET when it takes longer than `ms`, and always when `ms` is 0 (`p` itself goes on, unobserved). */
export function withinBudget<T>(p: Promise<T>, ms: number): Promise<T | typeof OVER_BUDGET> {
  if (ms <= 0) {
    p.catch(() => undefined);
    return Promise.resolve(OVER_BUDGET);
  }
  let timer: ReturnType<typeof setTimeout>;
  const late = new Promise<typeof OVER_BUDGET>((r) => (timer = setTimeout(() => r(OVER_BUDGET), ms)));
  return Promise.race([p.finally(() => clearTimeout(timer)), late]);
}

/** Replaces the engine worker and restores the pack, the photo and the codes; one restart at a time. */
export async function restartEngine(reason: string) {
  const s = get();
  if (s.restartingEngine || !s.packUrl) return;
  set({ restartingEngine: true });
  const { photo, codes, packUrl } = s;
  try {
    replaceEngineWorker();
    await startEngine();
    await loadPack(packUrl);
    const R = get().pack!.resolution;
    if (photo && codes) {
      await getEngine().setTarget({ width: R, height: R, data: new Uint8ClampedArray(photo.frame.data) });
      const r = await getEngine().importCodes(codes);
      set({ reconstruction: modelFrame(r.image, R), edited: modelFrame(r.image, R), phase: 'inverted', canResume: true });
    }
    pushBanner('warning', 'The engine was restarted', `${reason}, so the engine was restarted. Your photo and its inversion are kept; the sliders are back at zero.`);
  } catch (e) {
    pushBanner('error', 'The engine could not be restarted', `${reason}; restarting the engine failed: ${errorInfo(e).message}. Reload the page to continue editing.`);
  } finally {
    set({ restartingEngine: false });
  }
}
