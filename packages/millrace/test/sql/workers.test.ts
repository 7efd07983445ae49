/**
 * A SQL query on worker threads: each worker runs the same text and must build the same plan (the
 * driver compares them: WORKERS_PLAN_MISMATCH otherwise); the rows equal those of one thread.
 */
import { afterEach, expect, it } from 'vitest';
import { createSession, memorySink } from '../../src/index.ts';
import { canonicalJson } from '../../src/util/json.ts';
import { cleanupDirs, tempDir } from '../execution/helpers.ts';
import { hotAuctions } from './workerQueries.ts';

afterEach(cleanupDirs);

const module = new URL('./workerQueries.ts', import.meta.url);
const args = { events: 40_000, perTrigger: 10_000 };

async function run(workers: number): Promise<string[]> {
  const sink = memorySink();
  const q = await hotAuctions(createSession(), args)
    .writeStream({
      sink,
      checkpointLocation: tempDir('millrace-sql-workers-'),
      outputMode: 'append',
      ...(workers > 0
        ? { partitions: 2, workers: { count: workers, module, export: 'hotAuctions', args } }
        : {}),
    })
    .start();
  try {
    await q.processAllAvailable();
  } finally {
    await q.stop();
  }
  return sink
    .allRows()
    .map((r) => canonicalJson(r))
    .sort();
}

it('runs on two worker threads with the rows of one thread', async () => {
  const inline = await run(0);
  expect(inline.length).toBeGreaterThan(100);
  expect(await run(2)).toEqual(inline);
});
