/**
 * columnNames: 'snake_case' on MariaDB: the query's windowStart is the table's window_start, the
 * primary key and the upserts follow, keyColumns may name either form; a name clash is an error.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MillraceError, schema, t } from 'millrace';
import { mariadbSink } from '../src/index.ts';
import { DB_URL, adminPool, cleanup, dropLater, sinkContext, uniqueName } from './helpers.ts';

afterAll(cleanup);
const admin = adminPool();

describe('mariadbSink columnNames', () => {
  it("'snake_case': table, primary key and upserts use snake_case names", async () => {
    const table = uniqueName('naming');
    const name = `naming-${table}`;
    dropLater(table, name);
    const s = schema({ windowStart: t.timestamp, productId: t.long, orderCount: t.long });
    const sink = mariadbSink({
      connectionString: DB_URL,
      table,
      name,
      createTable: true,
      mode: 'upsert',
      keyColumns: ['window_start', 'productId'],
      columnNames: 'snake_case',
    });
    await sink.open(sinkContext(s, 'update'));
    const w = Date.UTC(2026, 0, 1);
    await sink.addBatch([{ windowStart: w, productId: 7, orderCount: 2 }], {
      batchId: 0,
      outputMode: 'update',
    });
    await sink.addBatch([{ windowStart: w, productId: 7, orderCount: 9 }], {
      batchId: 1,
      outputMode: 'update',
    });
    await sink.close();
    const cols = await admin.query(
      `SELECT COLUMN_NAME AS c, COLUMN_KEY AS k FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'test' AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [table],
    );
    expect(cols).toEqual([
      { c: 'window_start', k: 'PRI' },
      { c: 'product_id', k: 'PRI' },
      { c: 'order_count', k: '' },
    ]);
    expect(await admin.query(`SELECT product_id, order_count FROM \`${table}\``)).toEqual([
      { product_id: 7, order_count: 9 },
    ]);
  });

  it('two columns that become the same name: DUPLICATE_COLUMN at open', async () => {
    const sink = mariadbSink({
      connectionString: DB_URL,
      table: uniqueName('dup'),
      columnNames: 'snake_case',
    });
    const e = await sink
      .open(sinkContext(schema({ fooBar: t.long, foo_bar: t.long }), 'append'))
      .catch((x) => x);
    expect(e).toBeInstanceOf(MillraceError);
    expect((e as MillraceError).code).toBe('DUPLICATE_COLUMN');
    await sink.close();
    expect(() =>
      mariadbSink({ connectionString: DB_URL, table: 'x', columnNames: 'kebab' as never }),
    ).toThrow(/"columnNames" must be 'as-is' or 'snake_case'/);
  });
});
