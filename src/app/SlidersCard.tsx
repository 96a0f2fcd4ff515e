/**
 * The Edit card: one slider per direction (the ones measured as weak on this model under "Subtle on this model"),
 * undo / redo / reset, the download, and teaching a new slider from marked photos.
 */
import { useCallback, useRef } from 'react';
import { downloadPng } from '../state/composite';
import { commitSlider, redo, resetSliders, setSlider, undo } from '../state/sliders';
import { get, useStore } from '../state/store';
import type { PackSummary } from '../worker/protocol';
import { TeachSlider } from './TeachSlider';

/** Below this measured effect (own attribute, in sigma, at +2) a slider is listed as subtle on this model. */
const SUBTLE_STRENGTH = 0.1;

export function SlidersCard() {
  const pack = useStore((s) => s.pack);
  const sliders = useStore((s) => s.sliders);
  const phase = useStore((s) => s.phase);
  const hasRecon = useStore((s) => !!s.reconstruction);
  const undoN = useStore((s) => s.undo.length);
  const redoN = useStore((s) => s.redo.length);
  const frameMs = useStore((s) => s.frameMs);
  const crop = useStore((s) => s.crop);
  const lastSpace = useStore((s) => s.lastSpace);
  const editMode = useStore((s) => s.editMode);
  const before = useRef(sliders);
  const onStart = useCallback(() => {
    before.current = get().sliders;
  }, []);
  if (!pack) return null;
  const disabled = !hasRecon || phase === 'inverting';
  // with F fixed, the F spaces leave out directions that have no visible effect there (the engine ignores them too)
  const fFixed = !!lastSpace?.startsWith('F/') && editMode === 'fixed';
  const shown = pack.directions.filter((d) => !(fFixed && !d.offerInF));
  const strong = shown.filter((d) => d.strength === undefined || d.strength >= SUBTLE_STRENGTH);
  const subtle = shown.filter((d) => d.strength !== undefined && d.strength < SUBTLE_STRENGTH);
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
      <TeachSlider />
    </div>
  );
}
