/**
 * The page's handle on the image worker (comlink); one worker, started on first use. When the worker dies (a script
 * error, out of memory on a huge photo), every call still waiting rejects with an `ImageWorkerError` that says so,
 * and the next call starts a fresh worker. Photo ids are random per worker, so an id from the dead one is refused
 * by the new one (a PHOTO_GONE error) instead of naming another photo.
 */
import * as Comlink from 'comlink';
import type { ImageApi } from './imageProtocol';

export { PHOTO_GONE } from './imageProtocol';
export type { HeldPhoto, ImageApi, OpenResult, PasteSpec } from './imageProtocol';

interface Live {
  worker: Worker;
  remote: Comlink.Remote<ImageApi>;
  /** Rejects when this worker dies. */
  died: Promise<never>;
}

let live: Live | null = null;

/** The error that pending calls reject with when the image worker dies. */
export function imageWorkerError(reason: string): Error {
  return Object.assign(new Error(`the image worker stopped (${reason}); try again`), { name: 'ImageWorkerError' });
}

function start(): Live {
  const worker = new Worker(new URL('./image.worker.ts', import.meta.url), { type: 'module', name: 'fzplus-image' });
  let die!: (e: Error) => void;
  const died = new Promise<never>((_, reject) => (die = reject));
  died.catch(() => undefined); // observed by the calls that race it
  const l: Live = { worker, remote: Comlink.wrap<ImageApi>(worker), died };
  const crash = (reason: string) => {
    if (live === l) live = null;
    worker.terminate();
    die(imageWorkerError(reason));
  };
  worker.addEventListener('error', (e) => {
    e.preventDefault?.();
    crash(e.message || 'a script error');
  });
  worker.addEventListener('messageerror', () => crash('a message from it could not be read'));
  return l;
}

/** Every ImageApi method, each call racing the death of the worker it was sent to. */
const client = new Proxy({} as ImageApi, {
  get(_, method) {
    if (typeof method !== 'string' || method === 'then') return undefined; // not a thenable
    return (...args: unknown[]) => {
      const l = (live ??= start());
      const call = (l.remote as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method](...args);
      return Promise.race([call, l.died]);
    };
  },
});

export function getImageWorker(): ImageApi {
  return client;
}
