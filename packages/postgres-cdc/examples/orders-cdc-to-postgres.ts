/**
 * Change data capture into an upsert sink: every insert, update and delete of `shop_orders` is
 * read from a logical replication slot and applied to `shop_orders_mirror` (upsert by id; a
 * delete keeps the row with deleted = true, since a sink never deletes).
 *
 *   DATABASE_URL=postgres://user@host:5432/db npx tsx packages/postgres-cdc/examples/orders-cdc-to-postgres.ts
 *
 * The server needs wal_level = logical (the example says so if not) and the user the REPLICATION
 * attribute. The first run creates the table, the publication `shop_orders_pub` and the slot
 * `shop_orders_cdc`, makes a few changes, and runs the query to the end of the WAL
 * (Trigger.availableNow). Run it again with the same --checkpoint: only the new changes are read.
 * Drop the slot when done, or it keeps WAL on the server:
 *
 *   SELECT pg_drop_replication_slot('shop_orders_cdc');
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { postgresSink } from '@millrace/postgres';
import { MillraceError, Trigger, createSession, schema, t } from 'millrace';
import pg from 'pg';
import { postgresCdcSource } from '../src/index.ts';

const { values: args } = parseArgs({
  options: { checkpoint: { type: 'string' }, changes: { type: 'string', default: '20' } },
});
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const checkpointLocation = args.checkpoint ?? mkdtempSync(path.join(tmpdir(), 'millrace-cdc-'));

const db = new pg.Pool({ connectionString: url, max: 1 });
await db.query(`CREATE TABLE IF NOT EXISTS shop_orders (
  id bigint PRIMARY KEY, status text NOT NULL, amount numeric(10,2) NOT NULL)`);

const orders = postgresCdcSource({
  connectionString: url,
  slot: 'shop_orders_cdc',
  publication: 'shop_orders_pub',
  tables: ['shop_orders'], // used when the publication is created
  maxRowsPerTrigger: 1_000,
});

const session = createSession();
const mirror = session.readStream(orders).map(
  (c) => {
    // A delete has only `before` (the key, or the whole row with REPLICA IDENTITY FULL).
    const row = (c.after ?? c.before) as { id: number; status?: string; amount?: number };
    return {
      id: row.id,
      status: row.status ?? null,
      amount: row.amount ?? null,
      deleted: c.op === 'd',
      changed_at: c.ts,
    };
  },
  schema({
    id: t.long,
    status: t.string.orNull(),
    amount: t.double.orNull(),
    deleted: t.boolean,
    changed_at: t.timestamp,
  }),
);

// The first run creates the slot in start(); the changes below come after it, so they are read.
const sink = postgresSink({
  connectionString: url,
  table: 'shop_orders_mirror',
  mode: 'upsert',
  keyColumns: ['id'],
  createTable: true,
});
let query;
try {
  query = await mirror
    .writeStream({
      queryName: 'orders-cdc',
      sink,
      outputMode: 'append',
      checkpointLocation,
      trigger: Trigger.availableNow(),
    })
    .start();
} catch (e) {
  if (e instanceof MillraceError && e.code === 'CDC_WAL_LEVEL') {
    console.error(e.message);
    process.exit(2);
  }
  throw e;
}
await query.awaitTermination();

const base = Number((await db.query('SELECT coalesce(max(id), 0) AS m FROM shop_orders')).rows[0].m);
const n = Number(args.changes);
for (let i = 1; i <= n; i++)
  await db.query(`INSERT INTO shop_orders VALUES ($1, 'new', $2)`, [base + i, 10 + i]);
await db.query(`UPDATE shop_orders SET status = 'paid' WHERE id > $1 AND id % 2 = 0`, [base]);
await db.query(`DELETE FROM shop_orders WHERE id = $1`, [base + 1]);

const again = await mirror
  .writeStream({
    queryName: 'orders-cdc',
    sink,
    outputMode: 'append',
    checkpointLocation,
    trigger: Trigger.availableNow(),
  })
  .start();
await again.awaitTermination();
if (again.exception) throw again.exception;

const summary = await db.query(
  `SELECT status, deleted, count(*)::int AS orders FROM shop_orders_mirror WHERE id > $1 GROUP BY 1, 2 ORDER BY 1, 2`,
  [base],
);
console.log(`applied ${n} inserts, ${Math.floor(n / 2)} updates and 1 delete to shop_orders_mirror:`);
console.table(summary.rows);
console.log(`checkpoint: ${checkpointLocation}`);
await db.end();
