import { describe, expect, it } from 'vitest';
import {
  alignFace, alignmentForWholeImage, alignmentFromLandmarks, apply, compose, faceRegion, featheredMask, ffhqQuad, invert, pasteBack,
  type Point,
} from './align';
import type { RGBAImage } from './types';

/** 68 landmarks with both eyes at given centres and mouth corners at given points; the rest spread around. */
function landmarks(eyeL: Point, eyeR: Point, mouthL: Point, mouthR: Point, jawScale = 1): Point[] {
  const lm: Point[] = new Array(68);
  const c: Point = [(eyeL[0] + eyeR[0] + mouthL[0] + mouthR[0]) / 4, (eyeL[1] + eyeR[1] + mouthL[1] + mouthR[1]) / 4];
  const ex: Point = [(eyeR[0] - eyeL[0]) / 2, (eyeR[1] - eyeL[1]) / 2]; // half eye distance, "right" axis
  const ey: Point = [-ex[1], ex[0]]; // "down" axis
  const at = (u: number, v: number): Point => [c[0] + u * ex[0] + v * ey[0], c[1] + u * ex[1] + v * ey[1]];
  for (let i = 0; i < 17; i++) lm[i] = at(-1.8 * jawScale * Math.cos((Math.PI * i) / 16), 1.7 * jawScale * Math.sin((Math.PI * i) / 16) - 0.3); // jaw
  for (let i = 17; i < 27; i++) lm[i] = at(-1.6 + (3.2 * (i - 17)) / 9, -1.1); // eyebrows
  for (let i = 27; i < 36; i++) lm[i] = at(-0.2 + (0.4 * (i - 27)) / 8, 0.1); // nose
  const ring = (ctr: Point, r: number, k: number): Point => [ctr[0] + r * Math.cos((2 * Math.PI * k) / 6), ctr[1] + r * Math.sin((2 * Math.PI * k) / 6)];
  for (let k = 0; k < 6; k++) {
    lm[36 + k] = ring(eyeL, 3, k);
    lm[42 + k] = ring(eyeR, 3, k);
  }
  for (let i = 48; i < 68; i++) {
    const t = (i - 48) / 20;
    lm[i] = [mouthL[0] + (mouthR[0] - mouthL[0]) * t, mouthL[1] + (mouthR[1] - mouthL[1]) * t];
  }
  lm[48] = mouthL;
  lm[54] = mouthR;
  return lm;
}

function rotatePts(pts: Point[], ctr: Point, deg: number): Point[] {
  const r = (deg * Math.PI) / 180, cs = Math.cos(r), sn = Math.sin(r);
  return pts.map(([x, y]) => [ctr[0] + cs * (x - ctr[0]) - sn * (y - ctr[1]), ctr[1] + sn * (x - ctr[0]) + cs * (y - ctr[1])]);
}

function image(w: number, h: number, f: (x: number, y: number) => [number, number, number]): RGBAImage {
  const data = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([...f(x, y), 255], (y * w + x) * 4);
  return { width: w, height: h, data };
}

describe('FFHQ quad from landmarks', () => {
  it('known landmarks give the known quad and transform', () => {
    // eye_avg (50,50), eye_to_eye (20,0), mouth_avg (50,80), eye_to_mouth (0,30)
    // x = (20,0) - (-30,0) = (50,0) -> unit * max(40, 54) = (54,0); y = (0,54); c = (50,53)
    const lm = landmarks([40, 50], [60, 50], [42, 80], [58, 80]);
    const q = ffhqQuad(lm);
    expect(q.c[0]).toBeCloseTo(50, 9);
    expect(q.c[1]).toBeCloseTo(53, 9);
    expect(q.x[0]).toBeCloseTo(54, 9);
    expect(q.x[1]).toBeCloseTo(0, 9);
    expect(q.qsize).toBeCloseTo(108, 9);
    const expected = [[-4, -1], [-4, 107], [104, 107], [104, -1]];
    q.quad.forEach((p, i) => {
      expect(p[0]).toBeCloseTo(expected[i][0], 9);
      expect(p[1]).toBeCloseTo(expected[i][1], 9);
    });
    const al = alignmentFromLandmarks(lm, 64);
    // Crop (u, v) -> photo (-4 + u*108/64, -1 + v*108/64)
    expect(al.toPhoto.a).toBeCloseTo(108 / 64, 12);
    expect(al.toPhoto.b).toBeCloseTo(0, 12);
    expect(apply(al.toPhoto, [32, 32])).toEqual([50, 53]);
    expect(al.angleDeg).toBeCloseTo(0, 9);
  });

  it('rotating and scaling the face rotates and scales the transform the same way', () => {
    const lm = landmarks([40, 50], [60, 50], [42, 80], [58, 80]);
    const base = alignmentFromLandmarks(lm, 256);
    for (const deg of [-35, 12, 90]) {
      const rot = alignmentFromLandmarks(rotatePts(lm, [300, 200], deg), 256);
      expect(rot.angleDeg).toBeCloseTo(deg, 6);
      expect(rot.qsize).toBeCloseTo(base.qsize, 6);
      // The same crop point lands on the rotated photo point.
      const p = apply(base.toPhoto, [100, 180]);
      const [rp] = rotatePts([p], [300, 200], deg);
      const q = apply(rot.toPhoto, [100, 180]);
      expect(q[0]).toBeCloseTo(rp[0], 6);
      expect(q[1]).toBeCloseTo(rp[1], 6);
    }
    const big = alignmentFromLandmarks(lm.map(([x, y]) => [3 * x, 3 * y] as Point), 256);
    expect(big.qsize).toBeCloseTo(3 * base.qsize, 6);
  });

  it('forward and inverse transforms round-trip within 0.5 px (in fact ~1e-9)', () => {
    const lm = rotatePts(landmarks([1040, 850], [1260, 830], [1070, 1140], [1230, 1130]), [1100, 1000], 23);
    const al = alignmentFromLandmarks(lm, 1024);
    for (const p of lm) {
      const back = apply(al.toPhoto, apply(al.toCrop, p));
      expect(Math.hypot(back[0] - p[0], back[1] - p[1])).toBeLessThan(1e-6);
    }
    const id = compose(al.toPhoto, al.toCrop);
    expect(id.a).toBeCloseTo(1, 12);
    expect(id.b).toBeCloseTo(0, 12);
    expect(Math.abs(id.tx) + Math.abs(id.ty)).toBeLessThan(1e-9);
    const inv2 = invert(invert(al.toPhoto));
    expect(inv2.tx).toBeCloseTo(al.toPhoto.tx, 9);
  });
});

describe('alignFace pixels', () => {
  it('a dot in the photo lands where toCrop says, within 0.5 crop px (rotated, downscaled face)', () => {
    const W = 640, H = 480;
    const lm = rotatePts(landmarks([280, 200], [360, 190], [290, 310], [350, 305]), [320, 250], -17);
    const al = alignmentFromLandmarks(lm, 64);
    const dots: Point[] = [[300.5, 240.5], [340.5, 280.5], [270.5, 220.5]];
    for (const dot of dots) {
      const photo = image(W, H, (x, y) => (Math.hypot(x + 0.5 - dot[0], y + 0.5 - dot[1]) < 6 ? [255, 255, 255] : [0, 0, 0]));
      const crop = alignFace(photo, al);
      let sx = 0, sy = 0, sw = 0;
      for (let v = 0; v < 64; v++)
        for (let u = 0; u < 64; u++) {
          const w = crop.data[(v * 64 + u) * 4];
          sx += w * (u + 0.5);
          sy += w * (v + 0.5);
          sw += w;
        }
      const expected = apply(al.toCrop, dot);
      expect(Math.hypot(sx / sw - expected[0], sy / sw - expected[1])).toBeLessThan(0.5);
    }
  });

  it('a face at the photo edge is padded by reflection + blur (no black), inner pixels exact', () => {
    const W = 200, H = 160;
    const photo = image(W, H, (x, y) => [100 + (x % 50), 80 + (y % 40), 150]);
    const lm = landmarks([20, 40], [60, 40], [25, 80], [55, 80]); // crop extends past the left and top
    const al = alignmentFromLandmarks(lm, 32);
    expect(al.quad[0][0]).toBeLessThan(0);
    const crop = alignFace(photo, al);
    for (let i = 0; i < crop.data.length; i += 4) {
      expect(crop.data[i]).toBeGreaterThanOrEqual(90);
      expect(crop.data[i + 2]).toBeGreaterThanOrEqual(140);
    }
  });

  it('whole-image alignment of a square image is the identity resize', () => {
    const photo = image(64, 64, (x, y) => [x * 4, y * 4, 7]);
    const al = alignmentForWholeImage(64, 64, 64);
    const crop = alignFace(photo, al);
    expect(Array.from(crop.data)).toEqual(Array.from(photo.data));
  });
});

describe('paste-back', () => {
  const W = 300, H = 220;
  const photo = image(W, H, (x, y) => [(x * 7) % 256, (y * 5) % 256, ((x + y) * 3) % 256]);
  const lm = rotatePts(landmarks([120, 90], [170, 85], [125, 150], [165, 148]), [150, 120], 10);
  const al = alignmentFromLandmarks(lm, 64);

  it('leaves every pixel outside the feathered face mask bit-identical', () => {
    const gen = image(64, 64, () => [255, 0, 255]);
    const out = pasteBack(photo, gen, al, { landmarks: lm });
    const region = faceRegion(lm, al);
    const mask = featheredMask(region, 64, 5);
    expect(mask.some((m) => m === 1)).toBe(true);
    let changed = 0, outsideChanged = 0;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const o = (y * W + x) * 4;
        const diff = [0, 1, 2, 3].some((c) => out.data[o + c] !== photo.data[o + c]);
        if (!diff) continue;
        changed++;
        // Changed pixels must be inside the face region (crop coords).
        const [u, v] = apply(al.toCrop, [x + 0.5, y + 0.5]);
        const inside = region.length > 2 && pointInConvex(region, u, v, 1e-9);
        if (!inside) outsideChanged++;
      }
    expect(changed).toBeGreaterThan(500);
    expect(outsideChanged).toBe(0);
  });

  it('pasting back the aligned crop itself reproduces the photo inside the face', () => {
    const smooth = image(W, H, (x, y) => [128 + 60 * Math.sin(x / 15), 128 + 60 * Math.cos(y / 12), 100]);
    const al256 = alignmentFromLandmarks(lm, 128);
    const crop = alignFace(smooth, al256);
    const out = pasteBack(smooth, crop, al256, { landmarks: lm });
    let maxErr = 0;
    for (let i = 0; i < out.data.length; i++) maxErr = Math.max(maxErr, Math.abs(out.data[i] - smooth.data[i]));
    expect(maxErr).toBeLessThanOrEqual(6);
  });
});

/** Point inside a convex polygon, with a tolerance band of `tol` px outside the edges. */
function pointInConvex(poly: Point[], x: number, y: number, tol: number): boolean {
  let area = 0;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) area += poly[j][0] * poly[i][1] - poly[i][0] * poly[j][1];
  const sign = Math.sign(area);
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [ax, ay] = poly[j], [bx, by] = poly[i];
    const len = Math.hypot(bx - ax, by - ay);
    const cr = ((bx - ax) * (y - ay) - (by - ay) * (x - ax)) / len;
    if (cr * sign < -tol) return false;
  }
  return true;
}
