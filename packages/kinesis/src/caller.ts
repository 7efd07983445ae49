/**
 * One retried call to Kinesis on behalf of a connector, with the log line that says what the
 * query is waiting for, and the MillraceError (code, advice, secrets scrubbed) when it gives up.
 * Shared by the source and the sink so both classify and report failures the same way.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { externalError, userError, type Logger, type MillraceError } from 'millrace';
import { Secrets, type Target, displayTarget, makeClient } from './connection.ts';
import { type RetrySettings, adviceFor, classify, describeError, errorName, withRetries } from './retry.ts';

export class KinesisCaller {
  private clientInstance: KinesisClient | undefined;
  /** ProvisionedThroughputExceeded and similar answers waited out so far (for progress metrics). */
  throttled = 0;
  log: Logger | undefined;
  /** The connector context's reportWaiting: the query status shows what a retry waits for. */
  reportWaiting: ((what: string | null) => void) | undefined;

  constructor(
    private readonly who: string,
    private readonly connectorName: string,
    private readonly role: 'source' | 'sink',
    private readonly streamName: string,
    private readonly target: Target,
    readonly secrets: Secrets,
    private readonly retry: RetrySettings,
  ) {}

  get client(): KinesisClient {
    this.clientInstance ??= makeClient(this.target);
    return this.clientInstance;
  }

  get where(): string {
    return this.secrets.scrub(displayTarget(this.target));
  }

  async run<T>(doing: string, batch: number | undefined, step: (c: KinesisClient) => Promise<T>): Promise<T> {
    const context = {
      [this.role]: this.connectorName,
      stream: this.streamName,
      ...(batch === undefined ? {} : { batch }),
    };
    const prefix = `${this.who} "${this.connectorName}": ${doing} (stream "${this.streamName}" at ${this.where})`;
    let waited = false;
    const { value } = await withRetries(this.retry, () => step(this.client), {
      onRetry: ({ retry, delayMs, error, throttled }) => {
        if (throttled) this.throttled++;
        waited = true;
        this.reportWaiting?.(
          throttled
            ? `Kinesis read/write capacity of stream ${this.streamName}`
            : `Kinesis at ${this.where}: ${this.secrets.scrub(describeError(error))}`,
        );
        this.log?.warn(
          `kinesis ${this.role}: ${throttled ? 'throttled by Kinesis, backing off' : 'transient failure, retrying'}`,
          {
            ...context,
            retry,
            ...(throttled ? {} : { maxRetries: this.retry.maxRetries }),
            delayMs,
            waitingFor: throttled
              ? `Kinesis read/write capacity of stream ${this.streamName}`
              : `Kinesis at ${this.where}`,
            error: this.secrets.scrub(describeError(error)),
          },
        );
      },
      fatal: (e) => this.fatal(prefix, e, context),
      giveUp: (e, retries, ms) =>
        externalError(
          'KINESIS_UNAVAILABLE',
          this.secrets.scrub(
            `${prefix} failed after ${retries} retries over ${(ms / 1000).toFixed(1)} s: ${describeError(e)}. ` +
              `Check that the endpoint is reachable and the region right; raise maxRetries/maxBackoffMs to wait longer. ` +
              (this.role === 'source'
                ? 'Restarting the query from its checkpoint reads exactly where it stopped.'
                : 'Restarting the query writes the batch again (at least once).'),
          ),
          { retryable: true, context, cause: e },
        ),
    }).finally(() => {
      if (waited) this.reportWaiting?.(null);
    });
    return value;
  }

  private fatal(prefix: string, e: unknown, context: Record<string, string | number>): MillraceError {
    const kind = classify(e);
    const text = this.secrets.scrub(
      `${prefix} failed: ${describeError(e)}; ${adviceFor(e, this.streamName)}`,
    );
    if (kind === 'notFound') return userError('KINESIS_STREAM_NOT_FOUND', text, context);
    return externalError(kind === 'auth' ? 'KINESIS_AUTH' : 'KINESIS_FAILED', text, {
      retryable: false,
      context: { ...context, awsError: errorName(e) },
      cause: e,
    });
  }

  close(): void {
    const c = this.clientInstance;
    this.clientInstance = undefined;
    c?.destroy();
  }
}
