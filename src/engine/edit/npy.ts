/**
 * NumPy `.npy` arrays (format versions 1-3), read without pickles: little/big-endian float32 / float64 (and integer
 * types, converted), C order. Enough for direction files (InterFaceGAN boundaries, GANSpace `.npz` members).
 */

export interface NpyArray {
  shape: number[];
  /** The values as float64, C order. */
  data: Float64Array;
}

export class NpyError extends Error {}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

type Reader = (v: DataView, off: number, le: boolean) => number;
const READERS: Record<string, [number, Reader]> = {
  f4: [4, (v, o, le) => v.getFloat32(o, le)],
  f8: [8, (v, o, le) => v.getFloat64(o, le)],
  f2: [2, (v, o, le) => half(v.getUint16(o, le))],
  i1: [1, (v, o) => v.getInt8(o)],
  u1: [1, (v, o) => v.getUint8(o)],
  i2: [2, (v, o, le) => v.getInt16(o, le)],
  i4: [4, (v, o, le) => v.getInt32(o, le)],
  i8: [8, (v, o, le) => Number(v.getBigInt64(o, le))],
};

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Parses the header dict, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (1, 512), }. */
function parseHeader(text: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shape === undefined) throw new NpyError('not a NumPy array header');
  const dims = shape.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw new NpyError(`bad shape (${shape})`);
  return { descr, fortran: fortran === 'True', shape: dims };
}

export function parseNpy(bytes: Uint8Array): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new NpyError('not a .npy file (no \\x93NUMPY magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  if (major < 1 || major > 3) throw new NpyError(`.npy format version ${major} is not supported`);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) throw new NpyError('truncated .npy header');
  const header = parseHeader(new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen)));
  if (header.descr.includes('O')) throw new NpyError('a pickled (object) array; only numeric arrays are read');
  const m = /^([<>|=])([fiu]\d)$/.exec(header.descr);
  const reader = m && READERS[m[2]];
  if (!m || !reader) throw new NpyError(`dtype '${header.descr}' is not supported (float32 / float64 expected)`);
  if (header.fortran && header.shape.filter((d) => d > 1).length > 1) throw new NpyError('Fortran-ordered arrays are not supported');
  const le = m[1] !== '>';
  const [size, read] = reader;
  const n = header.shape.reduce((a, b) => a * b, 1);
  const off = start + headerLen;
  if (off + n * size > bytes.length) throw new NpyError(`truncated .npy data (${n} values of ${size} bytes expected)`);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = read(view, off + i * size, le);
  return { shape: header.shape, data };
}
