/**
 * The embedded log: durable, append-only, partitioned topics on local disk —
 * a small local Kafka built on LMDB. Millrace's default place to send events
 * when there is no Kafka, and the write-ahead log of sources that cannot replay.
 *
 * Layout: one LMDB environment per log directory (`<dir>/data.mdb`, `lock.mdb`):
 *
 *   db "topics"   name → { id, partitions, retentionBytes, retentionMs, createdAt }
 *   db "parts"    [topic id u32][partition u32] → { next, low, bytes }
 *   db "records"  [topic id u32][partition u32][offset u64]  → record bytes
 *                 (big-endian keys: LMDB's key order is offset order; layout of
 *                 the record bytes in recordFormat.ts)
 *   db "markers"  "<topic>\0<owner>" → { batchId, at }   sink batch markers
 *   db "idem"     idempotency keys of appends (by key, and by time for expiry)
 *   db "meta"     'format' → 1, 'nextTopicId' → n
 *
 * Offsets. Dense per partition, from 0:
 *
 *      low (first still stored)                  high = next offset to assign
 *       │                                          │
 *   ····[ 7 ][ 8 ][ 9 ][ 10 ][ 11 ][ 12 ][ 13 ]····
 *   deleted by retention         ↑ append(…) assigns 14, 15, … inside the write
 *                                  transaction, from the partition's `next`
 *
 * LMDB runs one write transaction at a time across all processes that open
 * the directory, so two processes never assign the same offset; readers see a
 * consistent snapshot and never block writers (the ingest server and a query
 * may be different processes on one directory). `high` is stored, not derived
 * from the last key, so offsets stay dense even after retention emptied a
 * partition.
 *
 * Appends. Each append is one LMDB child transaction (all its records, or none
 * — a failing append rolls back alone); lmdb-js runs all appends issued while
 * the previous commit was in flight in ONE write transaction, so concurrent
 * appends share one fsync (group commit). Records are encoded before the
 * transaction, so the write lock is held only to assign offsets and insert.
 *
 * fsync policy (`fsync` option):
 *   'always'    synchronous LMDB commits: an append resolves after its
 *               transaction is on disk (data pages fsynced, then the meta page).
 *   'interval'  LMDB NOSYNC: an append resolves when committed — visible to
 *               every process and safe from a crash of this process (the data
 *               is in the OS page cache) — but it is fsynced only by a timer
 *               every `fsyncIntervalMs`. An OS crash or power loss can lose
 *               the last interval and, as LMDB documents for NOSYNC, can
 *               damage the file. Use 'always' when that matters.
 *   'never'     NOSYNC without the timer (tests, benchmarks).
 *
 * Retention (per topic, per partition): records are deleted from the front —
 * by size (`retentionBytes`: the partition's stored bytes, key + record, kept
 * at or under the limit) and by time (`retentionMs`: records whose timestamp
 * is older than now − retentionMs) — and `low` advances. Deletion stops at the
 * first record to keep, so with producer-given timestamps out of order a newer
 * record shields older ones behind it (Kafka's segments behave alike). It runs
 * on a timer (`retentionCheckIntervalMs`), right after an append that pushed
 * a partition over its byte limit, or on `enforceRetention()`; in chunks of
 * RETENTION_CHUNK records, one transaction each. Readers that still needed
 * deleted offsets see a gap (the source's failOnDataLoss decides what then).
 * `overRetentionLimit()` reports partitions above retentionBytes ×
 * `retentionHardLimitRatio`, which HTTP ingest answers with 429.
 */
import { mkdirSync, realpathSync } from 'node:fs';
import * as path from 'node:path';
import { open, type Database, type DatabaseOptions, type RootDatabase } from 'lmdb';
import { MillraceError, silentLogger, systemClock, type Clock, type Logger } from 'millrace';
import { check, externalError, optionError, quote, userError } from '../errors.ts';
import { partitionForKey } from './murmur2.ts';
import {
  RECORD_KEY_BYTES,
  RecordFormatError,
  RecordView,
  decodeRecord,
  encodeRecord,
  offsetOfKey,
  partitionKey,
  recordKey,
  recordTimestamp,
  writeRecordKey,
  type LogRecord,
} from './recordFormat.ts';

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface TopicConfig {
  /** Number of partitions (default 1, or the log's `topicDefaults`). Fixed once the topic exists. */
  readonly partitions?: number;
  /** Keep at most this many bytes per partition (key + record bytes); null = no size limit. */
  readonly retentionBytes?: number | null;
  /** Delete records older than this (by record timestamp); null = keep forever. */
  readonly retentionMs?: number | null;
}

export interface TopicInfo {
  readonly name: string;
  readonly id: number;
  readonly partitions: number;
  readonly retentionBytes: number | null;
  readonly retentionMs: number | null;
  readonly createdAt: number;
}

export interface PartitionInfo {
  readonly partition: number;
  /** First offset still stored (the low watermark). */
  readonly low: number;
  /** Next offset to be assigned (the high watermark); `high - low` records are stored. */
  readonly high: number;
  /** Stored bytes (record keys + record values), what retentionBytes limits. */
  readonly bytes: number;
}

export interface AppendRecord {
  /** The payload: text (stored as UTF-8, read back as a string), bytes, or null. */
  readonly value: string | Uint8Array | null;
  /** Partitioning key; also stored. Same key → same partition (Kafka's murmur2 hash). */
  readonly key?: string | Uint8Array | null;
  /** Epoch ms; default: the log clock's now (append time). */
  readonly timestamp?: number;
  readonly headers?: Readonly<Record<string, string>> | null;
  /** Explicit partition; overrides the key hash. */
  readonly partition?: number;
}

export interface AppendOptions {
  /**
   * Deduplicate retries: an append with a key seen on this topic within
   * `idempotencyWindowMs` writes nothing and returns the first append's
   * result with `duplicate: true`.
   */
  readonly idempotencyKey?: string;
  /** A digest of the request (e.g. a body hash): the same key with a different fingerprint is refused. */
  readonly idempotencyFingerprint?: string;
  /**
   * Exactly-once writers (the log sink): the records are written together with
   * the marker `owner → batchId` in one transaction, and nothing is written when
   * the stored marker is already ≥ batchId (the batch was written before).
   */
  readonly marker?: { readonly owner: string; readonly batchId: number };
}

export interface AppendResult {
  readonly topic: string;
  readonly count: number;
  /** Partition of each record, in input order. */
  readonly partitions: readonly number[];
  /** Offset of each record, in input order. */
  readonly offsets: readonly number[];
  /** Per partition, the first and last offset written (an append's records in one partition are consecutive). */
  readonly ranges: Readonly<Record<string, readonly [number, number]>>;
  /** True when nothing was written: an idempotency key or a sink marker matched an earlier append. */
  readonly duplicate: boolean;
}

export interface LogOptions {
  /** Directory of the log (created if missing). */
  readonly dir: string;
  /** Default 'always'. See the header of Log.ts. */
  readonly fsync?: FsyncPolicy;
  /** With fsync 'interval': how often to flush, ms (default 1000). */
  readonly fsyncIntervalMs?: number;
  /** Create a topic on its first append (default true); otherwise appending to an unknown topic fails. */
  readonly autoCreateTopics?: boolean;
  /** Configuration of auto-created topics and the defaults of createTopic (default: 1 partition, no retention). */
  readonly topicDefaults?: TopicConfig;
  /** How often retention runs, ms (default 1000); 0 = only through enforceRetention(). */
  readonly retentionCheckIntervalMs?: number;
  /** overRetentionLimit() reports partitions above retentionBytes × this (default 1.5, ≥ 1). */
  readonly retentionHardLimitRatio?: number;
  /** How long idempotency keys are remembered, ms (default 1 hour). */
  readonly idempotencyWindowMs?: number;
  /** Time source for append timestamps and retention (default: the system clock). */
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Address space reserved for the LMDB map, bytes (default 4 GiB; grows when full). */
  readonly mapSize?: number;
}

export interface RetentionReport {
  /** Records deleted, per "topic/partition". */
  readonly deleted: Readonly<Record<string, number>>;
  readonly idempotencyKeysExpired: number;
}

const FORMAT = 1;
const DEFAULT_MAP_SIZE = 4 * 1024 ** 3;
const MAX_PARTITIONS = 10_000;
const RETENTION_CHUNK = 5_000;
const EARLY_RETENTION_RATIO = 1.1;
/** Kafka's topic-name rules (Topic.validate): 1–249 of [A-Za-z0-9._-], and not "." or "..". */
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
function isLegalTopicName(name: unknown): name is string {
  return typeof name === 'string' && TOPIC_NAME.test(name) && name !== '.' && name !== '..';
}
const MAX_IDEMPOTENCY_KEY = 255;
const OPTIONS = [
  'dir',
  'fsync',
  'fsyncIntervalMs',
  'autoCreateTopics',
  'topicDefaults',
  'retentionCheckIntervalMs',
  'retentionHardLimitRatio',
  'idempotencyWindowMs',
  'clock',
  'logger',
  'mapSize',
];

interface PartState {
  next: number;
  low: number;
  bytes: number;
}

interface StoredTopic {
  readonly id: number;
  readonly partitions: number;
  readonly retentionBytes: number | null;
  readonly retentionMs: number | null;
  readonly createdAt: number;
}

interface StoredIdempotency {
  readonly at: number;
  readonly fingerprint: string | null;
  readonly partitions: number[];
  readonly ranges: Record<string, [number, number]>;
}

/**
 * LMDB shares one environment per directory within a process, with the flags
 * of whoever opened it first. Two Log instances on one directory in one
 * process are fine — unless their fsync policies differ, which would silently
 * give one of them the other's durability.
 */
const openDirs = new Map<string, { fsync: FsyncPolicy; count: number }>();

export function validateTopicName(name: unknown, where: string): string {
  if (!isLegalTopicName(name)) {
    throw userError(
      'INVALID_TOPIC_NAME',
      `${where}: topic name ${quote(name)} is not valid; use 1–249 characters from A–Z a–z 0–9 . _ - other than "." and ".." (Kafka's rules)`,
      { topic: typeof name === 'string' ? name : undefined },
    );
  }
  return name;
}

function validateTopicConfig(where: string, c: unknown, base: Required<TopicConfig>): Required<TopicConfig> {
  if (c === undefined) return base;
  const o = check.object(where, c, '{ partitions?, retentionBytes?, retentionMs? }');
  check.known(where, o, ['partitions', 'retentionBytes', 'retentionMs']);
  const partitions =
    o.partitions === undefined
      ? base.partitions
      : check.integer(where, 'partitions', o.partitions, 1, MAX_PARTITIONS);
  const nullable = (name: 'retentionBytes' | 'retentionMs'): number | null => {
    const v = o[name];
    if (v === undefined) return base[name];
    if (v === null) return null;
    return check.integer(where, name, v, 1);
  };
  return { partitions, retentionBytes: nullable('retentionBytes'), retentionMs: nullable('retentionMs') };
}

export async function openLog(options: LogOptions): Promise<Log> {
  return Log.open(options);
}

export class Log {
  readonly dir: string;
  readonly fsync: FsyncPolicy;
  readonly autoCreateTopics: boolean;
  readonly clock: Clock;
  private readonly logger: Logger;
  private readonly topicDefaults: Required<TopicConfig>;
  private readonly hardLimitRatio: number;
  /** Retention runs by itself (timer, early runs); false when retentionCheckIntervalMs is 0. */
  private readonly autoRetention: boolean;
  private readonly idempotencyWindowMs: number;
  private readonly root: RootDatabase;
  private readonly topicsDb: Database<StoredTopic, string>;
  private readonly partsDb: Database<PartState, Buffer>;
  private readonly recordsDb: Database<Buffer, Buffer>;
  /**
   * The same database for scans: its "decoder" hands over LMDB's reusable
   * read buffer instead of a copy per record (2–3× faster reads), valid until
   * the next read — scan() passes it to its visitor, which must use it at once.
   */
  private readonly recordsScan: Database<Buffer, Buffer>;
  private lastValueSize = 0;
  private readonly markersDb: Database<{ batchId: number; at: number }, string>;
  private readonly idemDb: Database<StoredIdempotency | null, Buffer>;
  private readonly metaDb: Database<unknown, string>;

  private readonly byName = new Map<string, TopicInfo>();
  private readonly roundRobin = new Map<number, number>();
  private readonly scratchKey = Buffer.allocUnsafe(RECORD_KEY_BYTES);
  private readonly timers: NodeJS.Timeout[] = [];
  private retentionRun: Promise<RetentionReport> | undefined;
  private retentionSoon: NodeJS.Immediate | undefined;
  private closed = false;
  /** The directory's real path, the key of `openDirs`. */
  private realDir: string | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private _pendingAppends = 0;
  private _pendingBytes = 0;

  private constructor(
    dir: string,
    o: LogOptions,
    root: RootDatabase,
    fsync: FsyncPolicy,
    topicDefaults: Required<TopicConfig>,
  ) {
    this.dir = dir;
    this.fsync = fsync;
    this.root = root;
    this.autoCreateTopics = o.autoCreateTopics ?? true;
    this.clock = o.clock ?? systemClock;
    this.logger = o.logger ?? silentLogger;
    this.topicDefaults = topicDefaults;
    this.hardLimitRatio = o.retentionHardLimitRatio ?? 1.5;
    this.autoRetention = o.retentionCheckIntervalMs !== 0;
    this.idempotencyWindowMs = o.idempotencyWindowMs ?? 3_600_000;
    this.topicsDb = root.openDB({ name: 'topics', encoding: 'msgpack' });
    this.partsDb = root.openDB({ name: 'parts', keyEncoding: 'binary', encoding: 'msgpack' });
    this.recordsDb = root.openDB({ name: 'records', keyEncoding: 'binary', encoding: 'binary' });
    this.recordsScan = root.openDB({
      name: 'records',
      keyEncoding: 'binary',
      encoder: {
        encode: (v: Buffer) => v,
        decode: (b: Buffer, size: number) => {
          this.lastValueSize = size;
          return b;
        },
      },
    } as unknown as DatabaseOptions & { name: string }) as unknown as Database<Buffer, Buffer>;
    this.markersDb = root.openDB({ name: 'markers', encoding: 'msgpack' });
    this.idemDb = root.openDB({ name: 'idem', keyEncoding: 'binary', encoding: 'msgpack' });
    this.metaDb = root.openDB({ name: 'meta', encoding: 'msgpack' });
  }

  /** Open (creating if needed) the log in `options.dir`. */
  static async open(options: LogOptions): Promise<Log> {
    const where = 'openLog';
    const o = check.object(where, options, '{ dir, fsync?, … }') as unknown as LogOptions;
    check.known(where, o as unknown as Record<string, unknown>, OPTIONS);
    check.string(where, 'dir', o.dir);
    const fsync = o.fsync ?? 'always';
    if (!['always', 'interval', 'never'].includes(fsync)) {
      throw optionError(where, `"fsync" must be 'always', 'interval' or 'never', got ${quote(fsync)}`);
    }
    const intervalMs =
      o.fsyncIntervalMs === undefined ? 1000 : check.integer(where, 'fsyncIntervalMs', o.fsyncIntervalMs, 1);
    if (o.fsyncIntervalMs !== undefined && fsync !== 'interval') {
      throw optionError(
        where,
        `"fsyncIntervalMs" applies only to fsync 'interval', but fsync is '${fsync}'; remove it`,
      );
    }
    if (o.autoCreateTopics !== undefined) check.boolean(where, 'autoCreateTopics', o.autoCreateTopics);
    const defaults = validateTopicConfig(`${where} topicDefaults`, o.topicDefaults, {
      partitions: 1,
      retentionBytes: null,
      retentionMs: null,
    });
    const retentionEvery =
      o.retentionCheckIntervalMs === undefined
        ? 1000
        : check.integer(where, 'retentionCheckIntervalMs', o.retentionCheckIntervalMs, 0);
    if (
      o.retentionHardLimitRatio !== undefined &&
      (typeof o.retentionHardLimitRatio !== 'number' ||
        !(o.retentionHardLimitRatio >= 1) ||
        !Number.isFinite(o.retentionHardLimitRatio))
    ) {
      throw optionError(
        where,
        `"retentionHardLimitRatio" must be a number ≥ 1, got ${quote(o.retentionHardLimitRatio)}`,
      );
    }
    if (o.idempotencyWindowMs !== undefined)
      check.integer(where, 'idempotencyWindowMs', o.idempotencyWindowMs, 1);
    if (o.mapSize !== undefined) check.integer(where, 'mapSize', o.mapSize, 1 << 20);
    if (o.clock !== undefined && (typeof o.clock !== 'object' || typeof o.clock?.now !== 'function')) {
      throw optionError(where, `"clock" must be a Clock ({ now(), sleepUntil() }), got ${quote(o.clock)}`);
    }

    const dir = path.resolve(o.dir);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw externalError(
        'LOG_OPEN_FAILED',
        `cannot create the log directory ${dir}: ${(e as Error).message}`,
        {
          cause: e,
          context: { file: dir },
          retryable: false,
        },
      );
    }
    const real = realpathSync(dir);
    const shared = openDirs.get(real);
    if (shared && shared.fsync !== fsync) {
      throw userError(
        'LOG_ALREADY_OPEN',
        `the log in ${dir} is already open in this process with fsync '${shared.fsync}', and cannot be opened again with fsync '${fsync}' ` +
          `(one process shares one LMDB environment per directory); pass the open Log instance (the "log" option) or use the same fsync policy`,
        { file: dir },
      );
    }
    let root: RootDatabase;
    try {
      root = open({
        path: dir,
        maxDbs: 8,
        compression: false,
        overlappingSync: false,
        noSync: fsync !== 'always',
        mapSize: o.mapSize ?? DEFAULT_MAP_SIZE,
      } as Parameters<typeof open>[0]);
    } catch (e) {
      throw externalError(
        'LOG_OPEN_FAILED',
        `cannot open the log in ${dir}: ${(e as Error).message}; check that the directory is writable and holds a Millrace log`,
        { cause: e, context: { file: dir }, retryable: false },
      );
    }
    let log: Log;
    try {
      log = new Log(dir, o, root, fsync, defaults);
      const format = log.metaDb.get('format');
      if (format === undefined) {
        await root.childTransaction(() => {
          if (log.metaDb.get('format') === undefined) log.metaDb.putSync('format', FORMAT);
        });
      } else if (format !== FORMAT) {
        throw userError(
          'LOG_UNSUPPORTED_VERSION',
          `the log in ${dir} has format ${quote(format)}, this version reads format ${FORMAT}; open it with the Millrace version that wrote it`,
          { file: dir },
        );
      }
      log.loadTopics();
    } catch (e) {
      await root.close();
      if (e instanceof MillraceError) throw e;
      throw externalError('LOG_OPEN_FAILED', `cannot open the log in ${dir}: ${(e as Error).message}`, {
        cause: e,
        context: { file: dir },
        retryable: false,
      });
    }
    openDirs.set(real, { fsync, count: (shared?.count ?? 0) + 1 });
    log.realDir = real;
    if (fsync === 'interval') {
      const t = setInterval(() => void log.sync().catch(() => undefined), intervalMs);
      t.unref();
      log.timers.push(t);
    }
    if (retentionEvery > 0) {
      const t = setInterval(() => {
        if (!log.retentionRun) void log.enforceRetention().catch((e: unknown) => log.retentionFailed(e));
      }, retentionEvery);
      t.unref();
      log.timers.push(t);
    }
    return log;
  }

  // -------------------------------------------------------------------------
  // Topics

  /** Create a topic. Fails with TOPIC_EXISTS if it exists, unless `ifNotExists` (then returns it unchanged). */
  async createTopic(
    name: string,
    config?: TopicConfig,
    options: { ifNotExists?: boolean } = {},
  ): Promise<TopicInfo> {
    this.checkOpen();
    validateTopicName(name, 'createTopic');
    const c = validateTopicConfig(`createTopic "${name}"`, config, this.topicDefaults);
    const created = await this.write(
      () => {
        const existing = this.topicsDb.get(name);
        if (existing !== undefined) return { existing };
        const id = ((this.metaDb.get('nextTopicId') as number | undefined) ?? 1) | 0;
        this.metaDb.putSync('nextTopicId', id + 1);
        const stored: StoredTopic = { id, ...c, createdAt: this.clock.now() };
        this.topicsDb.putSync(name, stored);
        for (let p = 0; p < c.partitions; p++)
          this.partsDb.putSync(partitionKey(id, p), { next: 0, low: 0, bytes: 0 });
        return { created: stored };
      },
      `create topic "${name}"`,
      { topic: name },
    );
    if ('existing' in created) {
      const info = this.remember(name, created.existing!);
      if (options.ifNotExists) return info;
      throw userError(
        'TOPIC_EXISTS',
        `topic "${name}" already exists (${info.partitions} partitions); use it, or pass { ifNotExists: true }`,
        { topic: name },
      );
    }
    this.logger.info('log topic created', { topic: name, partitions: c.partitions });
    return this.remember(name, created.created!);
  }

  /** Change a topic's retention (partitions cannot change). Takes effect at the next retention run. */
  async setTopicConfig(name: string, config: Omit<TopicConfig, 'partitions'>): Promise<TopicInfo> {
    this.checkOpen();
    const t = this.requireTopic(name, 'setTopicConfig');
    const c = validateTopicConfig(`setTopicConfig "${name}"`, config, {
      partitions: t.partitions,
      retentionBytes: t.retentionBytes,
      retentionMs: t.retentionMs,
    });
    if (c.partitions !== t.partitions) {
      throw userError(
        'INVALID_OPTION',
        `setTopicConfig "${name}": the number of partitions cannot change (it is ${t.partitions})`,
        { topic: name },
      );
    }
    const stored = await this.write(
      () => {
        const cur = this.topicsDb.get(name);
        if (!cur) throw this.unknownTopic(name, 'setTopicConfig');
        const next: StoredTopic = { ...cur, retentionBytes: c.retentionBytes, retentionMs: c.retentionMs };
        this.topicsDb.putSync(name, next);
        return next;
      },
      `configure topic "${name}"`,
      { topic: name },
    );
    return this.remember(name, stored);
  }

  /** All topics, by name. */
  topics(): TopicInfo[] {
    this.checkOpen();
    this.loadTopics();
    return [...this.byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** A topic, or undefined if it does not exist (also looks for topics other processes created). */
  topic(name: string): TopicInfo | undefined {
    this.checkOpen();
    const cached = this.byName.get(name);
    if (cached) return cached;
    if (!isLegalTopicName(name)) return undefined;
    const stored = this.topicsDb.get(name);
    return stored ? this.remember(name, stored) : undefined;
  }

  /** Low/high watermarks and bytes of every partition of a topic. */
  partitions(topic: string): PartitionInfo[] {
    const t = this.requireTopic(topic, 'partitions');
    const out: PartitionInfo[] = [];
    for (let p = 0; p < t.partitions; p++) out.push(this.partState(t, p));
    return out;
  }

  /** The low (first stored) and high (next to assign) offsets of one partition. */
  watermarks(topic: string, partition: number): { low: number; high: number } {
    const t = this.requireTopic(topic, 'watermarks');
    this.checkPartition(t, partition, 'watermarks');
    const s = this.partState(t, partition);
    return { low: s.low, high: s.high };
  }

  // -------------------------------------------------------------------------
  // Append

  /** Appends now waiting for their transaction (HTTP ingest's backpressure bound). */
  get pendingAppends(): number {
    return this._pendingAppends;
  }

  /** Encoded bytes of the appends now waiting for their transaction. */
  get pendingBytes(): number {
    return this._pendingBytes;
  }

  /**
   * Append records to a topic. Resolves with each record's partition and
   * offset once the append is committed (and, with fsync 'always', on disk).
   * All records of one call are written in one transaction: all or none.
   */
  async append(
    topic: string,
    records: readonly AppendRecord[],
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    this.checkOpen();
    validateTopicName(topic, 'append');
    if (!Array.isArray(records)) {
      throw userError(
        'INVALID_RECORD',
        `append to "${topic}": records must be an array of { value, key?, … }, got ${quote(records)}`,
        { topic },
      );
    }
    const idemKey = options.idempotencyKey;
    if (
      idemKey !== undefined &&
      (typeof idemKey !== 'string' || idemKey.length === 0 || idemKey.length > MAX_IDEMPOTENCY_KEY)
    ) {
      throw userError(
        'INVALID_IDEMPOTENCY_KEY',
        `append to "${topic}": the idempotency key must be 1–${MAX_IDEMPOTENCY_KEY} characters, got ${quote(idemKey)}`,
        { topic },
      );
    }
    const marker = options.marker;
    const t = this.topic(topic) ?? (await this.autoCreate(topic));
    const n = records.length;
    const parts: number[] = new Array<number>(n);
    const encoded: Buffer[] = new Array<Buffer>(n);
    let bytes = 0;
    const now = this.clock.now();
    for (let i = 0; i < n; i++) {
      const r = records[i]!;
      const { key, value, headers, timestamp } = this.checkRecord(r, i, topic);
      let p: number;
      if (r.partition !== undefined && r.partition !== null) {
        p = r.partition;
        if (!Number.isInteger(p) || p < 0 || p >= t.partitions) {
          throw userError(
            'INVALID_PARTITION',
            `append to "${topic}": record ${i} asks for partition ${quote(p)}, but the topic has partitions 0–${t.partitions - 1}`,
            { topic },
          );
        }
      } else if (key !== null) p = t.partitions === 1 ? 0 : partitionForKey(key, t.partitions);
      else p = this.nextRoundRobin(t);
      parts[i] = p;
      const e = encodeRecord(key, value, timestamp ?? now, headers);
      encoded[i] = e;
      bytes += e.length + RECORD_KEY_BYTES;
    }
    if (n === 0 && idemKey === undefined && marker === undefined) {
      return { topic, count: 0, partitions: [], offsets: [], ranges: {}, duplicate: false };
    }
    this._pendingAppends++;
    this._pendingBytes += bytes;
    let result: { out: AppendResult; overLimit: boolean };
    try {
      result = await this.write(
        () => this.appendInTxn(t, parts, encoded, options, now),
        `append ${n} records to "${topic}"`,
        { topic },
      );
    } finally {
      this._pendingAppends--;
      this._pendingBytes -= bytes;
    }
    if (result.overLimit) this.scheduleRetention();
    return result.out;
  }

  /** Inside the write transaction: dedupe, assign offsets, insert, update partition states. */
  private appendInTxn(
    t: TopicInfo,
    parts: readonly number[],
    encoded: readonly Buffer[],
    options: AppendOptions,
    now: number,
  ): { out: AppendResult; overLimit: boolean } {
    const topic = t.name;
    let idemKey: Buffer | undefined;
    if (options.idempotencyKey !== undefined) {
      idemKey = this.idemByKey(t.id, options.idempotencyKey);
      const prior = this.idemDb.get(idemKey);
      if (prior) {
        if (prior.fingerprint !== (options.idempotencyFingerprint ?? null)) {
          throw userError(
            'IDEMPOTENCY_KEY_REUSED',
            `append to "${topic}": the idempotency key ${quote(options.idempotencyKey)} was used for a different request ${Math.round((now - prior.at) / 1000)} s ago; use a new key for a new request`,
            { topic },
          );
        }
        return { out: replayedResult(topic, prior), overLimit: false };
      }
    }
    let markerKey: string | undefined;
    if (options.marker) {
      markerKey = `${topic}\u0000${options.marker.owner}`;
      const prior = this.markersDb.get(markerKey);
      if (prior && prior.batchId >= options.marker.batchId) {
        return {
          out: { topic, count: 0, partitions: [], offsets: [], ranges: {}, duplicate: true },
          overLimit: false,
        };
      }
    }
    const n = parts.length;
    const states = new Map<number, PartState>();
    const offsets: number[] = new Array<number>(n);
    const ranges: Record<string, [number, number]> = {};
    const key = this.scratchKey;
    for (let i = 0; i < n; i++) {
      const p = parts[i]!;
      let s = states.get(p);
      if (!s) {
        s = { ...this.readPartState(t.id, p, topic) };
        states.set(p, s);
        ranges[p] = [s.next, s.next];
      }
      const off = s.next++;
      offsets[i] = off;
      ranges[p]![1] = off;
      const value = encoded[i]!;
      s.bytes += value.length + RECORD_KEY_BYTES;
      writeRecordKey(key, t.id, p, off);
      this.recordsDb.putSync(key, value);
    }
    let overLimit = false;
    for (const [p, s] of states) {
      this.partsDb.putSync(partitionKey(t.id, p), s);
      // An early retention run once a partition is 10% over its limit; the timer handles the rest.
      if (t.retentionBytes !== null && s.bytes > t.retentionBytes * EARLY_RETENTION_RATIO) overLimit = true;
    }
    if (idemKey) {
      const stored: StoredIdempotency = {
        at: now,
        fingerprint: options.idempotencyFingerprint ?? null,
        partitions: parts as number[],
        ranges,
      };
      this.idemDb.putSync(idemKey, stored);
      this.idemDb.putSync(this.idemByTime(now, idemKey), null);
    }
    if (markerKey) this.markersDb.putSync(markerKey, { batchId: options.marker!.batchId, at: now });
    return { out: { topic, count: n, partitions: parts, offsets, ranges, duplicate: false }, overLimit };
  }

  /** The batch id of the last append made with `marker.owner` on a topic (the log sink's commit record). */
  lastMarker(topic: string, owner: string): number | undefined {
    this.checkOpen();
    return this.markersDb.get(`${topic}\u0000${owner}`)?.batchId;
  }

  private checkRecord(
    r: AppendRecord,
    i: number,
    topic: string,
  ): {
    key: string | Uint8Array | null;
    value: string | Uint8Array | null;
    headers: Record<string, string> | null;
    timestamp: number | undefined;
  } {
    const bad = (msg: string) =>
      userError('INVALID_RECORD', `append to "${topic}": record ${i}: ${msg}`, { topic });
    if (r === null || typeof r !== 'object')
      throw bad(`expected an object { value, key?, timestamp?, headers?, partition? }, got ${quote(r)}`);
    const value = r.value;
    if (!(value === null || typeof value === 'string' || value instanceof Uint8Array)) {
      throw bad(
        `"value" must be a string, a Uint8Array or null, got ${quote(value)}${value === undefined ? ' (missing)' : ''}`,
      );
    }
    const key = r.key ?? null;
    if (!(key === null || typeof key === 'string' || key instanceof Uint8Array)) {
      throw bad(`"key" must be a string, a Uint8Array or null, got ${quote(key)}`);
    }
    const timestamp = r.timestamp;
    if (timestamp !== undefined && (typeof timestamp !== 'number' || !Number.isFinite(timestamp))) {
      throw bad(`"timestamp" must be epoch milliseconds, got ${quote(timestamp)}`);
    }
    const headers = r.headers ?? null;
    if (headers !== null) {
      if (
        typeof headers !== 'object' ||
        Array.isArray(headers) ||
        Object.values(headers).some((v) => typeof v !== 'string')
      ) {
        throw bad(`"headers" must be an object of string values, got ${quote(headers)}`);
      }
    }
    return { key, value, headers, timestamp };
  }

  private nextRoundRobin(t: TopicInfo): number {
    const n = this.roundRobin.get(t.id) ?? 0;
    this.roundRobin.set(t.id, n + 1 >= t.partitions ? 0 : n + 1);
    return n;
  }

  private async autoCreate(topic: string): Promise<TopicInfo> {
    if (!this.autoCreateTopics) throw this.unknownTopic(topic, 'append');
    return this.createTopic(topic, undefined, { ifNotExists: true });
  }

  // -------------------------------------------------------------------------
  // Read

  /**
   * Records of one partition with offsets in [fromOffset, toOffset) (toOffset
   * default: the high watermark when called), in chunks of at most
   * `chunkRecords`. Records deleted by retention are simply absent: compare
   * the first offset with `fromOffset` to notice.
   */
  async *read(
    topic: string,
    partition: number,
    fromOffset = 0,
    toOffset?: number,
    options: { chunkRecords?: number } = {},
  ): AsyncGenerator<LogRecord[]> {
    const t = this.requireTopic(topic, 'read');
    this.checkPartition(t, partition, 'read');
    check.integer('read', 'fromOffset', fromOffset, 0);
    const end = toOffset ?? this.partState(t, partition).high;
    check.integer('read', 'toOffset', end, 0);
    const chunk =
      options.chunkRecords === undefined
        ? 10_000
        : check.integer('read', 'chunkRecords', options.chunkRecords, 1);
    const view = new RecordView();
    let from = fromOffset;
    while (from < end) {
      const out: LogRecord[] = [];
      from = this.scan(t, partition, from, end, chunk, (offset, raw, size) => {
        out.push(decodeRecord(offset, raw, view, size, true));
      });
      if (out.length === 0) return;
      yield out;
    }
  }

  /**
   * Low-level read for the source: calls `visit(offset, raw, size)` for at
   * most `limit` stored records with offsets in [from, to), synchronously (one
   * read snapshot), and returns the offset to continue from (`to` when done).
   * The record is the first `size` bytes of `raw`, a buffer LMDB reuses: read
   * what you need during the call and do no other log reads meanwhile
   * (`RecordView.load(raw, size, true)` copies binary parts out).
   */
  scan(
    t: TopicInfo,
    partition: number,
    from: number,
    to: number,
    limit: number,
    visit: (offset: number, raw: Buffer, size: number) => void,
  ): number {
    this.checkOpen();
    if (from >= to) return to;
    let seen = 0;
    let last = from - 1;
    try {
      for (const { key, value } of this.recordsScan.getRange({
        start: recordKey(t.id, partition, from),
        end: recordKey(t.id, partition, to),
        limit,
      })) {
        last = offsetOfKey(key);
        visit(last, value, this.lastValueSize);
        seen++;
      }
    } catch (e) {
      if (e instanceof MillraceError) throw e;
      if (e instanceof RecordFormatError) {
        throw externalError(
          'LOG_CORRUPT',
          `the log in ${this.dir} has a damaged record in topic "${t.name}" partition ${partition}: ${e.message}`,
          {
            cause: e,
            retryable: false,
            context: { topic: t.name, partition },
          },
        );
      }
      throw this.ioError(e, `read topic "${t.name}" partition ${partition}`, { topic: t.name, partition });
    }
    return seen < limit ? to : last + 1;
  }

  /** The stored partition state (low, high, bytes), freshly read. */
  partState(t: TopicInfo, partition: number): PartitionInfo {
    this.checkOpen();
    const s = this.readPartState(t.id, partition, t.name);
    return { partition, low: s.low, high: s.next, bytes: s.bytes };
  }

  private readPartState(topicId: number, partition: number, topic: string): PartState {
    const s = this.partsDb.get(partitionKey(topicId, partition));
    if (!s) {
      throw externalError(
        'LOG_CORRUPT',
        `the log in ${this.dir} has no state for topic "${topic}" partition ${partition}; the log is damaged`,
        {
          retryable: false,
          context: { topic, partition },
        },
      );
    }
    return s;
  }

  // -------------------------------------------------------------------------
  // Retention

  /** Partitions of `topic` whose bytes exceed retentionBytes × retentionHardLimitRatio (empty when within limits). */
  overRetentionLimit(topic: string): PartitionInfo[] {
    this.checkOpen();
    if (!isLegalTopicName(topic)) return [];
    // Fresh from the database: another process may have changed the topic's retention.
    const stored = this.topicsDb.get(topic);
    if (!stored) return [];
    const t = this.remember(topic, stored);
    if (t.retentionBytes === null) return [];
    const limit = t.retentionBytes * this.hardLimitRatio;
    return this.partitions(topic).filter((p) => p.bytes > limit);
  }

  /** Run retention now over every topic (and expire old idempotency keys). */
  enforceRetention(): Promise<RetentionReport> {
    this.checkOpen();
    if (this.retentionRun) return this.retentionRun;
    const run = this.runRetention().finally(() => {
      if (this.retentionRun === run) this.retentionRun = undefined;
    });
    this.retentionRun = run;
    return run;
  }

  private async runRetention(): Promise<RetentionReport> {
    this.loadTopics();
    const deleted: Record<string, number> = {};
    const now = this.clock.now();
    for (const t of this.byName.values()) {
      if (t.retentionBytes === null && t.retentionMs === null) continue;
      for (let p = 0; p < t.partitions; p++) {
        let total = 0;
        while (!this.closed) {
          const n = await this.write(
            () => this.deleteFront(t, p, now),
            `apply retention to "${t.name}" partition ${p}`,
            {
              topic: t.name,
              partition: p,
            },
          );
          total += n;
          if (n < RETENTION_CHUNK) break;
        }
        if (total > 0) {
          deleted[`${t.name}/${p}`] = total;
          this.logger.debug('log retention deleted records', { topic: t.name, partition: p, records: total });
        }
      }
    }
    let expired = 0;
    while (!this.closed) {
      const n = await this.write(() => this.expireIdempotencyKeys(now), 'expire idempotency keys', {});
      expired += n;
      if (n < RETENTION_CHUNK) break;
    }
    return { deleted, idempotencyKeysExpired: expired };
  }

  /** Inside a write transaction: delete up to RETENTION_CHUNK records from the front of a partition. */
  private deleteFront(t: TopicInfo, p: number, now: number): number {
    const cur = this.topicsDb.get(t.name);
    if (!cur) return 0;
    const s = { ...this.readPartState(t.id, p, t.name) };
    const cutoff = cur.retentionMs === null ? -Infinity : now - cur.retentionMs;
    const doomed: Buffer[] = [];
    for (const { key, value } of this.recordsDb.getRange({
      start: recordKey(t.id, p, s.low),
      end: recordKey(t.id, p, s.next),
      limit: RETENTION_CHUNK,
    })) {
      const overSize = cur.retentionBytes !== null && s.bytes > cur.retentionBytes;
      const tooOld = recordTimestamp(value) < cutoff;
      if (!overSize && !tooOld) break;
      doomed.push(key);
      s.bytes -= value.length + RECORD_KEY_BYTES;
      s.low = offsetOfKey(key) + 1;
    }
    if (doomed.length === 0) return 0;
    for (const k of doomed) this.recordsDb.removeSync(k);
    this.partsDb.putSync(partitionKey(t.id, p), s);
    return doomed.length;
  }

  private expireIdempotencyKeys(now: number): number {
    const end = Buffer.alloc(9);
    end[0] = 2;
    end.writeDoubleBE(now - this.idempotencyWindowMs, 1);
    const doomed: Buffer[] = [];
    for (const key of this.idemDb.getKeys({ start: Buffer.from([2]), end, limit: RETENTION_CHUNK }))
      doomed.push(key);
    for (const k of doomed) {
      this.idemDb.removeSync(k);
      this.idemDb.removeSync(Buffer.concat([Buffer.from([1]), k.subarray(9)]));
    }
    return doomed.length;
  }

  /** [1][topic id][key utf-8] */
  private idemByKey(topicId: number, key: string): Buffer {
    const k = Buffer.from(key, 'utf8');
    const b = Buffer.allocUnsafe(5 + k.length);
    b[0] = 1;
    b.writeUInt32BE(topicId, 1);
    k.copy(b, 5);
    return b;
  }

  /** [2][at f64][topic id][key utf-8] — the expiry index */
  private idemByTime(at: number, byKey: Buffer): Buffer {
    const b = Buffer.allocUnsafe(9 + byKey.length - 1);
    b[0] = 2;
    b.writeDoubleBE(at, 1);
    byKey.copy(b, 9, 1);
    return b;
  }

  private scheduleRetention(): void {
    if (this.retentionSoon || this.closed || !this.autoRetention) return;
    this.retentionSoon = setImmediate(() => {
      this.retentionSoon = undefined;
      if (!this.closed && !this.retentionRun)
        void this.enforceRetention().catch((e: unknown) => this.retentionFailed(e));
    });
  }

  private retentionFailed(e: unknown): void {
    if (this.closed) return;
    this.logger.error('log retention failed; it is retried at the next check', {
      dir: this.dir,
      error: e instanceof Error ? e.message : String(e),
    });
  }

  // -------------------------------------------------------------------------
  // Durability and lifecycle

  /** Flush committed data to disk now (what fsync 'interval' does on its timer). */
  async sync(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve, reject) => {
      (this.root as unknown as { sync(cb: (e?: Error) => void): void }).sync((e) =>
        e ? reject(e) : resolve(),
      );
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Wait for appends in flight, flush (fsync 'interval'), stop timers and close. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const t of this.timers) clearInterval(t);
    if (this.retentionSoon) clearImmediate(this.retentionSoon);
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    if (this.retentionRun) await this.retentionRun.catch(() => undefined);
    if (this.fsync === 'interval') {
      await new Promise<void>((resolve) =>
        (this.root as unknown as { sync(cb: () => void): void }).sync(() => resolve()),
      );
    }
    const real = this.realDir;
    if (real) {
      const e = openDirs.get(real);
      if (e && --e.count <= 0) openDirs.delete(real);
    }
    await this.root.close();
  }

  // -------------------------------------------------------------------------
  // Helpers

  private async write<T>(fn: () => T, what: string, context: Record<string, unknown>): Promise<T> {
    this.checkOpen();
    const p = this.root.childTransaction(fn);
    this.inFlight.add(p);
    try {
      return await p;
    } catch (e) {
      if (e instanceof MillraceError) throw e;
      throw this.ioError(e, what, context);
    } finally {
      this.inFlight.delete(p);
    }
  }

  private ioError(e: unknown, what: string, context: Record<string, unknown>): MillraceError {
    const msg = e instanceof Error ? e.message : String(e);
    if (/MDB_CORRUPTED|MDB_PAGE_NOTFOUND|MDB_INVALID|MDB_BAD/.test(msg)) {
      return externalError(
        'LOG_CORRUPT',
        `could not ${what}: the log in ${this.dir} is damaged (${msg}); restore it from a copy or start a new log directory`,
        {
          cause: e,
          retryable: false,
          context,
        },
      );
    }
    return externalError(
      'LOG_IO_FAILED',
      `could not ${what} in the log ${this.dir}: ${msg}; check free disk space and permissions`,
      {
        cause: e,
        context,
      },
    );
  }

  private checkOpen(): void {
    if (this.closed) {
      throw userError('LOG_CLOSED', `the log in ${this.dir} is closed; open it again with openLog()`, {
        file: this.dir,
      });
    }
  }

  private loadTopics(): void {
    for (const { key, value } of this.topicsDb.getRange({})) this.remember(key, value);
  }

  private remember(name: string, s: StoredTopic): TopicInfo {
    const info: TopicInfo = {
      name,
      id: s.id,
      partitions: s.partitions,
      retentionBytes: s.retentionBytes,
      retentionMs: s.retentionMs,
      createdAt: s.createdAt,
    };
    this.byName.set(name, info);
    return info;
  }

  requireTopic(name: string, where: string): TopicInfo {
    const t = this.topic(name);
    if (!t) throw this.unknownTopic(name, where);
    return t;
  }

  private unknownTopic(name: string, where: string): MillraceError {
    return userError(
      'TOPIC_NOT_FOUND',
      `${where}: topic "${name}" does not exist in the log ${this.dir}; create it with createTopic("${name}", { partitions }) or open the log with autoCreateTopics: true`,
      { topic: name },
    );
  }

  private checkPartition(t: TopicInfo, partition: number, where: string): void {
    if (!Number.isInteger(partition) || partition < 0 || partition >= t.partitions) {
      throw userError(
        'INVALID_PARTITION',
        `${where}: topic "${t.name}" has partitions 0–${t.partitions - 1}, got ${quote(partition)}`,
        { topic: t.name },
      );
    }
  }
}

function replayedResult(topic: string, prior: StoredIdempotency): AppendResult {
  const next = new Map<number, number>();
  for (const [p, r] of Object.entries(prior.ranges)) next.set(Number(p), r[0]);
  const offsets = prior.partitions.map((p) => {
    const o = next.get(p)!;
    next.set(p, o + 1);
    return o;
  });
  return {
    topic,
    count: prior.partitions.length,
    partitions: prior.partitions,
    offsets,
    ranges: prior.ranges,
    duplicate: true,
  };
}
