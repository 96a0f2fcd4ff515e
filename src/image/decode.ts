/**
 * Turn a dropped / pasted / picked Blob into decoded RGBA pixels, safely. Works in the main thread and in a
 * (module) worker: only createImageBitmap + OffscreenCanvas, no DOM elements.
 *
 * Order of checks: size → magic bytes (never the name or MIME type) → header (dimensions, truncation) →
 * limits → EXIF orientation → decode (downscaled by the decoder when huge) → orientation applied exactly once →
 * alpha composited on neutral grey.
 */
import exifr from 'exifr';
import { inspectImageBytes, KIND_MIME, LIMITS, orientedSize, workingSize, kindName } from './inspect';
import type { DecodeFailure, DecodeResult, ImageKind, RGBAImage } from './types';

export type { DecodeResult, DecodeSuccess, DecodeFailure, RGBAImage } from './types';
export { LIMITS } from './inspect';

/** Neutral grey (0 in the model's [-1, 1] range) behind transparent pixels. */
export const NEUTRAL_BACKGROUND = 128;

export interface DecodeOptions {
  /** Original file name, used only in messages and notes. Taken from `File.name` when absent. */
  name?: string;
  /** Downscale while decoding so the result has at most this many pixels. */
  maxWorkingPixels?: number;
  limits?: typeof LIMITS;
  /** Background grey level behind transparent pixels (0..255). */
  background?: number;
}

const fail = (code: DecodeFailure['code'], message: string, kind?: ImageKind): DecodeFailure => ({ ok: false, code, message, kind });

/** EXIF orientation (1..8) or 1 when absent / unreadable. */
export async function readOrientation(bytes: Uint8Array, kind: ImageKind): Promise<number> {
  if (!(kind === 'jpeg' || kind === 'heic' || kind === 'avif' || kind === 'png' || kind === 'webp' || kind === 'tiff')) return 1;
  try {
    const o = await exifr.orientation(bytes);
    return typeof o === 'number' && o >= 1 && o <= 8 ? o : 1;
  } catch {
    return 1;
  }
}

// A 2 x 1 JPEG whose EXIF orientation is 6 (rotate 90° clockwise): decoded 1 x 2 when the browser applies EXIF.
const ORIENTATION_PROBE_B64 =
  '/9j/4AAQSkZJRgABAQAAAQABAAD/4QAiRXhpZgAATU0AKgAAAAgAAQESAAMAAAABAAYAAAAAAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/wAARCAABAAIDAREAAhEAAxEA/8QA0gAAAAAMAAAAAAAAAAAAAAAAAAECAwQFBgcICQoLEAAAAAAAAACiAAAAAAAAAAAA8AECAwQFBgcICQoREhMUFRYXGBkaISIjJCUmJygpKjEyMzQ1Njc4OTpBQkNERUZHSElKUVJTVFVWV1hZWmFiY2RlZmdoaWpxcnN0dXZ3eHl6gYKDhIWGh4iJipGSk5SVlpeYmZqhoqOkpaanqKmqsbKztLW2t7i5usHCw8TFxsfIycrR0tPU1dbX2Nna4eLj5OXm5+jp6vHy8/T19vf4+fr/2gAMAwEAAgADAAA/AGQBMRYD0mArhAG1BkkiQUkoAY4oEABA0ySYLaVgPcYCgH//2Q==';

let probe: Promise<boolean> | null = null;
/** Whether createImageBitmap(…, {imageOrientation: 'from-image'}) applies EXIF orientation here (feature test, cached). */
export function browserAppliesExifOrientation(): Promise<boolean> {
  probe ??= (async () => {
    try {
      const bin = atob(ORIENTATION_PROBE_B64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      const bmp = await createImageBitmap(new Blob([bytes], { type: 'image/jpeg' }), { imageOrientation: 'from-image' });
      const applied = bmp.width === 1 && bmp.height === 2;
      bmp.close();
      return applied;
    } catch {
      return false;
    }
  })();
  return probe;
}

type Canvas2D = OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D;
function makeContext(width: number, height: number): Canvas2D {
  if (typeof OffscreenCanvas !== 'undefined') {
    const ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
    if (ctx) return ctx;
  }
  if (typeof document !== 'undefined') {
    const c = document.createElement('canvas');
    c.width = width;
    c.height = height;
    const ctx = c.getContext('2d', { willReadFrequently: true });
    if (ctx) return ctx;
  }
  throw new Error('No 2D canvas available to read pixels');
}

/**
 * Canvas transform that draws a stored (un-oriented) image of size w x h so that it appears with EXIF
 * orientation `o` applied, in a canvas of the oriented size.
 */
export function orientationTransform(o: number, w: number, h: number): [number, number, number, number, number, number] {
  switch (o) {
    case 2: return [-1, 0, 0, 1, w, 0];
    case 3: return [-1, 0, 0, -1, w, h];
    case 4: return [1, 0, 0, -1, 0, h];
    case 5: return [0, 1, 1, 0, 0, 0];
    case 6: return [0, 1, -1, 0, h, 0];
    case 7: return [0, -1, -1, 0, h, w];
    case 8: return [0, -1, 1, 0, 0, w];
    default: return [1, 0, 0, 1, 0, 0];
  }
}

/**
 * Composite straight-alpha RGBA over a grey background in place; returns whether any pixel was not opaque.
 */
export function compositeOnBackground(data: Uint8ClampedArray, grey = NEUTRAL_BACKGROUND): boolean {
  let transparent = false;
  for (let i = 3; i < data.length; i += 4) {
    const a = data[i];
    if (a === 255) continue;
    transparent = true;
    const t = a / 255;
    const bg = grey * (1 - t);
    data[i - 3] = data[i - 3] * t + bg;
    data[i - 2] = data[i - 2] * t + bg;
    data[i - 1] = data[i - 1] * t + bg;
    data[i] = 255;
  }
  return transparent;
}

function decodeFailureMessage(kind: ImageKind, colorModel: string, name: string, err: unknown): DecodeFailure {
  const label = name ? `“${name}”` : 'This file';
  const detail = err instanceof Error && err.message ? ` (${err.message})` : '';
  if (colorModel === 'cmyk' || colorModel === 'ycck')
    return fail('cmyk-unsupported', `${label} is a CMYK JPEG (print colours) and this browser cannot decode it. Convert it to RGB (e.g. "Save for web") and try again.`, kind);
  if (kind === 'heic' || kind === 'tiff')
    return fail('unsupported-format', `${label} is a ${kindName(kind)} image, which this browser cannot decode. Convert it to JPEG or PNG first.`, kind);
  return fail('decode-failed', `${label} looks like a ${kindName(kind)} but the browser could not decode it; the file is probably damaged${detail}.`, kind);
}

/** Decode a Blob/File into an oriented RGBA image, or a specific refusal. Never throws. */
export async function decodeImage(blob: Blob, opts: DecodeOptions = {}): Promise<DecodeResult> {
  const limits = opts.limits ?? LIMITS;
  const name = opts.name ?? (typeof File !== 'undefined' && blob instanceof File ? blob.name : '');
  const label = name ? `“${name}”` : 'This file';
  if (blob.size === 0) return fail('empty', `${label} is empty (0 bytes): nothing to open. Pick the photo again.`, 'empty');
  if (blob.size > limits.maxFileBytes)
    return fail('too-large', `${label} is ${Math.round(blob.size / 2 ** 20)} MB; the limit is ${Math.round(limits.maxFileBytes / 2 ** 20)} MB.`);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await blob.arrayBuffer());
  } catch (e) {
    return fail('read-failed', `${label} could not be read${e instanceof Error ? ` (${e.message})` : ''}. If it is on a network drive or in the cloud, save it locally first.`);
  }
  return decodeImageBytes(bytes, { ...opts, name }, blob.type);
}

/** Same as decodeImage, from bytes already in memory. */
export async function decodeImageBytes(bytes: Uint8Array, opts: DecodeOptions = {}, mimeType = ''): Promise<DecodeResult> {
  const limits = opts.limits ?? LIMITS;
  const name = opts.name ?? '';
  const label = name ? `“${name}”` : 'This file';
  const inspected = inspectImageBytes(bytes, name, mimeType, limits);
  if (!inspected.ok) return inspected;
  const { info } = inspected;
  const notes = [...inspected.notes];
  const kind = info.kind;

  const orientation = await readOrientation(bytes, kind);
  const browserOrients = orientation !== 1 ? await browserAppliesExifOrientation() : true;

  // Target size, computed from the header before decoding (oriented, never upscaled).
  let target: { width: number; height: number; scale: number } | null = null;
  if (info.width > 0 && info.height > 0) {
    const [ow, oh] = orientedSize(info.width, info.height, orientation);
    target = workingSize(ow, oh, opts.maxWorkingPixels ?? limits.maxWorkingPixels);
  }

  const typed = new Blob([bytes as BlobPart], { type: KIND_MIME[kind] ?? 'application/octet-stream' });
  let bmp: ImageBitmap;
  try {
    const o: ImageBitmapOptions = { imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'default' };
    if (target && target.scale < 1) {
      // The decoder's resize is in the oriented frame when it applies orientation, else in the stored frame.
      const swap = !browserOrients && orientation >= 5;
      o.resizeWidth = swap ? target.height : target.width;
      o.resizeHeight = swap ? target.width : target.height;
      o.resizeQuality = 'high';
    }
    bmp = await createImageBitmap(typed, o);
  } catch (e) {
    return decodeFailureMessage(kind, info.colorModel, name, e);
  }

  try {
    const manual = orientation !== 1 && !browserOrients;
    const [w, h] = manual ? orientedSize(bmp.width, bmp.height, orientation) : [bmp.width, bmp.height];
    const srcW = target ? Math.round(target.width / target.scale) : w;
    const srcH = target ? Math.round(target.height / target.scale) : h;
    // Headers we cannot read (AVIF, HEIC, ICO): apply the limits after decoding.
    if (!target) {
      if (w * h > limits.maxSourcePixels || w > limits.maxSide || h > limits.maxSide)
        return fail('too-large', `${label} is ${w} × ${h} pixels, too large to open safely in a browser tab. Downscale it first.`, kind);
      if (Math.min(w, h) < limits.minSide)
        return fail('too-small', `${label} is only ${w} × ${h} pixels; a face photo needs at least ${limits.minSide} × ${limits.minSide}.`, kind);
    }
    let outW = w;
    let outH = h;
    const maxPx = opts.maxWorkingPixels ?? limits.maxWorkingPixels;
    if (!target && w * h > maxPx) {
      const ws = workingSize(w, h, maxPx);
      outW = ws.width;
      outH = ws.height;
    }
    const ctx = makeContext(outW, outH);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    if (manual) {
      const sx = outW / w;
      const sy = outH / h;
      ctx.scale(sx, sy);
      ctx.transform(...orientationTransform(orientation, bmp.width, bmp.height));
      ctx.drawImage(bmp, 0, 0);
    } else {
      ctx.drawImage(bmp, 0, 0, outW, outH);
    }
    const imageData = ctx.getImageData(0, 0, outW, outH);
    const transparent = compositeOnBackground(imageData.data, opts.background ?? NEUTRAL_BACKGROUND);
    if (transparent) notes.push('Transparent areas were filled with neutral grey.');
    if (orientation !== 1) notes.push(`Rotated/flipped upright from EXIF orientation ${orientation}.`);
    if (outW * outH < srcW * srcH)
      notes.push(`Large image (${srcW} × ${srcH}, ${((srcW * srcH) / 1e6).toFixed(srcW * srcH >= 1e7 ? 0 : 1)} MP) downscaled to ${outW} × ${outH} for editing.`);
    return {
      ok: true,
      image: imageData as RGBAImage,
      width: outW,
      height: outH,
      sourceWidth: srcW,
      sourceHeight: srcH,
      orientation,
      orientationAppliedBy: orientation === 1 ? 'none' : manual ? 'manual' : 'browser',
      kind,
      notes,
    };
  } catch (e) {
    return fail('decode-failed', `${label} was decoded but its pixels could not be read${e instanceof Error ? ` (${e.message})` : ''}.`, kind);
  } finally {
    bmp.close();
  }
}
