/**
 * The Source and Sink contracts (docs/architecture.md). Connectors are small and async;
 * the executor orchestrates them, they never decide about checkpoints.
 *
 * Per micro-batch N the executor calls, in order:
 *   source.latestOffset(start, limit)  → end offset of N (or null/equal = no new data)
 *   -- offsets/N written --
 *   source.getBatch(start, end, {batchId})   → rows of N (must be the same rows on a replay)
 *     (or getBatchChunks: the same rows in chunks, streamed through the plan)
 *   sink.addBatch(rows, {batchId: N})        → must be idempotent per batchId
 *     (or addBatchChunks: the same, fed chunk by chunk)
 *   -- commits/N written --
 *   source.commit(end)                       → the source may release data up to `end`
 */
import type { Schema } from '../schema/index.ts';
import type { Row } from '../schema/index.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A source's position, as JSON. Stored in the offsets log under the source's name. */
export type Offset = JsonValue;

export interface ConnectorContext {
  readonly queryId: string;
  readonly queryName: string;
  /** A directory owned by this connector inside the query's checkpoint (already created). */
  readonly stateDir: string;
  readonly clock: Clock;
  readonly log: Logger;
  /**
   * Say what the connector is waiting for while a service it needs is away, e.g.
   * `RabbitMQ at amqp://mq:5672: connection refused` (never a secret); `null` once it is back.
   * Shown in the query's status message and `status.waitingFor`, since between batches nothing
   * else tells a user why no data comes. Optional so contexts built by hand (tests, worker threads)
   * need not provide it; call it as `ctx.reportWaiting?.(…)`.
   */
  readonly reportWaiting?: (what: string | null) => void;
}

/**
 * `default`: respect the source's own per-trigger limit option (maxFilesPerTrigger, …).
 * `all`: ignore it and return everything available (Trigger.Once, as in Spark).
 */
export type ReadLimit = { readonly kind: 'default' } | { readonly kind: 'all' };

export interface SourceBatch<R> {
  readonly rows: R[];
  /** Malformed records dropped or sent to the dead-letter path in this batch. */
  readonly malformedRows?: number;
  /** Connector-specific figures shown in progress (`sources[i].metrics`). */
  readonly metrics?: Record<string, number | string>;
}

/**
 * The chunks of one batch. `summary()`, if present, is read once the chunks are consumed: what
 * getBatch would report besides rows (malformed records, connector metrics such as lag).
 */
export type ChunkedBatch<R> = AsyncIterable<R[]> & {
  summary?(): Omit<SourceBatch<R>, 'rows'>;
};

/**
 * One part of a batch that a task reads by itself (Spark's InputPartition), made by `planSplits`
 * on the main thread and sent to a worker thread, whose `readSplit` reads it: plain data that a
 * structured clone copies (JSON values, typed arrays; no functions or class instances).
 */
export type SourceSplit = unknown;

/** A batch cut into parts for tasks on worker threads. */
export interface SplitPlan {
  /**
   * At most `count` parts (fewer, or empty ones, when the batch is small); split i goes to task i.
   * Together they hold exactly getBatch's rows, each row in one part, and each part keeps their
   * order. How rows are dealt is the source's: Kafka partitions or offset ranges, files, interleaved
   * blocks of a generator so that every task moves through event time at the same pace.
   */
  readonly splits: readonly SourceSplit[];
  /** Figures only the plan knows (lag, partitions), for progress (`sources[i].metrics`). */
  readonly metrics?: Record<string, number | string>;
}

export interface Source<R = Row> {
  /** Unique within a query; offsets and connector state are stored under this name. */
  readonly name: string;
  readonly schema: Schema<R>;
  /** False for sources that cannot re-read old data (they must write a write-ahead log). */
  readonly replayable: boolean;
  /** One line for progress and explain(), e.g. `FileSource[/data/in, jsonl]`. Never contains secrets. */
  describe(): string;
  open(ctx: ConnectorContext): Promise<void>;
  /**
   * The offset up to which the next batch should read, given where it starts.
   * Return `start` (or null when nothing was ever available) when there is no new data.
   */
  latestOffset(start: Offset | null, limit: ReadLimit): Promise<Offset | null>;
  /** Rows in (start, end]. Called again with the same offsets after a crash: must return the same rows. */
  getBatch(start: Offset | null, end: Offset, info: { readonly batchId: number }): Promise<SourceBatch<R>>;
  /**
   * Optional: the same rows as getBatch, as a sequence of chunks. The executor
   * prefers it: a chunk flows through the plan (and into a chunk-aware sink)
   * before the next is read, so a large batch never sits in memory at once.
   */
  getBatchChunks?(start: Offset | null, end: Offset, info: { readonly batchId: number }): ChunkedBatch<R>;
  /**
   * Optional, with readSplit: cut the batch (start, end] into at most `count` parts that tasks on
   * worker threads read themselves (execution/workers). Called on the main thread's opened
   * instance, after offsets/N is written: the place to resolve what only it knows (starting
   * offsets kept in its state directory, partitions, data loss). Without it, the main thread reads
   * the batch and hands each task a contiguous slice of the rows.
   */
  planSplits?(
    start: Offset | null,
    end: Offset,
    count: number,
    info: { readonly batchId: number },
  ): Promise<SplitPlan>;
  /**
   * Read one part planned by planSplits, on an instance a worker thread built from the same
   * options and never opened: it may connect to its system (and keep the connection for the next
   * batch; closeSplitReaders ends it), but not use the checkpoint. The same split gives the same
   * rows in the same order on a replay. `summary()`: malformed records and counters (metrics are
   * added up over the tasks).
   */
  readSplit?(split: SourceSplit, info: { readonly batchId: number }): ChunkedBatch<R>;
  /** Release what readSplit holds (connections), when the worker thread stops. */
  closeSplitReaders?(): Promise<void>;
  /** Batches up to `end` are committed; data up to there may be released. */
  commit(end: Offset): Promise<void>;
  /** Trigger.AvailableNow: fix the target offset now; later latestOffset calls never go past it. */
  prepareForAvailableNow?(): Promise<void>;
  /** What the source has available right now, for progress (`latestOffset`) and lag; optional. */
  reportLatestOffset?(): Offset | null;
  close(): Promise<void>;
}

export type OutputMode = 'append' | 'update' | 'complete';

/**
 * at-least-once: a replayed batch may be written twice (foreachBatch, console).
 * idempotent: a replayed batch id overwrites or is skipped (files via manifest, memory).
 * transactional: data and batch id commit atomically (PostgreSQL, Kafka transactions).
 */
export type SinkGuarantee = 'at-least-once' | 'idempotent' | 'transactional';

export interface SinkContext extends ConnectorContext {
  readonly schema: Schema;
  readonly outputMode: OutputMode;
}

export interface SinkBatchInfo {
  readonly batchId: number;
  readonly outputMode: OutputMode;
}

export interface SinkWriteResult {
  /** Rows actually written (a skipped replay writes 0). Defaults to rows.length. */
  readonly rowsWritten?: number;
  readonly metrics?: Record<string, number | string>;
}

export interface Sink {
  readonly name: string;
  readonly guarantee: SinkGuarantee;
  describe(): string;
  /** Output modes this sink can take; checked at start(). Default: all. */
  readonly supportedOutputModes?: readonly OutputMode[];
  open(ctx: SinkContext): Promise<void>;
  /** Write batch `info.batchId`. Must be idempotent per batch id unless guarantee is at-least-once. */
  addBatch(rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult | void>;
  /**
   * Optional: write batch `info.batchId` from a sequence of chunks (same rules as
   * addBatch). Used instead of addBatch when present, so the batch is never
   * materialised whole.
   */
  addBatchChunks?(
    chunks: AsyncIterable<readonly Row[]>,
    info: SinkBatchInfo,
  ): Promise<SinkWriteResult | void>;
  /**
   * Optional: when the query runs on worker threads, each task writes its part of batch N where
   * it runs (Spark's DataWriter), and the driver completes the batch from what the tasks report
   * (Spark's BatchWrite.commit). Without it, the tasks' output crosses to the driver, which calls
   * addBatch. See SinkTasks.
   */
  readonly tasks?: SinkTasks;
  close(): Promise<void>;
}

/**
 * A sink whose tasks write by themselves. The protocol for batch N on W workers:
 *
 *   driver: sink.open (once)        worker w (once): writer = import(recipe.module)[recipe.export](
 *                                                        recipe.options, {schema, outputMode, task: w, …})
 *   per batch N:                    writer.write(output chunks of task w, {batchId: N, task: w})
 *                                      → SinkTaskReport {rows, message}   (nothing visible yet)
 *                                   … worker commits its state, reports done with the report
 *   driver: sink.tasks.commitTasks([report of each task], {batchId: N})  ← the commit point
 *   driver: commits/N
 *
 * Exactly-once rules: what a task writes must stay invisible until commitTasks; a replayed batch
 * may run on another number of tasks, so a writer must not overwrite what an earlier run of the
 * same batch already committed (it checks, and reports `skipped`), and commitTasks is idempotent
 * per batch id; the sink's open() (driver, before any task) removes what uncommitted runs left.
 */
export interface SinkTasks {
  /** How a worker thread makes the writer: plain data (the module's URL, its export, options). */
  readonly writer: SinkWriterRecipe;
  /** Driver: complete batch `info.batchId` from every task's report (in task order). */
  commitTasks(reports: readonly SinkTaskReport[], info: SinkBatchInfo): Promise<SinkWriteResult | void>;
}

export interface SinkWriterRecipe {
  /** A file URL (or path) of an ES module; built-in sinks use their own `import.meta.url`. */
  readonly module: string;
  /** The export: `(options, ctx: SinkWriterContext) => SinkTaskWriter | Promise<SinkTaskWriter>`. */
  readonly export: string;
  readonly options: JsonValue;
}

export interface SinkWriterContext {
  readonly queryName: string;
  readonly schema: Schema;
  readonly outputMode: OutputMode;
  /** This task's index (the worker's) and how many tasks each batch has. */
  readonly task: number;
  readonly taskCount: number;
  readonly log: Logger;
}

export interface SinkTaskWriter {
  /** Write this task's part of a batch; nothing of it may become visible before commitTasks. */
  write(
    chunks: AsyncIterable<readonly Row[]>,
    info: SinkBatchInfo & { readonly task: number },
  ): Promise<SinkTaskReport>;
  close(): Promise<void>;
}

/** What a task wrote of a batch, sent to the driver: plain data. */
export interface SinkTaskReport {
  readonly task: number;
  readonly rows: number;
  /** The sink's own commit message (e.g. the files written). */
  readonly message: JsonValue;
  /** The batch was already committed by an earlier run: the task wrote nothing. */
  readonly skipped?: boolean;
}

/**
 * A static table a stream can be joined with (`stream.join(table, …)`): rows from code, files,
 * a database query. Loaded when the query starts, and again every `refreshIntervalMs` if set
 * (a lookup table that follows its source). A replayed batch joins with the table as it is then.
 */
export interface TableSource<R = Row> {
  /** Shown in explain and progress. */
  readonly name: string;
  readonly schema: Schema<R>;
  /** One line for explain(). Never contains secrets. */
  describe(): string;
  /** Re-load every this many ms; undefined: once per query start. */
  readonly refreshIntervalMs?: number;
  /** The table's rows now. Rejects with a MillraceError that says what to check. */
  load(ctx: { readonly clock: Clock; readonly log: Logger }): Promise<readonly R[]>;
}
