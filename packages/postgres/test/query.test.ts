/**
 * Whole queries writing through the sink: a grouped count in update mode
 * (upsert), the same in complete mode, and a restart on the same checkpoint
 * that replays a batch the table already has.
 */
import { promises as fsp } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { count, createSession, max, memoryStream, schema, sum, t } from 'millrace';
import { postgresSink } from '../src/index.ts';
import { DB_URL, adminPool, cleanup, dropLater, uniqueName } from './helpers.ts';

afterAll(cleanup);
const admin = adminPool();
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function checkpointDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'millrace-pg-query-'));
  dirs.push(d);
  return d;
}

const clicks = schema({ user: t.string, page: t.string, ms: t.long });

async function table(name: string, order: string): Promise<Record<string, unknown>[]> {
  return (await admin.query(`SELECT * FROM "${name}" ORDER BY ${order}`)).rows;
}

describe('a query writing to PostgreSQL', () => {
  it('groupBy(user).agg(count) in update mode upserts one row per user, exactly once across a restart', async () => {
    const name = uniqueName('clicks_per_user');
    dropLater(`"${name}"`);
    const session = createSession();
    const input = memoryStream(clicks);
    const counts = session
      .readStream(input)
      .groupBy('user')
      .agg(($) => ({ clicks: count(), total_ms: sum($.ms), last_page: max($.page) }));
    const sink = () =>
      postgresSink({
        connectionString: DB_URL,
        table: name,
        mode: 'upsert',
        keyColumns: ['user'],
        createTable: true,
      });
    const checkpointLocation = await checkpointDir();

    let query = await counts
      .writeStream({ sink: sink(), outputMode: 'update', checkpointLocation, queryName: name })
      .start();
    try {
      input.addData(
        { user: 'ann', page: 'a', ms: 10 },
        { user: 'bob', page: 'b', ms: 20 },
        { user: 'ann', page: 'c', ms: 30 },
      );
      await query.processAllAvailable();
      expect(await table(name, '"user"')).toEqual([
        { user: 'ann', clicks: '2', total_ms: '40', last_page: 'c' },
        { user: 'bob', clicks: '1', total_ms: '20', last_page: 'b' },
      ]);
      input.addData({ user: 'bob', page: 'z', ms: 5 }, { user: 'cy', page: 'q', ms: 1 });
      await query.processAllAvailable();
      const last = query.lastProgress!;
      expect(last.sink.numOutputRows).toBe(2);
      expect(last.sink.metrics).toMatchObject({
        rowsInserted: 1,
        rowsUpdated: 1,
        retries: 0,
        skippedReplay: 0,
      });
      expect(last.sink.description).toContain('upsert on (user)');
      await query.stop();

      // As if the process had died after the sink committed batch 1 but before commits/1:
      // the restart replays batch 1, which the table already has.
      await fsp.rm(path.join(checkpointLocation, 'commits', '1'));
      query = await counts
        .writeStream({ sink: sink(), outputMode: 'update', checkpointLocation, queryName: name })
        .start();
      await query.processAllAvailable();
      const replay = query.recentProgress.find((p) => p.batchId === 1)!;
      expect(replay.sink.metrics).toMatchObject({ skippedReplay: 1 });
      expect(replay.sink.numOutputRows).toBe(0);
      // State was rebuilt by the replay: later batches count on from it.
      input.addData({ user: 'ann', page: 'd', ms: 1 });
      await query.processAllAvailable();
      expect(await table(name, '"user"')).toEqual([
        { user: 'ann', clicks: '3', total_ms: '41', last_page: 'd' },
        { user: 'bob', clicks: '2', total_ms: '25', last_page: 'z' },
        { user: 'cy', clicks: '1', total_ms: '1', last_page: 'q' },
      ]);
    } finally {
      await query.stop();
    }
  });

  it('complete mode rewrites the whole result each batch (append-mode sink)', async () => {
    const name = uniqueName('pages_complete');
    dropLater(`"${name}"`);
    const session = createSession();
    const input = memoryStream(clicks);
    const query = await session
      .readStream(input)
      .groupBy('page')
      .agg({ n: count() })
      .writeStream({
        sink: postgresSink({ connectionString: DB_URL, table: name, createTable: true }),
        outputMode: 'complete',
        checkpointLocation: await checkpointDir(),
      })
      .start();
    try {
      input.addData({ user: 'a', page: 'x', ms: 1 }, { user: 'b', page: 'y', ms: 1 });
      await query.processAllAvailable();
      input.addData({ user: 'c', page: 'x', ms: 1 });
      await query.processAllAvailable();
      expect(await table(name, 'page')).toEqual([
        { page: 'x', n: '2' },
        { page: 'y', n: '1' },
      ]);
      expect(query.lastProgress!.sink.metrics).toMatchObject({ rowsDeleted: 2, rowsInserted: 2 });
    } finally {
      await query.stop();
    }
  });

  it('start() fails with a clear message for update mode on an append-mode sink', async () => {
    const session = createSession();
    const input = memoryStream(clicks);
    const writer = session
      .readStream(input)
      .groupBy('user')
      .agg({ n: count() })
      .writeStream({
        sink: postgresSink({ connectionString: DB_URL, table: uniqueName('never'), createTable: true }),
        outputMode: 'update',
        checkpointLocation: await checkpointDir(),
      });
    await expect(writer.start()).rejects.toThrow(/output mode 'update'.*set mode: 'upsert' and keyColumns/);
  });
});
