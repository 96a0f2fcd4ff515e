/// <reference lib="webworker" />
/**
 * Image worker: decodes photos and does every pixel operation on them (src/image's pure functions), off the page's
 * thread, so neither a 144 MP decode nor the per-frame paste-back of "In the photo" blocks the UI. Holds the
 * decoded photos the page refers to by id; exposed with comlink (ImageApi in imageProtocol.ts).
 */
import * as Comlink from 'comlink';
import { decodeImage } from '../image/decode';
import { downscaleTo, modelInput, pasteInto, pasteIntoView } from '../image/photo';
import type { FaceDetector } from '../image/faces';
import type { RGBAImage } from '../image/types';
import { PHOTO_GONE, type ImageApi } from './imageProtocol';

interface Photo {
  image: RGBAImage;
  /** Downscaled copies by longest side, made on first use. */
  views: Map<number, RGBAImage>;
}

const photos = new Map<number, Photo>();
/** Ids start at a random point per worker: an id from a worker that died names no photo here. */
let lastId = crypto.getRandomValues(new Uint32Array(1))[0] * 1024;
let detector: Promise<FaceDetector> | null = null;

function photo(id: number): Photo {
  const p = photos.get(id);
  if (!p) throw Object.assign(new Error('the image worker was restarted and no longer holds the photo: drop the photo again'), { name: PHOTO_GONE });
  return p;
}

function viewOf(p: Photo, maxSide: number): RGBAImage {
  let v = p.views.get(maxSide);
  if (!v) p.views.set(maxSide, (v = downscaleTo(p.image, maxSide)));
  return v;
}

/** An image the worker made for the reply: its pixels move to the page (no copy). */
const give = (img: RGBAImage) => Comlink.transfer({ width: img.width, height: img.height, data: img.data }, [img.data.buffer]);
/** An image the worker keeps (the photo, a cached view): the page gets a copy. */
const copy = (img: RGBAImage) => give({ width: img.width, height: img.height, data: img.data.slice() });

async function encodePng(img: RGBAImage): Promise<Blob> {
  const c = new OffscreenCanvas(img.width, img.height);
  c.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
  return c.convertToBlob({ type: 'image/png' });
}

const api: ImageApi = {
  async open(file, name) {
    const res = await decodeImage(file, { name });
    if (!res.ok) return { ok: false, code: res.code, message: res.message };
    const id = ++lastId;
    photos.set(id, { image: { width: res.image.width, height: res.image.height, data: res.image.data }, views: new Map() });
    return { ok: true, photo: { id, width: res.width, height: res.height, sourceSize: [res.sourceWidth, res.sourceHeight], notes: res.notes } };
  },
  async detectFaces(id) {
    const img = photo(id).image;
    if (!detector) {
      // face-api + tfjs (~1.3 MB) only load when a pack asks for landmark alignment.
      detector = import('../image/faces').then((m) => m.createFaceDetector({ inputSize: 320, detectMaxSide: 640 }));
      detector.catch(() => (detector = null));
    }
    return (await detector).detect(img);
  },
  async view(id, maxSide) {
    return copy(viewOf(photo(id), maxSide));
  },
  async modelInput(id, R, alignment) {
    return give(modelInput(photo(id).image, R, alignment));
  },
  async previewPaste(id, frame, paste, maxSide) {
    const p = photo(id);
    return give(pasteIntoView(viewOf(p, maxSide), p.image.width, p.image.height, frame, paste));
  },
  async paste(id, frame, paste) {
    return give(pasteInto(photo(id).image, frame, paste));
  },
  async png(frame, into) {
    return encodePng(into ? pasteInto(photo(into.id).image, frame, into.paste) : frame);
  },
  async pixels(id) {
    return copy(photo(id).image);
  },
  async release(id) {
    photos.delete(id);
  },
};

Comlink.expose(api);
