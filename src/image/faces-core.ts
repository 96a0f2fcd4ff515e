/**
 * Pure parts of face detection (no tfjs): result type, crop geometry for the landmark net, default choice,
 * messages. Unit-tested in Node.
 */
import type { Point } from './align';

export interface DetectedFace {
  /** Detector box in photo pixels. */
  box: { x: number; y: number; width: number; height: number };
  /** Detector confidence 0..1. */
  score: number;
  /** 68 landmarks (iBUG order) in photo pixel coordinates. */
  landmarks: Point[];
}

/**
 * Square crop (integer pixels) centred on a detector box with side max(w, h): what face-api's landmark net
 * sees after its own centred pad-to-square, but filled with real pixels instead of black. May extend past the
 * image (the caller clamps).
 */
export function landmarkCropBox(box: DetectedFace['box'], _W: number, _H: number): { x: number; y: number; side: number } {
  const side = Math.max(1, Math.round(Math.max(box.width, box.height)));
  const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
  return { x: Math.round(cx - side / 2), y: Math.round(cy - side / 2), side };
}

/** Index of the face to preselect: the largest (faces are sorted by area, but don't rely on it). */
export function pickDefaultFace(faces: DetectedFace[]): number {
  let best = -1, area = -1;
  faces.forEach((f, i) => {
    const a = f.box.width * f.box.height;
    if (a > area) {
      area = a;
      best = i;
    }
  });
  return best;
}

export const noFaceMessage = (name = 'this photo') =>
  `No face was found in ${name}. You can use the whole image as it is (centre square), or try a photo where the face is larger, upright and well lit.`;
