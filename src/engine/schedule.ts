/** Scheduling of graph runs: one at a time (Mutex), latest-wins for slider frames, a clock and a yield. */

/** What a slider frame request resolves to when a newer one replaced it before it ran. */
export const SUPERSEDED = { superseded: true } as const;
export type Superseded = typeof SUPERSEDED;

/** At most one job runs; while it runs, only the newest submitted job waits; older waiting jobs resolve at once as
 * superseded. A slider preview never queues behind a stale one. */
export class LatestWins<A, R> {
  private running = false;
  private waiting: { arg: A; resolve: (r: R | Superseded) => void; reject: (e: unknown) => void } | null = null;

  constructor(private readonly job: (arg: A) => Promise<R>) {}

  submit(arg: A): Promise<R | Superseded> {
    if (this.running) {
      this.waiting?.resolve(SUPERSEDED);
      return new Promise((resolve, reject) => {
        this.waiting = { arg, resolve, reject };
      });
    }
    return this.start(arg);
  }

  private async start(arg: A): Promise<R | Superseded> {
    this.running = true;
    try {
      return await this.job(arg);
    } finally {
      this.running = false;
      const next = this.waiting;
      this.waiting = null;
      if (next) this.start(next.arg).then(next.resolve, next.reject);
    }
  }
}

export function isSuperseded(x: unknown): x is Superseded {
  return typeof x === 'object' && x !== null && (x as Superseded).superseded === true;
}

/** Serialises async work (ORT sessions must not run concurrently). */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn);
    this.tail = p.catch(() => undefined);
    return p;
  }
}

/** Milliseconds from a monotonic clock where there is one. */
export function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/** Lets other messages (cancel, a newer slider value) through between graph runs. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}
