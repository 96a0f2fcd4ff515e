/** Side effects: UI intents -> worker client -> store. */
import { decodeImage } from '../image/decode';
import { centerSquare, resizeRGBA } from '../image/tensor';
import { alignFace, alignmentForWholeImage, alignmentFromLandmarks, alignmentFromQuad, apply, faceRegion, pasteBack, type Point } from '../image/align';
import { pickDefaultFace } from '../image/faces-core';
import { deleteSession, loadSession, SessionFormatError, storeSession, type SessionData } from './sessions';
import type { RGBAImage } from '../image/types';
import { errorInfo, getEngine, onWorkerCrash, ortWasmPaths, proxy } from '../worker/client';
import { defaultPackStorage, storedPackId } from '../engine/packStore';
import type { BackendKind, DetectedFace, InvertProgress, LoadProgress, SliderValues } from '../worker/protocol';
import { commitSliders, get, pushBanner, redoSliders, set, undoSliders, zeroSliders, type CropInfo, type Phase, type RgbaFrame } from './store';

export interface UrlOptions {
  backend: 'auto' | BackendKind;
  pack: string | null;
  steps: number | null;
  space: string | null;
  /** false with ?warm=0: no speculative warm-up runs after a pack loads (tests, benchmarks of the cold start). */
  warm: boolean;
}

export function readUrlOptions(search = location.search): UrlOptions {
  const q = new URLSearchParams(search);
  const b = q.get('backend');
  const steps = Number(q.get('steps'));
  return {
    backend: b === 'wasm' || b === 'webgpu' ? b : 'auto',
    pack: q.get('pack'),
    steps: Number.isFinite(steps) && steps > 0 ? Math.floor(steps) : null,
    space: q.get('space'),
    warm: q.get('warm') !== '0',
  };
}

/** Packs tried in order when the URL names none: the demo model, the toolchain's reference pack, the tiny test pack. */
export const DEFAULT_PACKS = ['demo64', 'reference-64', 'tiny-test'];

const packUrl = (name: string) => new URL(`${import.meta.env.BASE_URL}models/${name}/`, location.href).href;

/** localStorage key of the pack the user chose last (a /models/ URL or an imported pack's opfs:/ URL). */
export const ACTIVE_PACK_KEY = 'fzplus.activePack';

function rememberedPack(): string | null {
  try {
    return localStorage.getItem(ACTIVE_PACK_KEY);
  } catch {
    return null;
  }
}

function forgetRememberedPack() {
  try {
    localStorage.removeItem(ACTIVE_PACK_KEY);
  } catch {
    /* storage disabled */
  }
}

/** Every pack URL `loadPack` was asked for, in order (test hook: a boot loads exactly one). */
const packLoads: string[] = [];

async function packExists(name: string): Promise<boolean> {
  try {
    const r = await fetch(packUrl(name) + 'manifest.json', { method: 'HEAD' });
    return r.ok && !(r.headers.get('content-type') ?? '').includes('text/html');
  } catch {
    return false;
  }
}

function describe(e: unknown): { title: string; message: string } {
  const { name, message } = errorInfo(e);
  const titles: Record<string, string> = {
    PackFetchError: 'Could not download the model',
    PackManifestError: 'The model pack is malformed',
    PackIntegrityError: 'The model pack is damaged',
    PackGraphError: 'A model graph failed',
    BackendError: 'No compute backend',
    DeviceLostError: 'The GPU stopped responding',
    InputError: 'This image cannot be used',
    StateError: 'Not ready yet',
  };
  return { title: titles[name] ?? 'Something went wrong', message };
}

export function reportError(e: unknown) {
  const { title, message } = describe(e);
  pushBanner('error', title, message);
}

export async function boot() {
  const opts = readUrlOptions();
  onWorkerCrash((message) => pushBanner('error', 'The engine stopped', `${message}. Your photo and edits are still shown; reload the page to continue editing.`));
  const engine = getEngine();
  try {
    set({ phase: 'booting', bootMessage: 'Starting the engine…' });
    const backend = await engine.init({ backend: opts.backend, wasmPaths: ortWasmPaths(), keepOnGpu: true });
    set({ backend });
    await engine.onBackendChange(
      proxy((b) => {
        set({ backend: b });
        if (b.note) pushBanner('warning', 'Switched to WASM', b.note);
      }),
    );
    // the pack chosen last time, loaded directly (an imported one from OPFS); else the default pack
    const remembered = opts.pack ? null : rememberedPack();
    if (!remembered || !(await loadRememberedPack(remembered))) {
      let name = opts.pack;
      if (!name) {
        for (const cand of DEFAULT_PACKS) if (await packExists(cand)) { name = cand; break; }
      }
      if (!name) throw Object.assign(new Error('no model pack found under /models/'), { name: 'PackFetchError' });
      await loadPack(packUrl(name));
    }
    const s = get().settings;
    set({ settings: { ...s, steps: opts.steps ?? s.steps, space: (get().pack?.spaces.find((x) => x === opts.space) ?? s.space) } });
    void checkSavedSession();
  } catch (e) {
    set({ phase: 'failed' });
    reportError(e);
  }
}

/**
 * Loads the remembered pack at boot. False (with a banner, and the pack forgotten) when it is no longer stored or
 * does not load: boot then loads the default pack.
 */
async function loadRememberedPack(url: string): Promise<boolean> {
  const id = storedPackId(url);
  if (id !== null) {
    const ids = await defaultPackStorage().list().catch(() => null);
    if (ids && !ids.includes(id)) {
      forgetRememberedPack();
      pushBanner('warning', 'The model used last time is gone', `The imported pack “${id}” is no longer stored in this browser (its site data may have been cleared). The default model is loaded instead; import the pack again from Models.`);
      return false;
    }
  }
  try {
    await loadPack(url);
    return true;
  } catch (e) {
    forgetRememberedPack();
    const what = id !== null ? `The imported pack “${id}”` : `The pack at ${url}`;
    pushBanner('warning', 'The model used last time could not be loaded', `${what} failed: ${errorInfo(e).message}. The default model is loaded instead.`);
    return false;
  }
}

export async function loadPack(url: string) {
  const engine = getEngine();
  packLoads.push(url);
  set({ phase: 'loading-pack', bootMessage: 'Loading the model…' });
  try {
    const pack = await engine.loadPack(
      url,
      proxy((p: LoadProgress) => {
        if (p.total) set({ bootMessage: `Loading ${p.file}: ${Math.round((100 * p.loaded) / p.total)}%` });
      }),
    );
    const backend = await engine.backend();
    set((s) => ({
      pack,
      packUrl: url,
      backend,
      phase: 'ready',
      sliders: zeroSliders(pack),
      undo: [],
      redo: [],
      settings: { ...s.settings, weights: pack.defaultWeights, space: pack.spaces.includes(s.settings.space) ? s.settings.space : pack.spaces[0] },
    }));
    // While the user picks a photo: let V8 tier the ORT wasm up (engine.warmUp; real work preempts it).
    if (readUrlOptions().warm) void engine.warmUp().catch(() => undefined);
    if (pendingOpen) {
      const p = pendingOpen;
      pendingOpen = null;
      queueMicrotask(() => void openImage(p.blob, p.name));
    }
  } catch (e) {
    // the previous pack (if any) stays usable
    set({ phase: get().pack ? (get().reconstruction ? 'inverted' : 'ready') : 'failed' });
    throw e;
  }
}

/** Centre square, area-averaged down to the pack's resolution (alignment 'none'; helper-4's src/image does the math). */
function toModelFrame(img: RGBAImage, R: number): RgbaFrame {
  return resizeRGBA(centerSquare(img), R, R);
}

let pendingOpen: { blob: Blob; name: string } | null = null;

/** The full-resolution photo being edited (landmark-aligned packs paste the edit back into it). */
export interface SourcePhoto {
  blob: Blob;
  name: string;
  image: RGBAImage;
  notes: string[];
  size: [number, number];
  faces: DetectedFace[];
}
let source: SourcePhoto | null = null;
/** A decoded photo waiting for a face choice; becomes `source` once editing starts. */
let pending: SourcePhoto | null = null;
export const currentSource = () => source;

/** Longest side of the photo shown in the face picker. */
const PICK_VIEW = 720;

/**
 * A dropped / pasted / picked / sample file. On any failure (and while a face is being chosen) the current photo
 * and edits stay. `aligned`: the image is already a model-aligned face (the pack's own samples).
 */
export async function openImage(blob: Blob, name: string, opts: { aligned?: boolean } = {}) {
  const s = get();
  if (!s.pack) {
    // still booting: open it as soon as the model is ready
    pendingOpen = { blob, name };
    if (s.phase === 'failed') pushBanner('warning', 'No model loaded', 'The photo will open once a model pack loads.');
    return;
  }
  if (s.phase === 'inverting') {
    await cancelInversion();
  }
  const before = restPhase(get().phase);
  set({ phase: 'decoding' });
  try {
    const res = await decodeImage(blob, { name });
    if (!res.ok) {
      pushBanner('error', `Cannot open “${name}”`, res.message);
      set({ phase: before });
      return;
    }
    const photo: SourcePhoto = { blob, name, image: res.image, notes: res.notes, size: [res.sourceWidth, res.sourceHeight], faces: [] };
    if (s.pack.alignment !== 'ffhq-landmarks' || opts.aligned) {
      // alignment 'none': centre square, as the pack expects
      source = photo;
      await beginEditing(toModelFrame(res.image, s.pack.resolution), photo, null);
      return;
    }
    set({ phase: 'detecting' });
    let error: string | undefined;
    try {
      photo.faces = await getEngine().detectFaces({ width: res.image.width, height: res.image.height, data: res.image.data });
    } catch (e) {
      error = errorInfo(e).message;
    }
    pending = photo;
    if (photo.faces.length === 1 && !error) {
      await chooseFace(0);
      return;
    }
    const k = Math.min(1, PICK_VIEW / Math.max(res.image.width, res.image.height));
    const view = k < 1 ? resizeRGBA(res.image, Math.max(1, Math.round(res.image.width * k)), Math.max(1, Math.round(res.image.height * k))) : res.image;
    set({
      facePick: { name, size: [res.image.width, res.image.height], view, faces: photo.faces, selected: pickDefaultFace(photo.faces), error },
      phase: 'picking-face',
    });
  } catch (e) {
    set({ phase: before });
    reportError(e);
  }
}

/** The phase to return to when a new photo is abandoned. */
function restPhase(p: Phase): Phase {
  if (p === 'decoding' || p === 'detecting' || p === 'picking-face' || p === 'inverting') return get().reconstruction ? 'inverted' : 'ready';
  return p;
}

export function selectFace(i: number) {
  const fp = get().facePick;
  if (fp && i >= 0 && i < fp.faces.length) set({ facePick: { ...fp, selected: i } });
}

/** Leave the face picker without changing the current photo. */
export function cancelFacePick() {
  pending = null;
  set({ facePick: null, phase: get().reconstruction ? 'inverted' : 'ready' });
}

/** Back to the face picker for the current photo (several faces). */
export function pickAnotherFace() {
  const s = get();
  if (!source || source.faces.length < 2 || s.phase === 'inverting') return;
  const img = source.image;
  const k = Math.min(1, PICK_VIEW / Math.max(img.width, img.height));
  const view = k < 1 ? resizeRGBA(img, Math.max(1, Math.round(img.width * k)), Math.max(1, Math.round(img.height * k))) : img;
  pending = source;
  set({ facePick: { name: source.name, size: [img.width, img.height], view, faces: source.faces, selected: s.crop?.faceIndex ?? pickDefaultFace(source.faces) }, phase: 'picking-face' });
}

/** Align face `i` of the pending photo (or the whole image when i is null) to the pack resolution and invert it. */
export async function chooseFace(i: number | null) {
  const s = get();
  const p = pending;
  if (!p || !s.pack) return;
  const R = s.pack.resolution;
  try {
    const face = i === null ? null : p.faces[i];
    const alignment = face ? alignmentFromLandmarks(face.landmarks, R) : alignmentForWholeImage(p.image.width, p.image.height, R);
    const frame = alignFace(p.image, alignment);
    pending = null;
    source = p;
    await beginEditing(frame, p, { alignment, landmarks: face ? face.landmarks : null, faceIndex: face ? i : null, faceCount: p.faces.length });
  } catch (e) {
    set({ facePick: null, phase: restPhase(get().phase) });
    reportError(e);
  }
}

/** Hands the model-sized frame to the engine and starts a fresh inversion. */
async function beginEditing(frame: RgbaFrame, p: SourcePhoto, crop: CropInfo | null, opts: { invert?: boolean; sliders?: SliderValues } = {}) {
  const s = get();
  if (!s.pack) return;
  const R = s.pack.resolution;
  await getEngine().setTarget({ width: R, height: R, data: new Uint8ClampedArray(frame.data) });
  set({
    photo: { frame, name: p.name, notes: p.notes, sourceSize: p.size },
    facePick: null,
    crop,
    reconstruction: null,
    edited: null,
    progress: null,
    curve: [],
    finalPsnr: null,
    canResume: false,
    cancelled: false,
    sliders: { ...zeroSliders(s.pack), ...(opts.sliders ?? {}) },
    undo: [],
    redo: [],
    phase: 'ready',
  });
  if (opts.invert !== false) void invert(false);
}

let previewCache: { image: RGBAImage; src: RGBAImage } | null = null;
/**
 * The same paste-back on a copy of the photo downscaled to ≤ `maxSide` (for the "in the photo" view): the quad and
 * landmarks are scaled with it, so this costs a few ms per slider frame instead of a full-resolution pass.
 */
export function compositePreview(f: RgbaFrame | null, maxSide = PICK_VIEW): RGBAImage | null {
  const s = get();
  if (!f || !s.crop || !source) return null;
  const img = source.image;
  const k = Math.min(1, maxSide / Math.max(img.width, img.height));
  if (previewCache?.src !== img) {
    previewCache = { src: img, image: k < 1 ? resizeRGBA(img, Math.max(1, Math.round(img.width * k)), Math.max(1, Math.round(img.height * k))) : img };
  }
  const view = previewCache.image;
  const kx = view.width / img.width, ky = view.height / img.height;
  const sc = (p: Point): Point => [p[0] * kx, p[1] * ky];
  const q = s.crop.alignment.quad;
  const al = alignmentFromQuad([sc(q[0]), sc(q[1]), sc(q[2]), sc(q[3])], s.crop.alignment.size);
  return pasteBack(view, f, al, s.crop.landmarks ? { landmarks: s.crop.landmarks.map(sc) } : {});
}

/** The edited face pasted back into the full-resolution photo (landmark-aligned packs), else null. */
export function compositeFullPhoto(): RGBAImage | null {
  const s = get();
  const f = s.edited ?? s.reconstruction;
  if (!f || !s.crop || !source) return null;
  return pasteBack(source.image, f, s.crop.alignment, s.crop.landmarks ? { landmarks: s.crop.landmarks } : {});
}

/** One of the pack's sample faces; `url` may be a blob: URL of an imported pack's file, hence the separate name. */
export async function openSample(url: string, name = url.split('/').pop() || 'sample') {
  try {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`HTTP ${r.status} for ${name}`);
    // the pack's own samples are already aligned faces
    await openImage(await r.blob(), name, { aligned: true });
  } catch (e) {
    reportError(e);
  }
}

const frameOf = (data: Uint8ClampedArray, R: number): RgbaFrame => ({ width: R, height: R, data });

export async function invert(resume: boolean) {
  const s = get();
  if (!s.pack || !s.photo) return;
  const R = s.pack.resolution;
  const engine = getEngine();
  set({ phase: 'inverting', cancelled: false, ...(resume ? {} : { curve: [], progress: null, finalPsnr: null, reconstruction: null, edited: null }) });
  try {
    const res = await engine.invert(
      { space: s.settings.space, steps: s.settings.steps, lr: s.settings.lr, weights: s.settings.weights, previewEvery: s.settings.previewEvery, resume },
      proxy((p: InvertProgress) => {
        set((st) => ({
          progress: p,
          curve: [...st.curve, { step: p.step, total: p.total, psnr: p.psnr }],
          ...(p.preview ? { reconstruction: frameOf(p.preview, R), edited: frameOf(p.preview, R) } : {}),
        }));
      }),
    );
    set({
      phase: 'inverted',
      reconstruction: frameOf(res.image, R),
      edited: frameOf(res.image, R),
      finalPsnr: res.psnr,
      cancelled: res.cancelled,
      canResume: true,
      lastSpace: s.settings.space,
      backend: res.backend,
    });
    // re-apply current slider values to the new codes
    const v = get().sliders;
    if (Object.values(v).some((x) => x !== 0)) await renderSliders(v);
  } catch (e) {
    set({ phase: get().reconstruction ? 'inverted' : 'ready', canResume: true, lastSpace: s.settings.space });
    reportError(e);
  }
}

export async function cancelInversion() {
  await getEngine().cancel();
}

let lastRenderToken = 0;
/** Live slider preview: the worker drops stale requests (latest wins); we also ignore out-of-order replies. */
export async function renderSliders(values: SliderValues) {
  const s = get();
  if (!s.pack || !s.reconstruction || s.phase === 'inverting') return;
  const token = ++lastRenderToken;
  set({ rendering: true });
  try {
    const r = await getEngine().render(values);
    if ('superseded' in r || token !== lastRenderToken) return;
    set({ edited: frameOf(r.image, s.pack.resolution), frameMs: r.ms, rendering: false });
  } catch (e) {
    if (token === lastRenderToken) set({ rendering: false });
    reportError(e);
  }
}

export function setSlider(id: string, value: number) {
  const next = { ...get().sliders, [id]: value };
  set({ sliders: next });
  void renderSliders(next);
}

/** Called when a drag ends: one undo entry per gesture. */
export function commitSlider(previous: SliderValues) {
  commitSliders(get().sliders, previous);
}

export function resetSliders() {
  const s = get();
  const zero = zeroSliders(s.pack);
  commitSliders(zero, s.sliders);
  set({ sliders: zero });
  void renderSliders(zero);
}

export function undo() {
  const v = undoSliders();
  if (v) void renderSliders(v);
}

export function redo() {
  const v = redoSliders();
  if (v) void renderSliders(v);
}

export async function downloadPng() {
  const s = get();
  const f = compositeFullPhoto() ?? s.edited ?? s.reconstruction;
  if (!f) return;
  const c = new OffscreenCanvas(f.width, f.height);
  c.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(f.data), f.width, f.height), 0, 0);
  const blob = await c.convertToBlob({ type: 'image/png' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  const base = (s.photo?.name ?? 'face').replace(/\.[^.]+$/, '');
  a.download = `${base}-fzplus-edit.png`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

// ------------------------------------------------------------------------------------------ sessions

/** After boot: look for a saved session and offer to restore it. */
export async function checkSavedSession() {
  try {
    const d = await loadSession();
    if (d) set({ saved: { savedAt: d.savedAt, pack: d.pack, packTitle: d.packTitle, photoName: d.photo.name, offered: !get().photo } });
  } catch (e) {
    if (e instanceof SessionFormatError) pushBanner('warning', 'Saved session cannot be restored', `${e.message}. You can delete it.`);
    set({ saved: { savedAt: 0, pack: '?', packTitle: '?', photoName: '?', offered: false } });
  }
}

/** Saves the photo, face choice, settings, sliders and codes in this browser (IndexedDB). */
export async function saveSession() {
  const s = get();
  if (!s.pack || !s.photo || !source || s.phase === 'inverting') return;
  try {
    const codes = s.reconstruction ? await getEngine().exportCodes() : null;
    const bytes = await source.blob.arrayBuffer();
    await storeSession({
      savedAt: Date.now(),
      pack: s.pack.name,
      packTitle: s.pack.title,
      ...(s.packUrl ? { packUrl: s.packUrl } : {}),
      photo: { name: source.name, type: source.blob.type, bytes },
      crop: s.crop ? { faceIndex: s.crop.faceIndex, landmarks: s.crop.landmarks } : null,
      faces: source.faces,
      settings: s.settings,
      sliders: s.sliders,
      codes,
    });
    set({ saved: { savedAt: Date.now(), pack: s.pack.name, packTitle: s.pack.title, photoName: source.name, offered: false } });
    pushBanner('info', 'Session saved', `“${source.name}”, its codes and slider values are stored in this browser only. Delete them from the Photo card.`);
  } catch (e) {
    pushBanner('error', 'Could not save the session', errorInfo(e).message);
  }
}

export async function discardSession() {
  try {
    await deleteSession();
    set({ saved: null });
  } catch (e) {
    pushBanner('error', 'Could not delete the saved session', errorInfo(e).message);
  }
}

export function dismissSessionOffer() {
  const sv = get().saved;
  if (sv) set({ saved: { ...sv, offered: false } });
}

/** Restores the saved session: its pack (loaded if another one is active), photo, face, settings, codes and sliders. */
export async function restoreSession() {
  let d: SessionData | null;
  try {
    d = await loadSession();
  } catch (e) {
    reportError(e);
    return;
  }
  if (!d) {
    set({ saved: null });
    return;
  }
  dismissSessionOffer();
  try {
    if (get().phase === 'inverting') await cancelInversion();
    // an imported pack is restored from where it is stored (opfs:), a bundled one from /models/<name>/
    const url = d.packUrl && storedPackId(d.packUrl) !== null ? d.packUrl : packUrl(d.pack);
    if (get().pack?.name !== d.pack || get().packUrl !== url) await loadPack(url);
    const pack = get().pack!;
    const blob = new Blob([d.photo.bytes], { type: d.photo.type });
    const res = await decodeImage(blob, { name: d.photo.name });
    if (!res.ok) throw Object.assign(new Error(res.message), { name: 'InputError' });
    const photo: SourcePhoto = { blob, name: d.photo.name, image: res.image, notes: res.notes, size: [res.sourceWidth, res.sourceHeight], faces: d.faces };
    const R = pack.resolution;
    let frame: RgbaFrame;
    let crop: CropInfo | null = null;
    if (d.crop && pack.alignment === 'ffhq-landmarks') {
      const lm = d.crop.landmarks;
      const alignment = lm ? alignmentFromLandmarks(lm, R) : alignmentForWholeImage(res.image.width, res.image.height, R);
      frame = alignFace(res.image, alignment);
      crop = { alignment, landmarks: lm, faceIndex: d.crop.faceIndex, faceCount: d.faces.length };
    } else {
      frame = toModelFrame(res.image, R);
    }
    source = photo;
    pending = null;
    set({ settings: { ...d.settings, space: pack.spaces.includes(d.settings.space) ? d.settings.space : pack.spaces[0] } });
    await beginEditing(frame, photo, crop, { invert: !d.codes, sliders: d.sliders });
    if (!d.codes) return;
    const r = await getEngine().importCodes(d.codes);
    set({
      phase: 'inverted',
      reconstruction: frameOf(r.image, R),
      edited: frameOf(r.image, R),
      finalPsnr: r.psnr,
      progress: { step: r.steps, totalSteps: Math.max(r.steps, get().settings.steps), loss: [NaN, NaN, NaN], total: NaN, psnr: r.psnr, msPerStep: NaN },
      canResume: true,
      lastSpace: r.space,
      settings: { ...get().settings, space: r.space },
    });
    const v = get().sliders;
    if (Object.values(v).some((x) => x !== 0)) await renderSliders(v);
  } catch (e) {
    set({ phase: restPhase(get().phase) });
    reportError(e);
  }
}

/** Test hooks (used by e2e): simulate a GPU device loss. Harmless in production. */
export function installDebugHooks() {
  (globalThis as unknown as { __fzplus?: unknown }).__fzplus = {
    loseDevice: () => getEngine().simulateDeviceLoss(),
    state: () => get(),
    /** Pack URLs loaded since the page opened, in order. */
    packLoads: () => [...packLoads],
    /** Full-resolution original and the pasted-back result, plus the face polygon in photo pixels. */
    composite: () => {
      const s = get();
      const out = compositeFullPhoto();
      if (!out || !source || !s.crop) return null;
      const al = s.crop.alignment;
      const R = al.size;
      const polyCrop: Point[] = s.crop.landmarks ? faceRegion(s.crop.landmarks, al) : [[0, 0], [0, R], [R, R], [R, 0]];
      return { original: source.image, result: out, poly: polyCrop.map((q) => apply(al.toPhoto, q)) };
    },
  };
}
