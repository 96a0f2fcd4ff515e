/**
 * The photo flow: a dropped / pasted / picked / sample file → decode → (landmark packs) face detection → face
 * choice → alignment to the pack's R x R → handed to the engine, and a fresh inversion starts. On any failure (and
 * while a face is being chosen) the current photo and edits stay.
 */
import { decodeImage } from '../image/decode';
import { centerSquare, resizeRGBA } from '../image/tensor';
import { alignFace, alignmentForWholeImage, alignmentFromLandmarks } from '../image/align';
import { pickDefaultFace } from '../image/faces-core';
import type { RGBAImage } from '../image/types';
import { getEngine } from '../worker/client';
import type { SliderValues } from '../worker/protocol';
import { errorInfo, reportError } from './errors';
import { cancelInversion, invert } from './inversion';
import { get, pushBanner, restPhase, set, zeroSliders, type CropInfo, type SourcePhoto } from './store';

/** Longest side of the photo shown in the face picker and in the "In the photo" view. */
export const PHOTO_VIEW = 720;

/** Centre square, area-averaged down to the pack's resolution (alignment 'none'). */
export function toModelFrame(img: RGBAImage, R: number): RGBAImage {
  return resizeRGBA(centerSquare(img), R, R);
}

/** `img` downscaled to at most `maxSide` on its longer side (itself when already smaller). */
export function viewOf(img: RGBAImage, maxSide = PHOTO_VIEW): RGBAImage {
  const k = Math.min(1, maxSide / Math.max(img.width, img.height));
  return k < 1 ? resizeRGBA(img, Math.max(1, Math.round(img.width * k)), Math.max(1, Math.round(img.height * k))) : img;
}

/**
 * Opens a file. `aligned`: the image is already a model-aligned face (the pack's own samples). Before a pack has
 * loaded, the file is queued and opened once one does.
 */
export async function openImage(blob: Blob, name: string, opts: { aligned?: boolean } = {}) {
  const s = get();
  if (!s.pack) {
    set({ queuedOpen: { blob, name } });
    if (s.phase === 'failed') pushBanner('warning', 'No model loaded', 'The photo will open once a model pack loads.');
    return;
  }
  if (s.phase === 'inverting') await cancelInversion();
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
      set({ source: photo });
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
    set({ pendingPhoto: photo });
    if (photo.faces.length === 1 && !error) {
      await chooseFace(0);
      return;
    }
    set({
      facePick: { name, size: [res.image.width, res.image.height], view: viewOf(res.image), faces: photo.faces, selected: pickDefaultFace(photo.faces), error },
      phase: 'picking-face',
    });
  } catch (e) {
    set({ phase: before });
    reportError(e);
  }
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

export function selectFace(i: number) {
  const fp = get().facePick;
  if (fp && i >= 0 && i < fp.faces.length) set({ facePick: { ...fp, selected: i } });
}

/** Leave the face picker without changing the current photo. */
export function cancelFacePick() {
  set({ pendingPhoto: null, facePick: null, phase: get().reconstruction ? 'inverted' : 'ready' });
}

/** Back to the face picker for the current photo (several faces). */
export function pickAnotherFace() {
  const s = get();
  const src = s.source;
  if (!src || src.faces.length < 2 || s.phase === 'inverting') return;
  const img = src.image;
  set({
    pendingPhoto: src,
    facePick: { name: src.name, size: [img.width, img.height], view: viewOf(img), faces: src.faces, selected: s.crop?.faceIndex ?? pickDefaultFace(src.faces) },
    phase: 'picking-face',
  });
}

/** Aligns face `i` of the pending photo (or the whole image when i is null) to the pack resolution and inverts it. */
export async function chooseFace(i: number | null) {
  const s = get();
  const p = s.pendingPhoto;
  if (!p || !s.pack) return;
  const R = s.pack.resolution;
  try {
    const face = i === null ? null : p.faces[i];
    const alignment = face ? alignmentFromLandmarks(face.landmarks, R) : alignmentForWholeImage(p.image.width, p.image.height, R);
    const frame = alignFace(p.image, alignment);
    set({ pendingPhoto: null, source: p });
    await beginEditing(frame, p, { alignment, landmarks: face ? face.landmarks : null, faceIndex: face ? i : null, faceCount: p.faces.length });
  } catch (e) {
    set({ facePick: null, phase: restPhase(get().phase) });
    reportError(e);
  }
}

/** Hands the model-sized frame to the engine and (unless `invert: false`) starts a fresh inversion. */
export async function beginEditing(frame: RGBAImage, p: SourcePhoto, crop: CropInfo | null, opts: { invert?: boolean; sliders?: SliderValues } = {}) {
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
