/**
 * Getting started: a generator source → transformations → console and file sinks.
 *
 *   npm run demo:basic                      # ~10 s of auction bids, then a clean stop
 *   npm run demo:basic -- --seconds 60      # run longer
 *
 * Two queries read the same generated stream of Nexmark auction bids:
 *   1. "bid-stats"   — per 2-second event-time window: bids, distinct bidders, top price in
 *                      euros; printed when the watermark closes the window (append mode)
 *   2. "bids-by-hour"— every bid, cleaned and labelled, written to JSON-lines files
 *                      partitioned by channel type, exactly once (see the manifest)
 * Stop early with Ctrl-C: both queries finish their current batch and exit.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import {
  Trigger,
  consoleSink,
  count,
  countDistinct,
  createSession,
  fileSink,
  hour,
  jsonLogger,
  lit,
  max,
  nexmarkSource,
  readFileSinkOutput,
  regexpExtract,
  round,
  when,
  window,
} from 'millrace';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    out: { type: 'string', default: '.millrace/getting-started' },
  },
});
const seconds = Number(args.seconds);
if (!(seconds > 0)) throw new Error(`--seconds must be a positive number, got "${args.seconds}"`);
const outDir = path.resolve(args.out);

const session = createSession({ log: jsonLogger('warn') });

// Bids at 2,000 events/s of wall time (about 1,840 bids/s). Event time is synthetic and
// deterministic (from 2025-01-01), so a restart regenerates exactly the same events.
const bids = (name: string) =>
  session.readStream(nexmarkSource({ name, kind: 'bid', wallRate: 2_000, eventsPerSecond: 2_000 }));

// Query 1: per 2-second window of event time, once the window is final (watermark: 1 s late).
const bidStats = bids('bids-console')
  .withWatermark('dateTime', '1 second')
  .groupBy(($) => ({ window: window($.dateTime, '2 seconds') }))
  .agg(($) => ({
    bids: count(),
    bidders: countDistinct($.bidder),
    topEuros: max($.price.mul(0.908).div(100)), // prices are in cents
    bigBids: count().filter($.price.gt(1_000_000)),
  }))
  .select(($) => ({
    window: $.window,
    bids: $.bids,
    bidders: $.bidders,
    topEuros: round($.topEuros, 2),
    bigBids: $.bigBids,
  }));

// Query 2: every bid, cleaned and labelled, to partitioned files.
const labelled = bids('bids-files')
  .withColumn('channelId', ($) => regexpExtract($.url, 'channel_id=([0-9]+)', 1).cast('long'))
  .withColumn('channelType', ($) =>
    when($.channel.isin('Google', 'Facebook', 'Baidu', 'Apple'), lit('hot')).otherwise('other'),
  )
  .withColumn('hourOfDay', ($) => hour($.dateTime))
  .drop('extra', 'url');

console.log('The file query plan:\n' + labelled.explain() + '\n');
console.log('The windowed query plan:\n' + bidStats.explain() + '\n');

const consoleQuery = await bidStats
  .writeStream({
    queryName: 'bid-stats',
    outputMode: 'append',
    sink: consoleSink({ numRows: 5, truncate: false }),
    trigger: Trigger.processingTime('2 seconds'),
    checkpointLocation: path.join(outDir, 'checkpoints/big-bids'),
  })
  .start();

const fileQuery = await labelled
  .writeStream({
    queryName: 'bids-to-files',
    sink: fileSink({ path: path.join(outDir, 'output/bids'), format: 'jsonl', partitionBy: ['channelType'] }),
    trigger: Trigger.processingTime('1 second'),
    checkpointLocation: path.join(outDir, 'checkpoints/bids-to-files'),
  })
  .start();

const stopAll = async () => {
  await Promise.all([consoleQuery.stop(), fileQuery.stop()]);
};
process.once('SIGINT', () => void stopAll());
process.once('SIGTERM', () => void stopAll());

const timer = setTimeout(() => void stopAll(), seconds * 1000);
await Promise.all([consoleQuery.awaitTermination(), fileQuery.awaitTermination()]);
clearTimeout(timer);

const written = await readFileSinkOutput(path.join(outDir, 'output/bids'));
const p = fileQuery.lastProgress;
console.log(
  [
    '',
    `Done. ${fileQuery.recentProgress.length} file batches; last batch #${p?.batchId ?? '-'} read ${p?.numInputRows ?? 0} rows.`,
    `Rows committed to ${path.join(outDir, 'output/bids')}: ${written.length}`,
    `Checkpoints (offsets/, commits/): ${path.join(outDir, 'checkpoints')}`,
    'Run the same command again: both queries resume where they stopped, with no row written twice.',
  ].join('\n'),
);
