import type { ModelPackManifest } from './manifest.types';
// CSP-safe ajv standalone validator generated from schema/manifest.schema.json by `npm run gen:types`.
import { validate as schemaValidate } from './manifest.validate.generated.js';
import { EngineError } from '../errors';
import { expectedShape, GRAPH_IO, type GraphKey } from '../graphs/contract';

export type { ModelPackManifest };
interface AjvError {
  instancePath: string;
  message?: string;
  params?: Record<string, unknown>;
}

function describeAjvError(e: AjvError): string {
  const where = e.instancePath || '(root)';
  const extra = e.params && 'additionalProperty' in e.params ? ` '${String(e.params.additionalProperty)}'` : '';
  const allowed = e.params && 'allowedValues' in e.params ? ` ${JSON.stringify(e.params.allowedValues)}` : '';
  return `${where} ${e.message ?? 'is invalid'}${extra}${allowed}`;
}

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

/**
 * The first number of `json` that is not finite (JSON.parse turns 1e999 into Infinity), as a JSON path, or null.
 * The schema's bounds and the generated validator refuse these too; this names the place for the message.
 */
export function nonFiniteAt(json: unknown, path = ''): string | null {
  if (typeof json === 'number') return Number.isFinite(json) ? null : path || '(root)';
  if (Array.isArray(json)) {
    for (let i = 0; i < json.length; i++) {
      const at = nonFiniteAt(json[i], `${path}/${i}`);
      if (at) return at;
    }
  } else if (json && typeof json === 'object') {
    for (const [k, v] of Object.entries(json)) {
      const at = nonFiniteAt(v, `${path}/${k}`);
      if (at) return at;
    }
  }
  return null;
}

/** The files a manifest names (weights, graphs, samples), for the checks that need them all. */
function namedFiles(m: ModelPackManifest): string[] {
  return [...(m.weights ? [m.weights.file] : []), ...Object.values(m.graphs).map((g) => g!.file), ...(m.samples ?? [])];
}

/**
 * Validates a parsed manifest.json against the JSON schema and the contract's cross-field rules.
 * Every number must be finite and within the schema's range; every file a plain relative path.
 * Throws EngineError('PackManifestError') listing every problem found.
 */
export function validateManifest(json: unknown): ModelPackManifest {
  const bad = nonFiniteAt(json);
  if (bad) throw new EngineError('PackManifestError', `manifest.json has a number that is not finite at ${bad} (a value such as 1e999 or NaN)`);
  const ok = schemaValidate(json) as boolean;
  if (!ok) {
    const errs = ((schemaValidate as unknown as { errors?: AjvError[] }).errors ?? []).slice(0, 6);
    throw new EngineError('PackManifestError', `manifest.json does not match the schema: ${errs.map(describeAjvError).join('; ')}`);
  }
  const m = json as ModelPackManifest;
  const problems: string[] = [];
  const f = m.fBlock.shape;
  if (m.truncation.wAvg.length !== m.wDim) problems.push(`truncation.wAvg has ${m.truncation.wAvg.length} values, wDim is ${m.wDim}`);
  if (m.fBlock.firstWs < 0 || m.fBlock.firstWs >= m.numWs) problems.push(`fBlock.firstWs ${m.fBlock.firstWs} outside [0, ${m.numWs})`);
  if (m.imageRange[0] >= m.imageRange[1]) problems.push(`imageRange ${JSON.stringify(m.imageRange)} is empty`);
  for (const [key, g] of Object.entries(m.graphs)) {
    const base = key.replace(/@fp16$/, '') as GraphKey;
    const io = GRAPH_IO[base];
    if (!io) continue; // unknown extra graphs are allowed and ignored
    const inNames = g.inputs.map((t) => t.name);
    const outNames = g.outputs.map((t) => t.name);
    for (const n of io.inputs) if (!inNames.includes(n)) problems.push(`graph '${key}' lacks input '${n}'`);
    for (const n of io.outputs) if (!outNames.includes(n)) problems.push(`graph '${key}' lacks output '${n}'`);
    if (!io.checkShapes) continue;
    for (const t of [...g.inputs, ...g.outputs]) {
      const want = expectedShape(t.name, m);
      // An output declared with non-positive dims is "unknown" (a graph whose shape inference gave up): tolerated, the
      // engine reads the shape from the tensor it gets. Inputs must always be exact.
      if (g.outputs.includes(t) && t.shape.some((d) => d <= 0)) continue;
      if (want && (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i]))) {
        problems.push(`graph '${key}' ${t.name} has shape [${t.shape}], expected [${want}]`);
      }
    }
  }
  m.directions.forEach((d, i) => {
    if (d.vector.length !== m.zDim) problems.push(`direction '${d.id}' (#${i}) has ${d.vector.length} values, zDim is ${m.zDim}`);
    if (!(d.range[0] < d.range[1])) problems.push(`direction '${d.id}' range ${JSON.stringify(d.range)} is empty`);
    for (const l of d.layers ?? []) if (l < 0 || l >= m.numWs) problems.push(`direction '${d.id}' layer ${l} outside [0, ${m.numWs})`);
    if (d.parts) problems.push(...partProblems(d.id, d.parts, d.space, m));
  });
  for (const file of namedFiles(m)) if (file === 'manifest.json') problems.push(`the manifest lists '${file}' as one of its own files`);
  if (prod(f) <= 0) problems.push(`fBlock.shape ${JSON.stringify(f)} is empty`);
  if (problems.length) throw new EngineError('PackManifestError', `manifest.json is inconsistent: ${problems.slice(0, 6).join('; ')}`);
  return m;
}

/** What is wrong with a direction's per-layer-group parts (schema `direction.parts`). */
export function partProblems(id: string, parts: NonNullable<ModelPackManifest['directions'][number]['parts']>, space: string | undefined, m: ModelPackManifest): string[] {
  const out: string[] = [];
  if (space === 'w') out.push(`direction '${id}' has parts, which only Z directions may have`);
  const seen = new Set<number>();
  parts.forEach((p, k) => {
    if (!p || !Array.isArray(p.vector) || !Array.isArray(p.layers) || p.vector.some((x) => typeof x !== 'number')) {
      out.push(`direction '${id}' part ${k} is not {layers: [...], vector: [numbers]}`);
      return;
    }
    if (p.vector.length !== m.zDim) out.push(`direction '${id}' part ${k} has ${p.vector.length} values, zDim is ${m.zDim}`);
    // the parts' energy averages 1 over the layers, so no one part can exceed sqrt(numWs)
    const norm = Math.hypot(...p.vector);
    if (!Number.isFinite(norm) || norm > Math.sqrt(m.numWs) + 1e-3) out.push(`direction '${id}' part ${k} has norm ${norm}, at most sqrt(numWs)`);
    for (const l of p.layers) {
      if (!Number.isInteger(l) || l < 0 || l >= m.numWs) out.push(`direction '${id}' part ${k} layer ${l} outside [0, ${m.numWs})`);
      else if (seen.has(l)) out.push(`direction '${id}' layer ${l} is in two parts`);
      seen.add(l);
    }
  });
  return out;
}
