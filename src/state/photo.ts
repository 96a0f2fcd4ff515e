/**
 * The photo flow: a dropped / pasted / picked / sample file → decode → (landmark packs) face detection → face
 * choice → the pack's R x R input → handed to the engine, and a fresh inversion starts. The pixel work (decode,
 * detection, alignment, views) runs in the image worker; this module only moves ids and small images. On any
 * failure (and while a face is being chosen) the current photo and edits stay.
 */
import { alignmentForWholeImage, alignmentFromLandmarks } from '../image/align';
import { pickDefaultFace } from '../image/faces-core';
import type { RGBAImage } from '../image/types';
import { getEngine } from '../worker/client';
import { getImageWorker, PHOTO_GONE } from '../worker/imageClient';
import type { SliderValues } from '../worker/protocol';
import { errorInfo, reportError } from './errors';
import { cancelInversion, invert } from './inversion';
import { get, pushBanner, restPhase, set, zeroSliders, type CropInfo, type SourcePhoto } from './store';

/** Longest side of the photo shown in the face picker and in the "In the photo" view. */
export const PHOTO_VIEW = 720;

/**
 * Sets the source / pending photo and frees, in the image worker, every photo neither of them refers to any more.
 */
export function adoptPhotos(next: { source?: SourcePhoto | null; pendingPhoto?: SourcePhoto | null }) {
  const before = [get().source, get().pendingPhoto];
  set(next);
  const kept = [get().source?.id, get().pendingPhoto?.id];
  for (const p of before) if (p && !kept.includes(p.id)) void getImageWorker().release(p.id);
}

/**
 * Runs `call` on the source photo in the image worker. When that worker was restarted since the photo was opened (it
 * crashed, and the new one holds no photo), the kept file is decoded again once, becomes the source under its new
 * id, and the call is retried; the crop stays valid (same file, same decoded size). Null without a source photo.
 */
export async function withSourcePhoto<T>(call: (id: number) => Promise<T>): Promise<T | null> {
  const src = get().source;
  if (!src) return null;
  try {
    return await call(src.id);
  } catch (e) {
    if (errorInfo(e).name !== PHOTO_GONE) throw e;
    const res = await decodePhoto(src.blob, src.name, src.faces);
    if ('refused' in res) throw e;
    if (get().source !== src) {
      void getImageWorker().release(res.id); // another photo was opened meanwhile
      throw e;
    }
    const again: SourcePhoto = { ...src, id: res.id };
    adoptPhotos({ source: again });
    return call(again.id);
  }
}

/** Decodes a file in the image worker; a refusal comes back as its message (nothing is kept then). */
export async function decodePhoto(blob: Blob, name: string, faces: SourcePhoto['faces'] = []): Promise<SourcePhoto | { refused: string }> {
  const res = await getImageWorker().open(blob, name);
  if (!res.ok) return { refused: res.message };
  const h = res.photo;
  return { id: h.id, blob, name, notes: h.notes, size: h.sourceSize, width: h.width, height: h.height, faces };
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
  const images = getImageWorker();
  let photo: SourcePhoto | null = null;
  try {
    const res = await decodePhoto(blob, name);
    if ('refused' in res) {
      pushBanner('error', `Cannot open “${name}”`, res.refused);
      set({ phase: before });
      return;
    }
    photo = res;
    if (s.pack.alignment !== 'ffhq-landmarks' || opts.aligned) {
      // alignment 'none': centre square, as the pack expects
      const frame = await images.modelInput(photo.id, s.pack.resolution, null);
      adoptPhotos({ source: photo });
      await beginEditing(frame, photo, null);
      return;
    }
    set({ phase: 'detecting' });
    let error: string | undefined;
    try {
      photo.faces = await images.detectFaces(photo.id);
    } catch (e) {
      error = errorInfo(e).message;
    }
    adoptPhotos({ pendingPhoto: photo });
    if (photo.faces.length === 1 && !error) {
      await chooseFace(0);
      return;
    }
    const view = await images.view(photo.id, PHOTO_VIEW);
    set({
      facePick: { name, size: [photo.width, photo.height], view, faces: photo.faces, selected: pickDefaultFace(photo.faces), error },
      phase: 'picking-face',
    });
  } catch (e) {
    if (photo && get().source !== photo && get().pendingPhoto !== photo) void images.release(photo.id);
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
  adoptPhotos({ pendingPhoto: null });
  set({ facePick: null, phase: get().reconstruction ? 'inverted' : 'ready' });
}

/** Back to the face picker for the current photo (several faces). */
export async function pickAnotherFace() {
  const s = get();
  const src = s.source;
  if (!src || src.faces.length < 2 || s.phase === 'inverting') return;
  try {
    const view = await withSourcePhoto((id) => getImageWorker().view(id, PHOTO_VIEW));
    const current = get().source; // src, or the same file reopened under a new id
    if (!view || current?.blob !== src.blob) return;
    adoptPhotos({ pendingPhoto: current });
    set({
      facePick: { name: src.name, size: [src.width, src.height], view, faces: src.faces, selected: s.crop?.faceIndex ?? pickDefaultFace(src.faces) },
      phase: 'picking-face',
    });
  } catch (e) {
    reportError(e);
  }
}

/** Where face `i` (or the whole image, when null) of `p` lies in the photo, for a pack of resolution R. */
export function cropFor(p: SourcePhoto, i: number | null, R: number): CropInfo {
  const face = i === null ? null : p.faces[i];
  const alignment = face ? alignmentFromLandmarks(face.landmarks, R) : alignmentForWholeImage(p.width, p.height, R);
  return { alignment, landmarks: face ? face.landmarks : null, faceIndex: face ? i : null, faceCount: p.faces.length };
}

/** Aligns face `i` of the pending photo (or the whole image when i is null) to the pack resolution and inverts it. */
export async function chooseFace(i: number | null) {
  const s = get();
  const p = s.pendingPhoto;
  if (!p || !s.pack) return;
  try {
    const crop = cropFor(p, i, s.pack.resolution);
    const frame = await getImageWorker().modelInput(p.id, s.pack.resolution, crop.alignment);
    adoptPhotos({ pendingPhoto: null, source: p });
    await beginEditing(frame, p, crop);
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
