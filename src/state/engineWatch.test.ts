import { describe, expect, it } from 'vitest';
import { OVER_BUDGET, RENDER_BUDGET_MS, withinBudget } from './engineWatch';

describe('withinBudget', () => {
  it('gives the value of a run that finishes in time, OVER_BUDGET for one that does not', async () => {
    expect(await withinBudget(Promise.resolve(7), 50)).toBe(7);
    const never = new Promise<number>(() => undefined);
    const t0 = Date.now();
    expect(await withinBudget(never, 30)).toBe(OVER_BUDGET);
    expect(Date.now() - t0).toBeLessThan(1000);
    await expect(withinBudget(Promise.reject(new Error('boom')), 50)).rejects.toThrow('boom');
    expect(RENDER_BUDGET_MS).toBeGreaterThanOrEqual(5000);
  });

  it('counts every run as past a budget of 0, even one that is already done, and does not leak its rejection', async () => {
    expect(await withinBudget(Promise.resolve(7), 0)).toBe(OVER_BUDGET);
    expect(await withinBudget(Promise.reject(new Error('boom')), 0)).toBe(OVER_BUDGET);
  });
});
