/**
 * The sink against a real MariaDB, driven directly (open / addBatch): table creation and type
 * mapping, append, upsert, complete and update output modes, replayed batch ids, bad values, and
 * the checks open() makes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MillraceError, type Row, schema, t } from 'millrace';
import { mariadbSink } from '../src/index.ts';
import {
  DB_URL,
  adminPool,
  cleanup,
  dropLater,
  recordedBatch,
  recordingLogger,
  sinkContext,
  uniqueName,
  userWithPassword,
} from './helpers.ts';

afterAll(cleanup);
const admin = adminPool();

function table(prefix = 'sink'): string {
  const name = uniqueName(prefix);
  dropLater(name);
  return name;
}

const kv = schema({ k: t.string, v: t.long });
const contents = async (name: string) =>
  (await admin.query(`SELECT k, v FROM \`${name}\` ORDER BY k`)) as { k: string; v: number }[];

describe('createTable and type mapping', () => {
  it('creates the table with a MariaDB type for every Millrace type, and values round-trip', async () => {
    const name = table('types');
    const all = schema({
      id: t.long,
      d: t.double.orNull(),
      b: t.boolean.orNull(),
      s: t.string.orNull(),
      ts: t.timestamp.orNull(),
      day: t.date.orNull(),
      bin: t.binary.orNull(),
      j: t.json.orNull(),
      arr: t.array(t.long).orNull(),
      st: t.struct({ start: t.timestamp, n: t.long }).orNull(),
    });
    const sink = mariadbSink({
      connectionString: DB_URL,
      table: name,
      mode: 'upsert',
      keyColumns: ['id'],
      createTable: true,
    });
    await sink.open(sinkContext(all, 'append'));
    try {
      const cols = await admin.query(
        `SELECT COLUMN_NAME AS c, COLUMN_TYPE AS ty, IS_NULLABLE AS n, COLUMN_KEY AS k FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'test' AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
        [name],
      );
      expect(cols.map((c: Record<string, string>) => [c.c, c.ty, c.n, c.k])).toEqual([
        ['id', 'bigint(20)', 'NO', 'PRI'],
        ['d', 'double', 'YES', ''],
        ['b', 'tinyint(1)', 'YES', ''],
        ['s', 'longtext', 'YES', ''],
        ['ts', 'datetime(3)', 'YES', ''],
        ['day', 'date', 'YES', ''],
        ['bin', 'longblob', 'YES', ''],
        ['j', 'longtext', 'YES', ''],
        ['arr', 'longtext', 'YES', ''],
        ['st', 'longtext', 'YES', ''],
      ]);
      const ts = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
      const r = await sink.addBatch(
        [
          {
            id: 1,
            d: 1.5,
            b: true,
            s: 'a\'b"c`\\ ✓',
            ts,
            day: 20_000,
            bin: new Uint8Array([0, 1, 255]),
            j: { a: [1, 'x'] },
            arr: [1, 2],
            st: { start: ts, n: 3 },
          },
          { id: 2, d: null, b: false, s: null, ts: null, day: null, bin: null, j: null, arr: null, st: null },
        ],
        { batchId: 0, outputMode: 'append' },
      );
      expect(r.rowsWritten).toBe(2);
      const rows = await admin.query(
        `SELECT id, d, b, s, ts, day, HEX(bin) AS bin, j, arr, st FROM \`${name}\` ORDER BY id`,
      );
      expect(rows[0]).toEqual({
        id: 1,
        d: 1.5,
        b: 1,
        s: 'a\'b"c`\\ ✓',
        ts: '2025-01-02 03:04:05.678',
        day: '2024-10-04',
        bin: '0001FF',
        j: '{"a":[1,"x"]}',
        arr: '[1,2]',
        st: '{"start":"2025-01-02T03:04:05.678Z","n":3}',
      });
      expect(rows[1]).toEqual({
        id: 2,
        d: null,
        b: 0,
        s: null,
        ts: null,
        day: null,
        bin: null,
        j: null,
        arr: null,
        st: null,
      });
    } finally {
      await sink.close();
    }
  });

  it('a timestamp into an existing BIGINT column is stored as epoch milliseconds, a date as days', async () => {
    const name = table('numeric');
    await admin.query(`CREATE TABLE \`${name}\` (ts BIGINT, day INT)`);
    const sink = mariadbSink({ connectionString: DB_URL, table: name });
    await sink.open(sinkContext(schema({ ts: t.timestamp, day: t.date }), 'append'));
    await sink.addBatch([{ ts: 1_700_000_000_123, day: 19_000 }], { batchId: 0, outputMode: 'append' });
    await sink.close();
    expect(await admin.query(`SELECT ts, day FROM \`${name}\``)).toEqual([
      { ts: 1_700_000_000_123, day: 19_000 },
    ]);
  });
});

describe('append, upsert, complete; replayed batch ids', () => {
  it('append: each batch id lands once; a replayed id is skipped and reported as such', async () => {
    const name = table('append');
    const sink = mariadbSink({ connectionString: DB_URL, table: name, createTable: true, batchSize: 2 });
    const ctx = sinkContext(kv, 'append');
    await sink.open(ctx);
    const b0 = [
      { k: 'a', v: 1 },
      { k: 'b', v: 2 },
      { k: 'c', v: 3 },
    ];
    const r0 = await sink.addBatch(b0, { batchId: 0, outputMode: 'append' });
    expect(r0.metrics).toMatchObject({ rowsSent: 3, rowsAffected: 3, statements: 2, skippedReplay: 0 });
    const again = await sink.addBatch(b0, { batchId: 0, outputMode: 'append' });
    expect(again).toMatchObject({ rowsWritten: 0, metrics: { skippedReplay: 1 } });
    await sink.addBatch([{ k: 'd', v: 4 }], { batchId: 1, outputMode: 'append' });
    await sink.close();
    // A new instance on the same query id (a restarted query) skips what is in.
    const restarted = mariadbSink({ connectionString: DB_URL, table: name });
    await restarted.open(ctx);
    expect(
      (await restarted.addBatch([{ k: 'd', v: 4 }], { batchId: 1, outputMode: 'append' })).rowsWritten,
    ).toBe(0);
    await restarted.close();
    expect(await contents(name)).toEqual([
      { k: 'a', v: 1 },
      { k: 'b', v: 2 },
      { k: 'c', v: 3 },
      { k: 'd', v: 4 },
    ]);
    expect(await recordedBatch(admin, `mariadb-${name}`)).toBe(1);
  });

  it('upsert in update mode: rows replace their key; a later row of the same key in one batch wins', async () => {
    const name = table('upsert');
    const sink = mariadbSink({
      connectionString: DB_URL,
      table: name,
      createTable: true,
      mode: 'upsert',
      keyColumns: ['k'],
    });
    expect(sink.supportedOutputModes).toEqual(['append', 'update', 'complete']);
    await sink.open(sinkContext(kv, 'update'));
    await sink.addBatch(
      [
        { k: 'a', v: 1 },
        { k: 'b', v: 1 },
      ],
      { batchId: 0, outputMode: 'update' },
    );
    const r = await sink.addBatch(
      [
        { k: 'a', v: 2 },
        { k: 'c', v: 1 },
        { k: 'c', v: 5 },
      ],
      { batchId: 1, outputMode: 'update' },
    );
    expect(r.rowsWritten).toBe(3);
    await sink.close();
    expect(await contents(name)).toEqual([
      { k: 'a', v: 2 },
      { k: 'b', v: 1 },
      { k: 'c', v: 5 },
    ]);
  });

  it('complete mode replaces the whole table in the batch transaction', async () => {
    const name = table('complete');
    const sink = mariadbSink({ connectionString: DB_URL, table: name, createTable: true });
    expect(sink.supportedOutputModes).toEqual(['append', 'complete']);
    await sink.open(sinkContext(kv, 'complete'));
    await sink.addBatch(
      [
        { k: 'a', v: 1 },
        { k: 'b', v: 1 },
      ],
      { batchId: 0, outputMode: 'complete' },
    );
    const r = await sink.addBatch([{ k: 'a', v: 2 }], { batchId: 1, outputMode: 'complete' });
    expect(r.metrics).toMatchObject({ rowsDeleted: 2 });
    await sink.close();
    expect(await contents(name)).toEqual([{ k: 'a', v: 2 }]);
  });

  it('addBatchChunks writes the chunks in one transaction; a failing upstream leaves nothing behind', async () => {
    const name = table('chunks');
    const sink = mariadbSink({ connectionString: DB_URL, table: name, createTable: true, batchSize: 3 });
    await sink.open(sinkContext(kv, 'append'));
    async function* chunks(fail: boolean) {
      yield [
        { k: 'a', v: 1 },
        { k: 'b', v: 2 },
      ];
      yield [
        { k: 'c', v: 3 },
        { k: 'd', v: 4 },
      ];
      if (fail) throw new Error('the plan failed');
    }
    await expect(sink.addBatchChunks(chunks(true), { batchId: 0, outputMode: 'append' })).rejects.toThrow(
      'the plan failed',
    );
    expect(await contents(name)).toEqual([]);
    await sink.addBatchChunks(chunks(false), { batchId: 0, outputMode: 'append' });
    await sink.close();
    expect((await contents(name)).length).toBe(4);
  });
});

describe('errors say what to do', () => {
  it('a value of the wrong type fails the batch with its column and row, and nothing of the batch is in', async () => {
    const name = table('bad');
    const sink = mariadbSink({ connectionString: DB_URL, table: name, createTable: true, batchSize: 1 });
    await sink.open(sinkContext(kv, 'append'));
    const err = await sink
      .addBatch([{ k: 'a', v: 1 }, { k: 'b', v: 'x' } as unknown as Row], {
        batchId: 0,
        outputMode: 'append',
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(MillraceError);
    expect(err.code).toBe('SINK_BAD_VALUE');
    expect(err.message).toMatch(/column "v" of row 1 is "x", not a whole number/);
    await sink.close();
    expect(await contents(name)).toEqual([]);
  });

  it('a null upsert key is refused with advice', async () => {
    const name = table('nullkey');
    const sink = mariadbSink({
      connectionString: DB_URL,
      table: name,
      createTable: true,
      mode: 'upsert',
      keyColumns: ['k'],
    });
    await sink.open(sinkContext(schema({ k: t.string.orNull(), v: t.long }), 'update'));
    await expect(
      sink.addBatch([{ k: null, v: 1 }], { batchId: 0, outputMode: 'update' }),
    ).rejects.toMatchObject({
      code: 'MARIADB_NULL_KEY',
      message: expect.stringMatching(/filter out rows with a null key/),
    });
    await sink.close();
  });

  it('a string too long for its column fails (strict mode) instead of being truncated', async () => {
    const name = table('narrow');
    await admin.query(`CREATE TABLE \`${name}\` (k VARCHAR(3), v BIGINT) ENGINE=InnoDB`);
    const sink = mariadbSink({ connectionString: DB_URL, table: name });
    await sink.open(sinkContext(kv, 'append'));
    const err = await sink
      .addBatch([{ k: 'abcdef', v: 1 }], { batchId: 0, outputMode: 'append' })
      .catch((e) => e);
    expect(err).toMatchObject({ code: 'MARIADB_WRITE_FAILED', domain: 'user' });
    expect(err.message).toMatch(/Data too long for column 'k'.*widen the column/);
    expect(err.message).not.toMatch(/INSERT INTO/);
    await sink.close();
  });

  it('open() refuses a missing table, missing columns, a non-transactional engine and an upsert without a unique key', async () => {
    const missing = uniqueName('missing');
    await expect(
      mariadbSink({ connectionString: DB_URL, table: missing }).open(sinkContext(kv, 'append')),
    ).rejects.toMatchObject({
      code: 'MARIADB_NO_TABLE',
      message: expect.stringMatching(/createTable: true/),
    });
    const narrow = table('cols');
    await admin.query(`CREATE TABLE \`${narrow}\` (k VARCHAR(10)) ENGINE=InnoDB`);
    await expect(
      mariadbSink({ connectionString: DB_URL, table: narrow }).open(sinkContext(kv, 'append')),
    ).rejects.toMatchObject({
      code: 'MARIADB_COLUMN_MISMATCH',
      message: expect.stringMatching(/has no column "v"/),
    });
    const myisam = table('myisam');
    await admin.query(`CREATE TABLE \`${myisam}\` (k VARCHAR(10), v BIGINT) ENGINE=MyISAM`);
    await expect(
      mariadbSink({ connectionString: DB_URL, table: myisam }).open(sinkContext(kv, 'append')),
    ).rejects.toMatchObject({
      code: 'MARIADB_NOT_TRANSACTIONAL',
      message: expect.stringMatching(/MyISAM storage engine.*ENGINE=InnoDB/),
    });
    const nokey = table('nokey');
    await admin.query(`CREATE TABLE \`${nokey}\` (k VARCHAR(10), v BIGINT) ENGINE=InnoDB`);
    await expect(
      mariadbSink({ connectionString: DB_URL, table: nokey, mode: 'upsert', keyColumns: ['k'] }).open(
        sinkContext(kv, 'update'),
      ),
    ).rejects.toMatchObject({
      code: 'MARIADB_NO_UNIQUE_KEY',
      message: expect.stringMatching(/ADD UNIQUE \(k\)/),
    });
    await expect(
      mariadbSink({ connectionString: DB_URL, table: nokey }).open(sinkContext(kv, 'update')),
    ).rejects.toMatchObject({
      code: 'MARIADB_OUTPUT_MODE',
    });
  });

  it('a wrong password fails at once (not retried) and the password shows nowhere', async () => {
    const secret = 'right-pw-5a1f';
    const user = await userWithPassword(admin, secret);
    const wrong = 'wrong-pw-93d2';
    const log = recordingLogger();
    const sink = mariadbSink({
      connectionString: `mariadb://${user}:${wrong}@127.0.0.1:3306/test`,
      table: table('auth'),
      createTable: true,
    });
    expect(sink.describe()).toBe(
      `MariaDbSink[mariadb://${user}:***@127.0.0.1:3306/test, table ${sink.table}, append]`,
    );
    const err = await sink.open(sinkContext(kv, 'append', undefined, log)).catch((e) => e);
    expect(err).toMatchObject({ code: 'MARIADB_WRITE_FAILED', domain: 'user' });
    expect(err.message).toMatch(/Access denied.*Check the user name and password/);
    expect(log.records.filter((r) => r.level === 'warn')).toEqual([]);
    expect(JSON.stringify([err.message, log.records, sink.describe()])).not.toContain(wrong);
    // The right password works.
    const ok = mariadbSink({
      connectionString: `mariadb://${user}:${secret}@127.0.0.1:3306/test`,
      table: table('auth_ok'),
      createTable: true,
    });
    await ok.open(sinkContext(kv, 'append'));
    await ok.addBatch([{ k: 'a', v: 1 }], { batchId: 0, outputMode: 'append' });
    await ok.close();
  });
});
