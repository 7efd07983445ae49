/**
 * rabbitmqSink: publishes every result row as one message, with publisher
 * confirms: a batch counts as written only when the broker confirmed every
 * message of it (persistent messages on a durable queue: confirmed once on disk).
 *
 *   addBatch(rows, N) ─► publish each row (messageId "<query>:<N>:<i>",
 *                        header x-millrace-batch "<query>:<N>") ─► waitForConfirms
 *        ▲                                                               │
 *        └──── connection lost / nack: reconnect with backoff, publish the whole batch again
 *
 * Guarantee: at-least-once. A batch published again (after a retry, or a
 * replay after a crash) repeats the same message ids, so a consumer can drop
 * the copies; rabbitmqSource does that by itself (dedupWindow).
 */
import type * as amqp from 'amqplib';
import {
  JsonRecordEncoder,
  MillraceError,
  type OutputMode,
  type Row,
  type Sink,
  type SinkBatchInfo,
  type SinkContext,
  type SinkWriteResult,
} from 'millrace';
import {
  CONNECTION_OPTIONS,
  backoff,
  connect,
  resolveConnection,
  sleep,
  type RabbitMqConnectionOptions,
  type ResolvedConnection,
} from './connection.ts';
import { check, externalError, internalError, optionError, quote, redact, userError } from './errors.ts';

export interface RabbitMqSinkOptions extends RabbitMqConnectionOptions {
  /** Unique within a query; default `rabbitmq-<exchange or queue>`. */
  readonly name?: string;
  /** Publish to this exchange (it must exist) … */
  readonly exchange?: string;
  /** … with this routing key, or one computed per row (default ''). */
  readonly routingKey?: string | ((row: Row) => string);
  /** … or straight to this queue (declared durable if missing; exchange '' and routing key = queue). */
  readonly queue?: string;
  /** 'json' (default: each row as a JSON object) or { value: column } (that string/binary column as the body). */
  readonly format?: 'json' | { readonly value: string };
  /** Persistent messages (default true): they survive a broker restart on a durable queue. */
  readonly persistent?: boolean;
  /** Fail a batch when a message cannot be routed to any queue (default true). */
  readonly mandatory?: boolean;
  /** Retries of a failed batch (default 20), with backoff from initialBackoffMs (100) to maxBackoffMs (5000). */
  readonly maxRetries?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

const OPTIONS = [
  ...CONNECTION_OPTIONS,
  'name',
  'exchange',
  'routingKey',
  'queue',
  'format',
  'persistent',
  'mandatory',
  'maxRetries',
  'initialBackoffMs',
  'maxBackoffMs',
];

export const BATCH_HEADER = 'x-millrace-batch';

export function rabbitmqSink(options: RabbitMqSinkOptions): RabbitMqSink {
  return new RabbitMqSink(options);
}

export class RabbitMqSink implements Sink {
  readonly name: string;
  readonly guarantee = 'at-least-once' as const;
  /** A message stream is a change stream: complete mode (the whole table each batch) is refused. */
  readonly supportedOutputModes: readonly OutputMode[] = ['append', 'update'];

  private readonly conn: ResolvedConnection;
  private readonly exchange: string;
  private readonly routingKey: string | ((row: Row) => string);
  private readonly queue: string | undefined;
  private readonly valueColumn: string | undefined;
  private readonly persistent: boolean;
  private readonly mandatory: boolean;
  private readonly maxRetries: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly what: string;

  private ctx: SinkContext | undefined;
  private encoder: JsonRecordEncoder | undefined;
  private model: amqp.ChannelModel | undefined;
  private channel: amqp.ConfirmChannel | undefined;
  private returned: string | undefined;
  private retries = 0;

  constructor(options: RabbitMqSinkOptions) {
    const where = 'rabbitmqSink';
    const o = check.object(
      where,
      options,
      "{ exchange: 'results', routingKey?, … } or { queue: 'results' }",
    ) as RabbitMqSinkOptions;
    check.known(where, o as unknown as Record<string, unknown>, OPTIONS);
    if ((o.exchange === undefined) === (o.queue === undefined)) {
      throw optionError(where, 'give exactly one of "exchange" (with routingKey) or "queue"');
    }
    if (o.queue !== undefined) {
      this.queue = check.string(where, 'queue', o.queue);
      if (o.routingKey !== undefined)
        throw optionError(where, '"routingKey" goes with "exchange"; with "queue" the key is the queue name');
      this.exchange = '';
      this.routingKey = this.queue;
    } else {
      this.exchange = check.string(where, 'exchange', o.exchange);
      const rk = o.routingKey ?? '';
      if (typeof rk !== 'string' && typeof rk !== 'function') {
        throw optionError(
          where,
          `"routingKey" must be a string or a function (row) => string, got ${quote(rk)}`,
        );
      }
      this.routingKey = rk;
    }
    this.name =
      o.name === undefined ? `rabbitmq-${this.queue ?? this.exchange}` : check.string(where, 'name', o.name);
    this.what = `rabbitmqSink ${this.name}`;
    this.conn = resolveConnection(where, o);
    if (o.format !== undefined && o.format !== 'json') {
      const f = check.object(`${where} format`, o.format, "'json' or { value: column }");
      this.valueColumn = check.string(where, 'format.value', f.value);
    }
    this.persistent = o.persistent === undefined ? true : check.boolean(where, 'persistent', o.persistent);
    this.mandatory = o.mandatory === undefined ? true : check.boolean(where, 'mandatory', o.mandatory);
    this.maxRetries = o.maxRetries === undefined ? 20 : check.integer(where, 'maxRetries', o.maxRetries, 0);
    this.initialBackoffMs =
      o.initialBackoffMs === undefined
        ? 100
        : check.integer(where, 'initialBackoffMs', o.initialBackoffMs, 1);
    this.maxBackoffMs =
      o.maxBackoffMs === undefined ? 5000 : check.integer(where, 'maxBackoffMs', o.maxBackoffMs, 1);
  }

  describe(): string {
    const to = this.queue !== undefined ? `queue=${this.queue}` : `exchange=${this.exchange}`;
    return `RabbitMqSink[${this.conn.shown}, ${to}]`;
  }

  async open(ctx: SinkContext): Promise<void> {
    this.ctx = ctx;
    if (this.valueColumn !== undefined) {
      const f = ctx.schema.fields.find((x) => x.name === this.valueColumn);
      if (!f || (f.type.kind !== 'string' && f.type.kind !== 'binary')) {
        throw userError(
          'INVALID_OPTION',
          `${this.what}: format.value names column "${this.valueColumn}", which the query's output ${f ? `has as ${f.type.kind}` : 'does not have'}; name a string or binary column (columns: ${ctx.schema.fields.map((x) => x.name).join(', ')})`,
          { sink: this.name },
        );
      }
    } else this.encoder = new JsonRecordEncoder(ctx.schema);
    await this.ensureChannel();
  }

  private async ensureChannel(): Promise<amqp.ConfirmChannel> {
    if (this.channel) return this.channel;
    const model = await connect(this.conn, this.what);
    try {
      const ch = await model.createConfirmChannel();
      if (this.queue !== undefined) await ch.assertQueue(this.queue, { durable: true });
      else await ch.checkExchange(this.exchange);
      model.on('error', () => {});
      model.on('close', () => {
        if (this.model === model) this.model = this.channel = undefined;
      });
      ch.on('error', () => {});
      ch.on('close', () => {
        if (this.channel === ch) {
          this.channel = undefined;
          this.model = undefined;
          model.close().catch(() => {});
        }
      });
      ch.on('return', (msg: amqp.Message) => {
        this.returned ??= `a message with routing key ${quote(msg.fields.routingKey)} could not be routed to any queue (${(msg.fields as { replyText?: string }).replyText ?? 'NO_ROUTE'})`;
      });
      this.model = model;
      this.channel = ch;
      return ch;
    } catch (e) {
      await model.close().catch(() => {});
      const msg = redact(String((e as Error).message), this.conn.secrets);
      if (/NOT_FOUND|404/.test(msg)) {
        throw userError(
          'RABBITMQ_NOT_FOUND',
          `${this.what}: exchange "${this.exchange}" does not exist (${msg}); declare it first`,
          {
            sink: this.name,
          },
        );
      }
      throw externalError(
        'RABBITMQ_UNAVAILABLE',
        `${this.what}: cannot set up the channel at ${this.conn.shown}: ${msg}`,
        {
          cause: e,
          context: { sink: this.name },
        },
      );
    }
  }

  async addBatch(rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult> {
    if (!this.ctx) throw internalError(`${this.what} used before open()`, { sink: this.name });
    const batchKey = `${this.ctx.queryId}:${info.batchId}`;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.publishAll(rows, batchKey);
        return { rowsWritten: rows.length, metrics: { retries: this.retries } };
      } catch (e) {
        if (e instanceof MillraceError && e.domain === 'user') throw e;
        const msg = redact(String((e as Error).message), this.conn.secrets);
        if (attempt >= this.maxRetries) {
          throw externalError(
            'RABBITMQ_UNAVAILABLE',
            `${this.what}: batch ${info.batchId} not confirmed after ${attempt + 1} attempts (${msg}); check the broker at ${this.conn.shown}. ` +
              'Restarting the query publishes the batch again with the same message ids',
            { context: { sink: this.name, batch: info.batchId } },
          );
        }
        this.retries++;
        const wait = backoff(attempt, this.initialBackoffMs, this.maxBackoffMs);
        this.ctx.log.warn(`${this.what}: publishing batch ${info.batchId} failed; retrying`, {
          sink: this.name,
          attempt: attempt + 1,
          retryInMs: wait,
          error: msg,
        });
        const model = this.model;
        this.model = this.channel = undefined;
        await model?.close().catch(() => {});
        await sleep(wait);
      }
    }
  }

  private async publishAll(rows: readonly Row[], batchKey: string): Promise<void> {
    const ch = await this.ensureChannel();
    this.returned = undefined;
    const headers = { [BATCH_HEADER]: batchKey };
    let i = 0;
    for (const row of rows) {
      const body = this.body(row);
      const rk = typeof this.routingKey === 'function' ? this.routingKey(row) : this.routingKey;
      if (typeof rk !== 'string') {
        throw userError(
          'INVALID_ROUTING_KEY',
          `${this.what}: routingKey(row) returned ${quote(rk)}; return a string`,
          { sink: this.name },
        );
      }
      const ok = ch.publish(this.exchange, rk, body, {
        persistent: this.persistent,
        mandatory: this.mandatory,
        messageId: `${batchKey}:${i++}`,
        contentType: this.encoder ? 'application/json' : undefined,
        headers,
      });
      if (!ok)
        await new Promise<void>((resolve, reject) => {
          const onDrain = () => {
            ch.off('close', onClose);
            resolve();
          };
          const onClose = () => {
            ch.off('drain', onDrain);
            reject(new Error('channel closed while waiting for the broker to take more messages'));
          };
          ch.once('drain', onDrain);
          ch.once('close', onClose);
        });
    }
    await ch.waitForConfirms();
    if (this.returned !== undefined) {
      throw userError(
        'RABBITMQ_UNROUTABLE',
        `${this.what}: ${this.returned}; bind a queue to exchange "${this.exchange}" for that key, or set mandatory: false to let the broker drop such messages`,
        { sink: this.name },
      );
    }
  }

  private body(row: Row): Buffer {
    if (this.encoder) return Buffer.from(this.encoder.encode(row as Record<string, unknown>));
    const v = (row as Record<string, unknown>)[this.valueColumn!];
    if (v === null || v === undefined) return Buffer.alloc(0);
    return typeof v === 'string' ? Buffer.from(v) : Buffer.from(v as Uint8Array);
  }

  async close(): Promise<void> {
    const model = this.model;
    this.model = this.channel = undefined;
    await model?.close().catch(() => {});
    this.ctx = undefined;
  }
}
