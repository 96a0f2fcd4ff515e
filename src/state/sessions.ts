/**
 * The session flow: offer a saved session after boot, save the current one, delete it, and restore it (its pack,
 * photo, face choice, settings, codes and sliders) without a new inversion. The record format and IndexedDB access
 * are in ./sessionRecord.ts.
 */
import { alignmentForWholeImage, alignmentFromLandmarks } from '../image/align';
import { getEngine } from '../worker/client';
import { getImageWorker } from '../worker/imageClient';
import { storedPackId } from '../worker/importClient';
import { errorInfo, reportError } from './errors';
import { cancelInversion } from './inversion';
import { bundledPackUrl, loadPack } from './packs';
import { adoptPhotos, beginEditing, decodePhoto } from './photo';
import { renderSliders } from './sliders';
import { deleteSession, loadSession, SessionFormatError, storeSession, type SessionData } from './sessionRecord';
import { get, modelFrame, pushBanner, restPhase, set, type CropInfo } from './store';

/** After boot: look for a saved session and offer to restore it. */
export async function checkSavedSession() {
  try {
    const d = await loadSession();
    if (d) set({ saved: { savedAt: d.savedAt, pack: d.pack, packTitle: d.packTitle, photoName: d.photo.name, offered: !get().photo } });
  } catch (e) {
    if (e instanceof SessionFormatError) pushBanner('warning', 'Saved session cannot be restored', `${e.message}. You can delete it.`);
    set({ saved: { savedAt: 0, pack: '?', packTitle: '?', photoName: '?', offered: false } });
  }
}

/** Saves the photo, face choice, settings, sliders and codes in this browser (IndexedDB). */
export async function saveSession() {
  const s = get();
  const source = s.source;
  if (!s.pack || !s.photo || !source || s.phase === 'inverting') return;
  try {
    const codes = s.reconstruction ? await getEngine().exportCodes() : null;
    const bytes = await source.blob.arrayBuffer();
    await storeSession({
      savedAt: Date.now(),
      pack: s.pack.name,
      packTitle: s.pack.title,
      ...(s.packUrl ? { packUrl: s.packUrl } : {}),
      photo: { name: source.name, type: source.blob.type, bytes },
      crop: s.crop ? { faceIndex: s.crop.faceIndex, landmarks: s.crop.landmarks } : null,
      faces: source.faces,
      settings: s.settings,
      sliders: s.sliders,
      codes,
    });
    set({ saved: { savedAt: Date.now(), pack: s.pack.name, packTitle: s.pack.title, photoName: source.name, offered: false } });
    pushBanner('info', 'Session saved', `“${source.name}”, its codes and slider values are stored in this browser only. Delete them from the Photo card.`);
  } catch (e) {
    pushBanner('error', 'Could not save the session', errorInfo(e).message);
  }
}

export async function discardSession() {
  try {
    await deleteSession();
    set({ saved: null });
  } catch (e) {
    pushBanner('error', 'Could not delete the saved session', errorInfo(e).message);
  }
}

export function dismissSessionOffer() {
  const sv = get().saved;
  if (sv) set({ saved: { ...sv, offered: false } });
}

/** Restores the saved session: its pack (loaded if another one is active), photo, face, settings, codes and sliders. */
export async function restoreSession() {
  let d: SessionData | null;
  try {
    d = await loadSession();
  } catch (e) {
    reportError(e);
    return;
  }
  if (!d) {
    set({ saved: null });
    return;
  }
  dismissSessionOffer();
  try {
    if (get().phase === 'inverting') await cancelInversion();
    // an imported pack is restored from where it is stored (opfs:), a bundled one from /models/<name>/
    const url = d.packUrl && storedPackId(d.packUrl) !== null ? d.packUrl : bundledPackUrl(d.pack);
    if (get().pack?.name !== d.pack || get().packUrl !== url) await loadPack(url);
    const pack = get().pack!;
    const blob = new Blob([d.photo.bytes], { type: d.photo.type });
    const photo = await decodePhoto(blob, d.photo.name, d.faces);
    if ('refused' in photo) throw Object.assign(new Error(photo.refused), { name: 'InputError' });
    const R = pack.resolution;
    let crop: CropInfo | null = null;
    if (d.crop && pack.alignment === 'ffhq-landmarks') {
      const lm = d.crop.landmarks;
      const alignment = lm ? alignmentFromLandmarks(lm, R) : alignmentForWholeImage(photo.width, photo.height, R);
      crop = { alignment, landmarks: lm, faceIndex: d.crop.faceIndex, faceCount: d.faces.length };
    }
    const frame = await getImageWorker().modelInput(photo.id, R, crop?.alignment ?? null);
    adoptPhotos({ source: photo, pendingPhoto: null });
    set({ settings: { ...d.settings, space: pack.spaces.includes(d.settings.space) ? d.settings.space : pack.spaces[0] } });
    await beginEditing(frame, photo, crop, { invert: !d.codes, sliders: d.sliders });
    if (!d.codes) return;
    const r = await getEngine().importCodes(d.codes);
    set({
      phase: 'inverted',
      reconstruction: modelFrame(r.image, R),
      edited: modelFrame(r.image, R),
      finalPsnr: r.psnr,
      progress: { step: r.steps, totalSteps: Math.max(r.steps, get().settings.steps), loss: [NaN, NaN, NaN], total: NaN, psnr: r.psnr, msPerStep: NaN },
      canResume: true,
      lastSpace: r.space,
      settings: { ...get().settings, space: r.space },
    });
    const v = get().sliders;
    if (Object.values(v).some((x) => x !== 0)) await renderSliders(v);
  } catch (e) {
    set({ phase: restPhase(get().phase) });
    reportError(e);
  }
}
