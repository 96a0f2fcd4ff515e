/**
 * Teach a slider from your own photos: mark inverted photos, or the session saved in this browser (its codes), as
 * "with" or "without" something (one of each gives an A -> B slider), name it, and it becomes a slider stored with the
 * pack (fitted in the engine worker, edit/teach.ts).
 */
import { useState } from 'react';
import { clearExamples, markExample, markSavedSession, teachSlider } from '../state/directions';
import { errorInfo } from '../state/errors';
import { useStore } from '../state/store';
import type { ExampleClass, TeachCounts } from '../worker/protocol';

export function TeachSlider() {
  const hasRecon = useStore((s) => !!s.reconstruction);
  const phase = useStore((s) => s.phase);
  const space = useStore((s) => s.lastSpace);
  const packName = useStore((s) => s.pack?.name);
  const saved = useStore((s) => s.saved);
  const busy = phase === 'inverting' || phase === 'loading-pack';
  // the saved session's photo can be an example too, when it was saved with this pack
  const savedHere = !!saved && saved.savedAt > 0 && saved.pack === packName;
  const [counts, setCounts] = useState<TeachCounts>({ with: 0, without: 0 });
  const [name, setName] = useState('');
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const zCodes = space === 'F/Z+' || space === 'Z+';
  const can = hasRecon && phase === 'inverted' && zCodes;

  async function act(job: () => Promise<string | null>) {
    setMsg(null);
    try {
      const text = await job();
      if (text) setMsg({ kind: 'ok', text });
    } catch (e) {
      setMsg({ kind: 'error', text: errorInfo(e).message });
    }
  }

  const mark = (cls: ExampleClass) =>
    act(async () => {
      setCounts(await markExample(cls));
      return null;
    });

  const markSaved = (cls: ExampleClass) =>
    act(async () => {
      setCounts(await markSavedSession(cls));
      return `Marked the saved session's photo “${saved?.photoName}” as ${cls === 'with' ? 'having' : 'lacking'} it.`;
    });

  return (
    <details className="teach" data-testid="teach">
      <summary>Teach a slider from your photos</summary>
      <p className="muted small">
        Invert a photo, mark it; open the next one, mark it; then name the slider. One photo each way gives an A → B slider; more make it
        general. {zCodes ? '' : 'Examples come from Z+ codes: invert in F/Z+ or Z+.'}
      </p>
      <div className="teach-row">
        <button className="small" disabled={!can} onClick={() => void mark('with')} data-testid="teach-with">
          This photo has it ({counts.with})
        </button>
        <button className="small" disabled={!can} onClick={() => void mark('without')} data-testid="teach-without">
          This photo lacks it ({counts.without})
        </button>
      </div>
      {savedHere && (
        <div className="teach-row" data-testid="teach-saved">
          <span className="muted small">Saved session “{saved!.photoName}”:</span>
          <button className="small" disabled={busy} onClick={() => void markSaved('with')} data-testid="teach-saved-with">
            has it
          </button>
          <button className="small" disabled={busy} onClick={() => void markSaved('without')} data-testid="teach-saved-without">
            lacks it
          </button>
        </div>
      )}
      {(counts.with > 0 || counts.without > 0) && (
        <div className="teach-row">
          <button className="small ghost" onClick={() => void act(async () => (setCounts(await clearExamples()), null))} data-testid="teach-clear">
            Clear
          </button>
        </div>
      )}
      <form
        className="teach-row"
        onSubmit={(e) => {
          e.preventDefault();
          void act(async () => {
            await teachSlider(name);
            setCounts({ with: 0, without: 0 });
            const made = name.trim();
            setName('');
            return `Made the slider “${made}”; it is kept with this model.`;
          });
        }}
      >
        <input type="text" placeholder="Slider name, e.g. Glasses" value={name} onChange={(e) => setName(e.target.value)} aria-label="Slider name" data-testid="teach-name" />
        <button type="submit" className="small" disabled={!name.trim() || !counts.with || !counts.without} data-testid="teach-make">
          Make slider
        </button>
      </form>
      {msg && (
        <p className={`small ${msg.kind === 'error' ? 'error-text' : 'muted'}`} role={msg.kind === 'error' ? 'alert' : 'status'} data-testid="teach-message">
          {msg.text}
        </p>
      )}
    </details>
  );
}
