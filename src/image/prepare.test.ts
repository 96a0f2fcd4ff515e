import { describe, expect, it } from 'vitest';
import { prepareFace } from './prepare';
import type { DetectedFace } from './faces-core';
import type { Point } from './align';

const photo = { width: 200, height: 100, data: new Uint8ClampedArray(200 * 100 * 4).fill(200) };
function fakeFace(cx: number, cy: number, s: number): DetectedFace {
  const lm: Point[] = Array.from({ length: 68 }, (_, i) => [cx + ((i % 9) - 4) * s, cy + (Math.floor(i / 9) - 3) * s]);
  for (let k = 36; k < 42; k++) lm[k] = [cx - 2 * s, cy - s];
  for (let k = 42; k < 48; k++) lm[k] = [cx + 2 * s, cy - s];
  lm[48] = [cx - 1.5 * s, cy + 2 * s];
  lm[54] = [cx + 1.5 * s, cy + 2 * s];
  return { box: { x: cx - 5 * s, y: cy - 5 * s, width: 10 * s, height: 10 * s }, score: 0.9, landmarks: lm };
}

describe('prepareFace', () => {
  it("'none' uses the centre square", async () => {
    const p = await prepareFace(photo, 'none', 32);
    expect(p.kind).toBe('whole-image');
    if (p.kind !== 'whole-image') return;
    expect([p.crop.width, p.crop.height]).toEqual([32, 32]);
    expect(p.alignment.quad[0]).toEqual([50, 0]);
  });
  it('preselects the largest face and aligns on it; another face can be picked', async () => {
    const faces = [fakeFace(50, 50, 2), fakeFace(140, 50, 4)];
    const p = await prepareFace(photo, 'ffhq-landmarks', 32, { detect: async () => faces });
    expect(p.kind).toBe('aligned');
    if (p.kind !== 'aligned') return;
    expect(p.faceIndex).toBe(1);
    expect(p.crop.width).toBe(32);
    const q = await prepareFace(photo, 'ffhq-landmarks', 32, undefined, { faces, faceIndex: 0 });
    expect(q.kind === 'aligned' && q.faceIndex).toBe(0);
  });
  it('no face: a message offering the whole image', async () => {
    const p = await prepareFace(photo, 'ffhq-landmarks', 32, { detect: async () => [] }, { name: 'beach.jpg' });
    expect(p).toMatchObject({ kind: 'no-face' });
    expect(p.kind === 'no-face' && p.message).toMatch(/beach\.jpg.*whole image/);
  });
});
