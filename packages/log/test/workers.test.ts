/**
 * The log source on worker threads: the main thread plans each batch's splits (offset ranges of
 * the partitions, cut to about equal sizes), each worker reads its split from the log directory
 * (its own LMDB reader) and decodes it. The output is the inline run's, batch by batch; progress
 * adds up what the workers read (malformed records) beside the lag the plan knows.
 */
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Row, createSession, memorySink, silentLogger } from 'millrace';
import { LogSource, cutRanges } from '../src/source/LogSource.ts';
import { openLog } from '../src/index.ts';
import { cleanupDirs, tempDir } from './helpers.ts';
import { type OrdersArgs, ordersPerUser } from './fixtures/workerQueries.ts';

afterEach(cleanupDirs);

describe('cutRanges', () => {
  const r = (partition: number, from: number, to: number) => ({ topic: 't', partition, from, to });
  it('cuts partition ranges into parts of about equal size, a range across a boundary in two', () => {
    expect(cutRanges([r(0, 0, 10), r(1, 5, 7), r(2, 100, 108)], 2)).toEqual([
      [r(0, 0, 10)],
      [r(1, 5, 7), r(2, 100, 108)],
    ]);
    expect(cutRanges([r(0, 0, 9)], 3)).toEqual([[r(0, 0, 3)], [r(0, 3, 6)], [r(0, 6, 9)]]);
    expect(cutRanges([r(0, 0, 2)], 4)).toEqual([[r(0, 0, 1)], [r(0, 1, 2)]]);
    expect(cutRanges([], 2)).toEqual([]);
  });
});

async function run(args: OrdersArgs, workers?: number) {
  const session = createSession({ log: silentLogger });
  const sink = memorySink();
  const q = await ordersPerUser(session, args)
    .writeStream({
      sink,
      checkpointLocation: path.join(tempDir(), 'cp'),
      outputMode: 'update',
      ...(workers
        ? {
            workers: {
              count: workers,
              module: new URL('./fixtures/workerQueries.ts', import.meta.url),
              export: 'ordersPerUser',
              args: { ...args },
            },
          }
        : {}),
    })
    .start();
  try {
    await q.processAllAvailable();
    const progress = q.recentProgress.filter((p) => p.numInputRows > 0);
    const sorted = (rows: readonly Row[]) => rows.map((x) => JSON.stringify(x)).sort();
    return { batches: () => sink.batchIds.map((id) => sorted(sink.batch(id)!)), progress };
  } finally {
    await q.stop();
  }
}

describe('a log query on worker threads', () => {
  it('reads its splits in the workers: the inline run’s batches, progress summed over the tasks', async () => {
    const dir = tempDir();
    const log = await openLog({ dir, fsync: 'never', retentionCheckIntervalMs: 0 });
    const topic = 'orders';
    await log.createTopic(topic, { partitions: 3 });
    await log.append(
      topic,
      Array.from({ length: 3_000 }, (_, i) => ({
        partition: i % 3,
        // Every 50th record is not JSON: dropped and counted (dropMalformed).
        value: i % 50 === 7 ? `not json ${i}` : JSON.stringify({ user: `u${i % 17}`, amount: i }),
      })),
    );
    try {
      const args = { dir, topic, maxOffsetsPerTrigger: 1_100 };
      const inline = await run(args);
      const planned = vi.spyOn(LogSource.prototype, 'planSplits');
      const onWorkers = await run(args, 2);
      // Every batch was planned here and read by the workers (not read here and sliced).
      expect(planned).toHaveBeenCalledTimes(3);
      planned.mockRestore();
      expect(inline.batches().length).toBe(3);
      expect(onWorkers.batches()).toEqual(inline.batches());
      const sources = onWorkers.progress.map((p) => p.sources[0]!);
      expect(sources.map((s) => s.numInputRows)).toEqual(
        inline.progress.map((p) => p.sources[0]!.numInputRows),
      );
      expect(sources.map((s) => s.numMalformedRows)).toEqual(
        inline.progress.map((p) => p.sources[0]!.numMalformedRows),
      );
      expect(sources.reduce((a, s) => a + s.numMalformedRows, 0)).toBe(60);
      expect(sources.map((s) => s.metrics)).toEqual(inline.progress.map((p) => p.sources[0]!.metrics));
    } finally {
      await log.close();
    }
  }, 60_000);
});
