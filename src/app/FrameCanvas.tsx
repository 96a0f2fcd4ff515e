import { useEffect, useRef } from 'react';
import type { RGBAImage } from '../state/store';

/** Draws an RGBA frame at its native size; CSS scales it up. */
export function FrameCanvas({ frame, testId, label }: { frame: RGBAImage | null; testId: string; label: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current;
    if (!c || !frame) return;
    if (c.width !== frame.width) c.width = frame.width;
    if (c.height !== frame.height) c.height = frame.height;
    c.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(frame.data), frame.width, frame.height), 0, 0);
  }, [frame]);
  return (
    <canvas
      ref={ref}
      data-testid={testId}
      aria-label={label}
      role="img"
      className={`frame ${frame && frame.width <= 128 ? 'pixelated' : ''} ${frame ? '' : 'empty'}`}
      width={frame?.width ?? 1}
      height={frame?.height ?? 1}
    />
  );
}
