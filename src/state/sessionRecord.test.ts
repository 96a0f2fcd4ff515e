import { describe, expect, it } from 'vitest';
import { parseSession, serializeSession, SESSION_VERSION, type SessionData } from './sessionRecord';
import type { Point } from '../image/align';

function sample(): SessionData {
  const lm: Point[] = Array.from({ length: 68 }, (_, i) => [100 + i, 200 + 0.5 * i]);
  const adam = (n: number) => ({ m: Float32Array.from({ length: n }, (_, i) => i / 7), v: new Float32Array(n).fill(0.25), t: 12 });
  return {
    savedAt: 1_764_000_000_000,
    pack: 'reference-64',
    packTitle: 'Reference 64',
    photo: { name: 'me.jpg', type: 'image/jpeg', bytes: new Uint8Array([0xff, 0xd8, 1, 2, 3, 0xff, 0xd9]).buffer },
    crop: { faceIndex: 0, landmarks: lm },
    faces: [{ box: { x: 90, y: 180, width: 80, height: 90 }, score: 0.9, landmarks: lm }],
    settings: { space: 'F/Z+', steps: 100, weights: [1, 1, 0.1], lr: 0.01, previewEvery: 10 },
    sliders: { age: 1.5, smile: -0.5 },
    codes: {
      space: 'F/Z+',
      step: 12,
      f: Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)),
      fInit: new Float32Array(32).fill(0.5),
      code: Float32Array.from({ length: 40 }, (_, i) => Math.cos(i)),
      adamF: adam(32),
      adamCode: adam(40),
    },
  };
}

describe('session (de)serialisation', () => {
  it('round-trips through structured cloning (what IndexedDB does) bit-exactly', () => {
    const d = sample();
    const rec = serializeSession(d);
    expect(rec.version).toBe(SESSION_VERSION);
    const back = parseSession(structuredClone(rec));
    expect(back).toEqual(d);
    expect(back.codes!.code).toBeInstanceOf(Float32Array);
    expect(Array.from(back.codes!.f!)).toEqual(Array.from(d.codes!.f!));
    expect(new Uint8Array(back.photo.bytes)).toEqual(new Uint8Array(d.photo.bytes));
  });
  it('copies: later changes to the live state do not leak into the saved record', () => {
    const d = sample();
    const rec = serializeSession(d);
    d.codes!.code[0] = 99;
    d.sliders.age = 0;
    new Uint8Array(d.photo.bytes)[0] = 0;
    expect(rec.codes!.code[0]).not.toBe(99);
    expect(rec.sliders.age).toBe(1.5);
    expect(new Uint8Array(rec.photo.bytes)[0]).toBe(0xff);
  });
  it("keeps an imported pack's opfs: URL, and reads older records without one", () => {
    const d = { ...sample(), packUrl: 'opfs:/packs/my-ffhq/' };
    expect(parseSession(structuredClone(serializeSession(d))).packUrl).toBe('opfs:/packs/my-ffhq/');
    const old: any = structuredClone(serializeSession(sample()));
    delete old.packUrl;
    expect(parseSession(old).packUrl).toBeUndefined();
  });
  it('keeps sessions without codes (saved before inverting) and centre-crop sessions', () => {
    const d = { ...sample(), codes: null, crop: null, faces: [] };
    expect(parseSession(structuredClone(serializeSession(d)))).toEqual(d);
  });
  it('refuses damaged or foreign records with a message naming the problem', () => {
    const good = serializeSession(sample());
    const bad = (patch: (r: any) => void) => {
      const r: any = structuredClone(good);
      patch(r);
      return () => parseSession(r);
    };
    expect(() => parseSession(null)).toThrow(/not an object/);
    expect(bad((r) => (r.version = 99))).toThrow(/version 99/);
    expect(bad((r) => (r.photo.bytes = new ArrayBuffer(0)))).toThrow(/photo/);
    expect(bad((r) => (r.codes.code = Array.from(r.codes.code)))).toThrow(/codes/);
    expect(bad((r) => (r.codes.f = null))).toThrow(/codes\.f/);
    expect(bad((r) => (r.crop.faceIndex = 3))).toThrow(/faceIndex/);
    expect(bad((r) => (r.crop.landmarks = [[1, 2]]))).toThrow(/landmarks/);
    expect(bad((r) => (r.settings.space = 'X+'))).toThrow(/settings/);
    expect(bad((r) => (r.sliders.age = 'big'))).toThrow(/sliders/);
  });
});
