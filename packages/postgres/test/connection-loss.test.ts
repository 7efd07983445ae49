/**
 * Connection loss against a real server: a backend terminated in the middle
 * of a batch's transaction, while idle between batches, or while the sink
 * waits for the next chunk; a server that refuses connections for a while;
 * a COMMIT whose answer never arrives; and giving up after maxRetries. In
 * every case the batch lands exactly once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MillraceError, type Row, count, createSession, memoryStream, schema, t } from 'millrace';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { postgresSink } from '../src/index.ts';
import {
  DB_URL,
  TcpProxy,
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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function newTable(prefix: string): string {
  const name = uniqueName(prefix);
  dropLater(`"${name}"`);
  return name;
}

const batchOf = (n: number, tag: string): Row[] =>
  Array.from({ length: n }, (_, i) => ({ k: `${tag}${i}`, v: i }));

async function contents(name: string): Promise<{ k: string; v: number }[]> {
  return (await admin.query(`SELECT k, v::int FROM "${name}" ORDER BY k`)).rows;
}

/** Backends of a sink (its pool sets application_name `millrace <sink name>`). */
async function backendsOf(sinkName: string, where = 'true'): Promise<number[]> {
  const r = await admin.query(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND ${where}`, [
    `millrace ${sinkName}`.slice(0, 63),
  ]);
  return r.rows.map((x: { pid: number }) => x.pid);
}

async function terminate(pids: number[]): Promise<void> {
  for (const pid of pids) await admin.query('SELECT pg_terminate_backend($1)', [pid]);
}

async function waitFor<T>(
  f: () => Promise<T | null | undefined | false>,
  what: string,
  ms = 10_000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('pg_terminate_backend', () => {
  it('mid-transaction (blocked on a lock): the batch is retried and lands once', async () => {
    const name = newTable('kill_mid');
    const log = recordingLogger();
    const sink = postgresSink({
      connectionString: DB_URL,
      table: name,
      createTable: true,
      initialBackoffMs: 20,
    });
    await sink.open(sinkContext(kv, 'append', uniqueName('q'), log));
    const locker = await admin.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${name}" IN ACCESS EXCLUSIVE MODE`);
      const write = sink.addBatch(batchOf(50, 'a'), { batchId: 0, outputMode: 'append' });
      const pids = await waitFor(async () => {
        const p = await backendsOf(sink.name, `wait_event_type = 'Lock'`);
        return p.length ? p : null;
      }, 'the sink to block on the lock');
      await terminate(pids);
      await locker.query('COMMIT');
      const r = await write;
      expect(r.rowsWritten).toBe(50);
      expect(r.metrics).toMatchObject({ retries: 1, rowsInserted: 50 });
      expect(log.records.find((x) => x.msg.includes('retrying'))?.fields).toMatchObject({
        batch: 0,
        retry: 1,
        error: expect.stringMatching(/terminat/i),
      });
      expect(await contents(name)).toEqual(
        batchOf(50, 'a').sort((x, y) => String(x.k).localeCompare(String(y.k))),
      );
    } finally {
      locker.release();
      await sink.close();
    }
  });

  it('between batches (an idle connection dies): the next batch reconnects, the process does not crash', async () => {
    const name = newTable('kill_idle');
    const sink = postgresSink({
      connectionString: DB_URL,
      table: name,
      createTable: true,
      initialBackoffMs: 20,
    });
    await sink.open(sinkContext(kv, 'append'));
    try {
      await sink.addBatch(batchOf(3, 'a'), { batchId: 0, outputMode: 'append' });
      const idle = await backendsOf(sink.name);
      expect(idle).toHaveLength(1);
      await terminate(idle);
      await sleep(50);
      await sink.addBatch(batchOf(3, 'b'), { batchId: 1, outputMode: 'append' });
      expect((await contents(name)).map((r) => r.k)).toEqual(['a0', 'a1', 'a2', 'b0', 'b1', 'b2']);
    } finally {
      await sink.close();
    }
  });

  it('while the sink waits for the next chunk (idle in transaction): chunks already read are sent again', async () => {
    const name = newTable('kill_chunk');
    const sink = postgresSink({
      connectionString: DB_URL,
      table: name,
      createTable: true,
      batchSize: 10,
      initialBackoffMs: 20,
    });
    await sink.open(sinkContext(kv, 'append'));
    try {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let reading = false;
      async function* chunks(): AsyncGenerator<Row[]> {
        yield batchOf(25, 'a');
        reading = true;
        await gate; // the plan is busy computing the next chunk
        yield batchOf(25, 'b');
      }
      const write = sink.addBatchChunks(chunks(), { batchId: 0, outputMode: 'append' });
      await waitFor(async () => reading, 'the first chunk to be read');
      const pids = await waitFor(async () => {
        const p = await backendsOf(sink.name, `state = 'idle in transaction'`);
        return p.length ? p : null;
      }, 'the sink to be idle in its transaction');
      await terminate(pids);
      await sleep(50);
      release();
      const r = await write;
      expect(r.rowsWritten).toBe(50);
      expect(r.metrics).toMatchObject({ retries: 1, statements: 5 });
      expect(await contents(name)).toHaveLength(50);
      expect(new Set((await contents(name)).map((x) => x.k)).size).toBe(50);
    } finally {
      await sink.close();
    }
  });

  it('a running query whose backends are killed again and again writes every count exactly once', async () => {
    const name = newTable('kill_query');
    const checkpointLocation = await mkdtemp(path.join(tmpdir(), 'millrace-pg-kill-'));
    const session = createSession();
    const input = memoryStream(schema({ user: t.long }));
    const sink = postgresSink({
      connectionString: DB_URL,
      table: name,
      mode: 'upsert',
      keyColumns: ['user'],
      createTable: true,
      initialBackoffMs: 5,
      maxBackoffMs: 50,
      maxRetries: 50,
    });
    const query = await session
      .readStream(input)
      .groupBy('user')
      .agg({ n: count() })
      .writeStream({ sink, outputMode: 'update', checkpointLocation })
      .start();
    const expected = new Map<number, number>();
    let stop = false;
    let kills = 0;
    const killer = (async () => {
      while (!stop) {
        const pids = await backendsOf(sink.name);
        kills += pids.length;
        await terminate(pids);
        await sleep(15);
      }
    })();
    try {
      // At least 25 batches, and on until some batch had to be retried (kills can land between batches).
      const retried = () => query.recentProgress.some((p) => Number(p.sink.metrics?.retries ?? 0) > 0);
      for (let b = 0; b < 25 || (!retried() && b < 300); b++) {
        const rows = Array.from({ length: 50 }, (_, i) => ({ user: (b * 7 + i * 13) % 37 }));
        for (const r of rows) expected.set(r.user, (expected.get(r.user) ?? 0) + 1);
        input.addData(rows);
        await query.processAllAvailable();
      }
    } finally {
      stop = true;
      await killer;
      await query.stop();
      await rm(checkpointLocation, { recursive: true, force: true });
    }
    const retries = query.recentProgress.reduce((s, p) => s + Number(p.sink.metrics?.retries ?? 0), 0);
    console.log(
      `[kill_query] ${kills} backends killed, ${retries} retries over ${query.recentProgress.length} batches`,
    );
    expect(kills, 'the killer never found a backend').toBeGreaterThan(5);
    expect(retries, 'no batch had to be retried').toBeGreaterThan(0);
    const got = (await admin.query(`SELECT "user"::int AS u, n::int FROM "${name}" ORDER BY 1`)).rows;
    expect(got).toEqual([...expected].sort((a, b) => a[0] - b[0]).map(([u, n]) => ({ u, n })));
  });
});

describe('through a TCP proxy', () => {
  it('connections refused for a while (server down), then accepted: the batch waits, retries and lands once', async () => {
    const proxy = new TcpProxy();
    await proxy.start();
    const name = newTable('refused');
    const sink = postgresSink({
      connectionString: proxy.url(),
      table: name,
      createTable: true,
      initialBackoffMs: 50,
      maxBackoffMs: 200,
    });
    // What the query status would say (ConnectorContext.reportWaiting).
    const waits: (string | null)[] = [];
    await sink.open({ ...sinkContext(kv, 'append'), reportWaiting: (w) => waits.push(w) });
    try {
      await sink.addBatch(batchOf(5, 'a'), { batchId: 0, outputMode: 'append' });
      expect(waits).toEqual([]);
      await proxy.stop(); // the server "goes away": live connections cut, new ones refused
      const write = sink.addBatch(batchOf(5, 'b'), { batchId: 1, outputMode: 'append' });
      await sleep(400);
      await proxy.start();
      const r = await write;
      expect(Number(r.metrics!.retries)).toBeGreaterThanOrEqual(2);
      expect(r.rowsWritten).toBe(5);
      // While it retried, the status said it waits for the server; once written, the wait cleared.
      expect(waits.length).toBeGreaterThanOrEqual(3);
      expect(waits.slice(0, -1).every((w) => w !== null && w.startsWith('PostgreSQL at 127.0.0.1:'))).toBe(
        true,
      );
      expect(waits.at(-1)).toBeNull();
      expect((await contents(name)).map((x) => x.k)).toEqual([
        'a0',
        'a1',
        'a2',
        'a3',
        'a4',
        'b0',
        'b1',
        'b2',
        'b3',
        'b4',
      ]);
    } finally {
      await sink.close();
      await proxy.stop();
    }
  });

  it('the answer to COMMIT is lost: the retry finds the batch committed and writes nothing more', async () => {
    const proxy = new TcpProxy();
    await proxy.start();
    const name = newTable('lost_commit');
    const sink = postgresSink({
      connectionString: proxy.url(),
      table: name,
      createTable: true,
      initialBackoffMs: 20,
    });
    await sink.open(sinkContext(kv, 'append'));
    try {
      const cut = proxy.cutAfterClientSends('COMMIT');
      const r = await sink.addBatch(batchOf(20, 'a'), { batchId: 0, outputMode: 'append' });
      await cut;
      expect(r.metrics).toMatchObject({ retries: 1, commitConfirmedAfterRetry: 1, rowsInserted: 20 });
      expect(r.rowsWritten).toBe(20);
      expect(await contents(name)).toHaveLength(20);
      // And an ordinary next batch.
      await sink.addBatch(batchOf(1, 'b'), { batchId: 1, outputMode: 'append' });
      expect(await contents(name)).toHaveLength(21);
    } finally {
      await sink.close();
      await proxy.stop();
    }
  });

  it('gives up after maxRetries with a retryable external error that says what to check; a later run writes the batch once', async () => {
    const proxy = new TcpProxy();
    await proxy.start();
    const name = newTable('give_up');
    const ctx = sinkContext(kv, 'append');
    const sink = postgresSink({
      connectionString: proxy.url('postgres', 'pw-xyz'),
      table: name,
      createTable: true,
      maxRetries: 2,
      initialBackoffMs: 10,
    });
    await sink.open(ctx);
    try {
      await proxy.stop();
      const e = (await sink
        .addBatch(batchOf(3, 'a'), { batchId: 0, outputMode: 'append' })
        .catch((x: unknown) => x)) as MillraceError;
      expect(e).toBeInstanceOf(MillraceError);
      expect(e.code).toBe('POSTGRES_UNAVAILABLE');
      expect(e.domain).toBe('external');
      expect(e.retryable).toBe(true);
      expect(e.context).toMatchObject({ batch: 0 });
      expect(e.message).toContain(
        `writing batch 0 to table ${name} on 127.0.0.1:${proxy.port}/test failed after 2 retries`,
      );
      expect(e.message).toContain('ECONNREFUSED');
      expect(e.message).toContain('Restarting the query from its checkpoint is safe');
      expect(e.message).not.toContain('pw-xyz');
      await proxy.start();
      expect((await sink.addBatch(batchOf(3, 'a'), { batchId: 0, outputMode: 'append' })).rowsWritten).toBe(
        3,
      );
      expect(await contents(name)).toHaveLength(3);
    } finally {
      await sink.close();
      await proxy.stop();
    }
  });
});
