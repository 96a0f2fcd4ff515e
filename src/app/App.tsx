import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useStore, set, get } from '../state/store';
import {
  cancelInversion, commitSlider, compositePreview, discardSession, dismissSessionOffer, downloadPng, restoreSession, saveSession, invert, openImage, openSample, pickAnotherFace, redo, resetSliders, setSlider, undo,
} from '../state/actions';
import { FrameCanvas } from './FrameCanvas';
import { LossCurve } from './LossCurve';
import { Banners } from './Banners';
import { BackendBadge } from './BackendBadge';
import { PwaControls } from '../pwa/PwaControls';
import { FacePicker } from './FacePicker';
import { useSampleUrls } from './sampleUrls';
import type { PackSummary } from '../worker/protocol';
import { ModelManager } from './ModelManager';
import type { Space } from '../worker/protocol';

export function App() {
  const [dragging, setDragging] = useState(false);
  const phase = useStore((s) => s.phase);

  // window-wide drop and paste
  useEffect(() => {
    const over = (e: DragEvent) => {
      if (e.dataTransfer?.types.includes('Files')) {
        e.preventDefault();
        setDragging(true);
      }
    };
    const leave = (e: DragEvent) => {
      if (!e.relatedTarget) setDragging(false);
    };
    const drop = (e: DragEvent) => {
      e.preventDefault();
      setDragging(false);
      const f = e.dataTransfer?.files?.[0];
      if (f) void openImage(f, f.name);
    };
    const paste = (e: ClipboardEvent) => {
      const item = Array.from(e.clipboardData?.items ?? []).find((i) => i.kind === 'file');
      const f = item?.getAsFile();
      if (f) {
        e.preventDefault();
        void openImage(f, f.name || 'pasted image');
      }
    };
    const keys = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'z') {
        if ((e.target as HTMLElement)?.tagName === 'INPUT' && (e.target as HTMLInputElement).type !== 'range') return;
        e.preventDefault();
        if (e.shiftKey) redo();
        else undo();
      } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'y') {
        e.preventDefault();
        redo();
      }
    };
    window.addEventListener('dragover', over);
    window.addEventListener('dragleave', leave);
    window.addEventListener('drop', drop);
    window.addEventListener('paste', paste);
    window.addEventListener('keydown', keys);
    return () => {
      window.removeEventListener('dragover', over);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('drop', drop);
      window.removeEventListener('paste', paste);
      window.removeEventListener('keydown', keys);
    };
  }, []);

  return (
    <div className={`app ${dragging ? 'dragging' : ''}`} data-testid="app" data-phase={phase}>
      <Header />
      <Banners />
      <SessionOffer />
      <main className="layout">
        <section className="stage" aria-label="editor">
          <Stage />
          <ProgressCard />
        </section>
        <aside className="sidebar">
          <InputCard />
          <SlidersCard />
          <AdvancedCard />
        </aside>
      </main>
      {dragging && <div className="drop-overlay">Drop a photo to edit it</div>}
      <Footer />
    </div>
  );
}

function Header() {
  return (
    <header className="topbar">
      <div className="brand">
        <span className="logo" aria-hidden="true">F/Z+</span>
        <span className="brand-name">Studio</span>
      </div>
      <div className="topbar-meta">
        {/* the current model; opens the model manager (a side sheet) */}
        <ModelManager />
        <BackendBadge />
        <PwaControls />
      </div>
    </header>
  );
}

function SessionOffer() {
  const saved = useStore((s) => s.saved);
  if (!saved?.offered) return null;
  return (
    <div className="card session-offer" role="status" data-testid="session-offer">
      <span>
        <strong>Saved session</strong> · “{saved.photoName}” with {saved.packTitle}, saved {new Date(saved.savedAt).toLocaleString()}
      </span>
      <span className="row">
        <button className="primary" onClick={() => void restoreSession()} data-testid="restore-session">Restore</button>
        <button onClick={() => void discardSession()} data-testid="offer-delete-session">Delete</button>
        <button onClick={dismissSessionOffer} data-testid="offer-dismiss">Not now</button>
      </span>
    </div>
  );
}

function Footer() {
  return (
    <footer className="footer">
      Runs entirely in your browser: your photo never leaves this device. Inversion: F/Z+ (Katsumata et al., 2023).
    </footer>
  );
}

function FilePicker({ label, primary }: { label: string; primary?: boolean }) {
  const ref = useRef<HTMLInputElement>(null);
  return (
    <>
      <button className={primary ? 'primary' : ''} onClick={() => ref.current?.click()}>
        {label}
      </button>
      <input
        ref={ref}
        type="file"
        accept="image/*"
        hidden
        data-testid="file-input"
        onChange={(e) => {
          const f = e.target.files?.[0];
          if (f) void openImage(f, f.name);
          e.target.value = '';
        }}
      />
    </>
  );
}

function Stage() {
  const photo = useStore((s) => s.photo);
  const edited = useStore((s) => s.edited);
  const reconstruction = useStore((s) => s.reconstruction);
  const phase = useStore((s) => s.phase);
  const bootMessage = useStore((s) => s.bootMessage);
  const [compare, setCompare] = useState(false);
  const rendering = useStore((s) => s.rendering);
  const picking = useStore((s) => !!s.facePick);
  const crop = useStore((s) => s.crop);
  const [inPhoto, setInPhoto] = useState(false);
  const rightFrame = compare ? reconstruction : edited ?? reconstruction;
  const composite = useMemo(() => (inPhoto && crop ? compositePreview(rightFrame) : null), [inPhoto, crop, rightFrame]);

  if (picking) return <FacePicker />;
  if (phase === 'detecting') {
    return (
      <div className="dropzone" data-testid="detecting">
        <p className="muted">Looking for faces…</p>
      </div>
    );
  }
  if (!photo) {
    return (
      <div className="dropzone" data-testid="dropzone">
        {phase === 'booting' || phase === 'loading-pack' ? (
          <p className="muted">{bootMessage}</p>
        ) : (
          <>
            <div className="dropzone-icon" aria-hidden="true">⬇</div>
            <h2>Drop a face photo here</h2>
            <p className="muted">or paste it (Ctrl+V), or</p>
            <FilePicker label="Choose a photo…" primary />
            <Samples />
          </>
        )}
      </div>
    );
  }
  const right = composite ?? rightFrame;
  return (
    <div className="frames">
      <figure>
        <FrameCanvas frame={photo.frame} testId="photo-canvas" label="your photo" />
        <figcaption>
          <span className="caption-title">
            {crop ? (crop.landmarks ? 'Aligned face' : 'Whole image') : 'Photo'} <span className="muted">· {photo.name}</span>
          </span>
        </figcaption>
      </figure>
      <figure className="result">
        {composite ? (
          <div className="in-photo" style={{ aspectRatio: `${composite.width} / ${composite.height}` }}>
            <FrameCanvas frame={composite} testId="result-canvas" label="edit pasted back into the photo" />
          </div>
        ) : (
          <FrameCanvas frame={right} testId="result-canvas" label="reconstruction and edit" />
        )}
        {!right && <div className="frame-placeholder">{phase === 'inverting' ? 'Inverting…' : ''}</div>}
        {rendering && <div className="spinner" aria-label="rendering" data-testid="rendering" />}
        <figcaption>
          {compare ? 'Before edits' : 'Edited'}
          {crop && (
            <button className="small" data-testid="view-in-photo" aria-pressed={inPhoto} disabled={!reconstruction}
              onClick={() => setInPhoto((v) => !v)} title="Show the edit blended back into the whole photo (as downloaded)">
              {inPhoto ? 'Face only' : 'In the photo'}
            </button>
          )}
          <button
            className="small"
            data-testid="compare"
            disabled={!reconstruction}
            onPointerDown={() => setCompare(true)}
            onPointerUp={() => setCompare(false)}
            onPointerLeave={() => setCompare(false)}
            onKeyDown={(e) => e.key === ' ' && setCompare(true)}
            onKeyUp={() => setCompare(false)}
            title="Hold to see the reconstruction without edits"
          >
            Hold to compare
          </button>
        </figcaption>
      </figure>
    </div>
  );
}

function Samples() {
  const samples = useSampleUrls(useStore((s) => s.pack?.samples));
  if (!samples.length) return null;
  return (
    <div className="samples">
      <span className="muted">Try an example:</span>
      <div className="sample-row">
        {samples.map((u, i) => (
          <button key={u.src} className="sample" onClick={() => void openSample(u.src, u.name)} title={`example ${i + 1}`} data-testid="sample">
            <img src={u.src} alt={`example face ${i + 1}`} />
          </button>
        ))}
      </div>
    </div>
  );
}

function fmt(x: number | undefined, d = 2) {
  return x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d);
}

function ProgressCard() {
  const phase = useStore((s) => s.phase);
  const progress = useStore((s) => s.progress);
  const curve = useStore((s) => s.curve);
  const finalPsnr = useStore((s) => s.finalPsnr);
  const canResume = useStore((s) => s.canResume && s.lastSpace === s.settings.space);
  const photo = useStore((s) => s.photo);
  const steps = useStore((s) => s.settings.steps);
  const space = useStore((s) => s.settings.space);
  if (!photo) return null;
  const inverting = phase === 'inverting';
  const step = progress?.step ?? 0;
  const pct = Math.min(100, (100 * step) / Math.max(1, steps));
  return (
    <div className="card progress" data-testid="progress" data-phase={phase}>
      <div className="progress-head">
        <div>
          <strong>{inverting ? 'Inverting' : phase === 'inverted' ? 'Inverted' : 'Inversion'}</strong>
          <span className="muted"> · {space}</span>
        </div>
        <div className="progress-actions">
          {inverting ? (
            <button onClick={() => void cancelInversion()} data-testid="cancel">Cancel</button>
          ) : (
            <>
              {canResume && step < steps && (
                <button className="primary" onClick={() => void invert(true)} data-testid="resume" title={`Continue from step ${step} to ${steps}`}>
                  Resume
                </button>
              )}
              <button onClick={() => void invert(false)} data-testid="reinvert">Invert again</button>
            </>
          )}
        </div>
      </div>
      <div className="bar" role="progressbar" aria-valuemin={0} aria-valuemax={steps} aria-valuenow={step}>
        <div style={{ width: `${pct}%` }} />
      </div>
      <div className="stats">
        <span>step <b data-testid="step">{step}</b> / {steps}</span>
        <span>PSNR <b data-testid="psnr">{fmt(finalPsnr ?? progress?.psnr)}</b> dB</span>
        <span title="mean squared error term">MSE {fmt(progress?.loss[0], 4)}</span>
        <span title="perceptual term">perc {fmt(progress?.loss[1], 4)}</span>
        <span title="F regulariser term">F {fmt(progress?.loss[2], 4)}</span>
        <span className="muted">{fmt(progress?.msPerStep, 0)} ms/step</span>
      </div>
      <LossCurve points={curve} totalSteps={steps} />
      <div className="legend muted"><span className="sw loss" /> loss (log) <span className="sw psnr" /> PSNR</div>
    </div>
  );
}

function InputCard() {
  const photo = useStore((s) => s.photo);
  const crop = useStore((s) => s.crop);
  const saved = useStore((s) => s.saved);
  const inverting = useStore((s) => s.phase === 'inverting');
  if (!photo) return null;
  return (
    <div className="card">
      <h3>Photo</h3>
      <p className="muted small">
        {photo.sourceSize[0]}×{photo.sourceSize[1]} · drop, paste or pick another
        {photo.notes.length ? ` · ${photo.notes.join('; ')}` : ''}
      </p>
      {crop && (
        <p className="muted small" data-testid="paste-note">
          Download gives the full {photo.sourceSize[0]}×{photo.sourceSize[1]} photo with the edited {crop.landmarks ? 'face' : 'square'} blended back in.
        </p>
      )}
      <div className="row wrap">
        <FilePicker label="Open another…" />
        {crop && crop.faceCount > 1 && (
          <button onClick={pickAnotherFace} data-testid="pick-another">Pick another face</button>
        )}
      </div>
      <div className="row wrap session-row">
        <button onClick={() => void saveSession()} disabled={inverting} data-testid="save-session"
          title="Store this photo, its codes and slider values in this browser, so a reload does not lose them">
          Save session
        </button>
        {saved && (
          <button onClick={() => void discardSession()} data-testid="delete-session" title="Remove the saved session from this browser">
            Delete saved session
          </button>
        )}
      </div>
      {saved && saved.savedAt > 0 && (
        <p className="muted small" data-testid="saved-note">Saved in this browser {new Date(saved.savedAt).toLocaleTimeString()} (“{saved.photoName}”).</p>
      )}
      <Samples />
    </div>
  );
}

/** Below this measured effect (own attribute, in sigma, at +2) a slider is listed as subtle on this model. */
const SUBTLE_STRENGTH = 0.1;

function SlidersCard() {
  const pack = useStore((s) => s.pack);
  const sliders = useStore((s) => s.sliders);
  const phase = useStore((s) => s.phase);
  const hasRecon = useStore((s) => !!s.reconstruction);
  const undoN = useStore((s) => s.undo.length);
  const redoN = useStore((s) => s.redo.length);
  const frameMs = useStore((s) => s.frameMs);
  const crop = useStore((s) => s.crop);
  const before = useRef(sliders);
  const onStart = useCallback(() => {
    before.current = get().sliders;
  }, []);
  if (!pack) return null;
  const disabled = !hasRecon || phase === 'inverting';
  // Directions measured as weak on this model (pack editStrength < SUBTLE_STRENGTH) go under a disclosure.
  const strong = pack.directions.filter((d) => d.strength === undefined || d.strength >= SUBTLE_STRENGTH);
  const subtle = pack.directions.filter((d) => d.strength !== undefined && d.strength < SUBTLE_STRENGTH);
  const sliderRow = (d: PackSummary['directions'][number]) => {
    const v = sliders[d.id] ?? 0;
    const step = (d.range[1] - d.range[0]) / 200;
    return (
      <label key={d.id} className="slider">
        <span className="slider-label">
          {d.label}
          <output>{v > 0 ? '+' : ''}{v.toFixed(2)}</output>
        </span>
        <input
          type="range"
          data-testid={`slider-${d.id}`}
          min={d.range[0]}
          max={d.range[1]}
          step={step}
          value={v}
          disabled={disabled}
          onPointerDown={onStart}
          onKeyDown={onStart}
          onInput={(e) => setSlider(d.id, Number((e.target as HTMLInputElement).value))}
          onChange={(e) => setSlider(d.id, Number(e.target.value))}
          onPointerUp={() => commitSlider(before.current)}
          onKeyUp={() => commitSlider(before.current)}
          onDoubleClick={() => {
            const prev = get().sliders;
            setSlider(d.id, 0);
            commitSlider(prev);
          }}
        />
        <span className="range-ends muted"><span>{d.range[0]}</span><span>{d.range[1]}</span></span>
      </label>
    );
  };
  return (
    <div className="card">
      <h3>Edit</h3>
      {pack.directions.length === 0 && <p className="muted small">This model pack has no edit directions.</p>}
      {pack.directions.length > 0 && !hasRecon && (
        <p className="muted small" data-testid="edit-hint">
          {phase === 'inverting' ? 'The sliders unlock when the inversion finishes.' : 'Open a photo: once it is inverted, these sliders edit it live.'}
        </p>
      )}
      <div className="sliders">{strong.map(sliderRow)}</div>
      {subtle.length > 0 && (
        <details className="subtle-sliders" data-testid="subtle-sliders">
          <summary>Subtle on this model ({subtle.length})</summary>
          <p className="muted small">
            Measured when the pack was built: at +2 these move their attribute by less than a tenth of its usual spread, because this
            model keeps the face's structure in F (fixed while editing). Still yours to try.
          </p>
          <div className="sliders">{subtle.map(sliderRow)}</div>
        </details>
      )}
      <div className="row wrap">
        <button onClick={undo} disabled={!undoN || disabled} data-testid="undo" title="Undo (Ctrl+Z)">Undo</button>
        <button onClick={redo} disabled={!redoN || disabled} data-testid="redo" title="Redo (Ctrl+Shift+Z)">Redo</button>
        <button onClick={resetSliders} disabled={disabled} data-testid="reset">Reset</button>
        <button className="primary" onClick={() => void downloadPng()} disabled={!hasRecon} data-testid="download">{crop ? 'Download full photo' : 'Download PNG'}</button>
      </div>
      {frameMs !== null && <p className="muted small">last frame {frameMs.toFixed(0)} ms</p>}
    </div>
  );
}

function AdvancedCard() {
  const pack = useStore((s) => s.pack);
  const settings = useStore((s) => s.settings);
  const inverting = useStore((s) => s.phase === 'inverting');
  if (!pack) return null;
  const upd = (p: Partial<typeof settings>) => set({ settings: { ...get().settings, ...p } });
  const names = ['MSE', 'perceptual', 'F reg.'];
  return (
    <details className="card advanced">
      <summary data-testid="advanced-toggle">Advanced</summary>
      <label className="field">
        <span>Latent space</span>
        <select value={settings.space} disabled={inverting} data-testid="space" onChange={(e) => upd({ space: e.target.value as Space })}>
          {pack.spaces.map((s) => (
            <option key={s} value={s}>{s}{s === 'F/Z+' ? ' (default)' : ''}</option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Steps</span>
        <input type="number" min={1} max={5000} value={settings.steps} disabled={inverting} data-testid="steps"
          onChange={(e) => upd({ steps: Math.max(1, Math.floor(Number(e.target.value) || 1)) })} />
      </label>
      <label className="field">
        <span>Learning rate</span>
        <input type="number" min={0.0001} max={1} step={0.001} value={settings.lr} disabled={inverting}
          onChange={(e) => upd({ lr: Number(e.target.value) || 0.01 })} />
      </label>
      <label className="field">
        <span>Preview every</span>
        <input type="number" min={0} max={1000} value={settings.previewEvery} disabled={inverting} data-testid="preview-every"
          onChange={(e) => upd({ previewEvery: Math.max(0, Math.floor(Number(e.target.value) || 0)) })} />
      </label>
      <fieldset className="weights">
        <legend>Loss weights</legend>
        {settings.weights.map((w, i) => (
          <label key={i} className="field">
            <span>{names[i]}</span>
            <input type="number" min={0} step={0.1} value={w} disabled={inverting}
              onChange={(e) => {
                const ws = [...get().settings.weights] as [number, number, number];
                ws[i] = Math.max(0, Number(e.target.value) || 0);
                upd({ weights: ws });
              }} />
          </label>
        ))}
      </fieldset>
      <p className="muted small">Perceptual term: {pack.perceptual}. Changes apply to the next inversion.</p>
    </details>
  );
}
