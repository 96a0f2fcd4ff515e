/**
 * The pack's samples ready for <img>: blob: URLs of an imported pack's stored samples belong to the component that
 * shows them, made when the samples appear and revoked when they change or the component unmounts.
 */
import { useEffect, useMemo, useState } from 'react';
import { isStoredSample, readStoredFile, resolveSampleUrls, sampleName, type Sample, type StoredFileReader } from '../state/samples';

export type { Sample } from '../state/samples';

export function useSampleUrls(samples: readonly string[] | undefined, read: StoredFileReader = readStoredFile): Sample[] {
  const stored = useMemo(() => !!samples?.some(isStoredSample), [samples]);
  const [resolved, setResolved] = useState<{ for: readonly string[]; samples: Sample[] } | null>(null);
  useEffect(() => {
    if (!samples || !stored) return;
    let cancelled = false;
    let release: (() => void) | null = null;
    void resolveSampleUrls(samples, read).then((r) => {
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
  }, [samples, stored, read]);
  if (!samples?.length) return [];
  if (!stored) return samples.map((u) => ({ src: u, name: sampleName(u) }));
  // until this pack's samples are read (never a previous pack's revoked URLs)
  return resolved?.for === samples ? resolved.samples : [];
}
