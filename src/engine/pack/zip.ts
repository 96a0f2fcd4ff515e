/**
 * Random-access zip reading for pack import: the central directory first (every name and declared size before any
 * data is inflated), then one entry at a time, inflated in small input slices and stopped as soon as its output
 * passes a limit. A zip bomb therefore costs at most one slice's output (MAX_SLICE_OUTPUT) in memory and nothing
 * in storage beyond its limit. No DOM: Blob, streams and fflate only.
 */
import { Inflate } from 'fflate';
import { EngineError } from '../errors';

export interface ZipEntry {
  /** Name as stored (folders end in '/'). */
  name: string;
  /** 0 stored, 8 deflate. */
  method: number;
  /** General-purpose flags (bit 0: encrypted). */
  flags: number;
  compressedSize: number;
  /** Uncompressed size the central directory declares (a hostile zip may lie: streaming enforces the limit). */
  size: number;
  headerOffset: number;
}

/** Compressed bytes pushed into the inflater at once: deflate expands at most ~1032x, so one push yields <= ~8.3 MB. */
export const INFLATE_SLICE = 8 * 1024;
export const MAX_SLICE_OUTPUT = INFLATE_SLICE * 1032;

const EOCD_SIG = 0x06054b50;
const CEN_SIG = 0x02014b50;
const LOC_SIG = 0x04034b50;
/** End-of-central-directory record (22 bytes) plus the longest comment a zip can carry. */
const EOCD_SEARCH = 22 + 0xffff;
const MAX_ENTRIES = 10_000;

const notZip = (name: string, why: string) => new EngineError('PackManifestError', `not a readable zip file: ${name} ${why}`);

async function bytesOf(blob: Blob, start: number, end: number): Promise<Uint8Array> {
  return new Uint8Array(await blob.slice(start, end).arrayBuffer());
}

/** Every entry of the zip's central directory, in order. Throws a PackManifestError naming the zip when unreadable. */
export async function readZipIndex(blob: Blob, name: string): Promise<ZipEntry[]> {
  if (blob.size < 22) throw notZip(name, 'is too short to be a zip');
  const head = await bytesOf(blob, 0, 4);
  if (!(head[0] === 0x50 && head[1] === 0x4b)) throw notZip(name, 'does not start with a zip header');
  const tailStart = Math.max(0, blob.size - EOCD_SEARCH);
  const tail = await bytesOf(blob, tailStart, blob.size);
  const dv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (dv.getUint32(i, true) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw notZip(name, 'has no central directory (cut off, or not a zip)');
  const count = dv.getUint16(eocd + 10, true);
  const cenSize = dv.getUint32(eocd + 12, true);
  const cenOffset = dv.getUint32(eocd + 16, true);
  if (count === 0xffff || cenSize === 0xffffffff || cenOffset === 0xffffffff) {
    throw notZip(name, 'is a zip64 archive, which pack import does not read; zip the pack without zip64 or import the folder');
  }
  if (count > MAX_ENTRIES) throw notZip(name, `has ${count} entries (at most ${MAX_ENTRIES})`);
  if (cenOffset + cenSize > tailStart + eocd) throw notZip(name, 'has a central directory outside the file (cut off?)');
  const cen = await bytesOf(blob, cenOffset, cenOffset + cenSize);
  const cv = new DataView(cen.buffer, cen.byteOffset, cen.byteLength);
  const entries: ZipEntry[] = [];
  const utf8 = new TextDecoder();
  let o = 0;
  for (let i = 0; i < count; i++) {
    if (o + 46 > cen.length || cv.getUint32(o, true) !== CEN_SIG) throw notZip(name, 'has a damaged central directory');
    const nameLen = cv.getUint16(o + 28, true);
    const extraLen = cv.getUint16(o + 30, true);
    const commentLen = cv.getUint16(o + 32, true);
    const e: ZipEntry = {
      flags: cv.getUint16(o + 8, true),
      method: cv.getUint16(o + 10, true),
      compressedSize: cv.getUint32(o + 20, true),
      size: cv.getUint32(o + 24, true),
      headerOffset: cv.getUint32(o + 42, true),
      name: utf8.decode(cen.subarray(o + 46, o + 46 + nameLen)),
    };
    if (e.compressedSize === 0xffffffff || e.size === 0xffffffff || e.headerOffset === 0xffffffff) {
      throw notZip(name, `stores ${e.name} as zip64, which pack import does not read`);
    }
    entries.push(e);
    o += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/**
 * Streams one entry's uncompressed bytes to `write`, in order, and refuses it (PackIntegrityError) as soon as its
 * output passes `limit` bytes: the chunk that crosses the limit is never written. Returns the bytes written.
 */
export async function streamZipEntry(
  blob: Blob,
  e: ZipEntry,
  limit: number,
  write: (chunk: Uint8Array) => Promise<void>,
  label = e.name,
): Promise<number> {
  if (e.flags & 1) throw new EngineError('PackManifestError', `${label} is encrypted in the zip; pack zips must not be encrypted`);
  if (e.method !== 0 && e.method !== 8) throw new EngineError('PackManifestError', `${label} uses zip compression method ${e.method}; only stored and deflate are read`);
  const loc = await bytesOf(blob, e.headerOffset, e.headerOffset + 30);
  const lv = new DataView(loc.buffer, loc.byteOffset, loc.byteLength);
  if (loc.length < 30 || lv.getUint32(0, true) !== LOC_SIG) throw new EngineError('PackManifestError', `not a readable zip file: the data of ${label} is missing`);
  const start = e.headerOffset + 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
  if (start + e.compressedSize > blob.size) throw new EngineError('PackManifestError', `not a readable zip file: ${label} runs past the end of the zip (cut off?)`);
  const tooBig = () =>
    new EngineError('PackIntegrityError', `${label} inflates to more than the ${limit} bytes the manifest gives; refused (a zip bomb or a wrong file)`);
  let written = 0;
  let out: Uint8Array[] = [];
  let inflateError: Error | null = null;
  const inflater = e.method === 8 ? new Inflate((chunk) => void out.push(chunk)) : null;
  const reader = (blob.slice(start, start + e.compressedSize).stream() as ReadableStream<Uint8Array>).getReader();
  const drain = async () => {
    const now = out;
    out = [];
    for (const c of now) {
      if (written + c.length > limit) throw tooBig();
      written += c.length;
      if (c.length) await write(c.slice()); // fflate may reuse its buffer
    }
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!inflater) {
        out.push(value);
        await drain();
        continue;
      }
      for (let off = 0; off < value.length; off += INFLATE_SLICE) {
        try {
          inflater.push(value.subarray(off, Math.min(value.length, off + INFLATE_SLICE)));
        } catch (err) {
          inflateError = err as Error;
        }
        if (inflateError) break;
        await drain();
      }
      if (inflateError) break;
    }
    if (inflater && !inflateError) {
      try {
        inflater.push(new Uint8Array(0), true);
      } catch (err) {
        inflateError = err as Error;
      }
    }
    if (inflateError) throw new EngineError('PackManifestError', `not a readable zip file: ${label}: ${inflateError.message}`);
    await drain();
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return written;
}
