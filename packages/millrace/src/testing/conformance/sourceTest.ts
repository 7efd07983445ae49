/**
 * The moves every source case is made of, with one test's state: feeding the
 * system, opening instances, reading through the contract, running queries
 * into a logged memorySink, and the verdicts on what came out.
 */
import { createSession } from '../../api/Session.ts';
import type { Offset, Source, SourceBatch } from '../../connectors/contracts.ts';
import { type MemorySink, memorySink } from '../../connectors/memory/MemorySink.ts';
import type { StreamingQuery } from '../../execution/StreamingQuery.ts';
import type { StreamingQueryProgress } from '../../execution/progress.ts';
import type { Row, Schema } from '../../schema/index.ts';
import {
  check,
  checkContents,
  checkExactlyOnce,
  checkNoSecrets,
  checkOffsetIsJson,
  checkOrder,
  checkRowsMatchSchema,
  type DeliveryExpectation,
  checkSameRows,
  fail,
  sameOffset,
  show,
  textOf,
} from './checks.ts';
import { GateSink } from './gate.ts';
import { type Scope, uniqueName, waitUntil, withTimeout } from './scope.ts';
import type {
  BadRecordVariant,
  ConformanceSizes,
  InputRecord,
  SourceCase,
  SourceFixture,
  SourceHarness,
} from './types.ts';

const DEFAULT_LIMIT = { kind: 'default' } as const;

export interface Step<R> {
  readonly start: Offset | null;
  readonly end: Offset;
  readonly batch: SourceBatch<R>;
}

export interface OpenSource<R> {
  readonly source: Source<R>;
  readonly stateDir: string;
  close(): Promise<void>;
}

export interface Run {
  readonly query: StreamingQuery;
  readonly generation: number;
}

/** Per-test state and the moves every case is made of. */
export class SourceTest<R> {
  /** The next record index to append. */
  next = 0;
  private readonly runs: Run[] = [];
  private generation = 0;
  /** The schema the source declares (read once from an instance that is never opened). */
  readonly schema: Schema<R>;

  private constructor(
    readonly harness: SourceHarness<R>,
    readonly scope: Scope,
    readonly fixture: SourceFixture<R>,
    readonly variant: BadRecordVariant<R> | undefined,
  ) {
    const probe = fixture.source();
    this.schema = probe.schema;
    this.sourceName = probe.name;
    this.replayable = probe.replayable;
  }
  readonly sourceName: string;
  readonly replayable: boolean;

  static async create<R>(
    harness: SourceHarness<R>,
    scope: Scope,
    testCase: SourceCase,
    variant: BadRecordVariant<R> | undefined,
  ): Promise<SourceTest<R>> {
    const fixture = await harness.create({ ...scope.fixtureContext(testCase), badRecords: variant });
    scope.defer(() => fixture.cleanup?.());
    return new SourceTest(harness, scope, fixture, variant);
  }

  get sizes(): ConformanceSizes {
    return this.scope.sizes;
  }

  get appendable(): boolean {
    return typeof this.fixture.append === 'function';
  }

  // ---- input ---------------------------------------------------------------------------

  async appendUnit(records: readonly InputRecord[]): Promise<void> {
    if (!this.fixture.append) fail('internal: appendUnit on a generator fixture');
    await this.fixture.append(records);
  }

  /** Append `n` good records as one unit; returns their indices. */
  async appendGood(n: number): Promise<number[]> {
    const ids = Array.from({ length: n }, (_, k) => this.next + k);
    this.next += n;
    if (n > 0) await this.appendUnit(ids);
    return ids;
  }

  /** Append `n` records in `units` units (a generator appends nothing). */
  async appendInUnits(n: number, units: number): Promise<void> {
    if (!this.appendable) return;
    let left = n;
    for (let u = units; u > 0; u--) {
      const k = Math.ceil(left / u);
      await this.appendGood(k);
      left -= k;
    }
  }

  // ---- direct use of the contract ----------------------------------------------------

  async open(stateDir?: string): Promise<OpenSource<R>> {
    const source = this.fixture.source();
    const ctx = await this.scope.connectorContext(stateDir);
    await source.open(ctx);
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await source.close();
    };
    this.scope.defer(close);
    this.checkSecrets(source.describe(), 'describe()');
    return { source, stateDir: ctx.stateDir, close };
  }

  async latest(src: Source<R>, start: Offset | null): Promise<Offset | null> {
    const end = await src.latestOffset(checkOffsetIsJson(start, 'start offset'), DEFAULT_LIMIT);
    return checkOffsetIsJson(end, `latestOffset(${show(start)})`);
  }

  async getBatch(
    src: Source<R>,
    start: Offset | null,
    end: Offset,
    batchId: number,
  ): Promise<SourceBatch<R>> {
    // The executor reads offsets back from the offsets log: hand over JSON copies.
    const s = checkOffsetIsJson(start, 'start offset');
    const e = checkOffsetIsJson(end, 'end offset') as Offset;
    const batch = await src.getBatch(s, e, { batchId });
    if (!batch || !Array.isArray(batch.rows)) {
      fail(`getBatch(${show(start)}, ${show(end)}) must return { rows: [...] }, got ${show(batch)}`);
    }
    if (batch.metrics) this.checkSecrets(textOf(batch.metrics), 'getBatch metrics');
    return batch;
  }

  /** getBatchChunks gives exactly getBatch's rows, in the same order. */
  async checkChunks(src: Source<R>, step: Step<R>, batchId: number): Promise<void> {
    if (!src.getBatchChunks) return;
    const rows: R[] = [];
    let chunks = 0;
    const s = checkOffsetIsJson(step.start, 'start offset');
    const e = checkOffsetIsJson(step.end, 'end offset') as Offset;
    for await (const c of src.getBatchChunks(s, e, { batchId })) {
      if (!Array.isArray(c)) fail(`getBatchChunks yielded ${show(c)}, not an array of rows`);
      chunks++;
      for (const r of c) rows.push(r);
    }
    checkSameRows(
      rows as Row[],
      step.batch.rows as Row[],
      true,
      `getBatchChunks(${show(step.start)}, ${show(step.end)}) (${chunks} chunk(s)) vs getBatch`,
    );
  }

  /**
   * Read from `start` until at least `target` rows came back (polling latestOffset; a source
   * may see appended data a little later). Each step is one (start, end] batch.
   */
  async drain(src: Source<R>, start: Offset | null, target: number): Promise<Step<R>[]> {
    const steps: Step<R>[] = [];
    let got = 0;
    let at = start;
    await waitUntil(
      async () => {
        const end = await this.latest(src, at);
        if (end === null || sameOffset(end, at)) return false;
        const batch = await this.getBatch(src, at, end, steps.length);
        steps.push({ start: at, end, batch });
        got += batch.rows.length;
        at = end;
        return got >= target;
      },
      () =>
        `${target} rows from the source directly (got ${got} in ${steps.length} batch(es), last offset ${show(at)})`,
      this.sizes.waitMs,
    );
    return steps;
  }

  /** One (start, end] window holding at least `target` rows (re-read from `start` as the offset grows). */
  async oneBatch(src: Source<R>, start: Offset | null, target: number): Promise<Step<R>> {
    let best: Step<R> | undefined;
    let lastEnd: Offset | null = start;
    await waitUntil(
      async () => {
        const end = await this.latest(src, start);
        if (end === null || sameOffset(end, start) || sameOffset(end, lastEnd)) return false;
        lastEnd = end;
        best = { start, end, batch: await this.getBatch(src, start, end, 0) };
        return best.batch.rows.length >= target;
      },
      () =>
        `one batch of ${target} rows (the largest so far: ${best?.batch.rows.length ?? 0} rows up to ${show(lastEnd)}); ` +
        'does the source cap its batches? Raise the cap when ctx.testCase is "largeBatch"',
      this.sizes.waitMs,
    );
    return best!;
  }

  // ---- queries -------------------------------------------------------------------------

  /** A sink that keeps every batch in a memorySink and logs every write (the "external" output). */
  newSink(keepRows = true): { gate: GateSink; memory: MemorySink<R> } {
    const memory = memorySink<R>({ name: uniqueName('conformance_sink') });
    return { gate: new GateSink(memory, keepRows), memory };
  }

  async startQuery(gate: GateSink, checkpointLocation: string): Promise<Run> {
    const session = createSession({ log: this.scope.log });
    const generation = ++this.generation;
    gate.generation = generation;
    const query = await session
      .readStream(this.fixture.source())
      .writeStream({
        sink: gate,
        checkpointLocation,
        queryName: uniqueName('conformance'),
        maxRecentProgress: 1_000_000,
        idlePollMs: 5,
      })
      .start();
    this.scope.track(query);
    const run = { query, generation };
    this.runs.push(run);
    return run;
  }

  /** Wait until the sink holds `n` rows; with appended input, also until the source has nothing more. */
  async waitForRows(memory: MemorySink<R>, run: Run, n: number): Promise<void> {
    await waitUntil(
      () => memory.allRows().length >= n,
      () => `${n} rows in the sink (have ${memory.allRows().length})`,
      this.sizes.waitMs,
      run.query,
    );
    if (this.appendable) {
      await withTimeout(run.query.processAllAvailable(), this.sizes.waitMs, 'processAllAvailable()');
    }
  }

  async stop(run: Run): Promise<void> {
    await withTimeout(run.query.stop(), this.sizes.waitMs, 'query.stop()');
    if (run.query.exception) throw run.query.exception;
  }

  /** Every progress record of every run so far. */
  progress(): StreamingQueryProgress[] {
    return this.runs.flatMap((r) => [...r.query.recentProgress]);
  }

  sumProgress(field: 'numInputRows' | 'numMalformedRows'): number {
    return this.progress().reduce((a, p) => a + p.sources.reduce((b, s) => b + s[field], 0), 0);
  }

  // ---- verdicts ------------------------------------------------------------------------

  checkSecrets(text: string, where: string): void {
    checkNoSecrets(this.harness.secrets, text, where);
  }

  /** Logs and progress of the whole test are free of secrets. */
  checkNoLeaks(): void {
    if (!this.harness.secrets?.length) return;
    this.checkSecrets(textOf(this.scope.logs), 'the logs');
    this.checkSecrets(textOf(this.progress()), 'progress records');
  }

  isMalformed(row: R): boolean {
    return this.variant?.expect === 'kept' ? this.variant.isMalformed(row) : false;
  }

  /**
   * `rows` (in delivery order) hold the records [0, count) exactly once (appended input) or a
   * prefix of at least `atLeast` records (generated input), in the declared order, with the
   * expected contents and the source's schema.
   */
  checkDelivered(rows: readonly R[], what: string, expect: DeliveryExpectation): void {
    const schema = this.schema;
    const good = rows.filter((r) => !this.isMalformed(r));
    checkRowsMatchSchema(good as Row[], schema, what);
    let indices: number[];
    try {
      indices = good.map((r) => this.fixture.index(r));
    } catch (e) {
      fail(`${what}: fixture.index(row) threw ${(e as Error).message}`);
    }
    checkExactlyOnce(
      indices,
      this.appendable ? { count: expect.count, upTo: expect.upTo } : { atLeast: expect.atLeast },
      what,
    );
    if (this.harness.order !== 'none') {
      const partitions =
        this.harness.order === 'perPartition'
          ? good.map((r) => {
              if (!this.fixture.partition)
                fail('order is "perPartition" but the fixture has no partition(row)');
              return this.fixture.partition(r);
            })
          : undefined;
      checkOrder(indices, partitions, what);
    }
    if (this.fixture.expectedRow) {
      checkContents(
        good,
        (r) => this.fixture.index(r),
        (i) => this.fixture.expectedRow!(i),
        what,
      );
    }
  }

  /** Each input row was counted once in progress (`sources[i].numInputRows`). */
  checkInputRowsCounted(delivered: number): void {
    const counted = this.sumProgress('numInputRows');
    check(
      counted === delivered,
      () =>
        `progress counted ${counted} input row(s) over all batches (sources[i].numInputRows) but the sink got ${delivered}`,
    );
  }
}

export const rowsOf = <R>(steps: readonly Step<R>[]): R[] => steps.flatMap((s) => s.batch.rows);
