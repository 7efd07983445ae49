/**
 * Exponential backoff: attempt 0 runs at once; retry k (1-based) waits
 * min(maxBackoffMs, initialBackoffMs × 2^(k-1)). No jitter: one sink retries
 * one transaction, there is no herd to spread.
 */
export interface BackoffOptions {
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

export function backoffMs(retry: number, o: BackoffOptions): number {
  return Math.min(o.maxBackoffMs, o.initialBackoffMs * 2 ** Math.max(0, retry - 1));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
