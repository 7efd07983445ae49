/**
 * The moves every sink case is made of, with one test's state: opening
 * instances, writing batches the way the executor does, the output-mode
 * scenarios run through real queries, and reading the system back.
 */
import { createSession } from '../../api/Session.ts';
import type { Stream } from '../../api/Stream.ts';
import { count, sum } from '../../api/functions/aggregates.ts';
import type { OutputMode, Sink } from '../../connectors/contracts.ts';
import { type MemoryStream, memoryStream } from '../../connectors/memory/MemoryStream.ts';
import type { StreamingQuery } from '../../execution/StreamingQuery.ts';
import { type Row, type Schema, schema, t as types } from '../../schema/index.ts';
import {
  ConformanceError,
  canonical,
  checkContainsRows,
  checkNoSecrets,
  checkSameRows,
  fail,
  project,
  show,
  textOf,
} from './checks.ts';
import { type Scope, uniqueName, withTimeout } from './scope.ts';
import type { ConformanceSizes, SinkCase, SinkFixture, SinkHarness, SinkSpec } from './types.ts';

/** Rows per chunk when the suite feeds addBatchChunks. */
const CHUNK = 10_000;

export interface OpenSink {
  readonly sink: Sink;
  readonly stateDir: string;
  close(): Promise<void>;
}

/** The input, query and expected result of one output-mode scenario. */
export interface Scenario {
  readonly input: MemoryStream<Row>;
  readonly stream: Stream<Row>;
  readonly spec: SinkSpec;
  /** The rows of input batch `b`. */
  batch(b: number): Row[];
  /** What readBack must return after input batches [0, b] were processed. */
  expected(b: number): Row[];
}

export class SinkTest {
  private constructor(
    readonly harness: SinkHarness,
    readonly scope: Scope,
    readonly fixture: SinkFixture,
  ) {}

  static async create(harness: SinkHarness, scope: Scope, testCase: SinkCase): Promise<SinkTest> {
    const fixture = await harness.create(scope.fixtureContext(testCase));
    scope.defer(() => fixture.cleanup?.());
    return new SinkTest(harness, scope, fixture);
  }

  get sizes(): ConformanceSizes {
    return this.scope.sizes;
  }

  get appendSpec(): SinkSpec {
    return { schema: this.fixture.schema, outputMode: 'append', key: [] };
  }

  rows(from: number, to: number): Row[] {
    return Array.from({ length: to - from }, (_, k) => this.fixture.row(from + k));
  }

  async open(spec: SinkSpec, stateDir?: string): Promise<OpenSink> {
    const sink = this.fixture.sink(spec);
    const ctx = await this.scope.sinkContext(spec.schema, spec.outputMode, stateDir);
    await sink.open(ctx);
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await sink.close();
    };
    this.scope.defer(close);
    this.checkSecrets(sink.describe(), 'describe()');
    return { sink, stateDir: ctx.stateDir, close };
  }

  /** Write a batch the way the executor does: through addBatchChunks when the sink has it. */
  async write(
    sink: Sink,
    rows: readonly Row[],
    batchId: number,
    spec: SinkSpec,
    via: 'engine' | 'addBatch' | 'chunks' = 'engine',
  ): Promise<void> {
    const info = { batchId, outputMode: spec.outputMode };
    const chunked = via === 'chunks' || (via === 'engine' && !!sink.addBatchChunks);
    const result = chunked
      ? await sink.addBatchChunks!(chunksOf(rows, CHUNK), info)
      : await sink.addBatch(rows, info);
    if (result?.metrics) this.checkSecrets(textOf(result.metrics), 'write metrics');
  }

  async readBack(spec: SinkSpec): Promise<Row[]> {
    const rows = await this.fixture.readBack(spec);
    if (!Array.isArray(rows)) fail(`fixture.readBack() must return an array of rows, got ${show(rows)}`);
    return rows.map((r) => project(r, spec.schema));
  }

  /**
   * The external system holds exactly `expected` (idempotent and transactional sinks), or at
   * least every expected row (at-least-once sinks, which may repeat a replayed batch).
   */
  async checkHolds(sink: Sink, spec: SinkSpec, expected: readonly Row[], what: string): Promise<void> {
    const actual = await this.readBack(spec);
    const want = expected.map((r) => project(r, spec.schema));
    if (sink.guarantee === 'at-least-once') {
      checkContainsRows(actual, want, what);
      return;
    }
    const ordered = spec.outputMode === 'append' && this.harness.ordered === true;
    try {
      checkSameRows(actual, want, ordered, what);
    } catch (e) {
      if (!(e instanceof ConformanceError)) throw e;
      // Same number of rows but different values: name the column whose type does not round-trip.
      const columns =
        actual.length === want.length ? differingColumns(actual, want, spec.schema, ordered) : undefined;
      throw new ConformanceError(columns ? `${e.message}\n  ${columns}` : e.message);
    }
  }

  checkSecrets(text: string, where: string): void {
    checkNoSecrets(this.harness.secrets, text, where);
  }

  checkNoLeaks(queries: readonly StreamingQuery[] = []): void {
    if (!this.harness.secrets?.length) return;
    this.checkSecrets(textOf(this.scope.logs), 'the logs');
    this.checkSecrets(textOf(queries.flatMap((q) => [...q.recentProgress])), 'progress records');
  }

  // ---- queries -------------------------------------------------------------------------

  scenario(mode: OutputMode): Scenario {
    const session = createSession({ log: this.scope.log });
    if (mode === 'append') {
      const input = memoryStream<Row>(this.fixture.schema, { name: uniqueName('input') });
      const per = Math.max(1, Math.floor(this.sizes.records / 5));
      const batch = (b: number) => this.rows(b * per, (b + 1) * per);
      return {
        input,
        stream: session.readStream(input),
        spec: this.appendSpec,
        batch,
        expected: (b) => this.rows(0, (b + 1) * per),
      };
    }
    // update / complete: counts and sums per key; keys recur across batches.
    const inputSchema = schema({ k: types.string, v: types.long });
    const input = memoryStream<Row>(inputSchema as Schema<Row>, { name: uniqueName('input') });
    const stream = session
      .readStream(input)
      .groupBy('k')
      .agg(($: any) => ({ n: count(), total: sum($.v) })) as unknown as Stream<Row>;
    const keys = 7;
    const per = Math.max(keys, Math.floor(this.sizes.records / 5));
    const batch = (b: number): Row[] =>
      Array.from({ length: per }, (_, i) => ({ k: `key-${(i * (b + 1)) % keys}`, v: b * 1000 + i }));
    const expected = (b: number): Row[] => {
      const acc = new Map<string, { n: number; total: number }>();
      for (let x = 0; x <= b; x++) {
        for (const r of batch(x)) {
          const a = acc.get(r.k as string) ?? { n: 0, total: 0 };
          a.n++;
          a.total += r.v as number;
          acc.set(r.k as string, a);
        }
      }
      return [...acc].map(([k, a]) => ({ k, n: a.n, total: a.total }));
    };
    return {
      input,
      stream,
      spec: { schema: stream.schema as Schema, outputMode: mode, key: ['k'] },
      batch,
      expected,
    };
  }

  async start(s: Scenario, sink: Sink, checkpointLocation: string): Promise<StreamingQuery> {
    const query = await s.stream
      .writeStream({
        sink,
        checkpointLocation,
        outputMode: s.spec.outputMode,
        queryName: uniqueName('conformance'),
        idlePollMs: 5,
      })
      .start();
    return this.scope.track(query);
  }

  async settle(query: StreamingQuery): Promise<void> {
    await withTimeout(query.processAllAvailable(), this.sizes.waitMs, 'processAllAvailable()');
  }

  async stop(query: StreamingQuery): Promise<void> {
    await withTimeout(query.stop(), this.sizes.waitMs, 'query.stop()');
    if (query.exception) throw query.exception;
  }
}

export async function* chunksOf(rows: readonly Row[], size: number): AsyncIterable<readonly Row[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

/**
 * Which columns differ between two row lists of the same length, to name a type that does not
 * round-trip: row by row when the order is defined, else as multisets of values per column.
 */
function differingColumns(
  actual: readonly Row[],
  expected: readonly Row[],
  s: Schema,
  ordered: boolean,
): string | undefined {
  const out: string[] = [];
  for (const f of s.fields) {
    const label = `column "${f.name}" (${f.type.kind})`;
    if (ordered) {
      const i = expected.findIndex((r, k) => canonical(r[f.name]) !== canonical(actual[k]![f.name]));
      if (i >= 0) {
        out.push(
          `${label} differs, first in row ${i}: wrote ${canonical(expected[i]![f.name])}, read back ${canonical(actual[i]![f.name])}`,
        );
      }
      continue;
    }
    const a = actual.map((r) => canonical(r[f.name])).sort();
    const e = expected.map((r) => canonical(r[f.name])).sort();
    if (e.some((x, k) => a[k] !== x)) {
      const missing = e.find((x) => !a.includes(x));
      const extra = a.find((x) => !e.includes(x));
      out.push(
        `${label} differs` +
          (missing !== undefined ? `: wrote ${missing} (not read back)` : '') +
          (extra !== undefined ? `; read back ${extra} (never written)` : ''),
      );
    }
  }
  return out.length ? out.slice(0, 5).join('\n  ') : undefined;
}
