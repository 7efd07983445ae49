/**
 * Connection loss and outages against the real server:
 *   - the machine's MariaDB is shut down while a query runs and started again (its start command):
 *     the sink retries with backoff, logs what it waits for, and the query carries on exactly once;
 *   - a COMMIT whose answer never arrives (a proxy cuts the connection right after forwarding it):
 *     the retry finds the batch recorded and writes nothing twice;
 *   - a connection killed mid-transaction (KILL): the batch is re-run in full;
 *   - a server that never comes back: the sink gives up after maxRetries with MARIADB_UNAVAILABLE.
 *
 * In the slow project (files one at a time): stopping the shared server must not break other test
 * files that use it at the same moment.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSession, memoryStream, schema, t } from 'millrace';
import { mariadbSink } from '../src/index.ts';
import {
  DB_URL,
  TcpProxy,
  adminPool,
  cleanup,
  dropLater,
  recordedBatch,
  recordingLogger,
  sinkContext,
  startServer,
  stopServer,
  uniqueName,
} from './helpers.ts';

afterAll(async () => {
  await startServer(); // whatever happened, leave the server running
  await cleanup();
});
const admin = adminPool();
const kv = schema({ k: t.string, v: t.long });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const batchOf = (n: number, tag: string): { k: string; v: number }[] =>
  Array.from({ length: n }, (_, i) => ({ k: `${tag}${i}`, v: i }));

function newTable(prefix: string, sinkName?: string): string {
  const name = uniqueName(prefix);
  dropLater(name, sinkName);
  return name;
}

const keys = async (name: string) =>
  ((await admin.query(`SELECT k FROM \`${name}\` ORDER BY k`)) as { k: string }[]).map((r) => r.k);

describe('the real server stops and starts', () => {
  it('a running query waits (retrying with backoff) while MariaDB is down, then continues exactly once', async () => {
    const name = newTable('outage');
    const dir = await mkdtemp(path.join(tmpdir(), 'mariadb-outage-'));
    const log = recordingLogger();
    const session = createSession({ log });
    const input = memoryStream(kv);
    const query = await session
      .readStream(input)
      .writeStream({
        sink: mariadbSink({
          connectionString: DB_URL,
          table: name,
          createTable: true,
          initialBackoffMs: 100,
          maxBackoffMs: 1_000,
          maxRetries: 60,
        }),
        checkpointLocation: dir,
      })
      .start();
    try {
      input.addData(batchOf(10, 'a'));
      await query.processAllAvailable();
      await stopServer();
      input.addData(batchOf(10, 'b'));
      // The batch cannot be written: the sink retries and says what it waits for.
      const until = Date.now() + 10_000;
      while (!log.records.some((r) => r.msg.includes('retrying')) && Date.now() < until) await sleep(50);
      await sleep(1_000);
      expect(query.isActive).toBe(true);
      await startServer();
      await query.processAllAvailable();
      input.addData(batchOf(10, 'c'));
      await query.processAllAvailable();
      const retries = log.records.filter((r) => r.msg.includes('retrying'));
      expect(retries.length).toBeGreaterThan(1);
      expect(retries[0]!.fields).toMatchObject({ batch: 1, waitingFor: 'MariaDB at 127.0.0.1:3306/test' });
      expect(await keys(name)).toEqual(
        [...batchOf(10, 'a'), ...batchOf(10, 'b'), ...batchOf(10, 'c')].map((r) => r.k).sort(),
      );
      expect(query.lastProgress?.batchId).toBe(2);
    } finally {
      await startServer();
      await query.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('connection loss at the worst moments', () => {
  it('a COMMIT whose answer is lost: the retry finds the batch recorded and writes nothing twice', async () => {
    const name = newTable('commit_lost');
    const proxy = new TcpProxy('127.0.0.1', 3306);
    await proxy.start();
    const sink = mariadbSink({
      connectionString: `mariadb://root@127.0.0.1:${proxy.port}/test`,
      table: name,
      createTable: true,
      initialBackoffMs: 20,
    });
    try {
      await sink.open(sinkContext(kv, 'append'));
      const cut = proxy.cutAfterClientSends('COMMIT');
      const r = await sink.addBatch(batchOf(20, 'a'), { batchId: 0, outputMode: 'append' });
      await cut;
      expect(r.rowsWritten).toBe(20);
      expect(r.metrics).toMatchObject({ retries: 1, commitConfirmedAfterRetry: 1 });
      expect(await keys(name)).toEqual(
        batchOf(20, 'a')
          .map((x) => x.k)
          .sort(),
      );
      expect(await recordedBatch(admin, `mariadb-${name}`)).toBe(0);
    } finally {
      await sink.close();
      await proxy.stop();
    }
  });

  it('a connection killed mid-transaction (blocked on a lock): the batch is re-run in full', async () => {
    const name = newTable('kill_mid');
    const log = recordingLogger();
    const sink = mariadbSink({
      connectionString: DB_URL,
      table: name,
      createTable: true,
      initialBackoffMs: 20,
    });
    await sink.open(sinkContext(kv, 'append', uniqueName('q'), log));
    const locker = await admin.getConnection();
    try {
      await locker.beginTransaction();
      await locker.query(`SELECT * FROM \`${name}\` FOR UPDATE`);
      await locker.query(`INSERT INTO \`${name}\` (k, v) VALUES ('zz', 0)`);
      // A gap lock makes the sink's INSERT wait; find its thread and kill it.
      const write = sink.addBatch(batchOf(30, 'a'), { batchId: 0, outputMode: 'append' });
      let ids: number[] = [];
      for (let i = 0; i < 200 && ids.length === 0; i++) {
        await sleep(25);
        ids = (
          (await admin.query(
            `SELECT ID AS id FROM information_schema.PROCESSLIST WHERE INFO LIKE 'INSERT INTO \`${name}\`%' AND ID <> CONNECTION_ID()`,
          )) as { id: number }[]
        ).map((r) => Number(r.id));
      }
      expect(ids.length, 'the sink blocked on the lock').toBeGreaterThan(0);
      for (const id of ids) await admin.query(`KILL ${id}`);
      await locker.rollback();
      const r = await write;
      expect(r).toMatchObject({ rowsWritten: 30, metrics: { retries: 1 } });
      expect(log.records.find((x) => x.msg.includes('retrying'))?.fields).toMatchObject({
        batch: 0,
        retry: 1,
      });
      expect(await keys(name)).toEqual(
        batchOf(30, 'a')
          .map((x) => x.k)
          .sort(),
      );
    } finally {
      locker.release();
      await sink.close();
    }
  });

  it('a server that never answers: gives up after maxRetries with a retryable MARIADB_UNAVAILABLE saying what to check', async () => {
    const proxy = new TcpProxy('127.0.0.1', 3306);
    await proxy.start();
    const port = proxy.port;
    await proxy.stop();
    const sink = mariadbSink({
      connectionString: `mariadb://root@127.0.0.1:${port}/test`,
      table: 'never',
      maxRetries: 2,
      initialBackoffMs: 10,
    });
    const err = await sink.open(sinkContext(kv, 'append')).catch((e) => e);
    expect(err).toMatchObject({ code: 'MARIADB_UNAVAILABLE', domain: 'external', retryable: true });
    expect(err.message).toMatch(
      new RegExp(`after 2 retries .*Check that MariaDB is running and reachable at 127.0.0.1:${port}/test`),
    );
  });
});
