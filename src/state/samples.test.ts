import { describe, expect, it } from 'vitest';
import { storedPackUrl } from '../worker/importClient';
import { resolveSampleUrls, type ObjectUrls, type StoredFileReader } from './samples';

/** Counts live object URLs the way the browser keeps them. */
function fakeUrls() {
  const live = new Set<string>();
  let n = 0;
  const api: ObjectUrls = {
    createObjectURL: () => {
      const u = `blob:test/${++n}`;
      live.add(u);
      return u;
    },
    revokeObjectURL: (u) => void live.delete(u),
  };
  return { api, live };
}

/** A stored pack 'p' with two samples, read as the import worker would. */
function storage(): StoredFileReader {
  const files = new Map<string, Uint8Array>([
    ['p/manifest.json', new Uint8Array([123, 125])],
    ['p/samples/a.png', new Uint8Array([1, 2, 3])],
    ['p/samples/b c.jpg', new Uint8Array([4])],
  ]);
  return async (id, path) => {
    const f = files.get(`${id}/${path}`);
    if (!f) throw new Error(`no ${path}`);
    return f;
  };
}

describe('resolveSampleUrls', () => {
  it('makes one blob: URL per stored sample, keeps other URLs, skips missing files, and revokes exactly its own', async () => {
    const { api, live } = fakeUrls();
    const base = storedPackUrl('p');
    const r = await resolveSampleUrls([`${base}samples/a.png`, '/models/x/samples/s.png', `${base}samples/b%20c.jpg`, `${base}samples/gone.png`], storage(), api);
    expect(r.samples.map((x) => x.name)).toEqual(['a.png', 's.png', 'b c.jpg']);
    expect(r.samples[1].src).toBe('/models/x/samples/s.png');
    expect(r.samples[0].src).toMatch(/^blob:/);
    expect(live.size).toBe(2);
    const other = api.createObjectURL(new Blob([]));
    r.revoke();
    r.revoke();
    expect([...live]).toEqual([other]);
  });

  it('switching packs many times leaves no URL alive once each result is revoked', async () => {
    const { api, live } = fakeUrls();
    const read = storage();
    const samples = [`${storedPackUrl('p')}samples/a.png`, `${storedPackUrl('p')}samples/b%20c.jpg`];
    for (let i = 0; i < 5; i++) (await resolveSampleUrls(samples, read, api)).revoke();
    expect(live.size).toBe(0);
  });
});
