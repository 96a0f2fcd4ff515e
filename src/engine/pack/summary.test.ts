// The pack summary the UI reads: a direction's measured side effects (manifest alsoMoves) reach the Edit card.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ModelPack } from './load';
import { validateManifest } from './manifest';
import { summarise } from './summary';

const tiny = () => JSON.parse(readFileSync(resolve(__dirname, '../../../public/models/tiny-test/manifest.json'), 'utf8'));

describe('summarise', () => {
  it('passes alsoMoves on with a label (the attribute id where the pack gives none)', () => {
    const m = tiny();
    m.directions[0].alsoMoves = [{ attribute: 'shaved', label: 'Shaved head', ratio: 0.95 }];
    m.directions[1].alsoMoves = [{ attribute: 'hair_lum', ratio: 0.41 }];
    const s = summarise({ manifest: validateManifest(m), baseUrl: '/p/' } as unknown as ModelPack);
    expect(s.directions[0].alsoMoves).toEqual([{ label: 'Shaved head', ratio: 0.95 }]);
    expect(s.directions[1].alsoMoves).toEqual([{ label: 'hair_lum', ratio: 0.41 }]);
    const plain = summarise({ manifest: validateManifest(tiny()), baseUrl: '/p/' } as unknown as ModelPack);
    expect(plain.directions.every((d) => !('alsoMoves' in d))).toBe(true);
  });

  it('refuses a malformed alsoMoves', () => {
    for (const bad of [[{ attribute: 'x', ratio: -1 }], [{ ratio: 0.5 }], [{ attribute: 'x', ratio: 0.5, extra: 1 }], 'x']) {
      const m = tiny();
      m.directions[0].alsoMoves = bad;
      expect(() => validateManifest(m)).toThrow();
    }
  });
});
