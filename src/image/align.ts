/**
 * FFHQ-style face alignment and paste-back, pure TypeScript on typed arrays (no DOM): runs in the worker.
 *
 * Coordinates are continuous pixel coordinates: pixel (i, j) covers [i, i+1) x [j, j+1), its centre is
 * (i + 0.5, j + 0.5). Landmarks use the same convention (68-point iBUG/dlib order, as face-api returns).
 *
 * The recipe follows the FFHQ dataset script (NVlabs/ffhq-dataset, `recreate_aligned_images`):
 *   eye and mouth centres → oriented square (quad) with FFHQ's scale (max(2·|eye-eye|, 1.8·|eye-mouth|)) and
 *   shift (centre 0.1·eye-to-mouth below the eye midpoint) → integer pre-shrink for very large faces → crop
 *   with a border → reflective padding blurred towards the median colour where the quad leaves the photo →
 *   quad transform to the output resolution (supersampled, as FFHQ's 4096 px transform + antialiased resize).
 * The similarity transform crop ↔ photo is kept for paste-back.
 */
import type { RGBAImage } from './types';
import { resizePlanes } from './tensor';

export type Point = [number, number];

/** Similarity transform (x, y) -> (a·x − b·y + tx, b·x + a·y + ty): rotation + uniform scale + shift. */
export interface Similarity {
  a: number;
  b: number;
  tx: number;
  ty: number;
}

export interface Alignment {
  /** Output (crop) resolution in pixels. */
  size: number;
  /** Crop corners in photo coordinates, FFHQ order: top-left, bottom-left, bottom-right, top-right. */
  quad: [Point, Point, Point, Point];
  /** Crop coordinates (0..size) → photo coordinates. */
  toPhoto: Similarity;
  /** Photo coordinates → crop coordinates (inverse of toPhoto). */
  toCrop: Similarity;
  /** Side of the quad in photo pixels. */
  qsize: number;
  /** Degrees the face is rotated in the photo (positive: clockwise on screen). */
  angleDeg: number;
}

export const apply = (s: Similarity, p: Point): Point => [s.a * p[0] - s.b * p[1] + s.tx, s.b * p[0] + s.a * p[1] + s.ty];

export function invert(s: Similarity): Similarity {
  const d = s.a * s.a + s.b * s.b;
  const a = s.a / d, b = -s.b / d;
  return { a, b, tx: -(a * s.tx - b * s.ty), ty: -(b * s.tx + a * s.ty) };
}

/** Composition: (f ∘ g)(p) = f(g(p)). */
export function compose(f: Similarity, g: Similarity): Similarity {
  return { a: f.a * g.a - f.b * g.b, b: f.b * g.a + f.a * g.b, tx: f.a * g.tx - f.b * g.ty + f.tx, ty: f.b * g.tx + f.a * g.ty + f.ty };
}

const mean = (pts: Point[]): Point => [pts.reduce((s, p) => s + p[0], 0) / pts.length, pts.reduce((s, p) => s + p[1], 0) / pts.length];

/** FFHQ's oriented square from 68 landmarks. */
export function ffhqQuad(lm: Point[]): { quad: [Point, Point, Point, Point]; c: Point; x: Point; y: Point; qsize: number } {
  if (lm.length !== 68) throw new Error(`ffhqQuad: expected 68 landmarks, got ${lm.length}`);
  const eyeL = mean(lm.slice(36, 42));
  const eyeR = mean(lm.slice(42, 48));
  const eyeAvg: Point = [(eyeL[0] + eyeR[0]) / 2, (eyeL[1] + eyeR[1]) / 2];
  const e2e: Point = [eyeR[0] - eyeL[0], eyeR[1] - eyeL[1]];
  const mouthAvg: Point = [(lm[48][0] + lm[54][0]) / 2, (lm[48][1] + lm[54][1]) / 2];
  const e2m: Point = [mouthAvg[0] - eyeAvg[0], mouthAvg[1] - eyeAvg[1]];
  // x = eye_to_eye - flipud(eye_to_mouth) * [-1, 1]
  let x: Point = [e2e[0] + e2m[1], e2e[1] - e2m[0]];
  const hx = Math.hypot(x[0], x[1]);
  const s = Math.max(Math.hypot(e2e[0], e2e[1]) * 2.0, Math.hypot(e2m[0], e2m[1]) * 1.8);
  x = [(x[0] / hx) * s, (x[1] / hx) * s];
  const y: Point = [-x[1], x[0]];
  const c: Point = [eyeAvg[0] + e2m[0] * 0.1, eyeAvg[1] + e2m[1] * 0.1];
  const quad: [Point, Point, Point, Point] = [
    [c[0] - x[0] - y[0], c[1] - x[1] - y[1]],
    [c[0] - x[0] + y[0], c[1] - x[1] + y[1]],
    [c[0] + x[0] + y[0], c[1] + x[1] + y[1]],
    [c[0] + x[0] - y[0], c[1] + x[1] - y[1]],
  ];
  return { quad, c, x, y, qsize: Math.hypot(x[0], x[1]) * 2 };
}

/** Alignment whose crop is the square with corners `quad` (TL, BL, BR, TR) in the photo. */
export function alignmentFromQuad(quad: [Point, Point, Point, Point], size: number): Alignment {
  const [tl, , , tr] = quad;
  const a = (tr[0] - tl[0]) / size, b = (tr[1] - tl[1]) / size;
  const toPhoto: Similarity = { a, b, tx: tl[0], ty: tl[1] };
  return { size, quad, toPhoto, toCrop: invert(toPhoto), qsize: Math.hypot(a, b) * size, angleDeg: (Math.atan2(b, a) * 180) / Math.PI };
}

/** FFHQ alignment of a face given its 68 landmarks, at the pack's resolution. */
export function alignmentFromLandmarks(lm: Point[], size: number): Alignment {
  return alignmentFromQuad(ffhqQuad(lm).quad, size);
}

/** "Use the whole image as it is": the centred largest square (pack alignment 'none' or no face found). */
export function alignmentForWholeImage(width: number, height: number, size: number): Alignment {
  const s = Math.min(width, height);
  const x0 = (width - s) / 2, y0 = (height - s) / 2;
  return alignmentFromQuad([[x0, y0], [x0, y0 + s], [x0 + s, y0 + s], [x0 + s, y0]], size);
}

// ------------------------------------------------------------------------------------------ pixels
/** RGB float image, interleaved, values 0..255. */
interface FloatRGB {
  w: number;
  h: number;
  d: Float32Array;
}

function toFloatRGB(img: RGBAImage, x0 = 0, y0 = 0, w = img.width, h = img.height): FloatRGB {
  const d = new Float32Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const s = ((y0 + y) * img.width + x0 + x) * 4, o = (y * w + x) * 3;
      d[o] = img.data[s];
      d[o + 1] = img.data[s + 1];
      d[o + 2] = img.data[s + 2];
    }
  return { w, h, d };
}

/** numpy 'reflect' index (d c b | a b c d | c b a), any distance. */
function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const p = 2 * (n - 1);
  i = ((i % p) + p) % p;
  return i >= n ? p - i : i;
}

/** Box blur of radius r along one axis (running sum, reflected edges), in place on a copy. */
function boxBlurAxis(src: Float32Array, w: number, h: number, r: number, horizontal: boolean): Float32Array {
  const out = new Float32Array(src.length);
  const n = horizontal ? w : h, lines = horizontal ? h : w;
  const win = 2 * r + 1;
  const at = (line: number, i: number, c: number) => (horizontal ? (line * w + reflectIndex(i, n)) * 3 + c : (reflectIndex(i, n) * w + line) * 3 + c);
  for (let line = 0; line < lines; line++)
    for (let c = 0; c < 3; c++) {
      let acc = 0;
      for (let i = -r; i <= r; i++) acc += src[at(line, i, c)];
      for (let i = 0; i < n; i++) {
        out[at(line, i, c)] = acc / win;
        acc += src[at(line, i + r + 1, c)] - src[at(line, i - r, c)];
      }
    }
  return out;
}

/** Gaussian blur approximated by three box blurs (sigma in pixels). */
function gaussianBlur(img: FloatRGB, sigma: number): Float32Array {
  if (sigma < 0.5) return img.d.slice();
  // Box radius giving variance sigma² after 3 passes: 3·((2r+1)² − 1)/12 = sigma².
  const r = Math.max(1, Math.round((Math.sqrt(4 * sigma * sigma + 1) - 1) / 2));
  let d = img.d;
  for (let k = 0; k < 3; k++) d = boxBlurAxis(boxBlurAxis(d, img.w, img.h, r, true), img.w, img.h, r, false);
  return d;
}

function medianRGB(img: FloatRGB): [number, number, number] {
  const out: [number, number, number] = [0, 0, 0];
  const n = img.w * img.h;
  for (let c = 0; c < 3; c++) {
    const hist = new Uint32Array(256);
    for (let i = 0; i < n; i++) hist[Math.max(0, Math.min(255, Math.round(img.d[i * 3 + c])))]++;
    let acc = 0;
    for (let v = 0; v < 256; v++) {
      acc += hist[v];
      if (acc * 2 >= n) {
        out[c] = v;
        break;
      }
    }
  }
  return out;
}

/** Bilinear sample at continuous coordinates (x, y) (pixel centres at +0.5), edges clamped. */
function sampleBilinear(img: FloatRGB, x: number, y: number, out: Float32Array | number[], o: number) {
  const fx = Math.min(img.w - 1, Math.max(0, x - 0.5)), fy = Math.min(img.h - 1, Math.max(0, y - 0.5));
  const x0 = Math.floor(fx), y0 = Math.floor(fy);
  const x1 = Math.min(img.w - 1, x0 + 1), y1 = Math.min(img.h - 1, y0 + 1);
  const ax = fx - x0, ay = fy - y0;
  const d = img.d;
  const i00 = (y0 * img.w + x0) * 3, i01 = (y0 * img.w + x1) * 3, i10 = (y1 * img.w + x0) * 3, i11 = (y1 * img.w + x1) * 3;
  for (let c = 0; c < 3; c++) {
    const top = d[i00 + c] + (d[i01 + c] - d[i00 + c]) * ax;
    const bot = d[i10 + c] + (d[i11 + c] - d[i10 + c]) * ax;
    out[o + c] = top + (bot - top) * ay;
  }
}

export interface AlignOptions {
  /** FFHQ's reflective padding with blur where the crop leaves the photo (default true). */
  padding?: boolean;
}

/**
 * Cut the aligned face crop (size x size) out of the photo following the FFHQ recipe. The geometry is
 * exactly `alignment` (crop pixel centre (u+0.5, v+0.5) ↦ photo point toPhoto(u+0.5, v+0.5)).
 */
export function alignFace(photo: RGBAImage, al: Alignment, opts: AlignOptions = {}): RGBAImage {
  const R = al.size;
  let quad = al.quad.map((p) => [p[0], p[1]] as Point);
  let qsize = al.qsize;
  // Photo coordinates → working-image coordinates: p' = p·k + t (updated by each step below).
  let k = 1, tx = 0, ty = 0;
  let img: FloatRGB;
  let { width: W, height: H } = photo;
  let srcX0 = 0, srcY0 = 0;

  // 1. Shrink by an integer factor when the face is much larger than the output (as FFHQ does).
  const shrink = Math.floor((qsize / R) * 0.5);
  const border0 = Math.max(Math.round(qsize * 0.1), 3);
  // Crop first (cheaper), in photo coordinates, then shrink the crop.
  const minX = Math.min(...quad.map((p) => p[0])), maxX = Math.max(...quad.map((p) => p[0]));
  const minY = Math.min(...quad.map((p) => p[1])), maxY = Math.max(...quad.map((p) => p[1]));
  const cx0 = Math.max(Math.floor(minX) - border0, 0), cy0 = Math.max(Math.floor(minY) - border0, 0);
  const cx1 = Math.min(Math.ceil(maxX) + border0, W), cy1 = Math.min(Math.ceil(maxY) + border0, H);
  if (cx1 <= cx0 || cy1 <= cy0) {
    // The quad lies entirely outside the photo: use the nearest edge strip (padding fills the rest).
    srcX0 = Math.min(Math.max(0, cx0), W - 1);
    srcY0 = Math.min(Math.max(0, cy0), H - 1);
    img = toFloatRGB(photo, srcX0, srcY0, 1, 1);
  } else {
    srcX0 = cx0;
    srcY0 = cy0;
    img = toFloatRGB(photo, cx0, cy0, cx1 - cx0, cy1 - cy0);
  }
  tx = -srcX0;
  ty = -srcY0;
  if (shrink > 1) {
    const nw = Math.max(1, Math.round(img.w / shrink)), nh = Math.max(1, Math.round(img.h / shrink));
    const sx = nw / img.w, sy = nh / img.h;
    img = { w: nw, h: nh, d: resizePlanes(img.d, img.w, img.h, 3, nw, nh) };
    // Non-integer rounding of the new size: use the mean scale (error < 1/size px).
    const s = (sx + sy) / 2;
    k *= s;
    tx *= s;
    ty *= s;
    qsize *= s;
  }
  quad = al.quad.map((p) => [p[0] * k + tx, p[1] * k + ty] as Point);
  W = img.w;
  H = img.h;

  // 2. Reflective padding with blur where the quad leaves the image.
  const border = Math.max(Math.round(qsize * 0.1), 3);
  const qminX = Math.floor(Math.min(...quad.map((p) => p[0]))), qminY = Math.floor(Math.min(...quad.map((p) => p[1])));
  const qmaxX = Math.ceil(Math.max(...quad.map((p) => p[0]))), qmaxY = Math.ceil(Math.max(...quad.map((p) => p[1])));
  let pad = [Math.max(-qminX + border, 0), Math.max(-qminY + border, 0), Math.max(qmaxX - W + border, 0), Math.max(qmaxY - H + border, 0)];
  // FFHQ pads whenever the quad comes within `border` of the image edge; we pad only when it actually leaves
  // the image (sampling outside it), so a face well inside the photo is never blurred at the crop's edge.
  const leaves = qminX < 0 || qminY < 0 || qmaxX > W || qmaxY > H;
  if ((opts.padding ?? true) && leaves && Math.max(...pad) > border - 4) {
    const p3 = Math.round(qsize * 0.3);
    pad = pad.map((v) => Math.max(v, p3));
    const [pl, pt, pr, pb] = pad;
    const nw = W + pl + pr, nh = H + pt + pb;
    const d = new Float32Array(nw * nh * 3);
    for (let y = 0; y < nh; y++) {
      const sy = reflectIndex(y - pt, H);
      for (let x = 0; x < nw; x++) {
        const sx = reflectIndex(x - pl, W);
        const s = (sy * W + sx) * 3, o = (y * nw + x) * 3;
        d[o] = img.d[s];
        d[o + 1] = img.d[s + 1];
        d[o + 2] = img.d[s + 2];
      }
    }
    const padded: FloatRGB = { w: nw, h: nh, d };
    const blurred = gaussianBlur(padded, qsize * 0.02);
    for (let y = 0; y < nh; y++)
      for (let x = 0; x < nw; x++) {
        const m = Math.max(1 - Math.min(x / pl, (nw - 1 - x) / pr), 1 - Math.min(y / pt, (nh - 1 - y) / pb));
        const wb = Math.min(1, Math.max(0, m * 3 + 1));
        const o = (y * nw + x) * 3;
        for (let c = 0; c < 3; c++) d[o + c] += (blurred[o + c] - d[o + c]) * wb;
      }
    const med = medianRGB(padded);
    for (let y = 0; y < nh; y++)
      for (let x = 0; x < nw; x++) {
        const m = Math.min(1, Math.max(0, Math.max(1 - Math.min(x / pl, (nw - 1 - x) / pr), 1 - Math.min(y / pt, (nh - 1 - y) / pb))));
        if (m <= 0) continue;
        const o = (y * nw + x) * 3;
        for (let c = 0; c < 3; c++) d[o + c] += (med[c] - d[o + c]) * m;
      }
    img = padded;
    tx += pl;
    ty += pt;
  }

  // 3. Quad transform, supersampled by the remaining scale (FFHQ: 4096 px transform + antialiased resize).
  const toWork = (p: Point): Point => [p[0] * k + tx, p[1] * k + ty];
  const step = qsize / R;
  const ss = Math.max(1, Math.min(4, Math.ceil(step)));
  const out = new Uint8ClampedArray(R * R * 4);
  const acc = new Float32Array(3);
  const tmp = new Float32Array(3);
  for (let v = 0; v < R; v++)
    for (let u = 0; u < R; u++) {
      acc.fill(0);
      for (let j = 0; j < ss; j++)
        for (let i = 0; i < ss; i++) {
          const p = toWork(apply(al.toPhoto, [u + (i + 0.5) / ss, v + (j + 0.5) / ss]));
          sampleBilinear(img, p[0], p[1], tmp, 0);
          acc[0] += tmp[0];
          acc[1] += tmp[1];
          acc[2] += tmp[2];
        }
      const o = (v * R + u) * 4;
      const n = ss * ss;
      out[o] = Math.round(acc[0] / n);
      out[o + 1] = Math.round(acc[1] / n);
      out[o + 2] = Math.round(acc[2] / n);
      out[o + 3] = 255;
    }
  return { width: R, height: R, data: out };
}

// ------------------------------------------------------------------------------------ face mask
/** Point-in-polygon (even-odd) for a closed polygon. */
function insidePolygon(poly: Point[], x: number, y: number): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Convex hull (monotone chain), counter-clockwise. */
function convexHull(points: Point[]): Point[] {
  const p = points.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const cross = (o: Point, a: Point, b: Point) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: Point[] = [], upper: Point[] = [];
  for (const q of p) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], q) <= 0) lower.pop();
    lower.push(q);
  }
  for (const q of p.reverse()) {
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], q) <= 0) upper.pop();
    upper.push(q);
  }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}

/**
 * Face region in crop coordinates: convex hull of the 68 landmarks plus the eyebrows raised to cover the
 * forehead (by 0.6 × eye-to-mouth distance), mapped into the crop.
 */
export function faceRegion(lm: Point[], al: Alignment): Point[] {
  const c = lm.map((p) => apply(al.toCrop, p));
  const eyeAvg = mean(c.slice(36, 48));
  const mouthAvg: Point = [(c[48][0] + c[54][0]) / 2, (c[48][1] + c[54][1]) / 2];
  const up: Point = [eyeAvg[0] - mouthAvg[0], eyeAvg[1] - mouthAvg[1]];
  const forehead = c.slice(17, 27).map((p) => [p[0] + up[0] * 0.6, p[1] + up[1] * 0.6] as Point);
  return convexHull(c.concat(forehead));
}

/**
 * Feathered mask (size x size, values 0..1) of a polygon in crop coordinates. The feather lies inside the
 * polygon: the mask is exactly 0 on and outside the polygon's edge, and reaches 1 at `feather` pixels
 * inside it. Also 0 within 1 px of the crop border.
 */
export function featheredMask(poly: Point[], size: number, feather: number): Float32Array {
  const m = new Float32Array(size * size);
  for (let v = 0; v < size; v++) for (let u = 0; u < size; u++) m[v * size + u] = maskValue(poly, u + 0.5, v + 0.5, size, feather);
  return m;
}

/** The feathered mask at one point (x, y) in crop coordinates: 0 outside the polygon, smoothstep inside. */
export function maskValue(poly: Point[], x: number, y: number, size: number, feather: number): number {
  if (!insidePolygon(poly, x, y)) return 0;
  let d = Math.min(x - 1, y - 1, size - 1 - x, size - 1 - y);
  if (d <= 0) return 0;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [ax, ay] = poly[j], [bx, by] = poly[i];
    const ex = bx - ax, ey = by - ay;
    const t = Math.max(0, Math.min(1, ((x - ax) * ex + (y - ay) * ey) / (ex * ex + ey * ey || 1)));
    d = Math.min(d, Math.hypot(x - ax - t * ex, y - ay - t * ey));
  }
  if (d <= 0) return 0;
  const t = Math.min(1, d / Math.max(feather, 1e-6));
  return t * t * (3 - 2 * t);
}

export interface PasteBackOptions {
  /** 68 landmarks (photo coordinates) for the face region; without them the whole crop square is used. */
  landmarks?: Point[];
  /** Feather width in crop pixels (default 8% of the crop). */
  feather?: number;
  /** Precomputed mask (crop size², 0..1); overrides landmarks. */
  mask?: Float32Array;
}

/**
 * Warp the generated face (any square size; normally al.size) back into a copy of the full-resolution
 * photo with the inverse transform, blended by a feathered face mask. Pixels where the mask is 0 are copied
 * unchanged (bit-exact).
 */
export function pasteBack(photo: RGBAImage, generated: RGBAImage, al: Alignment, opts: PasteBackOptions = {}): RGBAImage {
  const R = al.size;
  const feather = opts.feather ?? Math.max(1, R * 0.08);
  // Mask evaluated exactly at each photo pixel (not interpolated from the crop grid), so that a pixel whose
  // centre is outside the face polygon is never touched.
  const poly: Point[] = opts.landmarks ? faceRegion(opts.landmarks, al) : [[0, 0], [0, R], [R, R], [R, 0]];
  const grid = opts.mask;
  const gen: FloatRGB = toFloatRGB(generated);
  const gscale = generated.width / R;
  const out = new Uint8ClampedArray(photo.data);
  const W = photo.width, H = photo.height;
  // Bounding box of the crop square in the photo.
  const xs = al.quad.map((p) => p[0]), ys = al.quad.map((p) => p[1]);
  const x0 = Math.max(0, Math.floor(Math.min(...xs))), x1 = Math.min(W, Math.ceil(Math.max(...xs)));
  const y0 = Math.max(0, Math.floor(Math.min(...ys))), y1 = Math.min(H, Math.ceil(Math.max(...ys)));
  const col = new Float32Array(3);
  const maskAt = (u: number, v: number) => {
    if (!grid) return maskValue(poly, u, v, R, feather);
    // Bilinear on the given mask grid (centres at +0.5), 0 outside.
    const fx = u - 0.5, fy = v - 0.5;
    const i0 = Math.floor(fx), j0 = Math.floor(fy);
    const ax = fx - i0, ay = fy - j0;
    const g = (i: number, j: number) => (i < 0 || j < 0 || i >= R || j >= R ? 0 : grid[j * R + i]);
    return (g(i0, j0) * (1 - ax) + g(i0 + 1, j0) * ax) * (1 - ay) + (g(i0, j0 + 1) * (1 - ax) + g(i0 + 1, j0 + 1) * ax) * ay;
  };
  for (let y = y0; y < y1; y++)
    for (let x = x0; x < x1; x++) {
      const [u, v] = apply(al.toCrop, [x + 0.5, y + 0.5]);
      if (u < 0 || v < 0 || u > R || v > R) continue;
      const m = maskAt(u, v);
      if (m <= 0) continue;
      sampleBilinear(gen, u * gscale, v * gscale, col, 0);
      const o = (y * W + x) * 4;
      out[o] = Math.round(out[o] * (1 - m) + col[0] * m);
      out[o + 1] = Math.round(out[o + 1] * (1 - m) + col[1] * m);
      out[o + 2] = Math.round(out[o + 2] * (1 - m) + col[2] * m);
    }
  return { width: W, height: H, data: out };
}
