/**
 * The F/Z+ engine: the one object the worker exposes. Pure TypeScript, no DOM; runs in the worker (and in node
 * tests with onnxruntime-node). It ties together the modules that do the work:
 *   runtime/   backend choice, ORT sessions          pack/      loading, checking, summary of a model pack
 *   graphs/    graph runner, generator, warm-up       inversion/ codes + Adam on the gradient graphs
 *   edit/      slider frames (sphere walk); directions added from files or found by GANSpace
 */
import { EngineError } from './errors';
import { defaultEditMode, Editor, type FEditMode, type RenderResult } from './edit/editor';
import type { SliderValues } from './edit/directions';
import type { DirectionFile } from './edit/directionFiles';
import type { FindDirectionsOptions, FindDirectionsProgress, FindDirectionsResult } from './edit/ganspace';
import { PackDirections } from './edit/packDirections';
import { Teacher, type ExampleClass, type TeachCounts } from './edit/teach';
import { slug } from './edit/directionFiles';
import { isZ } from './inversion/spaces';
import { addedDirectionsKey, MemoryAddedDirections, type AddedDirectionsStore } from './pack/addedDirections';
import { Generator } from './graphs/generator';
import { GraphRunner } from './graphs/runner';
import { warmUp, type WarmUpOptions, type WarmUpResult } from './graphs/warmup';
import { Inversion, type SavedCodes } from './inversion/inversion';
import { optimise, resultOf, startInversion, type InvertOptions, type InvertProgress, type InvertResult } from './inversion/optimise';
import { inversionGraph, SPACE_GRAPH, SPACES, type Space } from './inversion/spaces';
import { Target } from './inversion/target';
import type { LoadProgress, ModelPack } from './pack/load';
import type { ModelPackManifest } from './pack/manifest';
import { openPack, runtimeFor } from './pack/open';
import { summarise, type PackSummary } from './pack/summary';
import { configureWasm, selectBackend, wasmFallback, type BackendInfo, type BackendPreference } from './runtime/backend';
import type { Ort, SessionFactory } from './runtime/ort';
import { isSuperseded, LatestWins, type Superseded } from './schedule';
import type { RGBAImage } from '../image/types';

export type { DirectionFile, ExampleClass, FindDirectionsOptions, FindDirectionsProgress, FindDirectionsResult, TeachCounts };
export type { FEditMode, InvertOptions, InvertProgress, InvertResult, PackSummary, RenderResult, SavedCodes, SliderValues, Space, WarmUpOptions, WarmUpResult };
export { SPACE_GRAPH, SPACES };

export interface EngineOptions {
  /** The backend chosen by selectBackend (the worker chooses before it loads ORT), or a preference to choose from. */
  backend?: BackendInfo | BackendPreference;
  /** WASM threads (default min(hardwareConcurrency, 4) when cross-origin isolated). */
  threads?: number;
  keepOnGpu?: boolean;
  sessionFactory?: SessionFactory;
  fetch?: typeof fetch;
  onBackendChange?: (b: BackendInfo) => void;
  /** Where directions added to a pack are kept (the worker: OPFS); default: in memory, for this engine only. */
  addedDirections?: AddedDirectionsStore;
  /**
   * URL of the folder with the app's own graphs (public/graphs/: `adam.onnx`). Without it (or when it cannot be
   * read) an inversion on WebGPU runs Adam in JS, moving codes and gradients every step.
   */
  appGraphsUrl?: string;
}

/** What belongs to the loaded pack and goes with it. */
interface CurrentPack {
  pack: ModelPack;
  gen: Generator;
  editor: Editor;
  directions: PackDirections;
  teacher: Teacher;
}

export class Engine {
  backend: BackendInfo | null;
  private loaded: CurrentPack | null = null;
  private readonly runner: GraphRunner;
  private readonly target: Target;
  private inv: Inversion | null = null;
  private cancelRequested = false;
  private inverting = false;
  private appGraphsTried = false;
  private readonly addedStore: AddedDirectionsStore;
  private readonly renderer = new LatestWins<SliderValues, RenderResult>((a) => this.renderNow(a));

  constructor(
    private readonly ort: Ort,
    private readonly opts: EngineOptions = {},
  ) {
    this.backend = typeof opts.backend === 'object' ? opts.backend : null;
    this.runner = new GraphRunner((reason) => this.deviceLost(reason));
    this.target = new Target(this.runner.constants.target);
    this.addedStore = opts.addedDirections ?? new MemoryAddedDirections();
  }

  get pack(): ModelPack | null {
    return this.loaded?.pack ?? null;
  }

  get manifest(): ModelPackManifest {
    if (!this.loaded) throw new EngineError('StateError', 'no model pack loaded');
    return this.loaded.pack.manifest;
  }

  private get gen(): Generator {
    if (!this.loaded) throw new EngineError('StateError', 'no model pack loaded');
    return this.loaded.gen;
  }

  /** The backend, chosen on first use unless the worker passed its choice in. */
  private async chosenBackend(): Promise<BackendInfo> {
    if (!this.backend) {
      const pref = typeof this.opts.backend === 'string' ? this.opts.backend : 'auto';
      this.backend = await selectBackend(pref, this.opts.threads);
    }
    configureWasm(this.ort, this.opts.threads);
    return this.backend;
  }

  private setBackend(b: BackendInfo) {
    this.backend = b;
    this.opts.onBackendChange?.(b);
  }

  /** After a GPU device loss: WASM from here on. Codes, target and optimizer state live in JS and are kept. */
  private deviceLost(reason: string) {
    this.setBackend(wasmFallback(this.backend!, `GPU device lost (${reason}); continuing on WASM`, this.opts.threads));
    return runtimeFor(this.ort, this.loaded!.pack, this.backend!, this.runtimeOptions());
  }

  private runtimeOptions() {
    return { keepOnGpu: this.opts.keepOnGpu ?? true, sessionFactory: this.opts.sessionFactory };
  }

  // ---------------------------------------------------------------- pack

  /** Loads (or replaces) the model pack; on failure the previous pack stays usable. */
  async loadPack(url: string, onProgress?: (p: LoadProgress) => void): Promise<PackSummary> {
    this.runner.noteDemand(); // stops a warm-up of the current pack
    await this.loaded?.directions.stopFind(); // its graph runs must not reach the next pack's sessions
    const opened = await openPack(this.ort, url, await this.chosenBackend(), {
      ...this.runtimeOptions(),
      fetch: this.opts.fetch,
      onProgress,
      threads: this.opts.threads,
      onFallback: (b) => this.setBackend(b),
    });
    const gen = new Generator(this.runner, opened.pack.manifest);
    const m = opened.pack.manifest;
    const directions = new PackDirections(m, gen, this.addedStore, addedDirectionsKey(url, m.name));
    await directions.restore();
    await this.runner.swap(opened.runtime, () => {
      this.loaded = { pack: opened.pack, gen, directions, teacher: new Teacher(m), editor: new Editor(gen, this.runner.constants.f_edit, defaultEditMode(m)) };
      this.inv = null;
      this.target.clear();
    });
    return this.summary();
  }

  summary(): PackSummary {
    if (!this.loaded) throw new EngineError('StateError', 'no model pack loaded');
    return summarise(this.loaded.pack, this.loaded.directions.addedIds);
  }

  // ---------------------------------------------------------------- directions

  private get packDirections(): PackDirections {
    if (!this.loaded) throw new EngineError('StateError', 'no model pack loaded');
    return this.loaded.directions;
  }

  /**
   * Adds the directions in `files` (InterFaceGAN .npy, GANSpace .npz, JSON entries) to the loaded pack and stores
   * them with it; all or nothing: a bad file is a DirectionFileError naming it and the pack stays as it was.
   */
  async addDirections(files: DirectionFile[], space?: 'z' | 'w'): Promise<PackSummary> {
    await this.packDirections.addFiles(files, space);
    return this.summary();
  }

  /** GANSpace with the pack's own mapping graph (cancel: cancelFindDirections); the result is stored with the pack. */
  async findDirections(opts: FindDirectionsOptions = {}, onProgress?: (p: FindDirectionsProgress) => void): Promise<{ summary: PackSummary; result: Omit<FindDirectionsResult, 'entries'> & { found: number } }> {
    const { entries, ...rest } = await this.packDirections.find(opts, onProgress);
    return { summary: this.summary(), result: { ...rest, found: entries.length } };
  }

  cancelFindDirections() {
    this.loaded?.directions.cancelFind();
  }

  /**
   * Marks the current inversion, or `saved` codes (a saved session's, of this pack), as an example "with" or
   * "without" what a slider will teach. Examples are Z+ codes: from F/Z+ or Z+ inversions.
   */
  markExample(cls: ExampleClass, saved?: SavedCodes): TeachCounts {
    if (!this.loaded) throw new EngineError('StateError', 'no model pack loaded');
    const src = saved ?? this.inv;
    if (!src) throw new EngineError('StateError', 'invert a photo before marking it as an example');
    if (!isZ(src.space)) throw new EngineError('StateError', `examples are taught from Z+ codes: invert in F/Z+ or Z+ (this one is ${src.space})`);
    return this.loaded.teacher.add(cls, src.code);
  }

  clearExamples(): TeachCounts {
    return this.loaded?.teacher.clear() ?? { with: 0, without: 0 };
  }

  /** A slider named `label` from the marked examples, stored with the pack like any added direction. */
  async teachSlider(label: string): Promise<PackSummary> {
    if (!this.loaded) throw new EngineError('StateError', 'no model pack loaded');
    const name = label.trim();
    if (!name) throw new EngineError('StateError', 'name the slider first');
    const { teacher, directions } = this.loaded;
    await directions.addEntries([teacher.direction(`taught-${slug(name)}`, name)]);
    teacher.clear();
    return this.summary();
  }

  /** Removes the directions added to the loaded pack. */
  async clearAddedDirections(): Promise<PackSummary> {
    await this.packDirections.clear();
    return this.summary();
  }

  /** Runs the hot graphs on made-up inputs until real work arrives (graphs/warmup.ts). */
  warmUp(opts: WarmUpOptions = {}): Promise<WarmUpResult> {
    return warmUp(this.runner, this.loaded?.pack.manifest ?? null, this.backend, () => this.inverting, opts);
  }

  /** For tests: destroy the GPU device as a real loss would; the next run continues on WASM. */
  async simulateDeviceLoss(): Promise<boolean> {
    return (await this.runner.current?.loseDevice()) ?? false;
  }

  // ---------------------------------------------------------------- inversion

  /** Sets the photo to invert: RGBA8 at the pack's resolution (already aligned / cropped). */
  setTarget(img: RGBAImage) {
    this.target.set(img, this.manifest);
  }

  cancel() {
    this.cancelRequested = true;
  }

  get canResume(): boolean {
    return !!this.inv && this.inv.targetVersion === this.target.version;
  }

  async invert(opts: InvertOptions, onProgress?: (p: InvertProgress) => void): Promise<InvertResult> {
    const target = this.target.tensor;
    if (!target) throw new EngineError('StateError', 'no photo to invert');
    if (this.inverting) throw new EngineError('StateError', 'an inversion is already running');
    const graph = inversionGraph(opts.space, this.manifest);
    if (!this.manifest.graphs[graph]) throw new EngineError('PackGraphError', `this model pack has no '${graph}' graph, so the ${opts.space} space is not available`);
    const gen = this.gen;
    const inputs = { target: this.runner.constants.target, fInit: this.runner.constants.f_init };
    this.inverting = true;
    this.cancelRequested = false;
    try {
      if (this.runner.current?.keepsOnDevice) await this.loadAppGraphs();
      const resume = opts.resume && this.canResume && this.inv!.space === opts.space;
      if (!resume) this.inv = await startInversion(gen, inputs, opts, this.target.version);
      const inv = this.inv!;
      const cancelled = await optimise(gen, inputs, inv, target, opts, () => this.cancelRequested, onProgress);
      return await resultOf(gen, inv, target, cancelled, () => this.backend!);
    } finally {
      this.inverting = false;
    }
  }

  /** Fetches the app graphs once (on the first inversion that can use them); on failure the JS path is used. */
  private async loadAppGraphs() {
    if (this.appGraphsTried || !this.opts.appGraphsUrl) return;
    this.appGraphsTried = true;
    try {
      const res = await (this.opts.fetch ?? fetch)(new URL('adam.onnx', this.opts.appGraphsUrl).href);
      if (res.ok) this.runner.appGraphs.adam = new Uint8Array(await res.arrayBuffer());
    } catch {
      /* Adam in JS */
    }
  }

  /** The paper's method: F/Z+ inversion (encoder start when the pack has one). */
  invertFZPlus(opts: Omit<InvertOptions, 'space'>, onProgress?: (p: InvertProgress) => void): Promise<InvertResult> {
    return this.invert({ ...opts, space: 'F/Z+' }, onProgress);
  }

  /** A copy of the current codes and optimizer state (null before the first inversion). */
  exportCodes(): SavedCodes | null {
    return this.inv?.toSaved() ?? null;
  }

  /**
   * Installs saved codes for the current target (as if they had just been inverted here) and returns their
   * reconstruction. Sizes are checked against the pack, so codes from another pack are refused.
   */
  async importCodes(c: SavedCodes): Promise<InvertResult> {
    const target = this.target.tensor;
    if (!target) throw new EngineError('StateError', 'no photo to attach the saved codes to');
    if (this.inverting) throw new EngineError('StateError', 'an inversion is running');
    const m = this.manifest;
    const inv = Inversion.fromSaved(c, m, this.target.version);
    this.inv = inv;
    if (inv.fInit) this.runner.constants.f_init.set(inv.fInit, m.fBlock.shape);
    return resultOf(this.gen, inv, target, false, () => this.backend!);
  }

  // ---------------------------------------------------------------- editing

  private renderNow(alphas: SliderValues): Promise<RenderResult> {
    const inv = this.inv;
    if (!inv) return Promise.reject(new EngineError('StateError', 'invert a photo before editing'));
    return this.loaded!.editor.render(inv, alphas);
  }

  /** How slider frames treat F in the F spaces: fixed (the paper's edit) or following the edit (see edit/editor.ts). */
  setEditMode(mode: FEditMode): void {
    if (mode !== 'fixed' && mode !== 'follow') throw new EngineError('StateError', `unknown edit mode ${String(mode)}`);
    if (!this.loaded) throw new EngineError('StateError', 'no model pack loaded');
    this.loaded.editor.mode = mode;
  }

  /** Renders the edit for slider values {directionId: alpha}. Latest wins: a stale waiting request resolves as superseded. */
  render(alphas: SliderValues): Promise<RenderResult | Superseded> {
    return this.renderer.submit(alphas);
  }

  static isSuperseded = isSuperseded;

  async dispose() {
    await this.runner.dispose();
  }
}
