/**
 * `millrace run --workers N`: a pipeline's queries on worker threads, each thread running the
 * pipeline function again (role 'worker') to build the plan (src/pipeline/onWorkers.ts).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Row } from 'millrace';
import { createPipelineContext, type PipelineParallelism } from '../src/pipeline/context.ts';
import pipeline, { sinks } from './fixtures/onWorkers.ts';
import { cleanupDirs, tempDir, testService } from './helpers.ts';

afterEach(cleanupDirs);

const FIXTURE = fileURLToPath(new URL('./fixtures/onWorkers.ts', import.meta.url));

/** Run the fixture pipeline to its end; the rows of its two sinks and the service's query entries. */
async function runPipeline(mode: string, parallelism?: Omit<PipelineParallelism, 'file'>) {
  const { service } = testService({ logLevel: 'warn' });
  try {
    const session = service.createSession();
    const root = tempDir();
    const ctx = createPipelineContext(service, {
      session,
      args: [root, mode],
      signal: new AbortController().signal,
      ...(parallelism ? { parallelism: { file: FIXTURE, ...parallelism } } : {}),
    });
    await pipeline(ctx);
    for (const q of session.streams.active) await q.awaitTermination();
    const sorted = (rows: readonly Row[]) => rows.map((r) => JSON.stringify(r)).sort();
    return {
      perAuction: sorted(sinks.perAuction!.lastBatch()),
      perBidder: sorted(sinks.perBidder!.allRows()),
      layout: (name: string) => readFileSync(path.join(root, name, 'layout'), 'utf8'),
      progress: service.queries.list().map((e) =>
        e.recent
          .toArray()
          .filter((p) => p.numInputRows > 0)
          .at(-1),
      ),
    };
  } finally {
    await service.stopAll();
    await service.close({ flushMs: 0 });
  }
}

describe('pipeline queries on worker threads', () => {
  it('give the rows of the inline run, with state split across the threads', async () => {
    const inline = await runPipeline('good');
    const parallel = await runPipeline('good', { workers: 2, partitions: 3 });
    expect(parallel.perAuction.length).toBeGreaterThan(100);
    expect(parallel.perAuction).toEqual(inline.perAuction);
    expect(parallel.perBidder).toEqual(inline.perBidder);
    // Both queries (the second has no name: found by its place) ran on 3 partitions over 2 threads.
    for (const name of ['per-auction', 'per-bidder'])
      expect(parallel.layout(name)).toMatch(/"numPartitions":3/);
    for (const p of parallel.progress) expect(p?.stateOperators[0]?.partitions?.numPartitions).toBe(3);
  }, 60_000);

  it('a pipeline that uses ctx.service without a role guard fails to start on workers, saying what to guard', async () => {
    const run = runPipeline('service', { workers: 2 });
    await expect(run).rejects.toThrow(
      /ctx\.service\.queries was used while the pipeline ran on a worker thread.*if \(ctx\.role === 'driver'\)/s,
    );
  }, 60_000);

  it('a pipeline that starts other queries on a worker thread is refused, naming the query', async () => {
    await expect(runPipeline('skip', { workers: 2 })).rejects.toThrow(
      /returned on a worker thread without starting query "per-auction": a pipeline must start the same queries/,
    );
  }, 60_000);
});
