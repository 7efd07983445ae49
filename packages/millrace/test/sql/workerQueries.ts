/**
 * A SQL query the worker test runs: imported by the test (the driver) and by each worker thread,
 * which builds the same plan from the same text. Importing it starts nothing.
 */
import { type Session, nexmarkSource } from '../../src/index.ts';

export const HOT_AUCTIONS = `
  SELECT window, auction, count(*) AS bids, max(price) AS top, approx_count_distinct(bidder) AS bidders
  FROM STREAM bids WATERMARK dateTime DELAY OF INTERVAL 0 SECONDS
  WHERE price > 100
  GROUP BY window(dateTime, '2 seconds'), auction`;

export function hotAuctions(session: Session, args: { events: number; perTrigger: number }) {
  session
    .readStream(nexmarkSource({ kind: 'bid', maxEvents: args.events, eventsPerTrigger: args.perTrigger }))
    .createOrReplaceTempView('bids');
  return session.sql(HOT_AUCTIONS);
}
