/**
 * The saved editing session's record: the source photo (original bytes), pack name, face choice, settings, slider
 * values and the codes (F/Z+ with optimizer state), kept in this browser's IndexedDB. Nothing is stored unless the
 * user presses "Save session"; "Delete" removes it. One slot: saving again replaces it.
 *
 * `serializeSession` / `parseSession` are pure (unit-tested); parse validates everything read back, so a damaged
 * or old record is refused with a message instead of breaking the app.
 */
import { SPACES, type DetectedFace, type SavedCodes, type SliderValues, type Space } from '../worker/protocol';
import type { Point } from '../image/align';
import type { Settings } from './store';

export const SESSION_VERSION = 1;

export interface SessionData {
  savedAt: number;
  pack: string;
  packTitle: string;
  /** Where the pack was loaded from: an imported pack's opfs:/ URL (absent in sessions saved before it existed). */
  packUrl?: string;
  photo: { name: string; type: string; bytes: ArrayBuffer };
  /** Face choice for landmark-aligned packs: index into `faces`, or whole image (null); absent = centre crop. */
  crop: { faceIndex: number | null; landmarks: Point[] | null } | null;
  faces: DetectedFace[];
  settings: Settings;
  sliders: SliderValues;
  codes: SavedCodes | null;
}

/** What goes into IndexedDB (structured-cloneable: typed arrays and ArrayBuffers stay binary). */
export interface SessionRecord extends SessionData {
  version: number;
}

export function serializeSession(d: SessionData): SessionRecord {
  const copyAdam = (a: { m: Float32Array; v: Float32Array; t: number }) => ({ m: a.m.slice(), v: a.v.slice(), t: a.t });
  return {
    version: SESSION_VERSION,
    savedAt: d.savedAt,
    pack: d.pack,
    packTitle: d.packTitle,
    ...(d.packUrl ? { packUrl: d.packUrl } : {}),
    photo: { name: d.photo.name, type: d.photo.type, bytes: d.photo.bytes.slice(0) },
    crop: d.crop ? { faceIndex: d.crop.faceIndex, landmarks: d.crop.landmarks?.map((p) => [p[0], p[1]] as Point) ?? null } : null,
    faces: d.faces.map((f) => ({ box: { ...f.box }, score: f.score, landmarks: f.landmarks.map((p) => [p[0], p[1]] as Point) })),
    settings: { ...d.settings, weights: [...d.settings.weights] as [number, number, number] },
    sliders: { ...d.sliders },
    codes: d.codes
      ? {
          space: d.codes.space,
          step: d.codes.step,
          f: d.codes.f?.slice() ?? null,
          fInit: d.codes.fInit?.slice() ?? null,
          code: d.codes.code.slice(),
          adamF: d.codes.adamF ? copyAdam(d.codes.adamF) : null,
          adamCode: copyAdam(d.codes.adamCode),
        }
      : null,
  };
}

export class SessionFormatError extends Error {
  name = 'SessionFormatError';
}

const isObj = (x: unknown): x is Record<string, unknown> => !!x && typeof x === 'object';
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isPoints = (x: unknown): x is Point[] => Array.isArray(x) && x.every((p) => Array.isArray(p) && p.length === 2 && isNum(p[0]) && isNum(p[1]));
const isF32 = (x: unknown): x is Float32Array => x instanceof Float32Array;
const isAdam = (x: unknown) => isObj(x) && isF32(x.m) && isF32(x.v) && isNum(x.t);

/** Validates a record read back from storage; throws SessionFormatError naming the first problem. */
export function parseSession(raw: unknown): SessionData {
  const fail = (what: string): never => {
    throw new SessionFormatError(`saved session is damaged or from another version (${what})`);
  };
  if (!isObj(raw)) return fail('not an object');
  if (raw.version !== SESSION_VERSION) fail(`version ${String(raw.version)}`);
  if (!isNum(raw.savedAt)) fail('savedAt');
  if (typeof raw.pack !== 'string' || !raw.pack) fail('pack');
  const photo = raw.photo;
  if (!isObj(photo) || typeof photo.name !== 'string' || typeof photo.type !== 'string' || !(photo.bytes instanceof ArrayBuffer) || photo.bytes.byteLength === 0) fail('photo');
  const faces = raw.faces;
  if (!Array.isArray(faces) || !faces.every((f) => isObj(f) && isObj(f.box) && isNum(f.score) && isPoints(f.landmarks))) fail('faces');
  const crop = raw.crop;
  if (crop !== null) {
    if (!isObj(crop)) fail('crop');
    const c = crop as Record<string, unknown>;
    if (!(c.faceIndex === null || (Number.isInteger(c.faceIndex) && (c.faceIndex as number) >= 0 && (c.faceIndex as number) < (faces as unknown[]).length))) fail('crop.faceIndex');
    if (!(c.landmarks === null || (isPoints(c.landmarks) && c.landmarks.length === 68))) fail('crop.landmarks');
  }
  const st = raw.settings;
  if (!isObj(st) || !SPACES.includes(st.space as Space) || !isNum(st.steps) || !isNum(st.lr) || !isNum(st.previewEvery) || !Array.isArray(st.weights) || st.weights.length !== 3 || !st.weights.every(isNum)) fail('settings');
  const sl = raw.sliders;
  if (!isObj(sl) || !Object.values(sl).every(isNum)) fail('sliders');
  const c = raw.codes;
  if (c !== null) {
    if (!isObj(c) || !SPACES.includes(c.space as Space) || !Number.isInteger(c.step) || !isF32(c.code) || !isAdam(c.adamCode)) fail('codes');
    const cc = c as Record<string, unknown>;
    const hasF = (cc.space as string).startsWith('F/');
    if (hasF && (!isF32(cc.f) || !isF32(cc.fInit) || !isAdam(cc.adamF))) fail('codes.f');
  }
  return {
    savedAt: raw.savedAt as number,
    pack: raw.pack as string,
    packTitle: typeof raw.packTitle === 'string' ? raw.packTitle : (raw.pack as string),
    ...(typeof raw.packUrl === 'string' && raw.packUrl ? { packUrl: raw.packUrl } : {}),
    photo: photo as SessionData['photo'],
    crop: crop as SessionData['crop'],
    faces: faces as DetectedFace[],
    settings: st as unknown as Settings,
    sliders: sl as SliderValues,
    codes: c as SavedCodes | null,
  };
}

// ------------------------------------------------------------------------------------------ IndexedDB

const DB = 'fzplus-studio';
const STORE = 'sessions';
const KEY = 'last';

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB is not available'));
  });
}

async function tx<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await openDb();
  try {
    return await new Promise<T>((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const r = f(t.objectStore(STORE));
      t.oncomplete = () => resolve(r.result);
      t.onerror = () => reject(t.error ?? r.error);
      t.onabort = () => reject(t.error ?? new Error('storage transaction aborted'));
    });
  } finally {
    db.close();
  }
}

export async function storeSession(d: SessionData): Promise<void> {
  await tx('readwrite', (s) => s.put(serializeSession(d), KEY));
}

/** The saved session, null when there is none; throws SessionFormatError when it cannot be used. */
export async function loadSession(): Promise<SessionData | null> {
  // Don't create the database just by looking (nothing is stored before the user saves).
  if (typeof indexedDB.databases === 'function' && !(await indexedDB.databases()).some((d) => d.name === DB)) return null;
  const raw = await tx('readonly', (s) => s.get(KEY));
  return raw === undefined ? null : parseSession(raw);
}

export async function deleteSession(): Promise<void> {
  await tx('readwrite', (s) => s.delete(KEY));
}
