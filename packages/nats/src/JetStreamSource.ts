/**
 * jetStreamSource: reads a NATS JetStream stream, replayable by stream sequence.
 *
 *   offsets/N = { "seq": <last stream sequence read> }     kept in the checkpoint only — the
 *                                                          consumers are ephemeral ordered ones
 *   latestOffset(start)  STREAM.INFO: first_seq / last_seq; end = last_seq, or start +
 *                        maxMessagesPerTrigger (sequences, gaps included)
 *   getBatch(start, end) an ordered consumer from start + 1, fetched until sequence end: the same
 *                        messages on a replay, unless the stream dropped them meanwhile
 *
 * Data loss: the stream's first_seq past start + 1 (limits, max age, purge removed messages the
 * query has yet to read) fails with NATS_DATA_LOSS (failOnDataLoss, the default) or is skipped with
 * a warning. Interior deletions (a message removed by sequence) are not detected.
 *
 * startingOffsets 'earliest' (what the stream holds; default), 'latest' (messages after the first
 * batch: that batch is empty and fixes the start in the checkpoint), or a sequence number.
 * The whole stream is read (one partition, in sequence order); to read some subjects only, give
 * them a stream of their own (or a stream sourcing them with a subject filter).
 */
import {
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  collectBatch,
  MillraceError,
  externalError,
  schema,
  t,
  type ChunkedBatch,
  type ConnectorContext,
  type Offset,
  type ReadLimit,
  type Schema,
  type Source,
  type SourceBatch,
} from 'millrace';
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

export const jetStreamSchema = schema({
  subject: t.string,
  /** The stream sequence. */
  seq: t.long,
  /** When JetStream stored the message (epoch ms). */
  timestamp: t.timestamp,
  /** The payload as UTF-8 text. */
  data: t.string,
  /** Headers, { name: first value }, or null. */
  headers: t.json.orNull(),
});

export interface JetStreamRow {
  subject: string;
  seq: number;
  timestamp: number;
  data: string;
  headers: Record<string, string> | null;
}

export interface JetStreamSourceOptions extends NatsConnectionOptions {
  /** The JetStream stream to read. */
  readonly stream: string;
  readonly startingOffsets?: 'earliest' | 'latest' | number;
  /** At most this many stream sequences per batch. Default: no limit. */
  readonly maxMessagesPerTrigger?: number;
  readonly failOnDataLoss?: boolean;
  /** Messages per fetch (and per chunk). Default 1,000. */
  readonly fetchSize?: number;
  readonly name?: string;
  readonly maxRetries?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Connection and request timeout. Default 5,000 ms. */
  readonly timeoutMs?: number;
}

const KNOWN = new Set([
  'servers',
  'connection',
  'stream',
  'startingOffsets',
  'maxMessagesPerTrigger',
  'failOnDataLoss',
  'fetchSize',
  'name',
  'maxRetries',
  'initialBackoffMs',
  'maxBackoffMs',
  'timeoutMs',
]);
const WHO = 'jetStreamSource';

export function jetStreamSource(options: JetStreamSourceOptions): JetStreamSource {
  return new JetStreamSource(options);
}

export class JetStreamSource implements Source<JetStreamRow> {
  readonly name: string;
  readonly schema = jetStreamSchema as unknown as Schema<JetStreamRow>;
  readonly replayable = true;

  private readonly target: Target;
  private readonly secrets: Secrets;
  private readonly stream: string;
  private readonly starting: 'earliest' | 'latest' | number;
  private readonly maxMessages: number | undefined;
  private readonly failOnDataLoss: boolean;
  private readonly fetchSize: number;
  private readonly timeoutMs: number;
  private readonly retry: RetrySettings;
  private nc: NatsConnection | undefined;
  private jsm: JetStreamManager | undefined;
  private js: JetStreamClient | undefined;
  private ctx: ConnectorContext | undefined;
  private latest: number | null = null;
  private availableNowTarget: number | null = null;

  constructor(options: JetStreamSourceOptions) {
    if (options === null || typeof options !== 'object')
      throw optionError(
        WHO,
        "pass an options object, e.g. { servers: 'nats://host:4222', stream: 'ORDERS' }",
      );
    const o = options as unknown as Record<string, unknown>;
    checkKnown(o, KNOWN, WHO);
    const target = resolveTarget(options);
    if (typeof target === 'string') throw optionError(WHO, target);
    this.target = target;
    this.secrets = new Secrets(target);
    if (typeof options.stream !== 'string' || options.stream === '')
      throw optionError(WHO, `"stream" must name a JetStream stream, got ${JSON.stringify(options.stream)}`);
    this.stream = options.stream;
    const st = options.startingOffsets ?? 'earliest';
    if (
      st !== 'earliest' &&
      st !== 'latest' &&
      !(typeof st === 'number' && Number.isSafeInteger(st) && st >= 0)
    ) {
      throw optionError(
        WHO,
        `"startingOffsets" must be 'earliest', 'latest' or a stream sequence (read after it), got ${JSON.stringify(st)}`,
      );
    }
    this.starting = st;
    this.maxMessages =
      options.maxMessagesPerTrigger === undefined
        ? undefined
        : integerOption(o, 'maxMessagesPerTrigger', 0, 1, WHO);
    if (options.failOnDataLoss !== undefined && typeof options.failOnDataLoss !== 'boolean')
      throw optionError(WHO, '"failOnDataLoss" must be true or false');
    this.failOnDataLoss = options.failOnDataLoss ?? true;
    this.fetchSize = integerOption(o, 'fetchSize', 1_000, 1, WHO);
    this.timeoutMs = integerOption(o, 'timeoutMs', 5_000, 1, WHO);
    this.retry = {
      maxRetries: integerOption(o, 'maxRetries', 20, 0, WHO),
      initialBackoffMs: integerOption(o, 'initialBackoffMs', 100, 0, WHO),
      maxBackoffMs: integerOption(o, 'maxBackoffMs', 5_000, 0, WHO),
    };
    this.name = options.name ?? `jetstream-${this.stream}`;
  }

  describe(): string {
    const limit = this.maxMessages === undefined ? '' : `, maxMessagesPerTrigger=${this.maxMessages}`;
    return this.secrets.scrub(
      `JetStreamSource[${displayTarget(this.target)}, stream ${this.stream}${limit}]`,
    );
  }

  async open(ctx: ConnectorContext): Promise<void> {
    this.ctx = ctx;
    await this.run('connecting', undefined, async () => {
      await this.connected();
      await this.jsm!.streams.info(this.stream);
    });
  }

  private async connected(): Promise<void> {
    if (this.nc && !this.nc.isClosed()) return;
    this.nc = await connectTo(this.target, `millrace:${this.name}`, this.timeoutMs);
    this.jsm = await jetstreamManager(this.nc, { timeout: this.timeoutMs });
    this.js = jetstream(this.nc, { timeout: this.timeoutMs });
  }

  private async run<T>(doing: string, batch: number | undefined, step: () => Promise<T>): Promise<T> {
    const where = this.secrets.scrub(displayTarget(this.target));
    const context = { source: this.name, ...(batch === undefined ? {} : { batch }) };
    let waited = false;
    const { value } = await withRetries(
      this.retry,
      async () => {
        await this.connected();
        return step();
      },
      {
        onRetry: ({ retry, delayMs, error }) => {
          waited = true;
          this.ctx?.reportWaiting?.(`NATS at ${where}: ${this.secrets.scrub(describeError(error))}`);
          this.ctx?.log.warn('jetstream source: transient failure, retrying', {
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
              `jetStreamSource "${this.name}": ${doing} on ${where} failed: ${describeError(e)}; ${advice(e, this.stream)}`,
            ),
            { retryable: false, context, cause: e },
          ),
        giveUp: (e, retries, ms) =>
          externalError(
            'NATS_UNAVAILABLE',
            this.secrets.scrub(
              `jetStreamSource "${this.name}": ${doing} on ${where} failed after ${retries} retries over ${(ms / 1000).toFixed(1)} s: ${describeError(e)}. Check that the NATS server is running with JetStream and reachable; raise maxRetries/maxBackoffMs to wait longer. Restarting the query from its checkpoint reads exactly where it stopped.`,
            ),
            { retryable: true, context, cause: e },
          ),
      },
    ).finally(() => {
      if (waited) this.ctx?.reportWaiting?.(null);
    });
    return value;
  }

  private seqOf(offset: Offset | null, what: string): number | null {
    if (offset === null) return null;
    const seq = (offset as { seq?: unknown }).seq;
    if (typeof offset !== 'object' || typeof seq !== 'number') {
      throw new MillraceError(
        'CHECKPOINT_MISMATCH',
        `jetStreamSource "${this.name}": the checkpoint's ${what} offset ${JSON.stringify(offset)} is not { seq }; was it written by another source?`,
        { domain: 'user', context: { source: this.name } },
      );
    }
    return seq;
  }

  /** The sequence a batch starts after, when the checkpoint has none; null: 'latest' (the first batch is empty). */
  private initial(): number | null {
    return this.starting === 'earliest' ? 0 : this.starting === 'latest' ? null : this.starting;
  }

  private async state(): Promise<{ first: number; last: number }> {
    const info = await this.jsm!.streams.info(this.stream);
    return { first: info.state.first_seq, last: info.state.last_seq };
  }

  async latestOffset(start: Offset | null, limit: ReadLimit): Promise<Offset | null> {
    const from = this.seqOf(start, 'start');
    return this.run('finding new messages', undefined, async () => {
      const { first, last } = await this.state();
      this.latest = last;
      const pos = from ?? this.initial();
      if (pos === null) return { seq: last }; // 'latest': fix the start now; this batch reads nothing
      if (from !== null) this.checkDataLoss(pos, first, last);
      let end = last;
      if (this.availableNowTarget !== null) end = Math.min(end, this.availableNowTarget);
      if (this.maxMessages !== undefined && limit.kind !== 'all') end = Math.min(end, pos + this.maxMessages);
      if (end <= pos) return start;
      return { seq: end };
    });
  }

  private checkDataLoss(pos: number, first: number, last: number, batch?: number): void {
    if (first <= pos + 1 || last <= pos) return;
    const problem = `stream "${this.stream}": messages ${pos + 1}…${first - 1} were removed (limits, max age or a purge) before the query read them`;
    if (this.failOnDataLoss) {
      throw externalError(
        'NATS_DATA_LOSS',
        `jetStreamSource "${this.name}": data was lost: ${problem}. Keep messages longer (max_age, max_msgs, max_bytes of the stream) or set failOnDataLoss: false to skip them with a warning`,
        {
          retryable: false,
          context: { source: this.name, ...(batch === undefined ? {} : { batch }) },
        },
      );
    }
    this.ctx?.log.warn('jetstream source skipped lost data (failOnDataLoss: false)', {
      source: this.name,
      problem,
    });
  }

  async prepareForAvailableNow(): Promise<void> {
    this.availableNowTarget = await this.run(
      'finding the newest message',
      undefined,
      async () => (await this.state()).last,
    );
  }

  reportLatestOffset(): Offset | null {
    return this.latest === null ? null : { seq: this.latest };
  }

  async getBatch(
    start: Offset | null,
    end: Offset,
    info: { readonly batchId: number },
  ): Promise<SourceBatch<JetStreamRow>> {
    return collectBatch(this.getBatchChunks(start, end, info));
  }

  getBatchChunks(
    start: Offset | null,
    end: Offset,
    info: { readonly batchId: number },
  ): ChunkedBatch<JetStreamRow> {
    const from = this.seqOf(start, 'start');
    const to = this.seqOf(end, 'end')!;
    const stats = { read: 0 };
    return Object.assign(this.read(from, to, info.batchId, stats), {
      summary: () => {
        const metrics: Record<string, number> = { messagesRead: stats.read };
        if (this.latest !== null) metrics.lagMessages = Math.max(0, this.latest - to);
        return { metrics };
      },
    });
  }

  private async *read(
    from: number | null,
    to: number,
    batchId: number,
    stats: { read: number },
  ): AsyncGenerator<JetStreamRow[]> {
    const start = from ?? this.initial() ?? to;
    let pos = start;
    if (to <= pos) return;
    const { first } = await this.run('checking for removed messages', batchId, () => this.state());
    if (from !== null) this.checkDataLoss(pos, first, to + 1, batchId);
    else pos = Math.max(pos, first - 1); // 'earliest' on a fresh query: what the stream holds
    while (pos < to) {
      const after = pos;
      const page = await this.run(`reading ${this.stream} after ${after}`, batchId, () =>
        this.fetch(after, to),
      );
      if (page.length === 0) break;
      stats.read += page.length;
      yield page;
      pos = page[page.length - 1]!.seq;
    }
  }

  /** Messages after `after`, up to `to`, at most fetchSize, through an ephemeral ordered consumer. */
  private async fetch(after: number, to: number): Promise<JetStreamRow[]> {
    const consumer = await this.js!.consumers.get(this.stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: after + 1,
    });
    const want = Math.min(this.fetchSize, to - after);
    const rows: JetStreamRow[] = [];
    const msgs = await consumer.fetch({ max_messages: want, expires: Math.min(this.timeoutMs, 2_000) });
    for await (const m of msgs) {
      if (m.seq > to) break;
      rows.push(toRow(m));
      if (m.seq >= to || rows.length >= want) break;
    }
    await msgs.close().catch(() => undefined);
    return rows;
  }

  async commit(): Promise<void> {
    // Nothing to release: positions live in the checkpoint; retention is the stream's.
  }

  async close(): Promise<void> {
    const nc = this.nc;
    this.nc = undefined;
    if (nc) await nc.close().catch(() => undefined);
  }
}

const decoder = new TextDecoder();

function toRow(m: JsMsg): JetStreamRow {
  let headers: Record<string, string> | null = null;
  if (m.headers) {
    headers = {};
    for (const [k, v] of m.headers) headers[k] = v[0] ?? '';
  }
  return {
    subject: m.subject,
    seq: m.seq,
    timestamp: Math.floor(Number(m.info.timestampNanos) / 1e6),
    data: decoder.decode(m.data),
    headers,
  };
}

export function advice(e: unknown, stream: string): string {
  const msg = String((e as Error)?.message ?? e);
  if (/authorization/i.test(msg))
    return 'check the user name and password, token or credentials (connection)';
  if (/permissions? violation/i.test(msg))
    return `grant the user the JetStream API subjects it needs ($JS.API.STREAM.INFO.${stream}, $JS.API.CONSUMER.>)`;
  if (/stream not found/i.test(msg)) return `create the stream "${stream}" (nats stream add) or fix the name`;
  return 'see the NATS message above';
}
