/** mariadbTable: a lookup table read with a query, joined with a stream (and refreshed). */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Trigger, createSession, memoryStream, schema, t } from 'millrace';
import { ManualClock, testStream } from 'millrace/testing';
import { mariadbTable } from '../src/index.ts';
import { DB_URL, adminPool, cleanup, dropLater, uniqueName } from './helpers.ts';

const admin = adminPool();
const TABLE = uniqueName('products');
dropLater(TABLE);

beforeAll(async () => {
  await admin.query(
    `CREATE TABLE \`${TABLE}\` (id BIGINT PRIMARY KEY, name VARCHAR(50) NOT NULL, price DECIMAL(10,2), added DATETIME(3), day DATE, hot BOOLEAN, tags JSON)`,
  );
  await admin.query(
    `INSERT INTO \`${TABLE}\` VALUES (1, 'apple', 1.25, '2025-01-01 00:00:00.250', '2025-01-02', TRUE, '["red"]'), (2, 'pear', NULL, NULL, NULL, FALSE, NULL)`,
  );
});
afterAll(cleanup);

const productSchema = schema({
  id: t.long,
  name: t.string,
  price: t.double.orNull(),
  added: t.timestamp.orNull(),
  day: t.date.orNull(),
  hot: t.boolean.orNull(),
  tags: t.array(t.string).orNull(),
});

it('converts every column to the schema’s type', async () => {
  const table = mariadbTable({
    connectionString: DB_URL,
    query: `SELECT * FROM \`${TABLE}\` ORDER BY id`,
    schema: productSchema,
  });
  expect(await table.load({} as never)).toEqual([
    {
      id: 1,
      name: 'apple',
      price: 1.25,
      added: Date.UTC(2025, 0, 1, 0, 0, 0, 250),
      day: 20_090,
      hot: true,
      tags: ['red'],
    },
    { id: 2, name: 'pear', price: null, added: null, day: null, hot: false, tags: null },
  ]);
});

it('enriches a stream with rows a query reads, and reads them again after refreshInterval', async () => {
  const clock = new ManualClock(0);
  const session = createSession({ clock });
  const orders = memoryStream(schema({ orderId: t.long, id: t.long }));
  const table = mariadbTable({
    connectionString: DB_URL,
    query: `SELECT id, name FROM \`${TABLE}\``,
    schema: schema({ id: t.long, name: t.string }),
    name: 'products',
    refreshInterval: '1 minute',
  });
  expect(table.describe()).toMatch(
    /^MariaDbTable\[mariadb:\/\/root@127\.0\.0\.1:3306\/test, SELECT id, name/,
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
      { orderId: 10, id: 1, name: 'apple' },
      { orderId: 11, id: 2, name: 'pear' },
    ])
    .assert('a product appears in the database', async () => {
      await admin.query(`INSERT INTO \`${TABLE}\` (id, name) VALUES (3, 'plum')`);
    })
    .addData(orders, { orderId: 13, id: 3 })
    .advanceClock(1000, clock)
    .checkNewRows([]) // not refreshed yet
    .addData(orders, { orderId: 14, id: 3 })
    .advanceClock(60_000, clock)
    .checkNewRows([{ orderId: 14, id: 3, name: 'plum' }])
    .run();
});

it('names what is wrong: a column the query lacks, a server that is not there (password redacted)', async () => {
  const missing = mariadbTable({
    connectionString: DB_URL,
    query: `SELECT id FROM \`${TABLE}\``,
    schema: productSchema,
  });
  await expect(missing.load({} as never)).rejects.toThrow(
    /the query returns no column "name", "price", .* \(it returns id\); name the columns with AS/,
  );
  const down = mariadbTable({
    connectionString: 'mariadb://app:hunter22@127.0.0.1:1/test',
    query: 'SELECT 1 AS id',
    schema: productSchema,
    timeoutMs: 2000,
  });
  expect(down.describe()).not.toContain('hunter22');
  const err = (await down.load({} as never).catch((e: Error) => e)) as Error & { code: string };
  expect(err.code).toBe('TABLE_LOAD_FAILED');
  expect(err.message).toMatch(/could not be read from mariadb:\/\/app:\*\*\*@127\.0\.0\.1:1\/test/);
  expect(err.message).not.toContain('hunter22');
  expect(() =>
    mariadbTable({ connectionString: DB_URL, query: 'DELETE FROM x', schema: productSchema }),
  ).toThrow(/must be a SELECT/);
  expect(() =>
    mariadbTable({
      connectionString: 'mariadb://app:hunter22@[bad',
      query: 'SELECT 1',
      schema: productSchema,
    }),
  ).toThrow(/not a valid URL/);
});
