/**
 * Spark's watermark rules, batch by batch, from its EventTimeWatermarkSuite ("watermark with 2
 * streams", "MultipleWatermarkPolicy: min / max / recovery from checkpoints ignores session conf",
 * "test no-data flag"):
 *   - an input that has seen no rows counts as watermark 0 in the global minimum;
 *   - a restart restores the global watermark only, not each input's;
 *   - the multiple-watermark policy is the checkpoint's: a restart asking for another keeps it;
 *   - noDataMicroBatches: false runs no batch without new data.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type MemoryStream,
  type Session,
  type StreamingQuery,
  count,
  createSession,
  memorySink,
  memoryStream,
  schema,
  sum,
  t,
  timestampSeconds,
  window,
} from '../../src/index.ts';
import { cleanupDirs, tempDir } from './helpers.ts';

afterEach(cleanupDirs);

const valueSchema = schema({ value: t.long });
type Input = MemoryStream<{ value: number }>;

/** Each input's values as event times in seconds, watermarked with its own delay. */
function watermarked(session: Session, input: Input, delay: string) {
  return session
    .readStream(input)
    .withColumn('eventTime', ($) => timestampSeconds($.value))
    .withWatermark('eventTime', delay);
}

describe('watermark with 2 streams (Spark: EventTimeWatermarkSuite)', () => {
  it('waits for both inputs, moves by the slower one, and after a restart only by the global one', async () => {
    const session = createSession();
    const first = memoryStream(valueSchema, { name: 'first' });
    const second = memoryStream(valueSchema, { name: 'second' });
    const checkpointLocation = tempDir();
    const start = () =>
      watermarked(session, first, '10 seconds')
        .select('value')
        .union(watermarked(session, second, '5 seconds').select('value'))
        .groupBy()
        .agg(($) => ({ total: sum($.value) }))
        .writeStream({ sink: memorySink(), checkpointLocation, outputMode: 'complete' })
        .start();
    let q: StreamingQuery = await start();
    /** Spark's getWatermarkAfterData: the watermark a dummy batch after the data runs with, in seconds. */
    const after = async (firstData: number[] = [], secondData: number[] = []) => {
      if (firstData.length) first.addData(...firstData.map((value) => ({ value })));
      if (secondData.length) second.addData(...secondData.map((value) => ({ value })));
      await q.processAllAvailable();
      first.addData({ value: 0 });
      await q.processAllAvailable();
      return (Date.parse(q.lastProgress!.eventTime.watermark!) / 1000) | 0;
    };
    // The global watermark stays at 0 until both sides have rows.
    expect(await after([11])).toBe(0);
    expect(await after([], [6])).toBe(1);
    expect(await after([], [8])).toBe(1);
    expect(await after([21])).toBe(3);
    expect(await after([], [17, 28, 39])).toBe(11);
    expect(await after([31])).toBe(21);
    expect(await after([41])).toBe(31);
    expect(await after([51])).toBe(34);
    expect(await after([100], [100])).toBe(90);
    expect(await after([120], [110])).toBe(105);
    expect(await after([130], [125])).toBe(120);
    // It never goes back.
    expect(await after([100], [100])).toBe(120);
    expect(await after([140], [100])).toBe(120);
    expect(await after([100], [135])).toBe(130);
    expect(await after([200], [190])).toBe(185);
    await q.stop();
    // The global watermark survives the restart; the left side's 190, ahead of it, does not.
    q = await start();
    expect(await after()).toBe(185);
    expect(await after([], [200])).toBe(185);
    expect(await after([200])).toBe(190);
    await q.stop();
  });
});

describe('MultipleWatermarkPolicy (Spark: EventTimeWatermarkSuite)', () => {
  /** Spark's dfWithMultipleWatermarks: input1 with 10 s, input2 with 15 s, unioned. */
  function query(session: Session, input1: Input, input2: Input) {
    return watermarked(session, input1, '10 seconds')
      .select('value')
      .union(watermarked(session, input2, '15 seconds').select('value'));
  }
  /** Spark's checkWatermark: add 1 to `input`, run, read the watermark of that batch (seconds). */
  async function watermarkAfterOne(q: StreamingQuery, input: Input): Promise<number> {
    input.addData({ value: 1 });
    await q.processAllAvailable();
    return Date.parse(q.lastProgress!.eventTime.watermark!) / 1000;
  }

  for (const [policy, afterFirst, afterSecond, afterOneInput] of [
    ['min', 10, 110, 110],
    ['max', 15, 115, 140],
  ] as const) {
    it(`${policy}: recovered with the checkpoint, and ${policy === 'min' ? 'does not advance' : 'advances'} when one input has data`, async () => {
      const session = createSession();
      const input1 = memoryStream(valueSchema, { name: 'input1' });
      const input2 = memoryStream(valueSchema, { name: 'input2' });
      const checkpointLocation = tempDir();
      const start = () =>
        query(session, input1, input2)
          .writeStream({ sink: memorySink(), checkpointLocation, watermarkPolicy: policy })
          .start();
      let q = await start();
      input1.addData({ value: 20 });
      input2.addData({ value: 30 });
      await q.processAllAvailable();
      expect(await watermarkAfterOne(q, input1)).toBe(afterFirst);
      await q.stop();
      q = await start();
      expect(await watermarkAfterOne(q, input1)).toBe(afterFirst);
      input1.addData({ value: 120 });
      input2.addData({ value: 130 });
      await q.processAllAvailable();
      expect(await watermarkAfterOne(q, input2)).toBe(afterSecond);
      const one = policy === 'min' ? input2 : input1;
      one.addData({ value: 150 });
      await q.processAllAvailable();
      expect(await watermarkAfterOne(q, one)).toBe(afterOneInput);
      await q.stop();
    });
  }

  it('recovery from a checkpoint ignores the policy asked for: the recorded one stays (with a warning)', async () => {
    const warnings: string[] = [];
    const log = {
      debug: () => undefined,
      info: () => undefined,
      warn: (msg: string) => void warnings.push(msg),
      error: () => undefined,
    };
    const session = createSession({ log });
    const input1 = memoryStream(valueSchema, { name: 'input1' });
    const input2 = memoryStream(valueSchema, { name: 'input2' });
    const checkpointLocation = tempDir();
    const start = (watermarkPolicy: 'min' | 'max') =>
      query(session, input1, input2)
        .writeStream({ sink: memorySink(), checkpointLocation, watermarkPolicy })
        .start();
    let q = await start('max');
    input1.addData({ value: 20 });
    input2.addData({ value: 30 });
    await q.processAllAvailable();
    expect(await watermarkAfterOne(q, input1)).toBe(15);
    await q.stop();
    q = await start('min');
    expect(await watermarkAfterOne(q, input1)).toBe(15);
    input1.addData({ value: 120 });
    input2.addData({ value: 130 });
    await q.processAllAvailable();
    expect(await watermarkAfterOne(q, input1)).toBe(115); // max(110, 115): still 'max'
    input1.addData({ value: 150 });
    await q.processAllAvailable();
    expect(await watermarkAfterOne(q, input1)).toBe(140);
    await q.stop();
    expect(warnings).toContain('keeping the checkpoint’s watermarkPolicy');
  });

  it('refuses a policy other than min or max', async () => {
    const session = createSession();
    const input1 = memoryStream(valueSchema);
    const input2 = memoryStream(valueSchema);
    await expect(
      query(session, input1, input2)
        .writeStream({ sink: memorySink(), watermarkPolicy: 'random' as never })
        .start(),
    ).rejects.toThrow(/watermarkPolicy must be 'min' or 'max', got "random"/);
  });
});

describe('noDataMicroBatches (Spark: "test no-data flag")', () => {
  for (const flag of [true, false]) {
    it(`${flag ? 'on' : 'off'}: a window closed by the watermark is emitted ${flag ? 'at once, by a batch without data' : 'only with the next data'}`, async () => {
      const session = createSession();
      const input = memoryStream(valueSchema);
      const sink = memorySink();
      const q = await watermarked(session, input, '10 seconds')
        .groupBy(($) => ({ window: window($.eventTime, '5 seconds') }))
        .agg(() => ({ count: count() }))
        .select(($) => ({ start: $.window.getField('start'), count: $.count }))
        .writeStream({ sink, noDataMicroBatches: flag })
        .start();
      input.addData(...[10, 11, 12, 13, 14, 15].map((value) => ({ value })));
      await q.processAllAvailable();
      expect(sink.allRows()).toEqual([]);
      input.addData({ value: 25 }); // the watermark moves to 15 s after this batch
      await q.processAllAvailable();
      const emitted = sink.allRows().map((r) => [(r.start as number) / 1000, r.count]);
      expect(emitted).toEqual(flag ? [[10, 5]] : []);
      // On: each batch that moved the watermark is followed by one without data (Spark runs one
      // whenever the watermark passes the last eviction watermark). Off: only the two data batches.
      expect([...new Set(q.recentProgress.map((p) => p.batchId))]).toEqual(flag ? [0, 1, 2, 3] : [0, 1]);
      await q.stop();
    });
  }

  it('refuses a value that is not true or false', async () => {
    const session = createSession();
    await expect(
      session
        .readStream(memoryStream(valueSchema))
        .writeStream({ sink: memorySink(), noDataMicroBatches: 'no' as never })
        .start(),
    ).rejects.toThrow(/noDataMicroBatches must be true or false, got "no"/);
  });
});
