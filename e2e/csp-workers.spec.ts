/**
 * The Content-Security-Policy as a response header (vite preview = what production must send, docs/DEPLOYMENT.md):
 * present on the page and the worker scripts with frame-ancestors 'none', and enforced inside each of the app's
 * workers (engine, image, import): a cross-origin fetch from there is refused by connect-src.
 */
import { expect, test } from '@playwright/test';
import { dropFile, waitInverted, waitReady } from './helpers';

test('the CSP header covers the page and every worker: a cross-origin fetch from inside each is refused', async ({ page, baseURL }) => {
  const mainResponse = await page.goto('/?backend=wasm&pack=tiny-test&steps=5');
  const csp = mainResponse!.headers()['content-security-policy'] ?? '';
  expect(csp).toContain("connect-src 'self' blob: data:");
  expect(csp).toContain("frame-ancestors 'none'");
  await waitReady(page);
  // start the image worker (a photo) and the import worker (the Models sheet lists stored packs through it)
  await dropFile(page, 'e2e/fixtures/tiny-heldout.png', 'heldout.png');
  await waitInverted(page);
  await page.getByTestId('mm-open').click();
  await expect(page.getByTestId('mm-pack').first()).toBeVisible();

  const other = baseURL!.replace('127.0.0.1', 'localhost') + '/manifest.webmanifest'; // another origin, same server
  const names = ['engine', 'image', 'import'];
  await expect.poll(() => names.filter((n) => page.workers().some((w) => w.url().includes(`${n}.worker`)))).toEqual(names);
  for (const name of names) {
    const worker = page.workers().find((w) => w.url().includes(`${name}.worker`))!;
    const script = await page.request.get(worker.url());
    expect(script.headers()['content-security-policy'], `${name} worker script`).toContain("frame-ancestors 'none'");
    const probe = await worker.evaluate(async (url) => {
      const violations: string[] = [];
      self.addEventListener('securitypolicyviolation', (e) => violations.push((e as SecurityPolicyViolationEvent).effectiveDirective));
      let error = '';
      try {
        await fetch(url, { mode: 'no-cors' });
      } catch (e) {
        error = String(e);
      }
      await new Promise((r) => setTimeout(r, 300));
      return { error, violations };
    }, other);
    console.log(`${name} worker: ${JSON.stringify(probe)}`);
    expect(probe.error, `${name} worker fetch`).toMatch(/TypeError|Failed to fetch/);
    expect(probe.violations, `${name} worker violation`).toContain('connect-src');
  }
});
