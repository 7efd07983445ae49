/**
 * Keyed state with timers: `groupByKey(…).processWithState(…)`, after Spark's
 * transformWithState / flatMapGroupsWithState and Flink's KeyedProcessFunction:
 * - process(key, rows, state, ctx) runs once per key with rows in a batch; state persists
 *   across batches and restarts; remove() drops it;
 * - event-time timers fire once the watermark reaches them (time <= watermark), in a
 *   no-data batch when the watermark moved; processing-time timers once the batch
 *   timestamp reaches them; they fire after the batch's data, and firing removes them;
 * - TTL: a key's state expires ttl after it was last set (processing time);
 * - rows at or below the watermark are not dropped (as in Spark);
 * - the declared output mode must be the query's; complete is refused.
 * Times in the event-time tests are in seconds; `s` becomes the event time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  Trigger,
  createSession,
  memorySink,
  memoryStream,
  schema,
  t,
  timestampSeconds,
  type ProcessWithStateOptions,
} from '../../src/index.ts';
import { lmdbStateStore } from '../../src/state/index.ts';
import { ManualClock, testStream } from '../../src/testing/index.ts';
import { cleanupDirs, tempDir } from '../execution/helpers.ts';

const session = createSession();
afterEach(cleanupDirs);
const tmp = (): string => tempDir('millrace-keyed-');

const events = () => memoryStream(schema({ user: t.string, n: t.long }));
const totals = schema({ user: t.string, total: t.long });
type Total = { user: string; total: number };

type Q = { lastProgress: any; recentProgress: readonly any[] };
const op = (q: Q) => q.lastProgress.stateOperators[0];

/** Running total per user; a row with n = -1 removes the user's state. */
function runningTotals(input: ReturnType<typeof events>, name?: string) {
  return session
    .readStream(input)
    .groupByKey('user')
    .processWithState<{ total: number }, Total>({
      ...(name ? { name } : {}),
      outputSchema: totals,
      outputMode: 'update',
      timeMode: 'none',
      process(user, rows, state) {
        if (rows.some((r) => r.n === -1)) {
          state.remove();
          return [];
        }
        const total = (state.get()?.total ?? 0) + rows.reduce((a, r) => a + r.n, 0);
        state.set({ total });
        return [{ user, total }];
      },
    });
}

describe('processWithState: per-key state', () => {
  it('keeps a running value per key across batches', async () => {
    const input = events();
    await testStream(runningTotals(input), { outputMode: 'update' })
      .addData(input, [
        { user: 'a', n: 1 },
        { user: 'b', n: 2 },
        { user: 'a', n: 3 },
      ])
      .checkNewRows([
        { user: 'a', total: 4 },
        { user: 'b', total: 2 },
      ])
      .assert('two keys updated', (q) => {
        expect(op(q).numRowsUpdated).toBe(2);
        expect(op(q).numRowsTotal).toBe(2);
        expect(op(q).customMetrics.numKeysProcessed).toBe(2);
        expect(op(q).operatorName).toBe('processWithState-0');
      })
      .addData(input, { user: 'a', n: 10 })
      .checkNewRows([{ user: 'a', total: 14 }])
      .run();
  });

  for (const store of ['memory', 'lmdb'] as const) {
    it(`the state survives a restart (${store} store)`, async () => {
      const input = events();
      await testStream(runningTotals(input, 'totals'), {
        outputMode: 'update',
        ...(store === 'lmdb' ? { writeOptions: { stateStore: lmdbStateStore() } } : {}),
      })
        .addData(input, [
          { user: 'a', n: 1 },
          { user: 'b', n: 2 },
        ])
        .checkNewRows([
          { user: 'a', total: 1 },
          { user: 'b', total: 2 },
        ])
        .stop()
        .start()
        .addData(input, [
          { user: 'a', n: 5 },
          { user: 'c', n: 1 },
        ])
        .checkNewRows([
          { user: 'a', total: 6 },
          { user: 'c', total: 1 },
        ])
        .assert('named operator', (q) => expect(op(q).operatorName).toBe('processWithState-0-totals'))
        .run();
    });
  }

  it('remove() drops the state: the key starts again', async () => {
    const input = events();
    await testStream(runningTotals(input), { outputMode: 'update' })
      .addData(input, [
        { user: 'a', n: 5 },
        { user: 'b', n: 1 },
      ])
      .checkNewRows([
        { user: 'a', total: 5 },
        { user: 'b', total: 1 },
      ])
      .addData(input, { user: 'a', n: -1 })
      .checkNewRows([])
      .assert('one removed, one left', (q) => {
        expect(op(q).numRowsRemoved).toBe(1);
        expect(op(q).numRowsTotal).toBe(1);
      })
      .addData(input, { user: 'a', n: 2 })
      .checkNewRows([{ user: 'a', total: 2 }])
      .run();
  });

  it('get() returns a copy: mutating it without set() changes nothing', async () => {
    const input = events();
    const q = session
      .readStream(input)
      .groupByKey(($) => $.user)
      .processWithState<{ seen: number[] }, Total>({
        outputSchema: totals,
        outputMode: 'append',
        timeMode: 'none',
        process(user, rows, state) {
          const s = state.get() ?? { seen: [] };
          const before = s.seen.length;
          s.seen.push(...rows.map((r) => r.n));
          if (rows.some((r) => r.n > 0)) state.set(s);
          return [{ user, total: before }];
        },
      });
    await testStream(q)
      .addData(input, { user: 'a', n: 1 })
      .checkNewRows([{ user: 'a', total: 0 }])
      .addData(input, { user: 'a', n: 0 }) // mutates the copy only
      .checkNewRows([{ user: 'a', total: 1 }])
      .addData(input, { user: 'a', n: 0 })
      .checkNewRows([{ user: 'a', total: 1 }])
      .run();
  });

  it('keys by an object of columns', async () => {
    const input = memoryStream(schema({ a: t.string, b: t.long, n: t.long }));
    const q = session
      .readStream(input)
      .groupByKey(($) => ({ a: $.a, b: $.b }))
      .processWithState<number, { a: string; b: number; rows: number }>({
        outputSchema: schema({ a: t.string, b: t.long, rows: t.long }),
        outputMode: 'update',
        timeMode: 'none',
        process(key, rows, state) {
          const n = (state.get() ?? 0) + rows.length;
          state.set(n);
          return [{ ...key, rows: n }];
        },
      });
    await testStream(q, { outputMode: 'update' })
      .addData(input, [
        { a: 'x', b: 1, n: 0 },
        { a: 'x', b: 2, n: 0 },
        { a: 'x', b: 1, n: 0 },
      ])
      .checkNewRows([
        { a: 'x', b: 1, rows: 2 },
        { a: 'x', b: 2, rows: 1 },
      ])
      .run();
  });
});

describe('processWithState: event-time timers', () => {
  const timed = () => memoryStream(schema({ user: t.string, s: t.long }));
  type Out = { user: string; total: number; firedAt: number | null };
  const outSchema = schema({ user: t.string, total: t.long, firedAt: t.long.orNull() });

  /** Counts rows per user; a timer at (latest event + 5 s) emits the count and clears the key. */
  function sessions(input: ReturnType<typeof timed>) {
    return session
      .readStream(input)
      .withColumn('eventTime', ($) => timestampSeconds($.s))
      .withWatermark('eventTime', '10 seconds')
      .groupByKey('user')
      .processWithState<{ total: number; timer: number }, Out>({
        outputSchema: outSchema,
        outputMode: 'append',
        timeMode: 'eventTime',
        process(user, rows, state, ctx) {
          const prev = state.get();
          if (prev) ctx.deleteTimer(prev.timer);
          const timer = Math.max(...rows.map((r) => r.eventTime)) + 5_000;
          ctx.registerTimer(timer);
          state.set({ total: (prev?.total ?? 0) + rows.length, timer });
          return [];
        },
        onTimer(user, timer, state, ctx) {
          expect(timer.kind).toBe('eventTime');
          expect(timer.time).toBeLessThanOrEqual(ctx.watermarkMs);
          expect(ctx.listTimers()).toEqual([]); // firing removed it
          const total = state.get()!.total;
          state.remove();
          return [{ user, total, firedAt: timer.time / 1000 }];
        },
      });
  }

  it('fire when the watermark passes them, in a no-data batch; late rows still reach process', async () => {
    const input = timed();
    await testStream(sessions(input))
      .addData(input, [
        { user: 'a', s: 1 },
        { user: 'a', s: 3 }, // a's timer at 8
      ])
      .checkNewRows([])
      .addData(input, { user: 'a', s: 4 }) // moves a's timer to 9 (deleteTimer + registerTimer)
      .checkNewRows([])
      // The watermark becomes 30 - 10 = 20 after this batch: a no-data batch fires a's timer at 9.
      .addData(input, { user: 'b', s: 30 }) // b's timer at 35
      .checkNewRows([{ user: 'a', total: 3, firedAt: 9 }])
      .assert('the no-data batch fired one timer', (q) => {
        const last = q.lastProgress;
        expect(last!.numInputRows).toBe(0);
        expect(op(q).customMetrics.numTimersFired).toBe(1);
        expect(op(q).numRowsTotal).toBe(1); // b's state (its timer entries are not state rows)
      })
      // A late row (5 <= watermark 20) is not dropped: a starts again; its timer (10) is already
      // due and fires in the same batch, after the data.
      .addData(input, { user: 'a', s: 5 })
      .checkNewRows([{ user: 'a', total: 1, firedAt: 10 }])
      .addData(input, { user: 'c', s: 50 }) // watermark 40: b (35) fires
      .checkNewRows([{ user: 'b', total: 1, firedAt: 35 }])
      .run();
  });

  it('pending timers survive a restart', async () => {
    const input = timed();
    await testStream(sessions(input))
      .addData(input, { user: 'a', s: 1 }) // timer at 6
      .checkNewRows([])
      .stop()
      .start()
      .addData(input, { user: 'b', s: 20 }) // watermark 10 afterwards
      .checkNewRows([{ user: 'a', total: 1, firedAt: 6 }])
      .run();
  });

  it('needs a watermark on the input', () => {
    const input = events();
    expect(() =>
      session
        .readStream(input)
        .groupByKey('user')
        .processWithState({
          outputSchema: totals,
          outputMode: 'append',
          timeMode: 'eventTime',
          process: () => [],
        }),
    ).toThrow(/timeMode 'eventTime' needs a watermark/);
  });
});

describe('processWithState: processing-time timers and TTL', () => {
  it('fire once the batch timestamp reaches them; deleteTimer cancels', async () => {
    const t0 = Date.UTC(2025, 0, 1);
    const clock = new ManualClock(t0);
    const clocked = createSession({ clock });
    const input = events();
    const q = clocked
      .readStream(input)
      .groupByKey('user')
      .processWithState<number, Total>({
        outputSchema: totals,
        outputMode: 'append',
        timeMode: 'processingTime',
        process(user, rows, state, ctx) {
          if (rows.some((r) => r.n === 0)) {
            for (const time of ctx.listTimers()) ctx.deleteTimer(time);
            return [];
          }
          state.set((state.get() ?? 0) + rows.length);
          ctx.registerTimer(ctx.batchTimestampMs + 250);
          return [];
        },
        onTimer(user, timer, state, ctx) {
          expect(timer).toEqual({ time: expect.any(Number), kind: 'processingTime' });
          expect(ctx.batchTimestampMs).toBeGreaterThanOrEqual(timer.time);
          const total = state.get()!;
          state.remove();
          return [{ user, total }];
        },
      });
    await testStream(q, { trigger: Trigger.processingTime(100) })
      .advanceClock(0, clock)
      .addData(input, [
        { user: 'a', n: 1 },
        { user: 'b', n: 1 },
      ])
      .advanceClock(100, clock) // t0+100: timers at t0+350
      .checkNewRows([])
      .addData(input, { user: 'b', n: 0 }) // b cancels its timer
      .advanceClock(100, clock) // t0+200
      .checkNewRows([])
      .assert('b deleted its timer', (q) => expect(op(q).customMetrics.numTimersDeleted).toBe(1))
      .advanceClock(100, clock) // t0+300: nothing due, no batch
      .checkNewRows([])
      .advanceClock(100, clock) // t0+400: a's timer fires in a no-data batch
      .checkNewRows([{ user: 'a', total: 1 }])
      .assert('fired in a no-data batch', (q) => {
        expect(q.lastProgress!.numInputRows).toBe(0);
        expect(op(q).customMetrics.numTimersFired).toBe(1);
        expect(op(q).numRowsTotal).toBe(1); // b's state only
      })
      .advanceClock(1000, clock)
      .checkNewRows([])
      .run();
    await clocked.streams.stopAll();
  });

  it('TTL: state expires ttl after it was last set', async () => {
    const t0 = Date.UTC(2025, 0, 1);
    const clock = new ManualClock(t0);
    const clocked = createSession({ clock });
    const input = events();
    const q = clocked
      .readStream(input)
      .groupByKey('user')
      .processWithState<number, Total>({
        outputSchema: totals,
        outputMode: 'update',
        timeMode: 'none',
        ttl: '1 second',
        process(user, rows, state) {
          const total = (state.get() ?? 0) + rows.length;
          state.set(total);
          return [{ user, total }];
        },
      });
    await testStream(q, { outputMode: 'update', trigger: Trigger.processingTime(100) })
      .advanceClock(0, clock)
      .addData(input, { user: 'a', n: 1 })
      .advanceClock(100, clock) // t0+100: expires at t0+1100
      .checkNewRows([{ user: 'a', total: 1 }])
      .addData(input, { user: 'a', n: 1 })
      .advanceClock(500, clock) // t0+600: expires at t0+1600
      .checkNewRows([{ user: 'a', total: 2 }])
      .advanceClock(900, clock) // t0+1500: not yet
      .advanceClock(100, clock) // t0+1600: a no-data batch evicts a
      .assert('a expired', (q) => {
        expect(op(q).customMetrics.numExpiredByTtl).toBe(1);
        expect(op(q).numRowsRemoved).toBe(1);
        expect(op(q).numRowsTotal).toBe(0);
      })
      .addData(input, { user: 'a', n: 1 })
      .advanceClock(100, clock)
      .checkNewRows([{ user: 'a', total: 1 }])
      .run();
    await clocked.streams.stopAll();
  });
});

describe('processWithState: initial state', () => {
  /** Running totals that start from `initial` (and, with `announce`, emit each initial key). */
  function seeded(
    input: ReturnType<typeof events>,
    initialState: ProcessWithStateOptions<string, unknown, { total: number }, Total>['initialState'],
    announce = false,
    on = session,
  ) {
    return on
      .readStream(input)
      .groupByKey('user')
      .processWithState<{ total: number }, Total>({
        outputSchema: totals,
        outputMode: 'update',
        timeMode: 'processingTime',
        initialState,
        ...(announce
          ? {
              handleInitialState(user, value, state, ctx) {
                state.set({ total: value.total * 10 });
                ctx.registerTimer(ctx.batchTimestampMs + 1_000);
                return [{ user, total: value.total * 10 }];
              },
              onTimer(user, _timer, state) {
                return [{ user, total: -(state.get()?.total ?? 0) }];
              },
            }
          : {}),
        process(user, rows, state) {
          const total = (state.get()?.total ?? 0) + rows.reduce((a, r) => a + r.n, 0);
          state.set({ total });
          return [{ user, total }];
        },
      });
  }

  it('starts the first batch from the given state, and is not applied again after a restart', async () => {
    const input = events();
    let calls = 0;
    const initial = () => {
      calls++;
      return new Map([
        ['a', { total: 100 }],
        ['b', { total: 200 }],
      ]);
    };
    await testStream(seeded(input, initial), { outputMode: 'update' })
      .addData(input, [
        { user: 'a', n: 1 },
        { user: 'c', n: 2 },
      ])
      .checkNewRows([
        { user: 'a', total: 101 },
        { user: 'c', total: 2 },
      ])
      .assert('three keys of state; the initial keys counted', (q) => {
        expect(op(q).numRowsTotal).toBe(3);
        const first = q.recentProgress.find((p) => p.batchId === 0)!;
        expect(first.stateOperators[0]!.customMetrics.numInitialStateKeys).toBe(2);
      })
      .stop()
      .start()
      .addData(input, [
        { user: 'a', n: 1 },
        { user: 'b', n: 1 },
      ])
      .checkNewRows([
        { user: 'a', total: 102 },
        { user: 'b', total: 201 },
      ])
      .assert('initialState() ran once: the restart resumed from the checkpoint', () => expect(calls).toBe(1))
      .run();
  });

  it('handleInitialState can set state, register timers and emit rows', async () => {
    const input = events();
    const clock = new ManualClock(10_000);
    await testStream(seeded(input, [['a', { total: 1 }]], true, createSession({ clock })), {
      outputMode: 'update',
    })
      .addData(input, { user: 'b', n: 5 })
      .checkNewRows([
        { user: 'a', total: 10 },
        { user: 'b', total: 5 },
      ])
      .advanceClock(1_000, clock)
      .checkNewRows([{ user: 'a', total: -10 }])
      .run();
  });

  it('rejects a duplicate key and a malformed entry with clear messages', async () => {
    const input = events();
    await testStream(
      seeded(input, [
        ['a', { total: 1 }],
        ['a', { total: 2 }],
      ]),
      { outputMode: 'update' },
    )
      .addData(input, { user: 'a', n: 1 })
      .expectFailure({
        code: 'DUPLICATE_INITIAL_STATE',
        message: /initialState has the key "a" twice; give each key once/,
      })
      .run();
    const input2 = events();
    await testStream(seeded(input2, [['a'] as unknown as [string, { total: number }]]), {
      outputMode: 'update',
    })
      .addData(input2, { user: 'a', n: 1 })
      .expectFailure({ message: /each initialState entry must be a \[key, state\] pair, got \["a"\]/ })
      .run();
    expect(() => seeded(events(), 5 as never)).toThrow(
      /initialState must be an iterable of \[key, state\] pairs/,
    );
  });
});

describe('processWithState: failures and checks', () => {
  it('a throwing user function fails the query, naming the operator and the key', async () => {
    const input = events();
    const q = session
      .readStream(input)
      .groupByKey('user')
      .processWithState<number, Total>({
        name: 'scorer',
        outputSchema: totals,
        outputMode: 'append',
        timeMode: 'none',
        process(user) {
          if (user === 'bad') throw new Error('boom');
          return [];
        },
      });
    await testStream(q)
      .addData(input, { user: 'bad', n: 1 })
      .expectFailure({
        code: 'OPERATOR_FAILED',
        message: 'processWithState-0-scorer: process(key "bad") failed: boom',
      })
      .run();
  });

  it('registerTimer without a time mode fails clearly', async () => {
    const input = events();
    const q = session
      .readStream(input)
      .groupByKey('user')
      .processWithState<number, Total>({
        outputSchema: totals,
        outputMode: 'append',
        timeMode: 'none',
        process(_user, _rows, _state, ctx) {
          ctx.registerTimer(1);
        },
      });
    await testStream(q)
      .addData(input, { user: 'a', n: 1 })
      .expectFailure({ message: /registerTimer needs timeMode 'processingTime' or 'eventTime'/ })
      .run();
  });

  it('the declared output mode must be the query output mode (checked at start)', async () => {
    const q = runningTotals(events());
    await expect(
      q.writeStream({ sink: memorySink(), checkpointLocation: tmp(), outputMode: 'append' }).start(),
    ).rejects.toThrow(
      /append output mode is not supported by this query: processWithState declares outputMode 'update'.*use update/,
    );
  });

  it('complete mode is refused', () => {
    expect(() =>
      session
        .readStream(events())
        .groupByKey('user')
        .processWithState({
          outputSchema: totals,
          outputMode: 'complete' as 'update',
          timeMode: 'none',
          process: () => [],
        }),
    ).toThrow(/outputMode must be 'append' or 'update'.*complete mode/);
  });

  it('explain shows the operator', () => {
    const text = runningTotals(events(), 'totals').explain();
    expect(text).toContain('ProcessWithState totals key=[user] outputMode=update, timeMode=none');
    expect(text).toContain('TransformWithState processWithState-0-totals key=[user]');
  });
});
