/**
 * The stage: the drop zone before a photo, the face picker, or the model's view of the photo next to the edited
 * result ("In the photo" shows the edit pasted back into the whole photo; "Hold to compare" the unedited one).
 */
import { useEffect, useState } from 'react';
import { showInPhoto } from '../state/composite';
import { useStore, type RGBAImage } from '../state/store';
import { FacePicker } from './FacePicker';
import { FilePicker } from './FilePicker';
import { FrameCanvas } from './FrameCanvas';
import { Samples } from './Samples';

/** The edit pasted back into the photo while `on` (composited in the image worker; null until the first arrives). */
function useInPhoto(on: boolean, frame: RGBAImage | null): RGBAImage | null {
  const crop = useStore((s) => s.crop);
  const shownCrop = useStore((s) => s.inPhoto.crop);
  const image = useStore((s) => s.inPhoto.image);
  useEffect(() => {
    if (on && crop && frame) showInPhoto(frame);
  }, [on, crop, frame]);
  // the previous composite of the same crop stays up until the next one is ready (no flicker while dragging)
  return on && crop && frame && shownCrop === crop ? image : null;
}

export function Stage() {
  const photo = useStore((s) => s.photo);
  const edited = useStore((s) => s.edited);
  const reconstruction = useStore((s) => s.reconstruction);
  const phase = useStore((s) => s.phase);
  const bootMessage = useStore((s) => s.bootMessage);
  const rendering = useStore((s) => s.rendering);
  const picking = useStore((s) => !!s.facePick);
  const crop = useStore((s) => s.crop);
  const [compare, setCompare] = useState(false);
  const [inPhoto, setInPhoto] = useState(false);
  const rightFrame = compare ? reconstruction : edited ?? reconstruction;
  const composite = useInPhoto(inPhoto, rightFrame);

  if (picking) return <FacePicker />;
  if (phase === 'detecting') {
    return (
      <div className="dropzone" data-testid="detecting">
        <p className="muted">Looking for faces…</p>
      </div>
    );
  }
  if (!photo) {
    return (
      <div className="dropzone" data-testid="dropzone">
        {phase === 'booting' || phase === 'loading-pack' ? (
          <p className="muted">{bootMessage}</p>
        ) : (
          <>
            <div className="dropzone-icon" aria-hidden="true">⬇</div>
            <h2>Drop a face photo here</h2>
            <p className="muted">or paste it (Ctrl+V), or</p>
            <FilePicker label="Choose a photo…" primary />
            <Samples />
          </>
        )}
      </div>
    );
  }
  const right = composite ?? rightFrame;
  return (
    <div className="frames">
      <figure>
        <FrameCanvas frame={photo.frame} testId="photo-canvas" label="your photo" />
        <figcaption>
          <span className="caption-title">
            {crop ? (crop.landmarks ? 'Aligned face' : 'Whole image') : 'Photo'} <span className="muted">· {photo.name}</span>
          </span>
        </figcaption>
      </figure>
      <figure className="result">
        {composite ? (
          <div className="in-photo" style={{ aspectRatio: `${composite.width} / ${composite.height}` }}>
            <FrameCanvas frame={composite} testId="result-canvas" label="edit pasted back into the photo" />
          </div>
        ) : (
          <FrameCanvas frame={right} testId="result-canvas" label="reconstruction and edit" />
        )}
        {!right && <div className="frame-placeholder">{phase === 'inverting' ? 'Inverting…' : ''}</div>}
        {rendering && <div className="spinner" aria-label="rendering" data-testid="rendering" />}
        <figcaption>
          {compare ? 'Before edits' : 'Edited'}
          {crop && (
            <button className="small" data-testid="view-in-photo" aria-pressed={inPhoto} disabled={!reconstruction}
              onClick={() => setInPhoto((v) => !v)} title="Show the edit blended back into the whole photo (as downloaded)">
              {inPhoto ? 'Face only' : 'In the photo'}
            </button>
          )}
          <button
            className="small"
            data-testid="compare"
            disabled={!reconstruction}
            onPointerDown={() => setCompare(true)}
            onPointerUp={() => setCompare(false)}
            onPointerLeave={() => setCompare(false)}
            onKeyDown={(e) => e.key === ' ' && setCompare(true)}
            onKeyUp={() => setCompare(false)}
            title="Hold to see the reconstruction without edits"
          >
            Hold to compare
          </button>
        </figcaption>
      </figure>
    </div>
  );
}
