/**
 * kafkaSource: Kafka topics as a replayable Millrace source, with Spark's semantics.
 *
 *   offsets  {"topic": {"partition": next offset}} in Millrace's checkpoint — never in consumer
 *            group commits. Batch N reads [start, end) of every partition.
 *
 *   latestOffset(start)        metadata (which partitions: subscribe / pattern / assign)
 *        │                     + watermarks (high watermark; with read_committed the last stable
 *        │                       offset), capped by maxOffsetsPerTrigger (split by lag) and by
 *        │                       the availableNow target; new partitions start at earliest
 *        ▼
 *   offsets/N written by the engine
 *        ▼
 *   getBatchChunks(start, end) assign + seek a consumer to start, read to end (rangeReader.ts),
 *   (or getBatch: the same,    decode (rows.ts), release the rows in an order fixed by offsets
 *    collected)                (batchOrder.ts); summary(): malformed count, lag metrics.
 *                              The same offsets give the same rows in the same order on a
 *                              replay — unless Kafka deleted them meanwhile (failOnDataLoss).
 *
 * The first batch starts from `startingOffsets`, resolved once and written to the source's
 * checkpoint directory (`initial-offsets`) before the first offset is returned, so a crash
 * before batch 0 commits replays it from exactly the same place (Spark does the same).
 */
import type { KafkaConsumer } from '@confluentinc/kafka-javascript';
import * as path from 'node:path';
import type {
  ChunkedBatch,
  ConnectorContext,
  MillraceError,
  Offset,
  ReadLimit,
  Schema,
  Source,
  SourceBatch,
} from 'millrace';
import { readFileIfExists, writeFileAtomic } from 'millrace';
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
} from '../client/errors.ts';
import { loadKafkaClient } from '../client/loadClient.ts';
import {
  type ClientEnv,
  configureConsume,
  connect,
  disconnect,
  listTopics,
  newClient,
  queryWatermarks,
  routeClientEvents,
} from '../client/native.ts';
import { type PartitionRange, readRanges } from '../client/rangeReader.ts';
import { BatchOrder, type Lane } from './batchOrder.ts';
import {
  type OffsetMap,
  type StartingOffsets,
  type Watermarks,
  asJsonValue,
  lag,
  offsetsFromJson,
  offsetsToJson,
  parseStartingOffsets,
  parseTpKey,
  planReads,
  rateLimit,
  resolveStartingOffsets,
  sameOffsets,
  tpKey,
  tpName,
} from './offsets.ts';
import {
  type JsonFormat,
  type KafkaFormat,
  type KafkaSourceRow,
  type RowDecoder,
  bytesDecoder,
  jsonDecoder,
  stringDecoder,
} from './rows.ts';

export interface KafkaSourceOptions<F extends KafkaFormat = 'bytes', H extends boolean = false> {
  /** Unique within a query (offsets are stored under it). Default `kafka-<first topic>`. */
  readonly name?: string;
  /** `host:port[,host:port…]` of some brokers. */
  readonly bootstrapServers: string;
  /** Topics to read. Exactly one of subscribe, subscribePattern, assign. */
  readonly subscribe?: string | readonly string[];
  /** Topics whose whole name matches (a string is a full-match regular expression, as Kafka's); new matching topics are picked up while running. */
  readonly subscribePattern?: RegExp | string;
  /** Fixed partitions: `{ topic: [0, 1] }` (or its JSON text). */
  readonly assign?: Readonly<Record<string, readonly number[]>> | string;
  /**
   * Where a NEW query starts (a restart resumes from its checkpoint): 'latest' (default),
   * 'earliest', or per partition `{"t": {"0": 23, "1": -2}}` (-2 earliest, -1 latest; every
   * partition must be named), as an object or JSON text.
   */
  readonly startingOffsets?:
    'earliest' | 'latest' | string | Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** At most this many offsets per micro-batch, split across partitions by lag (ignored by Trigger.once()). */
  readonly maxOffsetsPerTrigger?: number;
  /** Fail when records were deleted before being read or partitions vanished (default true); false: skip and warn. */
  readonly failOnDataLoss?: boolean;
  /** Add the headers column (`_headers` with a JSON format). */
  readonly includeHeaders?: H;
  /** 'bytes' (default: Spark's schema), 'string', or `{ json: schema, mode?, corruptColumn?, includeMetadata? }`. */
  readonly format?: F;
  /** Default 'read_committed': transactional producers' aborted and open records are not read. */
  readonly isolationLevel?: 'read_committed' | 'read_uncommitted';
  /**
   * Stream each batch through the query in chunks of at most maxRecordsPerPoll rows (default
   * true): a big batch never sits in memory whole. false: every batch is read whole first
   * (getBatch). Same rows, same order, same metrics either way.
   */
  readonly chunked?: boolean;
  /** Records per consume call (a chunk). Default 10,000. */
  readonly maxRecordsPerPoll?: number;
  /** Timeout of each request to Kafka (metadata, offsets) and of a read that stops progressing. Default 30,000 ms. */
  readonly requestTimeoutMs?: number;
  /** How often the partition list is refreshed (new topics / partitions). Default 1,000 ms. */
  readonly partitionDiscoveryIntervalMs?: number;
  /** Extra librdkafka properties (security.protocol, sasl.*, ssl.*, fetch.*…). Secrets are redacted from describe() and logs. */
  readonly kafkaOptions?: KafkaOptions;
}

/** A Kafka source whose rows follow the `format` and `includeHeaders` options. */
export function kafkaSource<const F extends KafkaFormat = 'bytes', const H extends boolean = false>(
  options: KafkaSourceOptions<F, H>,
): KafkaSource<KafkaSourceRow<F, H>> {
  return new KafkaSource<KafkaSourceRow<F, H>>(options as KafkaSourceOptions<KafkaFormat, boolean>);
}

type Subscription =
  | { readonly kind: 'subscribe'; readonly topics: readonly string[] }
  | { readonly kind: 'pattern'; readonly pattern: RegExp; readonly text: string }
  | { readonly kind: 'assign'; readonly partitions: readonly string[] };

const WHERE = 'kafkaSource';
const INITIAL_FILE = 'initial-offsets';
const INITIAL_VERSION = 'v1';

const MANAGED: Record<string, string> = {
  'bootstrap.servers': 'use the "bootstrapServers" option',
  'enable.auto.commit': 'offsets live in the checkpoint; Millrace never commits them to a consumer group',
  'enable.auto.offset.store': 'offsets live in the checkpoint',
  'isolation.level': 'use the "isolationLevel" option',
  'auto.offset.reset': 'use "startingOffsets" (and "failOnDataLoss" for deleted records)',
};

function parseSubscription(o: KafkaSourceOptions<KafkaFormat, boolean>): Subscription {
  const given = (['subscribe', 'subscribePattern', 'assign'] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1) {
    throw optionError(
      WHERE,
      given.length === 0
        ? 'say what to read: exactly one of "subscribe" (topics), "subscribePattern" (a regular expression) or "assign" ({ topic: [partitions] })'
        : `give exactly one of "subscribe", "subscribePattern" or "assign", not ${given.map((g) => `"${g}"`).join(' and ')}`,
    );
  }
  if (o.subscribe !== undefined) {
    const list = typeof o.subscribe === 'string' ? o.subscribe.split(',').map((s) => s.trim()) : o.subscribe;
    if (!Array.isArray(list) || list.length === 0) {
      throw optionError(
        WHERE,
        `"subscribe" must be a topic name or a non-empty list of them, got ${JSON.stringify(o.subscribe)}`,
      );
    }
    const topics = list.map((t) => checkTopicName(WHERE, '"subscribe"', t));
    return { kind: 'subscribe', topics: [...new Set(topics)] };
  }
  if (o.subscribePattern !== undefined) {
    const p = o.subscribePattern;
    if (p instanceof RegExp) return { kind: 'pattern', pattern: p, text: p.toString() };
    if (typeof p !== 'string' || p === '') {
      throw optionError(
        WHERE,
        `"subscribePattern" must be a RegExp or a regular expression string, got ${JSON.stringify(p)}`,
      );
    }
    try {
      // Kafka matches the whole topic name (Java's Pattern.matches).
      return { kind: 'pattern', pattern: new RegExp(`^(?:${p})$`), text: p };
    } catch (e) {
      throw optionError(
        WHERE,
        `"subscribePattern" ${JSON.stringify(p)} is not a valid regular expression: ${(e as Error).message}`,
      );
    }
  }
  let a: unknown = o.assign;
  if (typeof a === 'string') {
    try {
      a = JSON.parse(a);
    } catch (e) {
      throw optionError(
        WHERE,
        `"assign" is not valid JSON (${(e as Error).message}); write it like {"topic": [0, 1]}`,
      );
    }
  }
  if (a === null || typeof a !== 'object' || Array.isArray(a) || Object.keys(a).length === 0) {
    throw optionError(
      WHERE,
      `"assign" must name partitions like { topic: [0, 1] }, got ${JSON.stringify(o.assign)}`,
    );
  }
  const partitions: string[] = [];
  for (const [topic, ps] of Object.entries(a as Record<string, unknown>)) {
    checkTopicName(WHERE, '"assign"', topic);
    if (
      !Array.isArray(ps) ||
      ps.length === 0 ||
      ps.some((p) => !Number.isSafeInteger(p) || (p as number) < 0)
    ) {
      throw optionError(
        WHERE,
        `"assign": topic "${topic}" needs a non-empty list of partition numbers, got ${JSON.stringify(ps)}`,
      );
    }
    for (const p of ps as number[]) partitions.push(tpKey(topic, p));
  }
  return { kind: 'assign', partitions: [...new Set(partitions)] };
}

function describeSubscription(s: Subscription): string {
  switch (s.kind) {
    case 'subscribe':
      return `subscribe=${s.topics.join(',')}`;
    case 'pattern':
      return `subscribePattern=${s.text}`;
    case 'assign':
      return `assign=${s.partitions.map(tpName).join(',')}`;
  }
}

export class KafkaSource<R> implements Source<R> {
  readonly name: string;
  readonly schema: Schema<R>;
  readonly replayable = true;
  /** Absent with `chunked: false` (see the option). */
  readonly getBatchChunks?: (
    start: Offset | null,
    end: Offset,
    info: { readonly batchId: number },
  ) => ChunkedBatch<R>;

  private readonly bootstrap: string;
  private readonly subscription: Subscription;
  private readonly starting: StartingOffsets;
  private readonly maxOffsets: number | undefined;
  private readonly failOnDataLoss: boolean;
  private readonly isolation: 'read_committed' | 'read_uncommitted';
  private readonly kafkaOptions: KafkaOptions;
  private readonly decoder: RowDecoder<R>;
  private readonly formatName: string;
  private readonly maxRecordsPerPoll: number;
  private readonly requestTimeoutMs: number;
  private readonly discoveryMs: number;

  private ctx: ConnectorContext | undefined;
  private env: ClientEnv | undefined;
  private consumer: KafkaConsumer | undefined;
  private meta: KafkaConsumer | undefined;
  private initial: OffsetMap | undefined;
  /** Latest available offsets seen by the last latestOffset (for lag and progress). */
  private latestAvailable: OffsetMap | undefined;
  /** Trigger.availableNow: the offsets to stop at. */
  private target: OffsetMap | undefined;
  private partitionCache: { at: number; keys: string[] } | undefined;

  constructor(options: KafkaSourceOptions<KafkaFormat, boolean>) {
    if (options === null || typeof options !== 'object') {
      throw optionError(WHERE, "pass an options object: { bootstrapServers, subscribe: ['topic'] }");
    }
    const o = options;
    this.bootstrap = validateBootstrap(WHERE, o.bootstrapServers);
    this.subscription = parseSubscription(o);
    const first =
      this.subscription.kind === 'subscribe'
        ? this.subscription.topics[0]!
        : this.subscription.kind === 'assign'
          ? parseTpKey(this.subscription.partitions[0]!).topic
          : 'pattern';
    this.name = optionalName(WHERE, o.name) ?? `kafka-${first}`;
    const where = `kafkaSource "${this.name}"`;
    this.starting = parseStartingOffsets(where, o.startingOffsets);
    if (this.starting instanceof Map && this.subscription.kind === 'subscribe') {
      const topics = new Set(this.subscription.topics);
      const other = [...this.starting.keys()].map((k) => parseTpKey(k).topic).filter((t) => !topics.has(t));
      if (other.length > 0) {
        throw optionError(where, `"startingOffsets" names topic "${other[0]}", which is not in "subscribe"`);
      }
    }
    this.maxOffsets = positiveInt(where, 'maxOffsetsPerTrigger', o.maxOffsetsPerTrigger);
    this.failOnDataLoss = optionalBoolean(where, 'failOnDataLoss', o.failOnDataLoss) ?? true;
    const includeHeaders = optionalBoolean(where, 'includeHeaders', o.includeHeaders) ?? false;
    if (
      o.isolationLevel !== undefined &&
      o.isolationLevel !== 'read_committed' &&
      o.isolationLevel !== 'read_uncommitted'
    ) {
      throw optionError(
        where,
        `"isolationLevel" must be 'read_committed' or 'read_uncommitted', got ${JSON.stringify(o.isolationLevel)}`,
      );
    }
    this.isolation = o.isolationLevel ?? 'read_committed';
    this.kafkaOptions = validateKafkaOptions(where, o.kafkaOptions, MANAGED);
    const format = o.format ?? 'bytes';
    if (format === 'bytes') {
      this.decoder = bytesDecoder(includeHeaders);
      this.formatName = 'bytes';
    } else if (format === 'string') {
      this.decoder = stringDecoder(includeHeaders);
      this.formatName = 'string';
    } else if (format !== null && typeof format === 'object' && 'json' in format) {
      this.decoder = jsonDecoder(where, this.name, format as JsonFormat<unknown>, includeHeaders);
      this.formatName = `json/${this.decoder.mode}`;
    } else {
      throw optionError(
        where,
        `unknown "format" ${JSON.stringify(format)}; use 'bytes', 'string' or { json: schema({ ... }) }`,
      );
    }
    this.schema = this.decoder.schema;
    const chunked = optionalBoolean(where, 'chunked', o.chunked) ?? true;
    this.maxRecordsPerPoll = positiveInt(where, 'maxRecordsPerPoll', o.maxRecordsPerPoll) ?? 10_000;
    this.requestTimeoutMs = positiveInt(where, 'requestTimeoutMs', o.requestTimeoutMs, 100) ?? 30_000;
    this.discoveryMs =
      positiveInt(where, 'partitionDiscoveryIntervalMs', o.partitionDiscoveryIntervalMs, 0) ?? 1_000;
    if (chunked) {
      this.getBatchChunks = (start, end, info) =>
        this.batchChunks(start, end, info.batchId, this.maxRecordsPerPoll);
    }
  }

  describe(): string {
    const opts = describeOptions(this.kafkaOptions);
    return (
      `KafkaSource[${describeSubscription(this.subscription)}, bootstrap=${this.bootstrap}, format=${this.formatName}` +
      `${this.maxOffsets !== undefined ? `, maxOffsetsPerTrigger=${this.maxOffsets}` : ''}${opts ? `, ${opts}` : ''}]`
    );
  }

  async open(ctx: ConnectorContext): Promise<void> {
    const Kafka = await loadKafkaClient();
    this.ctx = ctx;
    this.env = {
      bootstrap: this.bootstrap,
      kafkaOptions: this.kafkaOptions,
      log: ctx.log,
      owner: { source: this.name },
    };
    const config = (role: string) => ({
      'bootstrap.servers': this.bootstrap,
      // Never used for commits or a group join (partitions are assigned, not subscribed);
      // librdkafka wants one. Override with kafkaOptions['group.id'] if ACLs need it.
      'group.id': `millrace-${idSafe(ctx.queryId)}-${idSafe(this.name)}`,
      'client.id': `millrace-${idSafe(ctx.queryName)}-${idSafe(this.name)}-${role}`,
      'enable.auto.commit': false,
      'enable.auto.offset.store': false,
      'enable.partition.eof': false,
      'isolation.level': this.isolation,
      'auto.offset.reset': 'error',
      // A fetch waiting for data on the broker delays the next request on its connection
      // (a new assignment's first fetch): keep the wait short.
      'fetch.wait.max.ms': 100,
      ...this.kafkaOptions,
    });
    // Two clients: one reads batches; the other asks for metadata and watermarks, so those
    // answers never queue behind the reader's long-polling fetches on a broker connection.
    const where = `kafkaSource "${this.name}"`;
    const consumer = newClient(() => new Kafka.KafkaConsumer(config('reader'), {}), where, this.env);
    const meta = newClient(() => new Kafka.KafkaConsumer(config('offsets'), {}), where, this.env);
    routeClientEvents(consumer, this.env);
    routeClientEvents(meta, this.env);
    try {
      await connect(meta, this.requestTimeoutMs, this.env, `kafkaSource "${this.name}": connecting`);
      await connect(consumer, this.requestTimeoutMs, this.env, `kafkaSource "${this.name}": connecting`);
    } catch (e) {
      await disconnect(meta, 1_000);
      throw e;
    }
    configureConsume(consumer, 200);
    this.consumer = consumer;
    this.meta = meta;
    this.initial = undefined;
    this.latestAvailable = undefined;
    this.target = undefined;
    this.partitionCache = undefined;
    const saved = await readFileIfExists(this.initialFile());
    if (saved !== undefined) this.initial = this.parseInitialFile(saved);
  }

  private require(): { consumer: KafkaConsumer; meta: KafkaConsumer; env: ClientEnv; ctx: ConnectorContext } {
    if (!this.consumer || !this.meta || !this.env || !this.ctx) {
      throw internalError(`kafkaSource "${this.name}" used before open()`, { source: this.name });
    }
    return { consumer: this.consumer, meta: this.meta, env: this.env, ctx: this.ctx };
  }

  private initialFile(): string {
    return path.join(this.require().ctx.stateDir, INITIAL_FILE);
  }

  private parseInitialFile(text: string): OffsetMap {
    const lines = text.split('\n');
    if (lines[0] !== INITIAL_VERSION || lines[1] === undefined) {
      throw externalError(
        'CHECKPOINT_CORRUPT',
        `kafkaSource "${this.name}": ${this.initialFile()} is not a ${INITIAL_VERSION} initial-offsets file; restore the checkpoint or start with a new one`,
        { retryable: false, context: { source: this.name } },
      );
    }
    return offsetsFromJson(lines[1], `${this.initialFile()}`, false);
  }

  /** The partitions of the subscription now (cached for partitionDiscoveryIntervalMs unless `fresh`). */
  private async partitions(fresh: boolean): Promise<string[]> {
    const { meta, env } = this.require();
    const now = performance.now();
    if (!fresh && this.partitionCache && now - this.partitionCache.at < this.discoveryMs)
      return this.partitionCache.keys;
    const topics = await listTopics(meta, this.requestTimeoutMs, env);
    const keys: string[] = [];
    const s = this.subscription;
    if (s.kind === 'assign') {
      for (const k of s.partitions) {
        const { topic, partition } = parseTpKey(k);
        if (topics.get(topic)?.includes(partition)) keys.push(k);
      }
    } else {
      for (const [topic, parts] of topics) {
        const match =
          s.kind === 'subscribe'
            ? s.topics.includes(topic)
            : // Kafka's internal topics (__consumer_offsets, …) are never matched by a pattern.
              !topic.startsWith('__') && s.pattern.test(topic);
        if (match) for (const p of parts) keys.push(tpKey(topic, p));
      }
    }
    keys.sort();
    this.partitionCache = { at: now, keys };
    return keys;
  }

  private async watermarks(keys: readonly string[]): Promise<Map<string, Watermarks>> {
    const { meta, env } = this.require();
    const ws = await queryWatermarks(meta, keys.map(parseTpKey), this.requestTimeoutMs, env);
    return new Map(keys.map((k, i) => [k, ws[i]!]));
  }

  /** Fail (failOnDataLoss) or warn about lost data. */
  private dataLoss(problems: readonly string[], batch?: number): void {
    if (problems.length === 0) return;
    if (this.failOnDataLoss) {
      throw externalError(
        'KAFKA_DATA_LOSS',
        `kafkaSource "${this.name}": data may have been lost: ${problems.join('; ')}. ` +
          `The records are not available in Kafka any more (aged out by retention, or the topic was deleted) ` +
          `before the query read them. If you would rather skip past lost data with a warning than fail, ` +
          `set the source option failOnDataLoss: false`,
        { retryable: false, context: { source: this.name, ...(batch !== undefined ? { batch } : {}) } },
      );
    }
    this.require().ctx.log.warn('kafka source skipped lost data (failOnDataLoss: false)', {
      source: this.name,
      ...(batch !== undefined ? { batch } : {}),
      problems,
    });
  }

  /** The offsets a new query starts from: read from the checkpoint, or resolved now and saved there first. */
  private async initialOffsets(): Promise<OffsetMap> {
    if (this.initial) return this.initial;
    const where = `kafkaSource "${this.name}"`;
    const parts = await this.partitions(true);
    if (this.subscription.kind === 'assign' && parts.length < this.subscription.partitions.length) {
      const missing = this.subscription.partitions.filter((k) => !parts.includes(k));
      throw optionError(
        where,
        `"assign" names ${missing.map(tpName).join(', ')}, which do${missing.length === 1 ? 'es' : ''} not exist on Kafka at ${this.bootstrap}`,
      );
    }
    const wms = await this.watermarks(parts);
    const r = resolveStartingOffsets(this.starting, parts, wms, where);
    this.dataLoss(r.problems);
    await writeFileAtomic(
      this.initialFile(),
      `${INITIAL_VERSION}\n${JSON.stringify(offsetsToJson(r.offsets))}\n`,
    );
    this.initial = r.offsets;
    return r.offsets;
  }

  private parseOffset(o: Offset, what: string): OffsetMap {
    try {
      return offsetsFromJson(o, `the ${what} offset of kafkaSource "${this.name}"`, false);
    } catch (e) {
      throw externalError(
        'CHECKPOINT_MISMATCH',
        `${(e as Error).message}; the checkpoint does not hold Kafka offsets for this source — use a new checkpointLocation or the source's earlier name`,
        { retryable: false, context: { source: this.name } },
      );
    }
  }

  async latestOffset(start: Offset | null, limit: ReadLimit): Promise<Offset | null> {
    const from = start === null ? await this.initialOffsets() : this.parseOffset(start, 'start');
    const parts = await this.partitions(false);
    const wms = await this.watermarks(parts);
    const latest: OffsetMap = new Map(parts.map((k) => [k, wms.get(k)!.high]));
    this.latestAvailable = latest;
    const gone = [...from.keys()].filter((k) => !latest.has(k));
    this.dataLoss(
      gone.map((k) => `${tpName(k)} is gone (its topic was deleted or has fewer partitions now)`),
    );

    let until: OffsetMap = latest;
    if (this.target) {
      // availableNow: stop at the target; partitions that appeared since are left for later runs.
      until = new Map();
      for (const [k, t] of this.target) if (latest.has(k)) until.set(k, Math.min(t, latest.get(k)!));
      for (const k of from.keys()) if (latest.has(k) && !until.has(k)) until.set(k, from.get(k)!);
    }
    if (limit.kind === 'default' && this.maxOffsets !== undefined) {
      // Limit from where reading can actually start: records below the low watermark are
      // gone (getBatch reports them), and must not eat the budget batch after batch.
      const begin: OffsetMap = new Map();
      for (const k of until.keys()) {
        const low = wms.get(k)!.low;
        begin.set(k, Math.max(from.get(k) ?? low, low));
      }
      until = rateLimit(this.maxOffsets, begin, until, new Map());
    }
    if (start === null && sameOffsets(until, from)) return null;
    return asJsonValue(until);
  }

  async prepareForAvailableNow(): Promise<void> {
    const parts = await this.partitions(true);
    const wms = await this.watermarks(parts);
    this.target = new Map(parts.map((k) => [k, wms.get(k)!.high]));
  }

  reportLatestOffset(): Offset | null {
    return this.latestAvailable ? asJsonValue(this.latestAvailable) : null;
  }

  async getBatch(
    start: Offset | null,
    end: Offset,
    info: { readonly batchId: number },
  ): Promise<SourceBatch<R>> {
    const batch = this.batchChunks(start, end, info.batchId, Infinity);
    const rows: R[] = [];
    for await (const chunk of batch) for (let i = 0; i < chunk.length; i++) rows.push(chunk[i]!);
    return { rows, ...batch.summary() };
  }

  /**
   * The rows of [start, end) in chunks of at most `chunkRows`, in the order batchOrder.ts
   * fixes (the same for getBatch, getBatchChunks and a replay); `summary()` gives the
   * malformed count and metrics once the chunks are consumed.
   */
  private batchChunks(
    start: Offset | null,
    end: Offset,
    batchId: number,
    chunkRows: number,
  ): ChunkedBatch<R> & { summary(): Omit<SourceBatch<R>, 'rows'> } {
    const stats = newStats();
    return {
      [Symbol.asyncIterator]: () => this.readBatch(start, end, batchId, stats, chunkRows),
      summary: () => {
        const metrics: Record<string, number> = {
          recordsRead: stats.records,
          partitionsRead: stats.partitions,
        };
        if (stats.lag) Object.assign(metrics, stats.lag);
        if (this.decoder.mode !== null) metrics.malformedRecords = stats.malformed;
        return { malformedRows: this.decoder.mode === 'dropMalformed' ? stats.malformed : 0, metrics };
      },
    };
  }

  /** The rows of [start, end), decoded, chunk by chunk in batch order; fills `stats` on the way. */
  private async *readBatch(
    start: Offset | null,
    end: Offset,
    batchId: number,
    stats: BatchStats,
    chunkRows: number,
  ): AsyncGenerator<R[]> {
    const { consumer } = this.require();
    const from = start === null ? await this.initialOffsets() : this.parseOffset(start, 'start');
    const until = this.parseOffset(end, 'end');
    const present = new Set(await this.partitions(true));
    const wms = await this.watermarks([...until.keys()].filter((k) => present.has(k)));
    const plan = planReads(from, until, wms);
    this.dataLoss(plan.problems, batchId);
    stats.partitions = plan.ranges.length;
    const latest = this.latestAvailable ?? new Map([...wms].map(([k, w]) => [k, w.high]));
    stats.lag = lag(latest, until);
    const decoder = this.decoder;
    const order = new BatchOrder<R>(plan.ranges, this.maxRecordsPerPoll);
    let ready: R[] = [];
    for await (const messages of readRanges(consumer, plan.ranges, {
      maxMessages: this.maxRecordsPerPoll,
      pollTimeoutMs: 200,
      stallTimeoutMs: this.requestTimeoutMs,
      onStall: (pending) => this.stalled(pending, batchId),
      onError: (e) => this.readError(e, batchId),
      onReached: (topic, partition, offset) => order.reachedAt(topic, partition, offset),
    })) {
      let malformed = 0;
      // Records come in runs of one partition: look its lane up once per run.
      let lane: Lane<R> | undefined;
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i]!;
        if (lane === undefined || m.partition !== lane.partition || m.topic !== lane.topic) {
          lane = order.lane(m.topic, m.partition)!;
        }
        const rows = lane.rows;
        const before = rows.length;
        if (decoder.decode(m, rows)) malformed++;
        for (let j = before; j < rows.length; j++) lane.offsets.push(m.offset);
        if (m.offset >= lane.reached) lane.reached = m.offset + 1;
      }
      stats.records += messages.length;
      stats.malformed += malformed;
      order.release(ready);
      if (ready.length > 0) {
        yield* slices(ready, chunkRows);
        ready = [];
      }
    }
    // Every partition is read to its end now: what is left is released.
    order.release(ready);
    if (!order.done) {
      throw internalError(
        `kafkaSource "${this.name}": batch ${batchId} was read to its end offsets, but ${order.waiting} row(s) were not released`,
        { source: this.name, batch: batchId },
      );
    }
    if (ready.length > 0) yield* slices(ready, chunkRows);
  }

  /** A read made no progress: lost data (the log moved past us) or an unreachable cluster. */
  private async stalled(
    pending: readonly (PartitionRange & { position: number | null })[],
    batchId: number,
  ): Promise<MillraceError> {
    const where = pending
      .slice(0, 5)
      .map((p) => `${p.topic}-${p.partition} at offset ${p.position ?? p.start} (reading up to ${p.end - 1})`)
      .join(', ');
    let wms: Map<string, Watermarks> | undefined;
    try {
      wms = await this.watermarks(pending.map((p) => tpKey(p.topic, p.partition)));
    } catch (e) {
      return kafkaError(
        e,
        `kafkaSource "${this.name}": reading batch ${batchId} stalled (${where}); then`,
        this.bootstrap,
        {
          source: this.name,
          batch: batchId,
        },
      );
    }
    const lost = pending.filter((p) => {
      const w = wms.get(tpKey(p.topic, p.partition))!;
      return (p.position ?? p.start) < w.low || w.high < p.end;
    });
    if (lost.length > 0) {
      try {
        this.dataLoss(
          lost.map((p) => {
            const w = wms.get(tpKey(p.topic, p.partition))!;
            return `${p.topic}-${p.partition} now holds offsets ${w.low}..${w.high - 1}, but the batch reads ${p.start}..${p.end - 1}`;
          }),
          batchId,
        );
      } catch (e) {
        return e as MillraceError;
      }
    }
    return externalError(
      'KAFKA_READ_STALLED',
      `kafkaSource "${this.name}": reading batch ${batchId} made no progress for ${this.requestTimeoutMs} ms: ${where}. ` +
        `Kafka at ${this.bootstrap} may be unavailable or overloaded; restart the query when it is back (the batch is replayed exactly)`,
      { retryable: true, context: { source: this.name, batch: batchId } },
    );
  }

  private readError(e: unknown, batchId: number): MillraceError {
    if (isRdKafkaError(e) && (e.code === RD.AUTO_OFFSET_RESET || e.code === RD.OFFSET_OUT_OF_RANGE)) {
      try {
        this.dataLoss([`an offset to read is out of range (${e.message})`], batchId);
      } catch (err) {
        return err as MillraceError;
      }
    }
    return kafkaError(e, `kafkaSource "${this.name}": reading batch ${batchId}`, this.bootstrap, {
      source: this.name,
      batch: batchId,
    });
  }

  async commit(_end: Offset): Promise<void> {
    // Offsets live in the checkpoint; Kafka keeps its data by retention, not by our progress.
  }

  async close(): Promise<void> {
    const clients = [this.consumer, this.meta];
    this.consumer = undefined;
    this.meta = undefined;
    await Promise.all(clients.map((c) => (c ? disconnect(c, 5_000) : undefined)));
  }
}

interface BatchStats {
  records: number;
  malformed: number;
  partitions: number;
  lag: ReturnType<typeof lag>;
}

function newStats(): BatchStats {
  return { records: 0, malformed: 0, partitions: 0, lag: null };
}

/** `rows` as chunks of at most `size` rows. */
function* slices<R>(rows: R[], size: number): Generator<R[]> {
  if (rows.length <= size) {
    yield rows;
    return;
  }
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}
