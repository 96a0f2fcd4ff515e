import { useStore } from '../state/store';
import { cancelFacePick, chooseFace, selectFace } from '../state/photo';
import { noFaceMessage } from '../image/faces-core';
import { FrameCanvas } from './FrameCanvas';

/**
 * Shown when a landmark-aligned pack gets a photo with several faces (boxes over the photo, largest preselected)
 * or none (a clear message and "use the whole image").
 */
export function FacePicker() {
  const fp = useStore((s) => s.facePick);
  const hasPhoto = useStore((s) => !!s.photo);
  if (!fp) return null;
  const [W, H] = fp.size;
  const none = fp.faces.length === 0;
  return (
    <div className="card face-picker" data-testid="face-picker" data-faces={fp.faces.length}>
      <div className="face-picker-photo" style={{ aspectRatio: `${W} / ${H}` }}>
        <FrameCanvas frame={fp.view} testId="pick-canvas" label={`faces found in ${fp.name}`} />
        {fp.faces.map((f, i) => (
          <button
            key={i}
            className={`face-box ${i === fp.selected ? 'selected' : ''}`}
            data-testid={`face-${i}`}
            aria-pressed={i === fp.selected}
            title={`face ${i + 1} (detector score ${f.score.toFixed(2)})`}
            style={{
              left: `${(100 * f.box.x) / W}%`,
              top: `${(100 * f.box.y) / H}%`,
              width: `${(100 * f.box.width) / W}%`,
              height: `${(100 * f.box.height) / H}%`,
            }}
            onClick={() => selectFace(i)}
            onDoubleClick={() => void chooseFace(i)}
          >
            <span>{i + 1}</span>
          </button>
        ))}
      </div>
      {none ? (
        <div className="face-picker-text" role="status" data-testid="no-face">
          <strong>No face found</strong>
          <p className="muted small">{fp.error ? `Face detection failed (${fp.error}). ` : ''}{noFaceMessage(`“${fp.name}”`)}</p>
        </div>
      ) : (
        <div className="face-picker-text">
          <strong>{fp.faces.length} faces found</strong>
          <p className="muted small">Click the face to edit (the largest is selected), then press “Edit this face”.</p>
        </div>
      )}
      <div className="row wrap">
        {!none && (
          <button className="primary" data-testid="edit-face" onClick={() => void chooseFace(fp.selected)}>
            Edit this face
          </button>
        )}
        <button className={none ? 'primary' : ''} data-testid="use-whole-image" onClick={() => void chooseFace(null)}>
          Use the whole image
        </button>
        <button data-testid="pick-cancel" onClick={cancelFacePick}>{hasPhoto ? 'Keep the current photo' : 'Cancel'}</button>
      </div>
    </div>
  );
}
