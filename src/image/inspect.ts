/**
 * Byte-level inspection of an input file, before any decoder sees it: real type by magic bytes,
 * dimensions from the header, truncation, animation, bit depth and colour model. Pure TypeScript (no DOM),
 * so it runs in the worker, the main thread and Node (vitest).
 */
import type { DecodeFailure, ImageKind } from './types';

export const LIMITS = {
  /** Smaller sides than this cannot hold a usable face. */
  minSide: 32,
  /** Refuse above this many source pixels (a decompression bomb or a panorama). 60 MP cameras are accepted. */
  maxSourcePixels: 150_000_000,
  /** Refuse a side longer than this (browsers cap canvases at 32767 px per side). */
  maxSide: 32_000,
  /** Refuse files larger than this many bytes. */
  maxFileBytes: 200 * 1024 * 1024,
  /** Images with more pixels than this are downscaled while decoding (4096 x 4096). */
  maxWorkingPixels: 4096 * 4096,
};

export type ColorModel = 'rgb' | 'rgba' | 'gray' | 'gray-alpha' | 'palette' | 'cmyk' | 'ycck' | 'unknown';

export interface HeaderInfo {
  kind: ImageKind;
  /** Stored size (before EXIF orientation); 0 when the header does not say. */
  width: number;
  height: number;
  bitDepth?: number;
  colorModel: ColorModel;
  /** The format can carry transparency and this file declares it (tRNS, alpha channel, VP8X alpha flag, ...). */
  mayHaveAlpha: boolean;
  /** Number of frames (GIF: counted; APNG / animated WebP: 2 meaning "more than one"). */
  frames: number;
  progressive?: boolean;
  /** The file ends before the image data does. */
  truncated: boolean;
  /** Truncated after the first complete frame (GIF): decodable, with a note. */
  truncatedAfterFirstFrame?: boolean;
}

export type InspectResult = { ok: true; info: HeaderInfo; notes: string[] } | DecodeFailure;

const u16be = (b: Uint8Array, o: number) => (b[o] << 8) | b[o + 1];
const u16le = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
const u32be = (b: Uint8Array, o: number) => ((b[o] << 24) >>> 0) + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
const i32le = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24);
const ascii = (b: Uint8Array, o: number, n: number) => String.fromCharCode(...b.subarray(o, o + n));

/** The real type of the bytes, by magic numbers (and a text / SVG sniff for the rest). */
export function sniff(bytes: Uint8Array): ImageKind {
  const b = bytes;
  if (b.length === 0) return 'empty';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b[0] === 0x89 && ascii(b, 1, 3) === 'PNG' && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'png';
  if (b.length >= 6 && (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a')) return 'gif';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return 'webp';
  if (b.length >= 12 && ascii(b, 4, 4) === 'ftyp') {
    const brands = ascii(b, 8, Math.min(b.length - 8, 32));
    if (/avif|avis/.test(brands)) return 'avif';
    if (/heic|heix|hevc|hevx|heim|heis|mif1|msf1/.test(brands)) return 'heic';
    return 'unknown';
  }
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a))) return 'tiff';
  if (b.length >= 26 && b[0] === 0x42 && b[1] === 0x4d && u32be(b, 2) !== 0) return 'bmp';
  if (b.length >= 6 && b[0] === 0 && b[1] === 0 && b[2] === 1 && b[3] === 0 && u16le(b, 4) > 0) return 'ico';
  if (b.length >= 4 && ascii(b, 0, 4) === '%PDF') return 'pdf';
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 3 || b[2] === 5 || b[2] === 7)) return 'zip';
  // Text-like: look at the first 4 KiB.
  const head = b.subarray(0, 4096);
  let control = 0;
  for (let i = 0; i < head.length; i++) {
    const c = head[i];
    if (c === 0) return 'unknown';
    if (c < 9 || (c > 13 && c < 32)) control++;
  }
  if (control > head.length * 0.02) return 'unknown';
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: false }).decode(head);
  } catch {
    return 'unknown';
  }
  if (/<svg[\s>]/i.test(text) && /^\s*(\ufeff)?\s*(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*|<!DOCTYPE[^>]*>\s*)*<svg[\s>]/i.test(text)) return 'svg';
  if (/<svg[\s>]/i.test(text) && /xmlns=["']http:\/\/www\.w3\.org\/2000\/svg/.test(text)) return 'svg';
  return 'text';
}

function emptyInfo(kind: ImageKind): HeaderInfo {
  return { kind, width: 0, height: 0, colorModel: 'unknown', mayHaveAlpha: false, frames: 1, truncated: false };
}

export function parsePng(b: Uint8Array): HeaderInfo {
  const info = emptyInfo('png');
  // IHDR must be the first chunk.
  if (b.length < 33 || ascii(b, 12, 4) !== 'IHDR') {
    info.truncated = b.length < 33;
    return info;
  }
  info.width = u32be(b, 16);
  info.height = u32be(b, 20);
  info.bitDepth = b[24];
  const colorType = b[25];
  info.colorModel = ({ 0: 'gray', 2: 'rgb', 3: 'palette', 4: 'gray-alpha', 6: 'rgba' } as Record<number, ColorModel>)[colorType] ?? 'unknown';
  info.mayHaveAlpha = colorType === 4 || colorType === 6;
  let o = 8;
  let sawIdat = false;
  let sawIend = false;
  while (o + 8 <= b.length) {
    const len = u32be(b, o);
    const type = ascii(b, o + 4, 4);
    const end = o + 12 + len;
    if (end > b.length) break; // chunk runs past the end of the file
    if (type === 'IDAT') sawIdat = true;
    else if (type === 'tRNS') info.mayHaveAlpha = true;
    else if (type === 'acTL' && len >= 4) info.frames = Math.max(2, u32be(b, o + 8));
    else if (type === 'IEND') {
      sawIend = true;
      break;
    }
    o = end;
  }
  info.truncated = !(sawIdat && sawIend);
  return info;
}

export function parseJpeg(b: Uint8Array): HeaderInfo {
  const info = emptyInfo('jpeg');
  let o = 2;
  let sawSos = false;
  let adobeTransform = -1;
  let components = 0;
  const n = b.length;
  while (o < n) {
    if (b[o] !== 0xff) {
      // Garbage between segments: find the next marker.
      const next = b.indexOf(0xff, o);
      if (next < 0) break;
      o = next;
      continue;
    }
    while (o < n && b[o] === 0xff) o++; // fill bytes
    if (o >= n) break;
    const m = b[o++];
    if (m === 0xd9) {
      // EOI
      info.truncated = !sawSos;
      finishJpeg(info, components, adobeTransform);
      return info;
    }
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) continue;
    if (o + 2 > n) break;
    const len = u16be(b, o);
    if (len < 2 || o + len > n) break;
    const seg = o + 2;
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      info.bitDepth = b[seg];
      info.height = u16be(b, seg + 1);
      info.width = u16be(b, seg + 3);
      components = b[seg + 5];
      info.progressive = m === 0xc2 || m === 0xc6 || m === 0xca || m === 0xce;
    } else if (m === 0xee && len >= 14 && ascii(b, seg, 5) === 'Adobe') {
      adobeTransform = b[seg + 11];
    }
    o += len;
    if (m === 0xda) {
      sawSos = true;
      // Entropy-coded data: runs until a marker that is not a stuffed 0xFF00 or a restart marker.
      for (;;) {
        const ff = b.indexOf(0xff, o);
        if (ff < 0 || ff + 1 >= n) {
          o = n;
          break;
        }
        const next = b[ff + 1];
        if (next === 0 || next === 0xff || (next >= 0xd0 && next <= 0xd7)) {
          o = ff + (next === 0xff ? 1 : 2);
          continue;
        }
        o = ff;
        break;
      }
    }
  }
  info.truncated = true;
  finishJpeg(info, components, adobeTransform);
  return info;
}

function finishJpeg(info: HeaderInfo, components: number, adobeTransform: number) {
  if (components === 1) info.colorModel = 'gray';
  else if (components === 3) info.colorModel = 'rgb';
  else if (components === 4) info.colorModel = adobeTransform === 2 ? 'ycck' : 'cmyk';
}

export function parseGif(b: Uint8Array): HeaderInfo {
  const info = emptyInfo('gif');
  info.colorModel = 'palette';
  info.frames = 0;
  if (b.length < 13) {
    info.truncated = true;
    return info;
  }
  info.width = u16le(b, 6);
  info.height = u16le(b, 8);
  let o = 13;
  const packed = b[10];
  if (packed & 0x80) o += 3 * (1 << ((packed & 7) + 1));
  const skipSubBlocks = (p: number): number => {
    while (p < b.length) {
      const size = b[p];
      if (size === 0) return p + 1;
      p += size + 1;
    }
    return -1;
  };
  for (;;) {
    if (o >= b.length) break;
    const t = b[o];
    if (t === 0x3b) {
      info.truncated = info.frames === 0;
      return info;
    }
    if (t === 0x21) {
      if (b[o + 1] === 0xf9 && o + 4 < b.length && b[o + 3] & 1) info.mayHaveAlpha = true;
      const p = skipSubBlocks(o + 2);
      if (p < 0) break;
      o = p;
    } else if (t === 0x2c) {
      if (o + 10 > b.length) break;
      const lp = b[o + 9];
      let p = o + 10;
      if (lp & 0x80) p += 3 * (1 << ((lp & 7) + 1));
      p += 1; // LZW minimum code size
      const q = p <= b.length ? skipSubBlocks(p) : -1;
      if (q < 0) break;
      info.frames++;
      o = q;
    } else {
      break; // unknown block: treat as the end of usable data
    }
  }
  if (info.frames >= 1) {
    info.truncatedAfterFirstFrame = true;
    info.truncated = false;
  } else {
    info.truncated = true;
  }
  return info;
}

export function parseWebp(b: Uint8Array): HeaderInfo {
  const info = emptyInfo('webp');
  const riffSize = b.length >= 8 ? b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24) : 0;
  info.truncated = riffSize + 8 > b.length || b.length < 30;
  if (b.length < 30) return info;
  const chunk = ascii(b, 12, 4);
  if (chunk === 'VP8 ') {
    info.width = u16le(b, 26) & 0x3fff;
    info.height = u16le(b, 28) & 0x3fff;
    info.colorModel = 'rgb';
  } else if (chunk === 'VP8L') {
    const bits = b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24);
    info.width = (bits & 0x3fff) + 1;
    info.height = ((bits >> 14) & 0x3fff) + 1;
    info.mayHaveAlpha = ((bits >> 28) & 1) === 1;
    info.colorModel = info.mayHaveAlpha ? 'rgba' : 'rgb';
  } else if (chunk === 'VP8X') {
    const flags = b[20];
    info.mayHaveAlpha = (flags & 0x10) !== 0;
    if (flags & 0x02) info.frames = 2;
    info.width = 1 + (b[24] | (b[25] << 8) | (b[26] << 16));
    info.height = 1 + (b[27] | (b[28] << 8) | (b[29] << 16));
    info.colorModel = info.mayHaveAlpha ? 'rgba' : 'rgb';
  }
  return info;
}

export function parseBmp(b: Uint8Array): HeaderInfo {
  const info = emptyInfo('bmp');
  if (b.length < 30) {
    info.truncated = true;
    return info;
  }
  info.width = Math.abs(i32le(b, 18));
  info.height = Math.abs(i32le(b, 22));
  info.bitDepth = u16le(b, 28);
  info.colorModel = info.bitDepth === 32 ? 'rgba' : 'rgb';
  info.mayHaveAlpha = info.bitDepth === 32;
  const dataOffset = i32le(b, 10);
  info.truncated = dataOffset >= b.length;
  return info;
}

export function parseHeader(bytes: Uint8Array, kind: ImageKind = sniff(bytes)): HeaderInfo {
  switch (kind) {
    case 'png':
      return parsePng(bytes);
    case 'jpeg':
      return parseJpeg(bytes);
    case 'gif':
      return parseGif(bytes);
    case 'webp':
      return parseWebp(bytes);
    case 'bmp':
      return parseBmp(bytes);
    default:
      return emptyInfo(kind);
  }
}

const KIND_NAMES: Record<ImageKind, string> = {
  jpeg: 'JPEG',
  png: 'PNG',
  gif: 'GIF',
  webp: 'WebP',
  bmp: 'BMP',
  ico: 'ICO',
  avif: 'AVIF',
  heic: 'HEIC/HEIF',
  tiff: 'TIFF',
  svg: 'SVG',
  pdf: 'PDF',
  gzip: 'gzip archive',
  zip: 'ZIP archive',
  text: 'text',
  unknown: 'unknown',
  empty: 'empty',
};
export const kindName = (k: ImageKind) => KIND_NAMES[k];

/** MIME type for the real kind (used to re-label the Blob before decoding). */
export const KIND_MIME: Partial<Record<ImageKind, string>> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  bmp: 'image/bmp',
  ico: 'image/x-icon',
  avif: 'image/avif',
  heic: 'image/heic',
  tiff: 'image/tiff',
};

/** Other MIME types that name the same kind (Windows and browsers label a real .ico image/vnd.microsoft.icon). */
const MIME_ALIASES: Partial<Record<ImageKind, string[]>> = {
  jpeg: ['image/jpg', 'image/pjpeg'],
  png: ['image/apng'],
  bmp: ['image/x-bmp', 'image/x-ms-bmp'],
  ico: ['image/vnd.microsoft.icon', 'image/ico', 'image/icon', 'image/x-ico'],
  heic: ['image/heif', 'image/heic-sequence', 'image/heif-sequence'],
  avif: ['image/avif-sequence'],
  tiff: ['image/tif', 'image/x-tiff'],
};

/** Whether a file's MIME type names its real kind (the canonical type or a known alias). */
export const mimeNamesKind = (mime: string, kind: ImageKind) => mime === KIND_MIME[kind] || !!MIME_ALIASES[kind]?.includes(mime);

/** "a PNG", "an ICO": the kind's name with its article. */
const aKind = (k: ImageKind) => `${/^(ICO|AVIF|SVG)/.test(kindName(k)) ? 'an' : 'a'} ${kindName(k)}`;

const EXT_KIND: Record<string, ImageKind> = {
  jpg: 'jpeg', jpeg: 'jpeg', jpe: 'jpeg', jfif: 'jpeg', png: 'png', apng: 'png', gif: 'gif', webp: 'webp', bmp: 'bmp',
  ico: 'ico', avif: 'avif', heic: 'heic', heif: 'heic', tif: 'tiff', tiff: 'tiff', svg: 'svg', svgz: 'svg', pdf: 'pdf',
  txt: 'text',
};

const fail = (code: DecodeFailure['code'], message: string, kind?: ImageKind): DecodeFailure => ({ ok: false, code, message, kind });

const mp = (px: number) => (px / 1e6).toFixed(px >= 10e6 ? 0 : 1);

/**
 * Everything we can decide from the bytes alone: refuse what must be refused (with a specific message),
 * and collect notes about what decoding will do. `name`/`mimeType` are used only for notes ("the file is
 * called .jpg but is a PNG"), never to decide.
 */
export function inspectImageBytes(bytes: Uint8Array, name = '', mimeType = '', limits = LIMITS): InspectResult {
  const notes: string[] = [];
  if (bytes.length === 0) return fail('empty', `“${name || 'This file'}” is empty (0 bytes): nothing to open. Pick the photo again.`, 'empty');
  if (bytes.length > limits.maxFileBytes)
    return fail('too-large', `This file is ${Math.round(bytes.length / 2 ** 20)} MB; the limit is ${Math.round(limits.maxFileBytes / 2 ** 20)} MB.`);
  const kind = sniff(bytes);
  const label = name ? `“${name}”` : 'This file';
  switch (kind) {
    case 'svg':
      return fail('svg', `${label} is an SVG (vector) image. SVGs are not accepted: they are drawings rather than photos and can contain scripts and links. Export it as PNG or JPEG first.`, kind);
    case 'text':
      return fail('not-image', `${label} is a text file, not an image${/\.(jpe?g|png|gif|webp)$/i.test(name) ? ' (despite its image extension)' : ''}. Choose a JPEG, PNG or WebP photo.`, kind);
    case 'pdf':
      return fail('not-image', `${label} is a PDF document, not an image. Export the page as a JPEG or PNG first.`, kind);
    case 'zip':
    case 'gzip':
      return fail('not-image', `${label} is a compressed archive (${kindName(kind)}), not an image. Extract the photo first.`, kind);
    case 'unknown':
      return fail('not-image', `${label} is not an image this app recognises (its first bytes match no image format). Choose a JPEG, PNG, WebP or GIF photo.`, kind);
    case 'empty':
      return fail('empty', `${label} is empty (0 bytes).`, kind);
    default:
      break;
  }
  const info = parseHeader(bytes, kind);
  if (info.truncated)
    return fail('truncated', `${label} is incomplete: the ${kindName(kind)} data stops early (the file was probably cut off while downloading or copying). Get the full file and try again.`, kind);
  if (info.width === 0 && info.height === 0 && (kind === 'png' || kind === 'jpeg' || kind === 'gif' || kind === 'webp' || kind === 'bmp'))
    return fail('corrupt', `${label} looks like a ${kindName(kind)} but its header gives no image size; the file is damaged.`, kind);
  if (info.width > 0 && info.height > 0) {
    const px = info.width * info.height;
    if (info.width > limits.maxSide || info.height > limits.maxSide || px > limits.maxSourcePixels)
      return fail('too-large', `${label} is ${info.width} × ${info.height} pixels (${mp(px)} megapixels), too large to open safely in a browser tab (limit ${mp(limits.maxSourcePixels)} MP, ${limits.maxSide} px per side). Downscale it first.`, kind);
    if (Math.min(info.width, info.height) < limits.minSide)
      return fail('too-small', `${label} is only ${info.width} × ${info.height} pixels; a face photo needs at least ${limits.minSide} × ${limits.minSide}.`, kind);
  }
  // Notes
  const extKind = EXT_KIND[(name.split('.').pop() ?? '').toLowerCase()];
  if (name.includes('.') && extKind && extKind !== kind)
    notes.push(`The file is named “${name}” but is really ${aKind(kind)}; opened as ${kindName(kind)}.`);
  else if (mimeType && KIND_MIME[kind] && mimeType.startsWith('image/') && !mimeNamesKind(mimeType, kind))
    notes.push(`The file claims to be ${mimeType} but is really ${aKind(kind)}.`);
  if (info.frames > 1) notes.push(`Animated ${kindName(kind)}${kind === 'gif' ? ` (${info.frames} frames)` : ''}: only the first frame is used.`);
  if (info.truncatedAfterFirstFrame) notes.push(`The ${kindName(kind)} ends early; its first frame is complete and is used.`);
  if (info.bitDepth === 16 && kind === 'png') notes.push('16-bit PNG: reduced to 8 bits per channel (the model works in 8-bit colour).');
  if (info.colorModel === 'cmyk' || info.colorModel === 'ycck') notes.push('CMYK JPEG (print colours): converted to RGB; colours may shift slightly.');
  if (info.colorModel === 'gray' || info.colorModel === 'gray-alpha') notes.push('Grayscale image: used as grey RGB; edits may add colour.');
  if (kind === 'heic') notes.push('HEIC photo: decoded only where this browser supports HEIC.');
  return { ok: true, info, notes };
}

/** Oriented (displayed) size for an EXIF orientation: 5..8 swap width and height. */
export function orientedSize(width: number, height: number, orientation: number): [number, number] {
  return orientation >= 5 && orientation <= 8 ? [height, width] : [width, height];
}

/** Size to decode at so that the result has at most `maxPixels` (aspect kept, never upscaled). */
export function workingSize(width: number, height: number, maxPixels = LIMITS.maxWorkingPixels): { width: number; height: number; scale: number } {
  const px = width * height;
  if (px <= maxPixels) return { width, height, scale: 1 };
  const scale = Math.sqrt(maxPixels / px);
  const w = Math.max(1, Math.floor(width * scale + 1e-6));
  const h = Math.max(1, Math.floor(height * scale + 1e-6));
  return { width: w, height: h, scale: w / width };
}
