/**
 * redisStreamSource on worker threads: the driver plans splits (the streams dealt to the tasks,
 * each with its id range) and each worker reads its own with its own connection. The result equals
 * the inline run's and the expected counts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Trigger, createSession, foreachBatchSink } from 'millrace';
import { REDIS_URL, adminClient, cleanup, deleteLater, uniqueName } from './helpers.ts';
import { perKey } from './workers.query.ts';

afterAll(cleanup);
const admin = adminClient();

it('reads splits on 2 worker threads: every entry once, same result as inline', async () => {
  const prefix = uniqueName('workers');
  deleteLater(`${prefix}*`);
  const streams = [0, 1, 2].map((s) => `${prefix}:s${s}`);
  const p = admin.pipeline();
  for (let i = 0; i < 6_000; i++) p.xadd(streams[i % 3]!, '*', 'k', `k${i % 13}`, 'v', String(i));
  await p.exec();
  const expected = new Map<string, number>();
  for (let i = 0; i < 6_000; i++) expected.set(`k${i % 13}`, (expected.get(`k${i % 13}`) ?? 0) + 1);

  const run = async (workers: boolean) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'redis-workers-'));
    const result = new Map<string, number>();
    const args = { url: REDIS_URL, streams };
    const q = await perKey(createSession(), args)
      .writeStream({
        sink: foreachBatchSink((rows) => {
          for (const r of rows as { k: string; n: number }[]) result.set(r.k, r.n);
        }),
        outputMode: 'update',
        checkpointLocation: dir,
        trigger: Trigger.availableNow(),
        partitions: 2,
        ...(workers
          ? {
              workers: {
                count: 2,
                module: new URL('./workers.query.ts', import.meta.url),
                export: 'perKey',
                args,
              },
            }
          : {}),
      })
      .start();
    await q.awaitTermination();
    const batches = q.recentProgress.filter((x) => x.numInputRows > 0);
    await rm(dir, { recursive: true, force: true });
    return { result, batches };
  };
  const inline = await run(false);
  const onWorkers = await run(true);
  expect(Object.fromEntries(inline.result)).toEqual(Object.fromEntries(expected));
  expect(Object.fromEntries(onWorkers.result)).toEqual(Object.fromEntries(expected));
  expect(onWorkers.batches.reduce((n, b) => n + b.numInputRows, 0)).toBe(6_000);
  expect(onWorkers.batches.length).toBeGreaterThanOrEqual(6);
});
