/**
 * The loaded pack's directions beyond its manifest: added from files or found by GANSpace, stored beside the pack
 * (pack/addedDirections.ts) and merged into the manifest the editor reads. Every change is checked in full (the
 * merged manifest validated) before anything is stored or shown, so a bad file leaves the pack as it was.
 */
import { EngineError } from '../errors';
import type { AddedDirectionsStore } from '../pack/addedDirections';
import { validateManifest, type ModelPackManifest } from '../pack/manifest';
import { readDirectionFile, type DirectionFile } from './directionFiles';
import { resolveDirections } from './fitDirections';
import { findDirections, type FindDirectionsOptions, type FindDirectionsProgress, type FindDirectionsResult } from './ganspace';
import { LatentStats, type Mapper } from './latentStats';
import type { Renderer } from './effect';

type Entry = ModelPackManifest['directions'][number];

/** z samples behind the Z conversion of imported W directions (model/directions/pack.py uses 1e5). */
export const CONVERSION_SAMPLES = 100_000;

/** The manifest with `added` after its own directions (an added id replaces the pack's own). */
function merged(m: ModelPackManifest, own: Entry[], added: Entry[]): ModelPackManifest {
  const ids = new Set(added.map((d) => d.id));
  return { ...m, directions: [...own.filter((d) => !ids.has(d.id)), ...added] };
}

export class PackDirections {
  /** The manifest's own directions (without the added ones). */
  private readonly own: Entry[];
  private added: Entry[] = [];
  private finding: Promise<unknown> | null = null;
  private cancelRequested = false;

  constructor(
    private readonly manifest: ModelPackManifest,
    /** The pack's generator: mapping for the fits, renders for GANSpace's effect measurement. */
    private readonly gen: Mapper & Partial<Renderer>,
    private readonly store: AddedDirectionsStore,
    private readonly key: string,
  ) {
    this.own = manifest.directions;
  }

  get addedIds(): string[] {
    return this.added.map((d) => d.id);
  }

  /** Merges the stored added directions into the manifest; a stored list that no longer fits is ignored. */
  async restore(): Promise<void> {
    let stored: Entry[] = [];
    try {
      stored = await this.store.read(this.key);
    } catch {
      return; // unreadable: the pack opens with its own directions
    }
    if (!stored.length) return;
    try {
      this.apply(stored);
    } catch {
      /* no longer valid for this pack: ignored, left in storage */
    }
  }

  /** Validates the manifest with `added` and makes it current (throws, changing nothing, when it does not validate). */
  private apply(added: Entry[]) {
    let next: ModelPackManifest;
    try {
      next = validateManifest(structuredClone(merged(this.manifest, this.own, added)));
    } catch (e) {
      throw new EngineError('DirectionFileError', (e as Error).message.replace(/^manifest\.json/, 'the pack with these directions'));
    }
    this.manifest.directions = next.directions;
    this.added = added;
  }

  private async commit(added: Entry[]) {
    const before = this.added;
    this.apply(added);
    try {
      await this.store.write(this.key, added);
    } catch (e) {
      this.apply(before);
      throw new EngineError('PackFetchError', `could not store the directions with the pack: ${(e as Error).message}`);
    }
  }

  /** Reads, fits and adds every direction in `files`; all or nothing. Returns the new ids. */
  async addFiles(files: DirectionFile[], space?: 'z' | 'w'): Promise<string[]> {
    const incoming = files.flatMap((f) => readDirectionFile(f, space));
    if (!incoming.length) throw new EngineError('DirectionFileError', `${files.map((f) => f.name).join(', ')}: no directions in the file`);
    let stats: Promise<LatentStats> | null = null;
    const statsOnce = () => (stats ??= LatentStats.sample(this.gen, { samples: CONVERSION_SAMPLES }));
    const view = merged(this.manifest, this.own, this.added);
    const entries = await resolveDirections(incoming, view, this.gen, statsOnce);
    await this.commit([...this.added, ...entries]);
    return entries.map((e) => e.id);
  }

  /** GANSpace with the pack's own mapping graph; the found components are stored with the pack. */
  async find(opts: FindDirectionsOptions, onProgress?: (p: FindDirectionsProgress) => void): Promise<FindDirectionsResult> {
    if (this.finding) throw new EngineError('StateError', 'directions are already being found');
    this.cancelRequested = false;
    const run = this.runFind(opts, onProgress);
    this.finding = run;
    try {
      return await run;
    } finally {
      this.finding = null;
    }
  }

  private async runFind(opts: FindDirectionsOptions, onProgress?: (p: FindDirectionsProgress) => void): Promise<FindDirectionsResult> {
    const ids = new Set(this.manifest.directions.map((d) => d.id));
    const g = this.gen;
    const renderer = g.zToW && g.features && g.synthesize ? (g as Renderer) : undefined;
    const res = await findDirections(g, ids, opts, () => this.cancelRequested, onProgress, renderer);
    if (!res.entries.length) throw new EngineError('DirectionFileError', 'GANSpace found no component the Z+ spaces can follow on this model');
    await this.commit([...this.added, ...res.entries]);
    return res;
  }

  /** Adds ready manifest entries (a taught slider); an id already in the pack is refused. */
  async addEntries(entries: Entry[]): Promise<void> {
    const have = new Set(this.manifest.directions.map((d) => d.id));
    for (const e of entries) if (have.has(e.id)) throw new EngineError('DirectionFileError', `the pack already has a direction '${e.id}'`);
    await this.commit([...this.added, ...entries]);
  }

  cancelFind() {
    this.cancelRequested = true;
  }

  /** Cancels a running find and waits until it has ended (before the pack's graphs go away). */
  async stopFind(): Promise<void> {
    if (!this.finding) return;
    this.cancelRequested = true;
    await this.finding.catch(() => undefined);
  }

  /** Removes every added direction (the pack's own stay). */
  async clear(): Promise<void> {
    await this.commit([]);
  }
}
