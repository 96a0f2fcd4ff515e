/** The Photo card: size and notes of the current photo, open another, pick another face, save / delete the session. */
import { pickAnotherFace } from '../state/photo';
import { discardSession, saveSession } from '../state/sessions';
import { useStore } from '../state/store';
import { FilePicker } from './FilePicker';
import { Samples } from './Samples';

export function PhotoCard() {
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
          <button onClick={() => void pickAnotherFace()} data-testid="pick-another">Pick another face</button>
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
