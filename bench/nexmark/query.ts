/**
 * What a Nexmark benchmark query is: a hand-written baseline loop and the same
 * query through the engine, each returning the rows it produced and a checksum
 * of them (bench/nexmark/checksum.ts) so the answers can be compared.
 *
 * Add a query by adding bench/nexmark/queries/<name>.ts whose default export is a
 * NexmarkQuery; the CLI finds it by file name.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type {
  JsonValue,
  OutputMode,
  Session,
  Sink,
  Stream,
  StreamingQueryProgress,
  WorkersOption,
} from 'millrace';
import {
  type Auction,
  type Bid,
  type NexmarkKind,
  type NexmarkRow,
  type Person,
  DEFAULT_NEXMARK_CONFIG,
  generateAuctions,
  generateBids,
  generatePersons,
  nexmarkSource,
} from '../../packages/millrace/src/connectors/nexmark/index.ts';
import { Checksum } from './checksum.ts';

export interface RunOptions {
  /** Events of the interleaved stream (all kinds): [0, events). */
  readonly events: number;
  /** Engine: events per micro-batch (the source's eventsPerTrigger). */
  readonly eventsPerTrigger: number;
  /** Baseline: events generated per chunk. */
  readonly baselineChunk: number;
  /** Engine: `checksum` (a chunk-aware sink folding the checksum) or `noop` (no checksum). */
  readonly sink: 'checksum' | 'noop';
  /** Engine: worker threads (absent: the inline runner, on the main thread). */
  readonly workers?: number;
  /** Engine: state partitions (absent: 1 inline, the worker count on workers). */
  readonly partitions?: number;
}

export interface RunResult {
  readonly rowsOut: number;
  /** Null when the run did not compute one (noop sink). */
  readonly checksum: string | null;
  /** Rows read from the source(s). */
  readonly rowsIn?: number;
  /** Micro-batches that read data. */
  readonly batches?: number;
  /** All batches, including no-data batches (each commits the state store once). */
  readonly batchesTotal?: number;
  /** Rows the sink received over all batches (update mode: more than the final table's rows). */
  readonly rowsEmitted?: number;
  /** State rows (groups) of the stateful operators after the last batch (numRowsTotal). */
  readonly stateRows?: number;
  /** Input rows dropped as late by the watermark, over all batches. */
  readonly rowsDroppedByWatermark?: number;
  readonly outputMode?: OutputMode;
  /** Seconds until the query had started (worker threads: until each had built the plan). */
  readonly startSeconds?: number;
}

export interface NexmarkQuery {
  readonly name: string;
  readonly description: string;
  /** Events used when --events is not given. */
  readonly defaultEvents: number;
  /** Engine micro-batch size when --events-per-trigger is not given (default 100,000). */
  readonly defaultEventsPerTrigger?: number;
  /** Printed with the results, e.g. what part of the Nexmark query is not computed. */
  readonly note?: string;
  /** The plain-JS ceiling: same generator, same answer, no engine. */
  baseline(options: RunOptions): RunResult | Promise<RunResult>;
  /** The query through the engine. */
  engine(options: RunOptions): Promise<RunResult>;
}

/** Call `each` for every row of `kind` among events [0, events), generated in chunks. */
export function forEachGenerated<K extends NexmarkKind>(
  kind: K,
  events: number,
  chunk: number,
  each: (rows: NexmarkRow<K>[]) => void,
): void {
  const rows: NexmarkRow<K>[] = [];
  for (let from = 0; from < events; from += chunk) {
    const to = Math.min(events, from + chunk);
    rows.length = 0;
    if (kind === 'bid') generateBids(from, to, DEFAULT_NEXMARK_CONFIG, rows as Bid[]);
    else if (kind === 'auction') generateAuctions(from, to, DEFAULT_NEXMARK_CONFIG, rows as Auction[]);
    else generatePersons(from, to, DEFAULT_NEXMARK_CONFIG, rows as Person[]);
    each(rows);
  }
}

export interface EngineQueryConfig<O> {
  /** Default `append`. */
  readonly outputMode?: OutputMode;
  /**
   * For `update` mode: the key of an output row. The sink then keeps the hash of the latest
   * row per key, and the checksum is folded at the end over that final table (one row per
   * key), so it compares with a baseline that computes the final table directly. `rowsOut`
   * is the final table's size; `rowsEmitted` counts every row the sink received.
   */
  readonly finalKey?: (row: O) => string | number;
  /**
   * With `finalKey`: fold the final table's rows into the checksum yourself (instead of one
   * hash per row), for results that depend on batching but whose fold does not (q12: counts
   * per processing-time window, summed per bidder).
   */
  readonly foldFinal?: (rows: Iterable<O>) => Checksum;
  /** Also hand every output row to this (to feed a second query, as q4 does). */
  readonly tap?: (row: O) => void;
  /** Passed to writeStream. */
  readonly workers?: WorkersOption;
  readonly partitions?: number;
}

/**
 * Run a single-source query through the engine with Trigger.availableNow over
 * events [0, options.events) of `kind`, into a checksum (foreachBatch) or noop sink.
 */
export async function runEngineQuery<K extends NexmarkKind, O>(
  name: string,
  kind: K,
  options: RunOptions,
  build: (input: Stream<NexmarkRow<K>>) => Stream<O>,
  hashRow: (row: O) => number,
  config: EngineQueryConfig<O> = {},
): Promise<RunResult> {
  return runEngineQueryOver(
    name,
    [kind],
    options,
    (inputs) => build(inputs[kind] as unknown as Stream<NexmarkRow<K>>),
    hashRow,
    config,
  );
}

/**
 * The same over several kinds of the one interleaved stream: one nexmarkSource per kind, each
 * over events [0, options.events) (so "events" still counts the stream once).
 */
export async function runEngineQueryOver<O>(
  name: string,
  kinds: readonly NexmarkKind[],
  options: RunOptions,
  build: (inputs: { person?: Stream<Person>; auction?: Stream<Auction>; bid?: Stream<Bid> }) => Stream<O>,
  hashRow: (row: O) => number,
  config: EngineQueryConfig<O> = {},
): Promise<RunResult> {
  const { createSession } = await import('millrace');
  const building = buildOnly;
  const session = building?.session ?? createSession();
  const inputs: Record<string, Stream<any>> = {};
  for (const kind of kinds) {
    inputs[kind] = session.readStream(
      nexmarkSource({ kind, maxEvents: options.events, eventsPerTrigger: options.eventsPerTrigger }),
    );
  }
  const batches = Math.ceil(options.events / options.eventsPerTrigger);
  if (building) {
    building.built = build(inputs);
    throw BUILT;
  }
  const workers: WorkersOption | undefined = options.workers
    ? {
        count: options.workers,
        module: import.meta.url,
        export: 'buildQueryStream',
        args: { query: name, options: { ...options } as unknown as JsonValue },
      }
    : undefined;
  return runStreamQuery(name, build(inputs), batches, options.sink, hashRow, {
    ...config,
    ...(workers ? { workers } : {}),
    ...(options.partitions ? { partitions: options.partitions } : {}),
  });
}

/** Set while a worker thread builds a query's stream (buildQueryStream): build it, do not run it. */
let buildOnly: { readonly session: Session; built?: Stream<any> } | undefined;
const BUILT = Symbol('built');

/**
 * A worker thread's way to the same stream the engine side runs: the query's `engine()` is
 * called with this session, and `runEngineQueryOver` hands back the stream it built instead of
 * starting it. (Queries that start their stream by other means cannot run on workers.)
 */
export async function buildQueryStream(
  session: Session,
  args: { readonly query: string; readonly options: RunOptions },
): Promise<Stream<any>> {
  const { loadQuery } = await import('./queries.ts');
  const query = await loadQuery(args.query);
  const state: { session: Session; built?: Stream<any> } = { session };
  buildOnly = state;
  try {
    await query.engine(args.options);
  } catch (e) {
    if (e !== BUILT) throw e;
  } finally {
    buildOnly = undefined;
  }
  if (!state.built)
    throw new Error(
      `${args.query} does not build its stream with runEngineQueryOver: it cannot run on workers`,
    );
  return state.built;
}

/**
 * Run any query with Trigger.availableNow to its end into a checksum (or noop) sink, and read
 * its figures from the progress reports. `batchesWithData`: about how many batches read data.
 */
export async function runStreamQuery<O>(
  name: string,
  stream: Stream<O>,
  batchesWithData: number,
  sinkKind: RunOptions['sink'],
  hashRow: (row: O) => number,
  config: EngineQueryConfig<O> = {},
): Promise<RunResult> {
  const { Trigger, noopSink } = await import('millrace');
  const checkpointLocation = mkdtempSync(path.join(tmpdir(), `millrace-bench-${name}-`));
  const outputMode = config.outputMode ?? 'append';
  const tap = config.tap;
  try {
    const checksum = new Checksum();
    const table = config.finalKey ? new FinalTable(config.finalKey, hashRow, config.foldFinal) : null;
    const sink =
      sinkKind === 'noop'
        ? noopSink()
        : table
          ? rowSink((row: O) => table.add(row))
          : tap
            ? rowSink((row: O) => {
                checksum.add(hashRow(row));
                tap(row);
              })
            : rowSink((row: O) => checksum.add(hashRow(row)));
    // Every batch (with data or not) must stay in recentProgress to be counted.
    const batchesExpected = 2 * batchesWithData + 10;
    const startedAt = performance.now();
    const query = await stream
      .writeStream({
        sink,
        queryName: name,
        checkpointLocation,
        outputMode,
        trigger: Trigger.availableNow(),
        maxRecentProgress: batchesExpected,
        ...(config.workers ? { workers: config.workers } : {}),
        ...(config.partitions ? { partitions: config.partitions } : {}),
      })
      .start();
    const startSeconds = (performance.now() - startedAt) / 1000;
    await query.awaitTermination();
    if (query.exception) throw query.exception;
    let rowsIn = 0;
    let rowsEmitted = 0;
    let batches = 0;
    let dropped = 0;
    const progress: readonly StreamingQueryProgress[] = query.recentProgress;
    for (const p of progress) {
      rowsIn += p.numInputRows;
      rowsEmitted += p.sink.numOutputRows;
      if (!p.isNoDataBatch) batches++;
      for (const op of p.stateOperators) dropped += op.numRowsDroppedByWatermark;
    }
    const last = progress.at(-1);
    const stateRows = last ? last.stateOperators.reduce((n, op) => n + op.numRowsTotal, 0) : 0;
    let rowsOut = rowsEmitted;
    let sum: string | null = null;
    if (sinkKind === 'checksum') {
      const seen = table ? table.rowsSeen : checksum.rows;
      if (seen !== rowsEmitted) {
        throw new Error(`progress says ${rowsEmitted} output rows but the sink saw ${seen}`);
      }
      if (table) {
        const final = table.checksum();
        rowsOut = final.rows;
        sum = final.value();
      } else sum = checksum.value();
    }
    return {
      rowsOut,
      checksum: sum,
      rowsIn,
      batches,
      batchesTotal: progress.length,
      rowsEmitted,
      stateRows,
      rowsDroppedByWatermark: dropped,
      outputMode,
      startSeconds,
    };
  } finally {
    rmSync(checkpointLocation, { recursive: true, force: true });
  }
}

/** An update-mode result table: the hash of the latest row per key (or the row, with `fold`). */
export class FinalTable<O> {
  rowsSeen = 0;
  private readonly latest = new Map<string | number, number | O>();

  constructor(
    private readonly key: (row: O) => string | number,
    private readonly hashRow: (row: O) => number,
    private readonly fold?: (rows: Iterable<O>) => Checksum,
  ) {}

  add(row: O): void {
    this.rowsSeen++;
    this.latest.set(this.key(row), this.fold ? row : this.hashRow(row));
  }

  get size(): number {
    return this.latest.size;
  }

  checksum(): Checksum {
    if (this.fold) return this.fold(this.latest.values() as Iterable<O>);
    const c = new Checksum();
    for (const h of this.latest.values()) c.add(h as number);
    return c;
  }
}

/**
 * The engine side's sink: calls `each` per output row, consuming the batch chunk by chunk
 * as it streams out of the plan (like a file or Kafka sink would).
 */
function rowSink<O>(each: (row: O) => void): Sink {
  return {
    name: 'checksum',
    guarantee: 'at-least-once',
    describe: () => 'ChecksumSink',
    async open() {},
    async addBatch(rows) {
      for (let i = 0; i < rows.length; i++) each(rows[i] as O);
      return { rowsWritten: rows.length };
    },
    async addBatchChunks(chunks) {
      let n = 0;
      for await (const rows of chunks) {
        for (let i = 0; i < rows.length; i++) each(rows[i] as O);
        n += rows.length;
      }
      return { rowsWritten: n };
    },
    async close() {},
  };
}
