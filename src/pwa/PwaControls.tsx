/**
 * PWA controls: an "Install app" button when the browser offers installation, and an
 * "Update available" prompt when a new service worker is waiting. Registration itself is done by the
 * external /registerSW.js that vite-plugin-pwa injects (no inline script, CSP-safe); this component only
 * watches the registration. Mount it once, e.g. in the app header: <PwaControls />.
 */
import { useEffect, useState } from 'react';

interface BeforeInstallPromptEvent extends Event {
  prompt(): Promise<void>;
  userChoice: Promise<{ outcome: 'accepted' | 'dismissed' }>;
}

export function usePwa() {
  const [installEvent, setInstallEvent] = useState<BeforeInstallPromptEvent | null>(null);
  const [waiting, setWaiting] = useState<ServiceWorker | null>(null);
  const [offlineReady, setOfflineReady] = useState(false);

  useEffect(() => {
    const onPrompt = (e: Event) => {
      e.preventDefault();
      setInstallEvent(e as BeforeInstallPromptEvent);
    };
    const onInstalled = () => setInstallEvent(null);
    window.addEventListener('beforeinstallprompt', onPrompt);
    window.addEventListener('appinstalled', onInstalled);
    let cancelled = false;
    const sw = navigator.serviceWorker;
    if (sw) {
      void sw.getRegistration().then(function watch(reg): void {
        if (cancelled) return;
        if (!reg) {
          // registerSW.js runs on window load; look again shortly.
          setTimeout(() => void sw.getRegistration().then(watch), 1000);
          return;
        }
        const check = () => {
          if (reg.waiting && sw.controller) setWaiting(reg.waiting);
          if (reg.active) setOfflineReady(true);
        };
        check();
        reg.addEventListener('updatefound', () => {
          const nw = reg.installing;
          nw?.addEventListener('statechange', () => nw.state === 'installed' && check());
        });
        // Look for a new version every hour while the app stays open.
        setInterval(() => void reg.update().catch(() => {}), 60 * 60 * 1000);
      });
    }
    return () => {
      cancelled = true;
      window.removeEventListener('beforeinstallprompt', onPrompt);
      window.removeEventListener('appinstalled', onInstalled);
    };
  }, []);

  const install = async () => {
    if (!installEvent) return;
    await installEvent.prompt();
    await installEvent.userChoice;
    setInstallEvent(null);
  };
  const update = () => {
    if (!waiting) return;
    navigator.serviceWorker.addEventListener('controllerchange', () => window.location.reload(), { once: true });
    // Workbox's generated SW skips waiting on this message.
    waiting.postMessage({ type: 'SKIP_WAITING' });
  };
  return { canInstall: !!installEvent, install, updateAvailable: !!waiting, update, offlineReady };
}

export function PwaControls() {
  const { canInstall, install, updateAvailable, update, offlineReady } = usePwa();
  return (
    <span className="pwa-controls" data-testid="pwa-controls" data-offline-ready={offlineReady}>
      {canInstall && (
        <button onClick={() => void install()} data-testid="install-app" title="Install F/Z+ Studio as an app (works offline)">
          Install app
        </button>
      )}
      {updateAvailable && (
        <span className="pwa-update" role="status" data-testid="update-available">
          A new version is ready. <button onClick={update} data-testid="update-reload">Reload to update</button>
        </span>
      )}
    </span>
  );
}
