/**
 * Engine errors carry a machine-readable code in `name` (comlink copies `name` and `message` across the worker
 * boundary), and a human message naming the problem.
 */
export type EngineErrorCode =
  | 'PackFetchError'
  | 'PackManifestError'
  | 'PackIntegrityError'
  | 'PackGraphError'
  | 'BackendError'
  | 'DeviceLostError'
  | 'InputError'
  | 'DirectionFileError'
  | 'StateError'
  | 'CancelledError';

export class EngineError extends Error {
  constructor(public code: EngineErrorCode, message: string) {
    super(message);
    this.name = code;
  }
}

export function isEngineErrorName(name: string): name is EngineErrorCode {
  return /^(Pack\w+Error|BackendError|DeviceLostError|InputError|DirectionFileError|StateError|CancelledError)$/.test(name);
}
