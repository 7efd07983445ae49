/**
 * Streaming deduplication semantics, from Spark's documented behaviour
 * (Structured Streaming guide, "Streaming Deduplication"; Dataset.dropDuplicates
 * and, since 3.5, dropDuplicatesWithinWatermark):
 * - the first row of a key is emitted, later rows with the same key are dropped —
 *   within one batch (first occurrence wins) and across batches;
 * - dropDuplicates with the watermarked event-time column among the keys: a row is
 *   late when eventTime <= watermark (dropped, counted), and a key's state is
 *   dropped once the watermark passes its event time; without it, state is kept forever;
 * - dropDuplicatesWithinWatermark(keys): the key leaves out the event time; a key
 *   holds until the watermark reaches the first row's event time + the watermark delay;
 * - a batch uses the watermark computed after the previous batch (max event time - delay);
 *   when it moves, a no-data batch evicts state;
 * - dedup queries run in append and update modes; complete needs an aggregation;
 *   dedup after an aggregation is refused.
 * Times below are in seconds; the input column `s` becomes the event time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  Trigger,
  count,
  createSession,
  memorySink,
  memoryStream,
  schema,
  t,
  timestampSeconds,
} from '../../src/index.ts';
import { lmdbStateStore } from '../../src/state/index.ts';
import { ManualClock, testStream } from '../../src/testing/index.ts';
import { cleanupDirs, tempDir } from '../execution/helpers.ts';
import { encodeValue, keyEncoder, MAX_PLAIN_KEY } from '../../src/operators/dedup/keyEncoding.ts';

const session = createSession();
afterEach(cleanupDirs);
const tmp = (): string => tempDir('millrace-dedup-');

const events = () => memoryStream(schema({ id: t.string, s: t.long }));

/** `eventTime` (from `s`) with a 10 s watermark delay. */
function timed(input: ReturnType<typeof events>) {
  return session
    .readStream(input)
    .withColumn('eventTime', ($) => timestampSeconds($.s))
    .withWatermark('eventTime', '10 seconds');
}

type Q = { lastProgress: any; recentProgress: readonly any[] };
const stateRows = (n: number) => (q: Q) => {
  expect(q.lastProgress.stateOperators[0].numRowsTotal).toBe(n);
};
/** The state-operator progress of the last batch that had input (a no-data batch may have run after it). */
const lastWithInput = (q: Q) => q.recentProgress.filter((p) => p.numInputRows > 0).at(-1).stateOperators[0];
const dropped = (late: number, duplicates: number) => (q: Q) => {
  const op = lastWithInput(q);
  expect(op.numRowsDroppedByWatermark).toBe(late);
  expect(op.customMetrics.numDroppedDuplicateRows).toBe(duplicates);
};

describe('dropDuplicates without a watermark', () => {
  it('keeps the first row per key, within a batch and across batches', async () => {
    const input = events();
    const q = session.readStream(input).dropDuplicates('id');
    await testStream(q, { outputMode: 'append' })
      // a@1 is first; a@2 has the same key in the same batch: dropped.
      .addData(input, [
        { id: 'a', s: 1 },
        { id: 'a', s: 2 },
        { id: 'b', s: 1 },
      ])
      .checkNewRows([
        { id: 'a', s: 1 },
        { id: 'b', s: 1 },
      ])
      .assert('one duplicate dropped, nothing late', dropped(0, 1))
      // a was seen in the previous batch: dropped; c is new.
      .addData(input, [
        { id: 'a', s: 3 },
        { id: 'c', s: 3 },
      ])
      .checkNewRows([{ id: 'c', s: 3 }])
      .assert('one duplicate dropped', dropped(0, 1))
      // No watermarked key column: state only grows (a, b, c).
      .assert('three keys in state', stateRows(3))
      .run();
  });

  it('with no columns, the whole row is the key', async () => {
    const input = events();
    const q = session.readStream(input).dropDuplicates();
    await testStream(q, { outputMode: 'update' }) // update mode: same rows as append for a dedup
      .addData(input, [
        { id: 'a', s: 1 },
        { id: 'a', s: 1 }, // the same row again: dropped
        { id: 'a', s: 2 }, // differs in s: kept
      ])
      .checkNewRows([
        { id: 'a', s: 1 },
        { id: 'a', s: 2 },
      ])
      .addData(input, { id: 'a', s: 2 }) // seen in batch 0: dropped
      .checkNewRows([])
      .run();
  });

  it('the state survives a restart: a key seen before the stop is still a duplicate', async () => {
    const input = events();
    const q = session.readStream(input).dropDuplicates('id');
    await testStream(q)
      .addData(input, { id: 'a', s: 1 })
      .checkNewRows([{ id: 'a', s: 1 }])
      .stop()
      .start()
      .addData(input, [
        { id: 'a', s: 2 }, // restored state knows a
        { id: 'b', s: 2 },
      ])
      .checkNewRows([{ id: 'b', s: 2 }])
      .run();
  });

  it('keys compare by value: NaN equals NaN, -0 equals 0, null is its own key', async () => {
    const input = memoryStream(schema({ x: t.double.orNull() }));
    const q = session.readStream(input).dropDuplicates('x');
    await testStream(q)
      .addData(input, [{ x: NaN }, { x: NaN }, { x: null }, { x: null }, { x: 0 }, { x: -0 }])
      // Spark's grouping equality: one NaN, one null, one zero (the first, 0).
      .checkNewRows([{ x: NaN }, { x: null }, { x: 0 }])
      .run();
  });

  it('works on the LMDB state store, long keys included', async () => {
    const input = events();
    const q = session.readStream(input).dropDuplicates('id');
    const long = 'x'.repeat(2500); // past LMDB's ~2 KB key limit: stored as a digest
    await testStream(q, { writeOptions: { stateStore: lmdbStateStore() } })
      .addData(input, [
        { id: long, s: 1 },
        { id: 'a', s: 1 },
        { id: long, s: 2 }, // same batch: dropped
      ])
      .checkNewRows([
        { id: long, s: 1 },
        { id: 'a', s: 1 },
      ])
      .addData(input, [
        { id: long, s: 3 }, // committed state (LMDB) knows both keys
        { id: 'a', s: 3 },
        { id: 'b', s: 3 },
      ])
      .checkNewRows([{ id: 'b', s: 3 }])
      .assert('long, a and b in state', stateRows(3))
      .run();
  });
});

describe('dropDuplicates with the watermarked event time among the keys', () => {
  it('state shrinks as the watermark passes; late rows are dropped and counted', async () => {
    const input = events();
    const q = timed(input).dropDuplicates('id', 'eventTime').select('id', 's');
    await testStream(q)
      // Watermark 0: nothing is late. Keys (a,10), (b,11), (a,12): (a,10) twice → one duplicate.
      .addData(input, [
        { id: 'a', s: 10 },
        { id: 'a', s: 10 },
        { id: 'b', s: 11 },
        { id: 'a', s: 12 },
      ])
      .checkNewRows([
        { id: 'a', s: 10 },
        { id: 'b', s: 11 },
        { id: 'a', s: 12 },
      ])
      .assert('one duplicate', dropped(0, 1))
      // Watermark now 12 - 10 = 2: every key is newer, all three stay.
      .assert('three keys held', stateRows(3))
      // Runs with watermark 2: (a,10) is still held → duplicate; c@25 is new.
      // Afterwards the watermark is 25 - 10 = 15 and a no-data batch evicts 10, 11, 12.
      .addData(input, [
        { id: 'a', s: 10 },
        { id: 'c', s: 25 },
      ])
      .checkNewRows([{ id: 'c', s: 25 }])
      .assert('one duplicate', dropped(0, 1))
      .assert('only (c,25) left', stateRows(1))
      .assert('the no-data batch removed three keys', (q) => {
        expect(q.lastProgress?.numInputRows).toBe(0);
        expect(q.lastProgress?.stateOperators[0]?.numRowsRemoved).toBe(3);
      })
      // Watermark 15: a@10 and b@15 are late (eventTime <= watermark), d@16 is not.
      .addData(input, [
        { id: 'a', s: 10 },
        { id: 'b', s: 15 },
        { id: 'd', s: 16 },
      ])
      .checkNewRows([{ id: 'd', s: 16 }])
      .assert('two late rows, no duplicate', dropped(2, 0))
      .assert('(c,25) and (d,16)', stateRows(2))
      .run();
  });

  it('state and watermark survive a restart', async () => {
    const input = events();
    const q = timed(input).dropDuplicates('id', 'eventTime').select('id', 's');
    await testStream(q)
      .addData(input, [
        { id: 'a', s: 10 },
        { id: 'b', s: 30 },
      ])
      .checkNewRows([
        { id: 'a', s: 10 },
        { id: 'b', s: 30 },
      ])
      // The watermark is now 20: (a,10) evicted, (b,30) held.
      .stop()
      .start()
      .addData(input, [
        { id: 'b', s: 30 }, // restored state: duplicate
        { id: 'a', s: 10 }, // restored watermark 20: late
        { id: 'c', s: 31 },
      ])
      .checkNewRows([{ id: 'c', s: 31 }])
      .assert('one late, one duplicate', dropped(1, 1))
      .run();
  });
});

describe('dropDuplicatesWithinWatermark', () => {
  it('a key holds until the watermark reaches its first event time + the delay', async () => {
    const input = events();
    const q = timed(input).dropDuplicatesWithinWatermark('id').select('id', 's');
    await testStream(q)
      // Watermark 0. a@10 first (holds until 10 + 10 = 20), a@12 same key → duplicate
      // even though its event time differs; b@11 holds until 21.
      .addData(input, [
        { id: 'a', s: 10 },
        { id: 'a', s: 12 },
        { id: 'b', s: 11 },
      ])
      .checkNewRows([
        { id: 'a', s: 10 },
        { id: 'b', s: 11 },
      ])
      .assert('one duplicate', dropped(0, 1))
      .assert('a and b held', stateRows(2))
      // Watermark 2: a still held (20 > 2) → a@15 dropped. Afterwards the watermark is
      // 31 - 10 = 21: a (20 <= 21) and b (21 <= 21) expire in the no-data batch.
      .addData(input, [
        { id: 'a', s: 15 },
        { id: 'c', s: 31 },
      ])
      .checkNewRows([{ id: 'c', s: 31 }])
      .assert('one duplicate', dropped(0, 1))
      .assert('only c held', stateRows(1))
      // Watermark 21: a@22 is not late and a has expired → emitted again (a new first row);
      // b@21 is late (21 <= 21): dropped and counted.
      .addData(input, [
        { id: 'a', s: 22 },
        { id: 'b', s: 21 },
      ])
      .checkNewRows([{ id: 'a', s: 22 }])
      .assert('one late row', dropped(1, 0))
      .assert('c (until 41) and a (until 32) held', stateRows(2))
      // Watermark 21 → 43 - 10 = 33 after this batch: a (32) expires in the no-data batch; c (41) and d (53) stay.
      .addData(input, { id: 'd', s: 43 })
      .checkNewRows([{ id: 'd', s: 43 }])
      .assert('c and d held', stateRows(2))
      .run();
  });

  it('an expired key no longer holds even before a batch evicted it', async () => {
    // With a processing-time trigger, a batch with data can run right after the watermark
    // moved, before any no-data batch evicted the expired keys. The key still counts as
    // expired (first event time + delay <= watermark): the row is a new first row.
    const clock = new ManualClock(Date.UTC(2025, 0, 1));
    const clocked = createSession({ clock });
    const input = events();
    const q = clocked
      .readStream(input)
      .withColumn('eventTime', ($) => timestampSeconds($.s))
      .withWatermark('eventTime', '10 seconds')
      .dropDuplicatesWithinWatermark('id')
      .select('id', 's');
    await testStream(q, { trigger: Trigger.processingTime(100) })
      .advanceClock(0, clock)
      .addData(input, { id: 'a', s: 10 }) // a holds until 20
      .advanceClock(100, clock)
      .checkNewRows([{ id: 'a', s: 10 }])
      .addData(input, { id: 'c', s: 31 }) // runs with watermark 0; afterwards 21: a has expired
      .advanceClock(100, clock)
      .checkNewRows([{ id: 'c', s: 31 }])
      .addData(input, { id: 'a', s: 25 }) // the next tick has data: it runs at 21 with a still stored
      .advanceClock(100, clock)
      .checkNewRows([{ id: 'a', s: 25 }])
      .assert('a (now until 35) and c held', stateRows(2))
      .run();
    await clocked.streams.stopAll();
  });

  it('the state survives a restart', async () => {
    const input = events();
    const q = timed(input).dropDuplicatesWithinWatermark('id').select('id', 's');
    await testStream(q)
      .addData(input, { id: 'a', s: 10 })
      .checkNewRows([{ id: 'a', s: 10 }])
      .stop()
      .start()
      .addData(input, [
        { id: 'a', s: 11 }, // held until 20, watermark 0: duplicate
        { id: 'b', s: 11 },
      ])
      .checkNewRows([{ id: 'b', s: 11 }])
      .run();
  });

  it('needs a watermark, and says so where the call is written', () => {
    const s = session.readStream(events());
    expect(() => s.dropDuplicatesWithinWatermark('id')).toThrow(
      /dropDuplicatesWithinWatermark\(id\): the input has no watermark; call withWatermark/,
    );
  });
});

describe('output modes', () => {
  it('complete mode is refused at start(), saying what works', async () => {
    const q = session.readStream(events()).dropDuplicates('id');
    await expect(q.writeStream({ sink: memorySink(), outputMode: 'complete' }).start()).rejects.toThrow(
      /complete output mode is not supported by this query: dropDuplicates\(id\) emits each row once.*complete mode needs an aggregation.*use append or update/,
    );
  });

  it('a dedup after an aggregation is refused', async () => {
    const q = session.readStream(events()).groupBy('id').count().dropDuplicates('count');
    await expect(q.writeStream({ sink: memorySink(), outputMode: 'update' }).start()).rejects.toThrow(
      /dropDuplicates\(count\) after an aggregation is not supported/,
    );
  });

  it('a dedup below an aggregation runs in the aggregation’s modes (here complete)', async () => {
    const input = events();
    const q = session.readStream(input).dropDuplicates('id', 's').groupBy('id').count();
    await testStream(q, { outputMode: 'complete' })
      // (a,1) twice counts once: a → 2 distinct rows, b → 1.
      .addData(input, [
        { id: 'a', s: 1 },
        { id: 'a', s: 1 },
        { id: 'a', s: 2 },
        { id: 'b', s: 1 },
      ])
      .checkLastBatch([
        { id: 'a', count: 2 },
        { id: 'b', count: 1 },
      ])
      .addData(input, { id: 'a', s: 1 }) // already seen: the count stays
      .checkLastBatch([
        { id: 'a', count: 2 },
        { id: 'b', count: 1 },
      ])
      .run();
  });
});

describe('explain and progress', () => {
  it('explain shows the dedup in the logical and physical plans', () => {
    const input = events();
    const text = timed(input).dropDuplicates('id', 'eventTime').explain();
    expect(text).toContain('Deduplicate [id, eventTime]');
    expect(text).toMatch(
      /StreamingDeduplicate dedup-0 keys=\[id, eventTime\] eventTime=eventTime \(state expires when eventTime <= watermark\)/,
    );
    const within = timed(input).dropDuplicatesWithinWatermark('id').groupBy('id').count().explain();
    expect(within).toContain('DeduplicateWithinWatermark [id]');
    // Operator ids count the stateful operators in plan order: the dedup is below the aggregation.
    expect(within).toMatch(
      /StreamingDeduplicateWithinWatermark dedup-0 keys=\[id\] eventTime=eventTime, delay=10000 ms/,
    );
    expect(within).toMatch(/StatefulAggregate aggregate-1/);
    expect(session.readStream(input).dropDuplicates('id').explain()).toMatch(
      /StreamingDeduplicate dedup-0 keys=\[id\] state: unbounded/,
    );
  });

  it('progress reports the operator and its custom metric', async () => {
    const input = events();
    input.addData({ id: 'x', s: 1 }, { id: 'y', s: 1 }, { id: 'x', s: 2 });
    const q = await session
      .readStream(input)
      .dropDuplicates('id')
      .writeStream({ sink: memorySink(), checkpointLocation: tmp(), trigger: Trigger.availableNow() })
      .start();
    await q.awaitTermination();
    expect(q.recentProgress.at(-1)!.stateOperators[0]).toMatchObject({
      operatorName: 'dedup-0',
      numRowsTotal: 2, // x, y
      numRowsUpdated: 2, // two new keys
      numRowsRemoved: 0,
      numRowsDroppedByWatermark: 0,
      customMetrics: { numDroppedDuplicateRows: 1 }, // the second x
    });
  });

  it('with an aggregation above it, both operators report', async () => {
    const input = events();
    input.addData({ id: 'x', s: 1 }, { id: 'x', s: 1 });
    const q = await session
      .readStream(input)
      .dropDuplicates()
      .groupBy('id')
      .agg({ n: count() })
      .writeStream({ sink: memorySink(), outputMode: 'update', trigger: Trigger.availableNow() })
      .start();
    await q.awaitTermination();
    expect(q.recentProgress.at(-1)!.stateOperators.map((o) => o.operatorName)).toEqual([
      'dedup-0',
      'aggregate-1',
    ]);
  });
});

describe('key encoding', () => {
  it('is unambiguous and canonical', () => {
    expect(encodeValue(NaN)).not.toBe(encodeValue(null));
    expect(encodeValue(-0)).toBe(encodeValue(0));
    expect(encodeValue({ a: 1, b: [2, 'x'] })).toBe(encodeValue({ b: [2, 'x'], a: 1 }));
    expect(encodeValue(new Uint8Array([1, 2]))).not.toBe(encodeValue([1, 2]));
    const s = schema({ a: t.string, b: t.string });
    const key = keyEncoder(s, ['a', 'b']);
    // A comma inside a value cannot shift the boundary between columns.
    expect(key({ a: 'x,"y', b: 'z' })).not.toBe(key({ a: 'x', b: 'y",z' }));
    expect(key({ a: 'x'.repeat(MAX_PLAIN_KEY), b: '' }).length).toBeLessThan(MAX_PLAIN_KEY);
  });
});
