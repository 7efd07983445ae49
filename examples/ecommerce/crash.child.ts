/**
 * The e-commerce queries in one process for the crash test (ecommerce-crash.slow.test.ts): the
 * shop generator (no stragglers) → the four queries → JSON-lines file sinks, exactly once.
 * Env: SHOP_OUT (output and checkpoints), SHOP_BLOCKS, SHOP_FINAL=1 for Trigger.availableNow().
 * Prints READY, STARTED, SINK_BEGIN/SINK_DONE (harness.tracedSink), DONE.
 */
import * as path from 'node:path';
import { type StreamingQuery, Trigger, createSession, fileSink } from 'millrace';
import { tracedSink } from '../../packages/millrace/test/crash/harness.ts';
import { DEFAULT_SHOP } from './generator.ts';
import { scaledQueries, shopQueries } from './queries.ts';
import { shopSource } from './shopSource.ts';

const out = process.env.SHOP_OUT!;
const blocks = Number(process.env.SHOP_BLOCKS);
const final = process.env.SHOP_FINAL === '1';
const print = (l: string) => process.stdout.write(l + '\n');
const cfg = { ...DEFAULT_SHOP, timeScale: 0.1, lateShare: 0 };
const q = scaledQueries(0.1);
const session = createSession();

print('READY');
const queries: StreamingQuery[] = [];
for (const name of ['eventCounts', 'sessions', 'funnel', 'topProducts'] as const) {
  const src = session.readStream(
    shopSource({ name, config: cfg, maxBlocks: blocks, maxBlocksPerTrigger: 8 }),
  );
  const stream = shopQueries(src, q)[name];
  queries.push(
    await stream
      .writeStream({
        queryName: name,
        sink: tracedSink(fileSink({ name, path: path.join(out, 'reports', name), format: 'jsonl' }), print),
        checkpointLocation: path.join(out, 'checkpoints', name),
        outputMode: 'append',
        trigger: final ? Trigger.availableNow() : Trigger.default(),
      })
      .start(),
  );
}
print('STARTED');
process.once('SIGTERM', () => void Promise.all(queries.map((x) => x.stop())));
for (const x of queries) await x.awaitTermination();
print('DONE');
