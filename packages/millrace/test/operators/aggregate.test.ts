/**
 * Streaming aggregation semantics, from Spark's documented behaviour:
 * - a batch uses the watermark computed after the previous batch (max event time - delay);
 * - a (row, window) pair is late when window.end <= the previous batch's watermark (Spark 3.4+):
 *   dropped and counted;
 * - append emits a window once the watermark passes its end, then forgets it;
 * - update emits the groups changed in a batch, and forgets windows the watermark passed;
 * - complete emits the whole table every batch and forgets nothing;
 * - when the watermark moves and a window is due, a no-data batch runs.
 * Times below are in seconds; the input column `s` becomes the event time.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Trigger,
  avg,
  count,
  createSession,
  lmdbStateStore,
  max,
  memorySink,
  memoryStream,
  min,
  schema,
  sum,
  t,
  timestampSeconds,
  window,
} from '../../src/index.ts';
import { ManualClock, testStream } from '../../src/testing/index.ts';
import { cleanupDirs, tempDir } from '../execution/helpers.ts';

const session = createSession();
afterEach(cleanupDirs);
const tmp = (): string => tempDir('millrace-agg-');

/** value = event time in seconds; windows of 5 s; watermark 10 s late. */
function windowedCounts(slide?: string) {
  const input = memoryStream(schema({ s: t.long }));
  const counts = session
    .readStream(input)
    .withColumn('eventTime', ($) => timestampSeconds($.s))
    .withWatermark('eventTime', '10 seconds')
    .groupBy(($) => ({ window: window($.eventTime, '5 seconds', slide) }))
    .agg({ count: count() })
    .select(($) => ({ start: $.window, count: $.count }))
    .map(
      (r) => ({ start: (r.start as { start: number }).start / 1000, count: r.count }),
      schema({ start: t.long, count: t.long }),
    );
  return { input, counts };
}

const stateRows = (n: number) => (q: { lastProgress: any }) => {
  expect(q.lastProgress.stateOperators[0].numRowsTotal).toBe(n);
};
/** Late rows dropped by the last batch that had input (a no-data batch may have run after it). */
const dropped = (n: number) => (q: { recentProgress: readonly any[] }) => {
  const withInput = q.recentProgress.filter((p) => p.numInputRows > 0).at(-1);
  expect(withInput.stateOperators[0].numRowsDroppedByWatermark).toBe(n);
};

describe('windowed aggregation with a watermark', () => {
  it('append: a window is emitted once, when the watermark passes its end; late rows are dropped and counted', async () => {
    const { input, counts } = windowedCounts();
    await testStream(counts, { outputMode: 'append' })
      .addData(input, [{ s: 10 }, { s: 11 }, { s: 12 }, { s: 13 }, { s: 14 }, { s: 15 }])
      .checkNewRows([]) // watermark 0 → 5: no window ended yet
      .addData(input, { s: 25 }) // runs with watermark 5; then 15 → no-data batch emits [10,15)
      .checkNewRows([{ start: 10, count: 5 }])
      .assert('two windows in state: [15,20) and [25,30)', stateRows(2))
      .assert('nothing dropped yet', dropped(0))
      .addData(input, { s: 10 }) // window [10,15) ended at 15 <= watermark 15: late
      .checkNewRows([])
      .assert('state unchanged', stateRows(2))
      .assert('one late row', dropped(1))
      .run();
  });

  it('update: changed groups every batch; windows the watermark passed are forgotten', async () => {
    const { input, counts } = windowedCounts();
    await testStream(counts, { outputMode: 'update' })
      .addData(input, [{ s: 10 }, { s: 11 }, { s: 12 }, { s: 13 }, { s: 14 }, { s: 15 }])
      .checkNewRows([
        { start: 10, count: 5 },
        { start: 15, count: 1 },
      ])
      .addData(input, { s: 25 }) // watermark 5 during the batch, 15 after: [10,15) evicted by the no-data batch
      .checkNewRows([{ start: 25, count: 1 }])
      .assert('[15,20) and [25,30) remain', stateRows(2))
      .addData(input, [{ s: 10 }, { s: 25 }, { s: 26 }, { s: 27 }]) // 10 is late
      .checkNewRows([{ start: 25, count: 4 }])
      .assert('one late row', dropped(1))
      .addData(input, { s: 40 }) // watermark → 30: [15,20) and [25,30) evicted
      .checkNewRows([{ start: 40, count: 1 }])
      .assert('only [40,45) remains', stateRows(1))
      .run();
  });

  it('complete: the whole table every batch, nothing evicted, late rows aggregated (Spark: "complete mode")', async () => {
    // EventTimeWatermarkSuite "complete mode": no eviction, and no late-row dropping either.
    const { input, counts } = windowedCounts();
    await testStream(counts, { outputMode: 'complete' })
      .addData(input, [{ s: 10 }, { s: 11 }, { s: 12 }])
      .checkLastBatch([{ start: 10, count: 3 }])
      .addData(input, { s: 25 })
      .checkLastBatch([
        { start: 10, count: 3 },
        { start: 25, count: 1 },
      ])
      .addData(input, { s: 25 }) // the watermark is 15 from here on
      .checkLastBatch([
        { start: 10, count: 3 },
        { start: 25, count: 2 },
      ])
      .addData(input, { s: 10 }) // behind the watermark: still counted in complete mode
      .checkLastBatch([
        { start: 10, count: 4 },
        { start: 25, count: 2 },
      ])
      .addData(input, { s: 25 })
      .checkLastBatch([
        { start: 10, count: 4 },
        { start: 25, count: 3 },
      ])
      .assert('both windows kept', stateRows(2))
      .assert('nothing dropped', dropped(0))
      .run();
  });

  it('counts each late group once per batch, not each late row (Spark counts the late groups its save step receives)', async () => {
    const { input, counts } = windowedCounts();
    await testStream(counts, { outputMode: 'update' })
      .addData(input, [{ s: 10 }, { s: 11 }, { s: 25 }])
      .processAllAvailable() // the watermark is 15 from here on
      .addData(input, [{ s: 10 }, { s: 11 }, { s: 12 }, { s: 7 }, { s: 26 }])
      .processAllAvailable()
      .assert('two late windows: [10, 15) with three rows, [5, 10) with one', dropped(2))
      .run();
  });

  it('update: after a watermark jump, a row behind only the new watermark updates its window, which is then evicted', async () => {
    // Two data batches back to back (a processing-time trigger on a manual clock: data is there at
    // the tick, so no batch without data runs between them).
    const clock = new ManualClock(0);
    const input = memoryStream(schema({ s: t.long }));
    const counts = createSession({ clock })
      .readStream(input)
      .withColumn('eventTime', ($) => timestampSeconds($.s))
      .withWatermark('eventTime', '10 seconds')
      .groupBy(($) => ({ window: window($.eventTime, '5 seconds') }))
      .agg({ count: count() })
      .select(($) => ({ start: $.window.getField('start'), count: $.count }));
    const at = (sec: number) => sec * 1000;
    await testStream(counts, { outputMode: 'update', trigger: Trigger.processingTime(100) })
      .addData(input, { s: 10 })
      .advanceClock(100, clock)
      .checkNewRows([{ start: at(10), count: 1 }])
      .addData(input, { s: 30 }) // runs with watermark 0; 20 after it
      .advanceClock(100, clock)
      .checkNewRows([{ start: at(30), count: 1 }])
      .addData(input, { s: 12 }) // runs with 20 (evicts [10,15)); late only at or below 0: counted
      .advanceClock(100, clock)
      .checkNewRows([{ start: at(10), count: 2 }])
      .assert('[10,15) evicted after the update; [30,35) remains', stateRows(1))
      .assert('nothing dropped', dropped(0))
      .run();
  });

  it('sliding windows: a row counts in every window that contains it', async () => {
    const { input, counts } = windowedCounts('1 second');
    await testStream(counts, { outputMode: 'update' })
      .addData(input, { s: 12 })
      .checkNewRows([8, 9, 10, 11, 12].map((start) => ({ start, count: 1 })))
      .run();
  });

  it('state and watermark survive a restart: no window lost, none emitted twice', async () => {
    const { input, counts } = windowedCounts();
    await testStream(counts, { outputMode: 'append' })
      .addData(input, [{ s: 10 }, { s: 11 }])
      .checkNewRows([])
      .stop()
      .start()
      .addData(input, [{ s: 12 }, { s: 26 }]) // after the restart: [10,15) has 3 rows; watermark → 16
      .checkNewRows([{ start: 10, count: 3 }])
      .stop()
      .start()
      .addData(input, { s: 11 }) // the restored watermark (16) makes it late
      .checkNewRows([])
      .assert('the late row was dropped after a restart', dropped(1))
      .run();
  });
});

describe('aggregation without a watermark', () => {
  const words = () => memoryStream(schema({ word: t.string, n: t.long }));

  it('complete mode: running counts of the whole table', async () => {
    const input = words();
    const counts = session.readStream(input).groupBy('word').count();
    await testStream(counts, { outputMode: 'complete' })
      .addData(input, [
        { word: 'a', n: 1 },
        { word: 'b', n: 2 },
        { word: 'a', n: 3 },
      ])
      .checkLastBatch([
        { word: 'a', count: 2 },
        { word: 'b', count: 1 },
      ])
      .addData(input, { word: 'a', n: 4 })
      .checkLastBatch([
        { word: 'a', count: 3 },
        { word: 'b', count: 1 },
      ])
      .run();
  });

  it('runs on the LMDB state store too, across a restart (public API)', async () => {
    const input = words();
    const counts = session.readStream(input).groupBy('word').count();
    await testStream(counts, { outputMode: 'complete', writeOptions: { stateStore: lmdbStateStore() } })
      .addData(input, [
        { word: 'a', n: 1 },
        { word: 'b', n: 1 },
      ])
      .checkLastBatch([
        { word: 'a', count: 1 },
        { word: 'b', count: 1 },
      ])
      .stop()
      .start()
      .addData(input, { word: 'a', n: 2 })
      .checkLastBatch([
        { word: 'a', count: 2 },
        { word: 'b', count: 1 },
      ])
      .run();
  });

  it('update mode: only the groups that changed', async () => {
    const input = words();
    const stats = session
      .readStream(input)
      .groupBy('word')
      .agg(($) => ({ n: count(), total: sum($.n), lo: min($.n), hi: max($.n), mean: avg($.n) }));
    await testStream(stats, { outputMode: 'update' })
      .addData(input, [
        { word: 'a', n: 1 },
        { word: 'b', n: 2 },
        { word: 'a', n: 3 },
      ])
      .checkNewRows([
        { word: 'a', n: 2, total: 4, lo: 1, hi: 3, mean: 2 },
        { word: 'b', n: 1, total: 2, lo: 2, hi: 2, mean: 2 },
      ])
      .addData(input, { word: 'b', n: 10 })
      .checkNewRows([{ word: 'b', n: 2, total: 12, lo: 2, hi: 10, mean: 6 }])
      .run();
  });

  it('append mode is refused at start(), saying what to add', async () => {
    const input = words();
    const counts = session.readStream(input).groupBy('word').count();
    await expect(counts.writeStream({ sink: memorySink(), outputMode: 'append' }).start()).rejects.toThrow(
      /append output mode is not supported.*no watermarked event-time key.*withWatermark/,
    );
  });

  it('a replayed batch does not count twice (state is re-opened at the batch version)', async () => {
    const input = words();
    const counts = session.readStream(input).groupBy('word').count();
    const checkpointLocation = tmp();
    const sink = memorySink<{ word: string; count: number }>();
    const start = () => counts.writeStream({ sink, checkpointLocation, outputMode: 'complete' }).start();
    let q = await start();
    input.addData({ word: 'a', n: 1 }, { word: 'b', n: 1 });
    await q.processAllAvailable();
    input.addData({ word: 'a', n: 2 });
    await q.processAllAvailable();
    await q.stop();
    // As if the process died after the state and the sink were written but before commits/1.
    await fsp.rm(path.join(checkpointLocation, 'commits', '1'));
    q = await start();
    await q.processAllAvailable();
    await q.stop();
    expect(sink.lastBatch().sort((x, y) => x.word.localeCompare(y.word))).toEqual([
      { word: 'a', count: 2 },
      { word: 'b', count: 1 },
    ]);
  });

  it('progress reports the state operator', async () => {
    const input = words();
    input.addData({ word: 'x', n: 1 }, { word: 'y', n: 1 }, { word: 'x', n: 2 });
    const q = await session
      .readStream(input)
      .groupBy('word')
      .count()
      .writeStream({ sink: memorySink(), outputMode: 'update', trigger: Trigger.availableNow() })
      .start();
    await q.awaitTermination();
    const p = q.recentProgress.at(-1)!;
    expect(p.stateOperators).toHaveLength(1);
    expect(p.stateOperators[0]).toMatchObject({
      operatorName: 'aggregate-0',
      numRowsTotal: 2,
      numRowsUpdated: 2,
      numRowsRemoved: 0,
      numRowsDroppedByWatermark: 0,
    });
  });
});

describe('explain', () => {
  it('shows the aggregation in the logical and physical plans', () => {
    const { counts } = windowedCounts();
    const text = counts.explain();
    expect(text).toMatch(
      /Aggregate \[window\(eventTime, 5000, 5000, 0\) AS window\], \[count\(\*\) AS count\]/,
    );
    expect(text).toMatch(/StatefulAggregate aggregate-0/);
  });
});
