/**
 * The query of the parallel example, in a module of its own: the main thread imports it to start
 * the query, and each worker thread imports it to build the same plan (functions cannot move
 * between threads). Importing it starts nothing.
 *
 * Nexmark bids → per 10-second window and auction: bids, top price and distinct bidders, once the
 * watermark (2 s) passes the window's end.
 */
import { type Session, approxCountDistinct, count, max, nexmarkSource, window } from 'millrace';

export interface HotAuctionsArgs {
  /** Events of the Nexmark stream to read (then the query ends: availableNow). */
  readonly events: number;
  /** Events per micro-batch. */
  readonly eventsPerTrigger: number;
}

export function hotAuctions(session: Session, args: HotAuctionsArgs) {
  return session
    .readStream(
      nexmarkSource({ kind: 'bid', maxEvents: args.events, eventsPerTrigger: args.eventsPerTrigger }),
    )
    .withWatermark('dateTime', '2 seconds')
    .groupBy(($) => ({ window: window($.dateTime, '10 seconds'), auction: $.auction }))
    .agg(($) => ({ bids: count(), top: max($.price), bidders: approxCountDistinct($.bidder) }));
}
