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
  type Session,
  count,
  createSession,
  memorySink,
  memoryStream,
  sum,
} from '../../src/index.ts';
import { type Event, cases, eventSchema } from './partitionCases.ts';
import { batches, run } from './partitionRuns.ts';
import { sparkHash } from '../../src/expr/functions/misc.ts';
import { cleanupDirs, tempDir } from './helpers.ts';

afterEach(cleanupDirs);

describe('the output does not depend on the number of state partitions', () => {
  for (const c of cases) {
    it(c.name, async () => {
      for (const [seed, partitions] of [
        [1, 3],
        [2, 7],
      ] as const) {
        const data = batches(seed, 12);
        const one = await run(c, { partitions: 1 }, data);
        expect(one.flat().length, 'the case produces output').toBeGreaterThan(0);
        expect(await run(c, { partitions }, data), `${partitions} partitions, seed ${seed}`).toEqual(one);
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
