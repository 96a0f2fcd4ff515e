/**
 * One call for the app/worker (helper-4 → helper-3 integration point): from a decoded photo to the square crop
 * the model inverts, following the pack's `alignment`, plus everything paste-back needs later.
 *
 *   const det = await createFaceDetector();             // once, lazily, only for 'ffhq-landmarks' packs
 *   const p = await prepareFace(photo, pack.alignment, pack.resolution, det);
 *   if (p.kind === 'no-face') show(p.message) and offer prepareFace(photo, 'none', R)   // whole image as it is
 *   engine.setTarget(p.crop)                            // R x R RGBA
 *   ... user picks another face: prepareFace(photo, 'ffhq-landmarks', R, det, { faceIndex, faces: p.faces })
 *   const full = pasteBack(photo, editedRgbaRxR, p.alignment, { landmarks: p.landmarks })   // full-size download
 */
import { alignFace, alignmentForWholeImage, alignmentFromLandmarks, type Alignment, type Point } from './align';
import { pickDefaultFace, noFaceMessage, type DetectedFace } from './faces-core';
import type { RGBAImage } from './types';

export interface FaceFinder {
  detect(image: RGBAImage): Promise<DetectedFace[]>;
}

export type Prepared =
  | { kind: 'aligned'; crop: RGBAImage; alignment: Alignment; landmarks: Point[]; faces: DetectedFace[]; faceIndex: number }
  | { kind: 'whole-image'; crop: RGBAImage; alignment: Alignment; landmarks?: undefined; faces: DetectedFace[]; faceIndex: -1 }
  | { kind: 'no-face'; message: string; faces: DetectedFace[] };

export async function prepareFace(
  photo: RGBAImage,
  mode: 'none' | 'ffhq-landmarks',
  resolution: number,
  finder?: FaceFinder,
  opts: { faceIndex?: number; faces?: DetectedFace[]; name?: string } = {},
): Promise<Prepared> {
  if (mode === 'none') {
    const alignment = alignmentForWholeImage(photo.width, photo.height, resolution);
    return { kind: 'whole-image', crop: alignFace(photo, alignment), alignment, faces: [], faceIndex: -1 };
  }
  if (!finder && !opts.faces) throw new Error("prepareFace: a face detector is needed for 'ffhq-landmarks'");
  const faces = opts.faces ?? (await finder!.detect(photo));
  if (faces.length === 0) return { kind: 'no-face', message: noFaceMessage(opts.name ? `“${opts.name}”` : undefined), faces };
  const faceIndex = opts.faceIndex ?? pickDefaultFace(faces);
  const face = faces[faceIndex];
  if (!face) throw new Error(`prepareFace: no face #${faceIndex} (found ${faces.length})`);
  const alignment = alignmentFromLandmarks(face.landmarks, resolution);
  return { kind: 'aligned', crop: alignFace(photo, alignment), alignment, landmarks: face.landmarks, faces, faceIndex };
}
