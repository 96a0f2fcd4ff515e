/** What the UI needs to know about a loaded pack (plain data: it crosses the worker boundary). */
import { defaultEditMode, type FEditMode } from '../edit/editor';
import { availableSpaces, type Space } from '../inversion/spaces';
import { joinUrl, type ModelPack } from './load';
import type { ModelPackManifest } from './manifest';

export interface PackSummary {
  name: string;
  title: string;
  description?: string;
  resolution: number;
  imageRange: [number, number];
  alignment: ModelPackManifest['alignment'];
  /** strength: the pack's measured editStrength (own attribute's change in sigma at +2 sigma), when it has one. */
  /**
   * space: where the direction is defined ('z' | 'w'); offerInF false: no visible effect with F fixed, so the editor
   * does not list it in the F spaces in that mode.
   */
  /** alsoMoves: other attributes measured to move at least a third as much as the own one (label: the pack's, else the id). */
  directions: {
    id: string;
    label: string;
    kind: string;
    range: [number, number];
    strength?: number;
    alsoMoves?: { label: string; ratio: number }[];
    space: 'z' | 'w';
    offerInF: boolean;
    added: boolean;
  }[];
  /** The generator's shape (which shipped direction sets fit it). */
  zDim: number;
  wDim: number;
  numWs: number;
  samples: string[];
  spaces: Space[];
  /** The pack's default handling of F while editing (its measured choice; 'fixed' when it states none). */
  editMode: FEditMode;
  hasEncoder: boolean;
  defaultWeights: [number, number, number];
  perceptual: string;
  provenance: ModelPackManifest['provenance'];
}

/** `added`: ids of the directions the user added (files, Find directions). */
export function summarise(pack: ModelPack, added: string[] = []): PackSummary {
  const m = pack.manifest;
  return {
    name: m.name,
    title: m.title,
    description: m.description,
    resolution: m.resolution,
    zDim: m.zDim,
    wDim: m.wDim,
    numWs: m.numWs,
    imageRange: m.imageRange,
    alignment: m.alignment,
    directions: m.directions.map((d) => ({
      id: d.id,
      label: d.label,
      kind: d.kind,
      range: d.range,
      space: d.space ?? 'z',
      offerInF: d.offerInF !== false,
      added: added.includes(d.id),
      ...(d.editStrength !== undefined ? { strength: d.editStrength } : {}),
      ...(d.alsoMoves?.length ? { alsoMoves: d.alsoMoves.map((a) => ({ label: a.label ?? a.attribute, ratio: a.ratio })) } : {}),
    })),
    samples: (m.samples ?? []).map((s) => joinUrl(pack.baseUrl, s)),
    spaces: availableSpaces(m),
    editMode: defaultEditMode(m),
    hasEncoder: !!m.graphs.encoder,
    defaultWeights: m.loss.defaultWeights as [number, number, number],
    perceptual: m.loss.perceptual,
    provenance: m.provenance,
  };
}
