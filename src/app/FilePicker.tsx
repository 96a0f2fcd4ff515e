/** A button that opens the system file picker for a photo. */
import { useRef } from 'react';
import { openImage } from '../state/photo';

export function FilePicker({ label, primary }: { label: string; primary?: boolean }) {
  const ref = useRef<HTMLInputElement>(null);
  return (
    <>
      <button className={primary ? 'primary' : ''} onClick={() => ref.current?.click()}>
        {label}
      </button>
      <input
        ref={ref}
        type="file"
        accept="image/*"
        hidden
        data-testid="file-input"
        onChange={(e) => {
          const f = e.target.files?.[0];
          if (f) void openImage(f, f.name);
          e.target.value = '';
        }}
      />
    </>
  );
}
