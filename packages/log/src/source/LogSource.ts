/**
 * logSource: reads topics of the embedded log into a streaming query, with
 * the options and semantics of Spark's Kafka source where they make sense.
 *
 *   offsets   { topic: { partition: nextOffset } } in the query's checkpoint;
 *             a batch reads per partition the records [start, end)
 *
 *   latestOffset(start)                       getBatch(start, end)
 *   ───────────────────                       ────────────────────
 *   start null → the starting offsets,        read each partition's [from, to)
 *     resolved once and kept in the           from the log; the log never
 *     source's state dir (a replay of          changes stored records, so a
 *     batch 0 starts where batch 0 did)        replay returns the same rows —
 *   end = high watermarks, or fewer           unless retention deleted some:
 *     (maxOffsetsPerTrigger, prorated           failOnDataLoss → fail, naming
 *     by what each partition has)               the lost offsets; otherwise
 *   partitions of topics created later           skip them with a warning
 *     start at offset 0 (Spark: earliest)
 *
 * The log keeps records by its retention rules, not by what queries have
 * read (as Kafka): commit() releases nothing. A query that falls behind
 * retention loses data, and failOnDataLoss says whether that stops it.
 */
import * as path from 'node:path';
import {
  MillraceError,
  readFileIfExists,
  writeFileAtomic,
  type ConnectorContext,
  type Offset,
  type ReadLimit,
  type Schema,
  type Simplify,
  type Source,
  type SourceBatch,
  type SourceSplit,
  type SplitPlan,
  type ChunkedBatch,
  splitOffsetLimit,
} from 'millrace';
import { check, externalError, internalError, optionError, quote, userError } from '../errors.ts';
import { Log, openLog, validateTopicName, type LogOptions, type TopicInfo } from '../log/Log.ts';
import { RecordView } from '../log/recordFormat.ts';
import {
  getOffset,
  parseOffsets,
  sameOffsets,
  setOffset,
  sortedOffsets,
  type LogOffsets,
  type PartitionRange,
} from './offsets.ts';
import {
  rowBuilder,
  type LogBytesRow,
  type LogJsonFormat,
  type LogMetadata,
  type LogSourceFormat,
  type LogStringRow,
  type MetadataColumn,
  type RowBuilder,
} from './rows.ts';

/** -2 = earliest, -1 = latest (Kafka's conventions). */
export type StartingOffsets =
  'earliest' | 'latest' | Readonly<Record<string, Readonly<Record<string, number>>>>;

export interface LogSourceOptions {
  /** Unique within a query; offsets are stored under it. Default `log-<topics>`. */
  readonly name?: string;
  /** The log's directory (the source opens and closes it), or… */
  readonly dir?: string;
  /** …an open Log (shared; the source does not close it). */
  readonly log?: Log;
  /** With `dir`: options for opening the log. */
  readonly logOptions?: Omit<LogOptions, 'dir'>;
  /** Topic(s) to read; ones that do not exist yet are picked up when created. */
  readonly topics?: string | readonly string[];
  /** Or: every topic whose name matches (checked at each batch). */
  readonly topicPattern?: RegExp;
  /** Where a new query starts (default 'latest', as Spark); a restart resumes from the checkpoint. */
  readonly startingOffsets?: StartingOffsets;
  /** At most this many records per batch, over all partitions (ignored by Trigger.once / availableNow's last batch). */
  readonly maxOffsetsPerTrigger?: number;
  /** Fail when records the query needs were deleted by retention (default true), or skip them with a warning. */
  readonly failOnDataLoss?: boolean;
  /** Row format: 'bytes' (default), 'string' or { json: schema, … }. */
  readonly format?: LogSourceFormat;
  /** 'bytes'/'string': add a `headers` column (JSON object or null). */
  readonly includeHeaders?: boolean;
  /** Records per chunk handed to the plan (default 10,000). */
  readonly chunkRecords?: number;
}

const OPTIONS = [
  'name',
  'dir',
  'log',
  'logOptions',
  'topics',
  'topicPattern',
  'startingOffsets',
  'maxOffsetsPerTrigger',
  'failOnDataLoss',
  'format',
  'includeHeaders',
  'chunkRecords',
];
const STARTING_FILE = 'starting-offsets';
const STARTING_VERSION = 'v1';

type JsonRow<R, M extends MetadataColumn> = Simplify<R & Pick<LogMetadata, M>>;

export function logSource(options: LogSourceOptions & { format?: 'bytes' }): LogSource<LogBytesRow>;
export function logSource(options: LogSourceOptions & { format: 'string' }): LogSource<LogStringRow>;
export function logSource<R, M extends MetadataColumn = never>(
  options: LogSourceOptions & { format: LogJsonFormat<R, M> },
): LogSource<JsonRow<R, M>>;
export function logSource(options: LogSourceOptions): LogSource<any> {
  return new LogSource(options);
}

interface ReadStats {
  malformed: number;
  dropped: number;
  lost: number;
}

export class LogSource<R> implements Source<R> {
  readonly name: string;
  readonly schema: Schema<R>;
  readonly replayable = true;

  private readonly dirOption: string | undefined;
  private readonly logOptions: Omit<LogOptions, 'dir'> | undefined;
  private readonly topicNames: readonly string[];
  private readonly pattern: RegExp | undefined;
  private readonly starting: StartingOffsets;
  private readonly maxPerTrigger: number | undefined;
  private readonly failOnDataLoss: boolean;
  private readonly builder: RowBuilder;
  private readonly chunkRecords: number;

  private log: Log | undefined;
  private ownsLog = false;
  private ctx: ConnectorContext | undefined;
  private startingResolved: LogOffsets | undefined;
  private availableNowTarget: LogOffsets | undefined;

  constructor(options: LogSourceOptions) {
    const where = 'logSource';
    const o = check.object(where, options, '{ dir | log, topics | topicPattern, … }') as LogSourceOptions;
    check.known(where, o as Record<string, unknown>, OPTIONS);
    if ((o.dir === undefined) === (o.log === undefined)) {
      throw optionError(where, 'give exactly one of "dir" (the log directory) or "log" (an open Log)');
    }
    if (o.dir !== undefined) this.dirOption = path.resolve(check.string(where, 'dir', o.dir));
    if (o.log !== undefined && !(o.log instanceof Log)) {
      throw optionError(where, `"log" must be a Log from openLog(), got ${quote(o.log)}`);
    }
    if (o.logOptions !== undefined) {
      if (o.dir === undefined)
        throw optionError(
          where,
          '"logOptions" applies only with "dir"; the Log passed as "log" is already open',
        );
      this.logOptions = check.object(`${where} logOptions`, o.logOptions, '{ fsync?, … }') as Omit<
        LogOptions,
        'dir'
      >;
    }
    this.log = o.log;
    if ((o.topics === undefined) === (o.topicPattern === undefined)) {
      throw optionError(
        where,
        'give exactly one of "topics" (a name or a list) or "topicPattern" (a RegExp)',
      );
    }
    if (o.topics !== undefined) {
      const list = typeof o.topics === 'string' ? [o.topics] : o.topics;
      if (!Array.isArray(list) || list.length === 0) {
        throw optionError(
          where,
          `"topics" must be a topic name or a non-empty list of names, got ${quote(o.topics)}`,
        );
      }
      for (const n of list) validateTopicName(n, where);
      this.topicNames = [...new Set(list as string[])];
    } else {
      if (!(o.topicPattern instanceof RegExp)) {
        throw optionError(where, `"topicPattern" must be a RegExp, got ${quote(o.topicPattern)}`);
      }
      this.pattern = new RegExp(o.topicPattern.source, o.topicPattern.flags.replace(/[gy]/g, ''));
      this.topicNames = [];
    }
    this.name =
      o.name === undefined
        ? `log-${this.pattern ? 'pattern' : this.topicNames.join('+')}`
        : check.string(where, 'name', o.name);
    this.starting = validateStarting(o.startingOffsets ?? 'latest', where);
    if (o.maxOffsetsPerTrigger !== undefined) {
      this.maxPerTrigger = check.integer(where, 'maxOffsetsPerTrigger', o.maxOffsetsPerTrigger, 1);
    }
    this.failOnDataLoss =
      o.failOnDataLoss === undefined ? true : check.boolean(where, 'failOnDataLoss', o.failOnDataLoss);
    const includeHeaders =
      o.includeHeaders === undefined ? false : check.boolean(where, 'includeHeaders', o.includeHeaders);
    this.builder = rowBuilder(o.format, includeHeaders, this.name);
    this.schema = this.builder.schema as Schema<R>;
    this.chunkRecords =
      o.chunkRecords === undefined ? 10_000 : check.integer(where, 'chunkRecords', o.chunkRecords, 1);
  }

  describe(): string {
    const what = this.pattern ? `pattern=${String(this.pattern)}` : `topics=${this.topicNames.join(',')}`;
    return `LogSource[${this.dirOption ?? this.log?.dir ?? '?'}, ${what}]`;
  }

  async open(ctx: ConnectorContext): Promise<void> {
    this.ctx = ctx;
    this.startingResolved = undefined;
    this.availableNowTarget = undefined;
    if (this.dirOption !== undefined) {
      this.log = await openLog({ ...this.logOptions, dir: this.dirOption });
      this.ownsLog = true;
    } else if (this.log!.isClosed) {
      throw userError(
        'LOG_CLOSED',
        `logSource ${this.name}: the Log passed as "log" is closed; open it before starting the query`,
        {
          source: this.name,
        },
      );
    }
  }

  private requireLog(): Log {
    if (!this.log || !this.ctx)
      throw internalError(`logSource ${this.name} used before open()`, { source: this.name });
    return this.log;
  }

  /** Topics read now: the named ones that exist, or those matching the pattern. */
  private currentTopics(): TopicInfo[] {
    const log = this.requireLog();
    if (this.pattern) return log.topics().filter((t) => this.pattern!.test(t.name));
    const out: TopicInfo[] = [];
    for (const n of this.topicNames) {
      const t = log.topic(n);
      if (t) out.push(t);
    }
    return out;
  }

  /** Where a new query starts: resolved once, kept in the state dir, so a replay of batch 0 starts there too. */
  private async startingOffsets(): Promise<LogOffsets> {
    if (this.startingResolved) return this.startingResolved;
    const ctx = this.ctx!;
    const file = path.join(ctx.stateDir, STARTING_FILE);
    let text: string | undefined;
    try {
      text = await readFileIfExists(file);
    } catch (e) {
      throw externalError(
        'SOURCE_UNAVAILABLE',
        `logSource ${this.name}: cannot read ${file}: ${(e as Error).message}`,
        {
          cause: e,
          context: { source: this.name },
        },
      );
    }
    if (text !== undefined) {
      const lines = text.split('\n');
      let parsed: LogOffsets | null = null;
      try {
        if (lines[0] === STARTING_VERSION)
          parsed = parseOffsets(JSON.parse(lines[1] ?? '') as Offset, this.name, 'starting');
      } catch {
        parsed = null;
      }
      if (!parsed) {
        throw userError(
          'CHECKPOINT_CORRUPT',
          `logSource ${this.name}: ${file} is damaged; restore the checkpoint or start the query with a new checkpoint`,
          { source: this.name, file },
        );
      }
      this.startingResolved = parsed;
      return parsed;
    }
    const log = this.requireLog();
    const out: LogOffsets = {};
    for (const t of this.currentTopics()) {
      for (let p = 0; p < t.partitions; p++) {
        const { low, high } = log.partState(t, p);
        let at: number;
        if (this.starting === 'earliest') at = low;
        else if (this.starting === 'latest') at = high;
        else {
          const given = getOffset(this.starting, t.name, p);
          at = given === undefined || given === -2 ? low : given === -1 ? high : given;
        }
        setOffset(out, t.name, p, at);
      }
    }
    const resolved = sortedOffsets(out);
    try {
      await writeFileAtomic(file, `${STARTING_VERSION}\n${JSON.stringify(resolved)}\n`);
    } catch (e) {
      throw externalError(
        'SOURCE_UNAVAILABLE',
        `logSource ${this.name}: cannot write ${file}: ${(e as Error).message}`,
        {
          cause: e,
          context: { source: this.name },
        },
      );
    }
    this.startingResolved = resolved;
    return resolved;
  }

  async latestOffset(start: Offset | null, limit: ReadLimit): Promise<Offset | null> {
    const log = this.requireLog();
    const begin = parseOffsets(start, this.name, 'start') ?? (await this.startingOffsets());
    const plan: { topic: string; partition: number; from: number; effective: number; to: number }[] = [];
    for (const t of this.currentTopics()) {
      for (let p = 0; p < t.partitions; p++) {
        const from = getOffset(begin, t.name, p) ?? 0;
        const { low, high } = log.partState(t, p);
        let to = high;
        if (this.availableNowTarget) to = Math.min(to, getOffset(this.availableNowTarget, t.name, p) ?? from);
        to = Math.max(to, from);
        plan.push({ topic: t.name, partition: p, from, effective: Math.min(Math.max(from, low), to), to });
      }
    }
    if (limit.kind === 'default' && this.maxPerTrigger !== undefined) {
      // The one maxOffsetsPerTrigger rule of partitioned sources (millrace's splitOffsetLimit).
      const take = splitOffsetLimit(
        plan.map((x) => x.to - x.effective),
        this.maxPerTrigger,
      );
      plan.forEach((x, i) => (x.to = x.effective + take[i]!));
    }
    const end: LogOffsets = {};
    // Partitions in `start` that are no longer listed (a topic no longer matching) keep their offsets.
    for (const [topic, parts] of Object.entries(begin))
      for (const [p, n] of Object.entries(parts)) setOffset(end, topic, Number(p), n);
    for (const x of plan) setOffset(end, x.topic, x.partition, x.to);
    if (sameOffsets(end, begin)) return start;
    return sortedOffsets(end);
  }

  async prepareForAvailableNow(): Promise<void> {
    const log = this.requireLog();
    const target: LogOffsets = {};
    for (const t of this.currentTopics())
      for (let p = 0; p < t.partitions; p++) setOffset(target, t.name, p, log.partState(t, p).high);
    this.availableNowTarget = target;
  }

  reportLatestOffset(): Offset | null {
    if (!this.log || this.log.isClosed || !this.ctx) return null;
    const out: LogOffsets = {};
    for (const t of this.currentTopics())
      for (let p = 0; p < t.partitions; p++) setOffset(out, t.name, p, this.log.partState(t, p).high);
    return Object.keys(out).length ? sortedOffsets(out) : null;
  }

  /** Per-partition ranges of a batch, in (topic, partition) order. */
  private async ranges(start: Offset | null, end: Offset): Promise<PartitionRange[]> {
    const e = parseOffsets(end, this.name, 'end');
    if (!e) throw internalError(`logSource ${this.name}: no end offset`, { source: this.name });
    const s = parseOffsets(start, this.name, 'start') ?? (await this.startingOffsets());
    const out: PartitionRange[] = [];
    for (const topic of Object.keys(e).sort()) {
      for (const p of Object.keys(e[topic]!).sort((a, b) => Number(a) - Number(b))) {
        const to = e[topic]![p]!;
        const from = getOffset(s, topic, Number(p)) ?? 0;
        if (to > from) out.push({ topic, partition: Number(p), from, to });
      }
    }
    return out;
  }

  async getBatch(
    start: Offset | null,
    end: Offset,
    info: { readonly batchId: number },
  ): Promise<SourceBatch<R>> {
    const rows: R[] = [];
    const stats: ReadStats = { malformed: 0, dropped: 0, lost: 0 };
    for await (const chunk of this.read(start, end, info.batchId, stats)) for (const r of chunk) rows.push(r);
    return {
      rows,
      malformedRows: stats.dropped,
      metrics: { ...this.lagMetrics(end), malformedRecords: stats.malformed, recordsLost: stats.lost },
    };
  }

  /**
   * The rows of getBatch in chunks of `chunkRecords`. The returned iterable
   * also has `summary()`: what getBatch reports besides rows (malformedRows,
   * metrics), valid once the chunks are consumed. The executor does not ask
   * for it yet (it collects those only from getBatch); it is here for when the
   * contract lets chunked sources report them.
   */
  getBatchChunks(
    start: Offset | null,
    end: Offset,
    info: { readonly batchId: number },
  ): AsyncIterable<R[]> & { summary(): Omit<SourceBatch<R>, 'rows'> } {
    const stats: ReadStats = { malformed: 0, dropped: 0, lost: 0 };
    const chunks = this.read(start, end, info.batchId, stats);
    return {
      [Symbol.asyncIterator]: () => chunks,
      summary: () => ({
        malformedRows: stats.dropped,
        metrics: { ...this.lagMetrics(end), malformedRecords: stats.malformed, recordsLost: stats.lost },
      }),
    };
  }

  private async *read(
    start: Offset | null,
    end: Offset,
    batchId: number,
    stats: ReadStats,
  ): AsyncGenerator<R[]> {
    const log = this.requireLog();
    yield* this.readRanges(log, await this.ranges(start, end), batchId, stats);
  }

  /**
   * Splits for tasks on worker threads: the batch's partition ranges (resolved here, where the
   * starting offsets are kept) cut into `count` parts of about equal numbers of offsets, in
   * (topic, partition) order; a range across a boundary is cut at an offset. Each worker reads
   * its part from the log directory itself (LMDB readers in any thread or process).
   */
  async planSplits(start: Offset | null, end: Offset, count: number): Promise<SplitPlan> {
    this.requireLog();
    const ranges = await this.ranges(start, end);
    return { splits: cutRanges(ranges, count), metrics: this.lagMetrics(end) };
  }

  /**
   * One split, read on a worker thread by an instance that was never opened: it reads the Log
   * given as "log" (the worker built it, as the main thread did), or opens "dir" itself once,
   * without retention or fsync timers (closeSplitReaders closes it).
   */
  readSplit(split: SourceSplit, info: { readonly batchId: number }): ChunkedBatch<R> {
    const ranges = split as PartitionRange[];
    const stats: ReadStats = { malformed: 0, dropped: 0, lost: 0 };
    const read = async function* (source: LogSource<R>): AsyncGenerator<R[]> {
      yield* source.readRanges(await source.splitLog(), ranges, info.batchId, stats);
    };
    return {
      [Symbol.asyncIterator]: () => read(this),
      summary: () => ({
        malformedRows: stats.dropped,
        metrics: { malformedRecords: stats.malformed, recordsLost: stats.lost },
      }),
    };
  }

  private splitLogOpened: Promise<Log> | undefined;

  private splitLog(): Promise<Log> {
    if (this.dirOption === undefined) {
      if (this.log!.isClosed) {
        throw userError(
          'LOG_CLOSED',
          `logSource ${this.name}: the Log passed as "log" is closed in a worker thread`,
          {
            source: this.name,
          },
        );
      }
      return Promise.resolve(this.log!);
    }
    this.splitLogOpened ??= openLog({
      ...this.logOptions,
      dir: this.dirOption,
      // A reader: the main thread's log (or the ingest server's) runs retention and syncs.
      fsync: 'never',
      retentionCheckIntervalMs: 0,
    });
    this.splitLogOpened.catch(() => (this.splitLogOpened = undefined));
    return this.splitLogOpened;
  }

  async closeSplitReaders(): Promise<void> {
    const opened = this.splitLogOpened;
    this.splitLogOpened = undefined;
    if (opened) await (await opened).close();
  }

  /** The rows of `ranges` of `log`, in chunks of `chunkRecords`; fills `stats` on the way. */
  private async *readRanges(
    log: Log,
    ranges: readonly PartitionRange[],
    batchId: number,
    stats: ReadStats,
  ): AsyncGenerator<R[]> {
    const view = new RecordView();
    const build = this.builder;
    let chunk: R[] = [];
    for (const r of ranges) {
      const t = log.topic(r.topic);
      if (!t) {
        this.dataLoss(r, r.from, r.to, `topic "${r.topic}" no longer exists`, stats, batchId);
        continue;
      }
      const high = log.partState(t, r.partition).high;
      let to = r.to;
      if (to > high) {
        // Offsets the query saw are gone from the end: the log directory was replaced or recreated.
        this.dataLoss(
          r,
          high,
          to,
          `the partition ends at offset ${high} (the log was replaced or recreated)`,
          stats,
          batchId,
        );
        to = high;
      }
      let next = r.from;
      while (next < to) {
        const room = this.chunkRecords - chunk.length;
        const expected = { at: next };
        const cont = log.scan(t, r.partition, next, to, room, (offset, raw, size) => {
          if (offset !== expected.at) {
            this.dataLoss(
              r,
              expected.at,
              offset,
              'they were deleted by retention before the query read them',
              stats,
              batchId,
            );
          }
          expected.at = offset + 1;
          view.load(raw, size, true);
          const row = build.build(view, r.topic, r.partition, offset);
          if (row !== undefined) chunk.push(row as R);
        });
        if (cont >= to && expected.at < to) {
          // Nothing stored in [expected.at, to): deleted while we read, or before.
          this.dataLoss(
            r,
            expected.at,
            to,
            'they were deleted by retention before the query read them',
            stats,
            batchId,
          );
        }
        next = cont;
        const c = build.takeCounts();
        stats.malformed += c.malformed;
        stats.dropped += c.dropped;
        if (chunk.length >= this.chunkRecords) {
          yield chunk;
          chunk = [];
        }
      }
    }
    if (chunk.length) yield chunk;
  }

  /** Offsets [from, to) of a partition the batch needed are gone. */
  private dataLoss(
    r: PartitionRange,
    from: number,
    to: number,
    why: string,
    stats: ReadStats,
    batchId: number,
  ): void {
    const what = `topic "${r.topic}" partition ${r.partition}: offsets ${from}–${to - 1} (${to - from} records)`;
    if (this.failOnDataLoss) {
      throw new MillraceError(
        'DATA_LOSS',
        `logSource ${this.name}: batch ${batchId} needs ${what}, but ${why}. ` +
          `Set failOnDataLoss: false to skip missing records with a warning, or raise the topic's retention (retentionBytes / retentionMs) so the query keeps up`,
        {
          domain: 'external',
          retryable: false,
          context: { source: this.name, batch: batchId, topic: r.topic, partition: r.partition },
        },
      );
    }
    stats.lost += to - from;
    // A worker thread's instance has no context: the loss is counted (recordsLost), not logged.
    this.ctx?.log.warn('log source skipped missing records (failOnDataLoss is false)', {
      source: this.name,
      batch: batchId,
      topic: r.topic,
      partition: r.partition,
      fromOffset: from,
      toOffset: to,
      records: to - from,
      reason: why,
    });
  }

  /** Spark's Kafka source metrics: how far the batch's end is behind the latest offsets. */
  private lagMetrics(end: Offset): Record<string, number> {
    const latest = parseOffsets(this.reportLatestOffset(), this.name, 'latest');
    const e = parseOffsets(end, this.name, 'end');
    const lags: number[] = [];
    if (latest && e) {
      for (const [topic, parts] of Object.entries(latest)) {
        for (const [p, high] of Object.entries(parts))
          lags.push(Math.max(0, high - (getOffset(e, topic, Number(p)) ?? 0)));
      }
    }
    if (lags.length === 0) return {};
    const sum = lags.reduce((a, b) => a + b, 0);
    return {
      offsetsBehindLatest: sum,
      avgOffsetsBehindLatest: sum / lags.length,
      maxOffsetsBehindLatest: Math.max(...lags),
      minOffsetsBehindLatest: Math.min(...lags),
    };
  }

  async commit(_end: Offset): Promise<void> {
    // The log keeps records by retention, not by consumer progress (as Kafka).
  }

  async close(): Promise<void> {
    const log = this.log;
    if (this.ownsLog && log) {
      this.log = undefined;
      this.ownsLog = false;
      await log.close();
    }
    this.ctx = undefined;
  }
}

function validateStarting(v: unknown, where: string): StartingOffsets {
  if (v === 'earliest' || v === 'latest') return v;
  const bad = () =>
    optionError(
      where,
      `"startingOffsets" must be 'earliest', 'latest' or { topic: { partition: offset } } (offset -2 = earliest, -1 = latest), got ${quote(v)}`,
    );
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad();
  for (const [topic, parts] of Object.entries(v)) {
    validateTopicName(topic, where);
    if (parts === null || typeof parts !== 'object' || Array.isArray(parts)) throw bad();
    for (const [p, n] of Object.entries(parts as Record<string, unknown>)) {
      if (!/^\d+$/.test(p) || typeof n !== 'number' || !Number.isSafeInteger(n) || n < -2) throw bad();
    }
  }
  return v as StartingOffsets;
}

/**
 * `ranges` cut into at most `count` parts of about equal numbers of offsets, in order; a range
 * that straddles a boundary is cut at an offset.
 */
export function cutRanges(ranges: readonly PartitionRange[], count: number): PartitionRange[][] {
  const total = ranges.reduce((a, r) => a + Math.max(0, r.to - r.from), 0);
  if (total === 0) return [];
  const each = Math.ceil(total / count);
  const parts: PartitionRange[][] = [];
  let part: PartitionRange[] = [];
  let room = each;
  for (const r of ranges) {
    let from = r.from;
    while (from < r.to) {
      const to = Math.min(r.to, from + room);
      part.push({ topic: r.topic, partition: r.partition, from, to });
      room -= to - from;
      from = to;
      if (room === 0) {
        parts.push(part);
        part = [];
        room = each;
      }
    }
  }
  if (part.length > 0) parts.push(part);
  return parts;
}
