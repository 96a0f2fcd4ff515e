/**
 * The image worker (src/worker/image.worker.ts): every pixel operation on the user's photo runs there, so the page
 * only draws. The worker keeps the decoded photo (at working resolution) under an id; the page holds the id and
 * gets back only what it shows (the pack's R x R input, a ≤ 720 px view, composites) or saves (a PNG).
 */
import type { Alignment, Point } from '../image/align';
import type { DetectedFace } from '../image/faces-core';
import type { PasteSpec } from '../image/photo';
import type { DecodeErrorCode, RGBAImage } from '../image/types';

export type { Alignment, DetectedFace, PasteSpec, Point, RGBAImage };

/** A photo the worker holds. */
export interface HeldPhoto {
  id: number;
  /** Decoded (working) size, EXIF-oriented, possibly downscaled. Face boxes and landmarks are in these pixels. */
  width: number;
  height: number;
  /** Size of the file's image before any downscale. */
  sourceSize: [number, number];
  /** What was done to it (downscaled, rotated, transparency filled). */
  notes: string[];
}

export type OpenResult = { ok: true; photo: HeldPhoto } | { ok: false; code: DecodeErrorCode; message: string };

/**
 * The error name of a call with a photo id the worker does not hold: the worker was restarted after a crash (ids are
 * random per worker) or the photo was released. The page reopens its kept file once (state/photo.withSourcePhoto).
 */
export const PHOTO_GONE = 'PhotoGoneError';

export interface ImageApi {
  /** Decodes a file (type sniffed, limits, EXIF orientation, downscaled by the decoder) and keeps it; never throws for bad input. */
  open(file: Blob, name: string): Promise<OpenResult>;
  /** Faces (largest first) with 68 landmarks in photo pixels; face-api is loaded on first use. */
  detectFaces(id: number): Promise<DetectedFace[]>;
  /** The photo downscaled to at most `maxSide` (the face picker). */
  view(id: number, maxSide: number): Promise<RGBAImage>;
  /** The pack's R x R input: the aligned crop, or the centre square when `alignment` is null. */
  modelInput(id: number, R: number, alignment: Alignment | null): Promise<RGBAImage>;
  /** `frame` pasted back into the photo downscaled to at most `maxSide` ("In the photo"). */
  previewPaste(id: number, frame: RGBAImage, paste: PasteSpec, maxSide: number): Promise<RGBAImage>;
  /** `frame` pasted back into the full photo. */
  paste(id: number, frame: RGBAImage, paste: PasteSpec): Promise<RGBAImage>;
  /** A PNG of `frame` pasted into photo `id` (when `into` is given), else of `frame` itself. */
  png(frame: RGBAImage, into: { id: number; paste: PasteSpec } | null): Promise<Blob>;
  /** The decoded photo's pixels (tests). */
  pixels(id: number): Promise<RGBAImage>;
  /** Frees a photo the page no longer uses. */
  release(id: number): Promise<void>;
}
