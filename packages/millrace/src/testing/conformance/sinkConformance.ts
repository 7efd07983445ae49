/**
 * The sink half of the conformance suite: `sinkConformance(name, harness)`
 * registers one vitest `describe` with a test per case. Sinks are driven
 * directly through the contract (open → addBatch / addBatchChunks → close, with
 * replayed batch ids) and through real queries fed by a `memoryStream`, with a
 * checkpoint in a temp directory. What the external system holds is always read
 * back independently of the sink (`fixture.readBack`).
 */
import { describe, it } from 'vitest';
import { inScope } from './scope.ts';
import * as cases from './sinkCases.ts';
import { SinkTest } from './sinkTest.ts';
import {
  type ConformanceCase,
  type ConformanceCases,
  type ConformanceSizes,
  DEFAULT_SIZES,
  type SinkCase,
  type SinkHarness,
  isNotApplicable,
} from './types.ts';

/**
 * Register the sink conformance tests for one connector configuration.
 * Call it at the top level of a test file; it adds `describe('sink conformance: <name>')`.
 */
export function sinkConformance(fixtureName: string, harness: SinkHarness): void {
  const { title, sizes, cases } = sinkConformanceCases(fixtureName, harness);
  describe(title, () => {
    for (const c of cases) it(c.title, () => c.run(), sizes.testTimeoutMs);
  });
}

/** The cases `sinkConformance` registers, without registering them. */
export function sinkConformanceCases(fixtureName: string, harness: SinkHarness): ConformanceCases<SinkCase> {
  const sizes: ConformanceSizes = { ...DEFAULT_SIZES, ...harness.sizes };
  const list: ConformanceCase<SinkCase>[] = [];
  const test = (title: string, testCase: SinkCase, body: (t: SinkTest) => Promise<void>) =>
    list.push({
      title,
      testCase,
      run: () => inScope(sizes, async (scope) => body(await SinkTest.create(harness, scope, testCase))),
    });
  const appends = harness.outputModes.includes('append');

  test(
    'contract: stable name, guarantee, output modes, describe() without secrets',
    'contract',
    cases.contract,
  );
  if (appends) {
    test(
      'replay: a batch id written again adds nothing (idempotent/transactional) or loses nothing',
      'replay',
      cases.replay,
    );
    test('types: every column type round-trips through the external system', 'types', cases.roundTrip);
    test(
      `large batch: ${sizes.largeBatch} rows via addBatch (and addBatchChunks)`,
      'largeBatch',
      cases.largeBatch,
    );
  }
  for (const mode of harness.outputModes) {
    test(`restart (${mode} mode): a new query and sink instance continue exactly once`, 'restart', (t) =>
      cases.restart(t, mode, false),
    );
    test(`crash mid-batch (${mode} mode): written, not committed, re-run: no duplicate`, 'crash', (t) =>
      cases.restart(t, mode, true),
    );
  }
  for (const mode of cases.ALL_MODES.filter((m) => !harness.outputModes.includes(m))) {
    test(`output mode ${mode} is refused at start() with a clear error`, 'outputModes', (t) =>
      cases.refused(t, mode),
    );
  }
  if (!isNotApplicable(harness.outage)) {
    const how =
      harness.outage.behaviour === 'retries' ? 'addBatch retries' : 'a retryable error, then a restart';
    test(
      `outage: the external system goes away and comes back (${how}), no duplicate`,
      'outage',
      cases.outage,
    );
  }
  return { title: `sink conformance: ${fixtureName}`, sizes, cases: list };
}
