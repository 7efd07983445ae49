/**
 * What a Kinesis failure means and the retry loop of the connectors.
 *
 *   throttled   ProvisionedThroughputExceeded (a shard's read or write limit), LimitExceeded
 *               (a control-plane call rate) …: back off and retry, however long it lasts
 *   transient   the endpoint unreachable, reset or slow, a 5xx, a stream briefly not ACTIVE
 *               (resharding): retried maxRetries times, then the query fails (retryable)
 *   fatal       bad credentials or permissions, a missing stream, a bad request: fails at once
 *
 * Every retried step is idempotent: a read by sequence number, a shard listing, or a PutRecords
 * of the records not yet accepted.
 */
import { MillraceError } from 'millrace';

const THROTTLED = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'ThrottlingException',
  'KMSThrottlingException',
]);

const TRANSIENT = new Set([
  'InternalFailure',
  'InternalFailureException',
  'InternalServerError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ResourceInUseException',
  'KMSInternalException',
]);

const AUTH = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'MissingAuthenticationTokenException',
  'AccessDeniedException',
  'ExpiredTokenException',
  'ExpiredToken',
  'InvalidClientTokenId',
  'CredentialsProviderError',
  'KMSAccessDeniedException',
]);

const NETWORK = /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|socket hang up/;

export type ErrorKind = 'throttled' | 'transient' | 'auth' | 'notFound' | 'fatal';

export function errorName(err: unknown): string {
  const e = err as { name?: unknown; code?: unknown } | null;
  return String(e?.name ?? e?.code ?? 'Error');
}

export function classify(err: unknown): ErrorKind {
  if (err instanceof MillraceError) return 'fatal';
  const e = err as {
    name?: unknown;
    code?: unknown;
    message?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  const name = errorName(err);
  if (THROTTLED.has(name)) return 'throttled';
  if (AUTH.has(name)) return 'auth';
  if (name === 'ResourceNotFoundException') return 'notFound';
  if (TRANSIENT.has(name)) return 'transient';
  const status = e?.$metadata?.httpStatusCode;
  if (typeof status === 'number' && status >= 500) return 'transient';
  if (NETWORK.test(`${String(e?.code ?? '')} ${String(e?.message ?? '')}`)) return 'transient';
  return 'fatal';
}

export function describeError(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown } | null;
  const name = errorName(err);
  const msg = String(e?.message ?? err);
  return name !== 'Error' && !msg.includes(name) ? `${name}: ${msg}` : msg;
}

/** What to check, for a failure that is not retried. */
export function adviceFor(err: unknown, streamName: string): string {
  const kind = classify(err);
  if (kind === 'auth')
    return 'check the credentials (credentials option, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the profile or role) and that they allow kinesis:ListShards, GetShardIterator, GetRecords (source) or PutRecords (sink) on the stream';
  if (kind === 'notFound')
    return `check that stream "${streamName}" exists in this region and account (aws kinesis describe-stream-summary --stream-name ${streamName})`;
  const msg = String((err as Error)?.message ?? err);
  if (/region is missing/i.test(msg)) return 'set the "region" option or AWS_REGION';
  if (/did not come from this stream|StartingSequenceNumber .* is invalid/i.test(msg))
    return `the checkpoint's sequence numbers belong to another stream: was "${streamName}" deleted and created again? Start the query on a new checkpoint`;
  if (/ENOTFOUND/.test(`${String((err as { code?: unknown })?.code ?? '')} ${msg}`))
    return 'check the endpoint and region: the host name does not resolve';
  return 'see the Kinesis message above';
}

export interface RetrySettings {
  readonly maxRetries: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Run `step` until it succeeds. Throttling is waited out without a cap on the number of tries
 * (it is the stream's capacity speaking, not an outage); transient failures count toward maxRetries.
 */
export async function withRetries<T>(
  s: RetrySettings,
  step: () => Promise<T>,
  hooks: {
    readonly onRetry: (info: { retry: number; delayMs: number; error: unknown; throttled: boolean }) => void;
    readonly fatal: (error: unknown) => MillraceError;
    readonly giveUp: (error: unknown, retries: number, elapsedMs: number) => MillraceError;
  },
): Promise<{ value: T; retries: number; throttled: number }> {
  const started = performance.now();
  let retries = 0;
  let throttled = 0;
  for (;;) {
    try {
      return { value: await step(), retries, throttled };
    } catch (e) {
      if (e instanceof MillraceError) throw e;
      const kind = classify(e);
      if (kind === 'throttled') {
        throttled++;
        const delayMs = Math.min(s.maxBackoffMs, s.initialBackoffMs * 2 ** Math.min(throttled - 1, 20));
        hooks.onRetry({ retry: throttled, delayMs, error: e, throttled: true });
        await sleep(delayMs);
        continue;
      }
      if (kind !== 'transient') throw hooks.fatal(e);
      if (retries >= s.maxRetries) throw hooks.giveUp(e, retries, performance.now() - started);
      const delayMs = Math.min(s.maxBackoffMs, s.initialBackoffMs * 2 ** retries);
      retries++;
      hooks.onRetry({ retry: retries, delayMs, error: e, throttled: false });
      await sleep(delayMs);
    }
  }
}
