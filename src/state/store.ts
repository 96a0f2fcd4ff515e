/**
 * App state (zustand): every piece of state the app keeps, including the non-visual bookkeeping the flows need
 * (the source photo's handle, a photo queued before a pack loads, the latest render's sequence number), so no flow module
 * holds mutable state of its own. Pure data + small reducers; side effects live in the flow modules next to this
 * one (boot, packs, photo, composite, inversion, sliders, sessions).
 */
import { create } from 'zustand';
import type { BackendInfo, DetectedFace, FEditMode, InvertProgress, PackSummary, SavedCodes, SliderValues, Space } from '../worker/protocol';
import type { Alignment, Point } from '../image/align';
import type { RGBAImage } from '../image/types';

export type { RGBAImage } from '../image/types';

export interface Banner {
  id: number;
  kind: 'error' | 'warning' | 'info';
  title: string;
  message: string;
}

export type Phase = 'booting' | 'loading-pack' | 'ready' | 'decoding' | 'detecting' | 'picking-face' | 'inverting' | 'inverted' | 'failed';

/** A photo waiting for the user to pick a face (or, with no face, to accept the whole image). */
export interface FacePick {
  name: string;
  /** Full photo size in pixels. */
  size: [number, number];
  /** The photo downscaled for display (the boxes are drawn over it in photo-relative units). */
  view: RGBAImage;
  faces: DetectedFace[];
  selected: number;
  /** Detection itself failed (the message), as opposed to finding no face. */
  error?: string;
}

/** Where the model's R x R input came from in the full photo (landmark alignment): kept for paste-back. */
export interface CropInfo {
  alignment: Alignment;
  /** 68 landmarks in photo pixels; null = the whole crop square is pasted back ("use the whole image"). */
  landmarks: Point[] | null;
  faceIndex: number | null;
  faceCount: number;
}

/**
 * The photo being edited. Its pixels stay in the image worker (`id`); the page keeps the file (for a saved
 * session), its name, notes, sizes and the faces found in it.
 */
export interface SourcePhoto {
  /** Id of the decoded photo in the image worker. */
  id: number;
  blob: Blob;
  name: string;
  notes: string[];
  /** Size of the file's image before any downscale (shown to the user). */
  size: [number, number];
  /** Decoded (working) size: face boxes, landmarks and the alignment are in these pixels. */
  width: number;
  height: number;
  faces: DetectedFace[];
}

/** The "In the photo" view: the latest composite (of `crop`), one request in flight and the newest frame waiting. */
export interface InPhotoView {
  crop: CropInfo | null;
  image: RGBAImage | null;
  busy: boolean;
  next: { frame: RGBAImage; crop: CropInfo } | null;
}

export interface Settings {
  space: Space;
  steps: number;
  weights: [number, number, number];
  lr: number;
  previewEvery: number;
}

export interface LossPoint {
  step: number;
  total: number;
  psnr: number;
}

export interface AppState {
  phase: Phase;
  bootMessage: string;
  backend: BackendInfo | null;
  pack: PackSummary | null;
  packUrl: string | null;
  /** The photo as the model sees it (R x R), and where it came from. */
  photo: { frame: RGBAImage; name: string; notes: string[]; sourceSize: [number, number] } | null;
  /** Face choice in progress (phase 'picking-face'). */
  facePick: FacePick | null;
  /** Set when the photo was aligned from the full-resolution original (download pastes the edit back). */
  crop: CropInfo | null;
  /** The session saved in this browser (summary), if any; `offered` while the restore prompt is shown. */
  saved: { savedAt: number; pack: string; packTitle: string; photoName: string; offered: boolean } | null;
  /** Reconstruction without edits (end of inversion, or latest preview). */
  reconstruction: RGBAImage | null;
  /** Latest edited frame. */
  edited: RGBAImage | null;
  progress: InvertProgress | null;
  curve: LossPoint[];
  finalPsnr: number | null;
  cancelled: boolean;
  canResume: boolean;
  /** Space of the inversion the engine holds (resume only continues in the same space). */
  lastSpace: Space | null;
  sliders: SliderValues;
  /** How slider frames treat F in the F spaces (the pack's measured default until the user picks). */
  editMode: FEditMode;
  undo: SliderValues[];
  redo: SliderValues[];
  frameMs: number | null;
  /** A slider frame is being rendered. */
  rendering: boolean;
  settings: Settings;
  banners: Banner[];
  inPhoto: InPhotoView;
  /** "Find directions" (GANSpace in the engine worker) running on the loaded pack: started by the user or, for a pack with no directions, on load. */
  finding: { progress: number; auto: boolean; seq: number } | null;
  /** The outcome of the latest change to the pack's directions (shown in the Models sheet and, after an automatic find, the Edit card). */
  directionsMsg: { kind: 'ok' | 'error' | 'info'; text: string } | null;

  // ------------------------------------------------------------------ bookkeeping of the flows (not drawn)
  /** The photo being edited (its pixels are in the image worker). */
  source: SourcePhoto | null;
  /** A decoded photo waiting for a face choice; becomes `source` once editing starts. */
  pendingPhoto: SourcePhoto | null;
  /** A photo opened while no pack was loaded yet: opened as soon as one loads. */
  queuedOpen: { blob: Blob; name: string } | null;
  /** Every pack URL `loadPack` was asked for, in order (test hook: a boot loads exactly one). */
  packLoads: string[];
  /** Sequence number of the latest slider render request: replies to older ones are dropped. */
  renderSeq: number;
  /** Last banner id handed out. */
  bannerSeq: number;
  /** The latest inversion's codes, kept here so that a replaced engine worker resumes from them. */
  codes: SavedCodes | null;
  /** The engine worker is being replaced (a run went past its time budget): renders wait. */
  restartingEngine: boolean;
  /** Sequence number of the latest find (a result from an older one, e.g. of a pack switched away from, is dropped). */
  findSeq: number;
  /** Packs (URLs) whose automatic find the user stopped in this page: not started again until a reload. */
  findStopped: string[];
}

export const initialSettings: Settings = { space: 'F/Z+', steps: 100, weights: [1, 1, 0.1], lr: 0.01, previewEvery: 10 };

export const useStore = create<AppState>(() => ({
  phase: 'booting',
  bootMessage: 'Starting the engine…',
  backend: null,
  pack: null,
  packUrl: null,
  photo: null,
  facePick: null,
  crop: null,
  saved: null,
  reconstruction: null,
  edited: null,
  progress: null,
  curve: [],
  finalPsnr: null,
  cancelled: false,
  canResume: false,
  lastSpace: null,
  sliders: {},
  editMode: 'fixed',
  undo: [],
  redo: [],
  frameMs: null,
  rendering: false,
  settings: initialSettings,
  banners: [],
  inPhoto: { crop: null, image: null, busy: false, next: null },
  finding: null,
  directionsMsg: null,
  source: null,
  pendingPhoto: null,
  queuedOpen: null,
  packLoads: [],
  renderSeq: 0,
  bannerSeq: 0,
  codes: null,
  restartingEngine: false,
  findSeq: 0,
  findStopped: [],
}));

export const set = useStore.setState;
export const get = useStore.getState;

/** An R x R frame from the engine. */
export const modelFrame = (data: Uint8ClampedArray, R: number): RGBAImage => ({ width: R, height: R, data });

/** The phase to return to when something in progress (a new photo, an inversion) is abandoned. */
export function restPhase(p: Phase): Phase {
  if (p === 'decoding' || p === 'detecting' || p === 'picking-face' || p === 'inverting') return get().reconstruction ? 'inverted' : 'ready';
  return p;
}

export function pushBanner(kind: Banner['kind'], title: string, message: string): number {
  const id = get().bannerSeq + 1;
  set((s) => ({ bannerSeq: id, banners: [...s.banners.filter((b) => b.title !== title || b.message !== message), { id, kind, title, message }] }));
  return id;
}

export function dismissBanner(id: number) {
  set((s) => ({ banners: s.banners.filter((b) => b.id !== id) }));
}

export function zeroSliders(pack: PackSummary | null): SliderValues {
  const v: SliderValues = {};
  for (const d of pack?.directions ?? []) v[d.id] = 0;
  return v;
}

/** Records the current slider values for undo before a change is committed. */
export function commitSliders(next: SliderValues, previous: SliderValues) {
  const same = Object.keys({ ...next, ...previous }).every((k) => (next[k] ?? 0) === (previous[k] ?? 0));
  if (same) return;
  set((s) => ({ undo: [...s.undo.slice(-99), previous], redo: [], sliders: next }));
}

export function undoSliders(): SliderValues | null {
  const s = get();
  const prev = s.undo[s.undo.length - 1];
  if (!prev) return null;
  set({ undo: s.undo.slice(0, -1), redo: [...s.redo, s.sliders], sliders: prev });
  return prev;
}

export function redoSliders(): SliderValues | null {
  const s = get();
  const next = s.redo[s.redo.length - 1];
  if (!next) return null;
  set({ redo: s.redo.slice(0, -1), undo: [...s.undo, s.sliders], sliders: next });
  return next;
}
