/**
 * Sample faces of a pack as <img> sources. A bundled pack's samples are plain URLs; an imported pack's arrive as
 * opfs:/ URLs, which <img> and fetch cannot read, so they are shown through blob: URLs of the stored files (the CSP
 * allows blob: for img-src and connect-src). Those blob: URLs belong to the component showing them: made when the
 * pack's samples appear, revoked when they change or the component unmounts (`useSampleUrls`).
 */
import { useEffect, useMemo, useState } from 'react';
import { defaultPackStorage, storedPackId, storedPackUrl, type PackStorage } from '../engine/packStore';

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

const fileName = (u: string) => decodeURIComponent(u.split(/[?#]/)[0].split('/').pop() || 'sample');
const mimeOf = (u: string) => (/\.jpe?g$/i.test(u) ? 'image/jpeg' : /\.webp$/i.test(u) ? 'image/webp' : 'image/png');
const isStored = (u: string) => storedPackId(u) !== null;

/**
 * Reads the stored samples and makes one blob: URL each (a sample the pack lacks is left out); `revoke()` frees
 * exactly the URLs made here.
 */
export async function resolveSampleUrls(samples: readonly string[], storage: PackStorage, urls: ObjectUrls = URL): Promise<{ samples: Sample[]; revoke(): void }> {
  const made: string[] = [];
  const out: Sample[] = [];
  for (const u of samples) {
    const id = storedPackId(u);
    if (id === null) {
      out.push({ src: u, name: fileName(u) });
      continue;
    }
    try {
      const data = await storage.read(id, decodeURIComponent(u.slice(storedPackUrl(id).length)));
      const b = urls.createObjectURL(new Blob([data as Uint8Array<ArrayBuffer>], { type: mimeOf(u) }));
      made.push(b);
      out.push({ src: b, name: fileName(u) });
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

/** The pack's samples ready for <img>; blob: URLs of stored samples are revoked when `samples` changes or on unmount. */
export function useSampleUrls(samples: readonly string[] | undefined, storage: () => PackStorage = defaultPackStorage): Sample[] {
  const stored = useMemo(() => !!samples?.some(isStored), [samples]);
  const [resolved, setResolved] = useState<{ for: readonly string[]; samples: Sample[] } | null>(null);
  useEffect(() => {
    if (!samples || !stored) return;
    let cancelled = false;
    let release: (() => void) | null = null;
    void resolveSampleUrls(samples, storage()).then((r) => {
      if (cancelled) {
        r.revoke();
        return;
      }
      release = r.revoke;
      setResolved({ for: samples, samples: r.samples });
    });
    return () => {
      cancelled = true;
      release?.();
    };
  }, [samples, stored, storage]);
  if (!samples?.length) return [];
  if (!stored) return samples.map((u) => ({ src: u, name: fileName(u) }));
  // until this pack's samples are read (never a previous pack's revoked URLs)
  return resolved?.for === samples ? resolved.samples : [];
}
