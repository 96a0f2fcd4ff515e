import { beforeEach, describe, expect, it, vi } from 'vitest';

const released: number[] = [];
vi.mock('../worker/imageClient', () => ({ getImageWorker: () => ({ release: async (id: number) => void released.push(id) }) }));

const { adoptPhotos } = await import('./photo');
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
