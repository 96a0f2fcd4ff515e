import { defineConfig } from '@playwright/test';

const PORT = Number(process.env.E2E_PORT ?? 4179);
const chromium = process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium';

export default defineConfig({
  testDir: 'e2e',
  testMatch: /.*\.spec\.ts$/,
  workers: 1,
  timeout: 180_000,
  expect: { timeout: 60_000 },
  retries: 0,
  reporter: [['list']],
  outputDir: 'test-results/playwright',
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1280, height: 860 },
    launchOptions: { executablePath: chromium, args: ['--enable-unsafe-webgpu'] },
    trace: 'retain-on-failure',
  },
  projects: [
    // WASM (forced by ?backend=wasm in the tests) and WebGPU on the software adapter share one launch config:
    // --enable-unsafe-webgpu is harmless when the page asks for WASM.
    { name: 'chromium' },
  ],
  webServer: {
    // production build + preview, with the COOP/COEP headers from vite.config.ts
    command: `npx vite build --logLevel warn && npx vite preview --host 127.0.0.1 --port ${PORT} --strictPort`,
    url: `http://127.0.0.1:${PORT}/`,
    reuseExistingServer: !process.env.CI,
    timeout: 120_000,
  },
});
