/** Top bar: brand, the current model (opens the model manager), the compute backend, PWA install/update. */
import { PwaControls } from '../pwa/PwaControls';
import { BackendBadge } from './BackendBadge';
import { ModelManager } from './ModelManager';

export function Header() {
  return (
    <header className="topbar">
      <div className="brand">
        <span className="logo" aria-hidden="true">F/Z+</span>
        <span className="brand-name">Studio</span>
      </div>
      <div className="topbar-meta">
        <ModelManager />
        <BackendBadge />
        <PwaControls />
      </div>
    </header>
  );
}
