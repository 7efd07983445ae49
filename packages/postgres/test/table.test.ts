/** postgresTable: a static table read with a query, joined with a stream (and refreshed). */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Trigger, createSession, memoryStream, schema, t } from 'millrace';
import { ManualClock, testStream } from 'millrace/testing';
import { postgresTable } from '../src/index.ts';

const URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TABLE = `products_${process.pid}_${Date.now()}`;
const client = new pg.Client({ connectionString: URL });

beforeAll(async () => {
  await client.connect();
  await client.query(`CREATE TABLE ${TABLE} (id bigint primary key, name text not null, added timestamptz)`);
  await client.query(`INSERT INTO ${TABLE} VALUES (1, 'apple', '2025-01-01T00:00:00Z'), (2, 'pear', NULL)`);
});
afterAll(async () => {
  await client.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await client.end();
});

const productSchema = schema({ id: t.long, name: t.string, added: t.timestamp.orNull() });

it('enriches a stream with rows a query reads, and reads them again after refreshInterval', async () => {
  const clock = new ManualClock(0);
  const session = createSession({ clock });
  const orders = memoryStream(schema({ orderId: t.long, id: t.long }));
  const table = postgresTable({
    connectionString: URL,
    query: `SELECT id, name, added FROM ${TABLE}`,
    schema: productSchema,
    name: 'products',
    refreshInterval: '1 minute',
  });
  expect(table.describe()).toMatch(
    /^PostgresTable\[postgres:\/\/postgres@127\.0\.0\.1:5432\/test, SELECT id, name/,
  );
  await testStream(session.readStream(orders).join(table, { on: 'id' }), {
    trigger: Trigger.processingTime(1000),
  })
    .addData(orders, [
      { orderId: 10, id: 1 },
      { orderId: 11, id: 2 },
      { orderId: 12, id: 3 },
    ])
    .advanceClock(1000, clock)
    .checkNewRows([
      { orderId: 10, id: 1, name: 'apple', added: Date.UTC(2025, 0, 1) },
      { orderId: 11, id: 2, name: 'pear', added: null },
    ])
    .assert('a product appears in the database', async () => {
      await client.query(`INSERT INTO ${TABLE} VALUES (3, 'plum', NULL)`);
    })
    .addData(orders, { orderId: 13, id: 3 })
    .advanceClock(1000, clock)
    .checkNewRows([]) // not refreshed yet
    .addData(orders, { orderId: 14, id: 3 })
    .advanceClock(60_000, clock)
    .checkNewRows([{ orderId: 14, id: 3, name: 'plum', added: null }])
    .run();
});

it('names what is wrong: a column the query lacks, a server that is not there (password redacted)', async () => {
  const missing = postgresTable({
    connectionString: URL,
    query: `SELECT id FROM ${TABLE}`,
    schema: productSchema,
  });
  await expect(missing.load({} as never)).rejects.toThrow(
    /the query returns no column "name", "added" \(it returns id\); name the columns with AS/,
  );
  const down = postgresTable({
    connectionString: 'postgres://app:hunter2@127.0.0.1:1/test',
    query: 'SELECT 1 AS id',
    schema: productSchema,
    timeoutMs: 2000,
  });
  const err = await down.load({} as never).catch((e: Error) => e);
  expect((err as Error).message).toMatch(/could not be read from postgres:\/\/app:\*+@127\.0\.0\.1:1\/test/);
  expect((err as Error).message).not.toContain('hunter2');
  expect(() =>
    postgresTable({ connectionString: URL, query: 'DELETE FROM x', schema: productSchema }),
  ).toThrow(/must be a SELECT/);
});
