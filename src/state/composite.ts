/**
 * The edited face pasted back into the photo (landmark-aligned packs), computed in the image worker: the
 * "In the photo" view on a copy of the photo downscaled to PHOTO_VIEW px (latest frame wins: one request in flight,
 * only the newest waiting frame follows it), and the full-resolution result that "Download full photo" saves.
 */
import type { RGBAImage } from '../image/types';
import { getImageWorker } from '../worker/imageClient';
import { reportError } from './errors';
import { PHOTO_VIEW, withSourcePhoto } from './photo';
import { get, set, type CropInfo } from './store';

const pasteOf = (crop: CropInfo) => ({ alignment: crop.alignment, landmarks: crop.landmarks });

/**
 * Asks for `frame` pasted into the photo; the result lands in `state.inPhoto` (for the crop it was made for). While
 * one is being made, later frames replace each other and only the last is composited next.
 */
export function showInPhoto(frame: RGBAImage) {
  const s = get();
  if (!s.crop || !s.source) return;
  if (s.inPhoto.busy) {
    set({ inPhoto: { ...s.inPhoto, next: { frame, crop: s.crop } } });
    return;
  }
  void composeInPhoto(frame, s.crop);
}

async function composeInPhoto(frame: RGBAImage, crop: CropInfo) {
  if (!get().source || get().crop !== crop) return; // a frame of the previous photo
  set((s) => ({ inPhoto: { ...s.inPhoto, busy: true, next: null } }));
  try {
    const image = await withSourcePhoto((id) => getImageWorker().previewPaste(id, frame, pasteOf(crop), PHOTO_VIEW));
    if (image && get().crop === crop) set((s) => ({ inPhoto: { ...s.inPhoto, crop, image } }));
  } catch (e) {
    reportError(e);
  } finally {
    const next = get().inPhoto.next;
    set((s) => ({ inPhoto: { ...s.inPhoto, busy: false, next: null } }));
    if (next) void composeInPhoto(next.frame, next.crop);
  }
}

/** The frame a download or the full composite uses: the edit, else the reconstruction. */
const resultFrame = () => get().edited ?? get().reconstruction;

/** The edited face pasted back into the full-resolution photo (landmark-aligned packs), else null. */
export async function compositeFullPhoto(): Promise<RGBAImage | null> {
  const { crop, source } = get();
  const f = resultFrame();
  if (!f || !crop || !source) return null;
  return withSourcePhoto((id) => getImageWorker().paste(id, f, pasteOf(crop)));
}

/** Saves the result as a PNG: the full photo with the edit pasted back, else the edited frame. */
export async function downloadPng() {
  const s = get();
  const f = resultFrame();
  if (!f) return;
  try {
    const crop = s.crop;
    const blob = crop && s.source
      ? await withSourcePhoto((id) => getImageWorker().png(f, { id, paste: pasteOf(crop) }))
      : await getImageWorker().png(f, null);
    if (!blob) return;
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    const base = (s.photo?.name ?? 'face').replace(/\.[^.]+$/, '');
    a.download = `${base}-fzplus-edit.png`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } catch (e) {
    reportError(e);
  }
}
