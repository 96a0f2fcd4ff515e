/**
 * The edited face pasted back into the photo (landmark-aligned packs): the "In the photo" view on a copy of the
 * photo downscaled to PHOTO_VIEW px, and the full-resolution result that "Download full photo" saves.
 */
import { alignmentFromQuad, pasteBack, type Point } from '../image/align';
import type { RGBAImage } from '../image/types';
import { PHOTO_VIEW, viewOf } from './photo';
import { get, set } from './store';

/**
 * The paste-back of frame `f` on the downscaled photo: the quad and landmarks are scaled with it, so this costs a
 * few ms per slider frame instead of a full-resolution pass. Null without a landmark crop.
 */
export async function compositePreview(f: RGBAImage | null): Promise<RGBAImage | null> {
  const s = get();
  const src = s.source;
  if (!f || !s.crop || !src) return null;
  const img = src.image;
  let view = src.view;
  if (!view) {
    view = viewOf(img, PHOTO_VIEW);
    set({ source: { ...src, view } });
  }
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
  if (!f || !s.crop || !s.source) return null;
  return pasteBack(s.source.image, f, s.crop.alignment, s.crop.landmarks ? { landmarks: s.crop.landmarks } : {});
}

/** Saves the result as a PNG: the full photo with the edit pasted back, else the edited frame. */
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
