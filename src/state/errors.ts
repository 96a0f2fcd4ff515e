/** Errors from the workers as banners: a title per error name (EngineErrorCode), the worker's message as the text. */
import { errorInfo } from '../worker/client';
import { pushBanner } from './store';

export { errorInfo };

const TITLES: Record<string, string> = {
  PackFetchError: 'Could not download the model',
  PackManifestError: 'The model pack is malformed',
  PackIntegrityError: 'The model pack is damaged',
  PackGraphError: 'A model graph failed',
  BackendError: 'No compute backend',
  DeviceLostError: 'The GPU stopped responding',
  InputError: 'This image cannot be used',
  StateError: 'Not ready yet',
  DirectionFileError: 'This direction file cannot be used',
  ImageWorkerError: 'The photo could not be processed',
  PhotoGoneError: 'The photo must be opened again',
};

export function describeError(e: unknown): { title: string; message: string } {
  const { name, message } = errorInfo(e);
  return { title: TITLES[name] ?? 'Something went wrong', message };
}

export function reportError(e: unknown) {
  const { title, message } = describeError(e);
  pushBanner('error', title, message);
}
