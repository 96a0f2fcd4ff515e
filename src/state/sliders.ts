/** The slider flow: live edits rendered by the engine (latest wins), one undo entry per gesture, reset, undo, redo. */
import { getEngine } from '../worker/client';
import type { FEditMode, RenderResult, SliderValues, Superseded } from '../worker/protocol';
import { OVER_BUDGET, renderBudgetMs, restartEngine, withinBudget } from './engineWatch';
import { reportError } from './errors';
import { commitSliders, get, modelFrame, redoSliders, set, undoSliders, zeroSliders } from './store';

/** Live slider preview: the worker drops stale requests (latest wins); replies to older requests are ignored here. */
export async function renderSliders(values: SliderValues) {
  const s = get();
  if (!s.pack || !s.reconstruction || s.phase === 'inverting' || s.restartingEngine) return;
  const seq = s.renderSeq + 1;
  set({ renderSeq: seq, rendering: true });
  try {
    const budget = renderBudgetMs();
    const r = await withinBudget<RenderResult | Superseded>(getEngine().render(values), budget);
    if (r === OVER_BUDGET) {
      set({ rendering: false });
      void restartEngine(`A slider frame took longer than ${budget >= 1000 ? `${budget / 1000} s` : `${budget} ms`}`);
      return;
    }
    if ('superseded' in r || seq !== get().renderSeq) return;
    set({ edited: modelFrame(r.image, s.pack.resolution), frameMs: r.ms, rendering: false });
  } catch (e) {
    if (seq === get().renderSeq) set({ rendering: false });
    reportError(e);
  }
}

/** F fixed (the paper's edit) or F following the edit; re-renders the current sliders. */
export async function setEditMode(mode: FEditMode) {
  try {
    await getEngine().setEditMode(mode);
    set({ editMode: mode });
    void renderSliders(get().sliders);
  } catch (e) {
    reportError(e);
  }
}

export function setSlider(id: string, value: number) {
  const next = { ...get().sliders, [id]: value };
  set({ sliders: next });
  void renderSliders(next);
}

/** Called when a drag ends: one undo entry per gesture. */
export function commitSlider(previous: SliderValues) {
  commitSliders(get().sliders, previous);
}

export function resetSliders() {
  const s = get();
  const zero = zeroSliders(s.pack);
  commitSliders(zero, s.sliders);
  set({ sliders: zero });
  void renderSliders(zero);
}

export function undo() {
  const v = undoSliders();
  if (v) void renderSliders(v);
}

export function redo() {
  const v = redoSliders();
  if (v) void renderSliders(v);
}
