/**
 * The source half of the conformance suite: `sourceConformance(name, harness)`
 * registers one vitest `describe` with a test per case. Every case drives the
 * source both directly through the contract (open → latestOffset → getBatch →
 * commit, getBatchChunks when present) and through real queries
 * (`createSession().readStream(src).writeStream(…)`) with a checkpoint in a
 * temp directory. "Restart" = close one Source instance, make a new one with
 * `fixture.source()`, and reuse the same checkpoint (or state directory).
 */
import { describe, it } from 'vitest';
import * as cases from './sourceCases.ts';
import { inScope } from './scope.ts';
import { SourceTest } from './sourceTest.ts';
import {
  type BadRecordVariant,
  type ConformanceCase,
  type ConformanceCases,
  type ConformanceSizes,
  DEFAULT_SIZES,
  type SourceCase,
  type SourceHarness,
  isNotApplicable,
} from './types.ts';

/**
 * Register the source conformance tests for one connector configuration.
 * Call it at the top level of a test file; it adds `describe('source conformance: <name>')`.
 */
export function sourceConformance<R>(fixtureName: string, harness: SourceHarness<R>): void {
  const { title, sizes, cases } = sourceConformanceCases(fixtureName, harness);
  describe(title, () => {
    for (const c of cases) it(c.title, () => c.run(), sizes.testTimeoutMs);
  });
}

/**
 * The cases `sourceConformance` registers, without registering them: for other test runners,
 * and for testing the suite itself.
 */
export function sourceConformanceCases<R>(
  fixtureName: string,
  harness: SourceHarness<R>,
): ConformanceCases<SourceCase> {
  const sizes: ConformanceSizes = { ...DEFAULT_SIZES, ...harness.sizes };
  const list: ConformanceCase<SourceCase>[] = [];
  const test = (
    title: string,
    testCase: SourceCase,
    body: (t: SourceTest<R>) => Promise<void>,
    variant?: BadRecordVariant<R>,
  ) =>
    list.push({
      title,
      testCase,
      run: () =>
        inScope(sizes, async (scope) => {
          const t = await SourceTest.create(harness, scope, testCase, variant);
          await body(t);
        }),
    });

  test(
    'contract: stable name, schema, describe() without secrets, nothing before data',
    'contract',
    cases.contract,
  );
  test(
    'replay: getBatch(start, end) gives the same rows again, after JSON, and on a new instance',
    'replay',
    cases.replay,
  );
  test(
    'restart mid-stream: a new query on the same checkpoint continues exactly once',
    'restart',
    cases.restart,
  );
  test(
    'crash mid-batch: offsets written, commit not: the batch re-runs identically, exactly once',
    'crash',
    cases.crash,
  );
  if (!isNotApplicable(harness.badRecords)) {
    for (const v of harness.badRecords.variants) {
      test(`bad records (${v.name}: ${v.expect}): getBatch`, 'badRecords', cases.badRecordsDirect, v);
      test(`bad records (${v.name}: ${v.expect}): through a query`, 'badRecords', cases.badRecordsQuery, v);
    }
  }
  test(
    `large batch: ${sizes.largeBatch} records in one getBatch, complete and in order`,
    'largeBatch',
    cases.largeBatch,
  );
  test(
    `large batch: ${sizes.largeBatch} records through a query, complete and in order`,
    'largeBatch',
    cases.largeQuery,
  );
  if (!isNotApplicable(harness.outage)) {
    const how =
      harness.outage.behaviour === 'recovers' ? 'the query recovers' : 'a retryable error, then a restart';
    test(
      `outage: the external system goes away and comes back (${how}), exactly once`,
      'outage',
      cases.outage,
    );
  }
  return { title: `source conformance: ${fixtureName}`, sizes, cases: list };
}
