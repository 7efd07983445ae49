/**
 * kafkaSink: micro-batches to Kafka topics. Idempotent producer always; exactly once with
 * `transactional: true` (the default), at-least-once without.
 *
 * Exactly-once protocol (one Kafka transaction per micro-batch):
 *
 *   open()                         producer P, transactional.id = millrace-<queryId>-<sink>
 *     initTransactions()           fences any zombie of this query (same transactional.id)
 *                                  and aborts its unfinished transaction
 *     last = newest commit marker of "<queryId>/<sink>" in the control topic (read_committed)
 *
 *   addBatch(rows, N)
 *     N <= last.batchId ?  ── yes ─► a replay of a committed batch: write nothing
 *     beginTransaction()
 *     produce every row ──────────────► output topic(s)       ┐ one transaction:
 *     wait for all delivery reports                           │ read_committed readers
 *     produce marker {batchId: N, …} ─► control topic, p. 0   │ see all of it or none
 *     commitTransaction()                                     ┘
 *     last = N
 *
 *   crash before commitTransaction  → the restarted process's initTransactions() aborts the
 *                                     open transaction; batch N has no marker and is replayed
 *   crash after commitTransaction   → the marker is there; the replay of N is skipped
 *
 * Why a marker record and not sendOffsetsToTransaction(): both commit atomically with the
 * data, but the marker is plain produce + fetch, which every broker and librdkafka's mock
 * cluster support (the mock accepts TxnOffsetCommit but does not store the offsets), and it
 * leaves an audit trail: which batch wrote which offset range of which partition
 * (readKafkaSinkCommits()). The markers are written after the batch's records are
 * acknowledged, so even a broker without transaction isolation never shows a marker
 * without its records.
 */
import type { KafkaConsumer, LibrdKafkaError, Producer } from '@confluentinc/kafka-javascript';
import { randomUUID } from 'node:crypto';
import {
  MillraceError,
  type OutputMode,
  type Row,
  type Sink,
  type SinkBatchInfo,
  type SinkContext,
  type SinkWriteResult,
} from 'millrace';
import {
  type KafkaOptions,
  checkTopicName,
  describeOptions,
  idSafe,
  optionalBoolean,
  optionalName,
  positiveInt,
  validateBootstrap,
  validateKafkaOptions,
} from '../client/config.ts';
import {
  RD,
  externalError,
  internalError,
  isRdKafkaError,
  kafkaError,
  optionError,
  userError,
} from '../client/errors.ts';
import { loadKafkaClient } from '../client/loadClient.ts';
import {
  type ClientEnv,
  call,
  configureConsume,
  connect,
  disconnect,
  listTopics,
  newClient,
  routeClientEvents,
} from '../client/native.ts';
import {
  CONTROL_PARTITION,
  type CommitMarker,
  DEFAULT_CONTROL_TOPIC,
  markerKey,
  readLastMarker,
} from './commitMarkers.ts';
import { type OutRecord, type RecordBuilder, type SinkFormat, recordBuilder } from './records.ts';

export interface KafkaSinkOptions {
  /** Unique within a query; part of the transactional id. Default `kafka-<topic>`. */
  readonly name?: string;
  readonly bootstrapServers: string;
  /** The topic to write to; overrides a `topic` column (as Spark). Required unless rows have a topic column. */
  readonly topic?: string;
  /** 'columns' (default: key/value/topic/partition/headers columns, as Spark) or { json: true, keyColumn? }. */
  readonly format?: SinkFormat;
  /** Exactly once through Kafka transactions (default true); false: at-least-once. */
  readonly transactional?: boolean;
  /** Default `millrace-<queryId>-<name>`: stable across restarts of the query, so a restart fences its predecessor. */
  readonly transactionalId?: string;
  /** Where commit markers go (transactional only). Default `_millrace_sink_commits`. */
  readonly controlTopic?: string;
  /** librdkafka linger.ms: how long to gather records into a request. Default 5. */
  readonly lingerMs?: number;
  /** librdkafka batch.size (bytes per partition request). Default librdkafka's (1,000,000). */
  readonly batchSize?: number;
  readonly compression?: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  /** How long a record may take to be acknowledged before the batch fails. Default 60,000 ms. */
  readonly deliveryTimeoutMs?: number;
  /** Timeout of requests (connect, metadata, transaction calls). Default 30,000 ms. */
  readonly requestTimeoutMs?: number;
  /** Extra librdkafka properties (security.protocol, sasl.*, ssl.*, acks is fixed to all by idempotence). */
  readonly kafkaOptions?: KafkaOptions;
}

const WHERE = 'kafkaSink';
const COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
const MANAGED: Record<string, string> = {
  'bootstrap.servers': 'use the "bootstrapServers" option',
  'enable.idempotence': 'the sink always uses an idempotent producer',
  'transactional.id': 'use the "transactionalId" option',
  'linger.ms': 'use the "lingerMs" option',
  'compression.type': 'use the "compression" option',
  'message.timeout.ms': 'use the "deliveryTimeoutMs" option',
  'delivery.timeout.ms': 'use the "deliveryTimeoutMs" option',
  dr_cb: 'the sink needs delivery reports',
  dr_msg_cb: 'the sink needs delivery reports',
};

export function kafkaSink(options: KafkaSinkOptions): KafkaSink {
  return new KafkaSink(options);
}

/** Collects the delivery reports of one batch. */
class Deliveries {
  outstanding = 0;
  delivered = 0;
  firstError: { err: LibrdKafkaError; topic: string; partition: number } | undefined;
  /** Per topic and partition: first and last offset written. */
  readonly ranges = new Map<string, Map<number, [number, number]>>();
  private waiter: (() => void) | undefined;

  report(err: LibrdKafkaError | null, topic: string, partition: number, offset: number): void {
    this.outstanding--;
    if (err) {
      this.firstError ??= { err, topic, partition };
    } else {
      this.delivered++;
      let t = this.ranges.get(topic);
      if (!t) this.ranges.set(topic, (t = new Map()));
      const r = t.get(partition);
      if (!r) t.set(partition, [offset, offset]);
      else {
        if (offset < r[0]) r[0] = offset;
        if (offset > r[1]) r[1] = offset;
      }
    }
    if (this.outstanding === 0 && this.waiter) this.waiter();
  }

  /** Resolves when every produced record has its report. */
  settled(timeoutMs: number): Promise<boolean> {
    if (this.outstanding === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve(false);
      }, timeoutMs);
      this.waiter = () => {
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(true);
      };
    });
  }
}

export class KafkaSink implements Sink {
  readonly name: string;
  readonly guarantee: 'transactional' | 'at-least-once';
  readonly supportedOutputModes: readonly OutputMode[] = ['append', 'update', 'complete'];

  private readonly bootstrap: string;
  private readonly topic: string | undefined;
  private readonly format: SinkFormat;
  private readonly transactional: boolean;
  private readonly transactionalIdOption: string | undefined;
  private readonly controlTopic: string;
  private readonly lingerMs: number;
  private readonly batchSize: number | undefined;
  private readonly compression: (typeof COMPRESSIONS)[number];
  private readonly deliveryTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly kafkaOptions: KafkaOptions;

  private producer: Producer | undefined;
  private env: ClientEnv | undefined;
  private build: RecordBuilder | undefined;
  private transactionalId = '';
  private markerKey = '';
  private queryId = '';
  /** The highest batch id committed (from the markers at open, then our own commits). */
  private lastCommitted = -1;
  private current: Deliveries | undefined;
  /** One attempt id per open(): tells a replay's records from the crashed attempt's. */
  private instance = '';
  /** Set when the producer hit a fatal error (fenced): it cannot write again. */
  private broken: MillraceError | undefined;

  constructor(options: KafkaSinkOptions) {
    if (options === null || typeof options !== 'object') {
      throw optionError(WHERE, "pass an options object: { bootstrapServers, topic: 'out' }");
    }
    const o = options;
    this.bootstrap = validateBootstrap(WHERE, o.bootstrapServers);
    this.topic = o.topic === undefined ? undefined : checkTopicName(WHERE, '"topic"', o.topic);
    this.name = optionalName(WHERE, o.name) ?? `kafka-${this.topic ?? 'out'}`;
    const where = `kafkaSink "${this.name}"`;
    const f = o.format ?? 'columns';
    if (
      f !== 'columns' &&
      !(f !== null && typeof f === 'object' && (f as { json?: unknown }).json === true)
    ) {
      throw optionError(
        where,
        `unknown "format" ${JSON.stringify(f)}; use 'columns' or { json: true, keyColumn?: 'id' }`,
      );
    }
    if (
      f !== 'columns' &&
      f.keyColumn !== undefined &&
      (typeof f.keyColumn !== 'string' || f.keyColumn === '')
    ) {
      throw optionError(
        where,
        `"format.keyColumn" must be a column name, got ${JSON.stringify(f.keyColumn)}`,
      );
    }
    this.format = f;
    this.transactional = optionalBoolean(where, 'transactional', o.transactional) ?? true;
    this.guarantee = this.transactional ? 'transactional' : 'at-least-once';
    if (o.transactionalId !== undefined) {
      if (!this.transactional) throw optionError(where, '"transactionalId" needs transactional: true');
      if (typeof o.transactionalId !== 'string' || o.transactionalId.trim() === '') {
        throw optionError(
          where,
          `"transactionalId" must be a non-empty string, got ${JSON.stringify(o.transactionalId)}`,
        );
      }
    }
    this.transactionalIdOption = o.transactionalId;
    if (o.controlTopic !== undefined && !this.transactional) {
      throw optionError(where, '"controlTopic" is used only with transactional: true');
    }
    this.controlTopic =
      o.controlTopic === undefined
        ? DEFAULT_CONTROL_TOPIC
        : checkTopicName(where, '"controlTopic"', o.controlTopic);
    if (this.topic !== undefined && this.topic === this.controlTopic) {
      throw optionError(where, `"topic" and "controlTopic" must differ (both are "${this.topic}")`);
    }
    this.lingerMs = positiveInt(where, 'lingerMs', o.lingerMs, 0) ?? 5;
    this.batchSize = positiveInt(where, 'batchSize', o.batchSize);
    if (o.compression !== undefined && !(COMPRESSIONS as readonly string[]).includes(o.compression)) {
      throw optionError(
        where,
        `"compression" must be one of ${COMPRESSIONS.map((c) => `'${c}'`).join(', ')}, got ${JSON.stringify(o.compression)}`,
      );
    }
    this.compression = o.compression ?? 'none';
    this.deliveryTimeoutMs = positiveInt(where, 'deliveryTimeoutMs', o.deliveryTimeoutMs, 1_000) ?? 60_000;
    this.requestTimeoutMs = positiveInt(where, 'requestTimeoutMs', o.requestTimeoutMs, 100) ?? 30_000;
    this.kafkaOptions = validateKafkaOptions(where, o.kafkaOptions, MANAGED);
  }

  describe(): string {
    const opts = describeOptions(this.kafkaOptions);
    const what = this.topic ?? 'topic column';
    const fmt =
      this.format === 'columns'
        ? ''
        : `, json${this.format.keyColumn ? ` key=${this.format.keyColumn}` : ''}`;
    return `KafkaSink[${what}, bootstrap=${this.bootstrap}${fmt}, ${this.transactional ? 'transactional' : 'at-least-once'}${opts ? `, ${opts}` : ''}]`;
  }

  private where(): string {
    return `kafkaSink "${this.name}"`;
  }

  async open(ctx: SinkContext): Promise<void> {
    this.build = recordBuilder(this.where(), ctx.schema, this.format, this.topic, (ignored) =>
      ctx.log.warn('kafka sink ignores output columns it does not write', {
        sink: this.name,
        ignored,
        written: 'key, value, topic, partition, headers',
      }),
    );
    const Kafka = await loadKafkaClient();
    this.queryId = ctx.queryId;
    this.instance = randomUUID();
    this.broken = undefined;
    this.env = {
      bootstrap: this.bootstrap,
      kafkaOptions: this.kafkaOptions,
      log: ctx.log,
      owner: { sink: this.name },
    };
    this.transactionalId =
      this.transactionalIdOption ?? `millrace-${idSafe(ctx.queryId)}-${idSafe(this.name)}`;
    this.markerKey = markerKey(ctx.queryId, this.name);
    const producer = newClient(
      () =>
        new Kafka.Producer({
          'bootstrap.servers': this.bootstrap,
          'client.id': `millrace-${idSafe(ctx.queryName)}-${idSafe(this.name)}`,
          'enable.idempotence': true,
          'linger.ms': this.lingerMs,
          'compression.type': this.compression,
          'message.timeout.ms': this.deliveryTimeoutMs,
          ...(this.batchSize !== undefined ? { 'batch.size': this.batchSize } : {}),
          ...(this.transactional
            ? {
                'transactional.id': this.transactionalId,
                // librdkafka requires message.timeout.ms <= transaction.timeout.ms.
                'transaction.timeout.ms': Math.max(60_000, this.deliveryTimeoutMs),
              }
            : {}),
          // Keys land where the Java client's default partitioner puts them (murmur2), not
          // librdkafka's CRC32 default, so topics are co-partitioned with Java producers' (joins in
          // Kafka Streams or Spark rely on it). kafkaOptions.partitioner may choose another.
          partitioner: 'murmur2_random',
          dr_cb: true,
          ...this.kafkaOptions,
        }),
      this.where(),
      this.env,
    );
    routeClientEvents(producer, this.env);
    producer.on('delivery-report', (err, report) => {
      const d = report.opaque as Deliveries | undefined;
      if (d) d.report(err ?? null, report.topic, report.partition, report.offset);
    });
    const what = `${this.where()}: connecting`;
    await connect(producer, this.requestTimeoutMs, this.env, what);
    producer.setPollInBackground(true);
    this.producer = producer;
    try {
      if (this.topic !== undefined) await this.checkTopic(this.topic, 'topic');
      if (this.transactional) {
        await this.txCall(
          (cb) => producer.initTransactions(this.requestTimeoutMs, cb),
          'initializing transactions',
        );
        // After initTransactions: any transaction a crashed predecessor left open is aborted.
        await this.checkTopic(this.controlTopic, 'controlTopic');
        const last = await this.readLastMarker(Kafka);
        this.lastCommitted = last?.batchId ?? -1;
        ctx.log.info('kafka sink ready', {
          sink: this.name,
          transactionalId: this.transactionalId,
          lastCommittedBatch: this.lastCommitted,
        });
      }
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** Fail at start() when a topic cannot be written, rather than after the delivery timeout. */
  private async checkTopic(topic: string, option: string): Promise<void> {
    const producer = this.producer!;
    const env = this.env!;
    const deadline = performance.now() + Math.min(this.requestTimeoutMs, 5_000);
    while (true) {
      // A producer's metadata request lets brokers with auto.create.topics.enable create the topic.
      try {
        await call(
          (cb) => producer.getMetadata({ topic, timeout: this.requestTimeoutMs }, cb as never),
          this.requestTimeoutMs,
          'metadata',
        );
      } catch {
        // The listing below reports what matters.
      }
      const topics = await listTopics(producer, this.requestTimeoutMs, env);
      if (topics.has(topic)) return;
      if (performance.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw userError(
      'KAFKA_UNKNOWN_TOPIC',
      `${this.where()}: the ${option === 'topic' ? 'output' : 'control'} topic "${topic}" does not exist on Kafka at ${this.bootstrap} ` +
        `and the cluster did not create it. Create it` +
        (option === 'controlTopic'
          ? ` (1 partition is enough; cleanup.policy=compact keeps it small), choose another with "controlTopic", or set transactional: false for at-least-once`
          : `, or fix "topic"`),
      { sink: this.name },
    );
  }

  private async readLastMarker(
    Kafka: Awaited<ReturnType<typeof loadKafkaClient>>,
  ): Promise<CommitMarker | null> {
    const env = this.env!;
    const consumer: KafkaConsumer = newClient(
      () =>
        new Kafka.KafkaConsumer(
          {
            'bootstrap.servers': this.bootstrap,
            'group.id': `millrace-sink-${idSafe(this.queryId)}-${idSafe(this.name)}`,
            'enable.auto.commit': false,
            'enable.partition.eof': false,
            'isolation.level': 'read_committed',
            ...Object.fromEntries(Object.entries(this.kafkaOptions).filter(([k]) => !isProducerOnly(k))),
          },
          {},
        ),
      this.where(),
      env,
    );
    routeClientEvents(consumer, env);
    await connect(consumer, this.requestTimeoutMs, env, `${this.where()}: connecting to read commit markers`);
    try {
      configureConsume(consumer, 200);
      return await readLastMarker(
        { consumer, env, controlTopic: this.controlTopic, timeoutMs: this.requestTimeoutMs },
        this.markerKey,
      );
    } finally {
      await disconnect(consumer, 2_000);
    }
  }

  /** Run a transaction API call; librdkafka says whether to retry, abort or give up. */
  private async txCall(fn: (cb: (err: LibrdKafkaError) => void) => void, what: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await call<void>((cb) => fn(cb as never), this.requestTimeoutMs, what);
        return;
      } catch (e) {
        if (isRdKafkaError(e) && e.isRetriable && !e.isFatal && !e.isTxnRequiresAbort && attempt < 3)
          continue;
        const err = kafkaError(e, `${this.where()}: ${what}`, this.bootstrap, { sink: this.name });
        if (isRdKafkaError(e) && e.isFatal) this.broken = err;
        throw err;
      }
    }
  }

  async addBatch(rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult> {
    return this.write(oneChunk(rows), info);
  }

  addBatchChunks(chunks: AsyncIterable<readonly Row[]>, info: SinkBatchInfo): Promise<SinkWriteResult> {
    return this.write(chunks, info);
  }

  private async write(chunks: AsyncIterable<readonly Row[]>, info: SinkBatchInfo): Promise<SinkWriteResult> {
    const producer = this.producer;
    const build = this.build;
    if (!producer || !build) throw internalError(`${this.where()} used before open()`, { sink: this.name });
    if (this.broken) throw this.broken;
    const { batchId } = info;
    if (this.transactional && batchId <= this.lastCommitted) {
      // A replay of a committed batch. Still pull the rows: stateful operators upstream
      // update their state as the plan runs.
      let n = 0;
      for await (const c of chunks) n += c.length;
      this.env!.log.info('kafka sink skipped a replayed batch that is already committed', {
        sink: this.name,
        batch: batchId,
        rows: n,
      });
      return { rowsWritten: 0, metrics: { skippedCommittedBatch: 1 } };
    }
    const started = performance.now();
    const d = new Deliveries();
    this.current = d;
    let inTransaction = false;
    try {
      if (this.transactional) {
        await this.txCall(
          (cb) => producer.beginTransaction(cb),
          `beginning the transaction of batch ${batchId}`,
        );
        inTransaction = true;
      }
      let records = 0;
      for await (const chunk of chunks) {
        for (let i = 0; i < chunk.length; i++) {
          const r = build(chunk[i]!);
          await this.produce(producer, r, d, batchId);
          records++;
        }
      }
      await this.awaitDeliveries(d, batchId);
      if (this.transactional) {
        const marker: CommitMarker = {
          v: 1,
          queryId: this.queryId,
          sink: this.name,
          batchId,
          attempt: `${this.instance}/${batchId}`,
          transactionalId: this.transactionalId,
          records,
          partitions: rangesJson(d.ranges),
          at: new Date().toISOString(),
        };
        await this.produce(
          producer,
          {
            topic: this.controlTopic,
            partition: CONTROL_PARTITION,
            value: Buffer.from(JSON.stringify(marker)),
            key: this.markerKey,
            headers: undefined,
          },
          d,
          batchId,
        );
        await this.awaitDeliveries(d, batchId);
        await this.txCall(
          (cb) => producer.commitTransaction(this.requestTimeoutMs, cb),
          `committing batch ${batchId}`,
        );
        inTransaction = false;
        this.lastCommitted = batchId;
      }
      return {
        rowsWritten: records,
        metrics: { recordsWritten: records, writeMs: Math.round(performance.now() - started) },
      };
    } catch (e) {
      if (inTransaction) await this.abort(batchId);
      throw e instanceof MillraceError
        ? e
        : kafkaError(e, `${this.where()}: writing batch ${batchId}`, this.bootstrap, {
            sink: this.name,
            batch: batchId,
          });
    } finally {
      this.current = undefined;
    }
  }

  private async produce(producer: Producer, r: OutRecord, d: Deliveries, batchId: number): Promise<void> {
    for (let waited = 0; ;) {
      try {
        d.outstanding++;
        producer.produce(r.topic, r.partition, r.value, r.key, null, d, r.headers);
        return;
      } catch (e) {
        d.outstanding--;
        if (isRdKafkaError(e) && e.code === RD.QUEUE_FULL && waited < this.deliveryTimeoutMs) {
          // librdkafka's local queue is full: let deliveries drain.
          await new Promise((res) => setTimeout(res, 5));
          waited += 5;
          continue;
        }
        if (isRdKafkaError(e) && e.code === RD.UNKNOWN_PARTITION) {
          throw userError(
            'KAFKA_UNKNOWN_PARTITION',
            `${this.where()}: a row of batch ${batchId} asks for partition ${r.partition} of topic "${r.topic}", which does not exist ` +
              `there; fix the "partition" column (or leave it null to let the key choose the partition)`,
            { sink: this.name, batch: batchId },
          );
        }
        if (isRdKafkaError(e) && e.code === RD.MSG_SIZE_TOO_LARGE) {
          throw userError(
            'KAFKA_RECORD_TOO_LARGE',
            `${this.where()}: a record for topic "${r.topic}" of ${(r.value?.length ?? 0) + (r.key?.length ?? 0)} bytes is larger than the producer allows ` +
              `(message.max.bytes); make records smaller or raise message.max.bytes in kafkaOptions and max.message.bytes on the topic`,
            { sink: this.name, batch: batchId },
          );
        }
        throw kafkaError(
          e,
          `${this.where()}: producing a record of batch ${batchId} to "${r.topic}"`,
          this.bootstrap,
          {
            sink: this.name,
            batch: batchId,
          },
        );
      }
    }
  }

  /** Wait for every delivery report of the batch so far; the first failure fails the batch. */
  private async awaitDeliveries(d: Deliveries, batchId: number): Promise<void> {
    const ok = await d.settled(this.deliveryTimeoutMs + 5_000);
    if (d.firstError) {
      const { err, topic, partition } = d.firstError;
      throw kafkaError(
        err,
        `${this.where()}: delivering batch ${batchId} to ${topic}${partition >= 0 ? `-${partition}` : ''}`,
        this.bootstrap,
        { sink: this.name, batch: batchId },
      );
    }
    if (!ok) {
      throw externalError(
        'KAFKA_DELIVERY_TIMEOUT',
        `${this.where()}: ${d.outstanding} records of batch ${batchId} were not acknowledged within ${this.deliveryTimeoutMs} ms by Kafka at ${this.bootstrap}; ` +
          `check that the brokers are up, then restart the query (the batch is replayed${this.transactional ? ' and written once' : ', possibly twice: at-least-once'})`,
        { context: { sink: this.name, batch: batchId } },
      );
    }
  }

  private async abort(batchId: number): Promise<void> {
    const producer = this.producer;
    if (!producer || this.broken) return;
    try {
      await call<void>(
        (cb) => producer.abortTransaction(this.requestTimeoutMs, cb as never),
        this.requestTimeoutMs,
        'abort',
      );
    } catch (e) {
      // The transaction will be aborted by the broker (timeout) or by the next initTransactions().
      this.env?.log.warn('kafka sink could not abort a failed transaction', {
        sink: this.name,
        batch: batchId,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }

  async close(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    if (p) await disconnect(p, 5_000);
  }
}

async function* oneChunk(rows: readonly Row[]): AsyncIterable<readonly Row[]> {
  yield rows;
}

function rangesJson(ranges: Map<string, Map<number, [number, number]>>): CommitMarker['partitions'] {
  const out: Record<string, Record<string, [number, number]>> = {};
  for (const [topic, parts] of [...ranges].sort(([a], [b]) => (a < b ? -1 : 1))) {
    out[topic] = {};
    for (const [p, r] of [...parts].sort(([a], [b]) => a - b)) out[topic][String(p)] = r;
  }
  return out;
}

/** Producer settings that a consumer would reject or warn about. */
function isProducerOnly(key: string): boolean {
  return /^(acks|request\.required\.acks|batch\.|queue\.buffering|compression|partitioner|sticky\.|retries|retry\.|max\.in\.flight|transaction)/.test(
    key,
  );
}
