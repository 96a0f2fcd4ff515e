/**
 * Every type that crosses the UI <-> worker boundary (comlink). The UI imports only these types and the client;
 * it never imports onnxruntime or the engine's implementation. The engine's types come in with `import type` only,
 * so at runtime this module is a leaf: the few values both sides need (SPACES) are defined here and the engine
 * imports them from here.
 */
import type { BackendInfo, BackendKind, BackendPreference } from '../engine/runtime/backend';
import type { DirectionFile, ExampleClass, FindDirectionsOptions, FindDirectionsProgress, FindDirectionsResult, TeachCounts } from '../engine/engine';
import type { FEditMode, InvertOptions, InvertProgress, InvertResult, PackSummary, RenderResult, SavedCodes, SliderValues, WarmUpOptions, WarmUpResult } from '../engine/engine';
import type { LoadProgress } from '../engine/pack/load';
import type { Superseded } from '../engine/schedule';
import type { DetectedFace } from '../image/faces-core';
import type { RGBAImage } from '../image/types';
import type { ImportedPack, ImportProgress, ImportSource, SourceFile } from '../engine/pack/import';

export type { DirectionFile, ExampleClass, FindDirectionsOptions, FindDirectionsProgress, TeachCounts };
export type { ImportedPack, ImportProgress, ImportSource, SourceFile };
export type { FEditMode, BackendInfo, BackendKind, InvertOptions, InvertProgress, InvertResult, PackSummary, RenderResult, LoadProgress, Superseded, DetectedFace, SavedCodes, SliderValues, WarmUpOptions, WarmUpResult, RGBAImage };

/** The latent spaces an inversion can optimise in, in the order the UI offers them (the engine maps each to its
 * gradient graph: src/engine/inversion/spaces.ts; a saved session names one). */
export type Space = 'W+' | 'Z+' | 'F/W+' | 'F/Z+';
export const SPACES: readonly Space[] = ['F/Z+', 'F/W+', 'Z+', 'W+'];

export interface InitOptions {
  /** 'auto' = WebGPU when an adapter exists, else WASM. */
  backend: BackendPreference;
  /** WASM threads; default min(hardwareConcurrency, 4) when cross-origin isolated (bench overrides). */
  threads?: number;
  /** Keep constant inputs in GPU buffers between runs (WebGPU). */
  keepOnGpu?: boolean;
  /** Absolute URL prefix of ORT's wasm files (ort.env.wasm.wasmPaths). */
  wasmPaths: string;
  /** Absolute URL of the app's own graphs (public/graphs/), e.g. the Adam step that keeps an inversion on the GPU. */
  appGraphsUrl?: string;
}

/** Error as it arrives from the worker: `name` is an EngineErrorCode, `message` names the problem. */
export interface EngineErrorShape {
  name: string;
  message: string;
}

/** What "Find directions" reports besides the new summary. */
export type FoundDirections = Omit<FindDirectionsResult, 'entries'> & { found: number };

export interface EngineApi {
  init(opts: InitOptions): Promise<BackendInfo>;
  loadPack(url: string, onProgress?: (p: LoadProgress) => void): Promise<PackSummary>;
  /** The photo to invert, RGBA8 at the pack's resolution; `data` is transferred. */
  setTarget(img: RGBAImage): Promise<void>;
  /** Runs the hot graphs on made-up inputs until real work arrives (WASM: V8 tiers the wasm up before the first inversion). */
  warmUp(opts?: WarmUpOptions): Promise<WarmUpResult>;
  invert(opts: InvertOptions, onProgress?: (p: InvertProgress) => void): Promise<InvertResult>;
  cancel(): Promise<void>;
  render(values: SliderValues): Promise<RenderResult | Superseded>;
  /** F fixed (the paper's edit) or F following the edit, for the next frames. */
  setEditMode(mode: FEditMode): Promise<void>;
  backend(): Promise<BackendInfo | null>;
  onBackendChange(cb: (b: BackendInfo) => void): Promise<void>;
  /** Current codes + optimizer state (for a saved session), null before the first inversion. */
  exportCodes(): Promise<SavedCodes | null>;
  /** Installs saved codes for the current target; returns their reconstruction. */
  importCodes(codes: SavedCodes): Promise<InvertResult>;
  /**
   * Adds the directions in direction files (InterFaceGAN .npy, GANSpace .npz, JSON entries; parsed and fitted in the
   * worker) to the loaded pack and stores them with it. A bad file rejects with a DirectionFileError naming the
   * problem; the pack stays as it was. `space` overrides the file name's Z / W rule.
   */
  addDirections(files: DirectionFile[], space?: 'z' | 'w'): Promise<PackSummary>;
  /** GANSpace with the pack's mapping graph; the found directions are stored with the pack. */
  findDirections(opts: FindDirectionsOptions, onProgress?: (p: FindDirectionsProgress) => void): Promise<{ summary: PackSummary; result: FoundDirections }>;
  /** Stops a running findDirections (it rejects with a CancelledError; nothing is stored). */
  cancelFindDirections(): Promise<void>;
  /** Removes the directions added to the loaded pack. */
  clearAddedDirections(): Promise<PackSummary>;
  /** Marks the current (Z+) inversion, or a saved session's codes, as an example with / without what a taught slider edits. */
  markExample(cls: ExampleClass, saved?: SavedCodes): Promise<TeachCounts>;
  clearExamples(): Promise<TeachCounts>;
  /** Fits a slider named `label` from the marked examples and stores it with the pack. */
  teachSlider(label: string): Promise<PackSummary>;
  /** Test hook: destroy the WebGPU device as a real device loss would. */
  simulateDeviceLoss(): Promise<boolean>;
}

/**
 * The pack import worker (src/worker/import.worker.ts). `source` holds File/Blob objects (structured-cloned as
 * references to the same disk data, not copied) or a same-origin URL; progress arrives at most every 100 ms per file.
 */
export interface ImportApi {
  importPack(source: ImportSource, onProgress?: (p: ImportProgress) => void): Promise<ImportedPack>;
}
