/**
 * Stateful operator ids: positional by default (`aggregate-1`), or named with `.uid()`. A named
 * operator keeps its state when operators are added to the query; a positional one cannot (its id
 * may now belong to an operator that moved), and the checkpoint refuses that change at start().
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Session,
  type Stream,
  createSession,
  lmdbStateStore,
  memorySink,
  memoryStateStore,
  memoryStream,
  schema,
  sum,
  t,
} from '../../src/index.ts';
import { cleanupDirs, tempDir } from '../execution/helpers.ts';

afterEach(cleanupDirs);

const orderSchema = schema({ id: t.long, user: t.string, amount: t.long });
type Order = { id: number; user: string; amount: number };
type Input = ReturnType<typeof memoryStream<Order>>;

describe('uid()', () => {
  const session = createSession();
  const orders = () => session.readStream(memoryStream(orderSchema));

  it('names the operator in explain()', () => {
    const q = orders()
      .groupBy('user')
      .agg(($) => ({ total: sum($.amount) }))
      .uid('totals')
      .writeStream({ sink: memorySink(), outputMode: 'update' });
    expect(q.explain()).toMatch(/StatefulAggregate totals keys=\[user\]/);
  });

  it('refuses a name a checkpoint directory cannot hold, and a non-stateful operator', () => {
    const counts = orders().groupBy('user').count();
    expect(() => counts.uid('../x')).toThrow(/uid: give 1–64 letters.*"\.\.\/x"/);
    expect(() => counts.uid('')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() =>
      orders()
        .filter(($) => $.amount.gt(1))
        .uid('f'),
    ).toThrow(/uid\("f"\) names a stateful operator: call it right after .*not after filter/);
  });

  it('refuses two operators with one name when the query is planned', () => {
    const deduped = orders().dropDuplicates('id').uid('same');
    const w = deduped
      .groupBy('user')
      .count()
      .uid('same')
      .writeStream({ sink: memorySink(), outputMode: 'update' });
    expect(() => w.explain()).toThrow(/two stateful operators have the id "same": give each its own uid\(\)/);
  });
});

describe('operators added to a running checkpoint', () => {
  /** The totals per user; `dedup` puts a dropDuplicates('id') before it (added in a later run). */
  function query(session: Session, input: Input, named: boolean, dedup: boolean): Stream<any> {
    let s = session.readStream(input);
    if (dedup) s = s.dropDuplicates('id');
    const totals = s.groupBy('user').agg(($) => ({ total: sum($.amount) }));
    return named ? totals.uid('totals') : totals;
  }

  for (const store of ['memory', 'lmdb'] as const) {
    it(`a named aggregate keeps its state when a dropDuplicates is added before it (${store} store)`, async () => {
      const session = createSession();
      const input = memoryStream(orderSchema, { name: 'orders' });
      const checkpointLocation = tempDir();
      const sink = memorySink();
      const start = (dedup: boolean) =>
        query(session, input, true, dedup)
          .writeStream({
            sink,
            checkpointLocation,
            outputMode: 'update',
            stateStore: store === 'memory' ? memoryStateStore() : lmdbStateStore(),
          })
          .start();
      let q = await start(false);
      for (let b = 0; b < 3; b++) {
        input.addData({ id: b, user: 'ann', amount: 10 });
        await q.processAllAvailable();
      }
      await q.stop();
      expect(sink.lastBatch()).toEqual([{ user: 'ann', total: 30 }]);

      q = await start(true);
      input.addData({ id: 7, user: 'ann', amount: 1 }, { id: 7, user: 'ann', amount: 1 });
      await q.processAllAvailable();
      // The aggregate kept 30; the new dropDuplicates started empty and kept one of the two rows.
      expect(sink.lastBatch()).toEqual([{ user: 'ann', total: 31 }]);
      expect(q.lastProgress!.stateOperators.map((o) => o.operatorName)).toEqual(['dedup-0', 'totals']);
      await q.stop();

      // Restarted again: the dropDuplicates' own state (counted from the batch it was added in) is read back.
      q = await start(true);
      for (let b = 0; b < 2; b++) {
        input.addData({ id: 7, user: 'ann', amount: 1 }, { id: 8 + b, user: 'ann', amount: 100 });
        await q.processAllAvailable();
      }
      expect(sink.lastBatch()).toEqual([{ user: 'ann', total: 231 }]);
      await q.stop();
    });
  }

  it('refuses the same change when the aggregate has no uid, naming uid() in the message', async () => {
    const session = createSession();
    const input = memoryStream(orderSchema, { name: 'orders' });
    const checkpointLocation = tempDir();
    const sink = memorySink();
    const start = (dedup: boolean) =>
      query(session, input, false, dedup)
        .writeStream({ sink, checkpointLocation, outputMode: 'update' })
        .start();
    const q = await start(false);
    input.addData({ id: 1, user: 'ann', amount: 10 });
    await q.processAllAvailable();
    await q.stop();
    const batches = sink.batchIds.length;
    const refused = start(true);
    await expect(refused).rejects.toMatchObject({ code: 'STATE_SCHEMA_INCOMPATIBLE' });
    await expect(start(true)).rejects.toThrow(
      /aggregate-0 \(aggregate\) is in the checkpoint but not in this query.*dedup-0 \(dedup\) is new.*\.uid\("…"\)/s,
    );
    expect(sink.batchIds.length).toBe(batches);
  });

  it('refuses a new positional operator whose id an old one had: two dropDuplicates, one added in front', async () => {
    const session = createSession();
    const input = memoryStream(orderSchema, { name: 'orders' });
    const checkpointLocation = tempDir();
    const sink = memorySink();
    // Before: dedup-0 by id, dedup-1 by user. After: a new dedup-0 by amount in front, so the old
    // ones move to dedup-1 and dedup-2 — every old id still exists, and would read another's state.
    const build = (front: boolean) => {
      let s: Stream<any> = session.readStream(input);
      if (front) s = s.dropDuplicates('amount');
      return s.dropDuplicates('id').dropDuplicates('user');
    };
    const start = (front: boolean) => build(front).writeStream({ sink, checkpointLocation }).start();
    const q = await start(false);
    input.addData({ id: 1, user: 'ann', amount: 10 });
    await q.processAllAvailable();
    await q.stop();
    await expect(start(true)).rejects.toThrow(/dedup-2 \(dedup\) is new/);
  });
});
