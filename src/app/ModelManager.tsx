/**
 * Model manager (issue 5.2): bundled packs under /models/ plus packs imported from a zip, a folder or a URL and kept
 * in the Origin Private File System; storage quota; switch; delete. Imports are checked with the engine's own
 * manifest + sha256 checks (src/engine/packImport.ts) and then loaded by the engine, which refuses a graph that
 * does not load; on any failure the pack is not kept and the current pack stays in use.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { useStore } from '../state/store';
import { loadPack, readUrlOptions, DEFAULT_PACKS } from '../state/actions';
import { errorInfo, proxy } from '../worker/client';
import { getImporter } from '../worker/importClient';
import type { ImportProgress, ImportSource } from '../worker/protocol';
import { defaultPackStorage, STORED_PREFIX, storedPackId, storedPackUrl } from '../engine/packStore';
import './ModelManager.css';

const ACTIVE_KEY = 'fzplus.activePack';
const bundledUrl = (name: string) => new URL(`${import.meta.env.BASE_URL}models/${name}/`, location.href).href;

interface PackRow {
  id: string;
  url: string;
  title: string;
  source: 'bundled' | 'imported';
  bytes?: number;
  resolution?: number;
}

type Msg = { kind: 'ok' | 'error' | 'info'; text: string };

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

async function manifestInfo(fetchJson: () => Promise<unknown>): Promise<{ title?: string; resolution?: number }> {
  try {
    const m = (await fetchJson()) as { title?: string; resolution?: number };
    return { title: m.title, resolution: m.resolution };
  } catch {
    return {};
  }
}

async function listPacks(): Promise<PackRow[]> {
  const rows: PackRow[] = [];
  for (const name of DEFAULT_PACKS) {
    const url = bundledUrl(name);
    try {
      const r = await fetch(url + 'manifest.json');
      if (!r.ok || (r.headers.get('content-type') ?? '').includes('text/html')) continue;
      const info = await manifestInfo(() => r.json());
      rows.push({ id: name, url, title: info.title ?? name, resolution: info.resolution, source: 'bundled' });
    } catch {
      /* not bundled in this build */
    }
  }
  const storage = defaultPackStorage();
  let ids: string[] = [];
  try {
    ids = await storage.list();
  } catch {
    /* no OPFS */
  }
  for (const id of ids) {
    const info = await manifestInfo(async () => JSON.parse(new TextDecoder().decode(await storage.read(id, 'manifest.json'))));
    const bytes = await storage.size(id).catch(() => undefined);
    rows.push({ id, url: storedPackUrl(id), title: info.title ?? id, resolution: info.resolution, bytes, source: 'imported' });
  }
  return rows;
}

function progressText(p: ImportProgress): string {
  if (p.phase === 'checking') return 'Checking sizes and sha256…';
  if (p.phase === 'storing') return `Storing ${p.file}…`;
  const file = p.total ? `${p.file}: ${Math.round((100 * p.loaded) / p.total)}%` : `${p.file}: ${fmtBytes(p.loaded)}`;
  return `Reading ${file}` + (p.allBytes ? ` (${fmtBytes(p.doneBytes)} of ${fmtBytes(p.allBytes)})` : '');
}

/** Switches to the pack the user chose last time (unless ?pack= names one), once the first pack is loaded. */
function useRememberedPack(setMsg: (m: Msg) => void) {
  const phase = useStore((s) => s.phase);
  const done = useRef(false);
  useEffect(() => {
    if (done.current || (phase !== 'ready' && phase !== 'failed')) return;
    done.current = true;
    const want = localStorage.getItem(ACTIVE_KEY);
    if (!want || readUrlOptions().pack || want === useStore.getState().packUrl) return;
    void (async () => {
      const id = storedPackId(want);
      if (id && !(await defaultPackStorage().list().catch(() => [] as string[])).includes(id)) {
        localStorage.removeItem(ACTIVE_KEY);
        return;
      }
      try {
        await loadPack(want);
      } catch (e) {
        localStorage.removeItem(ACTIVE_KEY);
        setMsg({ kind: 'error', text: `The pack used last time could not be loaded: ${errorInfo(e).message}` });
      }
    })();
  }, [phase, setMsg]);
}

/**
 * Sample faces of an imported pack arrive as opfs:/ URLs, which <img> and fetch cannot read: swap them for blob:
 * URLs of the stored files (the CSP allows blob: for img-src and connect-src).
 */
function useStoredSamples() {
  const pack = useStore((s) => s.pack);
  useEffect(() => {
    if (!pack?.samples.some((u) => u.startsWith(STORED_PREFIX))) return;
    let cancelled = false;
    const made: string[] = [];
    void (async () => {
      const samples: string[] = [];
      for (const u of pack.samples) {
        const id = storedPackId(u);
        if (id === null) {
          samples.push(u);
          continue;
        }
        try {
          const data = await defaultPackStorage().read(id, decodeURIComponent(u.slice(storedPackUrl(id).length)));
          const type = /\.jpe?g$/i.test(u) ? 'image/jpeg' : /\.webp$/i.test(u) ? 'image/webp' : 'image/png';
          const b = URL.createObjectURL(new Blob([data as Uint8Array<ArrayBuffer>], { type }));
          made.push(b);
          samples.push(b.toString() + '#' + (u.split('/').pop() ?? 'sample'));
        } catch {
          /* a sample the pack does not have: leave it out */
        }
      }
      if (!cancelled) useStore.setState((s) => (s.pack === pack ? { pack: { ...pack, samples } } : {}));
    })();
    return () => {
      cancelled = true;
      // revoke once a different pack is shown (the swapped summary re-runs this effect with blob: URLs only)
      setTimeout(() => {
        if (!useStore.getState().pack?.samples.some((x) => made.some((m) => x.startsWith(m)))) made.forEach((m) => URL.revokeObjectURL(m));
      }, 0);
    };
  }, [pack]);
}

export function ModelManager() {
  const [open, setOpen] = useState(false);
  const [rows, setRows] = useState<PackRow[] | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [msg, setMsg] = useState<Msg | null>(null);
  const [quota, setQuota] = useState<string | null>(null);
  const [url, setUrl] = useState('');
  const packUrl = useStore((s) => s.packUrl);
  const phase = useStore((s) => s.phase);
  const zipInput = useRef<HTMLInputElement>(null);
  const dirInput = useRef<HTMLInputElement>(null);
  useRememberedPack(setMsg);
  useStoredSamples();

  const refresh = useCallback(async () => {
    setRows(await listPacks());
    try {
      const est = await navigator.storage?.estimate?.();
      if (est?.quota) setQuota(`${fmtBytes(est.usage ?? 0)} used of ${fmtBytes(est.quota)} available to this site`);
    } catch {
      setQuota(null);
    }
  }, []);

  useEffect(() => {
    if (open) void refresh();
  }, [open, refresh]);

  // switching while a photo is decoded or inverted would pull the model out from under it
  const idle = (phase === 'ready' || phase === 'inverted' || phase === 'failed') && !busy;

  async function use(row: PackRow) {
    setBusy(`Loading ${row.title}…`);
    setMsg(null);
    try {
      await loadPack(row.url);
      localStorage.setItem(ACTIVE_KEY, row.url);
      setMsg({ kind: 'ok', text: `Now using ${row.title}` });
    } catch (e) {
      setMsg({ kind: 'error', text: `${row.title} could not be loaded: ${errorInfo(e).message}. The current pack stays in use.` });
    } finally {
      setBusy(null);
    }
  }

  async function remove(row: PackRow) {
    if (!confirm(`Delete the pack "${row.title}" from this browser?`)) return;
    setBusy(`Deleting ${row.title}…`);
    try {
      await defaultPackStorage().remove(row.id);
      if (localStorage.getItem(ACTIVE_KEY) === row.url) localStorage.removeItem(ACTIVE_KEY);
      setMsg({ kind: 'ok', text: `Deleted ${row.title}` });
    } catch (e) {
      setMsg({ kind: 'error', text: `Could not delete ${row.title}: ${errorInfo(e).message}` });
    } finally {
      setBusy(null);
      await refresh();
    }
  }

  async function runImport(label: string, source: ImportSource) {
    setBusy(`Reading ${label}…`);
    setMsg(null);
    const storage = defaultPackStorage();
    let reading = true; // progress messages come on their own port and may land after the result
    try {
      // unzip, sha256 and OPFS writes stream in the import worker (issue 5.3): the page never holds the pack
      const checked = await getImporter()
        .importPack(source, proxy((p: ImportProgress) => void (reading && setBusy(progressText(p)))))
        .finally(() => (reading = false));
      setBusy(`Loading ${checked.manifest.title}…`);
      const target = storedPackUrl(checked.id);
      try {
        await loadPack(target); // the engine creates the graphs' sessions: a graph that does not load is refused here
      } catch (e) {
        await storage.remove(checked.id).catch(() => undefined);
        throw e;
      }
      localStorage.setItem(ACTIVE_KEY, target);
      void navigator.storage?.persist?.().catch(() => false);
      setMsg({ kind: 'ok', text: `Imported ${checked.manifest.title} (${fmtBytes(checked.bytes)}) and switched to it` });
    } catch (e) {
      setMsg({ kind: 'error', text: `${label} was refused: ${errorInfo(e).message}. The current pack stays in use.` });
    } finally {
      setBusy(null);
      await refresh();
    }
  }

  function onZip(e: React.ChangeEvent<HTMLInputElement>) {
    const f = e.target.files?.[0];
    e.target.value = '';
    if (f) void runImport(f.name, { kind: 'zip', name: f.name, blob: f });
  }

  function onDir(e: React.ChangeEvent<HTMLInputElement>) {
    const list = e.target.files ? [...e.target.files] : [];
    e.target.value = '';
    const files = list.map((f) => ({ path: f.webkitRelativePath || f.name, blob: f }));
    if (list.length) void runImport(`The folder ${list[0].webkitRelativePath.split('/')[0] || ''}`.trim(), { kind: 'files', files });
  }

  function onUrl(e: React.FormEvent) {
    e.preventDefault();
    const u = url.trim();
    if (!u) return;
    let abs: string;
    try {
      abs = new URL(u, location.href).href;
    } catch {
      setMsg({ kind: 'error', text: `"${u}" is not a URL` });
      return;
    }
    if (new URL(abs).origin !== location.origin) {
      // the app's Content-Security-Policy (connect-src 'self') keeps every request on this site
      setMsg({ kind: 'error', text: `${abs} is on another site; this app only downloads from its own origin (privacy policy). Download the pack there and import the zip or folder instead.` });
      return;
    }
    void runImport(abs, { kind: 'url', url: abs });
  }

  return (
    <>
      <button className="mm-toggle" onClick={() => setOpen((o) => !o)} aria-expanded={open} data-testid="mm-open">
        Models
      </button>
      {open && (
        <div className="mm-panel" role="dialog" aria-label="Model packs" data-testid="model-manager">
          <div className="mm-head">
            <strong>Model packs</strong>
            <button className="mm-close" onClick={() => setOpen(false)} aria-label="Close">
              ×
            </button>
          </div>
          {rows === null ? (
            <p className="muted">Looking for packs…</p>
          ) : (
            <ul className="mm-list">
              {rows.map((r) => {
                const active = r.url === packUrl;
                return (
                  <li key={r.url} className={active ? 'mm-row active' : 'mm-row'} data-testid="mm-pack" data-pack-id={r.id} data-source={r.source} data-active={active}>
                    <div className="mm-info">
                      <span className="mm-title">{r.title}</span>
                      <span className="muted">
                        {r.source}
                        {r.source === 'imported' ? ` · ${r.id}` : ''}
                        {r.resolution ? ` · ${r.resolution} px` : ''}
                        {r.bytes ? ` · ${fmtBytes(r.bytes)}` : ''}
                        {active ? ' · in use' : ''}
                      </span>
                    </div>
                    <div className="mm-actions">
                      <button disabled={active || !idle} onClick={() => void use(r)} data-testid="mm-use">
                        Use
                      </button>
                      {r.source === 'imported' && (
                        <button disabled={active || !idle} onClick={() => void remove(r)} data-testid="mm-delete" title={active ? 'Switch to another pack first' : 'Delete from this browser'}>
                          Delete
                        </button>
                      )}
                    </div>
                  </li>
                );
              })}
            </ul>
          )}
          <div className="mm-import">
            <span className="muted">Import a pack (manifest.json, graphs, weights.bin):</span>
            <div className="mm-buttons">
              <button disabled={!idle} onClick={() => zipInput.current?.click()}>
                From a zip…
              </button>
              <button disabled={!idle} onClick={() => dirInput.current?.click()}>
                From a folder…
              </button>
            </div>
            <input ref={zipInput} type="file" accept=".zip,application/zip" hidden onChange={onZip} data-testid="mm-zip-input" />
            <input ref={dirInput} type="file" hidden multiple onChange={onDir} data-testid="mm-dir-input" {...{ webkitdirectory: '', directory: '' }} />
            <form className="mm-url" onSubmit={onUrl}>
              <input type="text" inputMode="url" placeholder="/models/pack/ or https://…/pack.zip" value={url} onChange={(e) => setUrl(e.target.value)} aria-label="Pack URL" data-testid="mm-url" />
              <button type="submit" disabled={!idle || !url.trim()} data-testid="mm-url-go">
                Download
              </button>
            </form>
          </div>
          {busy && (
            <p className="mm-status" role="status" data-testid="mm-status">
              {busy}
            </p>
          )}
          {msg && (
            <p className={`mm-msg ${msg.kind}`} role={msg.kind === 'error' ? 'alert' : 'status'} data-testid="mm-message">
              {msg.text}
            </p>
          )}
          {quota && (
            <p className="muted mm-quota" data-testid="mm-quota">
              Storage: {quota}
            </p>
          )}
        </div>
      )}
    </>
  );
}
