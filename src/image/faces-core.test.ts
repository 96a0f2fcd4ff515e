import { describe, expect, it } from 'vitest';
import { landmarkCropBox, pickDefaultFace, noFaceMessage, type DetectedFace } from './faces-core';

const face = (x: number, y: number, w: number, h: number): DetectedFace => ({ box: { x, y, width: w, height: h }, score: 0.9, landmarks: [] });

describe('face choice helpers', () => {
  it('preselects the largest face', () => {
    expect(pickDefaultFace([])).toBe(-1);
    expect(pickDefaultFace([face(0, 0, 10, 10), face(5, 5, 40, 30), face(9, 9, 20, 20)])).toBe(1);
  });
  it('landmark crop is a square centred on the box', () => {
    expect(landmarkCropBox({ x: 100, y: 50, width: 80, height: 120 }, 1000, 1000)).toEqual({ x: 80, y: 50, side: 120 });
  });
  it('no-face message offers the whole image', () => {
    expect(noFaceMessage('beach.jpg')).toMatch(/No face was found in beach\.jpg.*whole image/);
  });
});
