/**
 * A Kafka query on worker threads. The client cannot load in a worker thread (its native addon
 * registers once per process: "Module did not self-register"), so the main thread reads and
 * decodes each batch and hands each worker a slice; the output is the inline run's, batch by
 * batch, and progress reports the source as inline does.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Row, type StreamingQuery, createSession, memorySink, silentLogger } from 'millrace';
import { type MockCluster, TestProducer, startMockCluster, uniqueTopic } from './mockCluster.ts';
import { cleanupDirs, tempDir } from './helpers.ts';
import { type OrdersArgs, ordersPerUser } from './fixtures/workerQueries.ts';

let kafka: MockCluster;
let producer: TestProducer;
const queries: StreamingQuery[] = [];

beforeAll(async () => {
  kafka = await startMockCluster({ debug: false });
  producer = await TestProducer.connect(kafka.bootstrap);
});
afterEach(async () => {
  await Promise.all(queries.splice(0).map((q) => q.stop().catch(() => undefined)));
  cleanupDirs();
});
afterAll(async () => {
  await producer?.close();
  await kafka?.stop();
});

/** Every batch's rows (sorted) and the progress of batches with data. */
async function run(args: OrdersArgs, workers?: number) {
  const session = createSession({ log: silentLogger });
  const sink = memorySink();
  const q = await ordersPerUser(session, args)
    .writeStream({
      sink,
      checkpointLocation: tempDir(),
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
  queries.push(q);
  await q.processAllAvailable();
  const progress = q.recentProgress.filter((p) => p.numInputRows > 0);
  await q.stop();
  const sorted = (rows: readonly Row[]) => rows.map((x) => JSON.stringify(x)).sort();
  return { batches: sink.batchIds.map((id) => sorted(sink.batch(id)!)), progress };
}

describe('a Kafka query on worker threads', () => {
  it('gives the inline run’s batches, with the source’s progress (records, malformed, partitions, lag)', async () => {
    const topic = uniqueTopic('orders');
    const records = Array.from({ length: 2_000 }, (_, i) => ({
      key: `k${i % 13}`,
      // Every 50th record is not JSON: dropped and counted (dropMalformed).
      value: i % 50 === 7 ? `not json ${i}` : JSON.stringify({ user: `u${i % 17}`, amount: i }),
    }));
    await producer.send(topic, records);
    const args = { bootstrap: kafka.bootstrap, topic, maxOffsetsPerTrigger: 700 };
    const inline = await run(args);
    const onWorkers = await run(args, 2);
    expect(inline.batches.length).toBe(3);
    expect(onWorkers.batches).toEqual(inline.batches);
    const sources = onWorkers.progress.map((p) => p.sources[0]!);
    expect(sources.map((s) => s.metrics.recordsRead)).toEqual(
      inline.progress.map((p) => p.sources[0]!.metrics.recordsRead),
    );
    expect(sources.reduce((a, s) => a + (s.metrics.recordsRead as number), 0)).toBe(2_000);
    expect(sources.reduce((a, s) => a + s.numMalformedRows, 0)).toBe(40);
    expect(sources.reduce((a, s) => a + s.numInputRows, 0)).toBe(1_960);
    for (const [i, s] of sources.entries()) {
      const before = inline.progress[i]!.sources[0]!;
      expect(s.metrics.partitionsRead).toBe(before.metrics.partitionsRead);
      expect(s.metrics.maxOffsetsBehindLatest).toBe(before.metrics.maxOffsetsBehindLatest);
    }
  }, 60_000);
});
