/**
 * Window-wide input: whatever is dropped gets an answer (state/drop.ts) and the browser never navigates to a dropped
 * link or file; a pasted file opens as the photo; Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y undo and redo.
 */
import { useEffect, useState } from 'react';
import { handleDrop } from '../state/drop';
import { openImage } from '../state/photo';
import { redo, undo } from '../state/sliders';

/** A text field takes dropped text or links itself (the browser inserts them); files always come to the app. */
const textFieldTakes = (e: DragEvent) => {
  const t = e.target as HTMLElement | null;
  const field = !!t && (t.tagName === 'TEXTAREA' || (t.tagName === 'INPUT' && (t as HTMLInputElement).type === 'text') || t.isContentEditable);
  return field && !e.dataTransfer?.types.includes('Files');
};

/** Installs the listeners; returns whether a file is being dragged over the page. */
export function useWindowInput(): boolean {
  const [dragging, setDragging] = useState(false);
  useEffect(() => {
    // preventDefault on every dragover and drop: the default would open the dropped link or file in place of the app
    const over = (e: DragEvent) => {
      if (textFieldTakes(e)) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
      if (e.dataTransfer?.types.includes('Files')) setDragging(true);
    };
    const leave = (e: DragEvent) => {
      if (!e.relatedTarget) setDragging(false);
    };
    const drop = (e: DragEvent) => {
      if (textFieldTakes(e)) return;
      e.preventDefault();
      setDragging(false);
      const dt = e.dataTransfer;
      const uri = dt?.getData('text/uri-list').split(/\r?\n/).find((l) => l && !l.startsWith('#'));
      void handleDrop({ files: Array.from(dt?.files ?? []), uri, text: dt?.getData('text/plain') || undefined });
    };
    const paste = (e: ClipboardEvent) => {
      const item = Array.from(e.clipboardData?.items ?? []).find((i) => i.kind === 'file');
      const f = item?.getAsFile();
      if (f) {
        e.preventDefault();
        void openImage(f, f.name || 'pasted image');
      }
    };
    const keys = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'z') {
        if ((e.target as HTMLElement)?.tagName === 'INPUT' && (e.target as HTMLInputElement).type !== 'range') return;
        e.preventDefault();
        if (e.shiftKey) redo();
        else undo();
      } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'y') {
        e.preventDefault();
        redo();
      }
    };
    window.addEventListener('dragover', over);
    window.addEventListener('dragleave', leave);
    window.addEventListener('drop', drop);
    window.addEventListener('paste', paste);
    window.addEventListener('keydown', keys);
    return () => {
      window.removeEventListener('dragover', over);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('drop', drop);
      window.removeEventListener('paste', paste);
      window.removeEventListener('keydown', keys);
    };
  }, []);
  return dragging;
}
