/**
 * Incoming directions (edit/directionFiles.ts) -> manifest entries for one pack, as model/directions/entries.py
 * resolves them: the length must be the pack's zDim (Z) or wDim (W); vectors are made unit; W directions get their
 * Z conversion from the pack's mapping graph (edit/wToZ.ts); ranges and layers are checked, and directions whose
 * layers all lie below fBlock.firstWs are not offered with F fixed. Ids must be new to the pack.
 */
import { EngineError } from '../errors';
import { partProblems, type ModelPackManifest } from '../pack/manifest';
import { vectorProblem, type Incoming } from './directionFiles';
import type { LatentStats, Mapper } from './latentStats';
import { unit, wToZ } from './wToZ';

type Entry = ModelPackManifest['directions'][number];

export const DEFAULT_RANGE: [number, number] = [-3, 3];

const fail = (message: string) => new EngineError('DirectionFileError', message);

/** Refuses a shipped set on a pack of another shape (the set's `fits`). */
function checkFits(inc: Incoming, m: ModelPackManifest) {
  const f = inc.fits;
  if (!f) return;
  if (f.resolution !== m.resolution || f.zDim !== m.zDim || f.numWs !== m.numWs) {
    throw fail(
      `${inc.source}: this set only fits ${f.generator ?? 'its generator'} (${f.resolution} px, zDim ${f.zDim}, ${f.numWs} ws); ` +
        `this pack is ${m.resolution} px, zDim ${m.zDim}, ${m.numWs} ws`,
    );
  }
}

export async function resolveDirections(incoming: Incoming[], m: ModelPackManifest, gen: Mapper, stats: () => Promise<LatentStats>): Promise<Entry[]> {
  const out: Entry[] = [];
  const have = new Set(m.directions.map((d) => d.id));
  for (const inc of incoming) {
    const what = `${inc.source}: direction '${inc.id}'`;
    checkFits(inc, m);
    if (have.has(inc.id)) throw fail(`${what}: the pack already has a direction with that id`);
    have.add(inc.id);
    const dim = inc.space === 'z' ? m.zDim : m.wDim;
    if (inc.vector.length !== dim) {
      const hint = inc.space === 'z' && inc.vector.length === m.wDim && m.wDim !== m.zDim ? ' (a W direction? name the file with _w)' : '';
      throw fail(`${what} has ${inc.vector.length} values; this pack (${m.name}) has ${inc.space === 'z' ? 'zDim' : 'wDim'} ${dim}${hint}`);
    }
    let e: Entry;
    if (inc.entry && inc.entry.vector.length === m.zDim && (inc.entry.wVector?.length ?? m.wDim) === m.wDim) {
      const p = vectorProblem(inc.entry.vector);
      if (p) throw fail(`${what}: its Z vector ${p}`);
      e = { ...inc.entry };
    } else if (inc.space === 'z') {
      e = { id: inc.id, label: inc.label, kind: inc.kind, space: 'z', vector: Array.from(unit(inc.vector)), range: DEFAULT_RANGE, source: inc.source };
    } else {
      const conv = await wToZ(gen, await stats(), inc.vector, inc.sigma, what);
      e = { id: inc.id, label: inc.label, kind: inc.kind, space: 'w', ...conv, range: DEFAULT_RANGE, source: inc.source } as Entry;
    }
    Object.assign(e, inc.fields);
    const r = e.range;
    if (!Array.isArray(r) || r.length !== 2 || !r.every(Number.isFinite) || !(r[0] < r[1])) throw fail(`${what}: range ${JSON.stringify(r)} is not [low, high] with low < high`);
    if (e.layers) {
      const bad = e.layers.filter((i) => !(Number.isInteger(i) && i >= 0 && i < m.numWs));
      if (bad.length || !e.layers.length) throw fail(`${what}: layers ${JSON.stringify(e.layers)} outside [0, ${m.numWs})`);
      if (e.layers.every((i) => i < m.fBlock.firstWs)) e.offerInF = false;
    }
    if (e.parts) {
      const bad = Array.isArray(e.parts) ? partProblems(e.id, e.parts, e.space, m) : ['parts is not a list'];
      if (bad.length) throw fail(`${what}: ${bad[0]}`);
      if (e.parts.every((p) => p.layers.every((i) => i < m.fBlock.firstWs))) e.offerInF = false;
    }
    out.push(e);
  }
  return out;
}
