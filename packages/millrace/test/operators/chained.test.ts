/**
 * Chained stateful operators (Spark 3.5): an aggregation over the output of another, in append
 * mode. The second one reads the first's `window` column as event time (its end - 1) and decides
 * lateness with the previous batch's watermark, so rows the first emits in a batch — final exactly
 * because the watermark passed them — are not dropped as late downstream.
 */
import { describe, expect, it } from 'vitest';
import {
  count,
  createSession,
  memorySink,
  memoryStream,
  schema,
  sum,
  t,
  timestampMillis,
  timestampSeconds,
  window,
} from '../../src/index.ts';
import { testStream } from '../../src/testing/index.ts';

const session = createSession();

function twoLevels() {
  const input = memoryStream(schema({ s: t.long, word: t.string }));
  const perWord = session
    .readStream(input)
    .withColumn('t', ($) => timestampSeconds($.s))
    .withWatermark('t', '0 seconds')
    .groupBy(($) => ({ window: window($.t, '5 seconds'), word: $.word }))
    .agg({ n: count() });
  // Spark's guide: windowedCounts.groupBy(window($"window", "10 minutes")).sum("count")
  const perTenSeconds = perWord
    .groupBy(($) => ({ window: window($.window, '10 seconds') }))
    .agg(($) => ({ total: sum($.n) }))
    .map(
      (r) => ({ start: r.window.start / 1000, total: r.total }),
      schema({ start: t.long, total: t.long.orNull() }),
    );
  return { input, perWord, perTenSeconds };
}

describe('chained aggregations', () => {
  it('a second windowed aggregation over the first one’s windows, in append mode', async () => {
    const { input, perTenSeconds } = twoLevels();
    await testStream(perTenSeconds, { outputMode: 'append' })
      // batch: [0,5) a:2, [5,10) a:1 upstream; watermark → 6. No-data batch at 6: upstream emits
      // [0,5) (end 5 ≤ 6); downstream puts it in [0,10) (not late: previous watermark 0).
      .addData(input, [
        { s: 1, word: 'a' },
        { s: 2, word: 'a' },
        { s: 6, word: 'a' },
      ])
      .checkNewRows([])
      // 11 → [10,15). Watermark → 11. No-data batch at 11: upstream emits [5,10) (end 10 ≤ 11);
      // downstream adds it to [0,10) — late only if end 10 ≤ the previous watermark 6: no — then
      // evicts at 11: emits [0,10) with 2 + 1.
      .addData(input, { s: 11, word: 'b' })
      .checkNewRows([{ start: 0, total: 3 }])
      .assert('two stateful operators report progress', (q) => {
        expect(q.lastProgress!.stateOperators.map((o) => o.operatorName)).toEqual([
          'aggregate-0',
          'aggregate-1',
        ]);
      })
      .stop()
      .start()
      // After a restart the watermarks continue: 25 → watermark 25 closes [10,15) upstream, then
      // [10,20) downstream in the next no-data batch.
      .addData(input, { s: 25, word: 'c' })
      .checkNewRows([{ start: 10, total: 1 }])
      .run();
  });

  it('grouping by the upstream window itself: final when the watermark reaches its end, even 1 ms past the previous one', async () => {
    const input = memoryStream(schema({ ms: t.long, word: t.string }));
    const perWord = session
      .readStream(input)
      .withColumn('t', ($) => timestampMillis($.ms))
      .withWatermark('t', '0 seconds')
      .groupBy(($) => ({ window: window($.t, '10 seconds'), word: $.word }))
      .agg({ n: count() });
    const perWindow = perWord
      .groupBy('window')
      .agg(($) => ({ words: count(), total: sum($.n) }))
      .map(
        (r) => ({ start: r.window.start, words: r.words, total: r.total }),
        schema({ start: t.long, words: t.long, total: t.long.orNull() }),
      );
    await testStream(perWindow, { outputMode: 'append' })
      // watermark → 9,999 ms: window [0, 10,000) is not final yet (its end is past the watermark)
      .addData(input, [
        { ms: 1_000, word: 'a' },
        { ms: 9_999, word: 'b' },
      ])
      .checkNewRows([])
      // watermark → 20,000: the upstream emits [0, 10,000) for a and b; downstream it is not late
      // (end 10,000 > previous watermark 9,999 — its last instant, 9,999, would have been) and final
      .addData(input, { ms: 20_000, word: 'c' })
      .checkNewRows([{ start: 0, words: 2, total: 2 }])
      .run();
  });

  it('is refused in update and complete mode, and without a watermarked key', async () => {
    const { perTenSeconds } = twoLevels();
    for (const outputMode of ['update', 'complete'] as const) {
      await expect(perTenSeconds.writeStream({ sink: memorySink(), outputMode }).start()).rejects.toThrow(
        /chains 2 aggregations.*append mode/,
      );
    }
    const { perWord } = twoLevels();
    const byWord = perWord.groupBy('word').agg(($) => ({ total: sum($.n) }));
    await expect(byWord.writeStream({ sink: memorySink(), outputMode: 'append' }).start()).rejects.toThrow(
      /chained aggregations need a watermarked event-time key/,
    );
  });
});
