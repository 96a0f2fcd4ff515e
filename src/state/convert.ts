/**
 * Converting a StyleGAN2 checkpoint (.pt / .pkl) into a stored pack (in the import worker: src/engine/convert/), then
 * loading it and switching to it like an imported pack. A converted pack the engine cannot load is removed again;
 * on any failure the current pack stays in use.
 */
import { proxy } from '../worker/client';
import { getImporter, type ConvertedPack, type ConvertProgress } from '../worker/importClient';
import { switchToStored } from './packs';

/** Where the app's graph templates are (scripts/make-templates.sh builds them into public/templates/). */
export const templateBase = () => new URL(`${import.meta.env.BASE_URL}templates/`, location.href).href;

/** A file that looks like a checkpoint by its name (the worker decides by its bytes). */
export const isCheckpointName = (name: string) => /\.(pt|pth|pkl|ckpt)$/i.test(name);

export async function convertCheckpointFile(
  file: File,
  on: { progress(p: ConvertProgress): void; loading(title: string): void },
): Promise<ConvertedPack> {
  let reading = true; // progress messages come on their own port and may land after the result
  const done = await getImporter()
    .convertCheckpoint(file, file.name, templateBase(), proxy((p: ConvertProgress) => void (reading && on.progress(p))))
    .finally(() => (reading = false));
  return switchToStored(done, on);
}

export const cancelConvert = () => getImporter().cancelConvert();
