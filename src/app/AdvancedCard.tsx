/** Advanced settings for the next inversion: latent space, steps, learning rate, preview interval, loss weights. */
import { updateSettings } from '../state/inversion';
import { setEditMode } from '../state/sliders';
import { get, useStore } from '../state/store';
import type { FEditMode, Space } from '../worker/protocol';
import measured from '../../docs/spaces-summary.json';

const WEIGHT_NAMES = ['MSE', 'perceptual', 'F reg.'];

export function AdvancedCard() {
  const pack = useStore((s) => s.pack);
  const settings = useStore((s) => s.settings);
  const inverting = useStore((s) => s.phase === 'inverting');
  const editMode = useStore((s) => s.editMode);
  if (!pack) return null;
  // docs/SPACES.md's measured row for the chosen space, shown only for the generator that was measured
  const measuredLine = pack.provenance.checkpointSha256 === measured.generator_sha256
    ? (measured.spaces as Record<string, string>)[settings.space] : undefined;
  return (
    <details className="card advanced">
      <summary data-testid="advanced-toggle">Advanced</summary>
      <label className="field">
        <span>Latent space</span>
        <select value={settings.space} disabled={inverting} data-testid="space" onChange={(e) => updateSettings({ space: e.target.value as Space })}>
          {pack.spaces.map((s) => (
            <option key={s} value={s}>{s}{s === 'F/Z+' ? ' (default)' : ''}</option>
          ))}
        </select>
      </label>
      {measuredLine && (
        <p className="muted small" data-testid="space-measured">
          Measured on this model ({measured.faces} held-out faces, {measured.doc}): {measuredLine}
        </p>
      )}
      {settings.space.startsWith('F/') && (
        <label className="field" title="Fixed: F stays as inverted and only the layers after the F block edit (the paper's edit). Follows: every layer edits and F moves with the edit by the generator's own change of F.">
          <span>F while editing</span>
          <select value={editMode} data-testid="edit-mode" onChange={(e) => void setEditMode(e.target.value as FEditMode)}>
            {(['follow', 'fixed'] as FEditMode[]).map((m) => (
              <option key={m} value={m}>
                {m === 'follow' ? 'follows the edit' : 'fixed (paper)'}{m === pack.editMode ? ' (default for this model)' : ''}
              </option>
            ))}
          </select>
        </label>
      )}
      <label className="field">
        <span>Steps</span>
        <input type="number" min={1} max={5000} value={settings.steps} disabled={inverting} data-testid="steps"
          onChange={(e) => updateSettings({ steps: Math.max(1, Math.floor(Number(e.target.value) || 1)) })} />
      </label>
      <label className="field">
        <span>Learning rate</span>
        <input type="number" min={0.0001} max={1} step={0.001} value={settings.lr} disabled={inverting}
          onChange={(e) => updateSettings({ lr: Number(e.target.value) || 0.01 })} />
      </label>
      <label className="field">
        <span>Preview every</span>
        <input type="number" min={0} max={1000} value={settings.previewEvery} disabled={inverting} data-testid="preview-every"
          onChange={(e) => updateSettings({ previewEvery: Math.max(0, Math.floor(Number(e.target.value) || 0)) })} />
      </label>
      <fieldset className="weights">
        <legend>Loss weights</legend>
        {settings.weights.map((w, i) => (
          <label key={i} className="field">
            <span>{WEIGHT_NAMES[i]}</span>
            <input type="number" min={0} step={0.1} value={w} disabled={inverting}
              onChange={(e) => {
                const ws = [...get().settings.weights] as [number, number, number];
                ws[i] = Math.max(0, Number(e.target.value) || 0);
                updateSettings({ weights: ws });
              }} />
          </label>
        ))}
      </fieldset>
      <p className="muted small">Perceptual term: {pack.perceptual}. Changes apply to the next inversion.</p>
    </details>
  );
}
