/**
 * The drop flow: whatever lands on the page (files, a link, text) gets an answer, and the browser never navigates
 * away. One file opens as the photo; of several, the first image opens and a note names the others; a link is never
 * downloaded (nothing leaves this device), except an image on this very site (a sample face dragged from the page);
 * text gets "drop an image file". `decideDrop` is pure (tested in Node); `handleDrop` acts on its answer.
 */
import { openImage, openSample } from './photo';
import { pushBanner } from './store';

/** What a drop carried, as read from its DataTransfer. */
export interface DroppedItems {
  files: File[];
  /** text/uri-list's first URL, when the drop carried a link (or an image dragged from a page). */
  uri?: string;
  /** text/plain. */
  text?: string;
}

export type DropDecision =
  | { kind: 'open'; file: File; ignored: File[] }
  | { kind: 'open-url'; url: string; name: string }
  | { kind: 'refuse'; title: string; message: string };

const IMAGE_EXT = /\.(jpe?g|jfif|png|apng|gif|webp|bmp|ico|avif|heic|heif|tiff?)$/i;

const looksLikeImage = (f: File) => f.type.startsWith('image/') || IMAGE_EXT.test(f.name);

/** A URL-looking drop: the uri-list entry, or text that is a single http(s)/data/blob URL. */
function urlOf(d: DroppedItems): URL | null {
  const raw = (d.uri ?? '').trim() || (/^\s*(https?:|data:|blob:)\S+\s*$/i.test(d.text ?? '') ? d.text!.trim() : '');
  if (!raw) return null;
  try {
    return new URL(raw);
  } catch {
    return null;
  }
}

const shortUrl = (u: URL) => {
  const s = u.protocol === 'data:' ? `${u.href.slice(0, 30)}…` : u.href;
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
};

/** What to do with a drop; `origin` is the page's own origin (a same-site image URL may be opened). */
export function decideDrop(d: DroppedItems, origin: string): DropDecision {
  if (d.files.length) {
    const file = d.files.find(looksLikeImage) ?? d.files[0];
    return { kind: 'open', file, ignored: d.files.filter((f) => f !== file) };
  }
  const url = urlOf(d);
  if (url) {
    const image = IMAGE_EXT.test(url.pathname) || /^data:image\//i.test(url.href);
    const sameSite = url.origin === origin || (url.protocol === 'blob:' && url.href.startsWith(`blob:${origin}/`));
    if (sameSite && (image || url.protocol === 'blob:')) return { kind: 'open-url', url: url.href, name: url.pathname.split('/').pop() || 'image' };
    if (image) {
      return {
        kind: 'refuse',
        title: 'Links are not downloaded',
        message: `“${shortUrl(url)}” is a link to an image. F/Z+ Studio never downloads anything: nothing leaves this device, and nothing is fetched from other sites. Save the image to your device, then drop the file here.`,
      };
    }
    return { kind: 'refuse', title: 'Not an image file', message: `“${shortUrl(url)}” is a link, not an image file. Drop an image file (JPEG, PNG or WebP) to open it.` };
  }
  return { kind: 'refuse', title: 'Not an image file', message: 'That was text, not a file. Drop an image file (JPEG, PNG or WebP) to open it.' };
}

/** Acts on a drop: opens the photo (saying which, and which were ignored) or explains the refusal. */
export async function handleDrop(d: DroppedItems) {
  const decision = decideDrop(d, location.origin);
  if (decision.kind === 'refuse') return pushBanner('warning', decision.title, decision.message);
  if (decision.kind === 'open-url') return openSample(decision.url, decision.name);
  const { file, ignored } = decision;
  if (ignored.length) {
    const names = ignored.slice(0, 3).map((f) => `“${f.name}”`).join(', ') + (ignored.length > 3 ? ` and ${ignored.length - 3} more` : '');
    pushBanner('info', `Opened “${file.name}”`, `${ignored.length} other ${ignored.length === 1 ? 'file was' : 'files were'} ignored (${names}): the editor works on one photo at a time.`);
  }
  await openImage(file, file.name);
}
