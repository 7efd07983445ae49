/**
 * testStream: drive a streaming query step by step and check what it wrote
 * (Spark's StreamTest, as a public API). Works with any test runner: a failed
 * check throws an Error whose message shows the actions so far (with the
 * failing one marked), the sink's batches, the last progress and the plan.
 *
 *   await testStream(words.select(...), { sink })
 *     .addData(input, { word: 'a' })
 *     .checkNewRows([{ word: 'a' }])
 *     .stop()
 *     .start()                       // restart from the same checkpoint
 *     .addData(input, { word: 'b' })
 *     .checkAllRows([{ word: 'a' }, { word: 'b' }])
 *     .run();
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect, isDeepStrictEqual } from 'node:util';
import type { Stream } from '../api/Stream.ts';
import type { WriteStreamOptions } from '../api/DataStreamWriter.ts';
import type { OutputMode } from '../connectors/contracts.ts';
import { type MemorySink, memorySink } from '../connectors/memory/MemorySink.ts';
import type { MemoryStream } from '../connectors/memory/MemoryStream.ts';
import { MillraceError } from '../errors/index.ts';
import type { StreamingQuery } from '../execution/StreamingQuery.ts';
import type { Trigger } from '../execution/trigger.ts';
import type { Row } from '../schema/index.ts';
import { ManualClock } from '../util/clock.ts';
import { canonicalJson } from '../util/json.ts';

export interface TestStreamOptions {
  readonly outputMode?: OutputMode;
  readonly trigger?: Trigger;
  /** Defaults to a fresh temporary directory, removed after a passing run. */
  readonly checkpointLocation?: string;
  /** The sink to check; defaults to a MemorySink. */
  readonly sink?: MemorySink<any>;
  /** Passed through to writeStream. */
  readonly writeOptions?: Partial<WriteStreamOptions>;
}

export interface RowCheckOptions {
  /** Compare in order (default: as a multiset, like Spark's CheckAnswer). */
  readonly ordered?: boolean;
}

export interface FailureExpectation {
  readonly code?: string;
  readonly message?: RegExp | string;
}

type Action = { readonly label: string; readonly run: (h: Harness) => Promise<void> };

interface Harness {
  query: StreamingQuery | null;
  readonly sink: MemorySink<any>;
  readonly checkpointLocation: string;
  rowsChecked: number;
  readonly start: () => Promise<void>;
  readonly settle: () => Promise<void>;
}

export class TestStream<R> {
  private readonly actions: Action[] = [];

  constructor(
    private readonly stream: Stream<R>,
    private readonly options: TestStreamOptions = {},
  ) {
    this.actions.push({ label: 'StartStream', run: (h) => h.start() });
  }

  /** Add rows to a memory stream; visible to the next batch. */
  addData<T>(source: MemoryStream<T>, ...rows: (T | T[])[]): this {
    return this.add(`AddData(${source.name}, ${short(rows.flat())})`, async () => {
      source.addData(...rows);
    });
  }

  /** Wait until everything added so far is processed and committed. */
  processAllAvailable(): this {
    return this.add('ProcessAllAvailable', (h) => h.settle());
  }

  /** The rows written since the previous row check equal `expected`. */
  checkNewRows(expected: readonly Partial<R>[] | readonly Row[], options: RowCheckOptions = {}): this {
    return this.add(`CheckNewRows(${short(expected)})`, async (h) => {
      await h.settle();
      const all = h.sink.allRows();
      const fresh = all.slice(h.rowsChecked);
      h.rowsChecked = all.length;
      assertRows(fresh, expected as readonly Row[], options, 'new rows');
    });
  }

  /** The rows of the last batch equal `expected`. */
  checkLastBatch(expected: readonly Partial<R>[] | readonly Row[], options: RowCheckOptions = {}): this {
    return this.add(`CheckLastBatch(${short(expected)})`, async (h) => {
      await h.settle();
      h.rowsChecked = h.sink.allRows().length;
      assertRows(h.sink.lastBatch(), expected as readonly Row[], options, 'last batch');
    });
  }

  /** All rows written so far (complete mode: the current result table) equal `expected`. */
  checkAllRows(expected: readonly Partial<R>[] | readonly Row[], options: RowCheckOptions = {}): this {
    return this.add(`CheckAllRows(${short(expected)})`, async (h) => {
      await h.settle();
      const all = h.sink.allRows();
      h.rowsChecked = all.length;
      assertRows(all, expected as readonly Row[], options, 'all rows');
    });
  }

  /** Any custom assertion on the query and sink. */
  assert(label: string, fn: (query: StreamingQuery, sink: MemorySink<any>) => void | Promise<void>): this {
    return this.add(`Assert(${label})`, async (h) => {
      await h.settle();
      if (!h.query) throw new Error('the query is not running');
      await fn(h.query, h.sink);
    });
  }

  /** Stop the query (it keeps its checkpoint). */
  stop(options: { abandonCurrentBatch?: boolean } = {}): this {
    return this.add('StopStream', async (h) => {
      await h.query?.stop(options);
      h.query = null;
    });
  }

  /** Start again from the same checkpoint, as after a restart. */
  start(): this {
    return this.add('StartStream', (h) => h.start());
  }

  /** Move the manual clock (the session must have been created with a ManualClock). */
  advanceClock(ms: number, clock: ManualClock): this {
    return this.add(`AdvanceClock(+${ms} ms)`, async (h) => {
      clock.advance(ms);
      // Other triggers do not sleep on the clock; the next check waits for the data instead.
      if (this.options.trigger?.kind !== 'processingTime') return;
      await waitUntil(
        () => !h.query?.isActive || (clock.waiting > 0 && !h.query.status.isTriggerActive),
        10_000,
        'the query to wait on the clock again',
      );
    });
  }

  /** The query must fail; optionally with this error code / message. */
  expectFailure(expectation: FailureExpectation = {}): this {
    return this.add(`ExpectFailure(${expectation.code ?? ''} ${expectation.message ?? ''})`, async (h) => {
      const q = h.query;
      if (!q) throw new Error('the query is not running');
      let err: unknown;
      try {
        await q.awaitTermination(10_000);
      } catch (e) {
        err = e;
      }
      if (!err)
        throw new Error(
          q.isActive ? 'the query did not fail within 10 s' : 'the query ended without failing',
        );
      if (!(err instanceof MillraceError))
        throw new Error(`the failure is not a MillraceError: ${String(err)}`);
      if (expectation.code && err.code !== expectation.code) {
        throw new Error(`expected error code ${expectation.code}, got ${err.code}: ${err.message}`);
      }
      const m = expectation.message;
      if (m && !(typeof m === 'string' ? err.message.includes(m) : m.test(err.message))) {
        throw new Error(`expected an error message matching ${String(m)}, got: ${err.message}`);
      }
      h.query = null;
    });
  }

  /** Run every action; throws a descriptive Error at the first failed check. */
  async run(): Promise<void> {
    const opts = this.options;
    const temporary = !opts.checkpointLocation;
    const checkpointLocation =
      opts.checkpointLocation ?? mkdtempSync(path.join(os.tmpdir(), 'millrace-test-'));
    const sink = opts.sink ?? memorySink();
    const processingTime = opts.trigger?.kind === 'processingTime';
    const h: Harness = {
      query: null,
      sink,
      checkpointLocation,
      rowsChecked: 0,
      start: async () => {
        if (h.query?.isActive) throw new Error('the query is already running; stop() it first');
        h.query = await this.stream
          .writeStream({
            ...opts.writeOptions,
            sink,
            checkpointLocation,
            outputMode: opts.outputMode ?? 'append',
            ...(opts.trigger ? { trigger: opts.trigger } : {}),
            queryName: opts.writeOptions?.queryName ?? `test-${path.basename(checkpointLocation)}`,
            idlePollMs: opts.writeOptions?.idlePollMs ?? 1,
          })
          .start();
      },
      // With a processing-time trigger, batches run when the clock is advanced
      // (advanceClock waits for them); otherwise wait for the sources to drain.
      settle: async () => {
        if (h.query?.isActive && !processingTime) await h.query.processAllAvailable();
      },
    };
    let i = 0;
    try {
      for (; i < this.actions.length; i++) await this.actions[i]!.run(h);
    } catch (e) {
      const q = h.query;
      await q?.stop().catch(() => undefined);
      throw new Error(this.report(i, e, h), { cause: e });
    }
    await h.query?.stop();
    if (temporary) rmSync(checkpointLocation, { recursive: true, force: true });
  }

  private add(label: string, run: (h: Harness) => Promise<void>): this {
    this.actions.push({ label, run });
    return this;
  }

  private report(failedAt: number, e: unknown, h: Harness): string {
    const lines = [
      `testStream failed at step ${failedAt + 1}: ${e instanceof Error ? e.message : String(e)}`,
      '',
      '== Actions ==',
      ...this.actions.map((a, i) => `${i === failedAt ? '=> ' : '   '}${a.label}`),
      '',
      '== Sink batches ==',
      ...h.sink.batchIds.map((id) => `batch ${id}: ${short(h.sink.batch(id) ?? [], 20)}`),
      '',
      '== Last progress ==',
      h.query?.lastProgress ? JSON.stringify(h.query.lastProgress, null, 2) : '(none)',
      '',
      this.stream.explain(),
      '',
      `checkpoint: ${h.checkpointLocation}`,
    ];
    return lines.join('\n');
  }
}

export function testStream<R>(stream: Stream<R>, options: TestStreamOptions = {}): TestStream<R> {
  return new TestStream(stream, options);
}

function assertRows(
  actual: readonly Row[],
  expected: readonly Row[],
  options: RowCheckOptions,
  what: string,
): void {
  const a = options.ordered ? actual.map(canonicalJson) : actual.map(canonicalJson).sort();
  const b = options.ordered ? expected.map(canonicalJson) : expected.map(canonicalJson).sort();
  if (!isDeepStrictEqual(a, b)) {
    const missing = diff(b, a);
    const extra = diff(a, b);
    throw new Error(
      `${what} differ${options.ordered ? ' (ordered)' : ''}:\n  expected ${expected.length} row(s): ${short(expected, 20)}\n  actual   ${actual.length} row(s): ${short(actual, 20)}` +
        (missing.length ? `\n  missing: ${missing.slice(0, 10).join(', ')}` : '') +
        (extra.length ? `\n  unexpected: ${extra.slice(0, 10).join(', ')}` : ''),
    );
  }
}

/** Multiset difference of canonical JSON strings. */
function diff(a: string[], b: string[]): string[] {
  const counts = new Map<string, number>();
  for (const x of b) counts.set(x, (counts.get(x) ?? 0) + 1);
  const out: string[] = [];
  for (const x of a) {
    const n = counts.get(x) ?? 0;
    if (n > 0) counts.set(x, n - 1);
    else out.push(x);
  }
  return out;
}

function short(v: unknown, max = 5): string {
  if (Array.isArray(v) && v.length > max)
    return `${inspect(v.slice(0, max), { depth: 3, breakLength: Infinity })} … (${v.length} total)`;
  return inspect(v, { depth: 3, breakLength: Infinity });
}

async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
