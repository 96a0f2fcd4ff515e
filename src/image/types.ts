/**
 * Shared image types for src/image (pure TypeScript; usable in the main thread, a worker and Node).
 */

/** RGBA8 pixels, row-major, width*height*4 bytes. `ImageData` satisfies this shape. */
export interface RGBAImage {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/** What the bytes really are (by magic number), never by name or MIME type. */
export type ImageKind =
  | 'jpeg'
  | 'png'
  | 'gif'
  | 'webp'
  | 'bmp'
  | 'ico'
  | 'avif'
  | 'heic'
  | 'tiff'
  | 'svg'
  | 'pdf'
  | 'gzip'
  | 'zip'
  | 'text'
  | 'unknown'
  | 'empty';

/** Machine-readable reason for refusing an input. */
export type DecodeErrorCode =
  | 'empty' // zero bytes
  | 'read-failed' // the Blob could not be read
  | 'not-image' // text, PDF, archive, unknown bytes
  | 'svg' // vector image: refused on purpose
  | 'unsupported-format' // an image format this browser cannot decode (HEIC, TIFF, ...)
  | 'truncated' // the file ends before the image data does
  | 'corrupt' // header fields that make no sense
  | 'too-small' // below the minimum side length
  | 'too-large' // above the pixel / file-size limit
  | 'cmyk-unsupported' // CMYK/YCCK JPEG the browser failed to decode
  | 'decode-failed'; // the browser's decoder rejected it

export interface DecodeFailure {
  ok: false;
  code: DecodeErrorCode;
  /** One or two sentences a person understands, naming the problem and what to do. */
  message: string;
  kind?: ImageKind;
}

export interface DecodeSuccess {
  ok: true;
  /** Decoded, EXIF-oriented, alpha composited on neutral grey, possibly downscaled. Alpha is 255 everywhere. */
  image: RGBAImage;
  width: number;
  height: number;
  /** Size of the photo as displayed (after EXIF orientation), before any downscale. */
  sourceWidth: number;
  sourceHeight: number;
  /** EXIF orientation tag (1..8; 1 when absent). Applied exactly once to `image`. */
  orientation: number;
  /** Who applied the orientation: the browser decoder, our own code, or nobody (orientation 1). */
  orientationAppliedBy: 'browser' | 'manual' | 'none';
  kind: ImageKind;
  /** Human-readable notes about what was done to the input (downscaled, first GIF frame, ...). */
  notes: string[];
}

export type DecodeResult = DecodeSuccess | DecodeFailure;
