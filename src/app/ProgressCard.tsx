/** Inversion progress: step, PSNR and loss terms, the loss curve; Cancel, Resume, Invert again. */
import { cancelInversion, invert } from '../state/inversion';
import { useStore } from '../state/store';
import { LossCurve } from './LossCurve';

function fmt(x: number | undefined, d = 2) {
  return x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d);
}

export function ProgressCard() {
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
