/**
 * Stream–stream joins, from Spark's documented semantics (Structured Streaming guide, "Stream-stream
 * Joins"): pairs are found whichever side arrives first; late rows are dropped; an outer row is
 * emitted when the watermark proves no match can come; state shrinks as the watermark moves.
 *
 * Batches are cut by hand: a processing-time trigger on a manual clock, so rows added to both
 * inputs before `advanceClock` land in the same batch.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  Trigger,
  count,
  createSession,
  interval,
  memorySink,
  memoryStream,
  schema,
  t,
  window,
  type JoinTypeName,
} from '../../src/index.ts';
import { ManualClock, testStream } from '../../src/testing/index.ts';
import { cleanupDirs, tempDir } from '../execution/helpers.ts';

afterEach(cleanupDirs);

const s = (n: number) => n * 1000;
const impSchema = schema({ ad: t.long, impAt: t.timestamp });
const clickSchema = schema({ ad: t.long, clickAt: t.timestamp });
type Q = { lastProgress: any; recentProgress: readonly any[] };
const op = (q: Q) => q.lastProgress.stateOperators[0];

/** Impressions and clicks with 10 s watermarks; a click counts within 20 s after its impression. */
function adJoin(type: JoinTypeName, opts: { clickWatermark?: boolean; impWatermark?: boolean } = {}) {
  const clock = new ManualClock(Date.UTC(2025, 0, 1));
  const session = createSession({ clock });
  const imps = memoryStream(impSchema);
  const clicks = memoryStream(clickSchema);
  let left = session.readStream(imps);
  if (opts.impWatermark !== false) left = left.withWatermark('impAt', '10 seconds');
  let right = session.readStream(clicks);
  if (opts.clickWatermark !== false) right = right.withWatermark('clickAt', '10 seconds');
  const joined = left.join(right, {
    on: ['ad'],
    where: (l, r) => r.clickAt.between(l.impAt, l.impAt.plus(interval('20 seconds'))),
    type,
  });
  return { clock, imps, clicks, joined };
}

const tick = 100;
const trigger = Trigger.processingTime(tick);

describe('stream–stream inner join', () => {
  it('matches across batches whichever side comes first, drops late rows, and evicts by the watermark', async () => {
    const { clock, imps, clicks, joined } = adJoin('inner');
    await testStream(joined, { trigger })
      .addData(imps, [
        { ad: 1, impAt: s(10) },
        { ad: 2, impAt: s(12) },
      ])
      .addData(clicks, { ad: 1, clickAt: s(15) })
      .advanceClock(tick, clock)
      .checkNewRows([{ ad: 1, impAt: s(10), clickAt: s(15) }])
      .assert('both sides buffered', (q) => {
        expect(op(q).numRowsTotal).toBe(3);
        expect(op(q).customMetrics.numLeftStateRows).toBe(2);
        expect(op(q).customMetrics.numRightStateRows).toBe(1);
      })
      // A second click for ad 1 (in range), one for ad 2 out of range (40 > 12 + 20); an impression
      // for ad 9 moves the impressions' event time too (the watermark is the minimum of both).
      .addData(clicks, [
        { ad: 1, clickAt: s(25) },
        { ad: 2, clickAt: s(40) },
      ])
      .addData(imps, { ad: 9, impAt: s(40) })
      .advanceClock(tick, clock)
      .checkNewRows([{ ad: 1, impAt: s(10), clickAt: s(25) }])
      // Watermark now min(40, 40) − 10 = 30: a no-data batch evicts impressions ≤ 30 − 20 and clicks ≤ 30.
      .advanceClock(tick, clock)
      .checkNewRows([])
      .assert('state shrank to the impressions at 12 and 40 and the click at 40', (q) => {
        expect(q.lastProgress!.numInputRows).toBe(0);
        expect(op(q).customMetrics.numLeftStateRows).toBe(2);
        expect(op(q).customMetrics.numRightStateRows).toBe(1);
        expect(op(q).numRowsRemoved).toBe(3);
      })
      // Late: an impression at 29 ≤ watermark 30 is dropped (even though the click at 40 is in its range).
      .addData(imps, { ad: 2, impAt: s(29) })
      .advanceClock(tick, clock)
      .checkNewRows([])
      .assert('the late impression was dropped and counted', (q) => {
        expect(op(q).numRowsDroppedByWatermark).toBe(1);
        expect(op(q).customMetrics.numLeftRowsDroppedByWatermark).toBe(1);
      })
      .run();
  });

  it('pairs two rows of the same batch once, and keys with several rows on each side give every pair', async () => {
    const { clock, imps, clicks, joined } = adJoin('inner');
    await testStream(joined, { trigger })
      .addData(imps, [
        { ad: 7, impAt: s(1) },
        { ad: 7, impAt: s(2) },
      ])
      .addData(clicks, [
        { ad: 7, clickAt: s(3) },
        { ad: 7, clickAt: s(4) },
        { ad: 8, clickAt: s(4) },
      ])
      .advanceClock(tick, clock)
      .checkNewRows([
        { ad: 7, impAt: s(1), clickAt: s(3) },
        { ad: 7, impAt: s(1), clickAt: s(4) },
        { ad: 7, impAt: s(2), clickAt: s(3) },
        { ad: 7, impAt: s(2), clickAt: s(4) },
      ])
      .run();
  });

  it('an inner join without watermarks keeps all state (allowed, as in Spark)', async () => {
    const { clock, imps, clicks, joined } = adJoin('inner', { clickWatermark: false, impWatermark: false });
    await testStream(joined, { trigger })
      .addData(imps, { ad: 1, impAt: s(1) })
      .addData(clicks, { ad: 1, clickAt: s(100) })
      .advanceClock(tick, clock)
      .checkNewRows([])
      .addData(clicks, { ad: 1, clickAt: s(5) })
      .advanceClock(tick, clock)
      .checkNewRows([{ ad: 1, impAt: s(1), clickAt: s(5) }])
      .assert('nothing evicted', (q) => expect(op(q).numRowsTotal).toBe(3))
      .run();
  });
});

describe('stream–stream outer and semi joins', () => {
  it('left outer: an unmatched impression is emitted with nulls once the watermark passes its range', async () => {
    const { clock, imps, clicks, joined } = adJoin('leftOuter');
    await testStream(joined, { trigger })
      .addData(imps, [
        { ad: 1, impAt: s(10) },
        { ad: 2, impAt: s(12) },
      ])
      .addData(clicks, { ad: 1, clickAt: s(15) })
      .advanceClock(tick, clock)
      .checkNewRows([{ ad: 1, impAt: s(10), clickAt: s(15) }])
      .addData(clicks, { ad: 3, clickAt: s(41) }) // watermark → min(41, 41) − 10 = 31: impressions ≤ 11 are done
      .addData(imps, { ad: 9, impAt: s(41) })
      .advanceClock(tick, clock)
      .advanceClock(tick, clock)
      .checkNewRows([]) // ad 1 matched: no null row; ad 2 (12) may still get a click up to 32
      .addData(clicks, { ad: 3, clickAt: s(43) }) // watermark → 33 > 12 + 20
      .addData(imps, { ad: 9, impAt: s(43) })
      .advanceClock(tick, clock)
      .advanceClock(tick, clock)
      .checkNewRows([{ ad: 2, impAt: s(12), clickAt: null }])
      .assert('only the impressions at 41 and 43 are left', (q) =>
        expect(op(q).customMetrics.numLeftStateRows).toBe(2),
      )
      .run();
  });

  it('right outer: an unmatched click is emitted with nulls for the impression columns', async () => {
    const { clock, imps, clicks, joined } = adJoin('rightOuter');
    await testStream(joined, { trigger })
      .addData(imps, { ad: 1, impAt: s(10) })
      .addData(clicks, [
        { ad: 1, clickAt: s(15) },
        { ad: 2, clickAt: s(16) },
      ])
      .advanceClock(tick, clock)
      .checkNewRows([{ ad: 1, impAt: s(10), clickAt: s(15) }])
      .addData(imps, { ad: 9, impAt: s(40) }) // watermark → 30 ≥ 16: no impression can match ad 2's click
      .addData(clicks, { ad: 8, clickAt: s(40) })
      .advanceClock(tick, clock)
      .advanceClock(tick, clock)
      .checkNewRows([{ ad: 2, impAt: null, clickAt: s(16) }])
      .run();
  });

  it('full outer: unmatched rows of both sides, each once', async () => {
    const { clock, imps, clicks, joined } = adJoin('fullOuter');
    await testStream(joined, { trigger })
      .addData(imps, [
        { ad: 1, impAt: s(10) },
        { ad: 2, impAt: s(11) },
      ])
      .addData(clicks, [
        { ad: 1, clickAt: s(12) },
        { ad: 3, clickAt: s(13) },
      ])
      .advanceClock(tick, clock)
      .checkNewRows([{ ad: 1, impAt: s(10), clickAt: s(12) }])
      .addData(imps, { ad: 9, impAt: s(60) })
      .addData(clicks, { ad: 9, clickAt: s(60) })
      .advanceClock(tick, clock)
      .checkNewRows([{ ad: 9, impAt: s(60), clickAt: s(60) }])
      .advanceClock(tick, clock) // watermark 50: everything before is done
      .checkNewRows([
        { ad: 2, impAt: s(11), clickAt: null },
        { ad: 3, impAt: null, clickAt: s(13) },
      ])
      .run();
  });

  it('left semi: an impression with clicks is emitted once, with its own columns only', async () => {
    const { clock, imps, clicks, joined } = adJoin('leftSemi');
    await testStream(joined, { trigger })
      .addData(imps, [
        { ad: 1, impAt: s(10) },
        { ad: 2, impAt: s(11) },
      ])
      .addData(clicks, [
        { ad: 1, clickAt: s(12) },
        { ad: 1, clickAt: s(13) },
      ])
      .advanceClock(tick, clock)
      .checkNewRows([{ ad: 1, impAt: s(10) }])
      .addData(clicks, [
        { ad: 1, clickAt: s(14) },
        { ad: 2, clickAt: s(20) },
        { ad: 2, clickAt: s(21) },
      ])
      .advanceClock(tick, clock)
      .checkNewRows([{ ad: 2, impAt: s(11) }])
      .assert('a semi join output has the left columns', (_q, sink) => {
        expect(Object.keys(sink.allRows()[0]!)).toEqual(['ad', 'impAt']);
      })
      .run();
  });

  it('state, watermark and pending outer rows survive a restart', async () => {
    const { clock, imps, clicks, joined } = adJoin('leftOuter');
    await testStream(joined, { trigger })
      .addData(imps, [
        { ad: 1, impAt: s(10) },
        { ad: 2, impAt: s(12) },
      ])
      .addData(clicks, { ad: 7, clickAt: s(12) })
      .advanceClock(tick, clock)
      .checkNewRows([])
      .stop()
      .start()
      .addData(clicks, { ad: 1, clickAt: s(20) })
      .advanceClock(tick, clock)
      .checkNewRows([{ ad: 1, impAt: s(10), clickAt: s(20) }])
      .stop()
      .start()
      .addData(imps, { ad: 5, impAt: s(50) })
      .addData(clicks, { ad: 5, clickAt: s(50) })
      .advanceClock(tick, clock)
      .advanceClock(tick, clock)
      .checkNewRows([
        { ad: 5, impAt: s(50), clickAt: s(50) },
        { ad: 2, impAt: s(12), clickAt: null },
      ])
      .run();
  });
});

describe('stream–stream join checks at start()', () => {
  const start = (stream: { writeStream: (o: any) => { start(): Promise<unknown> } }, outputMode = 'append') =>
    stream
      .writeStream({ sink: memorySink(), checkpointLocation: tempDir('millrace-join-'), outputMode })
      .start();

  it('refuses an outer join that could never emit its null rows, saying what to add', async () => {
    await expect(start(adJoin('leftOuter', { clickWatermark: false }).joined)).rejects.toThrow(
      /a leftOuter stream–stream join must know when a left row can no longer match, but the right input has no watermark on "clickAt"; add a watermark on the right input's event time/,
    );
    await expect(start(adJoin('rightOuter', { impWatermark: false }).joined)).rejects.toThrow(
      /right row can no longer match, but the left input has no watermark on "impAt"/,
    );
    const session = createSession();
    const a = session.readStream(memoryStream(impSchema)).withWatermark('impAt', '1 second');
    const b = session.readStream(memoryStream(clickSchema)).withWatermark('clickAt', '1 second');
    await expect(start(a.join(b, { on: ['ad'], type: 'fullOuter' }))).rejects.toThrow(
      /the join condition has no event-time range between the two sides/,
    );
    const open = a.join(b, { on: ['ad'], where: (l, r) => r.clickAt.ge(l.impAt), type: 'leftOuter' });
    await expect(start(open)).rejects.toThrow(/does not bound how far later a right row can match/);
  });

  it('refuses update and complete mode, and a condition without an equality', async () => {
    await expect(start(adJoin('inner').joined, 'update')).rejects.toThrow(
      /update output mode is not supported by this query: a stream–stream join emits each joined row once.*use append/,
    );
    const session = createSession();
    const a = session.readStream(memoryStream(impSchema));
    const b = session.readStream(memoryStream(clickSchema)).withColumnRenamed('ad', 'other');
    await expect(start(a.join(b, { on: (l, r) => l.ad.lt(r.other) }))).rejects.toThrow(
      /needs at least one equality between a left and a right column/,
    );
  });

  it('bounds state by the watermarked pair of time columns when the condition relates several', () => {
    // `clickAt <= expiresAt` (no watermark on expiresAt) comes first; the range on impAt, which has
    // a watermark, is the one that can evict — and what reads the join sees the watermark 20 s late.
    const session = createSession();
    const imps = session
      .readStream(memoryStream(schema({ ad: t.long, impAt: t.timestamp, expiresAt: t.timestamp })))
      .withWatermark('impAt', '10 seconds');
    const clicks = session.readStream(memoryStream(clickSchema)).withWatermark('clickAt', '10 seconds');
    const joined = imps.join(clicks, {
      on: ['ad'],
      where: (l, r) =>
        r.clickAt.le(l.expiresAt).and(r.clickAt.between(l.impAt, l.impAt.plus(interval('20 seconds')))),
    });
    const text = joined
      .groupBy(($) => ({ window: window($.impAt, '10 seconds') }))
      .agg({ n: count() })
      .explain();
    expect(text).toMatch(/left state: time <= watermark - 20000 ms, right state: time <= watermark - 0 ms/);
    expect(text).toMatch(/StatefulAggregate .*input watermark − 20000 ms \(after a time-range join\)/);
  });

  it('names clashing columns when they are not the join key', () => {
    const session = createSession();
    const a = session.readStream(memoryStream(impSchema));
    const b = session.readStream(memoryStream(schema({ ad: t.long, impAt: t.timestamp })));
    expect(() => a.join(b, { on: (l, r) => l.ad.eq(r.ad) })).toThrow(
      /both sides have the column\(s\) "ad", "impAt"; rename one side \(withColumnRenamed\) or, if they are the join key, join on them by name: on: \['ad', 'impAt'\]/,
    );
  });
});

describe('joins compose with windows and aggregations (append mode)', () => {
  it('aggregation → join: two windowed counts joined on their window', async () => {
    const clock = new ManualClock(0);
    const session = createSession({ clock });
    const imps = memoryStream(impSchema);
    const clicks = memoryStream(clickSchema);
    const perWindow = (input: typeof imps | typeof clicks, time: 'impAt' | 'clickAt', name: string) =>
      session
        .readStream(input as typeof imps)
        .withWatermark(time as 'impAt', '5 seconds')
        .groupBy(($) => ({ window: window($[time as 'impAt'], '10 seconds') }))
        .agg({ [name]: count() } as { n: ReturnType<typeof count> });
    const impCounts = perWindow(imps, 'impAt', 'n');
    const clickCounts = perWindow(clicks, 'clickAt', 'n').withColumnRenamed('n', 'clicks');
    const joined = impCounts.join(clickCounts, { on: ['window'] });
    await testStream(joined, { trigger })
      .addData(imps, [
        { ad: 1, impAt: s(1) },
        { ad: 2, impAt: s(2) },
        { ad: 3, impAt: s(12) },
      ])
      .addData(clicks, { ad: 1, clickAt: s(3) })
      .advanceClock(tick, clock)
      .addData(imps, { ad: 4, impAt: s(30) })
      .addData(clicks, { ad: 4, clickAt: s(30) })
      .advanceClock(tick, clock)
      .advanceClock(tick, clock)
      .advanceClock(tick, clock)
      .checkNewRows([{ window: { start: s(0), end: s(10) }, n: 2, clicks: 1 }])
      .run();
  });

  it('join → aggregation: matched clicks counted per impression window, after the join rows are final', async () => {
    const { clock, imps, clicks, joined } = adJoin('inner');
    const perWindow = joined
      .groupBy(($) => ({ window: window($.impAt, '10 seconds') }))
      .agg({ clicks: count() });
    await testStream(perWindow, { trigger })
      .addData(imps, [
        { ad: 1, impAt: s(1) },
        { ad: 2, impAt: s(5) },
      ])
      .addData(clicks, [
        { ad: 1, clickAt: s(2) },
        { ad: 1, clickAt: s(3) },
        { ad: 2, clickAt: s(6) },
      ])
      .advanceClock(tick, clock)
      .checkNewRows([])
      .addData(imps, { ad: 3, impAt: s(45) })
      .addData(clicks, { ad: 3, clickAt: s(45) })
      .advanceClock(tick, clock) // watermark 35 s; the count's 35 − 20 (the join's range) = 15 s
      .advanceClock(tick, clock)
      .advanceClock(tick, clock)
      .checkNewRows([{ window: { start: s(0), end: s(10) }, clicks: 3 }])
      .run();
  });

  it("join → aggregation: the aggregation's watermark trails the join's range, so a pair found late still counts", async () => {
    // A click counts up to 20 s after its impression, so the join can still emit a pair whose
    // impression is 20 s behind the watermark; the windowed count downstream reads the watermark
    // 20 s later (Spark 3.5's propagated watermark) and neither drops the pair nor closes early.
    const { clock, imps, clicks, joined } = adJoin('inner');
    const perWindow = joined
      .groupBy(($) => ({ window: window($.impAt, '10 seconds') }))
      .agg({ clicks: count() });
    await testStream(perWindow, { trigger })
      .addData(imps, [
        { ad: 1, impAt: s(1) },
        { ad: 9, impAt: s(30) },
      ])
      .addData(clicks, { ad: 9, clickAt: s(30) })
      .advanceClock(tick, clock) // watermark → 20 s
      .advanceClock(tick, clock)
      .addData(clicks, { ad: 1, clickAt: s(21) }) // not late for the join (21 > 20); joins impression 1 s
      .advanceClock(tick, clock)
      .checkNewRows([]) // [0, 10) stays open: the aggregation's watermark is 20 − 20 = 0
      .addData(imps, { ad: 8, impAt: s(45) })
      .addData(clicks, { ad: 8, clickAt: s(45) })
      .advanceClock(tick, clock) // watermark → 35 s; the aggregation's → 15 s
      .advanceClock(tick, clock)
      .checkNewRows([{ window: { start: s(0), end: s(10) }, clicks: 1 }])
      .run();
  });

  it('dropDuplicates before a join: a repeated click joins once', async () => {
    const clock = new ManualClock(0);
    const session = createSession({ clock });
    const imps = memoryStream(impSchema);
    const clicks = memoryStream(clickSchema);
    const joined = session
      .readStream(imps)
      .withWatermark('impAt', '10 seconds')
      .join(
        session.readStream(clicks).withWatermark('clickAt', '10 seconds').dropDuplicates('ad', 'clickAt'),
        {
          on: ['ad'],
          where: (l, r) => r.clickAt.between(l.impAt, l.impAt.plus(interval('20 seconds'))),
        },
      );
    await testStream(joined, { trigger })
      .addData(imps, { ad: 1, impAt: s(1) })
      .addData(clicks, [
        { ad: 1, clickAt: s(2) },
        { ad: 1, clickAt: s(2) },
      ])
      .advanceClock(tick, clock)
      .addData(clicks, { ad: 1, clickAt: s(2) })
      .advanceClock(tick, clock)
      .checkNewRows([{ ad: 1, impAt: s(1), clickAt: s(2) }])
      .run();
  });
});
