/**
 * The sink against a real PostgreSQL, driven directly (open / addBatch):
 * table creation and type mapping, append, upsert, complete and update
 * output modes, replayed batch ids, and the checks open() makes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MillraceError, type Row, schema, t } from 'millrace';
import { postgresSink } from '../src/index.ts';
import { DB_URL, adminPool, cleanup, dropLater, sinkContext, uniqueName } from './helpers.ts';

afterAll(cleanup);
const admin = adminPool();

/** A fresh table name, dropped after the file. */
function table(prefix = 'sink'): string {
  const name = uniqueName(prefix);
  dropLater(`"${name}"`);
  return name;
}

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  return (await admin.query(sql)).rows;
}

const kv = schema({ k: t.string, v: t.long });

describe('createTable and type mapping', () => {
  it('creates the table with a PostgreSQL type for every Millrace type, and values round-trip', async () => {
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
    const sink = postgresSink({
      connectionString: DB_URL,
      table: name,
      mode: 'upsert',
      keyColumns: ['id'],
      createTable: true,
    });
    await sink.open(sinkContext(all, 'append'));
    try {
      const cols = await rows(
        `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = '${name}' ORDER BY ordinal_position`,
      );
      expect(cols.map((c) => [c.column_name, c.data_type, c.is_nullable])).toEqual([
        ['id', 'bigint', 'NO'],
        ['d', 'double precision', 'YES'],
        ['b', 'boolean', 'YES'],
        ['s', 'text', 'YES'],
        ['ts', 'timestamp with time zone', 'YES'],
        ['day', 'date', 'YES'],
        ['bin', 'bytea', 'YES'],
        ['j', 'jsonb', 'YES'],
        ['arr', 'jsonb', 'YES'],
        ['st', 'jsonb', 'YES'],
      ]);
      const pk = await rows(
        `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = '"${name}"'::regclass AND i.indisprimary`,
      );
      expect(pk.map((r) => r.attname)).toEqual(['id']);

      const ts = Date.UTC(2025, 4, 17, 12, 34, 56, 789);
      const tricky = 'quote " backslash \\ comma , brace {} NULL \u00e9\u4e2d 😀';
      const res = await sink.addBatch(
        [
          {
            id: 1,
            d: 1.5,
            b: true,
            s: tricky,
            ts,
            day: 20_000,
            bin: new Uint8Array([0, 1, 254, 255]),
            j: { a: [1, 'x', null], b: { c: true } },
            arr: [3, 1, 2],
            st: { start: ts, n: 7 },
          },
          {
            id: 2,
            d: null,
            b: false,
            s: '',
            ts: -1,
            day: -1,
            bin: new Uint8Array(0),
            j: 'plain',
            arr: [],
            st: null,
          },
          {
            id: 3,
            d: Number.NaN,
            b: null,
            s: 'NULL',
            ts: null,
            day: null,
            bin: null,
            j: null,
            arr: null,
            st: null,
          },
          { id: 4, d: -Infinity, b: null, s: null, ts: 0, day: 0, bin: null, j: 42, arr: null, st: null },
        ],
        { batchId: 0, outputMode: 'append' },
      );
      expect(res.rowsWritten).toBe(4);
      const got = await rows(
        `SELECT id::int, d, b, s, (extract(epoch from ts) * 1000)::bigint::text AS ms, day::text, encode(bin, 'hex') AS bin, j, arr, st FROM "${name}" ORDER BY id`,
      );
      expect(got).toEqual([
        {
          id: 1,
          d: 1.5,
          b: true,
          s: tricky,
          ms: String(ts),
          day: '2024-10-04',
          bin: '0001feff',
          j: { a: [1, 'x', null], b: { c: true } },
          arr: [3, 1, 2],
          st: { start: '2025-05-17T12:34:56.789Z', n: 7 },
        },
        {
          id: 2,
          d: null,
          b: false,
          s: '',
          ms: '-1',
          day: '1969-12-31',
          bin: '',
          j: 'plain',
          arr: [],
          st: null,
        },
        {
          id: 3,
          d: Number.NaN,
          b: null,
          s: 'NULL',
          ms: null,
          day: null,
          bin: null,
          j: null,
          arr: null,
          st: null,
        },
        {
          id: 4,
          d: -Infinity,
          b: null,
          s: null,
          ms: '0',
          day: '1970-01-01',
          bin: null,
          j: 42,
          arr: null,
          st: null,
        },
      ]);
    } finally {
      await sink.close();
    }
  });

  it('writes into an existing table whose column types differ (timestamp without time zone, integer, json, text)', async () => {
    const name = table('existing');
    await admin.query(
      `CREATE TABLE "${name}" (id integer PRIMARY KEY, at timestamp, at_ms bigint, doc json, label varchar(20), extra text DEFAULT 'x')`,
    );
    const s = schema({
      id: t.long,
      at: t.timestamp,
      at_ms: t.timestamp,
      doc: t.struct({ a: t.long }),
      label: t.string,
    });
    const sink = postgresSink({ connectionString: DB_URL, table: name });
    await sink.open(sinkContext(s, 'append'));
    try {
      const ts = Date.UTC(2024, 1, 29, 23, 59, 59, 5);
      await sink.addBatch([{ id: 1, at: ts, at_ms: ts, doc: { a: 1 }, label: 'hi' }], {
        batchId: 0,
        outputMode: 'append',
      });
      const got = await rows(`SELECT id, at::text, at_ms::text, doc::text, label, extra FROM "${name}"`);
      expect(got).toEqual([
        { id: 1, at: '2024-02-29 23:59:59.005', at_ms: String(ts), doc: '{"a":1}', label: 'hi', extra: 'x' },
      ]);
    } finally {
      await sink.close();
    }
  });

  it('quotes identifiers: table and column names with capitals, spaces and double quotes', async () => {
    const name = `${uniqueName('Odd')} "Name"`;
    dropLater(`"${name.replace(/"/g, '""')}"`, `postgres-${name}`);
    const s = schema({ 'Key Col': t.string, 'say "hi"': t.long, select: t.boolean });
    const sink = postgresSink({
      connectionString: DB_URL,
      table: name,
      mode: 'upsert',
      keyColumns: ['Key Col'],
      createTable: true,
    });
    await sink.open(sinkContext(s, 'update'));
    try {
      await sink.addBatch([{ 'Key Col': 'a', 'say "hi"': 1, select: true }], {
        batchId: 0,
        outputMode: 'update',
      });
      await sink.addBatch([{ 'Key Col': 'a', 'say "hi"': 2, select: false }], {
        batchId: 1,
        outputMode: 'update',
      });
      const got = await rows(`SELECT * FROM "${name.replace(/"/g, '""')}"`);
      expect(got).toEqual([{ 'Key Col': 'a', 'say "hi"': '2', select: false }]);
    } finally {
      await sink.close();
    }
  });
});

describe('writing', () => {
  it('append: inserts every row, in statements of batchSize rows', async () => {
    const name = table('append');
    const sink = postgresSink({ connectionString: DB_URL, table: name, createTable: true, batchSize: 3 });
    await sink.open(sinkContext(kv, 'append'));
    try {
      const batch = Array.from({ length: 10 }, (_, i) => ({ k: `k${i % 4}`, v: i }));
      const r = await sink.addBatch(batch, { batchId: 0, outputMode: 'append' });
      expect(r.rowsWritten).toBe(10);
      expect(r.metrics).toMatchObject({ rowsInserted: 10, statements: 4, retries: 0, skippedReplay: 0 });
      const r2 = await sink.addBatch([], { batchId: 1, outputMode: 'append' });
      expect(r2.rowsWritten).toBe(0);
      const got = await rows(`SELECT k, v::int FROM "${name}" ORDER BY v`);
      expect(got).toEqual(batch);
    } finally {
      await sink.close();
    }
  });

  it('upsert: inserts new keys, updates existing ones, and keeps the last row of a key repeated within a batch', async () => {
    const name = table('upsert');
    const sink = postgresSink({
      connectionString: DB_URL,
      table: name,
      createTable: true,
      mode: 'upsert',
      keyColumns: ['k'],
    });
    await sink.open(sinkContext(kv, 'append'));
    try {
      const r0 = await sink.addBatch(
        [
          { k: 'a', v: 1 },
          { k: 'b', v: 1 },
          { k: 'a', v: 2 },
          { k: 'a', v: 3 },
        ],
        { batchId: 0, outputMode: 'append' },
      );
      expect(r0.rowsWritten).toBe(2);
      expect(r0.metrics).toMatchObject({ rowsInserted: 2, rowsUpdated: 0, duplicateKeysDropped: 2 });
      const r1 = await sink.addBatch(
        [
          { k: 'b', v: 10 },
          { k: 'c', v: 10 },
          { k: 'b', v: 11 },
        ],
        { batchId: 1, outputMode: 'append' },
      );
      expect(r1.metrics).toMatchObject({ rowsInserted: 1, rowsUpdated: 1, duplicateKeysDropped: 1 });
      expect(await rows(`SELECT k, v::int FROM "${name}" ORDER BY k`)).toEqual([
        { k: 'a', v: 3 },
        { k: 'b', v: 11 },
        { k: 'c', v: 10 },
      ]);
    } finally {
      await sink.close();
    }
  });

  it('upsert with a composite key, duplicates across statement boundaries: the last row wins', async () => {
    const name = table('upsert2');
    const s = schema({ a: t.long, b: t.string, v: t.long });
    const sink = postgresSink({
      connectionString: DB_URL,
      table: name,
      createTable: true,
      mode: 'upsert',
      keyColumns: ['a', 'b'],
      batchSize: 4,
    });
    await sink.open(sinkContext(s, 'append'));
    try {
      const batch: Row[] = [];
      for (let i = 0; i < 30; i++) batch.push({ a: i % 3, b: i % 2 ? 'x' : 'y', v: i });
      await sink.addBatch(batch, { batchId: 0, outputMode: 'append' });
      const expected = new Map<string, Row>();
      for (const r of batch) expected.set(`${r.a}/${r.b}`, r);
      expect(await rows(`SELECT a::int, b, v::int FROM "${name}" ORDER BY a, b`)).toEqual(
        [...expected.values()].sort(
          (x, y) => (x.a as number) - (y.a as number) || String(x.b).localeCompare(String(y.b)),
        ),
      );
    } finally {
      await sink.close();
    }
  });

  it('a replayed batch id is a no-op: addBatch twice with the same id writes the rows once', async () => {
    const name = table('replay');
    const ctx = sinkContext(kv, 'append');
    const sink = postgresSink({ connectionString: DB_URL, table: name, createTable: true });
    await sink.open(ctx);
    try {
      const batch = [
        { k: 'a', v: 1 },
        { k: 'b', v: 2 },
      ];
      expect((await sink.addBatch(batch, { batchId: 0, outputMode: 'append' })).rowsWritten).toBe(2);
      const again = await sink.addBatch(batch, { batchId: 0, outputMode: 'append' });
      expect(again.rowsWritten).toBe(0);
      expect(again.metrics).toMatchObject({ skippedReplay: 1 });
      // The same sink object closed and opened again (a query restarted in the same process).
      await sink.close();
      await sink.open(ctx);
      expect((await sink.addBatch(batch, { batchId: 0, outputMode: 'append' })).rowsWritten).toBe(0);
      // An older batch id too (a checkpoint behind the table).
      await sink.addBatch([{ k: 'c', v: 3 }], { batchId: 1, outputMode: 'append' });
      expect((await sink.addBatch(batch, { batchId: 0, outputMode: 'append' })).rowsWritten).toBe(0);
      // A new sink object on the same query (a restarted process) skips it as well.
      const restarted = postgresSink({ connectionString: DB_URL, table: name });
      await restarted.open(ctx);
      expect(
        (await restarted.addBatch([{ k: 'c', v: 3 }], { batchId: 1, outputMode: 'append' })).rowsWritten,
      ).toBe(0);
      await restarted.close();
      expect(await rows(`SELECT k, v::int FROM "${name}" ORDER BY k`)).toEqual([...batch, { k: 'c', v: 3 }]);
      const progress = await rows(
        `SELECT batch_id::int FROM millrace_sink_batches WHERE query_id = '${ctx.queryId}' AND sink = 'postgres-${name}'`,
      );
      expect(progress).toEqual([{ batch_id: 1 }]);
    } finally {
      await sink.close();
    }
  });

  it('a replayed batch through addBatchChunks still consumes every chunk (stateful operators read as it goes)', async () => {
    const name = table('chunks');
    const sink = postgresSink({ connectionString: DB_URL, table: name, createTable: true, batchSize: 5 });
    await sink.open(sinkContext(kv, 'append'));
    try {
      let pulled = 0;
      async function* chunks(): AsyncGenerator<Row[]> {
        for (let c = 0; c < 4; c++) {
          pulled++;
          yield Array.from({ length: 3 }, (_, i) => ({ k: `c${c}`, v: c * 3 + i }));
        }
      }
      const first = await sink.addBatchChunks(chunks(), { batchId: 0, outputMode: 'append' });
      expect(first.rowsWritten).toBe(12);
      expect(first.metrics).toMatchObject({ statements: 3 });
      expect(pulled).toBe(4);
      const replay = await sink.addBatchChunks(chunks(), { batchId: 0, outputMode: 'append' });
      expect(replay.rowsWritten).toBe(0);
      expect(pulled).toBe(8);
      expect((await rows(`SELECT count(*)::int AS n FROM "${name}"`))[0]!.n).toBe(12);
    } finally {
      await sink.close();
    }
  });

  it('complete mode replaces the whole content in one transaction (a reader never sees a half table)', async () => {
    const name = table('complete');
    const sink = postgresSink({ connectionString: DB_URL, table: name, createTable: true, batchSize: 2 });
    await sink.open(sinkContext(kv, 'complete'));
    const reader = await admin.connect();
    try {
      await sink.addBatch(
        [
          { k: 'a', v: 1 },
          { k: 'b', v: 1 },
          { k: 'c', v: 1 },
        ],
        { batchId: 0, outputMode: 'complete' },
      );
      // A reader in a repeatable-read snapshot taken before batch 1 keeps seeing batch 0 whole.
      await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      expect((await reader.query(`SELECT count(*)::int AS n FROM "${name}"`)).rows[0].n).toBe(3);
      const r = await sink.addBatch(
        [
          { k: 'a', v: 2 },
          { k: 'd', v: 2 },
        ],
        { batchId: 1, outputMode: 'complete' },
      );
      expect(r.metrics).toMatchObject({ rowsDeleted: 3, rowsInserted: 2 });
      expect((await reader.query(`SELECT k, v::int FROM "${name}" ORDER BY k`)).rows).toHaveLength(3);
      await reader.query('COMMIT');
      expect(await rows(`SELECT k, v::int FROM "${name}" ORDER BY k`)).toEqual([
        { k: 'a', v: 2 },
        { k: 'd', v: 2 },
      ]);
      // A replay of batch 0 does not bring the old content back.
      await sink.addBatch([{ k: 'z', v: 0 }], { batchId: 0, outputMode: 'complete' });
      expect(await rows(`SELECT k FROM "${name}" ORDER BY k`)).toEqual([{ k: 'a' }, { k: 'd' }]);
    } finally {
      reader.release();
      await sink.close();
    }
  });

  it('update output mode needs mode upsert, and then updates rows by key', async () => {
    const name = table('update');
    const appendSink = postgresSink({ connectionString: DB_URL, table: name, createTable: true });
    const err = await appendSink.open(sinkContext(kv, 'update')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MillraceError);
    expect((err as MillraceError).domain).toBe('user');
    expect((err as MillraceError).message).toMatch(/output mode 'update'.*set mode: 'upsert' and keyColumns/);
    await appendSink.close();

    const sink = postgresSink({
      connectionString: DB_URL,
      table: name,
      createTable: true,
      mode: 'upsert',
      keyColumns: ['k'],
    });
    await sink.open(sinkContext(kv, 'update'));
    try {
      await sink.addBatch([{ k: 'a', v: 1 }], { batchId: 0, outputMode: 'update' });
      await sink.addBatch(
        [
          { k: 'a', v: 2 },
          { k: 'b', v: 1 },
        ],
        { batchId: 1, outputMode: 'update' },
      );
      expect(await rows(`SELECT k, v::int FROM "${name}" ORDER BY k`)).toEqual([
        { k: 'a', v: 2 },
        { k: 'b', v: 1 },
      ]);
    } finally {
      await sink.close();
    }
  });

  it('two sinks of different queries on one table keep separate progress', async () => {
    const name = table('twoq');
    const a = postgresSink({ connectionString: DB_URL, table: name, createTable: true });
    const b = postgresSink({ connectionString: DB_URL, table: name, createTable: true });
    await a.open(sinkContext(kv, 'append'));
    await b.open(sinkContext(kv, 'append'));
    try {
      await a.addBatch([{ k: 'a', v: 0 }], { batchId: 0, outputMode: 'append' });
      await b.addBatch([{ k: 'b', v: 0 }], { batchId: 0, outputMode: 'append' });
      expect(await rows(`SELECT k FROM "${name}" ORDER BY k`)).toEqual([{ k: 'a' }, { k: 'b' }]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
