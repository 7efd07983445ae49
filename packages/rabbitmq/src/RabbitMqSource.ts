/**
 * rabbitmqSource: consumes a RabbitMQ queue into a streaming query. RabbitMQ
 * cannot replay a queue, so every message goes through a write-ahead log in
 * the query's checkpoint (WalSource, on the embedded log) and is acknowledged
 * (manual ack, `prefetch` unacknowledged at most) only once it is fsynced there.
 *
 *   connecting ──► consuming ──(connection lost)──► reconnecting (backoff) ──► consuming …
 *        │                                                    ▲
 *        └─ first connection fails: open() rejects             └─ unacknowledged messages are
 *                                                                 redelivered by the broker
 *
 * Nothing acknowledged is lost (it is in the WAL); a message redelivered
 * after a crash between fsync and ack is dropped by its message id (when the
 * publisher set one — rabbitmqSink always does) against the last `dedupWindow`
 * logged messages.
 */
import type * as amqp from 'amqplib';
import type { LogRecord } from '@millrace/log';
import type { ConnectorContext, Schema, Simplify } from 'millrace';
import {
  CONNECTION_OPTIONS,
  backoff,
  connect,
  connectionError,
  resolveConnection,
  sleep,
  type RabbitMqConnectionOptions,
  type ResolvedConnection,
} from './connection.ts';
import { check, optionError, quote, redact, userError } from './errors.ts';
import {
  WalSource,
  walRowBuilder as rowBuilder,
  type IncomingMessage,
  type Receiver,
  type WalJsonFormat as JsonFormat,
  type WalMetadataColumn as MetadataColumn,
} from '@millrace/log';

export interface RabbitMqMetadata {
  readonly routingKey: string;
  readonly exchange: string;
  readonly messageId: string | null;
  /** AMQP headers as JSON (or null). */
  readonly headers: Record<string, unknown> | null;
  /** When the message was received (logged). */
  readonly timestamp: number;
  /** Its write-ahead log offset (dense, from 0). */
  readonly offset: number;
}
export type RabbitMqMetadataColumn = keyof RabbitMqMetadata;

export type RabbitMqStringRow = Simplify<{ value: string } & RabbitMqMetadata>;
export type RabbitMqBytesRow = Simplify<{ value: Uint8Array } & RabbitMqMetadata>;

export interface RabbitMqSourceOptions extends RabbitMqConnectionOptions {
  /** Unique within a query; default `rabbitmq-<queue>`. */
  readonly name?: string;
  /** The queue to consume. */
  readonly queue: string;
  /** Declare the queue (durable) if it does not exist (default true); false: it must exist. */
  readonly assertQueue?: boolean;
  /** With assertQueue: bind it to these exchanges / routing keys (the exchanges must exist). */
  readonly bindings?: readonly { readonly exchange: string; readonly routingKey?: string }[];
  /** Unacknowledged messages in flight at most (default 1000). */
  readonly prefetch?: number;
  /** Row format: 'string' (default), 'bytes' or { json: schema, mode?, corruptColumn?, metadata? }. */
  readonly format?: 'string' | 'bytes' | JsonFormat<any, RabbitMqMetadataColumn>;
  /** At most this many messages per batch (ignored by Trigger.once / availableNow's last batch). */
  readonly maxOffsetsPerTrigger?: number;
  /** Drop a message whose message id is among the last this many logged (default 10,000; 0 = off). */
  readonly dedupWindow?: number;
  /** Reconnect backoff: first delay (default 100 ms), doubling up to maxReconnectDelayMs (default 5 s). */
  readonly reconnectDelayMs?: number;
  readonly maxReconnectDelayMs?: number;
  /** Rows per chunk handed to the plan (default 10,000). */
  readonly chunkRecords?: number;
}

const OPTIONS = [
  ...CONNECTION_OPTIONS,
  'name',
  'queue',
  'assertQueue',
  'bindings',
  'prefetch',
  'format',
  'maxOffsetsPerTrigger',
  'dedupWindow',
  'reconnectDelayMs',
  'maxReconnectDelayMs',
  'chunkRecords',
];

const header = (r: LogRecord, k: string): string | undefined => r.headers?.[k];

export const RABBITMQ_METADATA: Readonly<Record<RabbitMqMetadataColumn, MetadataColumn>> = {
  routingKey: {
    field: { name: 'routingKey', type: { kind: 'string' }, nullable: false },
    get: (r) => (typeof r.key === 'string' ? r.key : ''),
  },
  exchange: {
    field: { name: 'exchange', type: { kind: 'string' }, nullable: false },
    get: (r) => header(r, 'ex') ?? '',
  },
  messageId: {
    field: { name: 'messageId', type: { kind: 'string' }, nullable: true },
    get: (r) => header(r, 'mid') ?? null,
  },
  headers: {
    field: { name: 'headers', type: { kind: 'json' }, nullable: true },
    get: (r) => {
      const h = header(r, 'h');
      return h === undefined ? null : (JSON.parse(h) as Record<string, unknown>);
    },
  },
  timestamp: {
    field: { name: 'timestamp', type: { kind: 'timestamp' }, nullable: false },
    get: (r) => r.timestamp,
  },
  offset: { field: { name: 'offset', type: { kind: 'long' }, nullable: false }, get: (r) => r.offset },
};

type JsonRow<R, M extends RabbitMqMetadataColumn> = Simplify<R & Pick<RabbitMqMetadata, M>>;

export function rabbitmqSource(
  options: RabbitMqSourceOptions & { format?: 'string' },
): WalSource<RabbitMqStringRow>;
export function rabbitmqSource(
  options: RabbitMqSourceOptions & { format: 'bytes' },
): WalSource<RabbitMqBytesRow>;
export function rabbitmqSource<R, M extends RabbitMqMetadataColumn = never>(
  options: RabbitMqSourceOptions & { format: JsonFormat<R, M> },
): WalSource<JsonRow<R, M>>;
export function rabbitmqSource(options: RabbitMqSourceOptions): WalSource<any> {
  const where = 'rabbitmqSource';
  const o = check.object(
    where,
    options,
    "{ queue: 'events', url?, format?, … }",
  ) as unknown as RabbitMqSourceOptions;
  check.known(where, o as unknown as Record<string, unknown>, OPTIONS);
  const queue = check.string(where, 'queue', o.queue);
  const name = o.name === undefined ? `rabbitmq-${queue}` : check.string(where, 'name', o.name);
  const conn = resolveConnection(where, o);
  const rows = rowBuilder(o.format, RABBITMQ_METADATA, `${where} ${name}`);
  const bindings = o.bindings ?? [];
  if (
    !Array.isArray(bindings) ||
    bindings.some((b) => typeof b?.exchange !== 'string' || b.exchange === '')
  ) {
    throw optionError(
      where,
      `"bindings" must be a list of { exchange, routingKey? }, got ${quote(bindings)}`,
    );
  }
  const assertQueue = o.assertQueue === undefined ? true : check.boolean(where, 'assertQueue', o.assertQueue);
  if (!assertQueue && bindings.length) {
    throw optionError(
      where,
      '"bindings" are made only with assertQueue: true; bind the existing queue yourself',
    );
  }
  const receiver = new RabbitMqReceiver({
    conn,
    queue,
    assertQueue,
    bindings,
    prefetch: o.prefetch === undefined ? 1000 : check.integer(where, 'prefetch', o.prefetch, 1, 65_535),
    reconnectDelayMs:
      o.reconnectDelayMs === undefined
        ? 100
        : check.integer(where, 'reconnectDelayMs', o.reconnectDelayMs, 1),
    maxReconnectDelayMs:
      o.maxReconnectDelayMs === undefined
        ? 5000
        : check.integer(where, 'maxReconnectDelayMs', o.maxReconnectDelayMs, 1),
    what: `rabbitmqSource ${name}`,
  });
  const dedupWindow =
    o.dedupWindow === undefined ? 10_000 : check.integer(where, 'dedupWindow', o.dedupWindow, 0);
  receiver.dedup = dedupWindow > 0;
  return new WalSource(
    {
      name,
      what: 'rabbitmq',
      rows,
      maxOffsetsPerTrigger:
        o.maxOffsetsPerTrigger === undefined
          ? undefined
          : check.integer(where, 'maxOffsetsPerTrigger', o.maxOffsetsPerTrigger, 1),
      dedupWindow,
      chunkRecords:
        o.chunkRecords === undefined ? 10_000 : check.integer(where, 'chunkRecords', o.chunkRecords, 1),
      describe: `RabbitMqSource[${conn.shown}, queue=${queue}]`,
      errorPrefix: `rabbitmqSource ${name}`,
    },
    receiver,
  );
}

interface ReceiverSettings {
  readonly conn: ResolvedConnection;
  readonly queue: string;
  readonly assertQueue: boolean;
  readonly bindings: readonly { readonly exchange: string; readonly routingKey?: string }[];
  readonly prefetch: number;
  readonly reconnectDelayMs: number;
  readonly maxReconnectDelayMs: number;
  readonly what: string;
}

type State = 'idle' | 'connecting' | 'consuming' | 'reconnecting' | 'stopped';

interface Handle {
  readonly channel: amqp.Channel;
  readonly message: amqp.ConsumeMessage;
}

/** The AMQP side: connection, channel, consumer, reconnects with backoff. */
class RabbitMqReceiver implements Receiver {
  dedup = true;
  private state: State = 'idle';
  private model: amqp.ChannelModel | undefined;
  private channel: amqp.Channel | undefined;
  private consumerTag: string | undefined;
  private deliver: ((m: IncomingMessage) => void) | undefined;
  private ctx: ConnectorContext | undefined;
  private readonly abort = new AbortController();
  private reconnecting: Promise<void> | undefined;
  private reconnects = 0;
  private lastError = '';

  constructor(private readonly s: ReceiverSettings) {}

  async start(deliver: (m: IncomingMessage) => void, ctx: ConnectorContext): Promise<void> {
    this.deliver = deliver;
    this.ctx = ctx;
    this.state = 'connecting';
    await this.connectOnce();
  }

  private async connectOnce(): Promise<void> {
    const s = this.s;
    const model = await connect(s.conn, s.what);
    let channel: amqp.Channel;
    try {
      channel = await model.createChannel();
      if (s.assertQueue) {
        await channel.assertQueue(s.queue, { durable: true });
        for (const b of s.bindings) await channel.bindQueue(s.queue, b.exchange, b.routingKey ?? '');
      } else await channel.checkQueue(s.queue);
      await channel.prefetch(s.prefetch);
    } catch (e) {
      await model.close().catch(() => {});
      const msg = redact(String((e as Error).message), s.conn.secrets);
      if (/NOT_FOUND|404/.test(msg)) {
        throw userError(
          'RABBITMQ_NOT_FOUND',
          `${s.what}: ${msg}; create the queue (or exchange) first, or let the source declare it (assertQueue: true)`,
          { queue: s.queue },
        );
      }
      if (/PRECONDITION_FAILED|406/.test(msg)) {
        throw userError(
          'RABBITMQ_QUEUE_MISMATCH',
          `${s.what}: queue "${s.queue}" exists with other settings (${msg}); use assertQueue: false to consume it as it is`,
          { queue: s.queue },
        );
      }
      throw connectionError(e, s.conn, s.what);
    }
    model.on('error', () => {}); // 'close' follows and handles it
    model.on('close', (err?: Error) => this.lost(model, err));
    channel.on('error', () => {});
    channel.on('close', () => this.lost(model, undefined));
    this.model = model;
    this.channel = channel;
    const reply = await channel.consume(
      s.queue,
      (msg) => {
        if (msg === null) {
          // The broker cancelled the consumer (queue deleted): treat as a lost connection.
          this.lost(model, new Error(`the broker cancelled the consumer of queue "${s.queue}"`));
          return;
        }
        this.onMessage(channel, msg);
      },
      { noAck: false },
    );
    this.consumerTag = reply.consumerTag;
    this.state = 'consuming';
  }

  private onMessage(channel: amqp.Channel, msg: amqp.ConsumeMessage): void {
    const p = msg.properties;
    const meta: Record<string, string> = { ex: msg.fields.exchange };
    const messageId = typeof p.messageId === 'string' && p.messageId !== '' ? p.messageId : undefined;
    if (messageId !== undefined) meta.mid = messageId;
    const headers = p.headers as Record<string, unknown> | undefined;
    if (headers && Object.keys(headers).length > 0) meta.h = JSON.stringify(headers, jsonSafe);
    const handle: Handle = { channel, message: msg };
    this.deliver!({
      value: msg.content,
      key: msg.fields.routingKey,
      meta,
      dedupKey: this.dedup ? messageId : undefined,
      checkDuplicate: true,
      handle,
    });
  }

  acknowledge(messages: readonly IncomingMessage[]): void {
    // One ack with `multiple` per channel: every earlier delivery on it is in this or an earlier flush.
    let last: Handle | undefined;
    for (const m of messages) {
      const h = m.handle as Handle;
      if (last && h.channel !== last.channel) this.ackUpTo(last);
      last = h;
    }
    if (last) this.ackUpTo(last);
  }

  private ackUpTo(h: Handle): void {
    // A closed channel's deliveries are back in the queue; the WAL drops them again by message id.
    if (h.channel !== this.channel || this.state !== 'consuming') return;
    try {
      h.channel.ack(h.message, true);
    } catch {
      // The channel closed meanwhile: same as above.
    }
  }

  private lost(model: amqp.ChannelModel, err: Error | undefined): void {
    if (this.model !== model || this.state === 'stopped') return;
    this.model = undefined;
    this.channel = undefined;
    this.state = 'reconnecting';
    model.close().catch(() => {});
    this.lastError = redact(err?.message ?? 'connection closed', this.s.conn.secrets);
    this.ctx?.reportWaiting?.(this.waitingFor());
    this.ctx?.log.warn(`${this.s.what}: lost the connection to RabbitMQ; reconnecting with backoff`, {
      broker: this.s.conn.shown,
      queue: this.s.queue,
      error: this.lastError,
    });
    this.reconnecting ??= this.reconnectLoop().finally(() => (this.reconnecting = undefined));
  }

  private async reconnectLoop(): Promise<void> {
    for (let attempt = 0; this.state === 'reconnecting'; attempt++) {
      await sleep(backoff(attempt, this.s.reconnectDelayMs, this.s.maxReconnectDelayMs), this.abort.signal);
      if (this.state !== 'reconnecting') return;
      try {
        await this.connectOnce();
        this.reconnects++;
        this.ctx?.reportWaiting?.(null);
        this.ctx?.log.info(`${this.s.what}: reconnected to RabbitMQ`, {
          broker: this.s.conn.shown,
          attempts: attempt + 1,
        });
        return;
      } catch (e) {
        if ((this.state as State) === 'stopped') return;
        this.state = 'reconnecting';
        this.lastError = redact((e as Error).message, this.s.conn.secrets);
        this.ctx?.reportWaiting?.(this.waitingFor());
      }
    }
  }

  async stop(): Promise<void> {
    const ch = this.channel;
    const tag = this.consumerTag;
    if (ch && tag && this.state === 'consuming') await ch.cancel(tag).catch(() => {});
  }

  async close(): Promise<void> {
    this.state = 'stopped';
    this.abort.abort();
    const model = this.model;
    this.model = undefined;
    this.channel = undefined;
    await model?.close().catch(() => {});
    await this.reconnecting;
  }

  status(): Record<string, number | string> {
    return {
      connection: this.state === 'consuming' ? 'connected' : this.state,
      reconnects: this.reconnects,
      ...(this.state === 'reconnecting' ? { waitingFor: this.waitingFor() } : {}),
    };
  }

  private waitingFor(): string {
    return `RabbitMQ at ${this.s.conn.shown}: ${this.lastError}`;
  }
}

function jsonSafe(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (
    v &&
    typeof v === 'object' &&
    (v as { type?: string }).type === 'Buffer' &&
    Array.isArray((v as { data?: unknown }).data)
  )
    return Buffer.from((v as { data: number[] }).data).toString('utf8');
  return v;
}

export type { Schema };
