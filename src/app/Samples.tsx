/** The pack's sample faces as one-click examples. */
import { openSample } from '../state/photo';
import { useStore } from '../state/store';
import { useSampleUrls } from './sampleUrls';

export function Samples() {
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
