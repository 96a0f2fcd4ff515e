import { describe, expect, it, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
// @ts-expect-error plain JS module without types
import { makeCorpus, CORPUS } from '../../e2e/fixtures/make-corpus.mjs';
// @ts-expect-error plain JS module without types
import { encodePng, encodeJpeg } from '../../e2e/fixtures/encoders.mjs';
import { inspectImageBytes, sniff, parseJpeg, parsePng, workingSize, orientedSize, LIMITS } from './inspect';
import { readOrientation, compositeOnBackground, orientationTransform } from './decode';

const dir = join(tmpdir(), 'fzplus-corpus-unit');
type Entry = { file: string; expect: { ok: boolean; code?: string; note?: RegExp } };
const load = (f: string) => new Uint8Array(readFileSync(join(dir, f)));

beforeAll(() => {
  makeCorpus(dir);
});

describe('bad-input corpus through the byte-level validation', () => {
  for (const c of CORPUS as Entry[]) {
    it(`${c.file}: ${c.expect.ok ? 'accepted' : `refused (${c.expect.code})`}`, async () => {
      const bytes = load(c.file);
      const r = inspectImageBytes(bytes, c.file, '');
      if (!c.expect.ok) {
        expect(r.ok).toBe(false);
        if (r.ok) return;
        expect(r.code).toBe(c.expect.code);
        expect(r.message.length).toBeGreaterThan(30);
        expect(r.message).toContain(c.file);
        return;
      }
      expect(r.ok, JSON.stringify(r)).toBe(true);
      if (!r.ok) return;
      // Notes decided after decoding (alpha found, downscale, EXIF): check the facts they rest on instead.
      if (c.file === 'alpha.png') expect(r.info.mayHaveAlpha).toBe(true);
      else if (c.file === 'sixty-megapixel.png') {
        expect(r.info.width * r.info.height).toBeGreaterThan(59e6);
        const ws = workingSize(r.info.width, r.info.height);
        expect(ws.width * ws.height).toBeLessThanOrEqual(LIMITS.maxWorkingPixels);
      } else if (c.file === 'exif-rotated.jpg') {
        expect(await readOrientation(bytes, 'jpeg')).toBe(6);
        expect(orientedSize(r.info.width, r.info.height, 6)).toEqual([160, 224]);
      } else expect(r.notes.join(' ')).toMatch(c.expect.note!);
    });
  }
});

describe('sniffing ignores names and MIME types', () => {
  it('recognises formats by magic bytes', () => {
    expect(sniff(load('png-named-as.jpg'))).toBe('png');
    expect(sniff(load('text-named-as.jpg'))).toBe('text');
    expect(sniff(load('vector.svg'))).toBe('svg');
    expect(sniff(new TextEncoder().encode('  <svg xmlns="http://www.w3.org/2000/svg"></svg>'))).toBe('svg');
    expect(sniff(new TextEncoder().encode('<!DOCTYPE html><html><body><svg></svg></body></html>'))).toBe('text');
    expect(sniff(new Uint8Array([0x25, 0x50, 0x44, 0x46, 0x2d]))).toBe('pdf');
    expect(sniff(new Uint8Array([0x50, 0x4b, 3, 4, 0, 0]))).toBe('zip');
    expect(sniff(new Uint8Array([0, 1, 2, 3, 0, 0, 0, 0]))).toBe('unknown');
  });
  it('a JPEG MIME type on a PNG gives a note, not a refusal', () => {
    const r = inspectImageBytes(load('png-named-as.jpg'), 'photo', 'image/jpeg');
    expect(r.ok && r.notes.join()).toMatch(/claims to be image\/jpeg/);
  });
});

describe('MIME types and names of real ICO files', () => {
  // an ICO header with one 32 x 32 entry (the image data itself is never looked at before decoding)
  const ico = new Uint8Array([0, 0, 1, 0, 1, 0, 32, 32, 0, 0, 1, 0, 32, 0, 0x28, 0, 0, 0, 22, 0, 0, 0, ...new Array(64).fill(0)]);
  it('a real .ico under any of its MIME types gets no "claims to be" note', () => {
    for (const mime of ['image/x-icon', 'image/vnd.microsoft.icon', '']) {
      const r = inspectImageBytes(ico, 'favicon.ico', mime);
      expect(r.ok && r.notes, mime).toEqual([]);
    }
  });
  it('a mislabelled one does, with the right article', () => {
    const r = inspectImageBytes(ico, 'icon', 'image/png');
    expect(r.ok && r.notes.join()).toMatch(/claims to be image\/png but is really an ICO\./);
    const named = inspectImageBytes(ico, 'icon.jpg', 'image/jpeg');
    expect(named.ok && named.notes.join()).toMatch(/named “icon\.jpg” but is really an ICO/);
  });
});

describe('header parsing', () => {
  it('reads JPEG size, colour model and completeness', () => {
    const px = new Uint8Array(40 * 24 * 3).fill(128);
    const j = new Uint8Array(encodeJpeg({ width: 40, height: 24, pixels: px }));
    expect(parseJpeg(j)).toMatchObject({ width: 40, height: 24, colorModel: 'rgb', truncated: false });
    expect(parseJpeg(j.subarray(0, j.length - 2)).truncated).toBe(true);
    expect(parseJpeg(load('cmyk.jpg')).colorModel).toBe('cmyk');
    expect(parseJpeg(load('grayscale.jpg')).colorModel).toBe('gray');
    // Trailing bytes after EOI (some cameras append data) are fine.
    const trailing = new Uint8Array(j.length + 10);
    trailing.set(j);
    expect(parseJpeg(trailing).truncated).toBe(false);
  });
  it('reads PNG size and spots a missing IEND', () => {
    const p = new Uint8Array(encodePng({ width: 33, height: 35, pixels: new Array(33 * 35 * 3).fill(7) }));
    expect(parsePng(p)).toMatchObject({ width: 33, height: 35, bitDepth: 8, colorModel: 'rgb', truncated: false });
    expect(parsePng(p.subarray(0, p.length - 12)).truncated).toBe(true);
    expect(inspectImageBytes(p.subarray(0, 40), 'cut.png').ok).toBe(false);
  });
  it('refuses a decompression bomb from its header alone', () => {
    const r = inspectImageBytes(load('dimension-bomb.png'), 'bomb.png');
    expect(r).toMatchObject({ ok: false, code: 'too-large' });
    expect(!r.ok && r.message).toMatch(/20000 × 20000/);
  });
});

describe('orientation and compositing helpers', () => {
  it('orientationTransform maps the stored corners onto the oriented canvas', () => {
    const w = 4, h = 3;
    for (let o = 1; o <= 8; o++) {
      const [a, b, c, d, e, f] = orientationTransform(o, w, h);
      const [ow, oh] = orientedSize(w, h, o);
      for (const [x, y] of [[0, 0], [w, 0], [0, h], [w, h]]) {
        const X = a * x + c * y + e, Y = b * x + d * y + f;
        expect(X).toBeGreaterThanOrEqual(0);
        expect(Y).toBeGreaterThanOrEqual(0);
        expect(X).toBeLessThanOrEqual(ow);
        expect(Y).toBeLessThanOrEqual(oh);
      }
    }
    // Orientation 6 (rotate 90° CW): the stored top-left pixel ends top-right.
    const [a, b, c, d, e, f] = orientationTransform(6, w, h);
    expect([a * 0.5 + c * 0.5 + e, b * 0.5 + d * 0.5 + f]).toEqual([2.5, 0.5]);
  });
  it('composites straight alpha over neutral grey', () => {
    const px = new Uint8ClampedArray([255, 0, 0, 255, 255, 0, 0, 0, 0, 0, 255, 128]);
    expect(compositeOnBackground(px)).toBe(true);
    expect(Array.from(px)).toEqual([255, 0, 0, 255, 128, 128, 128, 255, 64, 64, 192, 255]);
    expect(compositeOnBackground(new Uint8ClampedArray([1, 2, 3, 255]))).toBe(false);
  });
  it('workingSize never upscales and respects the pixel budget', () => {
    expect(workingSize(100, 50)).toEqual({ width: 100, height: 50, scale: 1 });
    const w = workingSize(7746, 7746, 4096 * 4096);
    expect(w.width).toBe(4096);
    expect(w.height).toBe(4096);
  });
});
