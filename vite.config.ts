/// <reference types="vitest/config" />
import { defineConfig, type Plugin, type PluginOption } from 'vite';
import react from '@vitejs/plugin-react';
import { CSP_HEADER, pwaPlugins } from './vite.pwa.ts';
import { createReadStream, readFileSync, existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Cross-origin isolation (COOP/COEP) so that SharedArrayBuffer and therefore WASM threads work.
 * Used by dev, preview, and documented for production hosting (see README).
 */
export const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * Headers of the built app (vite preview; a production host must send the same, docs/DEPLOYMENT.md): isolation, the
 * Content-Security-Policy as a header (so it covers the workers too, and frame-ancestors applies), no MIME sniffing,
 * no referrer. Dev has no CSP: Vite's dev server needs inline scripts for React refresh.
 */
export const productionHeaders = {
  ...isolationHeaders,
  'Content-Security-Policy': CSP_HEADER,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/**
 * ORT runtime files served from our own origin under /ort/ (ort.env.wasm.wasmPaths points here). The worker imports
 * the JSEP build (WebGPU + WASM) when it will run on WebGPU, and the plain WASM build otherwise: the plain build
 * runs the same CPU kernels 2-3x faster per gradient step (docs/WASM_SPEED.md).
 */
export const ORT_BASE = 'ort/';
export const ORT_FILES = [
  'ort-wasm-simd-threaded.jsep.mjs',
  'ort-wasm-simd-threaded.jsep.wasm',
  'ort-wasm-simd-threaded.mjs',
  'ort-wasm-simd-threaded.wasm',
];
const ROOT = fileURLToPath(new URL('.', import.meta.url));
const ORT_DIST = resolve(ROOT, 'node_modules/onnxruntime-web/dist');

const MIME: Record<string, string> = {
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
};

/** Serves ORT's wasm + loader from node_modules in dev, and copies them into the build. */
function ortRuntimeFiles(): Plugin {
  return {
    name: 'fzplus:ort-runtime-files',
    configureServer(server) {
      // Registered before Vite's own middlewares: the .mjs must not go through Vite's transform.
      server.middlewares.use((req, res, next) => {
        const url = (req.url ?? '').split('?')[0];
        const prefix = '/' + ORT_BASE;
        if (!url.startsWith(prefix)) return next();
        const name = url.slice(prefix.length);
        if (!ORT_FILES.includes(name)) return next();
        const file = resolve(ORT_DIST, name);
        const ext = name.slice(name.lastIndexOf('.'));
        res.setHeader('Content-Type', MIME[ext] ?? 'application/octet-stream');
        res.setHeader('Content-Length', String(statSync(file).size));
        for (const [k, v] of Object.entries(isolationHeaders)) res.setHeader(k, v);
        createReadStream(file).pipe(res);
      });
    },
    generateBundle() {
      for (const name of ORT_FILES) {
        const file = resolve(ORT_DIST, name);
        if (!existsSync(file)) this.error(`onnxruntime-web file missing: ${file}`);
        this.emitFile({ type: 'asset', fileName: ORT_BASE + name, source: readFileSync(file) });
      }
    },
  };
}

/** Extension point: other plugins (e.g. vite-plugin-pwa) are appended here. */
export const plugins: PluginOption[] = [react(), ortRuntimeFiles(), ...pwaPlugins()];

export default defineConfig({
  plugins,
  resolve: {
    // The non-bundled ORT builds load ort-wasm-simd-threaded[.jsep].mjs from ort.env.wasm.wasmPaths (our /ort/), so
    // WASM pthread workers start from that file and never re-run our worker bundle.
    alias: [
      { find: /^onnxruntime-web$/, replacement: resolve(ORT_DIST, 'ort.min.mjs') },
      { find: /^onnxruntime-web\/wasm$/, replacement: resolve(ORT_DIST, 'ort.wasm.min.mjs') },
    ],
  },
  server: { host: '127.0.0.1', headers: isolationHeaders },
  preview: { host: '127.0.0.1', headers: productionHeaders },
  worker: { format: 'es' },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: { target: 'es2022', chunkSizeWarningLimit: 2000 },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
    testTimeout: 30000,
  },
});
