/** Advanced settings for the next inversion: latent space, steps, learning rate, preview interval, loss weights. */
import { updateSettings } from '../state/inversion';
import { get, useStore } from '../state/store';
import type { Space } from '../worker/protocol';

const WEIGHT_NAMES = ['MSE', 'perceptual', 'F reg.'];

export function AdvancedCard() {
  const pack = useStore((s) => s.pack);
  const settings = useStore((s) => s.settings);
  const inverting = useStore((s) => s.phase === 'inverting');
  if (!pack) return null;
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
