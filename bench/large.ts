/**
 * Large-pack bench page (bench/large.html, driven by bench/large.mjs): runs bench/large.worker.ts for
 * ?pack=<url>&backend=&threads=&runs=&gradRuns=&graphs=, forwards its phases to the runner (window.__phase, which
 * samples the RSS of Chromium's processes from /proc) and measures the page's memory with
 * performance.measureUserAgentSpecificMemory() (cross-origin isolated) after each phase. Writes window.__bench.
 */
import LargeWorker from './large.worker.ts?worker';

const q = new URLSearchParams(location.search);
const w = window as unknown as { __phase?: (name: string) => Promise<void>; __bench?: unknown };
const rows: Record<string, unknown>[] = [];

async function uaMemory(): Promise<number | null> {
  const p = performance as unknown as { measureUserAgentSpecificMemory?: () => Promise<{ bytes: number }> };
  if (!crossOriginIsolated || !p.measureUserAgentSpecificMemory) return null;
  try {
    return (await Promise.race([p.measureUserAgentSpecificMemory(), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), 20_000))])).bytes;
  } catch {
    return null;
  }
}

const worker = new LargeWorker();
worker.onmessage = async (ev: MessageEvent) => {
  const m = ev.data;
  if (m.type === 'phase') await w.__phase?.(m.name);
  else if (m.type === 'row') rows.push({ ...m.row, uaMemory: await uaMemory() });
  if (m.type === 'phase' || m.type === 'row') return void worker.postMessage('ack');
  if (m.type === 'done' || m.type === 'error') {
    await w.__phase?.('end');
    w.__bench = { rows, ...(m.type === 'done' ? m.result : { error: m.message }) };
    document.getElementById('out')!.textContent = JSON.stringify(w.__bench, null, 1);
  }
};
worker.postMessage({
  packUrl: new URL(q.get('pack')!, location.href).href,
  backend: q.get('backend') ?? 'wasm',
  threads: Number(q.get('threads') ?? 1),
  runs: Number(q.get('runs') ?? 3),
  gradRuns: Number(q.get('gradRuns') ?? 1),
  graphs: q.get('graphs') ? q.get('graphs')!.split(',') : null,
  wasmPaths: new URL('/ort/', location.href).href,
  keep: q.get('keep') === '1',
});
