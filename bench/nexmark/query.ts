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
import type { Sink, Stream } from 'millrace';
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
}

export interface RunResult {
  readonly rowsOut: number;
  /** Null when the run did not compute one (noop sink). */
  readonly checksum: string | null;
  /** Rows read from the source(s). */
  readonly rowsIn?: number;
  readonly batches?: number;
}

export interface NexmarkQuery {
  readonly name: string;
  readonly description: string;
  /** Events used when --events is not given. */
  readonly defaultEvents: number;
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
): Promise<RunResult> {
  const { createSession, Trigger, noopSink } = await import('millrace');
  const checkpointLocation = mkdtempSync(path.join(tmpdir(), `millrace-bench-${name}-`));
  try {
    const session = createSession();
    const input = session.readStream(
      nexmarkSource({ kind, maxEvents: options.events, eventsPerTrigger: options.eventsPerTrigger }),
    );
    const checksum = new Checksum();
    const sink = options.sink === 'noop' ? noopSink() : checksumSink(checksum, hashRow);
    const batchesExpected = Math.ceil(options.events / options.eventsPerTrigger) + 10;
    const query = await build(input)
      .writeStream({
        sink,
        queryName: name,
        checkpointLocation,
        trigger: Trigger.availableNow(),
        maxRecentProgress: batchesExpected,
      })
      .start();
    await query.awaitTermination();
    if (query.exception) throw query.exception;
    let rowsIn = 0;
    let rowsOut = 0;
    let batches = 0;
    for (const p of query.recentProgress) {
      rowsIn += p.numInputRows;
      rowsOut += p.sink.numOutputRows;
      if (!p.isNoDataBatch) batches++;
    }
    if (options.sink === 'checksum' && checksum.rows !== rowsOut) {
      throw new Error(`progress says ${rowsOut} output rows but the sink saw ${checksum.rows}`);
    }
    return {
      rowsOut,
      checksum: options.sink === 'noop' ? null : checksum.value(),
      rowsIn,
      batches,
    };
  } finally {
    rmSync(checkpointLocation, { recursive: true, force: true });
  }
}

/**
 * The engine side's sink: folds the same checksum as the baseline, consuming the
 * batch chunk by chunk as it streams out of the plan (like a file or Kafka sink would).
 */
function checksumSink<O>(checksum: Checksum, hashRow: (row: O) => number): Sink {
  return {
    name: 'checksum',
    guarantee: 'at-least-once',
    describe: () => 'ChecksumSink',
    async open() {},
    async addBatch(rows) {
      for (let i = 0; i < rows.length; i++) checksum.add(hashRow(rows[i] as O));
      return { rowsWritten: rows.length };
    },
    async addBatchChunks(chunks) {
      let n = 0;
      for await (const rows of chunks) {
        for (let i = 0; i < rows.length; i++) checksum.add(hashRow(rows[i] as O));
        n += rows.length;
      }
      return { rowsWritten: n };
    },
    async close() {},
  };
}
