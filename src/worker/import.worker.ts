/// <reference lib="webworker" />
/**
 * Pack import worker (issue 5.3): unzips, hashes and writes imported packs to OPFS off the UI thread, streaming
 * (src/engine/packStream.ts), so a 140–210 MB pack neither freezes the page nor sits in memory. Exposed with comlink;
 * the message types are in protocol.ts.
 */
import * as Comlink from 'comlink';
import { importPackStream } from '../engine/packStream';
import { defaultPackStorage } from '../engine/packStore';
import type { ImportApi } from './protocol';

const api: ImportApi = {
  importPack: (source, onProgress) => importPackStream(defaultPackStorage(), source, onProgress),
};

Comlink.expose(api);
