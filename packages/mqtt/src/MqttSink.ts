/**
 * mqttSink: publishes every result row as one QoS 1 message; a batch counts
 * as written once the broker acknowledged (PUBACK) every message of it.
 *
 *   addBatch(rows, N) ─► publish QoS 1 each row (MQTT 5 user properties
 *                        millrace-id "<query>:<N>:<i>", millrace-batch "<query>:<N>") ─► all PUBACKs
 *        ▲                                                                                   │
 *        └──── not all acknowledged within batchTimeoutMs (broker away): reconnect, publish again
 *
 * Guarantee: at-least-once (QoS 1 is at-least-once by definition). With MQTT 5
 * the user property millrace-id lets a consumer drop copies of a re-published
 * batch; mqttSource does so by itself.
 */
import * as mqtt from 'mqtt';
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
  connectionError,
  resolveConnection,
  type MqttConnectionOptions,
  type ResolvedConnection,
} from './connection.ts';
import { check, externalError, internalError, optionError, quote, redact, userError } from './errors.ts';
import { BATCH_PROPERTY, ID_PROPERTY } from './MqttSource.ts';

export interface MqttSinkOptions extends MqttConnectionOptions {
  /** Unique within a query; default `mqtt-<topic>`. */
  readonly name?: string;
  /** The topic, or one computed per row (e.g. `(r) => \`alerts/${r.host}\``). */
  readonly topic: string | ((row: Row) => string);
  /** 'json' (default: each row as a JSON object) or { value: column } (that string/binary column as the payload). */
  readonly format?: 'json' | { readonly value: string };
  /** Publish with the retain flag (default false): the broker keeps the last message per topic for new subscribers. */
  readonly retain?: boolean;
  /** Client id (default `millrace-sink-<name>-<random>`). */
  readonly clientId?: string;
  /** A batch whose messages are not acknowledged within this time (per 1,000) is published again (default 30 s). */
  readonly batchTimeoutMs?: number;
  /** Retries of a failed batch (default 20), with backoff from initialBackoffMs (100) to maxBackoffMs (5000). */
  readonly maxRetries?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

const OPTIONS = [
  ...CONNECTION_OPTIONS,
  'name',
  'topic',
  'format',
  'retain',
  'clientId',
  'batchTimeoutMs',
  'maxRetries',
  'initialBackoffMs',
  'maxBackoffMs',
];

/** Messages published and not yet acknowledged, at most. */
const IN_FLIGHT = 1000;

export function mqttSink(options: MqttSinkOptions): MqttSink {
  return new MqttSink(options);
}

export class MqttSink implements Sink {
  readonly name: string;
  readonly guarantee = 'at-least-once' as const;
  /** A message stream is a change stream: complete mode (the whole table each batch) is refused. */
  readonly supportedOutputModes: readonly OutputMode[] = ['append', 'update'];

  private readonly conn: ResolvedConnection;
  private readonly topic: string | ((row: Row) => string);
  private readonly valueColumn: string | undefined;
  private readonly retain: boolean;
  private readonly clientId: string;
  private readonly batchTimeoutMs: number;
  private readonly maxRetries: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly what: string;

  private ctx: SinkContext | undefined;
  private encoder: JsonRecordEncoder | undefined;
  private client: mqtt.MqttClient | undefined;
  private retries = 0;

  constructor(options: MqttSinkOptions) {
    const where = 'mqttSink';
    const o = check.object(where, options, "{ topic: 'alerts', url?, … }") as unknown as MqttSinkOptions;
    check.known(where, o as unknown as Record<string, unknown>, OPTIONS);
    if (typeof o.topic === 'string') {
      if (o.topic === '' || /[+#]/.test(o.topic)) {
        throw optionError(
          where,
          `"topic" must be a topic name without wildcards (+, #), got ${quote(o.topic)}`,
        );
      }
    } else if (typeof o.topic !== 'function') {
      throw optionError(
        where,
        `"topic" must be a topic name or a function (row) => topic, got ${quote(o.topic)}`,
      );
    }
    this.topic = o.topic;
    this.name =
      o.name === undefined
        ? `mqtt-${typeof o.topic === 'string' ? o.topic.replace(/[^A-Za-z0-9_.-]+/g, '_') : 'topics'}`
        : check.string(where, 'name', o.name);
    this.what = `mqttSink ${this.name}`;
    this.conn = resolveConnection(where, o);
    if (o.format !== undefined && o.format !== 'json') {
      const f = check.object(`${where} format`, o.format, "'json' or { value: column }");
      this.valueColumn = check.string(where, 'format.value', f.value);
    }
    this.retain = o.retain === undefined ? false : check.boolean(where, 'retain', o.retain);
    this.clientId =
      o.clientId === undefined
        ? `millrace-sink-${this.name}-${Math.random().toString(36).slice(2, 8)}`
        : check.string(where, 'clientId', o.clientId);
    this.batchTimeoutMs =
      o.batchTimeoutMs === undefined ? 30_000 : check.integer(where, 'batchTimeoutMs', o.batchTimeoutMs, 1);
    this.maxRetries = o.maxRetries === undefined ? 20 : check.integer(where, 'maxRetries', o.maxRetries, 0);
    this.initialBackoffMs =
      o.initialBackoffMs === undefined
        ? 100
        : check.integer(where, 'initialBackoffMs', o.initialBackoffMs, 1);
    this.maxBackoffMs =
      o.maxBackoffMs === undefined ? 5000 : check.integer(where, 'maxBackoffMs', o.maxBackoffMs, 1);
  }

  describe(): string {
    return `MqttSink[${this.conn.shown}, topic=${typeof this.topic === 'string' ? this.topic : '(per row)'}]`;
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
    await this.connect();
  }

  private async connect(): Promise<mqtt.MqttClient> {
    if (this.client) return this.client;
    try {
      // No automatic reconnect: a failed batch reconnects in addBatch's retry loop.
      const client = await mqtt.connectAsync(this.conn.url, {
        ...this.conn.options,
        clientId: this.clientId,
        clean: true,
        reconnectPeriod: 0,
      });
      client.on('error', () => {});
      client.on('close', () => {
        if (this.client === client) this.client = undefined;
      });
      this.client = client;
      return client;
    } catch (e) {
      throw connectionError(e, this.conn, this.what);
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
            'MQTT_UNAVAILABLE',
            `${this.what}: batch ${info.batchId} not acknowledged after ${attempt + 1} attempts (${msg}); check the broker at ${this.conn.shown}. ` +
              'Restarting the query publishes the batch again',
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
        const client = this.client;
        this.client = undefined;
        await client?.endAsync(true).catch(() => {});
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  private async publishAll(rows: readonly Row[], batchKey: string): Promise<void> {
    const client = await this.connect();
    if (!client.connected) {
      this.client = undefined;
      throw new Error('not connected to the broker');
    }
    const v5 = this.conn.protocolVersion === 5;
    let onClose: (() => void) | undefined;
    const closed = new Promise<never>((_, reject) => {
      onClose = () => reject(new Error('connection closed'));
      client.once('close', onClose);
    });
    closed.catch(() => {});
    try {
      // At most IN_FLIGHT unacknowledged at a time: MQTT packet ids run out at 65,535.
      for (let from = 0; from < rows.length; from += IN_FLIGHT) {
        const acks: Promise<unknown>[] = [];
        const to = Math.min(rows.length, from + IN_FLIGHT);
        for (let i = from; i < to; i++) {
          const row = rows[i]!;
          const topic = typeof this.topic === 'function' ? this.topic(row) : this.topic;
          if (typeof topic !== 'string' || topic === '' || /[+#]/.test(topic)) {
            throw userError(
              'INVALID_TOPIC',
              `${this.what}: topic(row) returned ${quote(topic)}; return a topic name without wildcards`,
              { sink: this.name },
            );
          }
          const opts: mqtt.IClientPublishOptions = {
            qos: 1,
            retain: this.retain,
            ...(v5
              ? {
                  properties: {
                    userProperties: { [ID_PROPERTY]: `${batchKey}:${i}`, [BATCH_PROPERTY]: batchKey },
                  },
                }
              : {}),
          };
          const ack = client.publishAsync(topic, this.payload(row), opts);
          ack.catch(() => {});
          acks.push(ack);
        }
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the broker acknowledged nothing for ${this.batchTimeoutMs} ms`)),
            this.batchTimeoutMs,
          );
        });
        try {
          await Promise.race([Promise.all(acks), timeout, closed]);
        } finally {
          clearTimeout(timer);
        }
      }
    } finally {
      client.off('close', onClose!);
    }
  }

  private payload(row: Row): Buffer {
    if (this.encoder) return Buffer.from(this.encoder.encode(row as Record<string, unknown>));
    const v = (row as Record<string, unknown>)[this.valueColumn!];
    if (v === null || v === undefined) return Buffer.alloc(0);
    return typeof v === 'string' ? Buffer.from(v) : Buffer.from(v as Uint8Array);
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.endAsync().catch(() => {});
    this.ctx = undefined;
  }
}
