/**
 * The e-commerce scenario over Kafka (librdkafka's mock cluster): the generator query writes 10
 * minutes of shop traffic to a topic exactly once, the four queries read it back with kafkaSource,
 * and their results equal the reference computation over the same events.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Trigger, createSession, memorySink } from 'millrace';
import { startMockCluster } from '../../packages/kafka/test/mockCluster.ts';
import { DEFAULT_SHOP, type ShopConfig, generateBlock } from './generator.ts';
import { kafkaGenerator, kafkaShopEvents } from './kafka.ts';
import { scaledQueries, shopQueries } from './queries.ts';
import { referenceResults } from './reference.ts';

const cfg: ShopConfig = { ...DEFAULT_SHOP, timeScale: 0.1 };
const q = scaledQueries(0.1);
const BLOCKS = 600;
let cluster: Awaited<ReturnType<typeof startMockCluster>>;
const dir = mkdtempSync(path.join(tmpdir(), 'millrace-shop-kafka-'));
beforeAll(async () => {
  cluster = await startMockCluster();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const canon = (rows: readonly object[]) => rows.map((r) => JSON.stringify(r, Object.keys(r).sort())).sort();

it('generator → Kafka → the four queries: results equal the reference', async () => {
  const session = createSession();
  const topic = `shop-${process.pid}-${Date.now()}`;
  const gen = kafkaGenerator(session, {
    bootstrapServers: cluster.bootstrap,
    topic,
    config: cfg,
    maxBlocks: BLOCKS,
    checkpointLocation: path.join(dir, 'generator'),
  });
  const generator = await gen.stream.writeStream(gen.write).start();
  await generator.awaitTermination();
  expect(generator.exception).toBeNull();

  // One batch per query (everything available at once): no row of it is late.
  const events = Array.from({ length: BLOCKS }, (_, b) => generateBlock(b, cfg)).flat();
  const expected = referenceResults([events], q);
  for (const name of ['eventCounts', 'sessions', 'funnel', 'topProducts'] as const) {
    const sink = memorySink();
    const stream = shopQueries(kafkaShopEvents(session, cluster.bootstrap, topic), q)[name];
    const query = await stream
      .writeStream({
        sink,
        checkpointLocation: path.join(dir, name),
        outputMode: 'append',
        trigger: Trigger.availableNow(),
      })
      .start();
    await query.awaitTermination();
    expect(query.exception).toBeNull();
    expect(query.recentProgress.find((p) => p.numInputRows > 0)?.numInputRows).toBe(events.length);
    const want = expected[name] as object[];
    expect(want.length).toBeGreaterThan(0);
    expect(canon(sink.allRows()), name).toEqual(canon(want));
  }
}, 180_000);
