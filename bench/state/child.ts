/**
 * One run of the large-state query for `npm run bench -- state` (started by ./cli.ts, killed by it):
 * `groupBy(userId).agg(count, sum)` in update mode over the traffic of ./traffic.ts, `batch` events
 * per batch, with the memory or LMDB store. Prints one JSON line per committed batch.
 *
 * args: <memory|lmdb> <checkpoint> <events> <batch> [probe users, comma-separated]
 * With probe users, after `events` the source adds one event (amount 1) per probe user, and the
 * child prints their output rows of that batch (`{"probe": […]}`) and exits.
 */
import {
  type Source,
  createSession,
  count,
  foreachBatchSink,
  lmdbStateStore,
  memoryStateStore,
  schema,
  sum,
  t,
} from 'millrace';
import { amountOf, userOf } from './traffic.ts';

interface Event {
  userId: number;
  amount: number;
}

const [store, checkpoint, eventsArg, batchArg, probeArg] = process.argv.slice(2);
const events = Number(eventsArg);
const batch = Number(batchArg);
const probes = probeArg ? probeArg.split(',').map(Number) : [];
const total = events + probes.length;

const source: Source<Event> = {
  name: 'users',
  schema: schema({ userId: t.long, amount: t.long }) as never,
  replayable: true,
  describe: () => `LargeStateTraffic[${events} events]`,
  async open() {},
  async latestOffset(start) {
    const from = typeof start === 'number' ? start : 0;
    // The probe events come as a batch of their own.
    const end = from < events ? Math.min(from + batch, events) : total;
    return end <= from ? start : end;
  },
  async getBatch(start, end) {
    const rows: Event[] = [];
    for (let i = typeof start === 'number' ? start : 0; i < (end as number); i++) {
      rows.push(
        i < events ? { userId: userOf(i), amount: amountOf(i) } : { userId: probes[i - events]!, amount: 1 },
      );
    }
    return { rows };
  },
  async commit() {},
  async close() {},
};

const session = createSession();
const query = await session
  .readStream(source)
  .groupBy('userId')
  .agg(($) => ({ n: count(), total: sum($.amount) }))
  .writeStream({
    sink: foreachBatchSink((rows, batchId) => {
      if (probes.length > 0 && rows.length > 0 && rows.length <= probes.length) {
        process.stdout.write(`${JSON.stringify({ probe: rows, batchId })}\n`);
      }
    }),
    checkpointLocation: checkpoint!,
    outputMode: 'update',
    stateStore: store === 'lmdb' ? lmdbStateStore() : memoryStateStore(),
    maxRecentProgress: 64,
  })
  .start();

let last = -1;
const started = performance.now();
let finished = false;
while (!finished) {
  if (query.exception) {
    process.stderr.write(`${query.exception.message}\n`);
    process.exit(1);
  }
  for (const p of query.recentProgress) {
    if (p.batchId <= last) continue;
    last = p.batchId;
    const state = p.stateOperators[0];
    const end = Number(p.sources[0]?.endOffset ?? 0);
    process.stdout.write(
      `${JSON.stringify({
        batchId: p.batchId,
        ms: p.batchDuration,
        rows: p.numInputRows,
        end,
        keys: state?.numRowsTotal ?? 0,
        commitMs: state?.commitTimeMs ?? 0,
        snapshots: state?.customMetrics.snapshotsWritten ?? 0,
        rss: process.memoryUsage.rss(),
        sinceStartMs: performance.now() - started,
      })}\n`,
    );
    if (probes.length > 0 && end >= total) finished = true;
  }
  await new Promise((r) => setTimeout(r, 5));
}
await query.stop();
process.exit(0);
