import { beforeEach, describe, expect, it } from 'vitest';
import { commitSliders, get, pushBanner, redoSliders, set, undoSliders, dismissBanner } from './store';

describe('slider undo/redo', () => {
  beforeEach(() => set({ sliders: { a: 0 }, undo: [], redo: [] }));
  it('undoes and redoes committed changes', () => {
    commitSliders({ a: 1 }, get().sliders);
    commitSliders({ a: 2 }, get().sliders);
    expect(get().sliders).toEqual({ a: 2 });
    expect(undoSliders()).toEqual({ a: 1 });
    expect(undoSliders()).toEqual({ a: 0 });
    expect(undoSliders()).toBeNull();
    expect(redoSliders()).toEqual({ a: 1 });
    commitSliders({ a: 5 }, get().sliders);
    expect(get().redo).toEqual([]);
  });
  it('ignores no-op commits', () => {
    commitSliders({ a: 0 }, { a: 0 });
    expect(get().undo).toEqual([]);
  });
});

describe('banners', () => {
  it('deduplicates and dismisses', () => {
    set({ banners: [] });
    pushBanner('error', 'x', 'y');
    const id = pushBanner('error', 'x', 'y');
    expect(get().banners).toHaveLength(1);
    dismissBanner(id);
    expect(get().banners).toHaveLength(0);
  });
});
