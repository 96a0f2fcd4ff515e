/** The UI's handle on the engine worker (comlink). */
import * as Comlink from 'comlink';
import type { EngineApi, EngineErrorShape } from './protocol';

export type EngineClient = Comlink.Remote<EngineApi>;

let client: EngineClient | null = null;
let worker: Worker | null = null;
let crashListener: ((message: string) => void) | null = null;

/** Called when the worker itself fails (script error, out of memory): the UI keeps its state and says so. */
export function onWorkerCrash(cb: (message: string) => void) {
  crashListener = cb;
}

export function getEngine(): EngineClient {
  if (!client) {
    worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'fzplus-engine' });
    worker.addEventListener('error', (e) => crashListener?.(e.message || 'the engine worker stopped'));
    worker.addEventListener('messageerror', () => crashListener?.('a message from the engine worker could not be read'));
    client = Comlink.wrap<EngineApi>(worker);
  }
  return client;
}

/**
 * Ends the engine worker and forgets it; the next getEngine() starts a fresh one. For a run past its time budget:
 * a graph run inside ORT cannot be interrupted, only its worker ended.
 */
export function replaceEngineWorker() {
  worker?.terminate();
  worker = null;
  client = null;
}

export const proxy = Comlink.proxy;

/** Absolute URL of ORT's runtime files on our own origin. */
export function ortWasmPaths(): string {
  return new URL(`${import.meta.env.BASE_URL}ort/`, location.href).href;
}

/** Absolute URL of the app's own graphs (public/graphs/). */
export function appGraphsUrl(): string {
  return new URL(`${import.meta.env.BASE_URL}graphs/`, location.href).href;
}

export function errorInfo(e: unknown): EngineErrorShape {
  if (e && typeof e === 'object' && 'message' in e) {
    return { name: String((e as Error).name ?? 'Error'), message: String((e as Error).message) };
  }
  return { name: 'Error', message: String(e) };
}
