/** The UI's handle on the pack import worker (comlink); one worker, started on the first import. */
import * as Comlink from 'comlink';
import type { ImportApi } from './protocol';

let importer: Comlink.Remote<ImportApi> | null = null;

export function getImporter(): Comlink.Remote<ImportApi> {
  if (!importer) {
    const worker = new Worker(new URL('./import.worker.ts', import.meta.url), { type: 'module', name: 'fzplus-import' });
    importer = Comlink.wrap<ImportApi>(worker);
  }
  return importer;
}
