/**
 * jetStreamSink: publishes each result row to a JetStream subject, once per batch id.
 *
 *   row i of batch N ──► publish(subject, row as JSON, headers:
 *                          Nats-Msg-Id     <query id>/<N>/<i>   (JetStream drops a repeat within the
 *                                                                stream's duplicate window)
 *                          Millrace-Query  <query id>, Millrace-Batch N, Millrace-Row i)
 *
 * Before writing batch N the sink reads the subject's last message (STREAM.MSG.GET last_by_subj):
 * if it is this query's, at batch M, row j —
 *   M > N, or M = N and j is the last row: N is already in — a replay, nothing is published;
 *   M = N otherwise: N was cut short — publishing resumes at row j + 1;
 *   M < N: N is published from row 0.
 * So a replay after a crash publishes nothing twice, however long after; Nats-Msg-Id covers a
 * publish whose ack was lost. This needs the subject to be written by this sink only (one writer,
 * in order); with other publishers on it, only the duplicate window protects a replay.
 * Rows are published with up to 256 acks outstanding (one connection keeps them in order).
 */
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import {
  MillraceError,
  externalError,
  userError,
  type Row,
  type Sink,
  type SinkBatchInfo,
  type SinkContext,
  type SinkWriteResult,
} from 'millrace';
import { advice } from './JetStreamSource.ts';
import {
  type NatsConnectionOptions,
  Secrets,
  type Target,
  connectTo,
  displayTarget,
  resolveTarget,
} from './connection.ts';
import { checkKnown, integerOption, optionError } from './options.ts';
import { type RetrySettings, describeError, withRetries } from './retry.ts';

export interface JetStreamSinkOptions extends NatsConnectionOptions {
  /** The subject to publish to; a stream must capture it. */
  readonly subject: string;
  readonly name?: string;
  /** Publishes awaiting their ack at once. Default 256. */
  readonly maxInFlight?: number;
  readonly maxRetries?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly timeoutMs?: number;
}

const KNOWN = new Set([
  'servers',
  'connection',
  'subject',
  'name',
  'maxInFlight',
  'maxRetries',
  'initialBackoffMs',
  'maxBackoffMs',
  'timeoutMs',
]);
const WHO = 'jetStreamSink';
const encoder = new TextEncoder();

export function jetStreamSink(options: JetStreamSinkOptions): JetStreamSink {
  return new JetStreamSink(options);
}

/** A row as JSON: binary as base64, everything else as the engine holds it (timestamps: epoch ms). */
function rowJson(row: Row): string {
  return JSON.stringify(row, (_k, v: unknown) =>
    v instanceof Uint8Array ? Buffer.from(v).toString('base64') : typeof v === 'bigint' ? Number(v) : v,
  );
}

export class JetStreamSink implements Sink {
  readonly name: string;
  readonly guarantee = 'idempotent' as const;
  readonly supportedOutputModes = ['append'] as const;

  private readonly target: Target;
  private readonly secrets: Secrets;
  private readonly subject: string;
  private readonly maxInFlight: number;
  private readonly timeoutMs: number;
  private readonly retry: RetrySettings;
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private streamName: string | undefined;
  private ctx: SinkContext | undefined;

  constructor(options: JetStreamSinkOptions) {
    if (options === null || typeof options !== 'object')
      throw optionError(
        WHO,
        "pass an options object, e.g. { servers: 'nats://host:4222', subject: 'results.orders' }",
      );
    const o = options as unknown as Record<string, unknown>;
    checkKnown(o, KNOWN, WHO);
    const target = resolveTarget(options);
    if (typeof target === 'string') throw optionError(WHO, target);
    this.target = target;
    this.secrets = new Secrets(target);
    if (typeof options.subject !== 'string' || options.subject === '' || /[*>\s]/.test(options.subject)) {
      throw optionError(
        WHO,
        `"subject" must be a subject without wildcards, like 'results.orders', got ${JSON.stringify(options.subject)}`,
      );
    }
    this.subject = options.subject;
    this.maxInFlight = integerOption(o, 'maxInFlight', 256, 1, WHO);
    this.timeoutMs = integerOption(o, 'timeoutMs', 5_000, 1, WHO);
    this.retry = {
      maxRetries: integerOption(o, 'maxRetries', 10, 0, WHO),
      initialBackoffMs: integerOption(o, 'initialBackoffMs', 100, 0, WHO),
      maxBackoffMs: integerOption(o, 'maxBackoffMs', 5_000, 0, WHO),
    };
    this.name = options.name ?? `jetstream-${this.subject}`;
  }

  describe(): string {
    return this.secrets.scrub(`JetStreamSink[${displayTarget(this.target)}, subject ${this.subject}]`);
  }

  private async connected(): Promise<void> {
    if (this.nc && !this.nc.isClosed()) return;
    this.nc = await connectTo(this.target, `millrace:${this.name}`, this.timeoutMs);
    this.jsm = await jetstreamManager(this.nc, { timeout: this.timeoutMs });
    this.js = jetstream(this.nc, { timeout: this.timeoutMs });
  }

  private async run<T>(
    doing: string,
    batch: number | undefined,
    step: () => Promise<T>,
  ): Promise<{ value: T; retries: number }> {
    const where = this.secrets.scrub(displayTarget(this.target));
    const context = { sink: this.name, ...(batch === undefined ? {} : { batch }) };
    let waited = false;
    return withRetries(
      this.retry,
      async () => {
        await this.connected();
        return step();
      },
      {
        onRetry: ({ retry, delayMs, error }) => {
          waited = true;
          this.ctx?.reportWaiting?.(`NATS at ${where}: ${this.secrets.scrub(describeError(error))}`);
          this.ctx?.log.warn('jetstream sink: transient failure, retrying', {
            ...context,
            retry,
            maxRetries: this.retry.maxRetries,
            delayMs,
            waitingFor: `NATS at ${where}`,
            error: this.secrets.scrub(describeError(error)),
          });
        },
        fatal: (e) =>
          externalError(
            'NATS_FAILED',
            this.secrets.scrub(
              `jetStreamSink "${this.name}": ${doing} on ${where} failed: ${describeError(e)}; ${advice(e, this.streamName ?? '?')}`,
            ),
            { retryable: false, context, cause: e },
          ),
        giveUp: (e, retries, ms) =>
          externalError(
            'NATS_UNAVAILABLE',
            this.secrets.scrub(
              `jetStreamSink "${this.name}": ${doing} on ${where} failed after ${retries} retries over ${(ms / 1000).toFixed(1)} s: ${describeError(e)}. Check that the NATS server is running with JetStream and reachable; raise maxRetries/maxBackoffMs to wait longer. Restarting the query from its checkpoint is safe: no row is published twice.`,
            ),
            { retryable: true, context, cause: e },
          ),
      },
    ).finally(() => {
      if (waited) this.ctx?.reportWaiting?.(null);
    });
  }

  async open(ctx: SinkContext): Promise<void> {
    this.ctx = ctx;
    try {
      await this.run('finding the stream of the subject', undefined, async () => {
        try {
          this.streamName = await this.jsm!.streams.find(this.subject);
        } catch (e) {
          if (/no stream matches subject/i.test(String((e as Error).message))) {
            throw userError(
              'NATS_NO_STREAM',
              `jetStreamSink "${this.name}": no JetStream stream captures subject "${this.subject}"; create one (nats stream add --subjects '${this.subject}') or publish to a subject a stream captures`,
              { context: { sink: this.name } },
            );
          }
          throw e;
        }
      });
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** Where this query's last write to the subject stands: { batch, row }, or null. */
  private async lastWritten(queryId: string): Promise<{ batch: number; row: number; rows: number } | null> {
    let m;
    try {
      m = await this.jsm!.streams.getMessage(this.streamName!, { last_by_subj: this.subject });
    } catch (e) {
      if (/no message found|not found/i.test(String((e as Error).message))) return null;
      throw e;
    }
    if (!m || m.header?.get('Millrace-Query') !== queryId) return null;
    return {
      batch: Number(m.header.get('Millrace-Batch')),
      row: Number(m.header.get('Millrace-Row')),
      rows: Number(m.header.get('Millrace-Rows')),
    };
  }

  async addBatch(rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult> {
    const ctx = this.ctx;
    if (!ctx || !this.streamName)
      throw new MillraceError('INTERNAL', `jetStreamSink "${this.name}" used before open()`, {
        domain: 'internal',
      });
    const batchId = info.batchId;
    const payloads = rows.map(rowJson);
    let published = 0;
    let resumedAt = 0;
    let skipped = false;
    const { retries } = await this.run(
      `publishing batch ${batchId} to ${this.subject}`,
      batchId,
      async () => {
        const last = await this.lastWritten(ctx.queryId);
        let from = 0;
        if (last && (last.batch > batchId || (last.batch === batchId && last.row >= rows.length - 1))) {
          skipped = published === 0;
          return;
        }
        if (last && last.batch === batchId) from = last.row + 1;
        if (from > 0 && resumedAt === 0) resumedAt = from;
        const inflight = new Set<Promise<unknown>>();
        let failure: unknown = null;
        for (let i = from; i < rows.length && failure === null; i++) {
          const h = natsHeaders();
          h.set('Millrace-Query', ctx.queryId);
          h.set('Millrace-Batch', String(batchId));
          h.set('Millrace-Row', String(i));
          h.set('Millrace-Rows', String(rows.length));
          const p = this.js!.publish(this.subject, encoder.encode(payloads[i]!), {
            msgID: `${ctx.queryId}/${batchId}/${i}`,
            headers: h,
            timeout: this.timeoutMs,
          }).then(
            (ack) => {
              if (!ack.duplicate) published++;
            },
            (e: unknown) => {
              failure ??= e;
            },
          );
          inflight.add(p);
          void p.finally(() => inflight.delete(p));
          if (inflight.size >= this.maxInFlight) await Promise.race(inflight);
        }
        await Promise.all(inflight);
        if (failure !== null) throw failure;
      },
    );
    return {
      rowsWritten: skipped ? 0 : published,
      metrics: {
        messagesPublished: published,
        retries,
        skippedReplay: skipped ? 1 : 0,
        ...(resumedAt > 0 ? { resumedAtRow: resumedAt } : {}),
      },
    };
  }

  async close(): Promise<void> {
    const nc = this.nc;
    this.nc = undefined;
    if (nc) await nc.close().catch(() => undefined);
  }
}
