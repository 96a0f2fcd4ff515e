/**
 * A restricted Python unpickler (protocols 2-5 without out-of-band buffers, what torch.save and NVIDIA's network pickles use), for reading
 * checkpoints in the browser. It builds plain data only: dicts, lists, tuples, numbers, strings, bytes, and what the
 * allowlist's handlers make of the globals it names (tensor references, OrderedDict, persistence stubs). A global
 * that is not on the list is refused by name when the pickle names it, before anything could call it; nothing in a
 * pickle is ever executed (no Python here, and no handler runs code from the file).
 *
 * Why not the `pickleparser` npm package: it resolves unknown globals to generic objects instead of refusing them,
 * reads the whole file into memory, and has no hook for lazy byte payloads; the NVIDIA pickle embeds every storage
 * (discriminator and augmentation pipeline included, ~360 MB at 1024 px) as bytes that must be skipped, not held.
 * Large bytes payloads here become references into the file (`BytesRef`), read only if a handler asks.
 */
import { EngineError } from '../errors';

/** Random-access bytes: a Blob (a File from the picker, backed by the disk) or a part of one. */
export interface ByteSource {
  readonly size: number;
  read(start: number, end: number): Promise<Uint8Array>;
}

export function blobSource(blob: Blob): ByteSource {
  return {
    size: blob.size,
    read: async (start, end) => new Uint8Array(await blob.slice(start, end).arrayBuffer()),
  };
}

export function subSource(src: ByteSource, start: number, length: number): ByteSource {
  return {
    size: length,
    read: (s, e) => src.read(start + s, start + Math.min(e, length)),
  };
}

export function bytesSource(b: Uint8Array): ByteSource {
  return { size: b.length, read: async (s, e) => b.subarray(s, Math.min(e, b.length)) };
}

/** A bytes payload left in the file: `length` bytes at `start` of `src`. */
export class BytesRef {
  constructor(
    readonly src: ByteSource,
    readonly start: number,
    readonly length: number,
  ) {}
  source(): ByteSource {
    return subSource(this.src, this.start, this.length);
  }
}

/** A Python dict (insertion order kept); keys are strings or numbers in checkpoints. */
export class PyDict {
  readonly map = new Map<unknown, unknown>();
  get(k: unknown): unknown {
    return this.map.get(k);
  }
  has(k: unknown): boolean {
    return this.map.has(k);
  }
  keys(): unknown[] {
    return [...this.map.keys()];
  }
}

/** An object the allowlist lets a pickle build (argparse.Namespace): a name and its state, never behaviour. */
export class PyObject {
  state: unknown = null;
  constructor(readonly cls: string) {}
}

/** A global named by the pickle and on the allowlist: `call` builds plain data from the arguments. */
export interface Global {
  readonly name: string;
  call?(args: unknown[]): unknown | Promise<unknown>;
}

export type Allowlist = Record<string, (name: string) => Global>;

export const UNPICKLE_LIMITS = {
  /** Bytes payloads up to this size are read into memory; larger ones stay in the file as BytesRef. */
  inlineBytes: 1 << 20,
  /** Strings (keys, names, embedded module source). */
  stringBytes: 64 << 20,
  memo: 5_000_000,
  stack: 1_000_000,
};

export class UnpickleError extends EngineError {
  constructor(message: string) {
    super('InputError', message);
  }
}

/** Buffered sequential reading of a ByteSource from `pos`. */
class Reader {
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;
  constructor(
    readonly src: ByteSource,
    public pos: number,
    readonly label: string,
  ) {}

  private async fill(n: number) {
    if (this.pos + n > this.src.size) throw new UnpickleError(`${this.label} ends in the middle of its data (truncated or not a checkpoint)`);
    const len = Math.min(this.src.size - this.pos, Math.max(n, 256 * 1024));
    this.buf = await this.src.read(this.pos, this.pos + len);
    this.bufStart = this.pos;
  }

  async bytes(n: number): Promise<Uint8Array> {
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) await this.fill(n);
    const o = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(o, o + n);
  }

  async byte(): Promise<number> {
    return (await this.bytes(1))[0];
  }

  async uint(n: 1 | 2 | 4 | 8): Promise<number> {
    const b = await this.bytes(n);
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + b[i];
    return v;
  }

  skip(n: number) {
    if (this.pos + n > this.src.size) throw new UnpickleError(`${this.label} ends in the middle of its data (truncated or not a checkpoint)`);
    this.pos += n;
  }

  async line(): Promise<string> {
    let s = '';
    for (;;) {
      const c = await this.byte();
      if (c === 0x0a) return s;
      s += String.fromCharCode(c);
      if (s.length > 1024) throw new UnpickleError(`${this.label}: a pickle text line is longer than 1024 bytes`);
    }
  }
}

const utf8 = new TextDecoder('utf-8');

function longFromBytes(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export interface UnpickleOptions {
  allow: Allowlist;
  /** BINPERSID: the persistent id (a tuple) -> the object (a storage). Absent: refused. */
  persistentLoad?: (pid: unknown) => unknown | Promise<unknown>;
  label: string;
  /** Checked every few thousand opcodes and at each persistent load: an abort rejects with a CancelledError. */
  signal?: AbortSignal;
}

/** Length-prefixed string opcodes (BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, BINSTRING, SHORT_BINSTRING) -> size
 * of the little-endian length in bytes. */
const STRING_OPS: Partial<Record<number, 1 | 4 | 8>> = { 0x58: 4, 0x8c: 1, 0x8d: 8, 0x54: 4, 0x55: 1 };
/** Length-prefixed byte-string opcodes (BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8) -> size of the length. */
const BYTES_OPS: Partial<Record<number, 1 | 4 | 8>> = { 0x42: 4, 0x43: 1, 0x8e: 8, 0x96: 8 };

/**
 * Reads one pickle from `src` at `start`; returns the object and the position after its STOP.
 * Every global goes through `allow` ("module.name" -> handler); anything else throws an UnpickleError naming it.
 */
export async function unpickle(src: ByteSource, start: number, opts: UnpickleOptions): Promise<{ value: unknown; end: number }> {
  const r = new Reader(src, start, opts.label);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo: unknown[] = [];
  const push = (v: unknown) => {
    if (stack.length >= UNPICKLE_LIMITS.stack) throw new UnpickleError(`${opts.label}: pickle stack too deep`);
    stack.push(v);
  };
  const pop = () => {
    if (!stack.length) throw new UnpickleError(`${opts.label}: corrupt pickle (stack underflow)`);
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) throw new UnpickleError(`${opts.label}: corrupt pickle (no mark)`);
    return stack.splice(m);
  };
  const top = () => {
    if (!stack.length) throw new UnpickleError(`${opts.label}: corrupt pickle (stack underflow)`);
    return stack[stack.length - 1];
  };
  const put = (i: number) => {
    if (i > UNPICKLE_LIMITS.memo) throw new UnpickleError(`${opts.label}: pickle memo too large`);
    memo[i] = top();
  };
  const get = (i: number) => {
    if (!(i in memo)) throw new UnpickleError(`${opts.label}: corrupt pickle (memo ${i} unset)`);
    push(memo[i]);
  };
  const global = (module: string, name: string): Global => {
    const full = `${module}.${name}`;
    const make = opts.allow[full];
    if (!make) {
      throw new UnpickleError(
        `${opts.label} names ${full}, which a checkpoint does not need; refused (only tensors, dicts, lists and numbers are read, and nothing in the file is run)`,
      );
    }
    return make(full);
  };
  const call = async (f: unknown, args: unknown) => {
    if (!(f && typeof f === 'object' && 'name' in f && typeof (f as Global).name === 'string')) {
      throw new UnpickleError(`${opts.label}: corrupt pickle (calls something that is not an allowed global)`);
    }
    const g = f as Global;
    if (!g.call) throw new UnpickleError(`${opts.label}: ${g.name} is only a type marker here; refusing to build it`);
    return g.call(Array.isArray(args) ? args : []);
  };
  const str = async (n: number) => {
    if (n > UNPICKLE_LIMITS.stringBytes) throw new UnpickleError(`${opts.label}: a pickle string of ${n} bytes; not a checkpoint`);
    return utf8.decode(await r.bytes(n));
  };
  const bytes = async (n: number): Promise<Uint8Array | BytesRef> => {
    if (n <= UNPICKLE_LIMITS.inlineBytes) return (await r.bytes(n)).slice();
    const ref = new BytesRef(src, r.pos, n);
    r.skip(n);
    return ref;
  };
  const setItems = (d: unknown, items: unknown[]) => {
    if (d instanceof PyDict) for (let i = 0; i + 1 < items.length; i += 2) d.map.set(items[i], items[i + 1]);
    else throw new UnpickleError(`${opts.label}: corrupt pickle (SETITEM on a ${typeof d})`);
  };

  let ops = 0;
  for (;;) {
    if ((++ops & 0xfff) === 0 && opts.signal?.aborted) throw new EngineError('CancelledError', 'conversion cancelled');
    const op = await r.byte();
    const strLen = STRING_OPS[op];
    if (strLen) {
      push(await str(await r.uint(strLen)));
      continue;
    }
    const bytesLen = BYTES_OPS[op];
    if (bytesLen) {
      push(await bytes(await r.uint(bytesLen)));
      continue;
    }
    switch (op) {
      case 0x80: // PROTO
        if ((await r.byte()) > 5) throw new UnpickleError(`${opts.label}: pickle protocol above 5 is not read`);
        break;
      case 0x95: // FRAME
        await r.bytes(8);
        break;
      case 0x2e: // STOP
        return { value: pop(), end: r.pos };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x7d: // EMPTY_DICT
        push(new PyDict());
        break;
      case 0x5d: // EMPTY_LIST
      case 0x29: // EMPTY_TUPLE
      case 0x8f: // EMPTY_SET
        push([]);
        break;
      case 0x74: // TUPLE
      case 0x6c: // LIST
      case 0x91: // FROZENSET
        push(popMark());
        break;
      case 0x85:
        push([pop()]);
        break;
      case 0x86: {
        const b = pop();
        push([pop(), b]);
        break;
      }
      case 0x87: {
        const c = pop();
        const b = pop();
        push([pop(), b, c]);
        break;
      }
      case 0x64: {
        // DICT
        const d = new PyDict();
        setItems(d, popMark());
        push(d);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) throw new UnpickleError(`${opts.label}: corrupt pickle (APPEND to a non-list)`);
        l.push(v);
        break;
      }
      case 0x65: // APPENDS
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) throw new UnpickleError(`${opts.label}: corrupt pickle (APPENDS to a non-list)`);
        for (const v of items) l.push(v);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x4a: {
        const b = await r.bytes(4);
        push(new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true));
        break;
      }
      case 0x4b:
        push(await r.byte());
        break;
      case 0x4d:
        push(await r.uint(2));
        break;
      case 0x8a:
        push(longFromBytes(await r.bytes(await r.byte())));
        break;
      case 0x8b: {
        const n = await r.uint(4);
        if (n > 64) throw new UnpickleError(`${opts.label}: a ${n}-byte integer; not a checkpoint`);
        push(longFromBytes(await r.bytes(n)));
        break;
      }
      case 0x49: {
        // INT (text): also True/False as 01/00
        const s = await r.line();
        push(s === '01' ? true : s === '00' ? false : Number(s));
        break;
      }
      case 0x4c: // LONG (text)
        push(Number((await r.line()).replace(/L$/, '')));
        break;
      case 0x47: {
        const b = await r.bytes(8);
        push(new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, false));
        break;
      }
      case 0x4e:
        push(null);
        break;
      case 0x88:
        push(true);
        break;
      case 0x89:
        push(false);
        break;
      case 0x71:
        put(await r.byte());
        break;
      case 0x72:
        put(await r.uint(4));
        break;
      case 0x94:
        put(memo.length);
        break;
      case 0x70:
        put(Number(await r.line()));
        break;
      case 0x68:
        get(await r.byte());
        break;
      case 0x6a:
        get(await r.uint(4));
        break;
      case 0x67:
        get(Number(await r.line()));
        break;
      case 0x63: {
        // GLOBAL
        const module = await r.line();
        push(global(module, await r.line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new UnpickleError(`${opts.label}: corrupt pickle (STACK_GLOBAL)`);
        push(global(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const f = pop();
        push(await call(f, args));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args)
        const args = pop();
        const cls = pop();
        push(await call(cls, args));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        pop();
        const args = pop();
        const cls = pop();
        push(await call(cls, args));
        break;
      }
      case 0x62: {
        // BUILD: state onto the object (data only: a dict's items, an object's state)
        const state = pop();
        const obj = top();
        if (obj instanceof PyObject) obj.state = state;
        else if (obj instanceof PyDict && state instanceof PyDict) for (const [k, v] of state.map) obj.map.set(k, v);
        else if (obj && typeof obj === 'object' && 'setState' in obj) (obj as { setState(s: unknown): void }).setState(state);
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) throw new UnpickleError(`${opts.label}: a persistent reference where none is expected`);
        if (opts.signal?.aborted) throw new EngineError('CancelledError', 'conversion cancelled');
        push(await opts.persistentLoad(pid));
        break;
      }
      default:
        throw new UnpickleError(
          `${opts.label}: pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${r.pos - 1} is not read here (corrupt, or not a checkpoint)`,
        );
    }
  }
}
