/**
 * Queries the worker tests run: a module whose exports build them, imported by the test (the
 * driver) and by each worker thread. Importing it starts nothing.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import {
  type ChunkedBatch,
  type Offset,
  type Session,
  type Source,
  type SourceBatch,
  type SourceSplit,
  type SplitPlan,
  count,
  fileSource,
  max,
  memoryStream,
  nexmarkSource,
  schema,
  sum,
  t,
  timestampSeconds,
  window,
} from '../../../src/index.ts';

export const eventSchema = schema({ s: t.long, user: t.string, n: t.long });
/** Read by the driver (a memory stream cannot be split): each worker gets a slice of its rows. */
export let input = memoryStream(eventSchema, { name: 'in' });

/** A new, empty `input` (each run of a test starts from offset 0). */
export function resetInput(): void {
  input = memoryStream(eventSchema, { name: 'in' });
}

export function perUser(session: Session) {
  return session
    .readStream(input)
    .groupBy(($) => ({ user: $.user }))
    .agg(($) => ({ c: count(), total: sum($.n) }));
}

export function windowedPerUser(session: Session) {
  return session
    .readStream(input)
    .withColumn('t', ($) => timestampSeconds($.s))
    .withWatermark('t', '2 seconds')
    .dropDuplicates('user', 'n', 't')
    .groupBy(($) => ({ window: window($.t, '5 seconds'), user: $.user }))
    .agg(($) => ({ c: count(), top: max($.n) }));
}

/** Nexmark bids: read by the workers themselves (the generator splits by event number). */
export function bidsPerAuction(session: Session, args: { events: number; perTrigger: number }) {
  return session
    .readStream(nexmarkSource({ kind: 'bid', maxEvents: args.events, eventsPerTrigger: args.perTrigger }))
    .withWatermark('dateTime', '0 seconds')
    .groupBy(($) => ({ window: window($.dateTime, '2 seconds'), auction: $.auction }))
    .agg(($) => ({ bids: count(), top: max($.price) }));
}

/** Fails on a row with n = 13 (in a worker: the query must fail with this error, not hang). */
export function failing(session: Session) {
  return session
    .readStream(input)
    .map((r) => {
      if (r.n === 13) throw new Error('thirteen is unlucky');
      return r;
    }, eventSchema)
    .groupBy(($) => ({ user: $.user }))
    .agg(() => ({ c: count() }));
}

/** A worker thread that meets n = 99 ends (process.exit in a worker ends that thread only). */
export function dies(session: Session) {
  return session
    .readStream(input)
    .map((r) => {
      if (r.n === 99) process.exit(7);
      return r;
    }, eventSchema)
    .groupBy(($) => ({ user: $.user }))
    .agg(() => ({ c: count() }));
}

export const notAFunction = 42;

const countingSchema = schema({ n: t.long, user: t.string });
type Counted = { n: number; user: string };

/**
 * Records 0 … total-1, `perBatch` per batch; record n is malformed (dropped, counted) when
 * n mod 7 = 3. Splits are contiguous ranges planned with the lag; each task reports what it read.
 * closeSplitReaders leaves a file `closed-<thread>` in `markerDir`.
 */
export class CountingSource implements Source<Counted> {
  readonly name = 'counting';
  readonly schema = countingSchema;
  readonly replayable = true;
  constructor(private readonly o: { total: number; perBatch: number; markerDir: string }) {}
  describe(): string {
    return `CountingSource[${this.o.total}]`;
  }
  async open(): Promise<void> {}
  async latestOffset(start: Offset | null): Promise<Offset | null> {
    const s = (start as number | null) ?? 0;
    const e = Math.min(this.o.total, s + this.o.perBatch);
    return e === s ? start : e;
  }
  private read(from: number, to: number): { rows: Counted[]; malformed: number } {
    const rows: Counted[] = [];
    let malformed = 0;
    for (let n = from; n < to; n++) {
      if (n % 7 === 3) malformed++;
      else rows.push({ n, user: `u${n % 5}` });
    }
    return { rows, malformed };
  }
  async getBatch(start: Offset | null, end: Offset): Promise<SourceBatch<Counted>> {
    const from = (start as number | null) ?? 0;
    const { rows, malformed } = this.read(from, end as number);
    return { rows, malformedRows: malformed, metrics: { recordsRead: (end as number) - from } };
  }
  async planSplits(start: Offset | null, end: Offset, count: number): Promise<SplitPlan> {
    const from = (start as number | null) ?? 0;
    const to = end as number;
    const each = Math.ceil((to - from) / count);
    const splits: SourceSplit[] = [];
    for (let a = from; a < to; a += each) splits.push([a, Math.min(to, a + each)]);
    return { splits, metrics: { lag: this.o.total - to } };
  }
  readSplit(split: SourceSplit): ChunkedBatch<Counted> {
    const [from, to] = split as [number, number];
    const { rows, malformed } = this.read(from, to);
    return {
      async *[Symbol.asyncIterator]() {
        yield rows;
      },
      summary: () => ({ malformedRows: malformed, metrics: { recordsRead: to - from } }),
    };
  }
  async closeSplitReaders(): Promise<void> {
    writeFileSync(path.join(this.o.markerDir, `closed-${threadId}`), '');
  }
  async commit(): Promise<void> {}
  async close(): Promise<void> {}
}

export function countingPerUser(
  session: Session,
  args: { total: number; perBatch: number; markerDir: string },
) {
  return session
    .readStream(new CountingSource(args))
    .groupBy('user')
    .agg(($) => ({ c: count(), total: sum($.n) }));
}

/** JSON-lines files of orders (bad lines dropped, counted, and written to deadLetterPath) → per user. */
export function filesPerUser(session: Session, args: { dir: string; deadLetters: string }) {
  return session
    .readStream(
      fileSource({
        path: args.dir,
        format: 'jsonl',
        schema: countingSchema,
        mode: 'dropMalformed',
        maxFilesPerTrigger: 3,
        deadLetterPath: args.deadLetters,
      }),
    )
    .groupBy('user')
    .agg(($) => ({ c: count(), total: sum($.n) }));
}

/** Counts per 5-second window and user, watermark 2 s behind (late rows are dropped and counted). */
export function windowCounts(session: Session) {
  return session
    .readStream(input)
    .withColumn('t', ($) => timestampSeconds($.s))
    .withWatermark('t', '2 seconds')
    .groupBy(($) => ({ window: window($.t, '5 seconds'), user: $.user }))
    .agg(() => ({ c: count() }));
}
