/**
 * PyTorch checkpoint containers read with the restricted unpickler (pickle.ts): the zip format (torch >= 1.6:
 * `<archive>/data.pkl` + one stored entry per storage), the legacy format (torch < 1.6, and the bytes inside an
 * NVIDIA network pickle's storages), and NVIDIA's stylegan2-ada-pytorch network pickle (a raw pickle whose
 * networks are torch_utils.persistence objects: read as stubs holding their state, the embedded source ignored).
 * Tensors come back as `TensorRef`s: where their bytes are, read only when asked (`readTensor`).
 */
import { readZipIndex, type ZipEntry } from '../pack/zip';
import { BytesRef, PyDict, PyObject, UnpickleError, blobSource, bytesSource, subSource, unpickle, type Allowlist, type ByteSource, type Global } from './pickle';

export type DType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool' | 'int16';

const STORAGE_TYPES: Record<string, { dtype: DType; size: number }> = {
  FloatStorage: { dtype: 'float32', size: 4 },
  HalfStorage: { dtype: 'float16', size: 2 },
  BFloat16Storage: { dtype: 'bfloat16', size: 2 },
  DoubleStorage: { dtype: 'float64', size: 8 },
  LongStorage: { dtype: 'int64', size: 8 },
  IntStorage: { dtype: 'int32', size: 4 },
  ShortStorage: { dtype: 'int16', size: 2 },
  CharStorage: { dtype: 'int8', size: 1 },
  ByteStorage: { dtype: 'uint8', size: 1 },
  BoolStorage: { dtype: 'bool', size: 1 },
};

class StorageType implements Global {
  constructor(
    readonly name: string,
    readonly dtype: DType,
    readonly itemSize: number,
  ) {}
}

/** Where a storage's bytes are: `numel` items of `dtype` from byte `start` of `src`. */
export interface StorageRef {
  src: ByteSource;
  start: number;
  numel: number;
  dtype: DType;
  itemSize: number;
}

export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
  get numel() {
    return this.shape.reduce((a, b) => a * b, 1);
  }
}

/** A torch_utils.persistence object of an NVIDIA pickle: its class name and state (never its source code). */
export class PersistentStub {
  constructor(
    readonly className: string,
    readonly state: PyDict,
  ) {}
}

export const isTensor = (v: unknown): v is TensorRef => v instanceof TensorRef;

const NOT_CHECKPOINT = 'is not a PyTorch checkpoint (.pt) or an NVIDIA network pickle (.pkl)';

function toNumbers(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
    throw new UnpickleError(`corrupt checkpoint: tensor ${what} is not a list of sizes`);
  }
  return v as number[];
}

function rebuildTensor(args: unknown[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!storage || typeof storage !== 'object' || !('src' in storage)) throw new UnpickleError('corrupt checkpoint: a tensor without storage');
  const st = storage as StorageRef;
  if (typeof offset !== 'number') throw new UnpickleError('corrupt checkpoint: tensor offset');
  const t = new TensorRef(st, offset, toNumbers(size, 'size'), toNumbers(stride, 'stride'));
  let last = offset;
  t.shape.forEach((n, i) => (last += n > 0 ? (n - 1) * t.stride[i] : 0));
  if (t.shape.length !== t.stride.length || (t.numel > 0 && last >= st.numel)) throw new UnpickleError('corrupt checkpoint: a tensor reaches past its storage');
  return t;
}

const fn = (name: string, call: (args: unknown[]) => unknown): Global => ({ name, call });

/** The globals a checkpoint may name. `loadFromBytes`: torch.storage._load_from_bytes (NVIDIA pickles). */
function allowlist(loadFromBytes?: (b: unknown) => Promise<unknown>): Allowlist {
  const a: Allowlist = {
    'collections.OrderedDict': (n) => fn(n, () => new PyDict()),
    'builtins.set': (n) => fn(n, (args) => (Array.isArray(args[0]) ? [...args[0]] : [])),
    'builtins.frozenset': (n) => fn(n, (args) => (Array.isArray(args[0]) ? [...args[0]] : [])),
    'argparse.Namespace': (n) => fn(n, () => new PyObject(n)),
    'torch._utils._rebuild_tensor_v2': (n) => fn(n, rebuildTensor),
    'torch._utils._rebuild_parameter': (n) => fn(n, (args) => args[0]),
    'torch._utils._rebuild_parameter_with_state': (n) => fn(n, (args) => args[0]),
    'torch._tensor._rebuild_from_type_v2': (n) =>
      fn(n, async (args) => {
        const [f, , inner] = args;
        if (!(f && typeof f === 'object' && (f as Global).name === 'torch._utils._rebuild_tensor_v2')) {
          throw new UnpickleError('checkpoint asks to rebuild a tensor with something other than torch._utils._rebuild_tensor_v2; refused');
        }
        return rebuildTensor(Array.isArray(inner) ? inner : []);
      }),
    'torch.Tensor': (n) => ({ name: n }),
    'torch.nn.parameter.Parameter': (n) => ({ name: n }),
    'torch.device': (n) => fn(n, (args) => String(args[0])),
    'torch.Size': (n) => fn(n, (args) => (Array.isArray(args[0]) ? args[0] : [])),
    'torch_utils.persistence._reconstruct_persistent_obj': (n) =>
      fn(n, (args) => {
        const meta = args[0];
        if (!(meta instanceof PyDict) || meta.get('type') !== 'class') throw new UnpickleError('unexpected persistent object in the network pickle');
        const state = meta.get('state');
        return new PersistentStub(String(meta.get('class_name')), state instanceof PyDict ? state : new PyDict());
      }),
    'dnnlib.util.EasyDict': (n) => fn(n, () => new PyDict()),
    'dnnlib.EasyDict': (n) => fn(n, () => new PyDict()),
  };
  for (const [k, v] of Object.entries(STORAGE_TYPES)) a[`torch.${k}`] = (n) => new StorageType(n, v.dtype, v.size);
  if (loadFromBytes) a['torch.storage._load_from_bytes'] = (n) => fn(n, (args) => loadFromBytes(args[0]));
  return a;
}

function storageType(v: unknown): StorageType {
  if (v instanceof StorageType) return v;
  throw new UnpickleError('corrupt checkpoint: a storage of unknown type');
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** torch's legacy format at `src`: magic, protocol, sys info, the object, storage keys, then each storage's bytes. */
async function readLegacy(src: ByteSource, label: string, first?: { value: unknown; end: number }, signal?: AbortSignal): Promise<unknown> {
  const opts = { allow: allowlist(), label, signal };
  const magic = first ?? (await unpickle(src, 0, opts));
  if (magic.value !== LEGACY_MAGIC) throw new UnpickleError(`${label} ${NOT_CHECKPOINT}`);
  const proto = await unpickle(src, magic.end, opts);
  if (proto.value !== 1001) throw new UnpickleError(`${label}: legacy checkpoint protocol ${String(proto.value)} is not read`);
  const sys = await unpickle(src, proto.end, opts);
  const pending = new Map<string, { type: StorageType; numel: number; ref: StorageRef }>();
  const main = await unpickle(src, sys.end, {
    ...opts,
    persistentLoad: (pid) => {
      if (!Array.isArray(pid) || pid[0] !== 'storage') throw new UnpickleError(`${label}: unexpected persistent id in the checkpoint`);
      const [, t, key, , numel, view] = pid as [string, unknown, unknown, unknown, unknown, unknown];
      const type = storageType(t);
      if (view != null) throw new UnpickleError(`${label}: storage views of the legacy format are not read`);
      const k = String(key);
      let p = pending.get(k);
      if (!p) {
        p = { type, numel: Number(numel), ref: { src, start: -1, numel: Number(numel), dtype: type.dtype, itemSize: type.itemSize } };
        pending.set(k, p);
      }
      return p.ref;
    },
  });
  const keys = await unpickle(src, main.end, opts);
  if (!Array.isArray(keys.value)) throw new UnpickleError(`${label}: corrupt legacy checkpoint (storage keys)`);
  let pos = keys.end;
  for (const key of keys.value) {
    const p = pending.get(String(key));
    const head = await src.read(pos, pos + 8);
    if (head.length < 8) throw new UnpickleError(`${label} ends before its tensors (truncated)`);
    const numel = Number(new DataView(head.buffer, head.byteOffset, 8).getBigInt64(0, true));
    const itemSize = p?.type.itemSize ?? 4;
    if (!p || numel !== p.numel) throw new UnpickleError(`${label}: corrupt legacy checkpoint (storage ${String(key)})`);
    p.ref.start = pos + 8;
    pos += 8 + numel * itemSize;
    if (pos > src.size) throw new UnpickleError(`${label} ends before its tensors (truncated)`);
  }
  for (const [k, p] of pending) if (p.ref.start < 0) throw new UnpickleError(`${label}: storage ${k} has no data`);
  return main.value;
}

/** The zip format: `<archive>/data.pkl` and a stored entry `<archive>/data/<key>` per storage. */
async function readZip(blob: Blob, label: string, signal?: AbortSignal): Promise<unknown> {
  let entries: ZipEntry[];
  try {
    entries = await readZipIndex(blob, label);
  } catch (e) {
    throw new UnpickleError(`${(e as Error).message.replace(/^not a readable zip file: /, '')}: ${label} is not a readable PyTorch checkpoint (a cut-off download?)`);
  }
  const pkl = entries.find((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (!pkl) throw new UnpickleError(`${label} is a zip but not a PyTorch checkpoint (no data.pkl)`);
  const prefix = pkl.name.slice(0, -'data.pkl'.length);
  const byName = new Map(entries.map((e) => [e.name, e]));
  const src = blobSource(blob);
  const dataStart = async (e: ZipEntry) => {
    const loc = await src.read(e.headerOffset, e.headerOffset + 30);
    if (loc.length < 30) throw new UnpickleError(`${label} is cut off (an entry's header is missing)`);
    const dv = new DataView(loc.buffer, loc.byteOffset, 30);
    if (dv.getUint32(0, true) !== 0x04034b50) throw new UnpickleError(`${label}: damaged zip entry ${e.name}`);
    const start = e.headerOffset + 30 + dv.getUint16(26, true) + dv.getUint16(28, true);
    if (e.method !== 0) throw new UnpickleError(`${label}: ${e.name} is compressed; PyTorch stores tensors uncompressed (re-save it with torch.save)`);
    if (start + e.size > blob.size) throw new UnpickleError(`${label} is cut off (${e.name} runs past its end)`);
    return start;
  };
  const pklStart = await dataStart(pkl);
  const pklSrc = subSource(src, pklStart, pkl.size);
  const { value } = await unpickle(pklSrc, 0, {
    allow: allowlist(),
    label,
    signal,
    persistentLoad: async (pid) => {
      if (!Array.isArray(pid) || pid[0] !== 'storage') throw new UnpickleError(`${label}: unexpected persistent id in the checkpoint`);
      const [, t, key, , numel] = pid as [string, unknown, unknown, unknown, unknown];
      const type = storageType(t);
      const e = byName.get(`${prefix}data/${String(key)}`);
      if (!e) throw new UnpickleError(`${label} lacks the data of storage ${String(key)} (truncated?)`);
      const n = Number(numel);
      if (e.size < n * type.itemSize) throw new UnpickleError(`${label}: storage ${String(key)} is shorter than its tensors`);
      return { src, start: await dataStart(e), numel: n, dtype: type.dtype, itemSize: type.itemSize } satisfies StorageRef;
    },
  });
  return value;
}

export type CheckpointKind = 'zip' | 'legacy' | 'nvidia-pickle';

/**
 * The object a checkpoint file holds, told apart by its first bytes: a zip ('PK'), or a pickle (0x80) that is either
 * torch's legacy format (a magic number first) or an NVIDIA network pickle. Anything else is refused after its
 * first bytes, however large the file. `signal`: an abort while the container is parsed rejects with a CancelledError.
 */
export async function readCheckpointObject(blob: Blob, label: string, signal?: AbortSignal): Promise<{ kind: CheckpointKind; value: unknown }> {
  const head = new Uint8Array(await blob.slice(0, 4).arrayBuffer());
  if (head[0] === 0x50 && head[1] === 0x4b) return { kind: 'zip', value: await readZip(blob, label, signal) };
  if (head[0] !== 0x80 || head[1] < 2 || head[1] > 5) throw new UnpickleError(`${label} ${NOT_CHECKPOINT}`);
  const src = blobSource(blob);
  const loadFromBytes = async (b: unknown) => {
    const inner = b instanceof BytesRef ? b.source() : b instanceof Uint8Array ? bytesSource(b) : null;
    if (!inner) throw new UnpickleError(`${label}: corrupt storage in the network pickle`);
    return readLegacy(inner, label, undefined, signal);
  };
  const first = await unpickle(src, 0, { allow: allowlist(loadFromBytes), label, signal });
  if (first.value === LEGACY_MAGIC) return { kind: 'legacy', value: await readLegacy(src, label, first, signal) };
  return { kind: 'nvidia-pickle', value: first.value };
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** A tensor's values as float32 in C order (float16, bfloat16 and float64 storages converted). */
export async function readTensor(t: TensorRef): Promise<Float32Array> {
  const st = t.storage;
  const n = t.numel;
  const out = new Float32Array(n);
  if (!n) return out;
  if (!['float32', 'float16', 'bfloat16', 'float64'].includes(st.dtype)) throw new UnpickleError(`a ${st.dtype} tensor where weights are expected`);
  let lo = t.offset;
  let hi = t.offset;
  t.shape.forEach((d, i) => (hi += (d - 1) * t.stride[i]));
  const raw = await st.src.read(st.start + lo * st.itemSize, st.start + (hi + 1) * st.itemSize);
  if (raw.length < (hi - lo + 1) * st.itemSize) throw new UnpickleError('the checkpoint ends inside a tensor (truncated)');
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const at = (i: number) => {
    const o = i * st.itemSize;
    if (st.dtype === 'float32') return dv.getFloat32(o, true);
    if (st.dtype === 'float64') return dv.getFloat64(o, true);
    if (st.dtype === 'float16') return halfToFloat(dv.getUint16(o, true));
    return new Float32Array(new Uint32Array([dv.getUint16(o, true) << 16]).buffer)[0];
  };
  // C-order walk over the strides (the common contiguous float32 case copies the bytes directly)
  const contiguous = t.stride.every((s, i) => t.shape[i] === 1 || s === t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  if (contiguous && st.dtype === 'float32' && raw.byteOffset % 4 === 0) {
    out.set(new Float32Array(raw.buffer, raw.byteOffset, n));
    return out;
  }
  if (contiguous) {
    for (let i = 0; i < n; i++) out[i] = at(i);
    return out;
  }
  const idx = new Array(t.shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let o = 0;
    for (let d = 0; d < idx.length; d++) o += idx[d] * t.stride[d];
    out[i] = at(o);
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d] < t.shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}
