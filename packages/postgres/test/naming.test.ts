/**
 * PostgreSQL usability: columnNames: 'snake_case' (the query's windowStart is the table's
 * window_start, keys and the primary key follow), and a URL without a user name connecting as the
 * operating-system user — in a child process without $USER, as under cron or systemd.
 */
import { execFile } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { MillraceError, schema, t } from 'millrace';
import type pg from 'pg';
import { postgresSink, snakeCase, withDefaultUser } from '../src/index.ts';
import { DB_URL, adminPool, cleanup, dropLater, sinkContext, uniqueName } from './helpers.ts';

afterAll(cleanup);
const admin = adminPool();

describe('columnNames', () => {
  it('snakeCase: camelCase words, acronyms and digits', () => {
    expect(snakeCase('windowStart')).toBe('window_start');
    expect(snakeCase('conversionRate')).toBe('conversion_rate');
    expect(snakeCase('HTTPStatus')).toBe('http_status');
    expect(snakeCase('userId2')).toBe('user_id2');
    expect(snakeCase('already_snake')).toBe('already_snake');
  });

  it("'snake_case': the table, its primary key and the upserts use snake_case names; keyColumns may name either form", async () => {
    const table = uniqueName('naming');
    dropLater(`"${table}"`);
    const s = schema({ windowStart: t.timestamp, productId: t.long, orderCount: t.long, topUsers: t.json });
    const sink = postgresSink({
      connectionString: DB_URL,
      table,
      createTable: true,
      mode: 'upsert',
      keyColumns: ['windowStart', 'product_id'],
      columnNames: 'snake_case',
    });
    await sink.open(sinkContext(s, 'update'));
    const w = Date.UTC(2026, 0, 1);
    await sink.addBatch([{ windowStart: w, productId: 1, orderCount: 2, topUsers: { aB: 1 } }], {
      batchId: 0,
      outputMode: 'update',
    });
    await sink.addBatch([{ windowStart: w, productId: 1, orderCount: 5, topUsers: { aB: 2 } }], {
      batchId: 1,
      outputMode: 'update',
    });
    await sink.close();
    const cols = await admin.query(
      `SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position`,
      [table],
    );
    expect(cols.rows.map((r) => r.column_name)).toEqual([
      'window_start',
      'product_id',
      'order_count',
      'top_users',
    ]);
    const pk = await admin.query(
      `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`,
      [`"${table}"`],
    );
    expect(pk.rows.map((r) => r.attname)).toEqual(['window_start', 'product_id']);
    // No quotes needed in SQL any more; JSON keys keep their case.
    const rows = await admin.query(`SELECT order_count, top_users FROM ${table} WHERE product_id = 1`);
    expect(rows.rows).toEqual([{ order_count: '5', top_users: { aB: 2 } }]);
  });

  it('two columns that become the same name: DUPLICATE_COLUMN at open, naming both', async () => {
    const sink = postgresSink({
      connectionString: DB_URL,
      table: uniqueName('dup'),
      columnNames: 'snake_case',
    });
    const e = await sink
      .open(sinkContext(schema({ fooBar: t.long, foo_bar: t.long }), 'append'))
      .catch((x) => x);
    expect(e).toBeInstanceOf(MillraceError);
    expect((e as MillraceError).code).toBe('DUPLICATE_COLUMN');
    expect((e as MillraceError).message).toContain('"fooBar" and "foo_bar" both become "foo_bar"');
    await sink.close();
  });

  it('a bad columnNames value is an option error', () => {
    expect(() =>
      postgresSink({ connectionString: DB_URL, table: 'x', columnNames: 'camel' as never }),
    ).toThrow(/"columnNames" must be 'as-is' or 'snake_case'/);
  });
});

describe('the default user name', () => {
  it('withDefaultUser fills in the OS user only where no user is given', () => {
    const saved = { USER: process.env.USER, PGUSER: process.env.PGUSER };
    try {
      delete process.env.USER;
      delete process.env.PGUSER;
      const me = os.userInfo().username;
      expect(withDefaultUser({ connectionString: 'postgres://127.0.0.1:5432/test' }).connectionString).toBe(
        `postgres://${me}@127.0.0.1:5432/test`,
      );
      expect(withDefaultUser({ connectionString: 'postgres://ann@h/db' }).connectionString).toBe(
        'postgres://ann@h/db',
      );
      expect(withDefaultUser({ connectionString: 'postgres://h/db?user=bob' }).connectionString).toBe(
        'postgres://h/db?user=bob',
      );
      expect(withDefaultUser<pg.ClientConfig>({ host: 'h' }).user).toBe(me);
      expect(withDefaultUser({ host: 'h', user: 'carl' }).user).toBe('carl');
      process.env.PGUSER = 'dora';
      expect(withDefaultUser({ connectionString: 'postgres://h/db' }).connectionString).toBe(
        'postgres://h/db',
      );
    } finally {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });

  it('a sink and a lookup table with postgres://host/db connect as the OS user when $USER is unset', async () => {
    const me = os.userInfo().username;
    const exists = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [me]);
    expect(exists.rowCount, `the test needs a PostgreSQL role "${me}" (CREATE ROLE ${me} LOGIN)`).toBe(1);
    const table = uniqueName('osuser');
    dropLater(`"${table}"`);
    const url = new URL(DB_URL);
    url.username = '';
    url.password = '';
    const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'default-user.child.ts');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DEFAULT_USER_URL: url.toString(),
      DEFAULT_USER_TABLE: table,
    };
    delete env.USER;
    delete env.PGUSER;
    delete env.LOGNAME;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', child], { env });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ currentUser: me, rows: 1 });
  });
});
