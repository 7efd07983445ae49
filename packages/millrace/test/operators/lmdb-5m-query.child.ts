/**
 * Child of lmdb-5m-query.slow.test.ts: a groupBy over 5,000,000 distinct keys (10 batches of
 * 500,000 new keys) with the LMDB state store; prints one JSON line with what it measured.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { count, createSession, lmdbStateStore, noopSink, ratePerBatchSource } from '../../src/index.ts';

const BATCHES = 10;
const checkpointLocation = mkdtempSync(path.join(os.tmpdir(), 'millrace-5m-'));
const started = Date.now();
const session = createSession();
const query = await session
  .readStream(ratePerBatchSource({ rowsPerBatch: 500_000 }))
  .groupBy('value')
  .agg({ n: count() })
  .writeStream({ sink: noopSink(), outputMode: 'update', stateStore: lmdbStateStore(), checkpointLocation })
  .start();
let batches = 0;
session.streams.addListener({
  onQueryProgress: () => {
    if (++batches === BATCHES) void query.stop();
  },
});
await query.awaitTermination();
const last = query.lastProgress!;
console.log(
  JSON.stringify({
    batches,
    stateRows: last.stateOperators[0]!.numRowsTotal,
    seconds: (Date.now() - started) / 1000,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  }),
);
rmSync(checkpointLocation, { recursive: true, force: true });
