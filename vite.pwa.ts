/**
 * PWA + CSP build plugins, kept out of vite.config.ts. Appended to vite.config.ts's `plugins` with one line.
 * - vite-plugin-pwa (Workbox generateSW): web app manifest, service worker precaching the app shell, the ORT
 *   runtime (.mjs/.wasm under /ort/), the face-detection weights and the bundled model packs under /models/
 *   (except the 83 MB toolchain reference pack). registerType 'prompt': a new version waits until the user
 *   accepts the update (src/pwa/PwaControls.tsx). Registration is an external /registerSW.js (no inline script).
 * - A strict Content-Security-Policy <meta> in the built index.html: same origin only, no inline script,
 *   'wasm-unsafe-eval' for onnxruntime-web / tfjs WebAssembly. (Build only: Vite's dev server needs inline
 *   scripts for React refresh.)
 */
import type { Plugin, PluginOption } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

export const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "connect-src 'self' blob: data:",
  "img-src 'self' blob: data:",
  "style-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "media-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'none'",
].join('; ');

/**
 * The policy as a response header (vite preview, and what a production host must send: docs/DEPLOYMENT.md). Only a
 * header reaches workers (a worker's policy comes with its own script's response, never from the page's <meta>), and
 * only a header may carry frame-ancestors (browsers ignore it in a <meta>).
 */
export const CSP_HEADER = `${CSP}; frame-ancestors 'none'`;

function cspMeta(): Plugin {
  return {
    name: 'fzplus:csp-meta',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: CSP }, injectTo: 'head-prepend' }],
    },
  };
}

export function pwaPlugins(): PluginOption[] {
  return [
    VitePWA({
      registerType: 'prompt',
      injectRegister: 'script',
      strategies: 'generateSW',
      manifest: {
        name: 'F/Z+ Studio',
        short_name: 'F/Z+ Studio',
        description: 'Edit a face photo in your browser with StyleGAN2 F/Z+ inversion. Nothing leaves your device.',
        theme_color: '#14161b',
        background_color: '#14161b',
        display: 'standalone',
        start_url: './',
        scope: './',
        icons: [
          { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icons/icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      workbox: {
        globPatterns: ['**/*.{js,mjs,css,html,wasm,svg,png,ico,webmanifest,json,onnx,bin}'],
        // reference-64 is a test pack (83 MB); the SSD face detector (5.4 MB) is only fetched when a user picks it
        // instead of the default tiny detector; checkpoint-conversion templates (~1 MB each) only when a checkpoint
        // is converted. None belongs in every first visit.
        globIgnores: ['models/reference-64/**', 'templates/**', '**/node_modules/**', '**/ssd_mobilenetv1_model*'],
        maximumFileSizeToCacheInBytes: 64 * 1024 * 1024,
        navigateFallback: 'index.html',
        cleanupOutdatedCaches: true,
        clientsClaim: false,
        skipWaiting: false,
      },
      devOptions: { enabled: false },
    }),
    cspMeta(),
  ];
}
