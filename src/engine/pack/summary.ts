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
  directions: { id: string; label: string; kind: string; range: [number, number]; strength?: number; space: 'z' | 'w'; offerInF: boolean }[];
  samples: string[];
  spaces: Space[];
  /** The pack's default handling of F while editing (its measured choice; 'fixed' when it states none). */
  editMode: FEditMode;
  hasEncoder: boolean;
  defaultWeights: [number, number, number];
  perceptual: string;
  provenance: ModelPackManifest['provenance'];
}

export function summarise(pack: ModelPack): PackSummary {
  const m = pack.manifest;
  return {
    name: m.name,
    title: m.title,
    description: m.description,
    resolution: m.resolution,
    imageRange: m.imageRange,
    alignment: m.alignment,
    directions: m.directions.map((d) => ({
      id: d.id,
      label: d.label,
      kind: d.kind,
      range: d.range,
      space: d.space ?? 'z',
      offerInF: d.offerInF !== false,
      ...(d.editStrength !== undefined ? { strength: d.editStrength } : {}),
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
