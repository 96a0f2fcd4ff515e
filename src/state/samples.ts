/**
 * Sample faces of a pack as <img> sources. A bundled pack's samples are plain URLs; an imported pack's arrive as
 * opfs:/ URLs, which <img> and fetch cannot read, so they are shown through blob: URLs of the stored files (read by
 * the import worker; the CSP allows blob: for img-src and connect-src). Whoever shows them owns those URLs and
 * revokes them (src/app/sampleUrls.ts does it when the pack changes or the component unmounts).
 */
import { getImporter, storedPackId, storedPackUrl } from '../worker/importClient';

export interface Sample {
  /** What <img src> and openSample() read. */
  src: string;
  /** The sample's file name (for the photo caption and the saved session). */
  name: string;
}

export interface ObjectUrls {
  createObjectURL(b: Blob): string;
  revokeObjectURL(u: string): void;
}

/** Reads one file of a stored pack. */
export type StoredFileReader = (id: string, path: string) => Promise<Uint8Array>;

export const readStoredFile: StoredFileReader = (id, path) => getImporter().readStored(id, path);

export const sampleName = (u: string) => decodeURIComponent(u.split(/[?#]/)[0].split('/').pop() || 'sample');
const mimeOf = (u: string) => (/\.jpe?g$/i.test(u) ? 'image/jpeg' : /\.webp$/i.test(u) ? 'image/webp' : 'image/png');
export const isStoredSample = (u: string) => storedPackId(u) !== null;

/**
 * Reads the stored samples and makes one blob: URL each (a sample the pack lacks is left out); `revoke()` frees
 * exactly the URLs made here.
 */
export async function resolveSampleUrls(samples: readonly string[], read: StoredFileReader = readStoredFile, urls: ObjectUrls = URL): Promise<{ samples: Sample[]; revoke(): void }> {
  const made: string[] = [];
  const out: Sample[] = [];
  for (const u of samples) {
    const id = storedPackId(u);
    if (id === null) {
      out.push({ src: u, name: sampleName(u) });
      continue;
    }
    try {
      const data = await read(id, decodeURIComponent(u.slice(storedPackUrl(id).length)));
      const b = urls.createObjectURL(new Blob([data as Uint8Array<ArrayBuffer>], { type: mimeOf(u) }));
      made.push(b);
      out.push({ src: b, name: sampleName(u) });
    } catch {
      /* a sample the stored pack does not have: leave it out */
    }
  }
  let revoked = false;
  return {
    samples: out,
    revoke() {
      if (revoked) return;
      revoked = true;
      for (const b of made) urls.revokeObjectURL(b);
    },
  };
}
