import { describe, expect, it } from 'vitest';
import { LatestWins, Mutex, isSuperseded } from './schedule';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('LatestWins', () => {
  it('runs the first job, supersedes stale waiting ones and runs the latest', async () => {
    const ran: number[] = [];
    const lw = new LatestWins(async (n: number) => {
      ran.push(n);
      await tick(10);
      return n * 10;
    });
    const ps = [1, 2, 3, 4].map((n) => lw.submit(n));
    const res = await Promise.all(ps);
    expect(res[0]).toBe(10);
    expect(isSuperseded(res[1])).toBe(true);
    expect(isSuperseded(res[2])).toBe(true);
    expect(res[3]).toBe(40);
    expect(ran).toEqual([1, 4]);
  });
  it('propagates errors and keeps working', async () => {
    const lw = new LatestWins(async (n: number) => {
      if (n === 1) throw new Error('boom');
      return n;
    });
    await expect(lw.submit(1)).rejects.toThrow('boom');
    await expect(lw.submit(2)).resolves.toBe(2);
  });
});

describe('Mutex', () => {
  it('serialises', async () => {
    const m = new Mutex();
    const log: string[] = [];
    const job = (s: string) => async () => {
      log.push(s + '<');
      await tick(5);
      log.push(s + '>');
    };
    await Promise.all([m.run(job('a')), m.run(job('b'))]);
    expect(log).toEqual(['a<', 'a>', 'b<', 'b>']);
  });
});
