import { dismissBanner, useStore } from '../state/store';

export function Banners() {
  const banners = useStore((s) => s.banners);
  if (!banners.length) return null;
  return (
    <div className="banners" role="region" aria-label="messages">
      {banners.map((b) => (
        <div key={b.id} className={`banner banner-${b.kind}`} role={b.kind === 'error' ? 'alert' : 'status'} data-testid={`banner-${b.kind}`}>
          <div>
            <strong>{b.title}</strong>
            <span>{b.message}</span>
          </div>
          <button className="ghost" aria-label="dismiss" onClick={() => dismissBanner(b.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
