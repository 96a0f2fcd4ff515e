/// <reference lib="webworker" />
/**
 * Large-pack bench worker (`npm run bench -- --large`): per-graph session creation and run times for one
 * pack on one backend, with the WASM heap size (the WebAssembly.Memory onnxruntime-web creates) after each phase.
 * Sessions are made one graph at a time and released, as the engine does with external data (weights.bin).
 */
const memories: WebAssembly.Memory[] = [];
const NativeMemory = WebAssembly.Memory;
// capture the heap onnxruntime-web allocates (threaded builds create it in JS): its size is the WASM memory peak
(WebAssembly as { Memory: unknown }).Memory = new Proxy(NativeMemory, {
  construct(target, args) {
    const m = Reflect.construct(target, args) as WebAssembly.Memory;
    memories.push(m);
    return m;
  },
});
const heapBytes = () => memories.reduce((n, m) => Math.max(n, m.buffer.byteLength), 0);

type Msg = { type: 'phase'; name: string } | { type: 'row'; row: unknown } | { type: 'done'; result: unknown } | { type: 'error'; message: string };
// every message waits for the page's ack, so the runner's RSS samples are attributed to the right phase and the
// page's memory measure is taken before the next phase starts
let acked: (() => void) | null = null;
const post = (m: Msg) =>
  new Promise<void>((resolve) => {
    acked = resolve;
    (self as unknown as Worker).postMessage(m);
  });

interface Graph { file: string; inputs: { name: string; shape: number[] }[] }

self.onmessage = async (ev: MessageEvent) => {
  if (ev.data === 'ack') return void acked?.();
  const { packUrl, backend, threads, runs, gradRuns, graphs: only, wasmPaths, keep } = ev.data as {
    packUrl: string; backend: 'wasm' | 'webgpu'; threads: number; runs: number; gradRuns: number; graphs: string[] | null; wasmPaths: string; keep: boolean;
  };
  // keep: every session stays alive, as in the app (one WASM heap holds all their weights and arenas)
  const alive: { release(): Promise<void> }[] = [];
  try {
    // the app's choice (engine.worker.ts): plain WASM build on WASM, JSEP build for WebGPU
    const ort = (backend === 'webgpu' ? await import('onnxruntime-web') : await import('onnxruntime-web/wasm')) as typeof import('onnxruntime-web');
    ort.env.wasm.wasmPaths = wasmPaths;
    ort.env.wasm.numThreads = threads;
    ort.env.logLevel = 'error';
    let f16 = false;
    if (backend === 'webgpu') {
      const adapter = await (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ features: Set<string> } | null> } }).gpu?.requestAdapter();
      if (!adapter) throw new Error('no WebGPU adapter');
      f16 = adapter.features.has('shader-f16');
    }
    const m = await (await fetch(packUrl + 'manifest.json')).json();
    await post({ type: 'phase', name: 'fetch weights.bin' });
    const t0 = performance.now();
    const weights = new Uint8Array(await (await fetch(packUrl + m.weights.file)).arrayBuffer());
    await post({ type: 'row', row: { graph: 'weights.bin', phase: 'fetch', ms: performance.now() - t0, bytes: weights.length, heap: heapBytes() } });
    const keys = (only ?? ['encoder', 'mapping', 'features', 'synthesis_from_f', 'synthesis', 'grad_fzplus']).filter((k) => m.graphs[k]);
    for (const base of keys) {
      const key = f16 && m.graphs[`${base}@fp16`] ? `${base}@fp16` : base;
      const g: Graph = m.graphs[key];
      const bytes = new Uint8Array(await (await fetch(packUrl + g.file)).arrayBuffer());
      await post({ type: 'phase', name: `create ${key}` });
      let t = performance.now();
      let sess: Awaited<ReturnType<typeof ort.InferenceSession.create>>;
      try {
        sess = await ort.InferenceSession.create(bytes, {
          executionProviders: [backend], graphOptimizationLevel: 'all',
          externalData: [{ path: m.weights.file, data: weights }],
        });
      } catch (e) {
        await post({ type: 'row', row: { graph: key, phase: 'create', error: String((e as Error)?.message ?? e), heap: heapBytes() } });
        continue;
      }
      await post({ type: 'row', row: { graph: key, phase: 'create', ms: performance.now() - t, heap: heapBytes() } });
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
      for (const i of g.inputs) {
        const n = i.shape.reduce((a, b) => a * b, 1);
        const d = new Float32Array(n);
        if (i.name === 'weights') d.set([1, 1, 0.1]);
        else for (let j = 0; j < n; j++) d[j] = Math.sin(j * 12.9898) * (i.name === 'target' ? 0.9 : 1);
        feeds[i.name] = new ort.Tensor('float32', d, i.shape);
      }
      const n = base.startsWith('grad_') ? gradRuns : runs;
      const ms: number[] = [];
      await post({ type: 'phase', name: `run ${key}` });
      try {
        for (let r = 0; r < n; r++) {
          t = performance.now();
          await sess.run(feeds);
          ms.push(performance.now() - t);
        }
        const rest = ms.slice(1).sort((a, b) => a - b);
        await post({ type: 'row', row: { graph: key, phase: 'run', firstMs: ms[0], ms: rest.length ? rest[rest.length >> 1] : ms[0], runs: ms.length, heap: heapBytes() } });
      } catch (e) {
        await post({ type: 'row', row: { graph: key, phase: 'run', error: String((e as Error)?.message ?? e), heap: heapBytes() } });
      }
      if (keep) alive.push(sess);
      else await sess.release();
    }
    for (const s of alive) await s.release();
    await post({ type: 'done', result: { heap: heapBytes(), f16 } });
  } catch (e) {
    await post({ type: 'error', message: String((e as Error)?.message ?? e) });
  }
};
