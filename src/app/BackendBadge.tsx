import { useStore } from '../state/store';

export function BackendBadge() {
  const b = useStore((s) => s.backend);
  if (!b) return <span className="badge">…</span>;
  const text = b.kind === 'webgpu' ? 'WebGPU' : `WASM · ${b.threads} thread${b.threads === 1 ? '' : 's'}`;
  const title = [b.adapter, b.note, b.crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated'].filter(Boolean).join(' · ');
  return (
    <span className={`badge badge-${b.kind}`} title={title} data-testid="backend-badge" data-backend={b.kind}>
      {text}
    </span>
  );
}
