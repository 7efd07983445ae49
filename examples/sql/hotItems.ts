/**
 * Hot items, written in SQL: Nexmark bids, the auctions with the most bids in each 10-second
 * window (Nexmark q5's idea), as an analyst would write it — no TypeScript beyond registering the
 * stream and choosing a sink.
 *
 *   npx tsx examples/sql/hotItems.ts               (200,000 events, printed as windows close)
 *   npx tsx examples/sql/hotItems.ts --explain     (the plans instead)
 */
import { parseArgs } from 'node:util';
import {
  Trigger,
  consoleSink,
  createSession,
  nexmarkSource,
  type Session,
  type Sink,
  type Stream,
  type StreamingQuery,
} from 'millrace';

/** The view: bids with a watermark, a big-bid flag and the price in euros. */
export const BIDS_VIEW = `
CREATE TEMPORARY VIEW priced_bids AS
SELECT auction, bidder, price * 0.908 AS euros, price > 5000 AS big, dateTime
FROM STREAM bids WATERMARK dateTime DELAY OF INTERVAL 4 SECONDS`;

/** Per 10-second window, the auctions with at least 3 bids; emitted once each window closes. */
export const HOT_ITEMS = `
SELECT window.start AS windowStart, auction,
       count(*) AS bids,
       count(*) FILTER (WHERE big) AS bigBids,
       round(max(euros), 2) AS topEuros
FROM priced_bids
GROUP BY window(dateTime, '10 seconds'), auction
HAVING count(*) >= 3`;

export interface HotItemsOptions {
  /** Events generated (bids are 46 of every 50). */
  readonly events: number;
  /** Event time advances this many events per second. */
  readonly eventsPerSecond?: number;
}

/** Registers the `bids` stream in the session and returns the hot-items query as a Stream. */
export function hotItems(session: Session, options: HotItemsOptions): Stream {
  const bids = session.readStream(
    nexmarkSource({
      kind: 'bid',
      maxEvents: options.events,
      eventsPerSecond: options.eventsPerSecond ?? 1_000,
      eventsPerTrigger: 20_000,
    }),
  );
  bids.createOrReplaceTempView('bids');
  session.sql(BIDS_VIEW);
  return session.sql(HOT_ITEMS);
}

/** Runs the query over every event (Trigger.availableNow) into `sink`; resolves when it is done. */
export async function runHotItems(
  options: HotItemsOptions & { sink: Sink; checkpointLocation?: string },
): Promise<StreamingQuery> {
  const session = createSession();
  const query = await hotItems(session, options)
    .writeStream({
      sink: options.sink,
      outputMode: 'append',
      trigger: Trigger.availableNow(),
      checkpointLocation: options.checkpointLocation,
      queryName: 'hot-items-sql',
    })
    .start();
  await query.awaitTermination();
  return query;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { events: { type: 'string', default: '200000' }, explain: { type: 'boolean', default: false } },
  });
  const events = Number(values.events);
  if (values.explain) {
    console.log(hotItems(createSession(), { events }).explain());
  } else {
    await runHotItems({ events, sink: consoleSink({ numRows: 10 }) });
  }
}
