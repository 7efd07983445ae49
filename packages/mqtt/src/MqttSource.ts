/**
 * mqttSource: subscribes to MQTT topics (IoT sensors) with QoS 1 into a
 * streaming query. MQTT cannot replay, so every message goes through a
 * write-ahead log in the query's checkpoint (WalSource, on the embedded log)
 * and its PUBACK is sent only once it is fsynced there.
 *
 *   connect (clean start off, session kept) ──► subscribe QoS 1 (only when the broker has no session)
 *      │  PUBLISH ──► WAL queue ──fsync (group commit)──► PUBACK          PUBACKs of messages not
 *      │                                                                 yet durable are held back
 *      └─ connection lost: reconnect with backoff; the broker re-sends unacknowledged
 *         messages (DUP) and keeps new ones for the session while we are away
 *
 * PUBACK timing. mqtt.js sends a PUBACK once its message handler returns and
 * handles one packet at a time; making it wait for the fsync would allow one
 * message per fsync. Instead the source holds back the PUBACK packet itself
 * (mqtt.js's `_sendPacket`) until the message is durable, and lets the client
 * read on, so the messages the broker keeps in flight share one fsync. A
 * PUBACK for a message the source did not log (stopping, broken WAL) is never
 * sent; the broker delivers that message again.
 *
 * Duplicates. A message re-sent with DUP after a crash between fsync and
 * PUBACK is dropped when its packet id and a digest of topic and payload match
 * one of the last `dedupWindow` logged messages (mosquitto assigns packet ids
 * in turn, so an id comes back only after 65,535 others); a message from
 * mqttSink (MQTT 5) carries a `millrace-id` user property, used instead.
 */
import { createHash } from 'node:crypto';
import type { LogRecord } from '@millrace/log';
import * as mqtt from 'mqtt';
import type { ConnectorContext, Simplify } from 'millrace';
import {
  CONNECTION_OPTIONS,
  backoff,
  connectionError,
  resolveConnection,
  type MqttConnectionOptions,
  type ResolvedConnection,
} from './connection.ts';
import { check, internalError, optionError, quote, redact, userError } from './errors.ts';
import {
  WalSource,
  walRowBuilder as rowBuilder,
  type IncomingMessage,
  type Receiver,
  type WalJsonFormat as JsonFormat,
  type WalMetadataColumn as MetadataColumn,
} from '@millrace/log';

export interface MqttMetadata {
  readonly topic: string;
  /** QoS the message arrived with (1, or 0 when published at QoS 0). */
  readonly qos: number;
  readonly retain: boolean;
  /** When the message was received (logged). */
  readonly timestamp: number;
  /** Its write-ahead log offset (dense, from 0). */
  readonly offset: number;
}
export type MqttMetadataColumn = keyof MqttMetadata;
export type MqttStringRow = Simplify<{ value: string } & MqttMetadata>;
export type MqttBytesRow = Simplify<{ value: Uint8Array } & MqttMetadata>;

export interface MqttSourceOptions extends MqttConnectionOptions {
  /** Unique within a query; default `mqtt-<first topic>`. */
  readonly name?: string;
  /** Topic filters (`sensors/+/temperature`, `plant/#`, `$share/group/sensors/#`). */
  readonly topics: string | readonly string[];
  /** Read as one of several readers: each filter becomes `$share/<group>/<filter>` (MQTT 5 shared subscription). */
  readonly shareGroup?: string;
  /** The broker keeps the session (subscriptions, messages while away) under this id; default `millrace-<name>`. Unique per reader. */
  readonly clientId?: string;
  /** MQTT 5: how long the broker keeps the session while the query is down (default 7 days). */
  readonly sessionExpirySeconds?: number;
  /** Row format: 'string' (default), 'bytes' or { json: schema, mode?, corruptColumn?, metadata? }. */
  readonly format?: 'string' | 'bytes' | JsonFormat<any, MqttMetadataColumn>;
  readonly maxOffsetsPerTrigger?: number;
  /** Duplicate detection over the last this many logged messages (default 10,000; 0 = off). */
  readonly dedupWindow?: number;
  /** Reconnect backoff: first delay (default 100 ms), doubling up to maxReconnectDelayMs (default 5 s). */
  readonly reconnectDelayMs?: number;
  readonly maxReconnectDelayMs?: number;
  readonly chunkRecords?: number;
}

const OPTIONS = [
  ...CONNECTION_OPTIONS,
  'name',
  'topics',
  'shareGroup',
  'clientId',
  'sessionExpirySeconds',
  'format',
  'maxOffsetsPerTrigger',
  'dedupWindow',
  'reconnectDelayMs',
  'maxReconnectDelayMs',
  'chunkRecords',
];

/** User property carrying a message's identity (set by mqttSink). */
export const ID_PROPERTY = 'millrace-id';
export const BATCH_PROPERTY = 'millrace-batch';

export const MQTT_METADATA: Readonly<Record<MqttMetadataColumn, MetadataColumn>> = {
  topic: {
    field: { name: 'topic', type: { kind: 'string' }, nullable: false },
    get: (r: LogRecord) => (typeof r.key === 'string' ? r.key : ''),
  },
  qos: {
    field: { name: 'qos', type: { kind: 'long' }, nullable: false },
    get: (r) => Number(r.headers?.q ?? 1),
  },
  retain: {
    field: { name: 'retain', type: { kind: 'boolean' }, nullable: false },
    get: (r) => r.headers?.r === '1',
  },
  timestamp: {
    field: { name: 'timestamp', type: { kind: 'timestamp' }, nullable: false },
    get: (r) => r.timestamp,
  },
  offset: { field: { name: 'offset', type: { kind: 'long' }, nullable: false }, get: (r) => r.offset },
};

type JsonRow<R, M extends MqttMetadataColumn> = Simplify<R & Pick<MqttMetadata, M>>;

export function mqttSource(options: MqttSourceOptions & { format?: 'string' }): WalSource<MqttStringRow>;
export function mqttSource(options: MqttSourceOptions & { format: 'bytes' }): WalSource<MqttBytesRow>;
export function mqttSource<R, M extends MqttMetadataColumn = never>(
  options: MqttSourceOptions & { format: JsonFormat<R, M> },
): WalSource<JsonRow<R, M>>;
export function mqttSource(options: MqttSourceOptions): WalSource<any> {
  const where = 'mqttSource';
  const o = check.object(
    where,
    options,
    "{ topics: 'sensors/#', url?, format?, … }",
  ) as unknown as MqttSourceOptions;
  check.known(where, o as unknown as Record<string, unknown>, OPTIONS);
  const list = typeof o.topics === 'string' ? [o.topics] : o.topics;
  if (!Array.isArray(list) || list.length === 0 || list.some((x) => typeof x !== 'string' || x === '')) {
    throw optionError(
      where,
      `"topics" must be a topic filter or a non-empty list of them, got ${quote(o.topics)}`,
    );
  }
  let filters = [...(list as string[])];
  if (o.shareGroup !== undefined) {
    const g = check.string(where, 'shareGroup', o.shareGroup);
    if (/[/+#]/.test(g)) throw optionError(where, `"shareGroup" must not contain /, + or #, got ${quote(g)}`);
    filters = filters.map((f) => {
      if (f.startsWith('$share/'))
        throw optionError(where, `topic ${quote(f)} is already shared; leave out "shareGroup"`);
      return `$share/${g}/${f}`;
    });
  }
  const name =
    o.name === undefined
      ? `mqtt-${list[0]!.replace(/[^A-Za-z0-9_.-]+/g, '_')}`
      : check.string(where, 'name', o.name);
  const conn = resolveConnection(where, o);
  const clientId =
    o.clientId === undefined ? `millrace-${name}` : check.string(where, 'clientId', o.clientId);
  const rows = rowBuilder(o.format, MQTT_METADATA, `${where} ${name}`);
  const dedupWindow =
    o.dedupWindow === undefined ? 10_000 : check.integer(where, 'dedupWindow', o.dedupWindow, 0);
  const receiver = new MqttReceiver({
    conn,
    filters,
    clientId,
    sessionExpirySeconds:
      o.sessionExpirySeconds === undefined
        ? 7 * 24 * 3600
        : check.integer(where, 'sessionExpirySeconds', o.sessionExpirySeconds, 1, 0xffff_ffff),
    dedup: dedupWindow > 0,
    reconnectDelayMs:
      o.reconnectDelayMs === undefined
        ? 100
        : check.integer(where, 'reconnectDelayMs', o.reconnectDelayMs, 1),
    maxReconnectDelayMs:
      o.maxReconnectDelayMs === undefined
        ? 5000
        : check.integer(where, 'maxReconnectDelayMs', o.maxReconnectDelayMs, 1),
    what: `mqttSource ${name}`,
  });
  return new WalSource(
    {
      name,
      what: 'mqtt',
      rows,
      maxOffsetsPerTrigger:
        o.maxOffsetsPerTrigger === undefined
          ? undefined
          : check.integer(where, 'maxOffsetsPerTrigger', o.maxOffsetsPerTrigger, 1),
      dedupWindow,
      chunkRecords:
        o.chunkRecords === undefined ? 10_000 : check.integer(where, 'chunkRecords', o.chunkRecords, 1),
      describe: `MqttSource[${conn.shown}, topics=${filters.join(',')}, clientId=${clientId}]`,
      errorPrefix: `mqttSource ${name}`,
    },
    receiver,
  );
}

interface ReceiverSettings {
  readonly conn: ResolvedConnection;
  readonly filters: readonly string[];
  readonly clientId: string;
  readonly sessionExpirySeconds: number;
  readonly dedup: boolean;
  readonly reconnectDelayMs: number;
  readonly maxReconnectDelayMs: number;
  readonly what: string;
}

/** A received QoS 1 message until its PUBACK went out (or its connection ended). */
interface Pending {
  readonly packetId: number;
  readonly generation: number;
  durable: boolean;
  /** Sends the held-back PUBACK. */
  send?: () => void;
}

type SendPacket = (
  packet: { cmd: string; messageId?: number },
  cb?: (...a: unknown[]) => void,
  ...rest: unknown[]
) => void;

type State = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'stopped';

class MqttReceiver implements Receiver {
  private client: mqtt.MqttClient | undefined;
  private state: State = 'idle';
  /** Increases with every connection: a PUBACK belongs to the connection its PUBLISH came on. */
  private generation = 0;
  private readonly pending = new Map<number, Pending>();
  private deliver: ((m: IncomingMessage) => void) | undefined;
  private ctx: ConnectorContext | undefined;
  private receiving = false;
  private reconnects = 0;
  private attempts = 0;
  private lastError = '';

  constructor(private readonly s: ReceiverSettings) {}

  start(deliver: (m: IncomingMessage) => void, ctx: ConnectorContext): Promise<void> {
    this.deliver = deliver;
    this.ctx = ctx;
    this.state = 'connecting';
    this.receiving = true;
    const s = this.s;
    const client = mqtt.connect(s.conn.url, {
      ...s.conn.options,
      clientId: s.clientId,
      clean: false,
      resubscribe: false, // the broker keeps the subscriptions of the session
      reconnectPeriod: s.reconnectDelayMs,
      ...(s.conn.protocolVersion === 5
        ? { properties: { sessionExpiryInterval: s.sessionExpirySeconds } }
        : {}),
    });
    this.client = client;
    this.holdPubacks(client);
    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));
    return new Promise<void>((resolve, reject) => {
      let first = true;
      client.on('connect', (connack) => {
        this.generation++;
        this.pending.clear();
        this.attempts = 0;
        client.options.reconnectPeriod = s.reconnectDelayMs;
        const subscribed = connack.sessionPresent ? Promise.resolve() : this.subscribe(client);
        subscribed.then(
          () => {
            if (this.state === 'stopped') return;
            if (!first) {
              this.reconnects++;
              this.lastError = ''; // a later outage reports its own error, not this one's
              this.ctx?.reportWaiting?.(null);
              this.ctx?.log.info(`${s.what}: reconnected to the MQTT broker`, { broker: s.conn.shown });
            }
            this.state = 'connected';
            if (first) {
              first = false;
              resolve();
            }
          },
          (e: unknown) => {
            if (first) {
              first = false;
              client.end(true);
              this.state = 'stopped';
              reject(e);
            } else {
              this.lastError = redact((e as Error).message, s.conn.secrets);
              this.ctx?.reportWaiting?.(this.waitingFor());
            }
          },
        );
      });
      client.on('error', (e) => {
        this.lastError = redact(e.message, s.conn.secrets);
        if (this.state === 'reconnecting') this.ctx?.reportWaiting?.(this.waitingFor());
        if (first) {
          first = false;
          this.state = 'stopped';
          client.end(true);
          reject(connectionError(e, s.conn, s.what));
        }
      });
      client.on('close', () => {
        // PUBACKs held for this connection are void: the broker re-sends those messages (DUP).
        this.generation++;
        this.pending.clear();
        if (this.state === 'connected') {
          this.state = 'reconnecting';
          this.ctx?.reportWaiting?.(this.waitingFor());
          this.ctx?.log.warn(`${s.what}: lost the connection to the MQTT broker; reconnecting with backoff`, {
            broker: s.conn.shown,
            error: this.lastError,
          });
        }
      });
      client.on('reconnect', () => {
        if (this.state === 'stopped') return;
        this.state = 'reconnecting';
        client.options.reconnectPeriod = backoff(++this.attempts, s.reconnectDelayMs, s.maxReconnectDelayMs);
      });
    });
  }

  private async subscribe(client: mqtt.MqttClient): Promise<void> {
    const s = this.s;
    // rh 1 (MQTT 5): retained messages only for a new subscription, not again for a restart's.
    const opts: mqtt.IClientSubscribeOptions = { qos: 1, ...(s.conn.protocolVersion === 5 ? { rh: 1 } : {}) };
    const granted = await client.subscribeAsync([...s.filters], opts);
    const refused = granted.filter((g) => g.qos !== 0 && g.qos !== 1 && g.qos !== 2);
    if (refused.length) {
      throw userError(
        'MQTT_SUBSCRIBE_REFUSED',
        `${s.what}: the broker refused the subscription to ${refused.map((g) => quote(g.topic)).join(', ')} (reason ${refused[0]!.qos}); check the topic filter and the broker's ACLs`,
        { topics: refused.map((g) => g.topic).join(',') },
      );
    }
  }

  /** PUBACKs go out only for messages that are durable (see the header). */
  private holdPubacks(client: mqtt.MqttClient): void {
    const c = client as unknown as { _sendPacket?: SendPacket };
    if (typeof c._sendPacket !== 'function') {
      // Without it a PUBACK would go out before the message is durable: refuse rather than lose data.
      throw internalError(
        `${this.s.what}: this version of the mqtt package has no MqttClient._sendPacket, which the source needs to send PUBACKs after the write-ahead log; use mqtt 5.x as in package.json`,
      );
    }
    const send = c._sendPacket.bind(client) as SendPacket;
    c._sendPacket = (packet, cb, ...rest) => {
      if (packet.cmd !== 'puback' || packet.messageId === undefined) return send(packet, cb, ...rest);
      const p = this.pending.get(packet.messageId);
      if (p && p.durable) {
        this.pending.delete(packet.messageId);
        return send(packet, cb, ...rest);
      }
      if (p) p.send = () => send(packet, undefined, ...rest);
      // Let the client read the next packet now; the PUBACK follows the fsync (or never).
      if (cb) process.nextTick(cb);
    };
  }

  private onMessage(topic: string, payload: Buffer, packet: mqtt.IPublishPacket): void {
    if (!this.receiving) return;
    const meta: Record<string, string> = {};
    if (packet.qos !== 1) meta.q = String(packet.qos);
    if (packet.retain) meta.r = '1';
    let handle: Pending | undefined;
    if (packet.qos > 0 && packet.messageId !== undefined) {
      handle = { packetId: packet.messageId, generation: this.generation, durable: false };
      this.pending.set(packet.messageId, handle);
    }
    let dedupKey: string | undefined;
    let checkDuplicate = false;
    if (this.s.dedup) {
      const props = packet.properties?.userProperties as Record<string, string | string[]> | undefined;
      const id = props?.[ID_PROPERTY];
      if (typeof id === 'string' && id !== '') {
        dedupKey = `id:${id}`;
        checkDuplicate = true;
      } else if (packet.messageId !== undefined && packet.qos > 0) {
        const digest = createHash('sha1')
          .update(topic)
          .update('\0')
          .update(payload)
          .digest('base64url')
          .slice(0, 16);
        dedupKey = `p:${packet.messageId}:${digest}`;
        checkDuplicate = packet.dup === true;
      }
    }
    this.deliver!({ value: payload, key: topic, meta, dedupKey, checkDuplicate, handle });
  }

  acknowledge(messages: readonly IncomingMessage[]): void {
    for (const m of messages) {
      const p = m.handle as Pending | undefined;
      if (!p || p.generation !== this.generation) continue;
      p.durable = true;
      if (p.send && this.pending.get(p.packetId) === p) {
        this.pending.delete(p.packetId);
        p.send();
      }
    }
  }

  async stop(): Promise<void> {
    this.receiving = false;
  }

  async close(): Promise<void> {
    this.receiving = false;
    this.state = 'stopped';
    const client = this.client;
    this.client = undefined;
    this.pending.clear();
    // Without DISCONNECT's wait: held PUBACKs are not sent; the session keeps those messages.
    if (client) await client.endAsync(true).catch(() => {});
  }

  status(): Record<string, number | string> {
    return {
      connection: this.state,
      reconnects: this.reconnects,
      ...(this.state === 'reconnecting' ? { waitingFor: this.waitingFor() } : {}),
    };
  }

  private waitingFor(): string {
    return `MQTT broker at ${this.s.conn.shown}: ${this.lastError || 'connection closed'}`;
  }
}
