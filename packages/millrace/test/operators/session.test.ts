/**
 * Session windows (Spark 3.2+ `session_window`), from Spark's documented behaviour:
 * - a row at time t with gap g is the session [t, t+g); per grouping key, sessions that overlap
 *   or touch (next.start <= end) merge into [min start, max end) with merged aggregates —
 *   also with sessions stored by earlier batches;
 * - a row is late when its own session end t + g <= watermark (the batch's watermark, computed
 *   after the previous batch as max event time - delay): dropped and counted;
 * - append emits a session once the watermark passes its end; update emits the sessions a batch
 *   created or changed and forgets closed ones; complete emits everything every batch;
 * - rows with a null time or a null / non-positive gap get no session (dropped).
 * Times below are in seconds; the input column `s` becomes the event time.
 */
import { describe, expect, it } from 'vitest';
import {
  type Column,
  col,
  count,
  createSession,
  memorySink,
  memoryStream,
  schema,
  sessionWindow,
  sum,
  t,
  timestampSeconds,
  when,
} from '../../src/index.ts';
import { lmdbStateStore, memoryStateStore } from '../../src/state/index.ts';
import { testStream } from '../../src/testing/index.ts';

const session = createSession();

type Out = { user: string; start: number; end: number; count: number };
const OUT = schema({ user: t.string, start: t.long, end: t.long, count: t.long });
const toSeconds = (r: { user: string; session: { start: number; end: number }; count: number }): Out => ({
  user: r.user,
  start: r.session.start / 1000,
  end: r.session.end / 1000,
  count: r.count,
});

/** Counts per user session; watermark 10 s behind the latest event. */
function userSessions(
  gap: string | ((c: { user: Column<string>; gap: Column<any> }) => Column<any>) = '5 seconds',
) {
  const input = memoryStream(schema({ user: t.string, s: t.long, gap: t.string.orNull() }));
  const counts = session
    .readStream(input)
    .withColumn('eventTime', ($) => timestampSeconds($.s))
    .withWatermark('eventTime', '10 seconds')
    .groupBy(($) => ({
      session: sessionWindow($.eventTime, typeof gap === 'string' ? gap : gap($)),
      user: $.user,
    }))
    .agg({ count: count() })
    .map(toSeconds, OUT);
  return { input, counts };
}
const ev = (user: string, s: number, gap: string | null = null) => ({ user, s, gap });

const op = (q: { lastProgress: any }) => q.lastProgress.stateOperators[0];
/** State rows: open sessions (not store entries: a user's sessions share one entry, plus an index). */
const stateRows = (n: number) => (q: { lastProgress: any }) => {
  expect(op(q).numRowsTotal).toBe(n);
};
/** Late rows dropped by the last batch that had input (a no-data batch may have run after it). */
const dropped = (n: number) => (q: { recentProgress: readonly any[] }) => {
  const withInput = q.recentProgress.filter((p) => p.numInputRows > 0).at(-1);
  expect(withInput.stateOperators[0].numRowsDroppedByWatermark).toBe(n);
};

describe('session windows: sessions per key', () => {
  it('events within the gap form one session that ends gap after the last event', async () => {
    const { input, counts } = userSessions();
    await testStream(counts, { outputMode: 'complete' })
      // 1 → [1,6); 2 extends to [1,7); 3 extends to [1,8)
      .addData(input, [ev('u1', 1), ev('u1', 2), ev('u1', 3)])
      .checkLastBatch([{ user: 'u1', start: 1, end: 8, count: 3 }])
      .run();
  });

  it('a gap splits sessions; touching sessions merge; keys have their own sessions', async () => {
    const { input, counts } = userSessions();
    await testStream(counts, { outputMode: 'complete' })
      .addData(input, [
        ev('u1', 1), // [1,6)
        ev('u1', 2), // [1,7)
        ev('u1', 10), // 10 > 7: a new session [10,15)
        ev('u2', 20), // [20,25)
        ev('u2', 25), // starts exactly at the end (25 <= 25): touches, one session [20,30)
        ev('u3', 2), // another key, same times as u1: its own session [2,7)
      ])
      .checkLastBatch([
        { user: 'u1', start: 1, end: 7, count: 2 },
        { user: 'u1', start: 10, end: 15, count: 1 },
        { user: 'u2', start: 20, end: 30, count: 2 },
        { user: 'u3', start: 2, end: 7, count: 1 },
      ])
      .run();
  });

  it('out-of-order events within a batch merge the same way', async () => {
    const { input, counts } = userSessions();
    await testStream(counts, { outputMode: 'complete' })
      // 20 → [20,25); 1 → [1,6); 13 → [13,18) (6 < 13 and 18 < 20); 9 → [9,14): touches [13,18) → [9,18);
      // 16 → [16,21): touches [9,18) and [20,25) → [9,25); 5 → [5,10): touches [1,6) and [9,25) → [1,25)
      .addData(input, [ev('u1', 20), ev('u1', 1), ev('u1', 13), ev('u1', 9), ev('u1', 16), ev('u1', 5)])
      .checkLastBatch([{ user: 'u1', start: 1, end: 25, count: 6 }])
      .run();
  });

  it('merges across batches: a later event bridges two stored sessions, their counts merge', async () => {
    const { input, counts } = userSessions();
    await testStream(counts, { outputMode: 'complete' })
      .addData(input, [ev('u1', 1), ev('u1', 10)]) // [1,6) and [10,15)
      .checkLastBatch([
        { user: 'u1', start: 1, end: 6, count: 1 },
        { user: 'u1', start: 10, end: 15, count: 1 },
      ])
      .addData(input, ev('u1', 5)) // [5,10) touches both (5 <= 6, 10 <= 10): one session [1,15)
      .checkLastBatch([{ user: 'u1', start: 1, end: 15, count: 3 }])
      .assert('one session in state', stateRows(1))
      .assert('one merge; the two stored sessions became one', (q) => {
        expect(op(q).customMetrics.numSessionsMerged).toBe(1);
        expect(op(q).numRowsRemoved).toBe(1);
        expect(op(q).numRowsUpdated).toBe(1);
      })
      .addData(input, ev('u1', 17)) // [17,22): 17 > 15, a new session; the merged one is unchanged
      .checkLastBatch([
        { user: 'u1', start: 1, end: 15, count: 3 },
        { user: 'u1', start: 17, end: 22, count: 1 },
      ])
      .run();
  });

  it('merges buffers of every aggregate (sum, count) with AggregateFunction.merge', async () => {
    const input = memoryStream(schema({ user: t.string, s: t.long, v: t.long }));
    const sums = session
      .readStream(input)
      .withColumn('eventTime', ($) => timestampSeconds($.s))
      .withWatermark('eventTime', '1 minute')
      .groupBy(($) => ({ session: sessionWindow($.eventTime, '10 seconds'), user: $.user }))
      .agg(($) => ({ n: count(), total: sum($.v) }));
    await testStream(sums, { outputMode: 'complete' })
      .addData(input, [
        { user: 'a', s: 0, v: 1 },
        { user: 'a', s: 30, v: 10 },
      ])
      .checkLastBatch([
        { user: 'a', session: { start: 0, end: 10_000 }, n: 1, total: 1 },
        { user: 'a', session: { start: 30_000, end: 40_000 }, n: 1, total: 10 },
      ])
      .addData(input, [
        { user: 'a', s: 10, v: 100 }, // [10,20) touches [0,10) → [0,20)
        { user: 'a', s: 20, v: 1000 }, // [20,30) touches [0,20) and [30,40) → [0,40)
      ])
      .checkLastBatch([{ user: 'a', session: { start: 0, end: 40_000 }, n: 4, total: 1111 }])
      .run();
  });
});

describe('session windows: without other keys', () => {
  it("a session window as the only key is refused at start, with Spark's words (a global aggregation)", async () => {
    const input = memoryStream(schema({ s: t.long }));
    const counts = session
      .readStream(input)
      .withColumn('eventTime', ($) => timestampSeconds($.s))
      .withWatermark('eventTime', '10 seconds')
      .groupBy(sessionWindow(col<number>('eventTime'), '5 seconds'))
      .count();
    for (const outputMode of ['append', 'complete'] as const) {
      await expect(counts.writeStream({ sink: memorySink(), outputMode }).start()).rejects.toMatchObject({
        code: 'UNSUPPORTED_OPERATION',
        message: expect.stringMatching(
          /^Global aggregation with session window in streaming query is not supported: .*\[session_window\].*group by session_window\(…\) and at least one other column/,
        ),
      });
    }
  });
});

describe('session windows: per-row gaps', () => {
  it('a gap column of duration text; null, zero, negative and unreadable gaps give no session', async () => {
    const { input, counts } = userSessions(($) => $.gap);
    await testStream(counts, { outputMode: 'complete' })
      .addData(input, [
        ev('u1', 1, '2 seconds'), // [1,3)
        ev('u1', 4, '2 seconds'), // 4 > 3: new session [4,6)
        ev('u2', 1, '5 seconds'), // [1,6)
        ev('u2', 4, '1 second'), // [4,5) inside [1,6): merges, end stays 6
        ev('u3', 1, null), // no session
        ev('u3', 2, '0 seconds'), // no session
        ev('u3', 3, '-5 seconds'), // no session (negative)
        ev('u3', 4, 'soon'), // no session (not a duration)
      ])
      .checkLastBatch([
        { user: 'u1', start: 1, end: 3, count: 1 },
        { user: 'u1', start: 4, end: 6, count: 1 },
        { user: 'u2', start: 1, end: 6, count: 2 },
      ])
      .assert('four rows without a session; none counted as late', (q) => {
        expect(op(q).customMetrics.numRowsWithoutSession).toBe(4);
        expect(op(q).numRowsDroppedByWatermark).toBe(0);
      })
      .run();
  });

  it('a numeric gap expression (ms), merging with a longer gap extends the end', async () => {
    const input = memoryStream(schema({ user: t.string, s: t.long, gapMs: t.long.orNull() }));
    const counts = session
      .readStream(input)
      .withColumn('eventTime', ($) => timestampSeconds($.s))
      .groupBy(($) => ({ session: sessionWindow($.eventTime, $.gapMs), user: $.user }))
      .agg({ count: count() })
      .map(toSeconds, OUT);
    await testStream(counts, { outputMode: 'complete' })
      .addData(input, [
        { user: 'a', s: 10, gapMs: 5000 }, // [10,15)
        { user: 'a', s: 12, gapMs: 20000 }, // [12,32): merges → [10,32)
        { user: 'a', s: 30, gapMs: 1000 }, // [30,31) inside: end stays 32
        { user: 'b', s: 10, gapMs: 0 }, // no session
        { user: 'b', s: 10, gapMs: null }, // no session
      ])
      .checkLastBatch([{ user: 'a', start: 10, end: 32, count: 3 }])
      .run();
  });
});

describe('session windows: output modes and the watermark', () => {
  it('append: a session is emitted once, when the watermark passes its end', async () => {
    const { input, counts } = userSessions();
    await testStream(counts, { outputMode: 'append' })
      .addData(input, [ev('u1', 1), ev('u1', 2), ev('u1', 3)]) // [1,8); watermark stays 0 (3 - 10 < 0)
      .checkNewRows([])
      .addData(input, ev('u1', 12)) // [12,17), runs with watermark 0; after it 12 - 10 = 2
      .checkNewRows([])
      .addData(input, ev('u2', 18)) // watermark 2 here, 8 after: a no-data batch emits [1,8) (8 <= 8)
      .checkNewRows([{ user: 'u1', start: 1, end: 8, count: 3 }])
      .assert('u1 keeps [12,17), u2 has [18,23): two sessions', stateRows(2))
      .addData(input, ev('u3', 30)) // watermark → 20: u1 [12,17) closes; u2 [18,23) stays open
      .checkNewRows([{ user: 'u1', start: 12, end: 17, count: 1 }])
      .assert('u2 and u3 remain', stateRows(2))
      .run();
  });

  it('append: an old session closes while the same key has a newer open one', async () => {
    const { input, counts } = userSessions();
    await testStream(counts, { outputMode: 'append' })
      .addData(input, [ev('u1', 1), ev('u1', 30)]) // [1,6) and [30,35); watermark after: 20
      .checkNewRows([{ user: 'u1', start: 1, end: 6, count: 1 }]) // the no-data batch at watermark 20
      .assert('u1 still has [30,35)', stateRows(1))
      .run();
  });

  it('late rows (time + gap <= watermark) are dropped and counted; a row whose session outlives the watermark is kept', async () => {
    const { input, counts } = userSessions();
    await testStream(counts, { outputMode: 'append' })
      .addData(input, [ev('u1', 1), ev('u1', 20)]) // [1,6), [20,25); watermark after: 10 → [1,6) emitted
      .checkNewRows([{ user: 'u1', start: 1, end: 6, count: 1 }])
      .addData(input, [
        ev('u1', 2), // [2,7): 7 <= 10, late
        ev('u1', 5), // [5,10): 10 <= 10, late
        ev('u1', 6), // [6,11): 11 > 10, kept: a new session (the emitted [1,6) is gone)
      ])
      .checkNewRows([])
      .assert('two late rows', dropped(2))
      .addData(input, ev('u2', 40)) // watermark → 30: [6,11) and [20,25) close
      .checkNewRows([
        { user: 'u1', start: 6, end: 11, count: 1 },
        { user: 'u1', start: 20, end: 25, count: 1 },
      ])
      .run();
  });

  it('a late-arriving row can still extend an open session that started earlier', async () => {
    const { input, counts } = userSessions('10 seconds');
    await testStream(counts, { outputMode: 'append' })
      .addData(input, [ev('u1', 10), ev('u2', 25)]) // u1 [10,20); watermark after: 15
      .checkNewRows([])
      .addData(input, ev('u1', 8)) // [8,18): 18 > 15, not late; merges with [10,20) → [8,20)
      .checkNewRows([])
      .addData(input, ev('u2', 31)) // watermark → 21: u1 [8,20) closes
      .checkNewRows([{ user: 'u1', start: 8, end: 20, count: 2 }])
      .run();
  });

  it('update mode is refused, as in Spark: an emitted session could later merge into another', async () => {
    const { counts } = userSessions();
    await expect(counts.writeStream({ sink: memorySink(), outputMode: 'update' }).start()).rejects.toThrow(
      /update output mode is not supported by this query: session windows can merge after they were emitted.*use append or complete/,
    );
  });

  it('complete: every session every batch; nothing evicted, late rows still dropped', async () => {
    const { input, counts } = userSessions();
    await testStream(counts, { outputMode: 'complete' })
      .addData(input, [ev('u1', 1), ev('u1', 30)]) // [1,6), [30,35)
      .checkLastBatch([
        { user: 'u1', start: 1, end: 6, count: 1 },
        { user: 'u1', start: 30, end: 35, count: 1 },
      ])
      // Watermark 20 now, but lateness is judged against the previous batch's (0), as in Spark 3.4+:
      // u1 at 2 merges into [1,7).
      .addData(input, [ev('u1', 2), ev('u2', 31)])
      .checkLastBatch([
        { user: 'u1', start: 1, end: 7, count: 2 },
        { user: 'u1', start: 30, end: 35, count: 1 },
        { user: 'u2', start: 31, end: 36, count: 1 },
      ])
      .addData(input, ev('u1', 3)) // late against 20: dropped; complete mode still shows [1,7)
      .checkLastBatch([
        { user: 'u1', start: 1, end: 7, count: 2 },
        { user: 'u1', start: 30, end: 35, count: 1 },
        { user: 'u2', start: 31, end: 36, count: 1 },
      ])
      .assert('the late row was dropped', dropped(1))
      .run();
  });

  it.each([
    ['memory', memoryStateStore],
    ['lmdb', lmdbStateStore],
  ])('restart (%s store): open sessions and the watermark survive; none emitted twice', async (_, store) => {
    const { input, counts } = userSessions();
    // One provider for both runs: a stopped query closes it, the restarted one opens it again.
    const writeOptions = { stateStore: store() };
    await testStream(counts, { outputMode: 'append', writeOptions })
      .addData(input, [ev('u1', 1), ev('u1', 2)]) // [1,7)
      .checkNewRows([])
      .stop()
      .start()
      .addData(input, ev('u1', 4)) // merges with the restored [1,7) → [1,9)
      .checkNewRows([])
      .addData(input, ev('u2', 30)) // watermark → 20: [1,9) closes with all three rows
      .checkNewRows([{ user: 'u1', start: 1, end: 9, count: 3 }])
      .stop()
      .start()
      .addData(input, ev('u1', 5)) // [5,10): 10 <= the restored watermark 20, late
      .checkNewRows([])
      .assert('the late row was dropped after a restart', dropped(1))
      .run();
  });
});

describe('session windows: planning', () => {
  it('untyped groupBy names the key session_window (Spark); explain shows the session operator', () => {
    const input = memoryStream(schema({ userId: t.string, s: t.long }));
    const q = session
      .readStream(input)
      .withColumn('timestamp', ($) => timestampSeconds($.s))
      .withWatermark('timestamp', '10 minutes')
      .groupBy(sessionWindow(col<number>('timestamp'), '5 minutes'), 'userId')
      .count();
    expect(q.schema.fields.map((f) => f.name)).toEqual(['session_window', 'userId', 'count']);
    const text = q.explain();
    expect(text).toMatch(
      /Aggregate \[session_window\(timestamp, 300000\) AS session_window, userId\], \[count\(\*\) AS count\]/,
    );
    expect(text).toMatch(
      /SessionWindowAggregate sessionAggregate-0 keys=\[session_window\(timestamp, 300000\)/,
    );
  });

  it('used as a row function it fails, saying to use it as a groupBy key', async () => {
    const input = memoryStream(schema({ s: t.long }));
    const q = session.readStream(input).select(($) => ({ w: sessionWindow(timestampSeconds($.s), 5000) }));
    await expect(q.writeStream({ sink: memorySink(), outputMode: 'append' }).start()).rejects.toThrow(
      /session_window.*use it as a groupBy key/,
    );
  });

  it('rejects a non-positive gap and a second window key', () => {
    const input = memoryStream(schema({ s: t.long }));
    const s = session.readStream(input).withColumn('ts', ($) => timestampSeconds($.s));
    expect(() => sessionWindow(col<number>('ts'), '0 seconds')).toThrow(/gap must be positive/);
    const both = s
      .groupBy(($) => ({ a: sessionWindow($.ts, '5 seconds'), b: sessionWindow($.ts, '10 seconds') }))
      .count();
    expect(() => both.explain()).toThrow(/cannot be combined with another window key/);
  });

  it('append needs a watermarked time: refused at start() without one', async () => {
    const input = memoryStream(schema({ user: t.string, s: t.long }));
    const q = session
      .readStream(input)
      .groupBy(($) => ({ session: sessionWindow(timestampSeconds($.s), '5 seconds'), user: $.user }))
      .count();
    await expect(q.writeStream({ sink: memorySink(), outputMode: 'append' }).start()).rejects.toThrow(
      /append output mode is not supported/,
    );
  });
});

describe("Spark's structured-streaming guide", () => {
  // events.withWatermark("timestamp", "10 minutes")
  //   .groupBy(session_window(events.timestamp, "5 minutes"), events.userId).count()
  const NOON = 12 * 3600; // 12:00 on 1970-01-01, in seconds
  const at = (hh: number, mm: number) => NOON + (hh - 12) * 3600 + mm * 60;
  const hms = (ms: number) => new Date(ms).toISOString().slice(11, 19);

  function guideQuery(gap: (events: { userId: Column<string> }) => string | Column<string>) {
    const input = memoryStream(schema({ userId: t.string, s: t.long }));
    const events = session.readStream(input).withColumn('timestamp', ($) => timestampSeconds($.s));
    const sessionized = events
      .withWatermark('timestamp', '10 minutes')
      .groupBy(sessionWindow(col<number>('timestamp'), gap({ userId: col<string>('userId') })), 'userId')
      .count()
      .map(
        (r: any) => ({
          userId: r.userId as string,
          session: `${hms(r.session_window.start)}-${hms(r.session_window.end)}`,
          count: r.count as number,
        }),
        schema({ userId: t.string, session: t.string, count: t.long }),
      );
    return { input, sessionized };
  }

  it('session_window(timestamp, "5 minutes") per userId, append mode', async () => {
    const { input, sessionized } = guideQuery(() => '5 minutes');
    await testStream(sessionized, { outputMode: 'append' })
      .addData(input, [
        { userId: 'user1', s: at(12, 0) }, // [12:00, 12:05)
        { userId: 'user1', s: at(12, 3) }, // within the gap → [12:00, 12:08)
        { userId: 'user2', s: at(12, 2) }, // [12:02, 12:07)
        { userId: 'user1', s: at(12, 7) }, // within the gap → [12:00, 12:12)
        { userId: 'user1', s: at(12, 20) }, // 12:20 > 12:12: a new session [12:20, 12:25)
      ])
      // watermark after: 12:20 - 10 min = 12:10 → a no-data batch closes user2's [12:02, 12:07)
      .checkNewRows([{ userId: 'user2', session: '12:02:00-12:07:00', count: 1 }])
      .addData(input, { userId: 'user3', s: at(12, 40) }) // watermark 12:30: both user1 sessions close
      .checkNewRows([
        { userId: 'user1', session: '12:00:00-12:12:00', count: 3 },
        { userId: 'user1', session: '12:20:00-12:25:00', count: 1 },
      ])
      .run();
  });

  it('dynamic gap: when(userId == "user1", "5 seconds").when(userId == "user2", "20 seconds").otherwise("5 minutes")', async () => {
    const { input, sessionized } = guideQuery(({ userId }) =>
      when(userId.eq('user1'), '5 seconds').when(userId.eq('user2'), '20 seconds').otherwise('5 minutes'),
    );
    const t0 = at(12, 0);
    await testStream(sessionized, { outputMode: 'append' })
      .addData(input, [
        { userId: 'user1', s: t0 }, // gap 5 s: [12:00:00, 12:00:05)
        { userId: 'user1', s: t0 + 6 }, // 6 s later: a new session
        { userId: 'user2', s: t0 }, // gap 20 s: [12:00:00, 12:00:20)
        { userId: 'user2', s: t0 + 15 }, // within the gap → [12:00:00, 12:00:35)
        { userId: 'user3', s: t0 }, // gap 5 min: [12:00, 12:05)
        { userId: 'user3', s: t0 + 100 }, // within the gap → [12:00, 12:06:40)
      ])
      .addData(input, { userId: 'user4', s: t0 + 3600 }) // watermark 12:50: all close
      .checkAllRows([
        { userId: 'user1', session: '12:00:00-12:00:05', count: 1 },
        { userId: 'user1', session: '12:00:06-12:00:11', count: 1 },
        { userId: 'user2', session: '12:00:00-12:00:35', count: 2 },
        { userId: 'user3', session: '12:00:00-12:06:40', count: 2 },
      ])
      .run();
  });
});
