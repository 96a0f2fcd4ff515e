/**
 * Model manager: bundled packs under /models/ plus packs imported from a zip, a folder or a URL and kept in this
 * browser (OPFS, through the import worker); storage quota; switch; delete. Imports are checked with the engine's
 * own manifest + sha256 checks and then loaded by the engine, which refuses a graph that does not load; on any
 * failure the pack is not kept and the current pack stays in use. A StyleGAN2 checkpoint (.pt / .pkl), picked or
 * dropped on the sheet, is converted into a pack in the import worker (state/convert.ts). The flows are in
 * src/state/packs.ts and src/state/convert.ts.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { useStore } from '../state/store';
import { deleteStoredPack, importPack, listPacks, storageEstimate, switchPack, type PackRow } from '../state/packs';
import { errorInfo } from '../state/errors';
import { cancelConvert, convertCheckpointFile, isCheckpointName } from '../state/convert';
import type { ConvertProgress } from '../worker/importClient';
import { PackDirections } from './PackDirections';
import type { ImportProgress, ImportSource } from '../worker/protocol';
import './ModelManager.css';

type Msg = { kind: 'ok' | 'error' | 'info'; text: string };

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

function progressText(p: ImportProgress): string {
  if (p.phase === 'checking') return 'Checking sizes and sha256…';
  if (p.phase === 'storing') return `Storing ${p.file}…`;
  const file = p.total ? `${p.file}: ${Math.round((100 * p.loaded) / p.total)}%` : `${p.file}: ${fmtBytes(p.loaded)}`;
  return `Reading ${file}` + (p.allBytes ? ` (${fmtBytes(p.doneBytes)} of ${fmtBytes(p.allBytes)})` : '');
}

function convertText(p: ConvertProgress): string {
  const pct = p.total ? ` ${Math.round((100 * p.done) / p.total)}%` : '';
  if (p.phase === 'template') return `Fetching the ${p.template} graphs…${pct}`;
  if (p.phase === 'wavg') return `Computing w_avg (the checkpoint has none)…${pct}`;
  if (p.phase === 'weights') return `Writing weights.bin…${pct} (${fmtBytes(p.done)} of ${fmtBytes(p.total)})`;
  if (p.phase === 'storing') return 'Storing the pack…';
  return `Reading the checkpoint (${fmtBytes(p.total)})…`;
}

export function ModelManager() {
  const [open, setOpen] = useState(false);
  const [rows, setRows] = useState<PackRow[] | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [msg, setMsg] = useState<Msg | null>(null);
  const [quota, setQuota] = useState<string | null>(null);
  const [usedFrac, setUsedFrac] = useState<number | null>(null);
  const [url, setUrl] = useState('');
  const packUrl = useStore((s) => s.packUrl);
  const pack = useStore((s) => s.pack);
  const phase = useStore((s) => s.phase);
  const zipInput = useRef<HTMLInputElement>(null);
  const dirInput = useRef<HTMLInputElement>(null);
  const ckptInput = useRef<HTMLInputElement>(null);
  const [converting, setConverting] = useState(false);
  const [dropOver, setDropOver] = useState(false);
  const dialog = useRef<HTMLDialogElement>(null);
  const opener = useRef<HTMLButtonElement>(null);
  const closeButton = useRef<HTMLButtonElement>(null);

  // a modal <dialog>: the page behind is inert, Tab stays inside, Escape closes (its 'close' event ends in onClosed)
  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (open && !d.open) {
      d.showModal();
      closeButton.current?.focus();
    } else if (!open && d.open) {
      d.close();
    }
  }, [open]);

  function onClosed() {
    setOpen(false);
    opener.current?.focus();
  }

  /** A click on the backdrop (outside the sheet) closes it. */
  function onDialogClick(e: React.MouseEvent<HTMLDialogElement>) {
    if (e.target !== e.currentTarget) return;
    const r = e.currentTarget.getBoundingClientRect();
    if (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom) setOpen(false);
  }

  const refresh = useCallback(async () => {
    setRows(await listPacks());
    const est = await storageEstimate();
    if (est) {
      setQuota(`${fmtBytes(est.usage)} used of ${fmtBytes(est.quota)} available to this site`);
      setUsedFrac(Math.min(1, est.usage / est.quota));
    } else {
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
      await switchPack(row.url);
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
      await deleteStoredPack(row.id);
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
    try {
      // unzip, sha256 and storage writes stream in the import worker: the page never holds the pack
      const checked = await importPack(source, {
        progress: (p) => setBusy(progressText(p)),
        loading: (title) => setBusy(`Loading ${title}…`),
      });
      setMsg({ kind: 'ok', text: `Imported ${checked.manifest.title} (${fmtBytes(checked.bytes)}) and switched to it` });
    } catch (e) {
      setMsg({ kind: 'error', text: `${label} was refused: ${errorInfo(e).message}. The current pack stays in use.` });
    } finally {
      setBusy(null);
      await refresh();
    }
  }

  async function runConvert(f: File) {
    setBusy(`Reading ${f.name}…`);
    setConverting(true);
    setMsg(null);
    try {
      // parsing, the weights recipe, sha256 and storage writes run in the import worker: the page never holds the file
      const done = await convertCheckpointFile(f, {
        progress: (p) => setBusy(convertText(p)),
        loading: (title) => {
          setConverting(false);
          setBusy(`Loading ${title}…`);
        },
      });
      setMsg({
        kind: 'ok',
        text: `Converted ${f.name} (${done.layout}, ${done.template} graphs, ${fmtBytes(done.bytes)}, ${(done.ms / 1000).toFixed(0)} s) and switched to it. It has no directions of its own: Find directions is finding GANSpace sliders for it now.`,
      });
    } catch (e) {
      const info = errorInfo(e);
      setMsg({ kind: 'error', text: info.name === 'CancelledError' ? `Conversion of ${f.name} cancelled; nothing was kept.` : `${f.name} was not converted: ${info.message}. The current pack stays in use.` });
    } finally {
      setConverting(false);
      setBusy(null);
      await refresh();
    }
  }

  function onCheckpoint(e: React.ChangeEvent<HTMLInputElement>) {
    const f = e.target.files?.[0];
    e.target.value = '';
    if (f) void runConvert(f);
  }

  // a file dropped on the sheet: a checkpoint is converted, a zip imported (the page's own drop handler never sees it)
  function onSheetDragOver(e: React.DragEvent) {
    if (!e.dataTransfer.types.includes('Files')) return;
    e.preventDefault();
    e.stopPropagation();
    e.dataTransfer.dropEffect = idle ? 'copy' : 'none';
    setDropOver(true);
  }

  function onSheetDrop(e: React.DragEvent) {
    if (!e.dataTransfer.types.includes('Files')) return;
    e.preventDefault();
    e.stopPropagation();
    setDropOver(false);
    const f = e.dataTransfer.files[0];
    if (!f) return;
    if (!idle) {
      setMsg({ kind: 'info', text: `Busy: drop ${f.name} again when the current task is done.` });
    } else if (/\.zip$/i.test(f.name)) {
      void runImport(f.name, { kind: 'zip', name: f.name, blob: f });
    } else if (isCheckpointName(f.name)) {
      void runConvert(f);
    } else {
      setMsg({ kind: 'error', text: `${f.name}: drop a StyleGAN2 checkpoint (.pt, .pkl) or a pack zip here; photos go on the editor.` });
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
      <button
        ref={opener}
        className="model-chip"
        onClick={() => setOpen(true)}
        aria-haspopup="dialog"
        aria-expanded={open}
        title={pack ? `${pack.description ?? pack.title} (change the model)` : 'Model packs'}
        data-testid="mm-open"
      >
        <LayersIcon />
        {pack ? (
          <span className="model-chip-name" data-testid="pack-name">
            {pack.title} <span className="model-chip-res">· {pack.resolution} px</span>
          </span>
        ) : (
          <span className="model-chip-name">Models</span>
        )}
        <span className="model-chip-caret" aria-hidden="true">▾</span>
      </button>
      <dialog
        ref={dialog}
        className={dropOver ? 'mm-sheet mm-drop-over' : 'mm-sheet'}
        aria-labelledby="mm-title"
        data-testid="model-manager"
        onClose={onClosed}
        onClick={onDialogClick}
        onDragOver={onSheetDragOver}
        onDragLeave={(e) => !e.currentTarget.contains(e.relatedTarget as Node | null) && setDropOver(false)}
        onDrop={onSheetDrop}
      >
        {open && (
          <div className="mm-sheet-body">
            <header className="mm-head">
              <div>
                <h2 id="mm-title">Models</h2>
                <p className="muted small">The model the editor inverts and edits with. Imported packs stay in this browser.</p>
              </div>
              <button ref={closeButton} className="mm-close ghost" onClick={() => setOpen(false)} aria-label="Close" title="Close (Esc)">
                ×
              </button>
            </header>
            <div className="mm-content">
              <section aria-labelledby="mm-available">
                <h3 id="mm-available" className="mm-section">Available</h3>
                {rows === null ? (
                  <p className="muted small">Looking for packs…</p>
                ) : (
                  <ul className="mm-list">
                    {rows.map((r) => {
                      const active = r.url === packUrl;
                      return (
                        <li key={r.url} className={active ? 'mm-row active' : 'mm-row'} data-testid="mm-pack" data-pack-id={r.id} data-source={r.source} data-active={active}>
                          <span className={`mm-dot ${active ? 'on' : ''}`} aria-hidden="true" />
                          <div className="mm-info">
                            <span className="mm-title">{r.title}</span>
                            <span className="muted small">
                              {r.source === 'imported' ? `imported · ${r.id}` : 'bundled'}
                              {r.resolution ? ` · ${r.resolution} px` : ''}
                              {r.bytes ? ` · ${fmtBytes(r.bytes)}` : ''}
                            </span>
                          </div>
                          <div className="mm-actions">
                            {active ? (
                              <span className="mm-inuse">In use</span>
                            ) : (
                              <button className="small" disabled={!idle} onClick={() => void use(r)} data-testid="mm-use">
                                Use
                              </button>
                            )}
                            {r.source === 'imported' && (
                              <button className="small ghost mm-delete" disabled={active || !idle} onClick={() => void remove(r)} data-testid="mm-delete" title={active ? 'Switch to another pack first' : 'Delete from this browser'} aria-label={`Delete ${r.title}`}>
                                Delete
                              </button>
                            )}
                          </div>
                        </li>
                      );
                    })}
                  </ul>
                )}
              </section>
              <PackDirections idle={idle} />
              <section className="mm-import" aria-labelledby="mm-import-title">
                <h3 id="mm-import-title" className="mm-section">Import a pack</h3>
                <p className="muted small">manifest.json, its ONNX graphs and weights.bin, e.g. from <code>python3 -m model.export</code>.</p>
                <div className="mm-buttons">
                  <button disabled={!idle} onClick={() => zipInput.current?.click()}>
                    <span className="mm-btn-icon" aria-hidden="true">⇪</span> From a zip…
                  </button>
                  <button disabled={!idle} onClick={() => dirInput.current?.click()}>
                    <span className="mm-btn-icon" aria-hidden="true">▤</span> From a folder…
                  </button>
                </div>
                <input ref={zipInput} type="file" accept=".zip,application/zip" hidden onChange={onZip} data-testid="mm-zip-input" />
                <input ref={ckptInput} type="file" accept=".pt,.pth,.pkl,.ckpt" hidden onChange={onCheckpoint} data-testid="mm-ckpt-input" />
                <input ref={dirInput} type="file" hidden multiple onChange={onDir} data-testid="mm-dir-input" {...{ webkitdirectory: '', directory: '' }} />
                <h3 className="mm-section">Convert a checkpoint</h3>
                <p className="muted small">
                  A StyleGAN2 generator: rosinality <code>.pt</code> (e.g. <code>stylegan2-ffhq-config-f.pt</code>, pSp/e4e, train.py) or NVIDIA
                  stylegan2-ada <code>.pkl</code>, picked or dropped here. Converted in this browser; the file is read, never run, and never leaves the device.
                </p>
                <div className="mm-buttons">
                  <button disabled={!idle} onClick={() => ckptInput.current?.click()} data-testid="mm-ckpt">
                    <span className="mm-btn-icon" aria-hidden="true">⚙</span> From a checkpoint…
                  </button>
                  {converting && (
                    <button className="ghost" onClick={() => void cancelConvert()} data-testid="mm-ckpt-cancel">
                      Cancel
                    </button>
                  )}
                </div>
                <form className="mm-url" onSubmit={onUrl}>
                  <input type="text" inputMode="url" placeholder="/models/pack/ or /packs/pack.zip" value={url} onChange={(e) => setUrl(e.target.value)} aria-label="Pack URL" data-testid="mm-url" />
                  <button type="submit" disabled={!idle || !url.trim()} data-testid="mm-url-go">
                    Download
                  </button>
                </form>
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
              </section>
            </div>
            {quota && (
              <footer className="mm-foot">
                {usedFrac !== null && (
                  <div className="mm-meter" role="meter" aria-label="Storage used" aria-valuemin={0} aria-valuemax={1} aria-valuenow={usedFrac}>
                    <div style={{ width: `${Math.max(1, 100 * usedFrac)}%` }} />
                  </div>
                )}
                <p className="muted small mm-quota" data-testid="mm-quota">
                  Storage: {quota}
                </p>
              </footer>
            )}
          </div>
        )}
      </dialog>
    </>
  );
}

function LayersIcon() {
  return (
    <svg className="model-chip-icon" viewBox="0 0 20 20" width="16" height="16" aria-hidden="true" focusable="false">
      <path d="M10 2.5 2.5 6.5 10 10.5l7.5-4z" fill="currentColor" opacity="0.9" />
      <path d="m2.5 10 7.5 4 7.5-4M2.5 13.5l7.5 4 7.5-4" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinejoin="round" />
    </svg>
  );
}
