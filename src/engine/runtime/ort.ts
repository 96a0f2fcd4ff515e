/**
 * The onnxruntime types the engine uses. The `ort` module itself is injected: onnxruntime-web in the worker,
 * onnxruntime-node in node tests.
 */
import type * as OrtWeb from 'onnxruntime-web';
import type { RunKey } from './sessions';

export type Ort = typeof OrtWeb;
export type OrtTensor = OrtWeb.Tensor;
export type OrtSession = OrtWeb.InferenceSession;
export type SessionOptions = OrtWeb.InferenceSession.SessionOptions;

/** Creates the session for one graph, a pack's or the app's (node tests load from files; the bench adds session options). */
export type SessionFactory = (key: RunKey, bytes: Uint8Array, options: SessionOptions) => Promise<OrtSession>;
