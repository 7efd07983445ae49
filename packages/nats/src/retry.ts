/**
 * Transient failures and the retry loop of the NATS connectors: a closed or reconnecting
 * connection, timeouts (a request or a publish ack that did not come), "no responders" while
 * JetStream is not ready after a restart. Anything else — an authorization error, an unknown
 * stream — fails at once. Every retried step is idempotent: a read by sequence range, or a publish
 * resumed after the last stored row (with Nats-Msg-Id de-duplication behind it).
 */
import { MillraceError } from 'millrace';

const RETRYABLE = [
  /timeout/i,
  /TIMEOUT/,
  /no responders/i,
  /503/,
  /connection (closed|draining|refused)/i,
  /disconnect/i,
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT/,
  /CONNECTION_REFUSED|CONNECTION_CLOSED|CONNECTION_TIMEOUT|DISCONNECT/,
  /jetstream not (enabled|available)/i,
  /insufficient resources/i,
];

export function isRetryable(err: unknown): boolean {
  if (err instanceof MillraceError) return false;
  const e = err as { code?: unknown; message?: unknown; name?: unknown } | null;
  if (!e) return false;
  if (/authorization|permissions? violation/i.test(String(e.message))) return false;
  const text = `${String(e.name ?? '')} ${String(e.code ?? '')} ${String(e.message ?? '')}`;
  return RETRYABLE.some((re) => re.test(text));
}

export function describeError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const msg = String(e?.message ?? err);
  return typeof e?.code === 'string' && !msg.includes(e.code) ? `${msg} (${e.code})` : msg;
}

export interface RetrySettings {
  readonly maxRetries: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function withRetries<T>(
  s: RetrySettings,
  step: () => Promise<T>,
  hooks: {
    readonly onRetry: (info: { retry: number; delayMs: number; error: unknown }) => void;
    readonly fatal: (error: unknown) => MillraceError;
    readonly giveUp: (error: unknown, retries: number, elapsedMs: number) => MillraceError;
  },
): Promise<{ value: T; retries: number }> {
  const started = performance.now();
  for (let retries = 0; ; retries++) {
    try {
      return { value: await step(), retries };
    } catch (e) {
      if (e instanceof MillraceError) throw e;
      if (!isRetryable(e)) throw hooks.fatal(e);
      if (retries >= s.maxRetries) throw hooks.giveUp(e, retries, performance.now() - started);
      const delayMs = Math.min(s.maxBackoffMs, s.initialBackoffMs * 2 ** retries);
      hooks.onRetry({ retry: retries + 1, delayMs, error: e });
      await sleep(delayMs);
    }
  }
}
