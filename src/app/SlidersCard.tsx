/**
 * The Edit card: one slider per direction (the ones measured as weak on this model under "Subtle on this model"; each
 * names what else it was measured to move),
 * undo / redo / reset, the download, and teaching a new slider from marked photos. A pack without directions shows
 * the automatic Find directions' progress (with cancel), or a button to run it.
 */
import { useCallback, useRef } from 'react';
import { downloadPng } from '../state/composite';
import { cancelFindDirections, findDirections } from '../state/directions';
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
  const finding = useStore((s) => s.finding);
  const dirMsg = useStore((s) => s.directionsMsg);
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
        {d.alsoMoves && (
          <span
            className="also-moves muted small"
            data-testid={`also-moves-${d.id}`}
            title="Measured when the pack was built: these move at least a third as much as the slider's own attribute on this model."
          >
            Also moves: {d.alsoMoves.map((a) => a.label).join(', ')}
          </span>
        )}
      </label>
    );
  };
  return (
    <div className="card">
      <h3>Edit</h3>
      {finding && (
        <div className="row" role="status" data-testid="edit-finding">
          <span className="muted small">{finding.auto ? 'This model pack has no edit directions: finding some on this model (GANSpace)…' : 'Finding directions (GANSpace)…'}</span>
          <progress max={1} value={finding.progress} />
          <button className="small ghost" onClick={() => void cancelFindDirections()} data-testid="edit-find-cancel">Cancel</button>
        </div>
      )}
      {pack.directions.length === 0 && !finding && (
        <>
          <p className="muted small">This model pack has no edit directions.</p>
          {dirMsg && dirMsg.kind !== 'ok' && <p className="muted small" data-testid="edit-find-message">{dirMsg.text}</p>}
          <button onClick={() => void findDirections()} data-testid="edit-find">Find directions</button>
        </>
      )}
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
            Measured when the pack was built: at +2 these move their attribute by less than a tenth of its usual spread
            {editMode === 'fixed'
              ? ", because this model keeps the face's structure in F, which stays fixed while editing (F follows the edit, under Advanced, lets them reach it)."
              : ': this model draws them only faintly.'}{' '}
            Still yours to try.
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
