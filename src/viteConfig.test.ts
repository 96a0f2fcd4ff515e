/**
 * The build config loads without Vite's warning about features its future native config loader cannot handle
 * (e.g. `import './vite.pwa'` without a file extension), which `vite build` would print on every run.
 */
import { describe, expect, it } from 'vitest';
import { createLogger, loadConfigFromFile } from 'vite';
import { fileURLToPath } from 'node:url';

describe('vite.config.ts', () => {
  it('loads without warnings', async () => {
    const warnings: string[] = [];
    const base = createLogger('warn');
    const logger = { ...base, warn: (msg: string) => void warnings.push(msg), warnOnce: (msg: string) => void warnings.push(msg) };
    const root = fileURLToPath(new URL('..', import.meta.url));
    const saved = process.env.VITE_CONFIG_NATIVE_IGNORE_WARNING;
    delete process.env.VITE_CONFIG_NATIVE_IGNORE_WARNING;
    try {
      const res = await loadConfigFromFile({ command: 'build', mode: 'production' }, undefined, root, 'warn', logger);
      expect(res?.path).toMatch(/vite\.config\.ts$/);
    } finally {
      if (saved !== undefined) process.env.VITE_CONFIG_NATIVE_IGNORE_WARNING = saved;
    }
    expect(warnings).toEqual([]);
  });
});
