/**
 * Tests of the conformance suite itself. A small reference source and sink
 * over an in-process "external system" pass every case; the same connectors
 * with one deliberate bug each (the classic ones: reading past the recorded end
 * offset, no write-ahead log, duplicating a replayed batch, …) must fail the
 * case meant to catch that bug, with a message that says what went wrong.
 */
import { describe, expect, it } from 'vitest';
import {
  MillraceError,
  type Offset,
  type Row,
  type Schema,
  type Sink,
  type SinkBatchInfo,
  type Source,
  type SourceBatch,
  schema,
  t,
} from 'millrace';
import {
  type BadRecordVariant,
  type ConformanceSizes,
  type SinkHarness,
  type SourceHarness,
  allTypesRow,
  allTypesSchema,
  sinkConformance,
  sinkConformanceCases,
  sourceConformance,
  sourceConformanceCases,
} from 'millrace/testing/conformance';

const SECRET = 'hunter2-s3cr3t';
const sizes: Partial<ConformanceSizes> = { records: 30, largeBatch: 3_000, waitMs: 3_000, outageMs: 50 };

// ---- a reference source -------------------------------------------------------------------

interface SourceBugs {
  /** getBatch reads up to what is there now, not up to `end` (a replay takes newer data). */
  readsPastEnd?: boolean;
  /** Records live only in the instance that received them (no write-ahead log). */
  noWal?: boolean;
  /** Offsets carry a Date (not JSON). */
  dateInOffset?: boolean;
  /** Rows of a batch come back reversed. */
  reorders?: boolean;
  /** Dropped malformed records are not counted. */
  uncounted?: boolean;
  /** describe() shows a password. */
  leaks?: boolean;
  /** An outage fails with a non-retryable error. */
  fatalOutage?: boolean;
  /** Give getBatchChunks that loses the last row. */
  chunksLoseRow?: boolean;
}

interface System {
  log: (number | 'malformed')[];
  down: boolean;
}

const strict = schema({ id: t.long }) as Schema<Row>;
const lenient = schema({ id: t.long.orNull(), bad: t.string.orNull() }) as Schema<Row>;

class RefSource implements Source<Row> {
  readonly name = 'ref';
  readonly replayable = true;
  readonly schema: Schema<Row>;
  /** With the noWal bug: what this instance received since it opened. */
  private received: (number | 'malformed')[] = [];
  private taken = 0;

  constructor(
    private readonly sys: System,
    private readonly bugs: SourceBugs,
    private readonly variant: BadRecordVariant<Row> | undefined,
  ) {
    this.schema = variant?.expect === 'kept' ? lenient : strict;
    if (bugs.chunksLoseRow) this.getBatchChunks = (start, end) => this.lossyChunks(start, end);
  }

  getBatchChunks?: Source<Row>['getBatchChunks'];

  private async *lossyChunks(start: Offset | null, end: Offset): AsyncIterable<Row[]> {
    const rows = (await this.getBatch(start, end)).rows;
    yield rows.slice(0, Math.max(0, rows.length - 1));
  }

  describe(): string {
    return this.bugs.leaks ? `RefSource[postgres://app:${SECRET}@db]` : 'RefSource[memory]';
  }

  async open(): Promise<void> {
    this.taken = this.sys.log.length; // noWal: only what arrives while connected
  }

  private up(): void {
    if (!this.sys.down) return;
    throw new MillraceError('REF_DOWN', 'the reference system is down; check that it is running', {
      domain: 'external',
      retryable: !this.bugs.fatalOutage,
      context: { source: this.name },
    });
  }

  private get records(): (number | 'malformed')[] {
    if (!this.bugs.noWal) return this.sys.log;
    this.received.push(...this.sys.log.slice(this.taken));
    this.taken = this.sys.log.length;
    return this.received;
  }

  private pos(o: Offset | null): number {
    if (o === null) return 0;
    return typeof o === 'number' ? o : ((o as { n: number }).n ?? 0);
  }

  async latestOffset(start: Offset | null): Promise<Offset | null> {
    this.up();
    const n = this.records.length;
    if (n === this.pos(start)) return start;
    return this.bugs.dateInOffset ? ({ n, at: new Date(0) } as unknown as Offset) : n;
  }

  async getBatch(start: Offset | null, end: Offset): Promise<SourceBatch<Row>> {
    this.up();
    const all = this.records;
    const slice = all.slice(this.pos(start), this.bugs.readsPastEnd ? all.length : this.pos(end));
    const rows: Row[] = [];
    let bad = 0;
    for (const r of slice) {
      if (r !== 'malformed') {
        rows.push(this.variant?.expect === 'kept' ? { id: r, bad: null } : { id: r });
        continue;
      }
      if (this.variant?.expect === 'failFast') {
        throw new MillraceError('MALFORMED_RECORD', 'malformed record in the reference log', {
          domain: 'user',
          context: { source: this.name },
        });
      }
      bad++;
      if (this.variant?.expect === 'kept') rows.push({ id: null, bad: 'garbage' });
    }
    if (this.bugs.reorders) rows.reverse();
    return { rows, malformedRows: this.bugs.uncounted || this.variant?.expect === 'kept' ? 0 : bad };
  }

  async commit(): Promise<void> {}
  async close(): Promise<void> {}
}

function refSource(bugs: SourceBugs = {}): SourceHarness<Row> {
  return {
    order: 'total',
    sizes,
    secrets: [SECRET],
    badRecords: {
      variants: [
        { name: 'drop', expect: 'dropped' },
        { name: 'fail', expect: 'failFast', code: 'MALFORMED_RECORD' },
        { name: 'keep', expect: 'kept', isMalformed: (row) => row.bad != null },
      ],
    },
    outage: { behaviour: 'fails', code: 'REF_DOWN' },
    async create(ctx) {
      const sys: System = { log: [], down: false };
      return {
        source: () => new RefSource(sys, bugs, ctx.badRecords),
        append: async (records) => void sys.log.push(...records),
        index: (row) => row.id as number,
        expectedRow: (i) => (ctx.badRecords?.expect === 'kept' ? { id: i, bad: null } : { id: i }),
        stopExternal: async () => void (sys.down = true),
        startExternal: async () => void (sys.down = false),
      };
    },
  };
}

// ---- a reference sink ------------------------------------------------------------------------

interface SinkBugs {
  /** A replayed batch id is appended again although the sink says it is idempotent. */
  duplicatesReplays?: boolean;
  /** Binary values come back as arrays of numbers. */
  bytesAsArrays?: boolean;
  /** supportedOutputModes is left unset (= every mode) though only append works. */
  claimsAllModes?: boolean;
  /** An outage fails with a non-retryable error. */
  fatalOutage?: boolean;
  /** Not a bug: addBatch waits out an outage instead of failing. */
  retries?: boolean;
}

interface Table {
  rows: Row[];
  batches: Set<number>;
  down: boolean;
}

class RefSink implements Sink {
  readonly name = 'ref-sink';
  readonly guarantee = 'idempotent' as const;
  readonly supportedOutputModes?: readonly ('append' | 'update' | 'complete')[];

  constructor(
    private readonly table: Table,
    private readonly bugs: SinkBugs,
  ) {
    if (!bugs.claimsAllModes) this.supportedOutputModes = ['append'];
  }

  describe(): string {
    return 'RefSink[memory]';
  }
  async open(): Promise<void> {}
  async addBatch(rows: readonly Row[], info: SinkBatchInfo): Promise<void> {
    while (this.table.down && this.bugs.retries) await new Promise((r) => setTimeout(r, 5));
    if (this.table.down) {
      throw new MillraceError('REF_DOWN', 'the reference table is unavailable; check that it is running', {
        domain: 'external',
        retryable: !this.bugs.fatalOutage,
        context: { sink: this.name },
      });
    }
    if (this.table.batches.has(info.batchId) && !this.bugs.duplicatesReplays) return;
    this.table.batches.add(info.batchId);
    for (const r of rows) {
      const copy = { ...r };
      if (this.bugs.bytesAsArrays && r.bytes instanceof Uint8Array) copy.bytes = Array.from(r.bytes);
      this.table.rows.push(copy);
    }
  }
  async close(): Promise<void> {}
}

function refSink(bugs: SinkBugs = {}): SinkHarness {
  return {
    outputModes: ['append'],
    ordered: true,
    sizes,
    outage: bugs.retries ? { behaviour: 'retries' } : { behaviour: 'fails', code: 'REF_DOWN' },
    async create() {
      const table: Table = { rows: [], batches: new Set(), down: false };
      return {
        schema: allTypesSchema,
        row: allTypesRow,
        sink: () => new RefSink(table, bugs),
        readBack: async () => table.rows,
        stopExternal: async () => void (table.down = true),
        startExternal: async () => void (table.down = false),
      };
    },
  };
}

// ---- the checks ------------------------------------------------------------------------------

// The reference connectors pass every case…
sourceConformance('reference source (self-check)', refSource());
sinkConformance('reference sink (self-check)', refSink());
sinkConformance('reference sink that retries (self-check)', refSink({ retries: true }));

/** Run the cases whose title starts with `prefix` against a buggy harness; they must fail like `message`. */
async function expectFailure(
  cases: readonly { title: string; run(): Promise<void> }[],
  prefix: string,
  message: RegExp,
): Promise<void> {
  const picked = cases.filter((c) => c.title.startsWith(prefix));
  expect(picked.length, `cases starting with "${prefix}"`).toBeGreaterThan(0);
  for (const c of picked) await expect(c.run(), c.title).rejects.toThrow(message);
}

describe('…and each bug fails the case meant to catch it', () => {
  const source = (bugs: SourceBugs) => sourceConformanceCases('buggy', refSource(bugs)).cases;
  const sink = (bugs: SinkBugs) => sinkConformanceCases('buggy', refSink(bugs)).cases;

  it('a replay that reads past the recorded end offset', async () => {
    await expectFailure(source({ readsPastEnd: true }), 'crash', /re-run after the crash vs its first run/);
  });

  it('a source without a write-ahead log', async () => {
    await expectFailure(source({ noWal: true }), 'replay', /on a new instance after close\(\)/);
  });

  it('offsets that are not plain JSON', async () => {
    await expectFailure(source({ dateInOffset: true }), 'replay', /changes when written to the offsets log/);
  });

  it('rows out of order', async () => {
    await expectFailure(source({ reorders: true }), 'large batch', /out of order: record \d+ \(row 1\)/);
  });

  it('dropped malformed records that are not counted', async () => {
    await expectFailure(
      source({ uncounted: true }),
      'bad records (drop: dropped)',
      /must count the \d+ malformed/,
    );
  });

  it('a password in describe()', async () => {
    await expectFailure(source({ leaks: true }), 'contract', /a secret \("hu…"\) appears in describe\(\)/);
  });

  it('an outage that fails with a non-retryable error', async () => {
    await expectFailure(source({ fatalOutage: true }), 'outage', /retryable, external error/);
  });

  it('getBatchChunks that does not match getBatch', async () => {
    await expectFailure(
      source({ chunksLoseRow: true }),
      'replay',
      /getBatchChunks\(.*\) \(1 chunk\(s\)\) vs getBatch/,
    );
  });

  it('a sink that writes a replayed batch again', async () => {
    const cases = sink({ duplicatesReplays: true });
    await expectFailure(cases, 'replay', /again by the same instance: .*unexpected \(or duplicated\)/s);
    await expectFailure(cases, 'crash mid-batch', /unexpected \(or duplicated\)/);
  });

  it('a sink that changes a type on the way', async () => {
    await expectFailure(sink({ bytesAsArrays: true }), 'types', /first difference at row 0/);
  });

  it('a sink that accepts output modes it cannot handle', async () => {
    await expectFailure(sink({ claimsAllModes: true }), 'contract', /accepts output mode update/);
  });

  it('a sink outage with a non-retryable error', async () => {
    await expectFailure(sink({ fatalOutage: true }), 'outage', /retryable, external error/);
  });
});
