import { describe, expect, it } from 'vitest';
import { decideDrop } from './drop';

const ORIGIN = 'http://127.0.0.1:4173';
const file = (name: string, type = '') => new File([new Uint8Array(4)], name, { type });

describe('decideDrop', () => {
  it('one file opens; of several, the first image opens and the others are named as ignored', () => {
    const a = file('a.png', 'image/png');
    expect(decideDrop({ files: [a] }, ORIGIN)).toEqual({ kind: 'open', file: a, ignored: [] });
    const notes = file('notes.txt', 'text/plain');
    const b = file('b.jpg', 'image/jpeg');
    const c = file('c.webp');
    const d = decideDrop({ files: [notes, b, c] }, ORIGIN);
    expect(d).toMatchObject({ kind: 'open', file: b });
    expect(d.kind === 'open' && d.ignored.map((f) => f.name)).toEqual(['notes.txt', 'c.webp']);
    // no image among them: the first file is tried (its refusal names it)
    expect(decideDrop({ files: [notes] }, ORIGIN)).toMatchObject({ kind: 'open', file: notes });
  });
  it('an image link from another site is never downloaded, and says why', () => {
    const d = decideDrop({ files: [], uri: 'https://example.com/faces/me.jpg' }, ORIGIN);
    expect(d).toMatchObject({ kind: 'refuse', title: 'Links are not downloaded' });
    expect(d.kind === 'refuse' && d.message).toMatch(/example\.com\/faces\/me\.jpg.*never downloads anything: nothing leaves this device/);
    // the same as plain text
    expect(decideDrop({ files: [], text: ' https://example.com/x.png ' }, ORIGIN)).toMatchObject({ kind: 'refuse', title: 'Links are not downloaded' });
    expect(decideDrop({ files: [], uri: 'data:image/png;base64,iVBORw0KGgo=' }, ORIGIN)).toMatchObject({ kind: 'refuse', title: 'Links are not downloaded' });
  });
  it('a page link or text gets "drop an image file"; a same-site image is opened', () => {
    const page = decideDrop({ files: [], uri: 'https://example.com/about' }, ORIGIN);
    expect(page.kind === 'refuse' && page.message).toMatch(/is a link, not an image file\. Drop an image file/);
    const text = decideDrop({ files: [], text: 'hello there' }, ORIGIN);
    expect(text.kind === 'refuse' && text.message).toMatch(/That was text, not a file\. Drop an image file/);
    expect(decideDrop({ files: [] }, ORIGIN).kind).toBe('refuse');
    expect(decideDrop({ files: [], uri: `${ORIGIN}/models/tiny-test/samples/sample0.png` }, ORIGIN)).toEqual({
      kind: 'open-url',
      url: `${ORIGIN}/models/tiny-test/samples/sample0.png`,
      name: 'sample0.png',
    });
  });
});
