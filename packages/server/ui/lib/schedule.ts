/**
 * Throttled rendering: live events only mark a view dirty; the view renders at most
 * once per `intervalMs` (250 ms = 4 renders a second), however many events arrive.
 * While the tab is hidden nothing renders; it catches up once visible.
 *
 *   event, event, event ─▶ request() ─▶ [wait until intervalMs after the last render] ─▶ render()
 */
import { stats } from './stats.ts';

export interface Throttled {
  /** Ask for a render (coalesced). */
  request(): void;
  /** Render now if one is pending. */
  flush(): void;
  cancel(): void;
}

export function throttle(render: () => void, intervalMs = 250, counted = true): Throttled {
  let last = -Infinity;
  let timer: number | undefined;
  let pending = false;
  let cancelled = false;
  let waitingVisible = false;

  const run = () => {
    timer = undefined;
    if (!pending || cancelled) return;
    if (document.hidden) {
      // One listener, however many requests come while hidden; request() schedules nothing meanwhile.
      if (!waitingVisible) {
        waitingVisible = true;
        document.addEventListener(
          'visibilitychange',
          () => {
            waitingVisible = false;
            run();
          },
          { once: true },
        );
      }
      return;
    }
    pending = false;
    last = performance.now();
    if (counted) stats.renders++;
    render();
  };

  return {
    request() {
      if (cancelled) return;
      pending = true;
      if (timer !== undefined || waitingVisible) return;
      timer = window.setTimeout(run, Math.max(0, last + intervalMs - performance.now()));
    },
    flush() {
      window.clearTimeout(timer);
      run();
    },
    cancel() {
      cancelled = true;
      window.clearTimeout(timer);
    },
  };
}

/** Call `fn` at most once per `intervalMs` (trailing call kept); for refetches. */
export function limited(fn: () => void | Promise<void>, intervalMs: number): Throttled {
  let busy = false;
  const t = throttle(
    () => {
      if (busy) {
        t.request();
        return;
      }
      busy = true;
      Promise.resolve(fn())
        .catch(() => undefined)
        .finally(() => (busy = false));
    },
    intervalMs,
    false,
  );
  return t;
}
