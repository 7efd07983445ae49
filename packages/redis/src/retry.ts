/**
 * Transient failures and the retry loop every Redis connector uses.
 *
 * Retryable: the connection is down or was lost (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE, …,
 * ioredis' "Connection is closed" / "Stream isn't writeable" / max-retries errors), and the server
 * is busy or not ready (LOADING while it loads its dataset after a restart, BUSY while a script
 * runs, TRYAGAIN, CLUSTERDOWN, MASTERDOWN). Everything else — a wrong password (WRONGPASS,
 * NOAUTH), a key of the wrong type (WRONGTYPE), an out-of-memory refusal (OOM) — fails at once.
 *
 * Each step that is retried is idempotent on its own: a read by id range, or a write guarded by
 * the batch id inside one Lua script.
 */
import { MillraceError, externalError } from 'millrace';
import type { Redis } from 'ioredis';

const NET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
]);
const RETRYABLE_MESSAGES = [
  /connection is closed/i,
  /stream isn't writeable/i,
  /reached the max retries per request/i,
  /^LOADING\b/,
  /^BUSY\b/,
  /^TRYAGAIN\b/,
  /^CLUSTERDOWN\b/,
  /^MASTERDOWN\b/,
  /^READONLY\b/,
  /not connected after/i,
  /connect ETIMEDOUT/i,
  /socket closed/i,
];

export function isRetryable(err: unknown): boolean {
  if (err instanceof MillraceError) return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown[] } | null;
  if (!e) return false;
  if (typeof e.code === 'string' && NET_CODES.has(e.code)) return true;
  if (Array.isArray(e.errors) && e.errors.some(isRetryable)) return true;
  return RETRYABLE_MESSAGES.some((re) => re.test(String(e.message ?? '')));
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
  readonly connectTimeoutMs: number;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function backoffMs(retry: number, s: RetrySettings): number {
  return Math.min(s.maxBackoffMs, s.initialBackoffMs * 2 ** Math.max(0, retry - 1));
}

/**
 * Run `step` (connecting first); on a transient failure wait (exponential backoff) and run it again,
 * up to maxRetries; then `giveUp` makes the final error. `onRetry` reports each wait.
 */
export async function withRetries<T>(
  client: Redis,
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
      await ensureReady(client, s.connectTimeoutMs);
      return { value: await step(), retries };
    } catch (e) {
      if (e instanceof MillraceError) throw e;
      if (!isRetryable(e)) throw hooks.fatal(e);
      if (retries >= s.maxRetries) throw hooks.giveUp(e, retries, performance.now() - started);
      const delayMs = backoffMs(retries + 1, s);
      hooks.onRetry({ retry: retries + 1, delayMs, error: e });
      await sleep(delayMs);
    }
  }
}

/**
 * Wait until the client is connected (connecting it if needed), or throw what went wrong. A login
 * the server refuses (WRONGPASS, NOAUTH, NOPERM) comes as an 'error' event while connect() only
 * says "Connection is closed": that error is thrown, and the client stops reconnecting.
 */
export async function ensureReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const done = (e?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
      if (e === undefined) resolve();
      else reject(e);
    };
    const fatal = (e: unknown) => {
      client.disconnect();
      done(e);
    };
    const onReady = () => done();
    const onError = (e: unknown) => {
      if (!isRetryable(e)) fatal(e);
    };
    const timer = setTimeout(
      () =>
        done(
          Object.assign(new Error(`not connected after ${timeoutMs} ms (status ${client.status})`), {
            code: 'ETIMEDOUT',
          }),
        ),
      timeoutMs,
    );
    client.on('ready', onReady);
    client.on('error', onError);
    if (client.status === 'wait' || client.status === 'end') {
      client.connect().catch((e: unknown) => {
        if (!isRetryable(e)) fatal(e);
      });
    }
  });
}

/** What a sink's retried step needs to log and explain itself (both Redis sinks). */
export interface SinkStepTarget {
  /** `redisHashSink "hot"`: how messages name the sink. */
  readonly label: string;
  readonly sink: string;
  readonly server: string;
  readonly client: Redis;
  readonly retry: RetrySettings;
  readonly log: { warn(msg: string, fields: Record<string, unknown>): void } | undefined;
  /** The query status: what the sink waits for while it retries (null once a step succeeds again). */
  readonly reportWaiting?: ((what: string | null) => void) | undefined;
  scrub(text: string): string;
  /** What to do about a failure (the source's adviceFor; passed in, the source imports this module). */
  advice(e: unknown): string;
}

/** One step of a sink (`doing`, for batch `batch`), retried on transient failures; errors say what to do. */
export async function runSinkStep<T>(
  t: SinkStepTarget,
  doing: string,
  batch: number | undefined,
  step: () => Promise<T>,
): Promise<{ value: T; retries: number }> {
  const context = { sink: t.sink, ...(batch === undefined ? {} : { batch }) };
  const done = await withRetries(t.client, t.retry, step, {
    onRetry: ({ retry, delayMs, error }) => {
      t.reportWaiting?.(`Redis at ${t.server}: ${t.scrub(describeError(error))}`);
      t.log?.warn('redis sink: transient failure, retrying', {
        ...context,
        retry,
        maxRetries: t.retry.maxRetries,
        delayMs,
        waitingFor: `Redis at ${t.server}`,
        error: t.scrub(describeError(error)),
      });
    },
    fatal: (e) =>
      externalError(
        'REDIS_FAILED',
        t.scrub(`${t.label}: ${doing} on ${t.server} failed: ${describeError(e)}; ${t.advice(e)}`),
        { retryable: false, context, cause: e },
      ),
    giveUp: (e, retries, ms) =>
      externalError(
        'REDIS_UNAVAILABLE',
        t.scrub(
          `${t.label}: ${doing} on ${t.server} failed after ${retries} retries over ${(ms / 1000).toFixed(1)} s: ${describeError(e)}. ` +
            `Check that Redis is running and reachable at ${t.server}; raise maxRetries/maxBackoffMs to wait longer. Restarting the query from its checkpoint is safe: the batch is written exactly once.`,
        ),
        { retryable: true, context, cause: e },
      ),
  });
  if (done.retries > 0) t.reportWaiting?.(null);
  return done;
}
