#!/usr/bin/env node
/**
 * `npm run bench:gpu -- [options]`: the GPU bench in one command.
 *  1. onnxruntime-web on WebGPU in Node through Dawn (bench/gpu-webgpu.mjs; its options pass through: --packs,
 *     --graphs, --runs, --wasm-runs, --swiftshader, --json, --steps, --step-graph, --no-step), with WASM in the same
 *     run for the ratio, and the inversion step GPU-resident vs plain WebGPU vs WASM;
 *  2. where that cannot run (no `webgpu` package, no adapter), or with --torch, PyTorch on CUDA as a bound
 *     (bench/gpu_torch.py --sizes 64,256,1024; --torch-args '<args>' passes more).
 */
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const i = argv.indexOf('--torch-args');
const torchArgs = i >= 0 ? argv.splice(i, 2)[1].split(' ').filter(Boolean) : [];
const torchToo = argv.includes('--torch');
const webgpuArgs = argv.filter((a) => a !== '--torch');

const r = spawnSync(process.execPath, [resolve(here, 'gpu-webgpu.mjs'), ...webgpuArgs], { stdio: 'inherit' });
let status = r.status ?? 1;
if (status === 3 || torchToo) {
  if (status === 3) console.log('\nWebGPU in Node is not available here: PyTorch timings of the same functions instead (a bound)\n');
  const t = spawnSync(process.env.PYTHON ?? '/usr/bin/python3', [resolve(here, 'gpu_torch.py'), ...torchArgs], { stdio: 'inherit' });
  status = status === 3 ? (t.status ?? 1) : status || t.status || 0;
}
process.exit(status);
