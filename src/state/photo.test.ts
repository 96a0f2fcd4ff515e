import { beforeEach, describe, expect, it, vi } from 'vitest';

const released: number[] = [];
const opened: string[] = [];
/** Photo ids the stand-in image worker holds (a restarted worker holds none of the old ones). */
const held = new Set<number>();
let nextId = 100;
const fakeWorker = {
  release: async (id: number) => {
    released.push(id);
    held.delete(id);
  },
  open: async (_file: Blob, name: string) => {
    const id = nextId++;
    held.add(id);
    opened.push(name);
    return { ok: true as const, photo: { id, width: 10, height: 10, sourceSize: [10, 10] as [number, number], notes: [] } };
  },
  view: async (id: number, maxSide: number) => {
    if (!held.has(id)) throw Object.assign(new Error('the image worker was restarted and no longer holds the photo: drop the photo again'), { name: 'PhotoGoneError' });
    return { width: maxSide, height: id, data: new Uint8ClampedArray(4) };
  },
};
vi.mock('../worker/imageClient', () => ({ PHOTO_GONE: 'PhotoGoneError', getImageWorker: () => fakeWorker }));

const { adoptPhotos, withSourcePhoto } = await import('./photo');
const { get, set } = await import('./store');
type SourcePhoto = NonNullable<ReturnType<typeof get>['source']>;

const photo = (id: number): SourcePhoto => ({ id, blob: new Blob([]), name: `p${id}`, notes: [], size: [10, 10], width: 10, height: 10, faces: [] });

describe('adoptPhotos', () => {
  beforeEach(() => {
    released.length = 0;
    set({ source: null, pendingPhoto: null });
  });

  it('frees in the image worker exactly the photos neither the source nor the pending photo refers to', () => {
    const a = photo(1), b = photo(2), c = photo(3);
    adoptPhotos({ source: a });
    adoptPhotos({ pendingPhoto: b }); // a face choice for a new photo
    expect(released).toEqual([]);
    adoptPhotos({ pendingPhoto: null, source: b }); // the face was chosen: the old photo goes
    expect(released).toEqual([1]);
    adoptPhotos({ pendingPhoto: b }); // "pick another face" on the same photo keeps it
    adoptPhotos({ pendingPhoto: c }); // another photo dropped while picking
    adoptPhotos({ pendingPhoto: null }); // "keep the current photo"
    expect(released).toEqual([1, 3]);
    expect(get().source?.id).toBe(2);
  });
});

describe('withSourcePhoto', () => {
  beforeEach(() => {
    released.length = 0;
    opened.length = 0;
    held.clear();
    set({ source: null, pendingPhoto: null });
  });

  it('runs the call on the source photo while the image worker holds it', async () => {
    held.add(5);
    adoptPhotos({ source: photo(5) });
    expect((await withSourcePhoto((id) => fakeWorker.view(id, 720)))?.height).toBe(5);
    expect(opened).toEqual([]);
  });

  it('after an image worker restart, reopens the kept file once, adopts the new id and retries', async () => {
    const before = { ...photo(7), faces: [{ box: { x: 1, y: 2, width: 3, height: 4 }, score: 0.9, landmarks: [] }] };
    adoptPhotos({ source: before }); // id 7: held by the worker that died
    const view = await withSourcePhoto((id) => fakeWorker.view(id, 720));
    const after = get().source!;
    expect(opened).toEqual(['p7']);
    expect(after.id).not.toBe(7);
    expect(view?.height).toBe(after.id);
    expect(after.blob).toBe(before.blob);
    expect(after.faces).toEqual(before.faces); // detection is not rerun: the crop stays valid
    expect(released).toEqual([7]);
  });

  it('reopens only once: a second refusal reaches the caller', async () => {
    adoptPhotos({ source: photo(8) });
    await expect(withSourcePhoto((id) => (held.delete(id), fakeWorker.view(id, 720)))).rejects.toMatchObject({ name: 'PhotoGoneError' });
    expect(opened).toEqual(['p8']);
  });

  it('passes other errors through without reopening, and is null without a source photo', async () => {
    expect(await withSourcePhoto(async () => 1)).toBeNull();
    held.add(9);
    adoptPhotos({ source: photo(9) });
    await expect(withSourcePhoto(async () => { throw Object.assign(new Error('x'), { name: 'ImageWorkerError' }); })).rejects.toMatchObject({ name: 'ImageWorkerError' });
    expect(opened).toEqual([]);
  });
});
