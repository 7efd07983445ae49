/**
 * Triggers decide when the next micro-batch runs (Spark's semantics):
 *   default         — as soon as the previous batch ends (polling when idle)
 *   processingTime  — at fixed intervals; a late batch starts the next one at once
 *   once            — one batch with everything available (limits ignored), then stop
 *   availableNow    — everything available at start, in limit-sized batches, then stop
 */
import { userError } from '../errors/index.ts';
import { parseDuration } from '../util/durations.ts';

export type Trigger =
  | { readonly kind: 'default' }
  | { readonly kind: 'processingTime'; readonly intervalMs: number }
  | { readonly kind: 'once' }
  | { readonly kind: 'availableNow' };

export const Trigger = {
  default: (): Trigger => ({ kind: 'default' }),
  /** `Trigger.processingTime('10 seconds')` or a number of ms. */
  processingTime: (interval: number | string): Trigger => {
    const intervalMs = parseDuration(interval, 'Trigger.processingTime');
    if (intervalMs <= 0) {
      throw userError(
        'INVALID_TRIGGER',
        `Trigger.processingTime: the interval must be positive, got "${interval}"`,
      );
    }
    return { kind: 'processingTime', intervalMs };
  },
  once: (): Trigger => ({ kind: 'once' }),
  availableNow: (): Trigger => ({ kind: 'availableNow' }),
} as const;

export function describeTrigger(t: Trigger): string {
  return t.kind === 'processingTime' ? `ProcessingTime(${t.intervalMs} ms)` : t.kind;
}

/** The next trigger time of a processing-time trigger (aligned to interval boundaries, as Spark). */
export function nextTriggerTime(now: number, intervalMs: number): number {
  return Math.floor(now / intervalMs) * intervalMs + intervalMs;
}
