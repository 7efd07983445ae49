/**
 * Options, the checks open() makes against the query and the table, error
 * messages, and secrets: a password never shows in describe(), errors or logs.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MillraceError, schema, t } from 'millrace';
import pg from 'pg';
import { postgresSink, quoteIdent, redactConnectionString } from '../src/index.ts';
import {
  DB_URL,
  adminPool,
  cleanup,
  dropLater,
  recordingLogger,
  sinkContext,
  uniqueName,
} from './helpers.ts';

afterAll(cleanup);
const admin = adminPool();
const kv = schema({ k: t.string, v: t.long });

function caught(f: () => unknown): MillraceError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MillraceError);
    return e as MillraceError;
  }
  throw new Error('expected an error');
}

async function rejected(p: Promise<unknown>): Promise<MillraceError> {
  const e = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(MillraceError);
  return e as MillraceError;
}

describe('options', () => {
  it('upsert without keyColumns fails at construction, naming the option', () => {
    const e = caught(() => postgresSink({ connectionString: DB_URL, table: 't', mode: 'upsert' }));
    expect(e.code).toBe('INVALID_OPTION');
    expect(e.domain).toBe('user');
    expect(e.message).toMatch(/mode 'upsert' needs keyColumns.*keyColumns: \['id'\]/);
  });

  it.each([
    [{ table: 't' }, /say where to connect: connectionString/],
    [
      { connectionString: DB_URL, connection: {}, table: 't' },
      /only one of connectionString, connection and pool/,
    ],
    [{ connectionString: DB_URL }, /"table" must be a table name/],
    [{ connectionString: DB_URL, table: 'a.b.c' }, /schema\.table.*object form/],
    [{ connectionString: DB_URL, table: 't', keyColumn: ['k'] }, /unknown option "keyColumn"/],
    [{ connectionString: DB_URL, table: 't', mode: 'merge' }, /"mode" must be 'append' or 'upsert'/],
    [{ connectionString: DB_URL, table: 't', keyColumns: ['k'] }, /keyColumns apply to mode 'upsert' only/],
    [{ connectionString: DB_URL, table: 't', mode: 'upsert', keyColumns: ['k', 'k'] }, /names "k" twice/],
    [{ connectionString: DB_URL, table: 't', batchSize: 0 }, /"batchSize" must be a whole number ≥ 1/],
    [{ connectionString: DB_URL, table: 't', maxRetries: -1 }, /"maxRetries" must be a whole number ≥ 0/],
    [
      { connectionString: DB_URL, table: 't', initialBackoffMs: 500, maxBackoffMs: 100 },
      /"maxBackoffMs" \(100\) must be ≥/,
    ],
    [{ connectionString: 'mysql://root@localhost/db', table: 't' }, /not a PostgreSQL URL/],
    [{ pool: {}, table: 't' }, /"pool" must be a pg.Pool/],
    [{ connectionString: DB_URL, table: 't', progressTable: 't' }, /must differ from the data table/],
  ])('%j is refused', (options, message) => {
    const e = caught(() => postgresSink(options as never));
    expect(e.code).toBe('INVALID_OPTION');
    expect(e.message).toMatch(message);
  });

  it('an unknown key column fails open() (so start()) with the columns the query has', async () => {
    const sink = postgresSink({ connectionString: DB_URL, table: 'x', mode: 'upsert', keyColumns: ['id'] });
    const e = await rejected(sink.open(sinkContext(kv, 'update')));
    expect(e.code).toBe('UNKNOWN_COLUMN');
    expect(e.message).toContain('key column "id" is not in the query\'s output; it has: k, v');
    await sink.close();
  });

  it('quoteIdent doubles inner quotes', () => {
    expect(quoteIdent('plain')).toBe('"plain"');
    expect(quoteIdent('a "b" c')).toBe('"a ""b"" c"');
    expect(quoteIdent('x"; DROP TABLE y; --')).toBe('"x""; DROP TABLE y; --"');
  });
});

describe('open() checks the table', () => {
  it('a missing table: says to create it or set createTable', async () => {
    const sink = postgresSink({ connectionString: DB_URL, table: uniqueName('missing') });
    const e = await rejected(sink.open(sinkContext(kv, 'append')));
    expect(e.code).toBe('POSTGRES_NO_TABLE');
    expect(e.message).toMatch(
      /does not exist on 127\.0\.0\.1:5432\/test; create it, or set createTable: true/,
    );
    await sink.close();
  });

  it('columns the table lacks (with a hint about case folding)', async () => {
    const name = uniqueName('cols');
    dropLater(`"${name}"`);
    await admin.query(`CREATE TABLE "${name}" (userid text, v bigint)`);
    const sink = postgresSink({ connectionString: DB_URL, table: name });
    const e = await rejected(sink.open(sinkContext(schema({ userId: t.string, v: t.long }), 'append')));
    expect(e.code).toBe('POSTGRES_COLUMN_MISMATCH');
    expect(e.message).toContain('has no column "userId"');
    expect(e.message).toContain('folds unquoted names to lower case: "userId" ≠ "userid"');
    await sink.close();
  });

  it('upsert on a table without a unique key on keyColumns', async () => {
    const name = uniqueName('nokey');
    dropLater(`"${name}"`);
    await admin.query(`CREATE TABLE "${name}" (k text, v bigint, UNIQUE (k, v))`);
    const sink = postgresSink({ connectionString: DB_URL, table: name, mode: 'upsert', keyColumns: ['k'] });
    const e = await rejected(sink.open(sinkContext(kv, 'update')));
    expect(e.code).toBe('POSTGRES_NO_UNIQUE_KEY');
    expect(e.message).toContain('it has unique keys on (k, v)');
    expect(e.message).toContain(`CREATE UNIQUE INDEX ON "${name}" ("k")`);
    await sink.close();
  });
});

describe('errors', () => {
  it('a non-retryable SQL error fails the batch at once, naming the table, the column and what to do', async () => {
    const name = uniqueName('strict');
    dropLater(`"${name}"`);
    await admin.query(`CREATE TABLE "${name}" (k text NOT NULL CHECK (k <> 'bad'), v smallint)`);
    const log = recordingLogger();
    const sink = postgresSink({ connectionString: DB_URL, table: name, maxRetries: 3 });
    await sink.open(sinkContext(kv, 'append', uniqueName('q'), log));
    try {
      const overflow = await rejected(
        sink.addBatch([{ k: 'a', v: 100_000 }], { batchId: 0, outputMode: 'append' }),
      );
      expect(overflow.code).toBe('POSTGRES_WRITE_FAILED');
      expect(overflow.domain).toBe('user');
      expect(overflow.retryable).toBe(false);
      expect(overflow.context).toMatchObject({ sink: `postgres-${name}`, batch: 0 });
      expect(overflow.message).toContain(`writing batch 0 to table ${name} on 127.0.0.1:5432/test failed`);
      expect(overflow.message).toMatch(/smallint out of range \(SQLSTATE 22003\)/);
      expect(overflow.message).toContain(
        "compare the table's column types with the query's output ([k: string, v: long])",
      );

      const nulls = await rejected(sink.addBatch([{ k: null, v: 1 }], { batchId: 0, outputMode: 'append' }));
      expect(nulls.message).toMatch(/null value in column "k".*SQLSTATE 23502.*column "k"/);
      expect(nulls.message).toContain('filter or fill nulls');

      const check = await rejected(sink.addBatch([{ k: 'bad', v: 1 }], { batchId: 0, outputMode: 'append' }));
      expect(check.message).toMatch(/SQLSTATE 23514.*constraint "[^"]+_k_check"/);
      expect(log.records.filter((r) => r.level === 'warn')).toEqual([]); // no retries for these

      // The batch is still unwritten: a good write of the same id goes through.
      expect(
        (await sink.addBatch([{ k: 'ok', v: 1 }], { batchId: 0, outputMode: 'append' })).rowsWritten,
      ).toBe(1);
    } finally {
      await sink.close();
    }
  });

  it('a value of the wrong type is reported with its column and row before anything is sent', async () => {
    const name = uniqueName('badval');
    dropLater(`"${name}"`);
    const sink = postgresSink({ connectionString: DB_URL, table: name, createTable: true });
    await sink.open(sinkContext(kv, 'append'));
    try {
      const e = await rejected(
        sink.addBatch(
          [
            { k: 'a', v: 1 },
            { k: 'b', v: 'two' },
          ],
          { batchId: 3, outputMode: 'append' },
        ),
      );
      expect(e.code).toBe('SINK_BAD_VALUE');
      expect(e.message).toContain('batch 3 for table');
      expect(e.message).toContain('column "v" of row 1 is "two", not a whole number (long)');
    } finally {
      await sink.close();
    }
  });

  it('upsert refuses a null key with the column named', async () => {
    const name = uniqueName('nullkey');
    dropLater(`"${name}"`);
    const sink = postgresSink({
      connectionString: DB_URL,
      table: name,
      createTable: true,
      mode: 'upsert',
      keyColumns: ['k'],
    });
    await sink.open(sinkContext(kv, 'update'));
    try {
      const e = await rejected(sink.addBatch([{ k: null, v: 1 }], { batchId: 0, outputMode: 'update' }));
      expect(e.code).toBe('POSTGRES_NULL_KEY');
      expect(e.message).toContain('null in key column "k"');
    } finally {
      await sink.close();
    }
  });
});

describe('secrets', () => {
  const PASSWORD = 'Sup3r-s3cret!pw';

  it('redactConnectionString hides the password in every form', () => {
    expect(redactConnectionString('postgres://app:Sup3r@db.example:5432/prod')).toBe(
      'postgres://app:***@db.example:5432/prod',
    );
    expect(redactConnectionString('postgresql://app:p@ss:w@rd@db/prod?sslmode=require')).toBe(
      'postgresql://app:***@db/prod?sslmode=require',
    );
    expect(redactConnectionString('postgres://db/prod?user=app&password=hunter2')).toBe(
      'postgres://db/prod?user=app&password=***',
    );
    expect(redactConnectionString('host=db user=app password=hunter2 dbname=prod')).toBe(
      'host=db user=app password=*** dbname=prod',
    );
    expect(redactConnectionString('postgres://app@db:5432/prod')).toBe('postgres://app@db:5432/prod');
    expect(redactConnectionString('postgres://db:5432/prod?x=a@b')).toBe('postgres://db:5432/prod?x=a@b');
  });

  it('describe() shows the server and table, never the password', () => {
    const a = postgresSink({
      connectionString: `postgres://app:${PASSWORD}@127.0.0.1:5432/test`,
      table: 'analytics.counts',
    });
    expect(a.describe()).toBe(
      'PostgresSink[postgres://app:***@127.0.0.1:5432/test, table analytics.counts, append]',
    );
    const b = postgresSink({
      connection: { host: 'db', user: 'app', password: PASSWORD, database: 'prod' },
      table: 't',
      mode: 'upsert',
      keyColumns: ['a', 'b'],
    });
    expect(b.describe()).toBe('PostgresSink[postgres://app:***@db:5432/prod, table t, upsert on (a, b)]');
    const pool = new pg.Pool({ connectionString: `postgres://app:${encodeURIComponent(PASSWORD)}@db/prod` });
    const c = postgresSink({ pool, table: 't' });
    expect(c.describe()).toBe('PostgresSink[pool(postgres://app:***@db/prod), table t, append]');
    void pool.end();
    for (const s of [a, b, c]) expect(s.describe()).not.toContain(PASSWORD.slice(0, 6));
  });

  it('errors and logs of a failing connection never contain the password', async () => {
    // Nothing listens on port 1: connections are refused.
    const log = recordingLogger();
    const sink = postgresSink({
      connectionString: `postgres://postgres:${encodeURIComponent(PASSWORD)}@127.0.0.1:1/test`,
      table: 't',
      maxRetries: 1,
      initialBackoffMs: 10,
    });
    const e = await rejected(sink.open(sinkContext(kv, 'append', uniqueName('q'), log)));
    expect(e.code).toBe('POSTGRES_UNAVAILABLE');
    expect(e.domain).toBe('external');
    expect(e.retryable).toBe(true);
    expect(e.message).toMatch(/preparing table t on 127\.0\.0\.1:1\/test failed after 1 retry/);
    expect(e.message).toMatch(/ECONNREFUSED/);
    expect(e.message).toContain('Check that PostgreSQL is running and reachable at 127.0.0.1:1/test');
    const everything = [
      e.message,
      String(e),
      e.stack ?? '',
      JSON.stringify(e.context),
      JSON.stringify(log.records),
    ].join('\n');
    expect(log.records.some((r) => r.msg.includes('retrying'))).toBe(true);
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain(encodeURIComponent(PASSWORD));
    await sink.close();
  });

  it('an authentication-type failure (unknown database) names the database, not the password', async () => {
    const sink = postgresSink({
      connectionString: `postgres://postgres:${PASSWORD}@127.0.0.1:5432/${uniqueName('nodb')}`,
      table: 't',
      maxRetries: 0,
    });
    const e = await rejected(sink.open(sinkContext(kv, 'append')));
    expect(e.message).toMatch(/SQLSTATE 3D000/);
    expect(e.message).toContain('Check the database name');
    expect(e.retryable).toBe(false);
    expect(`${e.message}${e.stack}`).not.toContain(PASSWORD);
    await sink.close();
  });

  it('a malformed connection string is reported redacted', () => {
    const e = caught(() =>
      postgresSink({ connectionString: `postgres://app:${PASSWORD}@[bad/db`, table: 't' }),
    );
    expect(e.message).toContain('postgres://app:***@[bad/db');
    expect(e.message).not.toContain(PASSWORD);
  });
});
