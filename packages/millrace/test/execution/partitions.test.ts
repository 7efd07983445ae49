/**
 * State partitions (Spark's spark.sql.shuffle.partitions): every stateful operator's rows are split
 * by its key, and the operator runs once per partition with the state of that partition. The output
 * must not depend on the number of partitions: each query below runs the same random batches (with
 * a restart in the middle) with 1 partition and with several, and every batch's rows must be equal.
 */
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type MemoryStream,
  type OutputMode,
  type Session,
  type Stream,
  avg,
  count,
  createSession,
  interval,
  max,
  memorySink,
  memoryStream,
  schema,
  sessionWindow,
  sum,
  t,
  timestampSeconds,
  window,
} from '../../src/index.ts';
import { prng } from '../../src/testing/index.ts';
import { canonicalJson } from '../../src/util/json.ts';
import { sparkHash } from '../../src/expr/functions/misc.ts';
import { cleanupDirs, tempDir } from './helpers.ts';

afterEach(cleanupDirs);

const eventSchema = schema({ s: t.long, user: t.string, n: t.long });
type Event = { s: number; user: string; n: number };

interface Case {
  readonly name: string;
  readonly outputMode: OutputMode;
  /** The query over one input (`a`) or two (`a`, `b`). */
  build(session: Session, a: MemoryStream<Event>, b: MemoryStream<Event>): Stream<any>;
  readonly twoInputs?: boolean;
}

const events = (s: Session, input: MemoryStream<Event>, delay = '5 seconds') =>
  s
    .readStream(input)
    .withColumn('t', ($) => timestampSeconds($.s))
    .withWatermark('t', delay);

const cases: Case[] = [
  {
    name: 'tumbling-window count per user (append)',
    outputMode: 'append',
    build: (s, a) =>
      events(s, a)
        .groupBy(($) => ({ window: window($.t, '10 seconds'), user: $.user }))
        .agg(($) => ({ c: count(), total: sum($.n) })),
  },
  {
    name: 'global tumbling-window count: partitioned by the window start (update)',
    outputMode: 'update',
    build: (s, a) =>
      events(s, a)
        .groupBy(($) => ({ window: window($.t, '10 seconds') }))
        .agg(($) => ({ c: count(), m: max($.n) })),
  },
  {
    name: 'global sliding-window count: one partition (append)',
    outputMode: 'append',
    build: (s, a) =>
      events(s, a)
        .groupBy(($) => ({ window: window($.t, '10 seconds', '5 seconds') }))
        .agg(() => ({ c: count() })),
  },
  {
    name: 'count per user and n without a watermark (complete)',
    outputMode: 'complete',
    build: (s, a) =>
      s
        .readStream(a)
        .groupBy(($) => ({ user: $.user, odd: $.n.mod(2) }))
        .agg(($) => ({ c: count(), a: avg($.n) })),
  },
  {
    name: 'dropDuplicates on (user, n) with the event time (append)',
    outputMode: 'append',
    build: (s, a) => events(s, a).dropDuplicates('user', 'n', 't').select('user', 'n', 's'),
  },
  {
    name: 'session windows per user (append)',
    outputMode: 'append',
    build: (s, a) =>
      events(s, a)
        .groupBy(($) => ({ session: sessionWindow($.t, '4 seconds'), user: $.user }))
        .agg(($) => ({ c: count(), total: sum($.n) })),
  },
  {
    name: 'stream–stream left outer join on user within 5 seconds (append)',
    outputMode: 'append',
    twoInputs: true,
    build: (s, a, b) => {
      const left = events(s, a).select(($) => ({ user: $.user, lt: $.t, ln: $.n }));
      const right = events(s, b).select(($) => ({ user: $.user, rt: $.t, rn: $.n }));
      return left
        .join(right, {
          on: ['user'],
          where: (l, r) => r.rt.between(l.lt, l.lt.plus(interval('5 seconds'))),
          type: 'leftOuter',
        })
        .select('user', 'ln', 'rn');
    },
  },
  {
    name: 'processWithState with an initial state: running totals per user (update)',
    outputMode: 'update',
    build: (s, a) =>
      s
        .readStream(a)
        .groupByKey('user')
        .processWithState<{ total: number }, { user: string; total: number }>({
          outputSchema: schema({ user: t.string, total: t.long }),
          outputMode: 'update',
          timeMode: 'none',
          initialState: () => [
            ['ann', { total: 100 }],
            ['bob', { total: 200 }],
            ['zed', { total: 300 }],
          ],
          handleInitialState(user, value, state) {
            state.set(value);
            return [{ user, total: value.total }];
          },
          process(user, rows, state) {
            const total = (state.get()?.total ?? 0) + rows.reduce((x, r) => x + r.n, 0);
            state.set({ total });
            return [{ user, total }];
          },
        }),
  },
  {
    name: 'chained: count per user per window, then max per window (append)',
    outputMode: 'append',
    build: (s, a) =>
      events(s, a, '0 seconds')
        .groupBy(($) => ({ window: window($.t, '5 seconds'), user: $.user }))
        .agg(() => ({ c: count() }))
        .groupBy(($) => ({ window: window($.window, '5 seconds') }))
        .agg(($) => ({ top: max($.c) })),
  },
];

/** Random events, mostly in order with some late ones, over a few users. */
function batches(seed: number, n: number): { a: Event[]; b: Event[] }[] {
  const rnd = prng(seed);
  const users = ['ann', 'bob', 'cy', 'dee', 'eve', 'fay', 'gus', 'hal', 'ivy', 'jo'];
  const out: { a: Event[]; b: Event[] }[] = [];
  let now = 0;
  const one = (): Event => ({
    s: Math.max(0, now - Math.floor(rnd() * 12)),
    user: users[Math.floor(rnd() * users.length)]!,
    n: Math.floor(rnd() * 6),
  });
  for (let i = 0; i < n; i++) {
    now += Math.floor(rnd() * 6);
    out.push({
      a: Array.from({ length: Math.floor(rnd() * 20) }, one),
      b: Array.from({ length: Math.floor(rnd() * 20) }, one),
    });
  }
  return out;
}

/** Every batch's rows (as sorted canonical JSON), running the batches with a restart halfway. */
async function run(c: Case, partitions: number, data: { a: Event[]; b: Event[] }[]): Promise<string[][]> {
  const session = createSession();
  const a = memoryStream(eventSchema, { name: 'a' });
  const b = memoryStream(eventSchema, { name: 'b' });
  const sink = memorySink();
  const checkpointLocation = tempDir();
  const start = () =>
    c
      .build(session, a, b)
      .writeStream({ sink, checkpointLocation, outputMode: c.outputMode, partitions })
      .start();
  let q = await start();
  for (let i = 0; i < data.length; i++) {
    if (i === Math.floor(data.length / 2)) {
      await q.stop();
      q = await start();
    }
    a.addData(data[i]!.a);
    if (c.twoInputs) b.addData(data[i]!.b);
    await q.processAllAvailable();
  }
  await q.stop();
  return sink.batchIds.map((id) =>
    sink
      .batch(id)!
      .map((r) => canonicalJson(r))
      .sort(),
  );
}

describe('the output does not depend on the number of state partitions', () => {
  for (const c of cases) {
    it(c.name, async () => {
      for (const [seed, p] of [
        [1, 3],
        [2, 7],
      ] as const) {
        const data = batches(seed, 12);
        const one = await run(c, 1, data);
        expect(one.flat().length, 'the case produces output').toBeGreaterThan(0);
        expect(await run(c, p, data), `${p} partitions, seed ${seed}`).toEqual(one);
      }
    });
  }
});

describe('state partitions', () => {
  const perUser = (session: Session, input: MemoryStream<Event>) =>
    session
      .readStream(input)
      .groupBy(($) => ({ user: $.user }))
      .agg(() => ({ c: count() }));

  it('explain() shows the exchange and the partition count', () => {
    const session = createSession();
    const input = memoryStream(eventSchema, { name: 'in' });
    const text = perUser(session, input).writeStream({ sink: memorySink(), partitions: 4 }).explain();
    expect(text).toContain('Exchange hashpartitioning(user, 4)');
    expect(createSession().shufflePartitions).toBe(Number(process.env.MILLRACE_SHUFFLE_PARTITIONS ?? 1));
  });

  it('keeps each partition’s state in its own store, and a key in the partition Spark’s hash gives it', async () => {
    const session = createSession();
    const input = memoryStream(eventSchema, { name: 'in' });
    const checkpointLocation = tempDir();
    const q = await perUser(session, input)
      .writeStream({ sink: memorySink(), checkpointLocation, outputMode: 'update', partitions: 4 })
      .start();
    const users = ['ann', 'bob', 'cy', 'dee', 'eve', 'fay', 'gus', 'hal'];
    input.addData(users.map((user, i) => ({ s: i, user, n: 1 })));
    await q.processAllAvailable();
    const progress = q.lastProgress!.stateOperators[0]!;
    await q.stop();
    expect(readdirSync(path.join(checkpointLocation, 'state', 'aggregate-0')).sort()).toEqual([
      '0',
      '1',
      '2',
      '3',
    ]);
    // Spark: pmod(hash(user), 4) with Murmur3 seed 42.
    const expected = [0, 0, 0, 0];
    for (const u of users) expected[((sparkHash(u, { kind: 'string' }, 42) % 4) + 4) % 4]! += 1;
    expect(progress.numRowsTotal).toBe(users.length);
    expect(progress.partitions?.numPartitions).toBe(4);
    expect(progress.partitions?.tasks.map((x) => x.numRowsTotal)).toEqual(expected);
    expect(progress.partitions?.tasks.map((x) => x.numInputRows)).toEqual(expected);
    expect(progress.partitions?.slowestMs).toBeGreaterThanOrEqual(progress.partitions!.medianMs);
  });

  it('one partition: no exchange, one store, no per-partition progress', async () => {
    const session = createSession();
    const input = memoryStream(eventSchema, { name: 'in' });
    const checkpointLocation = tempDir();
    const w = perUser(session, input).writeStream({
      sink: memorySink(),
      checkpointLocation,
      outputMode: 'update',
      partitions: 1,
    });
    expect(w.explain()).not.toContain('Exchange');
    const q = await w.start();
    input.addData({ s: 1, user: 'ann', n: 1 });
    await q.processAllAvailable();
    expect(q.lastProgress!.stateOperators[0]!.partitions).toBeUndefined();
    await q.stop();
    expect(existsSync(path.join(checkpointLocation, 'state', 'aggregate-0', '1'))).toBe(false);
  });

  it('a restart keeps the checkpoint’s partition count, and refuses another one before any batch', async () => {
    const session = createSession();
    const input = memoryStream(eventSchema, { name: 'in' });
    const checkpointLocation = tempDir();
    const sink = memorySink();
    const start = (partitions?: number) =>
      perUser(session, input)
        .writeStream({
          sink,
          checkpointLocation,
          outputMode: 'update',
          ...(partitions ? { partitions } : {}),
        })
        .start();
    let q = await start(3);
    input.addData({ s: 1, user: 'ann', n: 1 }, { s: 2, user: 'bob', n: 1 });
    await q.processAllAvailable();
    await q.stop();
    // No option: the checkpoint's 3, not the session's default.
    q = await start();
    input.addData({ s: 3, user: 'ann', n: 1 });
    await q.processAllAvailable();
    expect(q.lastProgress!.stateOperators[0]!.partitions?.numPartitions).toBe(3);
    expect(sink.lastBatch()).toEqual([{ user: 'ann', c: 2 }]);
    await q.stop();
    const batches = sink.batchIds.length;
    await expect(start(5)).rejects.toThrow(
      /was created with 3 state partitions.*asks for 5.*partitions: 3.*new checkpointLocation/s,
    );
    await expect(start(5)).rejects.toMatchObject({ code: 'CHECKPOINT_MISMATCH' });
    input.addData({ s: 4, user: 'cy', n: 1 });
    expect(sink.batchIds.length).toBe(batches);
  });

  it('refuses a changed aggregation or an operator inserted upstream, naming what changed', async () => {
    const session = createSession();
    const input = memoryStream(eventSchema, { name: 'in' });
    const checkpointLocation = tempDir();
    const q = await perUser(session, input)
      .writeStream({ sink: memorySink(), checkpointLocation, outputMode: 'update' })
      .start();
    input.addData({ s: 1, user: 'ann', n: 1 });
    await q.processAllAvailable();
    await q.stop();
    const changed = session
      .readStream(input)
      .groupBy(($) => ({ user: $.user }))
      .agg(($) => ({ c: count(), total: sum($.n) }));
    await expect(
      changed.writeStream({ sink: memorySink(), checkpointLocation, outputMode: 'update' }).start(),
    ).rejects.toMatchObject({
      code: 'STATE_SCHEMA_INCOMPATIBLE',
      message: expect.stringMatching(/aggregate-0: value field "total" \(sum\(n\): long\) added/),
    });
    const deduped = session
      .readStream(input)
      .dropDuplicates('user', 'n')
      .groupBy(($) => ({ user: $.user }))
      .agg(() => ({ c: count() }));
    await expect(
      deduped.writeStream({ sink: memorySink(), checkpointLocation, outputMode: 'update' }).start(),
    ).rejects.toMatchObject({
      code: 'STATE_SCHEMA_INCOMPATIBLE',
      message: expect.stringMatching(/aggregate-0/),
    });
  });

  it('refuses a partition count out of range, saying what is allowed', async () => {
    const session = createSession();
    const input = memoryStream(eventSchema, { name: 'in' });
    await expect(
      perUser(session, input)
        .writeStream({ sink: memorySink(), outputMode: 'update', partitions: 0 })
        .start(),
    ).rejects.toThrow(/partitions must be an integer from 1 to 1024, got 0/);
    expect(() => createSession({ shufflePartitions: 2.5 })).toThrow(/shufflePartitions must be an integer/);
  });
});
