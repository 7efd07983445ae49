/**
 * Time is passed in, never read from a global: the executor, triggers and
 * time-based sources take a Clock, so tests drive time with a ManualClock.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolve once `now() >= time` or when `signal` aborts (whichever first). */
  sleepUntil(time: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleepUntil(time, signal) {
    return new Promise((resolve) => {
      const wait = time - Date.now();
      if (wait <= 0 || signal?.aborted) return resolve();
      const timer = setTimeout(done, wait);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
  },
};

/** A clock that moves only when told to (`advance`, `setTime`); for tests. */
export class ManualClock implements Clock {
  private time: number;
  private waiters: { time: number; resolve: () => void; signal?: AbortSignal }[] = [];

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  /** How many callers are blocked in sleepUntil (tests use it to know the query is waiting). */
  get waiting(): number {
    return this.waiters.length;
  }

  sleepUntil(time: number, signal?: AbortSignal): Promise<void> {
    if (time <= this.time || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const w = { time, resolve, signal };
      this.waiters.push(w);
      signal?.addEventListener(
        'abort',
        () => {
          this.waiters = this.waiters.filter((x) => x !== w);
          resolve();
        },
        { once: true },
      );
    });
  }

  advance(ms: number): void {
    this.setTime(this.time + ms);
  }

  setTime(time: number): void {
    this.time = time;
    const due = this.waiters.filter((w) => w.time <= time);
    this.waiters = this.waiters.filter((w) => w.time > time);
    for (const w of due) w.resolve();
  }
}
