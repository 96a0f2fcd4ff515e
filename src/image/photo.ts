/**
 * What the app does with a decoded photo, as pure functions (no DOM; the image worker hosts them): a downscaled
 * view, the pack's R x R input (centre square, or an aligned face), and the edit pasted back into the photo or into
 * a downscaled view of it.
 */
import { alignFace, alignmentFromQuad, pasteBack, type Alignment, type Point } from './align';
import { centerSquare, resizeRGBA } from './tensor';
import type { RGBAImage } from './types';

/** Where the pack's input came from in the photo, as paste-back needs it. */
export interface PasteSpec {
  alignment: Alignment;
  /** 68 landmarks in photo pixels (the face region is pasted); null = the whole crop square. */
  landmarks: Point[] | null;
}

/** `img` downscaled (area-averaged) to at most `maxSide` on its longer side; `img` itself when already smaller. */
export function downscaleTo(img: RGBAImage, maxSide: number): RGBAImage {
  const k = Math.min(1, maxSide / Math.max(img.width, img.height));
  return k < 1 ? resizeRGBA(img, Math.max(1, Math.round(img.width * k)), Math.max(1, Math.round(img.height * k))) : img;
}

/** The pack's R x R input: the aligned crop when `alignment` is given, else the centre square area-averaged to R. */
export function modelInput(img: RGBAImage, R: number, alignment: Alignment | null): RGBAImage {
  return alignment ? alignFace(img, alignment) : resizeRGBA(centerSquare(img), R, R);
}

/** The edited frame pasted back into the full photo (pixels outside the face mask bit-exact). */
export function pasteInto(img: RGBAImage, frame: RGBAImage, paste: PasteSpec): RGBAImage {
  return pasteBack(img, frame, paste.alignment, paste.landmarks ? { landmarks: paste.landmarks } : {});
}

/**
 * The same paste-back on `view`, a downscaled copy of a `fullWidth` x `fullHeight` photo: the quad and landmarks
 * are scaled with it, so a slider frame costs a few ms instead of a full-resolution pass.
 */
export function pasteIntoView(view: RGBAImage, fullWidth: number, fullHeight: number, frame: RGBAImage, paste: PasteSpec): RGBAImage {
  const kx = view.width / fullWidth, ky = view.height / fullHeight;
  const sc = (p: Point): Point => [p[0] * kx, p[1] * ky];
  const q = paste.alignment.quad;
  const al = alignmentFromQuad([sc(q[0]), sc(q[1]), sc(q[2]), sc(q[3])], paste.alignment.size);
  return pasteBack(view, frame, al, paste.landmarks ? { landmarks: paste.landmarks.map(sc) } : {});
}
