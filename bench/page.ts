/**
 * Bench page (served by bench/run.mjs through Vite's dev server): one engine worker, one configuration from the URL
 * (?pack=&backend=&threads=&steps=&frames=&keepOnGpu=0|1&ortBuild=jsep|wasm&sessionOptions=<JSON>&warm=1). Writes window.__bench.
 * warm=1: the engine's warmUp() (what the app runs after a pack loads) before the inversion, as a user who opens a
 * photo a few seconds after the page would get; without it, the inversion starts cold.
 */
import { getEngine, ortWasmPaths, proxy } from '../src/worker/client';
import type { InvertProgress } from '../src/worker/protocol';

const q = new URLSearchParams(location.search);
const pack = q.get('pack') ?? 'tiny-test';
const backend = (q.get('backend') ?? 'wasm') as 'wasm' | 'webgpu';
const threads = Number(q.get('threads') ?? 0) || undefined;
const steps = Number(q.get('steps') ?? 10);
const frames = Number(q.get('frames') ?? 10);
const keepOnGpu = q.get('keepOnGpu') !== '0';
const warm = q.get('warm') === '1';
// which onnxruntime-web build the worker loads (default: plain WASM build on WASM, JSEP on WebGPU)
const ortBuild = (q.get('ortBuild') ?? undefined) as 'jsep' | 'wasm' | undefined;
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; };

async function main() {
  const e = getEngine();
  // extra ORT session options merged into every session, e.g. {"extra":{"session":{"intra_op":{"allow_spinning":"0"}}}}
  const sessionOptions = q.get('sessionOptions') ? JSON.parse(q.get('sessionOptions')!) : undefined;
  const initOpts = { backend, threads, keepOnGpu, wasmPaths: ortWasmPaths(), ortBuild, sessionOptions };
  const info = await e.init(initOpts);
  const t0 = performance.now();
  const summary = await e.loadPack(new URL(`/models/${pack}/`, location.href).href);
  const loadMs = performance.now() - t0;
  const warmUp = warm ? await e.warmUp() : null;
  const R = summary.resolution;
  const data = new Uint8ClampedArray(R * R * 4);
  for (let i = 0; i < data.length; i++) data[i] = i % 4 === 3 ? 255 : (i * 2654435761) % 251;
  await e.setTarget({ width: R, height: R, data });
  const stepMs: number[] = [];
  const t1 = performance.now();
  await e.invert({ space: 'F/Z+', steps, previewEvery: 0 }, proxy((p: InvertProgress) => { stepMs.push(p.msPerStep); }));
  const invertWall = performance.now() - t1;
  const frameMs: number[] = [];
  const dir = summary.directions[0]?.id;
  for (let i = 0; i < frames + 1; i++) {
    const t = performance.now();
    await e.render(dir ? { [dir]: ((i % 10) - 5) / 5 } : {});
    if (i > 0) frameMs.push(performance.now() - t); // first frame warms the sessions
  }
  const b = await e.backend();
  return {
    pack, requested: { backend, threads, keepOnGpu }, backend: b ?? info, loadMs, warmUp,
    // steady state: the second half of the steps. The first steps run while V8 still tiers the ORT wasm up from
    // its baseline compiler (on a cold page the first ~30 demo64 steps are 3-8x slower; more on a busy core).
    stepMs: median(stepMs.slice(Math.max(1, stepMs.length >> 1))), firstStepMs: stepMs[0], firstStepsMs: median(stepMs.slice(0, 10)),
    // what the app's default 100-step inversion spends in gradient steps (previews excluded)
    first100Ms: stepMs.length >= 100 ? stepMs.slice(0, 100).reduce((a, x) => a + x, 0) : undefined,
    steps: stepMs.length, invertWallMs: invertWall,
    frameMs: median(frameMs), frames: frameMs.length,
  };
}

main().then(
  (r) => { (window as any).__bench = r; document.getElementById('out')!.textContent = JSON.stringify(r, null, 1); },
  (err) => { (window as any).__bench = { error: String(err?.message ?? err) }; document.getElementById('out')!.textContent = String(err); },
);
