/** After boot, when a session is saved in this browser: restore it, delete it, or not now. */
import { discardSession, dismissSessionOffer, restoreSession } from '../state/sessions';
import { useStore } from '../state/store';

export function SessionOffer() {
  const saved = useStore((s) => s.saved);
  if (!saved?.offered) return null;
  return (
    <div className="card session-offer" role="status" data-testid="session-offer">
      <span>
        <strong>Saved session</strong> · “{saved.photoName}” with {saved.packTitle}, saved {new Date(saved.savedAt).toLocaleString()}
      </span>
      <span className="row">
        <button className="primary" onClick={() => void restoreSession()} data-testid="restore-session">Restore</button>
        <button onClick={() => void discardSession()} data-testid="offer-delete-session">Delete</button>
        <button onClick={dismissSessionOffer} data-testid="offer-dismiss">Not now</button>
      </span>
    </div>
  );
}
