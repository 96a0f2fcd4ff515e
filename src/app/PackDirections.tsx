/**
 * The Models sheet's "Edit directions" section for the pack in use: add direction files (InterFaceGAN .npy, GANSpace
 * .npz, JSON entries), add the shipped InterFaceGAN++ FFHQ set to a pack of that generator's shape, find directions
 * with GANSpace (progress and cancel) for a pack without any (started on its own when such a pack loads), and remove
 * the added ones. The work happens in the
 * engine worker (src/state/directions.ts); a bad file gets its message and the pack stays as it was.
 */
import { useRef, useState } from 'react';
import { addDirectionFiles, addFfhqSet, cancelFindDirections, clearAddedDirections, directionsJob, findDirections, fitsFfhqSet } from '../state/directions';
import { useStore } from '../state/store';

const list = (labels: string[]) => (labels.length > 4 ? `${labels.slice(0, 4).join(', ')} and ${labels.length - 4} more` : labels.join(', '));

export function PackDirections({ idle }: { idle: boolean }) {
  const pack = useStore((s) => s.pack);
  const [busy, setBusy] = useState<string | null>(null);
  const finding = useStore((s) => s.finding);
  const msg = useStore((s) => s.directionsMsg);
  const input = useRef<HTMLInputElement>(null);
  if (!pack) return null;
  const added = pack.directions.filter((d) => d.added).length;
  const own = pack.directions.length - added;
  const can = idle && !busy && !finding;

  async function run(label: string, job: () => Promise<string>) {
    setBusy(label);
    await directionsJob(job).finally(() => setBusy(null));
  }

  function onFiles(e: React.ChangeEvent<HTMLInputElement>) {
    const files = e.target.files ? [...e.target.files] : [];
    e.target.value = '';
    if (!files.length) return;
    void run(`Reading ${files.map((f) => f.name).join(', ')}…`, async () => {
      const labels = await addDirectionFiles(files.map((f) => ({ name: f.name, blob: f })));
      return `Added ${labels.length} direction${labels.length === 1 ? '' : 's'}: ${list(labels)}`;
    });
  }

  return (
    <section className="mm-directions" aria-labelledby="mm-dirs-title" data-testid="mm-directions">
      <h3 id="mm-dirs-title" className="mm-section">Edit directions</h3>
      <p className="muted small" data-testid="dir-count">
        {pack.title}: {own} direction{own === 1 ? '' : 's'} of its own{added ? `, ${added} added in this browser` : ''}.
      </p>
      <p className="muted small">
        InterFaceGAN <code>.npy</code> (Z; <code>_w</code> names in W), GANSpace <code>.npz</code>, or a JSON list of direction entries. W directions are
        fitted to Z with this model's mapping.
      </p>
      <div className="mm-buttons">
        <button disabled={!can} onClick={() => input.current?.click()} data-testid="dir-add">
          Add directions…
        </button>
        {pack.directions.length === 0 && (
          <button disabled={!can} onClick={() => void findDirections()} data-testid="dir-find">
            Find directions
          </button>
        )}
        {added > 0 && (
          <button className="ghost" disabled={!can} onClick={() => void run('Removing…', async () => (await clearAddedDirections(), 'Removed the added directions'))} data-testid="dir-clear">
            Remove added
          </button>
        )}
      </div>
      {fitsFfhqSet(pack) && (
        <div className="mm-ffhq">
          <button disabled={!can} onClick={() => void run('Adding the InterFaceGAN++ FFHQ set…', async () => `Added ${(await addFfhqSet()).length} FFHQ directions`)} data-testid="dir-ffhq">
            Add the InterFaceGAN++ FFHQ set (39)
          </button>
          <p className="muted small">Fitted for NVIDIA's StyleGAN2 FFHQ config-f generator only; on other weights of this shape they are arbitrary directions.</p>
        </div>
      )}
      <input ref={input} type="file" accept=".npy,.npz,.json" multiple hidden onChange={onFiles} data-testid="dir-input" />
      {busy && (
        <div className="mm-status" role="status" data-testid="dir-status">
          {busy}
        </div>
      )}
      {finding && (
        <div className="mm-status" role="status" data-testid="dir-status">
          {finding.auto ? 'This pack has no edit directions: finding some (GANSpace on this model)…' : 'Finding directions (GANSpace on this model)…'}
          <progress max={1} value={finding.progress} data-testid="dir-progress" />
          <button className="small ghost" onClick={() => void cancelFindDirections()} data-testid="dir-cancel">
            Cancel
          </button>
        </div>
      )}
      {msg && (
        <p className={`mm-msg ${msg.kind}`} role={msg.kind === 'error' ? 'alert' : 'status'} data-testid="dir-message">
          {msg.text}
        </p>
      )}
    </section>
  );
}
