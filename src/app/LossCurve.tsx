import type { LossPoint } from '../state/store';

/** Total loss (log scale) and PSNR over steps, as an SVG sparkline. */
export function LossCurve({ points, totalSteps }: { points: LossPoint[]; totalSteps: number }) {
  const W = 320, H = 90, P = 4;
  if (points.length < 2) return <svg className="curve" viewBox={`0 0 ${W} ${H}`} aria-hidden="true" />;
  const xs = (s: number) => P + ((W - 2 * P) * s) / Math.max(totalSteps, points[points.length - 1].step);
  const logs = points.map((p) => Math.log10(Math.max(p.total, 1e-12)));
  const lo = Math.min(...logs), hi = Math.max(...logs);
  const ys = (v: number) => P + ((H - 2 * P) * (hi - v)) / Math.max(hi - lo, 1e-9);
  const ps = points.map((p) => p.psnr);
  const plo = Math.min(...ps), phi = Math.max(...ps);
  const yp = (v: number) => P + ((H - 2 * P) * (phi - v)) / Math.max(phi - plo, 1e-9);
  const loss = points.map((p, i) => `${xs(p.step).toFixed(1)},${ys(logs[i]).toFixed(1)}`).join(' ');
  const psnr = points.map((p) => `${xs(p.step).toFixed(1)},${yp(p.psnr).toFixed(1)}`).join(' ');
  return (
    <svg className="curve" viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label="loss curve">
      <polyline points={psnr} className="curve-psnr" />
      <polyline points={loss} className="curve-loss" />
    </svg>
  );
}
