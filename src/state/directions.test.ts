// The state side of Find directions: it starts by itself on a pack without directions, a stopped automatic run is
// not started again for that pack, and a result that arrives after the pack was switched away is dropped.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { PackSummary } from '../worker/protocol';

type Run = { resolve: (v: unknown) => void; reject: (e: unknown) => void };
const runs: Run[] = [];
const cancels: number[] = [];
vi.mock('../worker/client', () => ({
  proxy: <T>(f: T) => f,
  errorInfo: (e: Error) => ({ name: e.name, message: e.message }),
  getEngine: () => ({
    findDirections: () => new Promise((resolve, reject) => runs.push({ resolve, reject })),
    cancelFindDirections: async () => {
      cancels.push(runs.length);
      runs.at(-1)?.reject(Object.assign(new Error('cancelled'), { name: 'CancelledError' }));
    },
  }),
}));
vi.mock('./sliders', () => ({ renderSliders: async () => undefined }));

const { abandonFindDirections, cancelFindDirections, findDirectionsIfNone } = await import('./directions');
const { get, set } = await import('./store');

const summary = (name: string, ids: string[]) => ({ name, title: name, directions: ids.map((id) => ({ id, label: id, range: [-3, 3] })) }) as unknown as PackSummary;
const found = (name: string) => ({ summary: summary(name, ['ganspace-pc1']), result: { found: 1, skipped: 0, notInF: 0, samples: 1000, seconds: 1.5 } });
const settle = () => new Promise((r) => setTimeout(r, 0));

describe('Find directions on a pack without directions', () => {
  beforeEach(() => {
    runs.length = 0;
    cancels.length = 0;
    set({ pack: summary('bare', []), packUrl: 'opfs:/bare', finding: null, directionsMsg: null, findStopped: [], sliders: {} });
  });

  it('starts by itself and installs what it found as sliders', async () => {
    findDirectionsIfNone();
    expect(get().finding).toMatchObject({ auto: true, progress: 0 });
    findDirectionsIfNone(); // one at a time
    expect(runs).toHaveLength(1);
    runs[0].resolve(found('bare'));
    await settle();
    expect(get().finding).toBeNull();
    expect(get().sliders).toEqual({ 'ganspace-pc1': 0 });
    expect(get().directionsMsg?.text).toMatch(/^Found 1 directions in 1.5 s/);
  });

  it('is not started on a pack that has directions, nor again after the user stopped it', async () => {
    set({ pack: summary('full', ['smile']) });
    findDirectionsIfNone();
    expect(runs).toHaveLength(0);
    set({ pack: summary('bare', []) });
    findDirectionsIfNone();
    await cancelFindDirections();
    await settle();
    expect(get().directionsMsg?.text).toBe('Stopped; nothing was added.');
    expect(get().findStopped).toEqual(['opfs:/bare']);
    findDirectionsIfNone();
    expect(runs).toHaveLength(1);
  });

  it('drops the result of a find abandoned for another pack', async () => {
    findDirectionsIfNone();
    await abandonFindDirections();
    expect(cancels).toEqual([1]);
    set({ pack: summary('other', ['smile']), packUrl: '/models/other/' });
    runs[0].resolve(found('bare'));
    await settle();
    expect(get().pack?.name).toBe('other');
    expect(get().directionsMsg).toBeNull();
  });
});
