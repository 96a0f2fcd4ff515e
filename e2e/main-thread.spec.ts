/**
 * The page's main thread only draws: photo decoding, face detection, alignment and the "In the photo" paste-back run
 * in the image worker. Each check records the page's main-thread tasks twice: PerformanceObserver('longtask') + a
 * requestAnimationFrame heartbeat (wall time), and a Chromium trace, whose RunTask events also carry the thread's own
 * CPU time. The assertion is on CPU time, no task over 200 ms: with the whole browser pinned to one core shared with
 * other jobs, a task's wall time mostly measures how long the thread waited for the core (a 12 ms task took 948 ms).
 * - a 144 MP photo (just under the 150 MP limit) opens;
 * - a slider is dragged with "In the photo" on, on a 12 MP group photo (demo64 with its manifest switched to landmark
 *   alignment, so every slider frame is pasted back into the photo).
 * The photos are face-api's sample1.jpg upscaled by e2e/fixtures/make-big-photos.py (into test-results/, not in git).
 * The numbers are logged; docs/APP.md has the measured ones.
 */
import { expect, test, type Browser, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { collectErrors, waitInverted } from './helpers';

const OUT = 'test-results/big-photos';
const MAX_TASK_MS = 200;

test.use({ serviceWorkers: 'block' });

test.beforeAll(() => {
  if (!existsSync(`${OUT}/face-144mp.jpg`) || !existsSync(`${OUT}/face-12mp.jpg`))
    execFileSync('/usr/bin/python3', ['e2e/fixtures/make-big-photos.py', OUT], { stdio: 'inherit' });
});

type Probe = { longTasks: number[]; maxGap: number; running: boolean };

/** Starts the main-thread probes: long tasks (> 50 ms, as the browser reports them) and the largest rAF gap. */
async function startProbe(page: Page) {
  await page.evaluate(() => {
    const probe: Probe = { longTasks: [], maxGap: 0, running: true };
    (window as unknown as { __probe: Probe }).__probe = probe;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (probe.running) probe.longTasks.push(Math.round(e.duration));
    }).observe({ type: 'longtask', buffered: false });
    let last = performance.now();
    const tick = (t: number) => {
      if (!probe.running) return;
      probe.maxGap = Math.max(probe.maxGap, t - last);
      last = t;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}

async function stopProbe(page: Page): Promise<{ longest: number; count: number; maxGap: number }> {
  return page.evaluate(() => {
    const p = (window as unknown as { __probe: Probe }).__probe;
    p.running = false;
    return { longest: Math.max(0, ...p.longTasks), count: p.longTasks.length, maxGap: Math.round(p.maxGap) };
  });
}

type TraceEvent = { name: string; ph: string; pid: number; tid: number; ts: number; dur?: number; tdur?: number; args?: { name?: string } };

/**
 * The page's main-thread tasks from a Chromium trace ('toplevel': every task the thread runs), with wall time (`dur`)
 * and the thread's own CPU time (`tdur`). On a crowded core a task's wall time includes the time other threads ran;
 * its CPU time is the work the task did.
 */
async function traced<T>(browser: Browser, page: Page, run: () => Promise<T>): Promise<{ result: T; longestCpu: number; longestWall: number; cpuTotal: number }> {
  await browser.startTracing(page, { categories: ['toplevel'] });
  const result = await run();
  const events = (JSON.parse((await browser.stopTracing()).toString()) as { traceEvents: TraceEvent[] }).traceEvents;
  const mains = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  const byThread = new Map<string, TraceEvent[]>();
  for (const e of events) {
    const k = `${e.pid}:${e.tid}`;
    if (e.ph === 'X' && mains.has(k)) byThread.set(k, [...(byThread.get(k) ?? []), e]);
  }
  // the outermost events of each main thread are its tasks
  const tasksOf = (evs: TraceEvent[]) => {
    const out: TraceEvent[] = [];
    let end = -Infinity;
    for (const e of [...evs].sort((x, y) => x.ts - y.ts))
      if (e.ts >= end) {
        out.push(e);
        end = e.ts + (e.dur ?? 0);
      }
    return out;
  };
  const cpu = (evs: TraceEvent[]) => evs.reduce((s, e) => s + (e.tdur ?? 0), 0);
  // the page's renderer is the busiest main thread
  const tasks = [...byThread.values()].map(tasksOf).sort((a, b) => cpu(b) - cpu(a))[0] ?? [];
  const ms = (us = 0) => Math.round(us / 1000);
  return {
    result,
    longestCpu: ms(Math.max(0, ...tasks.map((e) => e.tdur ?? 0))),
    longestWall: ms(Math.max(0, ...tasks.map((e) => e.dur ?? 0))),
    cpuTotal: ms(cpu(tasks)),
  };
}

test('a 144 MP photo opens with no main-thread task over 200 ms of CPU', async ({ page, browser }) => {
  test.setTimeout(600_000);
  const errors = collectErrors(page);
  await page.goto('/?pack=demo64&backend=wasm&steps=1&warm=0');
  await expect(page.getByTestId('dropzone')).toContainText('Drop a face photo', { timeout: 120_000 });
  await startProbe(page);
  const t0 = Date.now();
  const tr = await traced(browser, page, async () => {
    await page.getByTestId('file-input').setInputFiles(`${OUT}/face-144mp.jpg`);
    await expect(page.getByTestId('photo-canvas')).toBeVisible({ timeout: 480_000 });
  });
  const ms = Date.now() - t0;
  const r = await stopProbe(page);
  console.log(`144 MP photo: open ${ms} ms; longest main-thread task ${r.longest} ms (${r.count} over 50 ms), largest frame gap ${r.maxGap} ms; trace: longest task ${tr.longestWall} ms wall / ${tr.longestCpu} ms CPU, main-thread CPU ${tr.cpuTotal} ms in all`);
  await expect(page.getByText('downscaled to')).toBeVisible();
  expect(tr.longestCpu).toBeLessThan(MAX_TASK_MS);
  expect(errors).toEqual([]);
});

test('slider drag with "In the photo" on a 12 MP photo: no main-thread task over 200 ms of CPU', async ({ page, browser }) => {
  test.setTimeout(300_000);
  const errors = collectErrors(page);
  await page.route('**/models/demo64/manifest.json', async (route) => {
    const res = await route.fetch();
    const m = await res.json();
    m.alignment = 'ffhq-landmarks';
    await route.fulfill({ response: res, json: m });
  });
  await page.goto('/?pack=demo64&backend=wasm&steps=2&warm=0');
  await expect(page.getByTestId('dropzone')).toContainText('Drop a face photo', { timeout: 120_000 });
  await page.getByTestId('file-input').setInputFiles(`${OUT}/face-12mp.jpg`);
  await expect(page.getByTestId('face-picker')).toBeVisible({ timeout: 180_000 });
  await page.getByTestId('edit-face').click();
  await waitInverted(page);
  await page.getByTestId('view-in-photo').click();
  await expect.poll(() => page.evaluate(() => (document.querySelector('[data-testid="result-canvas"]') as HTMLCanvasElement).width)).toBe(720);

  const slider = page.getByTestId('slider-smile');
  await slider.scrollIntoViewIfNeeded();
  const box = (await slider.boundingBox())!;
  const y = box.y + box.height / 2;
  await startProbe(page);
  let moves = 0;
  const t0 = Date.now();
  const tr = await traced(browser, page, async () => {
    await page.mouse.move(box.x + box.width / 2, y);
    await page.mouse.down();
    for (const to of [0.95, 0.05, 0.95, 0.5])
      for (let i = 1; i <= 12; i++, moves++) await page.mouse.move(box.x + box.width * (0.5 + ((to - 0.5) * i) / 12), y);
    await page.mouse.up();
    await expect(page.getByTestId('rendering')).toHaveCount(0, { timeout: 60_000 });
    await page.waitForTimeout(500);
  });
  const ms = Date.now() - t0;
  const r = await stopProbe(page);
  console.log(`12 MP photo, "In the photo", ${moves} slider moves in ${ms} ms: longest main-thread task ${r.longest} ms (${r.count} over 50 ms), largest frame gap ${r.maxGap} ms; trace: longest task ${tr.longestWall} ms wall / ${tr.longestCpu} ms CPU, main-thread CPU ${tr.cpuTotal} ms in all`);
  expect(tr.longestCpu).toBeLessThan(MAX_TASK_MS);
  expect(errors).toEqual([]);
});
