/**
 * The process the query crash test kills (log-query.slow.test.ts):
 *
 *   logSource(CRASH_LOG_DIR, topic "events", json {k, n, ts}, maxOffsetsPerTrigger 40)
 *     → withWatermark('ts', 5 s)
 *     → groupBy(window(ts, 1 s), k).agg(c: count, s: sum n)          append mode
 *     → logSink(CRASH_LOG_DIR, topic "counts", json), checkpoint CRASH_CHECKPOINT
 *
 * Stdout markers (a pipe, written synchronously): READY, STARTED,
 * SINK_BEGIN N / SINK_DONE N around the sink's write of batch N (one LMDB
 * transaction: records + marker), STATE_COMMITTED N V, and with
 * CRASH_STALL_AT=k, STALL N: the k-th state commit — after the sink wrote
 * batch N, before commits/N — blocks the process 10 s so a kill lands there.
 * SIGTERM stops the query gracefully.
 */
import { count, createSession, memoryStateStore, schema, sum, t, window } from 'millrace';
import { tracedSink, tracedStateStore } from '../../../millrace/test/crash/harness.ts';
import { logSink, logSource } from '../../src/index.ts';

const env = (k: string) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const dir = env('CRASH_LOG_DIR');
const stallAt = process.env.CRASH_STALL_AT;
const out = (line: string) => process.stdout.write(line + '\n');

const events = createSession()
  .readStream(
    logSource({
      name: 'events',
      dir,
      topics: 'events',
      startingOffsets: 'earliest',
      maxOffsetsPerTrigger: 40,
      format: { json: schema({ k: t.string, n: t.long, ts: t.timestamp }), mode: 'failFast' },
    }),
  )
  .withWatermark('ts', '5 seconds');

out('READY');
const query = await events
  .groupBy(($) => ({ window: window($.ts, 1000), k: $.k }))
  .agg(($) => ({ c: count(), s: sum($.n) }))
  .writeStream({
    queryName: 'crash-log-query',
    sink: tracedSink(logSink({ name: 'out', dir, topic: 'counts', format: 'json' }), out),
    checkpointLocation: env('CRASH_CHECKPOINT'),
    outputMode: 'append',
    stateStore: tracedStateStore(
      memoryStateStore(),
      out,
      stallAt === undefined ? undefined : { when: (c) => c.nth === Number(stallAt), ms: 10_000 },
    ),
  })
  .start();
out('STARTED');
process.once('SIGTERM', () => void query.stop());
await query.awaitTermination();
out('DONE');
