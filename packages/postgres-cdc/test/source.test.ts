/**
 * postgresCdcSource against a private PostgreSQL cluster (wal_level = logical): the row shape of
 * inserts, updates, deletes and truncates in several tables, value types, replay of a batch, the
 * slot advancing only on commit, maxRowsPerTrigger at transaction boundaries, a large transaction,
 * lag, and a query end to end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Trigger, createSession, memorySink } from 'millrace';
import type pg from 'pg';
import { type CdcRow, postgresCdcSource } from '../src/index.ts';
import { type Cluster, startCluster } from './cluster.ts';
import { context, pool, uniqueName } from './helpers.ts';

let cluster: Cluster;
let admin: pg.Pool;
beforeAll(async () => {
  cluster = await startCluster();
  admin = pool(cluster.url);
  await admin.query(`
    CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, amount numeric(10,2), placed timestamptz, tags text[], meta jsonb);
    CREATE TABLE items (order_id int, sku text, qty int, PRIMARY KEY (order_id, sku));
    ALTER TABLE items REPLICA IDENTITY FULL;
    CREATE TABLE ignored (x int);
    CREATE PUBLICATION shop FOR TABLE orders, items;`);
}, 60_000);
afterAll(async () => {
  await admin?.end();
  await cluster?.destroy();
});

async function confirmed(slot: string): Promise<string> {
  const r = await admin.query(
    'SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return r.rows[0].l;
}

const strip = (r: CdcRow) => ({ op: r.op, before: r.before, after: r.after, table: r.source.table });

describe('postgresCdcSource', () => {
  it('reads inserts, updates, deletes and truncates of several tables as Debezium-like rows', async () => {
    const slot = uniqueName('s');
    const src = postgresCdcSource({ connectionString: cluster.url, slot, publication: 'shop' });
    await src.open(context());
    await admin.query('DELETE FROM items; DELETE FROM orders');
    const before = Date.now();
    await admin.query(`BEGIN;
      INSERT INTO orders VALUES (1, 'ann', 12.50, '2026-01-02 03:04:05.678+00', '{a,b}', '{"vip": true}');
      INSERT INTO items VALUES (1, 'x', 2), (1, 'y', 1);
      INSERT INTO ignored VALUES (7);
      COMMIT`);
    await admin.query(`UPDATE orders SET amount = 13 WHERE id = 1`);
    await admin.query(`UPDATE items SET qty = 3 WHERE sku = 'x'`);
    await admin.query(`UPDATE orders SET id = 2 WHERE id = 1`);
    await admin.query(`DELETE FROM items WHERE sku = 'y'`);
    await admin.query(`DELETE FROM orders WHERE id = 2`);
    await admin.query(`TRUNCATE items`);
    const end = await src.latestOffset(null, { kind: 'default' });
    expect(end).toMatchObject({ lsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/) });
    const { rows, metrics } = await src.getBatch(null, end!, { batchId: 0 });
    expect(rows.map(strip)).toEqual([
      {
        op: 'c',
        before: null,
        after: {
          id: 1,
          customer: 'ann',
          amount: 12.5,
          placed: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
          tags: ['a', 'b'],
          meta: { vip: true },
        },
        table: 'orders',
      },
      { op: 'c', before: null, after: { order_id: 1, sku: 'x', qty: 2 }, table: 'items' },
      { op: 'c', before: null, after: { order_id: 1, sku: 'y', qty: 1 }, table: 'items' },
      // REPLICA IDENTITY DEFAULT: no old image while the key stays
      { op: 'u', before: null, after: expect.objectContaining({ id: 1, amount: 13 }), table: 'orders' },
      // FULL: the whole old row
      {
        op: 'u',
        before: { order_id: 1, sku: 'x', qty: 2 },
        after: { order_id: 1, sku: 'x', qty: 3 },
        table: 'items',
      },
      // a key change: the old key
      {
        op: 'u',
        before: { id: 1 },
        after: expect.objectContaining({ id: 2, customer: 'ann' }),
        table: 'orders',
      },
      { op: 'd', before: { order_id: 1, sku: 'y', qty: 1 }, after: null, table: 'items' },
      { op: 'd', before: { id: 2 }, after: null, table: 'orders' },
      { op: 't', before: null, after: null, table: 'items' },
    ]);
    // One transaction for the first three rows; each later statement its own.
    const tx = rows.map((r) => r.source.txId);
    expect(new Set(tx.slice(0, 3)).size).toBe(1);
    expect(new Set(tx).size).toBe(7);
    for (const r of rows) {
      expect(r.source.schema).toBe('public');
      expect(r.ts).toBe(r.source.commitTime);
      expect(r.ts).toBeGreaterThanOrEqual(before - 5_000);
      expect(r.source.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    }
    expect(metrics).toMatchObject({ rowsRead: 9, transactions: 7 });
    await src.close();
  });

  it('replays a batch with the same rows until commit(end) advances the slot; then reads on from there', async () => {
    const slot = uniqueName('s');
    const ctx = context();
    const a = postgresCdcSource({ connectionString: cluster.url, slot, publication: 'shop' });
    await a.open(ctx);
    const atStart = await confirmed(slot);
    await admin.query(`INSERT INTO items VALUES (10, 'a', 1), (10, 'b', 2)`);
    await admin.query(`INSERT INTO items VALUES (11, 'a', 1)`);
    const end = await a.latestOffset(null, { kind: 'default' });
    const first = (await a.getBatch(null, end!, { batchId: 0 })).rows;
    expect(first.map((r) => r.after)).toEqual([
      { order_id: 10, sku: 'a', qty: 1 },
      { order_id: 10, sku: 'b', qty: 2 },
      { order_id: 11, sku: 'a', qty: 1 },
    ]);
    await a.close();
    // "Crash" before commit: the slot did not move, a new instance reads the same rows.
    expect(await confirmed(slot)).toBe(atStart);
    const b = postgresCdcSource({ connectionString: cluster.url, slot, publication: 'shop' });
    await b.open(ctx);
    await admin.query(`INSERT INTO items VALUES (12, 'a', 1)`); // after the planned end: not in the replay
    expect((await b.getBatch(null, end!, { batchId: 0 })).rows).toEqual(first);
    await b.commit(end!);
    expect(await confirmed(slot)).toBe((end as { lsn: string }).lsn);
    const next = await b.latestOffset(end, { kind: 'default' });
    const second = (await b.getBatch(end, next!, { batchId: 1 })).rows;
    expect(second.map((r) => r.after)).toEqual([{ order_id: 12, sku: 'a', qty: 1 }]);
    // Nothing new: the end stays where it is.
    await b.commit(next!);
    expect(await b.latestOffset(next, { kind: 'default' })).toEqual(next);
    expect(await b.latestOffset(next, { kind: 'default' })).toEqual(next); // idle: no WAL, no peek
    await admin.query(`INSERT INTO items VALUES (13, 'a', 1)`);
    const third = await b.latestOffset(next, { kind: 'default' });
    expect(third).not.toEqual(next);
    expect((await b.getBatch(next, third!, { batchId: 2 })).rows.map((r) => r.after!.order_id)).toEqual([13]);
    // Committing an older end again (a restart) is a no-op, never a step back.
    await b.commit(third!);
    await b.commit(end!);
    expect(await confirmed(slot)).toBe((third as { lsn: string }).lsn);
    await b.close();
  });

  it('a replay that starts after some committed transactions skips them (the slot lagging the checkpoint)', async () => {
    const slot = uniqueName('s');
    const src = postgresCdcSource({ connectionString: cluster.url, slot, publication: 'shop' });
    await src.open(context());
    await admin.query(`INSERT INTO items VALUES (20, 'a', 1)`);
    const e1 = await src.latestOffset(null, { kind: 'default' });
    await src.getBatch(null, e1!, { batchId: 0 });
    // commits/0 written, then a crash before commit(e1): the slot still holds batch 0's transaction.
    await admin.query(`INSERT INTO items VALUES (21, 'a', 1)`);
    const e2 = await src.latestOffset(e1, { kind: 'default' });
    const rows = (await src.getBatch(e1, e2!, { batchId: 1 })).rows;
    expect(rows.map((r) => r.after!.order_id)).toEqual([21]);
    await src.close();
  });

  it('maxRowsPerTrigger cuts at transaction boundaries; a larger transaction is a batch of its own', async () => {
    const slot = uniqueName('s');
    const src = postgresCdcSource({
      connectionString: cluster.url,
      slot,
      publication: 'shop',
      maxRowsPerTrigger: 100,
      fetchSize: 500,
    });
    await src.open(context());
    const txn = async (n: number, base: number) =>
      admin.query(`INSERT INTO items SELECT ${base} + g, 'big', g FROM generate_series(1, ${n}) g`);
    await txn(60, 100_000); // 60
    await txn(30, 200_000); // 90: still ≤ 100
    await txn(20, 300_000); // would make 110: next batch
    await txn(5_000, 400_000); // larger than the limit: alone
    await txn(1, 500_000);
    const sizes: number[][] = [];
    let start = null;
    for (let batch = 0; batch < 10; batch++) {
      const end = await src.latestOffset(start, { kind: 'default' });
      if (end === start) break;
      const chunks: number[] = [];
      const c = src.getBatchChunks(start, end!, { batchId: batch });
      for await (const chunk of c) chunks.push(chunk.length);
      sizes.push(chunks);
      await src.commit(end!);
      start = end;
    }
    expect(sizes.map((c) => c.reduce((a, b) => a + b, 0))).toEqual([90, 20, 5_000, 1]);
    expect(sizes[2]).toEqual(Array(10).fill(500)); // streamed in chunks of fetchSize
    // { kind: 'all' } (Trigger.AvailableNow's last step) ignores the limit
    await txn(60, 600_000);
    await txn(60, 700_000);
    const end = await src.latestOffset(start, { kind: 'all' });
    expect((await src.getBatch(start, end!, { batchId: 9 })).rows).toHaveLength(120);
    await src.close();
  });

  it('reports lag as bytes of WAL behind the server', async () => {
    const slot = uniqueName('s');
    const src = postgresCdcSource({
      connectionString: cluster.url,
      slot,
      publication: 'shop',
      maxRowsPerTrigger: 10,
    });
    await src.open(context());
    for (let i = 0; i < 3; i++)
      await admin.query(
        `INSERT INTO items SELECT 900000 + ${i} * 100 + g, 'lag', g FROM generate_series(1, 10) g`,
      );
    const end = await src.latestOffset(null, { kind: 'default' });
    const { metrics } = await src.getBatch(null, end!, { batchId: 0 });
    expect(metrics!.lagBytes).toBeGreaterThan(500); // two transactions of ten rows still to read
    expect(src.reportLatestOffset()).not.toEqual(end);
    await src.close();
  });

  it('runs in a query: changes to a memory sink, exactly the committed rows, Trigger.availableNow', async () => {
    const slot = uniqueName('s');
    const session = createSession();
    const sink = memorySink();
    const source = () =>
      postgresCdcSource({ connectionString: cluster.url, slot, publication: 'shop', maxRowsPerTrigger: 3 });
    const checkpoint = context().stateDir;
    // First run creates the slot; the changes after it are the query's.
    const run = async () => {
      const q = await session
        .readStream(source())
        .writeStream({ sink, checkpointLocation: checkpoint, trigger: Trigger.availableNow() })
        .start();
      await q.awaitTermination(30_000);
      expect(q.exception).toBeNull();
    };
    await run();
    for (let i = 0; i < 5; i++)
      await admin.query(`INSERT INTO items VALUES (${1_000 + i}, 'q', ${i}), (${1_000 + i}, 'r', ${i})`);
    await run();
    await admin.query(`DELETE FROM items WHERE order_id = 1000`);
    await run();
    const rows = sink.allRows() as unknown as CdcRow[];
    expect(rows.map((r) => `${r.op}${(r.after ?? r.before)!.order_id}${(r.after ?? r.before)!.sku}`)).toEqual(
      [...[0, 1, 2, 3, 4].flatMap((i) => [`c${1_000 + i}q`, `c${1_000 + i}r`]), 'd1000q', 'd1000r'],
    );
  });
});
