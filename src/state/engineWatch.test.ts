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
});
